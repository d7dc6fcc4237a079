"""Wagon read models shared by the wagon pages and their JSON twins: the upload preview,
the comparison with another wagon or an earlier state, and a wagon test's result (the
wagon editor and history data are in :mod:`hyperloop.readmodels.analyses`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core import permissions, wagon_json, wagons
from hyperloop.core.actor import Actor
from hyperloop.core.errors import NotFound, ValidationError
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.readmodels.analyses import performance_metrics_file, wagon_test_data
from hyperloop.readmodels.performance import PerformanceMetricsError, performance_graphs_data
from hyperloop.readmodels.trains import file_roots


class ChangeOut(BaseModel):
    path: str
    old: Any = None
    new: Any = None


class ValueRowOut(BaseModel):
    scope: str = Field(description="`base` or the subwagon name.")
    task: str
    parameter: str
    current: Any = None
    uploaded: Any = None
    status: str = Field(description="unchanged | changed | invalid | unknown")


class UploadPreviewOut(BaseModel):
    """Per-value overview, full diff and problems of an upload; nothing is saved yet."""

    ok: bool = Field(description="True when the upload can be saved as it is.")
    overview: list[ValueRowOut]
    diff: list[ChangeOut]
    errors: list[str]
    problems: list[dict[str, Any]] = Field(description="Errors naming scope, task, parameter.")
    ignored: list[str] = Field(description="Framework devices and other ignored entries.")


class DependencyOut(BaseModel):
    id: int
    name: str = Field(description='The dependency wagon\'s name ("wagon ID (deleted)" if gone).')
    compare: str | None = Field(
        default=None,
        description="Page comparing this dependency between the same two times (comparisons "
        "of one wagon at two times only).",
    )


class CompareSideOut(BaseModel):
    wagon_id: int
    wagon_name: str
    analysis: str
    at: str | None = Field(description="Time of this state (ISO, UTC); null: as it is now.")
    dependencies: list[DependencyOut]


class CompareOut(BaseModel):
    left: str
    right: str
    changes: list[ChangeOut]
    tabs: dict[str, list[ChangeOut]] = Field(
        default_factory=dict,
        description="The changes per tab of the page: `settings` (name, workflow, tag, "
        "dependencies by name), `configuration` (base and subwagons), `derived` (tables and "
        "sizes).",
    )
    left_state: CompareSideOut | None = None
    right_state: CompareSideOut | None = None


def changes_out(changes: list[Any]) -> list[ChangeOut]:
    return [ChangeOut(path=c.path, old=c.old, new=c.new) for c in changes]


def upload_preview_data(db: Session, wagon: m.Wagon, configuration: Any) -> UploadPreviewOut:
    """What saving an uploaded O2 JSON would change (the upload page and ``POST
    /api/wagons/{id}/configuration/preview``); nothing is saved."""
    return UploadPreviewOut.model_validate(
        wagon_json.preview_upload(db, wagon, configuration).as_dict()
    )


TAB_FIELDS = {
    "settings": ("name", "workflow", "tag_id", "dependencies"),
    "configuration": ("base_config", "subwagons"),
    "derived": ("derived_tables", "slim_ready", "max_df_size", "max_derived_file_size"),
}


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _version_entry(db: Session, wagon_id: int, version: int) -> m.HistoryEntry:
    entry = db.scalars(
        select(m.HistoryEntry)
        .where(
            m.HistoryEntry.object_type == "wagon",
            m.HistoryEntry.object_id == wagon_id,
            m.HistoryEntry.version == version,
        )
        .order_by(m.HistoryEntry.id.desc())
        .limit(1)
    ).first()
    if entry is None:
        raise NotFound(f"wagon {wagon_id} has no recorded version {version}", {"version": version})
    return entry


def _names(db: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.execute(select(m.Wagon.id, m.Wagon.name).where(m.Wagon.id.in_(ids))).all())


def _side(
    db: Session, wagon: m.Wagon, state: dict[str, Any], at: datetime | None, names: dict[int, str]
) -> CompareSideOut:
    return CompareSideOut(
        wagon_id=wagon.id,
        wagon_name=str(state.get("name") or wagon.name),
        analysis=wagon.analysis.name,
        at=_utc(at).isoformat() if at is not None else None,
        dependencies=[
            DependencyOut(id=d, name=names.get(d, f"wagon {d} (deleted)"))
            for d in state.get("dependencies") or []
        ],
    )


def _tabs(changes: list[ChangeOut], names: dict[int, str]) -> dict[str, list[ChangeOut]]:
    tab_of = {f: tab for tab, fields in TAB_FIELDS.items() for f in fields}
    out: dict[str, list[ChangeOut]] = {tab: [] for tab in TAB_FIELDS}
    for c in changes:
        head = c.path.split(".", 1)[0]
        if head == "dependencies":  # ids in the snapshots, names on the page
            c = ChangeOut(
                path="dependencies",
                old=None if c.old is None else [names.get(i, f"wagon {i}") for i in c.old],
                new=None if c.new is None else [names.get(i, f"wagon {i}") for i in c.new],
            )
        out[tab_of.get(head, "settings")].append(c)
    return out


def compare_data(
    db,
    actor: Actor,
    wagon: m.Wagon,
    *,
    other_id: int | None = None,
    at: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
    version2: int | None = None,
) -> CompareOut:
    """Differences with another wagon the user can read (``other_id``, any analysis), or with
    this wagon at an earlier time (``at``, compared with ``until`` or now) or an earlier
    ``version`` (compared with ``version2`` or now). The changes come per tab (settings,
    configuration, derived data), dependencies by name; comparing one wagon at two times,
    each dependency links to its own comparison between the same two times."""
    given = sum(x is not None for x in (other_id, at, version))
    if given != 1:
        raise ValidationError(
            "give exactly one of other_id (another wagon), at (a time) or version"
        )
    if version2 is not None and version is None:
        raise ValidationError("version2 needs version (the two versions to compare)")
    if until is not None and at is None:
        raise ValidationError("until needs at (the two times to compare)")
    other = wagon
    t_left = t_right = None
    if other_id is not None:
        other = db.get(m.Wagon, other_id)
        if other is None:
            raise NotFound(f"wagon {other_id} does not exist", {"id": other_id})
        permissions.require(actor, Action.READ, other)
        left, right = wagons.wagon_state(wagon), wagons.wagon_state(other)
        labels = (f"wagon {wagon.id}", f"wagon {other.id}")
    elif version is not None:
        versions = sorted({version, version2}, key=lambda v: (v is None, v or 0))
        if len(versions) == 1:
            raise ValidationError(f"choose two different versions (both are {version})")
        first = _version_entry(db, wagon.id, versions[0])
        left, t_left = dict(first.snapshot), first.at
        labels = (f"wagon {wagon.id} version {versions[0]}", f"wagon {wagon.id} now")
        if versions[1] is None:
            right = wagons.wagon_state(wagon)
        else:
            second = _version_entry(db, wagon.id, versions[1])
            right, t_right = dict(second.snapshot), second.at
            labels = (labels[0], f"wagon {wagon.id} version {versions[1]}")
    else:
        if until is not None and until < at:
            at, until = until, at
        left = wagons.wagon_at(db, wagon.id, at)
        right = wagons.wagon_at(db, wagon.id, until) if until else wagons.wagon_state(wagon)
        t_left, t_right = at, until
        labels = (f"wagon {wagon.id} at {at.isoformat()}", f"wagon {wagon.id} at {until or 'now'}")
    changes = changes_out(wagons.compare_states(left, right))
    names = _names(db, {*(left.get("dependencies") or []), *(right.get("dependencies") or [])})
    left_side = _side(db, wagon, left, t_left, names)
    right_side = _side(db, other, right, t_right, names)
    if other_id is None:  # one wagon at two times: each dependency at the same two times
        query = {"at": _utc(t_left).isoformat()}
        if t_right is not None:
            query["until"] = _utc(t_right).isoformat()
        for dep in (*left_side.dependencies, *right_side.dependencies):
            dep.compare = f"/wagon/{dep.id}/compare?{urlencode(query)}"
    return CompareOut(
        left=labels[0],
        right=labels[1],
        changes=changes,
        tabs=_tabs(changes, names),
        left_state=left_side,
        right_state=right_side,
    )


def compare_choices(db: Session, user: m.User, wagon_id: int) -> list[dict[str, Any]]:
    """The wagons ``user`` may compare ``wagon_id`` with (every wagon they can read, of any
    analysis), grouped by analysis: the user's own analyses first, then the others by name."""
    if not permissions.can(user, Action.READ):  # every account reads every wagon (SPEC §1)
        return []
    mine = set(
        db.scalars(select(m.AnalysisMember.analysis_id).where(m.AnalysisMember.user_id == user.id))
    )
    rows = db.execute(
        select(m.Wagon.id, m.Wagon.name, m.Wagon.workflow, m.Analysis.id, m.Analysis.name)
        .join(m.Analysis, m.Analysis.id == m.Wagon.analysis_id)
        .where(m.Wagon.id != wagon_id)
        .order_by(m.Analysis.name, m.Wagon.name)
    ).all()
    groups: dict[int, dict[str, Any]] = {}
    for wid, name, workflow, aid, analysis in rows:
        group = groups.setdefault(
            aid, {"analysis_id": aid, "analysis": analysis, "mine": aid in mine, "wagons": []}
        )
        group["wagons"].append({"id": wid, "name": name, "workflow": workflow})
    return sorted(groups.values(), key=lambda g: (not g["mine"], g["analysis"]))


def wagon_test_result(
    db, test: m.WagonTest, settings: Any, *, graphs: bool = False
) -> dict[str, Any]:
    """A wagon test result (``analyses.wagon_test_data``; the test page and ``GET
    /api/wagons/{id}/tests/{test_id}``) and, with ``graphs``, the time series of its
    performanceMetrics.json."""
    roots = file_roots(settings)
    data = wagon_test_data(db, test, roots.root, roots.mirror)
    data["graphs"] = None
    if graphs:
        path = performance_metrics_file(test, roots.mirror)
        if path is not None:
            try:
                data["graphs"] = performance_graphs_data(path.read_bytes())
            except PerformanceMetricsError:
                data["graphs"] = None
    return data
