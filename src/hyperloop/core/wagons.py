"""Wagons: create, edit (optimistic version check), delete, clone, dependencies, subwagons,
sync to a newer tag, history and comparison.

Every change is recorded in the history with a full snapshot (``wagon_state``), so any two
states can be compared and a stale edit is refused with the list of what changed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from hyperloop.core import history
from hyperloop.core.actor import Actor
from hyperloop.core.common import check_name, flush_or_conflict, get_or_404
from hyperloop.core.configs import (
    Config,
    SyncReport,
    WorkflowSchema,
    check_added_parameter,
    check_added_parameters,
    check_config,
    complete_base,
    effective_subwagon,
    minimal_overrides,
    propagate_arrays,
    sync_config,
    validate_config,
    workflow_schema,
)
from hyperloop.core.disabling import disable_wagon_everywhere
from hyperloop.core.enabling import configuration_changed
from hyperloop.core.errors import Conflict, NotFound, ValidationError
from hyperloop.core.permissions import Action, require
from hyperloop.core.pull_requests import get_pull_request, schema_source
from hyperloop.core.tag_lookup import wagon_package
from hyperloop.core.tags import find_workflow, get_tag, latest_tag, workflow_info
from hyperloop.core.wagon_state import FIELDS, wagon_state
from hyperloop.db.base import utcnow
from hyperloop.db.models import Analysis, PackageTag, Wagon, wagon_dependencies
from hyperloop.enums import NotificationKind

OBJECT = "wagon"
_CONFIG_FIELDS = {
    "workflow",
    "tag_id",
    "base_config",
    "subwagons",
    "dependencies",
    "added_parameters",
    "pull_request_id",
}


def _record(
    s: Session,
    actor: Actor | None,
    wagon: Wagon,
    action: str,
    previous: dict[str, Any] | None,
    reason: str = "",
) -> None:
    history.record(
        s,
        actor,
        OBJECT,
        wagon.id,
        action,
        wagon_state(wagon),
        previous=previous,
        version=wagon.version,
        reason=reason,
    )


def get_wagon(s: Session, wagon_id: int) -> Wagon:
    return get_or_404(s, Wagon, wagon_id, "wagon")


def _tag_for(
    s: Session, tag_id: int | None, *, package: str | None = None, workflow: str | None = None
) -> PackageTag:
    """The tag given, else the newest of ``package``, else the newest offering ``workflow``
    (several packages' tags may be registered side by side)."""
    if tag_id is not None:
        return get_tag(s, tag_id)
    tag = latest_tag(s, package)
    if package is None and workflow is not None and tag is not None:
        newest_first = select(PackageTag).where(PackageTag.available)
        newest_first = newest_first.order_by(PackageTag.released_at.desc(), PackageTag.id.desc())
        tag = next(
            (t for t in s.scalars(newest_first) if find_workflow(t, workflow) is not None), tag
        )
    if tag is None:
        raise ValidationError("no package tag is registered yet: register one before wagons")
    return tag


def _check_subwagons(schema: WorkflowSchema, base: Config, subwagons: Any) -> dict[str, Config]:
    """Validated minimal overrides per subwagon; identical subwagons are refused."""
    if subwagons is None:
        return {}
    if not isinstance(subwagons, dict):
        raise ValidationError("subwagons must be an object {name: {task: {param: value}}}")
    out: dict[str, Config] = {}
    seen: dict[str, str] = {}
    for name, overrides in subwagons.items():
        check_name(name, "subwagon")
        checked = validate_config(schema, overrides or {}, subwagon=True, what=f"subwagon {name!r}")
        minimal = minimal_overrides(base, checked)
        if not minimal:
            raise ValidationError(
                f"subwagon {name!r} is identical to the base configuration", {"subwagon": name}
            )
        key = repr(
            sorted((t, sorted(p.items())) for t, p in effective_subwagon(base, minimal).items())
        )
        if key in seen:
            raise ValidationError(
                f"subwagons {seen[key]!r} and {name!r} have identical configurations",
                {"subwagons": [seen[key], name]},
            )
        seen[key] = name
        out[name] = minimal
    return out


def _check_derived(schema_tag: PackageTag, workflow: str, tables: Iterable[str]) -> list[str]:
    produced = workflow_info(schema_tag, workflow).produces()
    out = []
    for t in tables:
        if t not in produced:
            raise ValidationError(
                f"workflow {workflow!r} does not produce table {t!r}; it produces: "
                + (", ".join(sorted(produced)) or "nothing"),
                {"table": t},
            )
        out.append(t)
    return sorted(set(out))


def _dependency_closure(s: Session, start: Iterable[int]) -> set[int]:
    seen: set[int] = set()
    todo = list(start)
    while todo:
        wid = todo.pop()
        if wid in seen:
            continue
        seen.add(wid)
        todo.extend(
            s.scalars(
                select(wagon_dependencies.c.depends_on_id).where(
                    wagon_dependencies.c.wagon_id == wid
                )
            )
        )
    return seen


def _check_dependencies(
    s: Session, wagon: Wagon | None, analysis: Analysis, dep_ids: Iterable[int]
) -> list[Wagon]:
    """Dependencies must be wagons of the same analysis or service wagons, without cycles."""
    deps = []
    for dep_id in sorted(set(dep_ids)):
        dep = s.get(Wagon, dep_id)
        if dep is None:
            raise NotFound(f"dependency wagon {dep_id} not found")
        if wagon is not None and dep.id == wagon.id:
            raise ValidationError(f"wagon {wagon.name!r} cannot depend on itself")
        if dep.analysis_id != analysis.id and not dep.analysis.is_service:
            raise ValidationError(
                f"wagon {dep.name!r} (analysis {dep.analysis.name!r}) cannot be a dependency: "
                f"only wagons of {analysis.name!r} or service wagons can",
                {"dependency": dep.id},
            )
        deps.append(dep)
    if wagon is not None and wagon.id in _dependency_closure(s, [d.id for d in deps]):
        raise ValidationError(f"dependencies of wagon {wagon.name!r} would form a cycle")
    return deps


def _unique_name(s: Session, analysis_id: int, name: str, exclude: int | None = None) -> None:
    stmt = select(Wagon.id).where(Wagon.analysis_id == analysis_id, Wagon.name == name)
    other = s.scalars(stmt).first()
    if other is not None and other != exclude:
        raise Conflict(
            f"the analysis already has a wagon called {name!r}",
            {"field": "name", "wagon_id": other},
        )


def create_wagon(
    s: Session,
    actor: Actor,
    analysis_id: int,
    *,
    name: str,
    workflow: str,
    tag_id: int | None = None,
    base_config: Config | None = None,
    subwagons: dict[str, Config] | None = None,
    derived_tables: Iterable[str] = (),
    dependencies: Iterable[int] = (),
    slim_ready: bool = False,
    max_df_size: int | None = None,
    max_derived_file_size: int | None = None,
    added_parameters: Config | None = None,
    pull_request_id: int | None = None,
) -> Wagon:
    """A new wagon; missing configurables take the tag's defaults. With
    ``pull_request_id`` the workflow and its configurables come from that pull request
    (the wagon's tag is then the newest of its package, until a sync)."""
    analysis = get_or_404(s, Analysis, analysis_id, "analysis")
    require(actor, Action.WAGON_CREATE, analysis)
    check_name(name, "wagon")
    _unique_name(s, analysis.id, name)
    if pull_request_id is not None:
        pr = get_pull_request(s, pull_request_id)
        tag = _tag_for(s, tag_id, package=pr.package)
        source = schema_source(pr)
    else:
        tag = _tag_for(s, tag_id, workflow=workflow)
        source = tag
    schema = workflow_schema(source, workflow)
    base = complete_base(schema, validate_config(schema, base_config or {}, what="base"))
    wagon = Wagon(
        analysis_id=analysis.id,
        name=name,
        workflow=workflow,
        tag_id=tag.id,
        base_config=base,
        subwagons=_check_subwagons(schema, base, subwagons),
        derived_tables=_check_derived(source, workflow, derived_tables),
        added_parameters=check_added_parameters(schema, added_parameters) or None,
        pull_request_id=pull_request_id,
        slim_ready=slim_ready,
        max_df_size=max_df_size,
        max_derived_file_size=max_derived_file_size,
        created_by_id=actor.user.id,
    )
    wagon.dependencies = _check_dependencies(s, None, analysis, dependencies)
    s.add(wagon)
    flush_or_conflict(s, f"the analysis already has a wagon called {name!r}", {"field": "name"})
    _record(s, actor, wagon, "create", None)
    s.flush()
    return wagon


def _stale(s: Session, wagon: Wagon, expected_version: int) -> Conflict:
    """A Conflict listing what changed between the version the caller saw and now."""
    current = wagon_state(wagon)
    try:
        seen = history.state_at_version(s, OBJECT, wagon.id, expected_version)
        changes = [c.as_dict() for c in history.diff(seen, current)]
    except NotFound:
        changes = []
    last = history.entries(s, OBJECT, wagon.id)[-1:] if wagon.id else []
    by = last[0].user_id if last else None
    return Conflict(
        f"wagon {wagon.name!r} was changed since you loaded it (your version "
        f"{expected_version}, current {wagon.version}): reload and apply your edit again",
        {
            "wagon_id": wagon.id,
            "your_version": expected_version,
            "current_version": wagon.version,
            "changed_by_user_id": by,
            "changes": changes,
        },
    )


def edit_wagon(
    s: Session,
    actor: Actor,
    wagon_id: int,
    *,
    expected_version: int,
    reason: str = "",
    **changes: Any,
) -> Wagon:
    """Apply ``changes`` (any of FIELDS, ``dependencies``) if nobody changed the wagon since
    ``expected_version``; otherwise ``Conflict`` with the changes made meanwhile."""
    wagon = get_wagon(s, wagon_id)
    require(actor, Action.WAGON_EDIT, wagon)
    if wagon.version != expected_version:
        raise _stale(s, wagon, expected_version)
    unknown = set(changes) - set(FIELDS) - {"dependencies"}
    if unknown:
        raise ValidationError(f"cannot change wagon field(s) {sorted(unknown)}")
    before = wagon_state(wagon)
    name = changes.get("name", wagon.name)
    if name != wagon.name:
        check_name(name, "wagon")
        _unique_name(s, wagon.analysis_id, name, exclude=wagon.id)
    tag = _tag_for(s, changes.get("tag_id", wagon.tag_id))
    workflow = changes.get("workflow", wagon.workflow)
    # a new tag (a sync) ends the configuration on a pull request's workflows
    pr_id = None if "tag_id" in changes else wagon.pull_request_id
    source = schema_source(get_pull_request(s, pr_id)) if pr_id else tag
    schema = workflow_schema(source, workflow)
    if "base_config" in changes or workflow != wagon.workflow:
        given = changes.get("base_config", wagon.base_config if workflow == wagon.workflow else {})
        base = complete_base(schema, validate_config(schema, given, what="base"))
    else:
        base = wagon.base_config
    if "subwagons" in changes:
        subs = changes["subwagons"]
    elif base != wagon.base_config:
        subs = propagate_arrays(schema, wagon.base_config, base, wagon.subwagons)
    else:
        subs = wagon.subwagons
    subs = _check_subwagons(schema, base, subs)
    derived = _check_derived(source, workflow, changes.get("derived_tables", wagon.derived_tables))
    added = check_added_parameters(schema, changes.get("added_parameters", wagon.added_parameters))
    if "dependencies" in changes:
        wagon.dependencies = _check_dependencies(s, wagon, wagon.analysis, changes["dependencies"])
    wagon.name, wagon.workflow, wagon.tag_id = name, workflow, tag.id
    wagon.base_config, wagon.subwagons, wagon.derived_tables = base, subs, derived
    wagon.added_parameters = added or None
    wagon.pull_request_id = pr_id
    for flag in ("slim_ready", "max_df_size", "max_derived_file_size"):
        if flag in changes:
            setattr(wagon, flag, changes[flag])
    after = wagon_state(wagon)
    if after == before:
        return wagon
    wagon.updated_at = utcnow()  # forces the versioned UPDATE even for dependency-only edits
    try:
        s.flush()
    except StaleDataError:
        # a concurrent transaction committed first: report what it changed
        s.rollback()
        fresh = get_wagon(s, wagon_id)
        raise _stale(s, fresh, expected_version) from None
    _record(s, actor, wagon, "update", before, reason)
    if any(before.get(f) != after.get(f) for f in _CONFIG_FIELDS):
        configuration_changed(s, wagon.id)
    s.flush()
    return wagon


def delete_wagon(
    s: Session, actor: Actor, wagon_id: int, *, expected_version: int | None = None
) -> None:
    """Delete a wagon (refused while other wagons depend on it); history is kept."""
    wagon = get_wagon(s, wagon_id)
    require(actor, Action.WAGON_DELETE, wagon)
    if expected_version is not None and wagon.version != expected_version:
        raise _stale(s, wagon, expected_version)
    users = list(
        s.scalars(
            select(Wagon)
            .join(wagon_dependencies, wagon_dependencies.c.wagon_id == Wagon.id)
            .where(wagon_dependencies.c.depends_on_id == wagon.id)
        )
    )
    if users:
        raise Conflict(
            f"wagon {wagon.name!r} is a dependency of "
            + ", ".join(f"{w.name!r} ({w.analysis.name})" for w in users)
            + "; remove it there first",
            {"dependents": [w.id for w in users]},
        )
    _record(s, actor, wagon, "delete", None)
    s.delete(wagon)
    s.flush()


def _free_name(s: Session, analysis_id: int, name: str) -> str:
    taken = set(s.scalars(select(Wagon.name).where(Wagon.analysis_id == analysis_id)))
    if name not in taken:
        return name
    i = 2
    while f"{name}_{i}" in taken:
        i += 1
    return f"{name}_{i}"


def clone_wagon(
    s: Session, actor: Actor, wagon_id: int, target_analysis_id: int, *, name: str | None = None
) -> Wagon:
    """Copy a wagon (with subwagons and derived data) into an analysis the user belongs to.
    Dependencies from the source analysis are cloned along unless they are service wagons
    (or the clone stays in the same analysis)."""
    source = get_wagon(s, wagon_id)
    require(actor, Action.READ, source)
    target = get_or_404(s, Analysis, target_analysis_id, "analysis")
    require(actor, Action.WAGON_CLONE, target)
    return _clone(s, actor, source, target, name, {})


def _clone(
    s: Session,
    actor: Actor,
    source: Wagon,
    target: Analysis,
    name: str | None,
    done: dict[int, Wagon],
) -> Wagon:
    if source.id in done:
        return done[source.id]
    deps = []
    for dep in source.dependencies:
        if dep.analysis_id == target.id or dep.analysis.is_service:
            deps.append(dep)
        else:
            deps.append(_clone(s, actor, dep, target, None, done))
    new_name = check_name(name, "wagon") if name else _free_name(s, target.id, source.name)
    _unique_name(s, target.id, new_name)
    clone = Wagon(
        analysis_id=target.id,
        name=new_name,
        workflow=source.workflow,
        tag_id=source.tag_id,
        base_config=copy.deepcopy(source.base_config),
        subwagons=copy.deepcopy(source.subwagons),
        derived_tables=list(source.derived_tables),
        added_parameters=copy.deepcopy(source.added_parameters),
        pull_request_id=source.pull_request_id,
        slim_ready=source.slim_ready,
        max_df_size=source.max_df_size,
        max_derived_file_size=source.max_derived_file_size,
        created_by_id=actor.user.id,
    )
    clone.dependencies = deps
    s.add(clone)
    s.flush()
    _record(s, actor, clone, "create", None, reason=f"cloned from wagon {source.id}")
    done[source.id] = clone
    return clone


def sync_wagon(
    s: Session,
    actor: Actor,
    wagon_id: int,
    *,
    tag_id: int | None = None,
    expected_version: int | None = None,
) -> tuple[Wagon, SyncReport]:
    """Move the wagon to ``tag_id`` (default: the latest tag of its package): removed
    parameters are dropped, untouched values take the new defaults, derived tables no longer
    produced are removed. A workflow missing from the new tag disables the wagon (with a notification)."""
    wagon = get_wagon(s, wagon_id)
    require(actor, Action.WAGON_EDIT, wagon)
    if expected_version is not None and wagon.version != expected_version:
        raise _stale(s, wagon, expected_version)
    new_tag = _tag_for(s, tag_id, package=wagon_package(s, wagon))  # latest of its package
    old_tag = _tag_for(s, wagon.tag_id)
    if wagon.pull_request_id:
        pr = get_pull_request(s, wagon.pull_request_id)
        old_tag = schema_source(pr)
        if find_workflow(new_tag, wagon.workflow) is None:
            raise ValidationError(
                f"wagon {wagon.name!r} is configured on pull request #{pr.number}, and "
                f"package tag {new_tag.label} has no workflow {wagon.workflow!r} yet: sync "
                "once a tag containing the pull request is released",
                {"pull_request": pr.number, "tag": new_tag.label},
            )
    if find_workflow(new_tag, wagon.workflow) is None:
        # a record, not an error: the caller commits the disabling and its notification
        reason = f"workflow {wagon.workflow!r} no longer exists in package tag {new_tag.label}"
        disable_wagon_everywhere(s, wagon, reason, kind=NotificationKind.WAGON_DISABLED)
        wagon.disabled_reason = reason
        s.flush()
        return wagon, SyncReport(disabled=reason)
    old_schema = workflow_schema(old_tag, wagon.workflow)
    new_schema = workflow_schema(new_tag, wagon.workflow)
    base, subs, report = sync_config(old_schema, new_schema, wagon.base_config, wagon.subwagons)
    added = _sync_added(new_schema, wagon.added_parameters or {}, base, report)
    produced = workflow_info(new_tag, wagon.workflow).produces()
    report.removed_tables = [t for t in wagon.derived_tables if t not in produced]
    subs = {k: minimal_overrides(base, v) for k, v in subs.items()}
    subs = {k: v for k, v in subs.items() if v}
    wagon = edit_wagon(
        s,
        actor,
        wagon.id,
        expected_version=wagon.version,
        tag_id=new_tag.id,
        base_config=base,
        subwagons=subs,
        derived_tables=[t for t in wagon.derived_tables if t in produced],
        added_parameters=added,
        reason=f"sync to {new_tag.label}",
    )
    if wagon.disabled_reason and wagon.disabled_reason.startswith("workflow "):
        wagon.disabled_reason = None  # the workflow exists again in the synced tag
        s.flush()
    return wagon, report


def _sync_added(new: WorkflowSchema, added: Config, base: Config, report: SyncReport) -> Config:
    """Parameters added by hand, moved to ``new``: one the tag now declares becomes a base
    value (kept when valid for its type, else the default), one whose task is gone is
    dropped; the rest stay added."""
    kept: Config = {}
    for task, params in added.items():
        for name, value in params.items():
            key = f"{task}.{name}"
            if task not in new.tasks:
                report.removed.append(key)
            elif name in new.tasks[task]:
                checked, problems = check_config(new, {task: {name: value}})
                if problems:
                    report.reset_invalid.append(key)
                else:
                    base.setdefault(task, {})[name] = checked[task][name]
                    report.kept.append(key)
            else:
                kept.setdefault(task, {})[name] = value
    return kept


def add_parameter(
    s: Session,
    actor: Actor,
    wagon_id: int,
    *,
    task: str,
    name: str,
    value: Any,
    expected_version: int,
) -> Wagon:
    """Add (or change) a parameter by hand that the wagon's tag does not declare; it goes
    to the full configuration of every test and train with the base values."""
    wagon = get_wagon(s, wagon_id)
    require(actor, Action.WAGON_EDIT, wagon)
    if wagon.version != expected_version:
        raise _stale(s, wagon, expected_version)
    schema = workflow_schema(_tag_for(s, wagon.tag_id), wagon.workflow)
    check_added_parameter(schema, task, name, value)
    added = copy.deepcopy(wagon.added_parameters or {})
    added.setdefault(task, {})[name] = value
    return edit_wagon(
        s,
        actor,
        wagon.id,
        expected_version=expected_version,
        added_parameters=added,
        reason=f"parameter {task}.{name} added by hand",
    )


def remove_parameter(
    s: Session, actor: Actor, wagon_id: int, *, task: str, name: str, expected_version: int
) -> Wagon:
    """Remove a parameter added by hand (404 when the wagon has no such added parameter)."""
    wagon = get_wagon(s, wagon_id)
    require(actor, Action.WAGON_EDIT, wagon)
    added = copy.deepcopy(wagon.added_parameters or {})
    if name not in added.get(task, {}):
        raise NotFound(
            f"wagon {wagon.name!r} has no parameter {task}.{name} added by hand",
            {"task": task, "parameter": name},
        )
    del added[task][name]
    added = {t: p for t, p in added.items() if p}
    return edit_wagon(
        s,
        actor,
        wagon.id,
        expected_version=expected_version,
        added_parameters=added,
        reason=f"parameter {task}.{name} removed",
    )


def wagon_history(s: Session, wagon_id: int) -> list[dict[str, Any]]:
    """History entries (oldest first) with who, impersonator, when, action and changes."""
    return [
        {
            "id": e.id,
            "version": e.version,
            "action": e.action,
            "user_id": e.user_id,
            "impersonator_id": e.impersonator_id,
            "at": e.at.isoformat(),
            "changes": e.changes,
            "reason": e.reason,
        }
        for e in history.entries(s, OBJECT, wagon_id)
    ]


def wagon_at(s: Session, wagon_id: int, when: datetime) -> dict[str, Any]:
    return history.state_at(s, OBJECT, wagon_id, when)


_NOT_COMPARED = ("analysis_id",)


def compare_states(a: dict[str, Any], b: dict[str, Any]) -> list[history.Change]:
    """Differences between two wagon snapshots (two wagons or one wagon at two times)."""
    strip = lambda st: {k: v for k, v in st.items() if k not in _NOT_COMPARED}  # noqa: E731
    return history.diff(strip(a), strip(b))


def compare_wagons(s: Session, wagon_a: int, wagon_b: int) -> list[history.Change]:
    return compare_states(wagon_state(get_wagon(s, wagon_a)), wagon_state(get_wagon(s, wagon_b)))


def compare_wagon_times(
    s: Session, wagon_id: int, t1: datetime, t2: datetime
) -> list[history.Change]:
    return compare_states(wagon_at(s, wagon_id, t1), wagon_at(s, wagon_id, t2))
