"""Rules that disable a wagon (SPEC §2), disabling it everywhere, and the check of
configurations against a new tag.

A wagon cannot run when a user-defined dependency duplicates a service wagon (copies of core
services would keep users from sharing a train), or when it has derived data and it and its
dependencies share a workflow or produce identical derived tables.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core.common import dependency_closure
from hyperloop.core.configs import check_config, workflow_schema
from hyperloop.core.notifications import notify_wagon
from hyperloop.core.tag_lookup import wagon_package
from hyperloop.core.tag_workflows import find_workflow
from hyperloop.db.models import Analysis, PackageTag, Wagon, WagonDataset, WagonTest
from hyperloop.enums import NotificationKind, TagPolicy


def _service_wagons(s: Session) -> list[Wagon]:
    stmt = select(Wagon).join(Analysis, Analysis.id == Wagon.analysis_id).where(Analysis.is_service)
    return list(s.scalars(stmt))


def wagon_problems(s: Session, wagon: Wagon) -> list[str]:
    """Why the wagon must stay disabled (empty: it may run)."""
    problems = []
    deps = dependency_closure(wagon)
    services = _service_wagons(s)
    for dep in deps:
        if dep.analysis.is_service:
            continue
        for svc in services:
            if (
                svc.workflow == dep.workflow
                and sorted(svc.derived_tables) == sorted(dep.derived_tables)
                and svc.base_config == dep.base_config
            ):
                problems.append(
                    f"dependency {dep.name!r} is identical to service wagon {svc.name!r} "
                    f"({svc.analysis.name}); depend on the service wagon instead"
                )
    if wagon.derived_tables:
        for dep in deps:
            if dep.workflow == wagon.workflow:
                problems.append(
                    f"wagon {wagon.name!r} has derived data and shares workflow "
                    f"{wagon.workflow!r} with its dependency {dep.name!r}"
                )
            elif dep.derived_tables and set(dep.derived_tables) & set(wagon.derived_tables):
                shared = sorted(set(dep.derived_tables) & set(wagon.derived_tables))
                problems.append(
                    f"wagon {wagon.name!r} and its dependency {dep.name!r} both produce "
                    f"derived tables {shared}"
                )
    return problems


def inconsistent_parameters(wagon: Wagon, tag: PackageTag) -> list[str]:
    """``task.param`` entries of the wagon that the tag no longer accepts (or the workflow)."""
    if find_workflow(tag, wagon.workflow) is None:
        return [f"workflow {wagon.workflow!r}"]
    schema = workflow_schema(tag, wagon.workflow)
    _, problems = check_config(schema, wagon.base_config)
    out = [f"{p.task}.{p.parameter}" for p in problems]
    for name, overrides in wagon.subwagons.items():
        _, problems = check_config(schema, overrides, subwagon=True)
        out += [f"{name}:{p.task}.{p.parameter}" for p in problems]
    return out


def notify_inconsistent(s: Session, tag: PackageTag) -> dict[int, list[str]]:
    """After a new tag: tell analyses whose wagons (enabled with the latest-tag policy) have
    parameters the tag does not accept any more. Returns wagon id -> problems."""
    stmt = (
        select(Wagon)
        .join(WagonDataset, WagonDataset.wagon_id == Wagon.id)
        .where(WagonDataset.enabled.is_(True), WagonDataset.tag_policy == TagPolicy.LATEST)
        .distinct()
    )
    found: dict[int, list[str]] = {}
    for wagon in s.scalars(stmt):
        if wagon_package(s, wagon) not in (None, tag.name):
            continue  # a tag of another package is not this wagon's latest
        if find_workflow(tag, wagon.workflow) is None:
            reason = f"workflow {wagon.workflow!r} no longer exists in package tag {tag.label}"
            disable_wagon_everywhere(s, wagon, reason)
            found[wagon.id] = [reason]
            continue
        bad = inconsistent_parameters(wagon, tag)
        if bad:
            found[wagon.id] = bad
            notify_wagon(
                s,
                wagon,
                NotificationKind.INCONSISTENT_PARAMETERS,
                f"wagon {wagon.name!r}: package tag {tag.label} does not accept "
                + ", ".join(bad)
                + "; sync the wagon",
            )
    return found


def enabled_rows(s: Session, wagon_id: int) -> list[WagonDataset]:
    """The datasets a wagon is enabled on (queried: collections may be stale)."""
    stmt = select(WagonDataset).where(
        WagonDataset.wagon_id == wagon_id, WagonDataset.enabled.is_(True)
    )
    return list(s.scalars(stmt))


def disable_wagon_everywhere(
    s: Session,
    wagon: Wagon,
    reason: str,
    *,
    kind: NotificationKind = NotificationKind.WAGON_DISABLED,
) -> None:
    """Disable a wagon on every dataset and tell its analysis why."""
    for row in enabled_rows(s, wagon.id):
        row.enabled, row.disabled_reason = False, reason
        supersede_tests(s, wagon.id, row.dataset_id)
    notify_wagon(s, wagon, kind, f"wagon {wagon.name!r} disabled: {reason}")
    s.flush()


def supersede_tests(s: Session, wagon_id: int, dataset_id: int) -> None:
    """Mark the wagon's current tests on the dataset superseded (a new test will be needed)."""
    for test in s.scalars(
        select(WagonTest).where(
            WagonTest.wagon_id == wagon_id,
            WagonTest.dataset_id == dataset_id,
            WagonTest.superseded.is_(False),
        )
    ):
        test.superseded = True
