"""Train runs: compatibility, composition (a frozen snapshot), test results, submission,
decompose, kill/close, the operator's final merge, clone, compare, long trains (staged
submission) and comments."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, load_only

from hyperloop.core import history, policy
from hyperloop.core import jobs as jobs_service
from hyperloop.core.actor import Actor
from hyperloop.core.assessment import blocking_warning
from hyperloop.core.common import dependency_closure, get_or_404
from hyperloop.core.datasets import dataset_state, runs_of
from hyperloop.core.enabling import current_test
from hyperloop.core.errors import Conflict, ValidationError
from hyperloop.core.permissions import Action, require
from hyperloop.core.quotas import analysis_slots, is_heavy, slots_of, summed_slots_fit
from hyperloop.core.states import (
    TEST_SUBMITTABLE,
    TRAIN_HOLDS_WAGONS,
    TRAIN_TRANSITIONS,
    can_transition,
    created,
    transition,
)
from hyperloop.core.story import Cause
from hyperloop.core.tags import get_tag
from hyperloop.core.wagons import wagon_state
from hyperloop.db.base import utcnow
from hyperloop.db.models import (
    Dataset,
    Job,
    PackageTag,
    Target,
    TrainComment,
    TrainMerge,
    TrainRun,
    Wagon,
    WagonDataset,
    WagonTest,
    train_run_wagons,
    wagon_dependencies,
)
from hyperloop.enums import JobState, TagPolicy, TestStatus, TrainState, TrainType

OBJECT = "train_run"
MEMORY_WARNING = "memory"


# ---------------------------------------------------------------- compatibility


def possible_tags(s: Session, row: WagonDataset) -> list[PackageTag]:
    """Tags this enabling may run with, newest first (fixed: one; or newer / future PR:
    every available tag from the first acceptable one on)."""
    index = _TagIndex(s)
    ids = index.possible(row)
    return sorted((index.by_id[t] for t in ids), key=lambda t: (t.released_at, t.id), reverse=True)


@dataclass
class Candidate:
    wagon_id: int
    compatible: bool
    reasons: list[str] = field(default_factory=list)


@dataclass
class CompatibilityReport:
    """Which enabled wagons can join the selection, and the tag the train would use."""

    tag_id: int | None
    candidates: list[Candidate]

    def compatible_ids(self) -> list[int]:
        return [c.wagon_id for c in self.candidates if c.compatible]

    def as_dict(self) -> dict[str, Any]:
        return {
            "tag_id": self.tag_id,
            "candidates": [
                {"wagon_id": c.wagon_id, "compatible": c.compatible, "reasons": list(c.reasons)}
                for c in self.candidates
            ],
        }


def held_wagon_ids(s: Session, dataset_id: int) -> set[int]:
    """Wagons already in a composed (not yet submitted or decomposed) train of the dataset."""
    stmt = (
        select(train_run_wagons.c.wagon_id)
        .join(TrainRun, TrainRun.id == train_run_wagons.c.train_run_id)
        .where(TrainRun.dataset_id == dataset_id, TrainRun.state.in_(TRAIN_HOLDS_WAGONS))
    )
    return set(s.scalars(stmt))


def _enablings(s: Session, dataset_id: int) -> dict[int, WagonDataset]:
    stmt = select(WagonDataset).where(
        WagonDataset.dataset_id == dataset_id, WagonDataset.enabled.is_(True)
    )
    return {r.wagon_id: r for r in s.scalars(stmt)}


def _dep_configs(wagons: Iterable[Wagon]) -> dict[str, dict[str, Any]]:
    """workflow -> {config key: dependency wagon name} over every dependency."""
    out: dict[str, dict[str, Any]] = {}
    for w in wagons:
        for dep in dependency_closure(w):
            key = repr(sorted((t, sorted(p.items())) for t, p in dep.base_config.items()))
            out.setdefault(dep.workflow, {}).setdefault(key, dep.name)
    return out


class _TagIndex:
    """Every available tag, loaded once, to resolve tag policies without more queries."""

    def __init__(self, s: Session) -> None:
        stmt = select(PackageTag).order_by(PackageTag.released_at, PackageTag.id)
        self.all = list(s.scalars(stmt))
        self.by_id = {t.id: t for t in self.all}
        self.available = [t for t in self.all if t.available]

    def _from(self, first: PackageTag) -> set[int]:
        key = (first.released_at, first.id)
        return {
            t.id for t in self.available if t.name == first.name and (t.released_at, t.id) >= key
        }

    def possible(self, row: WagonDataset) -> set[int]:
        if row.tag_policy is TagPolicy.FIXED:
            return {row.tag_id} if row.tag_id in self.by_id else set()
        if row.tag_id is not None and row.tag_id in self.by_id:
            return self._from(self.by_id[row.tag_id])
        if row.tag_policy is TagPolicy.LATEST:
            return {self.available[-1].id} if self.available else set()
        pr = str(row.pull_request or "")
        first = next((t for t in self.available if pr in (t.pull_requests or [])), None)
        return self._from(first) if first is not None else set()


def _current_tests(s: Session, dataset_id: int) -> dict[int, WagonTest]:
    stmt = (
        select(WagonTest)
        .options(load_only(WagonTest.id, WagonTest.wagon_id, WagonTest.status))
        .where(WagonTest.dataset_id == dataset_id, WagonTest.superseded.is_(False))
    )
    out: dict[int, WagonTest] = {}
    for test in s.scalars(stmt):
        if test.wagon_id not in out or test.id > out[test.wagon_id].id:
            out[test.wagon_id] = test
    return out


def _dependency_map(s: Session, wagon_ids: Iterable[int]) -> dict[int, list[Wagon]]:
    """wagon id -> every (transitive) dependency, with two queries per dependency level."""
    edges: dict[int, set[int]] = {}
    frontier = set(wagon_ids)
    while frontier:
        rows = s.execute(
            select(wagon_dependencies.c.wagon_id, wagon_dependencies.c.depends_on_id).where(
                wagon_dependencies.c.wagon_id.in_(frontier)
            )
        ).all()
        for wid in frontier:
            edges.setdefault(wid, set())
        for wid, dep in rows:
            edges[wid].add(dep)
        frontier = {dep for _, dep in rows} - set(edges)
    needed = {d for deps in edges.values() for d in deps}
    loaded = {w.id: w for w in s.scalars(select(Wagon).where(Wagon.id.in_(needed)))}
    out: dict[int, list[Wagon]] = {}
    for wid in wagon_ids:
        seen: set[int] = set()
        todo = list(edges.get(wid, ()))
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo.extend(edges.get(d, ()))
        out[wid] = [loaded[d] for d in sorted(seen) if d in loaded]
    return out


def _config_key(wagon: Wagon) -> str:
    return repr(sorted((t, sorted(p.items())) for t, p in wagon.base_config.items()))


def _dep_configs_of(deps: Iterable[Wagon]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for dep in deps:
        out.setdefault(dep.workflow, {}).setdefault(_config_key(dep), dep.name)
    return out


def compatible_wagons(
    s: Session,
    dataset_id: int,
    selected: Iterable[int],
    *,
    enabled_since: datetime | None = None,
) -> CompatibilityReport:
    """Mark every enabled wagon of the dataset as compatible with the selection or not
    (test done/warning, not in another train, a common tag, no conflicting dependencies).
    A fixed number of queries whatever the number of wagons."""
    rows = _enablings(s, dataset_id)
    held = held_wagon_ids(s, dataset_id)
    tests = _current_tests(s, dataset_id)
    index = _TagIndex(s)
    deps = _dependency_map(s, list(rows))
    selected = [w for w in selected if w in rows]
    common: set[int] | None = None
    for wid in selected:
        tags = index.possible(rows[wid])
        common = tags if common is None else common & tags
    base_deps = _dep_configs_of(d for wid in selected for d in deps[wid])
    candidates = []
    for wid, row in sorted(rows.items()):
        if enabled_since is not None and row.enabled_at < enabled_since and wid not in selected:
            continue  # the composition view shows recent enablings unless asked for all
        reasons = []
        test = tests.get(wid)
        if test is None or test.status not in TEST_SUBMITTABLE:
            reasons.append(f"test is {test.status.value if test else 'missing'}")
        if wid in held:
            reasons.append("already in a composed train")
        tags = index.possible(row)
        if not tags:
            reasons.append("no released tag satisfies its tag policy")
        elif common is not None and not (tags & common):
            reasons.append("no common package tag with the selection")
        if wid not in selected:
            for wf, keys in _dep_configs_of(deps[wid]).items():
                if wf in base_deps and set(keys) - set(base_deps[wf]):
                    reasons.append(f"dependency {wf!r} configured differently")
        candidates.append(Candidate(wid, not reasons, reasons))
    tag_id = None
    if common:
        tag_id = max(common, key=lambda t: (index.by_id[t].released_at, t))
    return CompatibilityReport(tag_id, candidates)


# ---------------------------------------------------------------- composition


def _wagon_snapshot(s: Session, wagon: Wagon, dataset_id: int) -> dict[str, Any]:
    test = current_test(s, wagon.id, dataset_id)
    snap = wagon_state(wagon)
    snap.update(
        wagon_id=wagon.id,
        version=wagon.version,
        pwg=wagon.analysis.pwg,
        analysis_name=wagon.analysis.name,
        test_id=test.id if test else None,
        test_status=test.status.value if test else None,
        test_warnings=copy.deepcopy(test.warnings) if test else [],
        heavy=is_heavy(test.metrics) if test else False,
        dependency_snapshots=[
            {"wagon_id": d.id, "version": d.version, **wagon_state(d)}
            for d in dependency_closure(wagon)
        ],
    )
    return snap


def train_state(train: TrainRun) -> dict[str, Any]:
    """What identifies a train for comparison: wagons+configs, tag, target, dataset, type."""
    return {
        "tag_id": train.tag_id,
        "target_id": train.target_id,
        "train_type": train.train_type.value,
        "slow": train.slow,
        "auto_submit": train.auto_submit,
        "wagons": {
            str(w["wagon_id"]): {
                k: v for k, v in w.items() if k not in ("test_id", "test_status", "test_warnings")
            }
            for w in train.wagons_snapshot
        },
        "dataset": train.dataset_snapshot,
    }


def _dataset_snapshot(s: Session, ds: Dataset) -> dict[str, Any]:
    return {"id": ds.id, "version": ds.version, **dataset_state(ds), "runs": runs_of(s, ds.id)}


def _link_wagons(s: Session, train: TrainRun) -> None:
    """Index rows (train, wagon, analysis, heavy) for quota and "held wagons" queries."""
    ids = [w["wagon_id"] for w in train.wagons_snapshot]
    present = set(s.scalars(select(Wagon.id).where(Wagon.id.in_(ids))))
    rows = [
        {
            "train_run_id": train.id,
            "wagon_id": w["wagon_id"] if w["wagon_id"] in present else None,
            "analysis_id": w["analysis_id"],
            "heavy": bool(w.get("heavy")),
        }
        for w in train.wagons_snapshot
    ]
    if rows:
        s.execute(train_run_wagons.insert(), rows)


def _check_type(train_type: TrainType, wagons: list[Wagon]) -> None:
    _check_type_of(train_type, [wagon_state(w) for w in wagons])


def _check_type_of(train_type: TrainType, states: list[dict[str, Any]]) -> None:
    """The train type fits its wagons (states as ``wagon_state`` or a train's snapshot)."""
    derived = [w for w in states if w.get("derived_tables")]
    if train_type is TrainType.ANALYSIS:
        return
    if not derived:
        raise ValidationError(f"a {train_type.value} train needs wagons with derived data")
    if train_type is TrainType.LINKED_DERIVED and len(derived) > 1:
        raise ValidationError("linked derived-data wagons run alone: select only one")
    if train_type is TrainType.SLIM_DERIVED:
        not_ready = [w.get("name") for w in derived if not w.get("slim_ready")]
        if not_ready:
            raise ValidationError(f"wagons not ready for slim derived data: {not_ready}")


def compose_train(
    s: Session,
    actor: Actor | None,
    dataset_id: int,
    wagon_ids: Iterable[int],
    *,
    target_id: int,
    train_type: TrainType | str = TrainType.ANALYSIS,
    tag_id: int | None = None,
    slow: bool = False,
    auto_submit: bool = False,
    check_slots: bool = True,
) -> TrainRun:
    """Freeze the selected wagons (configurations, dependencies, tests), the dataset and the
    tag into a new train run. ``actor=None``: the automatic composition of the scheduler."""
    if actor is not None:
        require(actor, Action.TRAIN_OPERATE)
    ds = get_or_404(s, Dataset, dataset_id, "dataset")
    target = get_or_404(s, Target, target_id, "target")
    ids = sorted(set(wagon_ids))
    if not ids:
        raise ValidationError("select at least one wagon")
    report = compatible_wagons(s, ds.id, ids)
    by_id = {c.wagon_id: c for c in report.candidates}
    problems = {}
    for wid in ids:
        cand = by_id.get(wid)
        if cand is None:
            problems[wid] = ["not enabled on this dataset"]
        elif cand.reasons:
            problems[wid] = cand.reasons
    if problems:
        first = next(iter(problems.items()))
        raise ValidationError(
            f"wagon {first[0]} cannot be composed: {'; '.join(first[1])}",
            {"wagons": {str(k): v for k, v in problems.items()}},
        )
    if tag_id is None:
        tag_id = report.tag_id
    elif report.tag_id is None or tag_id not in _common_tags(s, ds.id, ids):
        raise ValidationError(f"package tag {tag_id} is not possible for every selected wagon")
    if tag_id is None:
        raise ValidationError("the selected wagons have no common package tag")
    wagons = [get_or_404(s, Wagon, w, "wagon") for w in ids]
    clashes = {
        wf: sorted(keys.values()) for wf, keys in _dep_configs(wagons).items() if len(keys) > 1
    }
    if clashes:
        wf, names = next(iter(clashes.items()))
        raise ValidationError(
            f"dependencies {names} run workflow {wf!r} with different configurations: they "
            "cannot share a train",
            {"conflicts": clashes},
        )
    train_type = TrainType(train_type)
    _check_type(train_type, wagons)
    snapshot = [_wagon_snapshot(s, w, ds.id) for w in wagons]
    if check_slots:
        for aid, n in slots_of(snapshot, target.cores).items():
            used, allowed = analysis_slots(s, aid, ds.id)
            creators = {w.created_by_id for w in wagons if w.analysis_id == aid}
            if used + n > allowed and not summed_slots_fit(s, aid, ds.id, n, creators):
                raise ValidationError(
                    f"analysis {aid} would use {used + n} of its {allowed} train slots this "
                    f"week on dataset {ds.name!r}",
                    {"analysis_id": aid, "used": used, "needed": n, "allowed": allowed},
                )
    train = TrainRun(
        dataset_id=ds.id,
        tag_id=tag_id,
        target_id=target.id,
        train_type=train_type,
        slow=slow,
        auto_submit=auto_submit,
        state=TrainState.COMPOSED,
        wagons_snapshot=snapshot,
        dataset_snapshot=_dataset_snapshot(s, ds),
        composed_by_id=actor.user.id if actor else None,
    )
    s.add(train)
    s.flush()
    _link_wagons(s, train)
    history.record(s, actor, OBJECT, train.id, "create", train_state(train))
    how = "composed" if actor is not None else "composed automatically"
    created(s, train, Cause.by(actor, "compose", f"train {how}"))
    s.flush()
    return train


def _common_tags(s: Session, dataset_id: int, ids: list[int]) -> set[int]:
    rows = _enablings(s, dataset_id)
    index = _TagIndex(s)
    common: set[int] | None = None
    for wid in ids:
        tags = index.possible(rows[wid]) if wid in rows else set()
        common = tags if common is None else common & tags
    return common or set()


def get_train(s: Session, train_id: int) -> TrainRun:
    return get_or_404(s, TrainRun, train_id, "train run")


def start_test(s: Session, train_id: int, *, cause: Cause | None = None) -> TrainRun:
    train = get_train(s, train_id)
    cause = cause or Cause.system("test-started", "train test started")
    transition(train, TrainState.TESTING, actor=None, cause=cause)
    s.flush()
    return train


def finish_test(
    s: Session,
    train_id: int,
    status: TestStatus | str,
    *,
    metrics: dict[str, Any] | None = None,
    warnings: list[dict[str, Any]] | None = None,
    cause: Cause | None = None,
) -> TrainRun:
    """Record the train test; automatic submission submits after a ``done`` test."""
    train = get_train(s, train_id)
    status = TestStatus(status)
    to = {
        TestStatus.DONE: TrainState.TEST_DONE,
        TestStatus.WARNING: TrainState.TEST_WARNING,
        TestStatus.FAILED: TrainState.TEST_FAILED,
    }.get(status)
    if to is None:
        raise ValidationError(f"a finished train test is done, warning or failed, not {status}")
    train.test_metrics, train.test_warnings = metrics or {}, warnings or []
    error = (metrics or {}).get("error")
    cause = cause or Cause.system(
        "test-finished", f"train test {status.value}" + (f": {error}" if error else "")
    )
    transition(train, to, actor=None, cause=cause)
    if to is TrainState.TEST_DONE and train.auto_submit:
        auto_submit_train(s, train, cause=cause)
    s.flush()
    return train


def _submit(s: Session, actor: Actor | None, train: TrainRun, cause: Cause) -> None:
    transition(train, TrainState.SUBMITTED, actor=actor, cause=cause)
    # after submission the wagons are disabled on that dataset
    ids = [w["wagon_id"] for w in train.wagons_snapshot]
    for row in s.scalars(
        select(WagonDataset).where(
            WagonDataset.dataset_id == train.dataset_id, WagonDataset.wagon_id.in_(ids)
        )
    ):
        row.enabled, row.disabled_reason = False, f"submitted in train run {train.id}"


_MANUALLY_SUBMITTABLE = frozenset(
    {TrainState.TEST_DONE, TrainState.TEST_WARNING, TrainState.LONG_TRAIN_APPROVED}
)


def submit_train(
    s: Session,
    actor: Actor,
    train_id: int,
    *,
    target_id: int | None = None,
    now: datetime | None = None,
) -> TrainRun:
    """Operators submit a train whose test is done/warning (or an approved long train),
    to the target it was tested for or (``target_id``) another one.

    The fair-usage policy (``core.policy``) applies: a train whose tier needs an approval
    nobody of that tier gave is refused (409); on a dataset over 50 TB the submission is
    fulfilled at the dataset's next automatic submission time (the train keeps its state
    and ``submit_requested_at``; the scheduler submits it at that slot)."""
    require(actor, Action.TRAIN_OPERATE)
    train = get_train(s, train_id)
    why = submission_blocked(train)
    if why is not None:
        raise Conflict(why, {"reason": "blocking-warning"})
    refused = policy.submission_refused(s, train)
    if refused is not None:
        raise Conflict(refused, {"reason": "approval-needed"})
    text = "submitted"
    if target_id is not None and target_id != train.target_id:
        target = get_or_404(s, Target, target_id, "target")
        tested = s.get(Target, train.target_id)
        tested_name = tested.name if tested is not None else f"target {train.target_id}"
        text = f"submitted to target {target.name} (tested for {tested_name})"
        _check_submittable(train)
        train.target_id = target.id
    ds = get_or_404(s, Dataset, train.dataset_id, "dataset")
    if policy.scheduled_only(s, ds) and train.state in _MANUALLY_SUBMITTABLE:
        return _request_scheduled_submission(s, actor, train, ds, now or utcnow())
    _submit(s, actor, train, Cause.by(actor, "submit", text))
    s.flush()
    return train


def _check_submittable(train: TrainRun) -> None:
    """Refuse (before anything changes) a train its state does not let be submitted."""
    if not can_transition(TRAIN_TRANSITIONS, train.state, TrainState.SUBMITTED):
        raise Conflict(
            f"train run {train.id} is {train.state.value}: it cannot be submitted",
            {"state": train.state.value},
        )


def _request_scheduled_submission(
    s: Session, actor: Actor, train: TrainRun, ds: Dataset, now: datetime
) -> TrainRun:
    """Remember the operator's submission for the dataset's next automatic submission time."""
    size = f"{policy.dataset_bytes(s, ds.id) / 1e12:.0f} TB"
    limit = f"{policy.SCHEDULED_ONLY_ABOVE_TB:g} TB"
    slot = policy.next_submission_time(ds, now) if ds.auto_compose else None
    if slot is None:
        raise Conflict(
            f"dataset {ds.name!r} is {size} (over {limit}): trains on it are submitted only at "
            "its automatic submission times, and it has none; an operator sets them "
            "(automatic composition days and times) on the dataset page",
            {"reason": "no-submission-time", "dataset_id": ds.id},
        )
    if train.submit_requested_at is None:
        train.submit_requested_at = now
        history.record(
            s,
            actor,
            OBJECT,
            train.id,
            "submit_request",
            {"state": train.state.value, "submit_requested": True},
            reason=f"submission requested: dataset {ds.name} is {size} (over {limit}), "
            f"submitted at its next automatic submission time {slot:%a %Y-%m-%d %H:%M} UTC",
        )
    s.flush()
    return train


def submit_requested_train(
    s: Session, train_id: int, why: str, *, cause: Cause | None = None
) -> bool:
    """The scheduler fulfils an operator's submission request at the dataset's slot (False:
    nothing to do, e.g. the train was decomposed meanwhile)."""
    train = s.get(TrainRun, train_id)
    if train is None or train.submit_requested_at is None:
        return False
    if train.state not in _MANUALLY_SUBMITTABLE or submission_blocked(train) is not None:
        return False
    if policy.submission_refused(s, train) is not None:
        return False
    stimulus = cause.stimulus if cause is not None else "system"
    _submit(s, None, train, Cause(stimulus, "scheduled-submit", why))
    s.flush()
    return True


def submission_blocked(train: TrainRun) -> str | None:
    """Why the train may not be submitted whatever its state (a test warning that blocks
    submission, SPEC §4 warning 9), or None."""
    w = blocking_warning(train.test_warnings)
    if w is None:
        return None
    return (
        f"train run {train.id} cannot be submitted: its test has warning {w.get('code')}: "
        f"{w.get('message')}"
    )


def _operate(s: Session, actor: Actor, train_id: int, to: TrainState, reason: str) -> TrainRun:
    """An operator's state change of a train (decompose, kill, close)."""
    require(actor, Action.TRAIN_OPERATE)
    train = get_train(s, train_id)
    transition(train, to, actor=actor, cause=Cause.by(actor, to.value, reason))
    s.flush()
    return train


def decompose_train(s: Session, actor: Actor, train_id: int) -> TrainRun:
    """Free the wagons of a not yet submitted train for another train."""
    return _operate(s, actor, train_id, TrainState.DECOMPOSED, "decomposed")


def kill_train(s: Session, actor: Actor, train_id: int, reason: str = "") -> TrainRun:
    """Kill a train: its waiting and running jobs are recorded lost (none stays "running");
    the scheduler stops the attempts still on a worker."""
    train = _operate(s, actor, train_id, TrainState.KILLED, reason or "killed")
    why = f"train {train.id} killed by {actor.label}" + (f": {reason}" if reason else "")
    jobs_service.stop_unfinished(s, train.id, why, cause=Cause.by(actor, "kill", why))
    return train


def close_train(s: Session, actor: Actor, train_id: int, reason: str = "") -> TrainRun:
    return _operate(s, actor, train_id, TrainState.CLOSED, reason or "closed")


#: train states in which an operator may ask for the final merge of what succeeded
FINAL_MERGE_REQUESTABLE = frozenset({TrainState.RUNNING, TrainState.MERGING})
FINAL_MERGE_REQUEST = "final_merge_request"  # history action


def _final_merge_failed_since(s: Session, train: TrainRun) -> bool:
    """Whether the train's final merge failed after the last final-merge request (the
    operator may then ask again, once the cause is fixed)."""
    failed = s.scalar(
        select(TrainMerge.finished_at).where(
            TrainMerge.train_run_id == train.id,
            TrainMerge.stage == "final",
            TrainMerge.state == "failed",
        )
    )
    return failed is not None and (
        train.final_merge_requested_at is None or failed >= train.final_merge_requested_at
    )


def request_final_merge(s: Session, actor: Actor, train_id: int) -> TrainRun:
    """The operator's "final merge now" (SPEC §3, trains with issues): the scheduler stops
    submitting and retrying the train's jobs, merges the runs whose jobs are all done and
    lists the missing runs. Operators/admins; refused (409) unless the train is running or
    merging, when already requested (unless the final merge failed since: asking again
    retries it), or when no run has all its jobs done."""
    require(actor, Action.TRAIN_OPERATE)
    train = get_train(s, train_id)
    if train.state not in FINAL_MERGE_REQUESTABLE:
        raise Conflict(
            f"train run {train.id} is {train.state.value}: a final merge can be requested "
            "only while it is running or merging",
            {"state": train.state.value},
        )
    if train.final_merge_requested_at is not None and not _final_merge_failed_since(s, train):
        raise Conflict(
            f"train run {train.id}: a final merge was already requested at "
            f"{train.final_merge_requested_at.isoformat(timespec='seconds')}",
            {"final_merge_requested_at": train.final_merge_requested_at.isoformat()},
        )
    complete = s.scalars(
        select(Job.run_number)
        .where(Job.train_run_id == train.id)
        .group_by(Job.run_number)
        .having(func.sum(case((Job.state == JobState.DONE, 1), else_=0)) == func.count())
        .limit(1)
    ).first()
    if complete is None:
        raise Conflict(
            f"train run {train.id} has no run whose jobs are all done: there is nothing to merge"
        )
    train.final_merge_requested_at = utcnow()
    train.final_merge_requested_by_id = actor.user.id
    history.record(
        s,
        actor,
        OBJECT,
        train.id,
        FINAL_MERGE_REQUEST,
        {"state": train.state.value, "final_merge_requested": True},
        reason="final merge requested: the complete runs are merged, the others listed missing",
    )
    s.flush()
    return train


def auto_submit_train(s: Session, train: TrainRun, *, cause: Cause | None = None) -> None:
    """The scheduler's automatic submission after a done test (no human actor); ``cause``:
    the stimulus of the decision (its kind and sentence are those of an automatic
    submission)."""
    text = "automatic submission after a done test"
    stimulus = cause.stimulus if cause is not None else "system"
    refused = policy.submission_refused(s, train)
    if refused is not None:  # held: the approval comes first, then an operator submits
        train.auto_submit = False
        history.record(
            s,
            None,
            OBJECT,
            train.id,
            "auto_submit_held",
            {"state": train.state.value, "auto_submit": False},
            reason=f"automatic submission held: {refused}",
        )
        return
    _submit(s, None, train, Cause(stimulus, "auto-submit", text))


def clone_train(
    s: Session,
    actor: Actor,
    train_id: int,
    *,
    tag_id: int | None = None,
    target_id: int | None = None,
    slow: bool | None = None,
    train_type: TrainType | str | None = None,
    auto_submit: bool | None = None,
) -> TrainRun:
    """Same wagons at the same timestamps (configurations from the snapshot), the current
    dataset configuration; tag, target, slow, derived type and auto submission may change."""
    require(actor, Action.TRAIN_OPERATE)
    old = get_train(s, train_id)
    ds = get_or_404(s, Dataset, old.dataset_id, "dataset")
    if tag_id is not None and tag_id != old.tag_id and not get_tag(s, tag_id).available:
        raise ValidationError(f"package tag {tag_id} is not available: choose a released tag")
    target = get_or_404(s, Target, target_id or old.target_id, "target")
    new_type = TrainType(train_type) if train_type else old.train_type
    _check_type_of(new_type, old.wagons_snapshot or [])
    train = TrainRun(
        dataset_id=ds.id,
        tag_id=tag_id or old.tag_id,
        target_id=target.id,
        train_type=new_type,
        slow=old.slow if slow is None else slow,
        auto_submit=old.auto_submit if auto_submit is None else auto_submit,
        state=TrainState.COMPOSED,
        wagons_snapshot=copy.deepcopy(old.wagons_snapshot),
        dataset_snapshot=_dataset_snapshot(s, ds),
        parent_id=old.id,
        composed_by_id=actor.user.id,
    )
    s.add(train)
    s.flush()
    _link_wagons(s, train)
    history.record(
        s,
        actor,
        OBJECT,
        train.id,
        "create",
        train_state(train),
        reason=f"cloned from train run {old.id}",
    )
    created(s, train, Cause.by(actor, "clone", f"cloned from train run {old.id}"))
    s.flush()
    return train


def compare_trains(a: TrainRun, b: TrainRun) -> list[history.Change]:
    """Differences of two train runs (wagons, configurations, tag, target, dataset)."""
    return history.diff(train_state(a), train_state(b))


def create_target(
    s: Session,
    actor: Actor | None,
    *,
    name: str,
    cores: int = 1,
    memory_limit_mb: int = 4000,
    engine: str = "local",
    description: str = "",
) -> Target:
    """A place trains run (cores per job, memory limit); operators/admins."""
    if actor is not None:
        require(actor, Action.TARGET_MANAGE)
    if cores < 1 or memory_limit_mb < 1:
        raise ValidationError("a target needs at least 1 core and a positive memory limit")
    if s.scalars(select(Target.id).where(Target.name == name)).first() is not None:
        raise Conflict(f"target {name!r} already exists")
    target = Target(
        name=name,
        cores=cores,
        memory_limit_mb=memory_limit_mb,
        engine=engine,
        description=description,
    )
    s.add(target)
    s.flush()
    return target


def expected_cpu_hours_of(metrics: dict[str, Any]) -> float | None:
    """Expected CPU hours of the full dataset from a train test's metrics: a flat
    ``expected_cpu_hours`` or ``core.assessment.Expected.to_json()`` under ``expected``."""
    if metrics.get("expected_cpu_hours") is not None:
        return float(metrics["expected_cpu_hours"])
    expected = metrics.get("expected") or {}
    if expected.get("cpu_seconds") is not None:
        return float(expected["cpu_seconds"]) / 3600.0
    return None


def _has_memory_warning(train: TrainRun) -> bool:
    # "memory", "memory-two-core", "memory-growth" (core.assessment codes)
    return any(str(w.get("code", "")).startswith(MEMORY_WARNING) for w in train.test_warnings or [])


#: the type a long train may take besides its short train's (SPEC §5: slim derived data on
#: the short dataset, standard derived data on the big one)
LONG_TRAIN_TYPES = {TrainType.SLIM_DERIVED: (TrainType.STANDARD_DERIVED,)}


def long_train_types(short_type: TrainType) -> list[TrainType]:
    """The types a long train of a ``short_type`` train may have (its own first)."""
    return [short_type, *LONG_TRAIN_TYPES.get(short_type, ())]


def request_long_train(
    s: Session,
    actor: Actor,
    short_train_id: int,
    *,
    dataset_id: int | None = None,
    target_id: int | None = None,
    wagon_ids: Iterable[int] | None = None,
    train_type: TrainType | str | None = None,
    auto_submit: bool = False,
) -> TrainRun:
    """Staged submission: after a train is done on a short dataset, a member of an analysis
    in it requests the train on the big dataset (needs approval), choosing the dataset (the
    short dataset's parent), the target, a subset of the wagons, the type (slim derived data
    may become standard) and automatic submission after approval."""
    short = get_train(s, short_train_id)
    require(actor, Action.REQUEST_LONG_TRAIN, short)
    ds = get_or_404(s, Dataset, short.dataset_id, "dataset")
    if ds.parent_id is None:
        raise ValidationError(f"dataset {ds.name!r} is not a short dataset")
    if short.state is not TrainState.DONE:
        raise ValidationError(
            f"train run {short.id} is {short.state.value}; a long train can "
            "be requested once it is done"
        )
    if dataset_id is not None and dataset_id != ds.parent_id:
        raise ValidationError(
            f"dataset {dataset_id} is not the dataset of short dataset {ds.name!r}: a long "
            f"train runs on dataset {ds.parent_id}"
        )
    big = get_or_404(s, Dataset, ds.parent_id, "dataset")
    target = get_or_404(s, Target, target_id or short.target_id, "target")
    snapshot = copy.deepcopy(short.wagons_snapshot or [])
    if wagon_ids is not None:
        wanted = set(wagon_ids)
        unknown = sorted(wanted - {w["wagon_id"] for w in snapshot})
        if unknown:
            raise ValidationError(
                f"wagon {unknown[0]} is not in train run {short.id}",
                {"wagons": unknown},
            )
        snapshot = [w for w in snapshot if w["wagon_id"] in wanted]
    if not snapshot:
        raise ValidationError("select at least one wagon of the short train")
    new_type = TrainType(train_type) if train_type else short.train_type
    if new_type not in long_train_types(short.train_type):
        allowed = ", ".join(t.value for t in long_train_types(short.train_type))
        raise ValidationError(
            f"a long train of a {short.train_type.value} train is {allowed}, not {new_type.value}"
        )
    _check_type_of(new_type, snapshot)
    train = TrainRun(
        dataset_id=big.id,
        tag_id=short.tag_id,
        target_id=target.id,
        train_type=new_type,
        slow=short.slow,
        auto_submit=auto_submit,
        state=TrainState.LONG_TRAIN_REQUESTED,
        wagons_snapshot=snapshot,
        dataset_snapshot=_dataset_snapshot(s, big),
        parent_id=short.id,
        requested_by_id=actor.user.id,
        composed_by_id=actor.user.id,
        test_metrics=copy.deepcopy(short.test_metrics),
        test_warnings=copy.deepcopy(short.test_warnings),
    )
    s.add(train)
    s.flush()
    _link_wagons(s, train)
    history.record(
        s,
        actor,
        OBJECT,
        train.id,
        "create",
        train_state(train),
        reason=f"long train requested from train run {short.id}",
    )
    created(s, train, Cause.by(actor, "long-train", f"requested from train run {short.id}"))
    s.flush()
    return train


def approve_long_train(
    s: Session, actor: Actor, train_id: int, *, expected_cpu_hours: float | None = None
) -> TrainRun:
    """A PWG convener (or operator/admin) approves; it is submitted automatically when its
    automatic submission is on, the test had no memory warning and the expected CPU is within
    the dataset limit (otherwise an operator submits it)."""
    train = get_train(s, train_id)
    require(actor, Action.APPROVE_LONG_TRAIN, train)
    approved = Cause.by(actor, "approve", "long train approved")
    transition(train, TrainState.LONG_TRAIN_APPROVED, actor=actor, cause=approved)
    train.approved_by_id = actor.user.id
    ds = get_or_404(s, Dataset, train.dataset_id, "dataset")
    cpu = expected_cpu_hours
    if cpu is None:
        cpu = expected_cpu_hours_of(train.test_metrics or {})
    within = ds.cpu_limit_hours is None or (cpu is not None and cpu <= ds.cpu_limit_hours)
    if (
        train.auto_submit
        and within
        and not _has_memory_warning(train)
        and submission_blocked(train) is None
        and policy.submission_refused(s, train) is None
    ):
        why = "submitted automatically after approval (no memory warning, CPU within limit)"
        _submit(s, actor, train, Cause(approved.stimulus, "approve", why, approved.actor_id))
    s.flush()
    return train


def reject_long_train(s: Session, actor: Actor, train_id: int, reason: str = "") -> TrainRun:
    """A PWG convener (or operator/admin) refuses a long-train request: the train is closed
    with the reason (the scheduler tells the requester)."""
    train = get_train(s, train_id)
    require(actor, Action.APPROVE_LONG_TRAIN, train)
    if train.state is not TrainState.LONG_TRAIN_REQUESTED:
        raise ValidationError(
            f"train run {train.id} is {train.state.value}: only a requested long train can "
            "be rejected"
        )
    why = f"long train rejected: {reason.strip()}" if reason.strip() else "long train rejected"
    transition(train, TrainState.CLOSED, actor=actor, cause=Cause.by(actor, "reject", why))
    s.flush()
    return train


def expire_long_train(
    s: Session, train_id: int, reason: str, *, cause: Cause | None = None
) -> TrainRun | None:
    """The scheduler closes a long-train request nobody decided on in time (None: it was
    decided meanwhile)."""
    train = get_train(s, train_id)
    if train.state is not TrainState.LONG_TRAIN_REQUESTED:
        return None
    stimulus = cause.stimulus if cause is not None else "system"
    transition(train, TrainState.CLOSED, actor=None, cause=Cause(stimulus, "expired", reason))
    s.flush()
    return train


def add_comment(s: Session, actor: Actor, train_id: int, text: str) -> TrainComment:
    train = get_train(s, train_id)
    require(actor, Action.COMMENT, train)
    if not text.strip():
        raise ValidationError("empty comment")
    comment = TrainComment(train_run_id=train.id, user_id=actor.user.id, text=text.strip())
    s.add(comment)
    s.flush()
    return comment


# ---------------------------------------------------------------- incremental trains

#: what may differ between a train run's wagon snapshot and its wagons now without
#: changing the result (a rename, the test of the time)
_INCREMENT_IGNORED = frozenset({"name", "version", "test_id", "test_status", "test_warnings"})
INCREMENT_TYPES = (TrainType.ANALYSIS, TrainType.SLIM_DERIVED)


def lineage(s: Session, train: TrainRun) -> list[TrainRun]:
    """The train run and the train runs it increments, newest first (the first train run
    that processed the whole dataset last)."""
    out = [train]
    seen = {train.id}
    while out[-1].increment_of_id is not None and out[-1].increment_of_id not in seen:
        parent = get_train(s, out[-1].increment_of_id)
        seen.add(parent.id)
        out.append(parent)
    return out


def merged_runs_of(s: Session, trains: Iterable[TrainRun]) -> set[int]:
    """Runs with a done per-run merge in one of ``trains``."""
    ids = [t.id for t in trains]
    stmt = select(TrainMerge.name).where(
        TrainMerge.train_run_id.in_(ids), TrainMerge.stage == "run", TrainMerge.state == "done"
    )
    return {int(n) for n in s.scalars(stmt) if str(n).isdigit()}


def _wagon_changes(s: Session, train: TrainRun) -> list[str]:
    """How the train's wagons (configuration, dependencies, tag) differ from its snapshot."""
    out: list[str] = []
    for snap in train.wagons_snapshot:
        wagon = s.get(Wagon, snap["wagon_id"])
        name = snap.get("name") or f"wagon {snap['wagon_id']}"
        if wagon is None:
            out.append(f"wagon {name!r} was deleted")
            continue
        now = wagon_state(wagon)
        changed = sorted(
            k for k in now if k not in _INCREMENT_IGNORED and now.get(k) != snap.get(k)
        )
        deps_then = {
            d["wagon_id"]: {k: v for k, v in d.items() if k not in _INCREMENT_IGNORED}
            for d in snap.get("dependency_snapshots") or []
        }
        deps_now = {
            d.id: {k: v for k, v in wagon_state(d).items() if k not in _INCREMENT_IGNORED}
            for d in dependency_closure(wagon)
        }
        if deps_then != deps_now and "dependencies" not in changed:
            changed.append("dependency configuration")
        if changed:
            out.append(f"wagon {name!r} changed its {', '.join(changed)}")
    return out


def _dataset_changes(s: Session, train: TrainRun, ds: Dataset, covered: set[int]) -> list[str]:
    """How the dataset's merge configuration or runs changed against the train's snapshot."""
    then, now = train.dataset_snapshot or {}, dataset_state(ds)
    out = [
        f"its {key.replace('_', ' ')}"
        for key in ("mergelists", "final_mergelists", "final_merge_all_runs")
        if then.get(key) != now.get(key)
    ]
    gone = sorted(covered - set(runs_of(s, ds.id)))
    if gone:
        out.append(f"runs {', '.join(map(str, gone))} were removed from it")
    return [f"dataset {ds.name!r} changed {c}" for c in out]


def start_increment(s: Session, actor: Actor | None, train_id: int) -> TrainRun:
    """Run a done train again on the runs its dataset gained since (the runs without a
    per-run merge in its lineage), as a train run of its own: same wagons, configurations,
    tag, target and type, submitted at once (the train's test stands for it). Its final
    merge adds the new runs' outputs to the per-run outputs of the lineage, so that its
    result equals a full rerun. Refused (409, naming the train) when the train is not done,
    already has an increment, its wagons, tag or dataset configuration changed, or there
    is no new run. ``actor=None``: the scheduler's."""
    if actor is not None:
        require(actor, Action.TRAIN_OPERATE)
    old = get_train(s, train_id)
    name = f"train run {old.id}"
    if old.state is not TrainState.DONE:
        raise Conflict(
            f"{name} is {old.state.value}: only a done train run can be run on new runs",
            {"state": old.state.value},
        )
    if old.train_type not in INCREMENT_TYPES:
        raise Conflict(
            f"{name} is a {old.train_type.value} train: its derived files are kept per run, "
            "compose a new train for the new runs",
            {"train_type": old.train_type.value},
        )
    later = s.scalars(
        select(TrainRun.id).where(
            TrainRun.increment_of_id == old.id,
            TrainRun.state.not_in((TrainState.KILLED, TrainState.CLOSED)),
        )
    ).first()
    if later is not None:
        raise Conflict(
            f"{name} already has an increment, train run {later}: run that one on new runs",
            {"increment_id": later},
        )
    tag = s.get(PackageTag, old.tag_id)
    changes = _wagon_changes(s, old)
    if tag is None or not tag.available:
        changes.insert(0, f"its package tag {tag.name if tag else old.tag_id} is not available")
    ds = get_or_404(s, Dataset, old.dataset_id, "dataset")
    chain = lineage(s, old)
    covered = merged_runs_of(s, chain)
    changes += _dataset_changes(s, old, ds, covered)
    if changes:
        raise Conflict(
            f"{name} cannot be run on new runs: {'; '.join(changes)} since it was composed; "
            "compose a new train",
            {"changes": changes},
        )
    new = sorted(set(runs_of(s, ds.id)) - covered)
    if not new:
        raise Conflict(
            f"{name}: dataset {ds.name!r} has no run that the train has not merged "
            f"({len(covered)} runs merged): there is nothing to run",
            {"runs_merged": sorted(covered)},
        )
    train = TrainRun(
        dataset_id=ds.id,
        tag_id=old.tag_id,
        target_id=old.target_id,
        train_type=old.train_type,
        slow=old.slow,
        auto_submit=False,
        state=TrainState.TEST_DONE,
        wagons_snapshot=copy.deepcopy(old.wagons_snapshot),
        dataset_snapshot=_dataset_snapshot(s, ds),
        increment_of_id=old.id,
        increment_runs=new,
        composed_by_id=actor.user.id if actor else None,
        test_metrics=copy.deepcopy(old.test_metrics),
        test_warnings=copy.deepcopy(old.test_warnings),
    )
    s.add(train)
    s.flush()
    _link_wagons(s, train)
    runs = ", ".join(map(str, new))
    why = f"increment of train run {old.id} on runs {runs} (its test stands for this one)"
    history.record(s, actor, OBJECT, train.id, "create", train_state(train), reason=why)
    cause = Cause.by(actor, "increment", why)
    created(s, train, cause)
    _submit(s, actor, train, cause)
    s.flush()
    return train
