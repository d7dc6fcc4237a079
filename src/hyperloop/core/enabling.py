"""Enabling wagons on datasets (three tag policies) and the wagon tests this triggers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.core.analyses import analysis_dataset_ids
from hyperloop.core.common import get_or_404
from hyperloop.core.disabling import (
    disable_wagon_everywhere,
    enabled_rows,
    supersede_tests,
    wagon_problems,
)
from hyperloop.core.errors import ValidationError
from hyperloop.core.notifications import notify_test_failed, notify_wagon
from hyperloop.core.permissions import Action, require
from hyperloop.core.states import created, transition
from hyperloop.core.story import Cause
from hyperloop.core.tag_lookup import first_tag_with_pr, get_tag, latest_tag, wagon_package
from hyperloop.core.wagon_state import wagon_state
from hyperloop.db.base import utcnow
from hyperloop.db.models import (
    Dataset,
    PackageTag,
    PullRequest,
    TrainRun,
    Wagon,
    WagonDataset,
    WagonTest,
    train_run_wagons,
    wagon_dependencies,
)
from hyperloop.enums import NotificationKind, TagPolicy, TestStatus, TrainType

STALE_AFTER = timedelta(weeks=4)


def resolve_tag(s: Session, enabling: WagonDataset) -> PackageTag | None:
    """The tag an enabled wagon runs with now (None: its pull request is not released yet)."""
    if enabling.tag_policy is TagPolicy.FIXED:
        return get_tag(s, enabling.tag_id) if enabling.tag_id else None
    package = wagon_package(s, enabling.wagon)
    if enabling.tag_policy is TagPolicy.LATEST:
        return latest_tag(s, package)
    return first_tag_with_pr(s, enabling.pull_request or "", package)


def _find(s: Session, wagon_id: int, dataset_id: int) -> WagonDataset | None:
    stmt = select(WagonDataset).where(
        WagonDataset.wagon_id == wagon_id, WagonDataset.dataset_id == dataset_id
    )
    return s.scalars(stmt).first()


def enable_wagon(
    s: Session,
    actor: Actor,
    wagon_id: int,
    dataset_id: int,
    *,
    policy: TagPolicy | str = TagPolicy.LATEST,
    tag_id: int | None = None,
    pull_request: str | None = None,
) -> WagonDataset:
    """Enable a wagon on a dataset of its analysis and queue its test."""
    wagon = get_or_404(s, Wagon, wagon_id, "wagon")
    require(actor, Action.WAGON_ENABLE, wagon)
    dataset = get_or_404(s, Dataset, dataset_id, "dataset")
    if not dataset.active:
        raise ValidationError(f"dataset {dataset.name!r} is not active")
    if dataset.id not in analysis_dataset_ids(s, wagon.analysis_id):
        raise ValidationError(
            f"dataset {dataset.name!r} is not added to analysis {wagon.analysis.name!r}"
        )
    if wagon.disabled_reason:
        raise ValidationError(f"wagon {wagon.name!r} is disabled: {wagon.disabled_reason}")
    problems = wagon_problems(s, wagon)
    if problems:
        raise ValidationError(
            f"wagon {wagon.name!r} cannot be enabled: {problems[0]}", {"problems": problems}
        )
    policy = TagPolicy(policy)
    if wagon.pull_request_id:
        # configured on a pull request's workflow: only a tag containing it can run it
        pr = s.get(PullRequest, wagon.pull_request_id)
        number = str(pr.number) if pr else "?"
        if policy is not TagPolicy.PULL_REQUEST:
            raise ValidationError(
                f"wagon {wagon.name!r} is configured on pull request #{number}: enable it "
                "with the future-tag policy (a tag containing a pull request), or sync it to "
                "a tag that has its workflow first",
                {"pull_request": number},
            )
        pull_request = pull_request or number
    if policy is TagPolicy.FIXED:
        if tag_id is None:
            raise ValidationError("a fixed tag policy needs a tag")
        get_tag(s, tag_id)
    if policy is TagPolicy.PULL_REQUEST and not pull_request:
        raise ValidationError("the future-tag policy needs a pull request number")
    row = _find(s, wagon.id, dataset.id)
    if row is None:
        row = WagonDataset(wagon_id=wagon.id, dataset_id=dataset.id, tag_policy=policy)
        s.add(row)
    row.tag_policy = policy
    row.tag_id = tag_id if policy is TagPolicy.FIXED else None
    row.pull_request = pull_request if policy is TagPolicy.PULL_REQUEST else None
    row.enabled, row.disabled_reason = True, None
    row.enabled_by_id, row.enabled_at = actor.user.id, utcnow()
    s.flush()
    queue_test(s, row, Cause.by(actor, "enable", f"wagon enabled on dataset {dataset.name}"))
    return row


#: the train types a scheduled derived-data wagon may have
SCHEDULE_TYPES = (TrainType.STANDARD_DERIVED, TrainType.LINKED_DERIVED, TrainType.SLIM_DERIVED)


def schedule_wagon(
    s: Session,
    actor: Actor,
    wagon_id: int,
    dataset_id: int,
    *,
    scheduled: bool = True,
    train_type: TrainType | str = TrainType.STANDARD_DERIVED,
    slow: bool = False,
    auto_submit: bool = False,
) -> WagonDataset:
    """Operators schedule a derived-data wagon for the next automatic composition slot, as a
    standard, linked (a train of its own) or slim derived-data train, slow or not, submitted
    automatically after a done test or not; ``scheduled=False`` takes it off the slot."""
    require(actor, Action.WAGON_SCHEDULE)
    wagon = get_or_404(s, Wagon, wagon_id, "wagon")
    if not wagon.derived_tables:
        raise ValidationError(f"wagon {wagon.name!r} has no derived data to schedule")
    row = _find(s, wagon_id, dataset_id)
    if row is None or not row.enabled:
        raise ValidationError(f"wagon {wagon.name!r} is not enabled on dataset {dataset_id}")
    kind = TrainType(train_type)
    if kind not in SCHEDULE_TYPES:
        raise ValidationError(
            f"wagon {wagon.name!r}: a scheduled derived-data train is "
            f"{', '.join(t.value for t in SCHEDULE_TYPES)}, not {kind.value}"
        )
    if kind is TrainType.SLIM_DERIVED and not wagon.slim_ready:
        raise ValidationError(f"wagon {wagon.name!r} is not ready for slim derived data")
    row.scheduled = scheduled
    row.scheduled_by_id = actor.user.id if scheduled else None
    row.scheduled_type = kind if scheduled else None
    row.scheduled_slow = slow if scheduled else False
    row.scheduled_auto_submit = auto_submit if scheduled else False
    s.flush()
    return row


def disable_wagon(
    s: Session, actor: Actor | None, wagon_id: int, dataset_id: int, reason: str = ""
) -> WagonDataset:
    wagon = get_or_404(s, Wagon, wagon_id, "wagon")
    if actor is not None:
        require(actor, Action.WAGON_ENABLE, wagon)
    row = _find(s, wagon_id, dataset_id)
    if row is None:
        raise ValidationError(f"wagon {wagon.name!r} is not enabled on dataset {dataset_id}")
    row.enabled, row.disabled_reason = False, reason or None
    supersede_tests(s, wagon_id, dataset_id)
    s.flush()
    return row


def current_test(s: Session, wagon_id: int, dataset_id: int) -> WagonTest | None:
    stmt = (
        select(WagonTest)
        .where(
            WagonTest.wagon_id == wagon_id,
            WagonTest.dataset_id == dataset_id,
            WagonTest.superseded.is_(False),
        )
        .order_by(WagonTest.id.desc())
        .limit(1)
    )
    return s.scalars(stmt).first()


def test_snapshot(s: Session, wagon_id: int) -> dict[str, Any]:
    """What a wagon test runs: the wagon and every dependency (tested along, enabled or not)
    as they are now; the runner builds ``full_config.json`` from it."""
    wagon = get_or_404(s, Wagon, wagon_id, "wagon")
    deps: dict[int, Wagon] = {}
    todo = list(wagon.dependencies)
    while todo:
        dep = todo.pop()
        if dep.id not in deps:
            deps[dep.id] = dep
            todo.extend(dep.dependencies)
    return {
        "wagon": {"wagon_id": wagon.id, "version": wagon.version, **wagon_state(wagon)},
        "dependencies": [
            {"wagon_id": d.id, "version": d.version, **wagon_state(d)}
            for d in (deps[k] for k in sorted(deps))
        ],
    }


test_snapshot.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def queue_test(s: Session, row: WagonDataset, cause: Cause) -> WagonTest:
    """Supersede the previous test of this wagon on this dataset and queue a new one (its
    story starts with ``cause``)."""
    supersede_tests(s, row.wagon_id, row.dataset_id)
    tag = resolve_tag(s, row)
    test = WagonTest(
        wagon_id=row.wagon_id,
        dataset_id=row.dataset_id,
        tag_id=tag.id if tag else None,
        status=TestStatus.QUEUED,
        config_snapshot=test_snapshot(s, row.wagon_id),
    )
    s.add(test)
    s.flush()
    created(s, test, cause)
    return test


def retest_failed_after_new_tag(s: Session, tag: PackageTag) -> list[WagonTest]:
    """A new tag relaunches the failed tests of wagons enabled with the latest-tag policy
    (a test that failed with an older tag may pass with this one); passing tests keep
    their tag until the next change or composition."""
    newest = latest_tag(s, tag.name)
    if newest is None or newest.id != tag.id:
        return []
    rows = s.scalars(
        select(WagonDataset).where(
            WagonDataset.enabled.is_(True), WagonDataset.tag_policy == TagPolicy.LATEST
        )
    )
    queued = []
    for row in list(rows):
        if wagon_package(s, row.wagon) not in (None, tag.name):
            continue  # a wagon of another package: this tag is not its latest
        test = current_test(s, row.wagon_id, row.dataset_id)
        if test is not None and test.status is TestStatus.FAILED and test.tag_id != tag.id:
            why = f"new tag {tag.label} for a wagon on the latest tag whose test failed"
            queued.append(queue_test(s, row, Cause.system("new-tag", why)))
    return queued


def dependents_closure(s: Session, wagon_id: int) -> set[int]:
    """The wagon and every wagon that (transitively) depends on it."""
    seen: set[int] = set()
    todo = [wagon_id]
    while todo:
        wid = todo.pop()
        if wid in seen:
            continue
        seen.add(wid)
        todo.extend(
            s.scalars(
                select(wagon_dependencies.c.wagon_id).where(
                    wagon_dependencies.c.depends_on_id == wid
                )
            )
        )
    return seen


def configuration_changed(s: Session, wagon_id: int) -> None:
    """The one cascade after a wagon's configuration changed (workflow, tag, configuration,
    subwagons or dependencies): the wagon and every wagon using it are checked against the
    disabling rules again and disabled everywhere when one fails; the tests of the enabled
    ones are reset (queued again)."""
    for user in sorted(dependents_closure(s, wagon_id)):  # the wagon and its users
        wagon = get_or_404(s, Wagon, user, "wagon")
        problems = wagon_problems(s, wagon)
        if problems and enabled_rows(s, wagon.id):
            disable_wagon_everywhere(s, wagon, problems[0])
    reset_tests_using(s, wagon_id)


def reset_tests_using(s: Session, wagon_id: int) -> list[WagonTest]:
    """A configuration change relaunches the tests of every enabled wagon that uses it."""
    cause = Cause.system("config-changed", f"configuration of wagon {wagon_id} changed")
    ids = dependents_closure(s, wagon_id)
    rows = s.scalars(
        select(WagonDataset).where(WagonDataset.wagon_id.in_(ids), WagonDataset.enabled.is_(True))
    )
    return [queue_test(s, row, cause) for row in rows]


def finish_test(
    s: Session,
    test_id: int,
    status: TestStatus | str,
    *,
    metrics: dict[str, Any] | None = None,
    warnings: list[dict[str, Any]] | None = None,
    public_url: str = "",
    cause: Cause | None = None,
) -> WagonTest:
    """Record the result of a running test (used by the scheduler); failure notifies (the
    e-mail links under ``public_url``)."""
    test = get_or_404(s, WagonTest, test_id, "wagon test")
    status = TestStatus(status)
    error = (metrics or {}).get("error")
    cause = cause or Cause.system(
        "test-finished", f"wagon test {status.value}" + (f": {error}" if error else "")
    )
    if test.status is TestStatus.QUEUED:
        transition(test, TestStatus.RUNNING, actor=None, cause=cause)
    transition(test, status, actor=None, cause=cause)
    test.metrics = metrics or {}
    test.warnings = warnings or []
    if status is TestStatus.FAILED:
        row = _find(s, test.wagon_id, test.dataset_id)
        notify_test_failed(
            s, test, enabled_by_id=row.enabled_by_id if row else None, public_url=public_url
        )
    s.flush()
    return test


def clean_stale_tests(s: Session, now=None) -> list[WagonDataset]:  # noqa: ANN001
    """Disable enablings whose wagon was not composed within 4 weeks of enabling."""
    now = now or utcnow()
    out = []
    for row in s.scalars(
        select(WagonDataset).where(
            WagonDataset.enabled.is_(True), WagonDataset.enabled_at < now - STALE_AFTER
        )
    ):
        composed = s.scalars(
            select(TrainRun.id)
            .join(train_run_wagons, train_run_wagons.c.train_run_id == TrainRun.id)
            .where(
                train_run_wagons.c.wagon_id == row.wagon_id,
                TrainRun.dataset_id == row.dataset_id,
                TrainRun.composed_at >= now - STALE_AFTER,
            )
        ).first()
        if composed is None:
            row.enabled, row.disabled_reason = False, "not composed within 4 weeks"
            supersede_tests(s, row.wagon_id, row.dataset_id)
            notify_wagon(
                s,
                row.wagon,
                NotificationKind.WAGON_DISABLED,
                f"wagon {row.wagon.name!r} disabled on dataset {row.dataset_id}: "
                "its test was not composed within 4 weeks",
            )
            out.append(row)
    s.flush()
    return out


@dataclass(frozen=True)
class GridCell:
    """One cell of the My Analyses grid: a wagon on a dataset."""

    wagon_id: int
    dataset_id: int
    enabled: bool
    tag_policy: str
    disabled_reason: str | None
    test_id: int | None
    test_status: str | None
    enabled_at: datetime


def analysis_grid(s: Session, analysis_id: int) -> list[GridCell]:
    """Every (wagon, dataset) enabling of an analysis with its current test, in two
    indexed queries (the data of the wagons x datasets grid)."""
    rows = list(
        s.scalars(
            select(WagonDataset)
            .join(Wagon, Wagon.id == WagonDataset.wagon_id)
            .where(Wagon.analysis_id == analysis_id)
        )
    )
    if not rows:
        return []
    # only the columns the grid shows: never load the large JSON snapshots of tests
    tests: dict[tuple[int, int], tuple[int, TestStatus]] = {}
    stmt = select(WagonTest.id, WagonTest.wagon_id, WagonTest.dataset_id, WagonTest.status).where(
        WagonTest.wagon_id.in_({r.wagon_id for r in rows}), WagonTest.superseded.is_(False)
    )
    for test_id, wagon_id, dataset_id, status in s.execute(stmt):
        key = (wagon_id, dataset_id)
        if key not in tests or test_id > tests[key][0]:
            tests[key] = (test_id, status)
    out = []
    for r in sorted(rows, key=lambda r: (r.wagon_id, r.dataset_id)):
        test = tests.get((r.wagon_id, r.dataset_id))
        out.append(
            GridCell(
                r.wagon_id,
                r.dataset_id,
                r.enabled,
                r.tag_policy.value,
                r.disabled_reason,
                test[0] if test else None,
                test[1].value if test else None,
                r.enabled_at,
            )
        )
    return out
