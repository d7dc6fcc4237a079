"""Read models of the dataset-side views (dataset overview, derived data, staging status,
runlist overview): one query layer shared by the JSON API and the HTML pages.

Each function returns plain JSON-able dicts; the API validates them into response models and
the pages render the same models, so a script sees exactly what a page shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hyperloop.core import derived, permissions
from hyperloop.core.actor import Actor
from hyperloop.core.common import get_or_404
from hyperloop.core.datasets import get_dataset, runs_of
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.db.models import (
    Analysis,
    AnalysisDataset,
    Dataset,
    DatasetFile,
    HistoryEntry,
    Production,
    Runlist,
    StagingTransfer,
    TrainRun,
    User,
)
from hyperloop.enums import AutoComposeType, DataType, ProductionKind, StagingAction, TrainType
from hyperloop.readmodels.paging import Page, PageParams, paginate
from hyperloop.readmodels.schemas import ORMModel

#: staging states after which a transfer no longer changes (pages stop polling)
FINAL_STAGING_STATES = frozenset({"done", "failed", "cancelled"})


def _usernames(s: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(s.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def _last_change(s: Session, object_type: str, object_id: int) -> dict[str, Any]:
    """Who created the object and who changed it last (from its history), with times."""
    base = select(HistoryEntry).where(
        HistoryEntry.object_type == object_type, HistoryEntry.object_id == object_id
    )
    first = s.scalars(base.order_by(HistoryEntry.id).limit(1)).first()
    last = s.scalars(base.order_by(HistoryEntry.id.desc()).limit(1)).first()
    names = _usernames(
        s,
        {
            first.user_id if first else None,
            last.user_id if last else None,
            last.impersonator_id if last else None,
        },
    )
    return {
        "created_by": names.get(first.user_id) if first and first.user_id else None,
        "created_at": first.at if first else None,
        "changed_by": names.get(last.user_id) if last and last.user_id else None,
        "changed_at": last.at if last else None,
        "changed_reason": last.reason if last else "",
    }


RECENT_CHANGES = 10


def recent_changes(
    s: Session, object_type: str, object_id: int, n: int = RECENT_CHANGES
) -> list[dict[str, Any]]:
    """The last ``n`` history entries, newest first: when, who (and who impersonated),
    what action, why, and the changed fields (top-level names; details in the history API)."""
    entries = list(
        s.scalars(
            select(HistoryEntry)
            .where(HistoryEntry.object_type == object_type, HistoryEntry.object_id == object_id)
            .order_by(HistoryEntry.id.desc())
            .limit(n)
        )
    )
    names = _usernames(s, {e.user_id for e in entries} | {e.impersonator_id for e in entries})
    return [
        {
            "at": e.at,
            "user": names.get(e.user_id) if e.user_id else None,
            "impersonator": names.get(e.impersonator_id) if e.impersonator_id else None,
            "action": e.action,
            "reason": e.reason,
            "fields": sorted({path.split(".")[0] for path in (e.changes or {})}),
        }
        for e in entries
    ]


def _transfer(t: StagingTransfer, dataset_name: str, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": t.id,
        "dataset_id": t.dataset_id,
        "dataset_name": dataset_name,
        "target": t.target,
        "action": t.action.value,
        "state": t.state,
        "progress": float(t.progress or 0.0),
        "final": t.state in FINAL_STAGING_STATES,
        "requested_by": names.get(t.requested_by_id) if t.requested_by_id else None,
        "created_at": t.created_at,
    }


def dataset_overview(s: Session, dataset_id: int) -> dict[str, Any]:
    """Everything the dataset page shows besides its settings: productions with their
    catalogue, runs (included and excluded), analyses using it, parent and short datasets,
    the latest staging transfer per target and the last change. Raises NotFound."""
    ds = get_dataset(s, dataset_id)
    prod_ids = [p.id for p in ds.productions]
    per_prod: dict[int, tuple[int, int, int]] = {}
    if prod_ids:
        rows = s.execute(
            select(
                DatasetFile.production_id,
                func.count(),
                func.coalesce(func.sum(DatasetFile.size), 0),
                func.count(func.distinct(DatasetFile.run_number)),
            )
            .where(DatasetFile.production_id.in_(prod_ids))
            .group_by(DatasetFile.production_id)
        ).all()
        per_prod = {pid: (int(n), int(size), int(runs)) for pid, n, size, runs in rows}
    runlist_names = dict(
        s.execute(
            select(Runlist.id, Runlist.name).where(
                Runlist.id.in_([p.runlist_id for p in ds.productions if p.runlist_id])
            )
        ).all()
    )
    productions = []
    excluded: set[int] = set()
    for p in ds.productions:
        files, size, cat_runs = per_prod.get(p.id, (0, 0, 0))
        excluded |= set(p.excluded_runs or [])
        productions.append(
            {
                "id": p.id,
                "name": p.name,
                "kind": p.kind.value,
                "runlist_id": p.runlist_id,
                "runlist_name": runlist_names.get(p.runlist_id),
                "train_run_id": p.train_run_id,
                "excluded_runs": sorted(p.excluded_runs or []),
                "files": files,
                "bytes": size,
                "catalogue_runs": cat_runs,
            }
        )
    runs = runs_of(s, ds.id)
    analyses = [
        {"id": a.id, "name": a.name, "pwg": a.pwg}
        for a in s.scalars(
            select(Analysis)
            .join(AnalysisDataset, AnalysisDataset.analysis_id == Analysis.id)
            .where(AnalysisDataset.dataset_id == ds.id)
            .order_by(Analysis.name)
        )
    ]
    parent = s.get(Dataset, ds.parent_id) if ds.parent_id else None
    transfers = list(
        s.scalars(
            select(StagingTransfer)
            .where(StagingTransfer.dataset_id == ds.id)
            .order_by(StagingTransfer.id.desc())
        )
    )
    latest: dict[str, StagingTransfer] = {}
    for t in transfers:
        latest.setdefault(t.target, t)
    names = _usernames(s, {t.requested_by_id for t in latest.values()})
    n_files = sum(p["files"] for p in productions)
    return {
        "runs": runs,
        "excluded_runs": sorted(excluded),
        "productions": productions,
        "catalogue": {
            "files": n_files,
            "bytes": sum(p["bytes"] for p in productions),
            "runs": len(runs),
        },
        "analyses": analyses,
        "parent": {"id": parent.id, "name": parent.name} if parent else None,
        "short_datasets": [
            {"id": d.id, "name": d.name, "active": d.active} for d in ds.short_datasets
        ],
        "staging": [_transfer(t, ds.name, names) for t in sorted(latest.values(), key=_by_target)],
        "recent_changes": recent_changes(s, "dataset", ds.id),
        **_last_change(s, "dataset", ds.id),
    }


def _by_target(t: StagingTransfer) -> str:
    return t.target


def _count(s: Session, stmt: Select[Any]) -> int:
    return int(s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)


def staging_status(
    s: Session,
    *,
    dataset_id: int | None = None,
    target: str | None = None,
    running_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Staging transfers, newest first, with dataset and requester names; ``running`` says
    whether any transfer anywhere is still moving (the page keeps polling while true)."""
    stmt = select(StagingTransfer, Dataset.name).join(
        Dataset, Dataset.id == StagingTransfer.dataset_id
    )
    if dataset_id is not None:
        stmt = stmt.where(StagingTransfer.dataset_id == dataset_id)
    if target:
        stmt = stmt.where(StagingTransfer.target == target)
    if running_only:
        stmt = stmt.where(StagingTransfer.state.not_in(FINAL_STAGING_STATES))
    total = _count(s, stmt)
    rows = s.execute(stmt.order_by(StagingTransfer.id.desc()).limit(limit).offset(offset)).all()
    names = _usernames(s, {t.requested_by_id for t, _ in rows})
    running = (
        s.scalars(
            select(StagingTransfer.id)
            .where(StagingTransfer.state.not_in(FINAL_STAGING_STATES))
            .limit(1)
        ).first()
        is not None
    )
    return {
        "items": [_transfer(t, name, names) for t, name in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
        "running": running,
    }


def derived_data(
    s: Session,
    *,
    dataset_id: int | None = None,
    pwg: str | None = None,
    unused_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Derived-data train runs (standard, linked, slim), newest first: their dataset, state,
    derived tables, analyses and PWGs, output size and the dataset productions built from
    them (a derived output is *unused* when no production refers to it)."""
    stmt = select(TrainRun).where(TrainRun.train_type != TrainType.ANALYSIS)
    if dataset_id is not None:
        stmt = stmt.where(TrainRun.dataset_id == dataset_id)
    used_ids = select(Production.train_run_id).where(Production.train_run_id.is_not(None))
    if unused_only:  # still stored and used by no production: what may be deleted
        stmt = stmt.where(TrainRun.id.not_in(used_ids), TrainRun.output_deleted_at.is_(None))
    stmt = stmt.order_by(TrainRun.id.desc())
    if pwg:  # the PWGs live in the JSON snapshot: filter in Python (derived trains are few)
        trains = [
            t for t in s.scalars(stmt) if pwg in {w.get("pwg") for w in t.wagons_snapshot or []}
        ]
        total, page = len(trains), trains[offset : offset + limit]
    else:
        total = _count(s, stmt)
        page = list(s.scalars(stmt.limit(limit).offset(offset)))
    ids = [t.id for t in page]
    dependents: dict[int, list[dict[str, Any]]] = {}
    if ids:
        for prod, ds_name in s.execute(
            select(Production, Dataset.name)
            .join(Dataset, Dataset.id == Production.dataset_id)
            .where(Production.train_run_id.in_(ids))
            .order_by(Dataset.name)
        ).all():
            dependents.setdefault(prod.train_run_id, []).append(
                {"dataset_id": prod.dataset_id, "dataset_name": ds_name, "production": prod.name}
            )
    ds_names = dict(
        s.execute(
            select(Dataset.id, Dataset.name).where(Dataset.id.in_({t.dataset_id for t in page}))
        ).all()
    )
    items = []
    for t in page:
        wagons = t.wagons_snapshot or []
        tables = sorted({tbl for w in wagons for tbl in (w.get("derived_tables") or [])})
        items.append(
            {
                "train_run_id": t.id,
                "train_type": t.train_type.value,
                "state": t.state.value,
                "dataset_id": t.dataset_id,
                "dataset_name": ds_names.get(t.dataset_id, ""),
                "tables": tables,
                "analyses": sorted(
                    {str(w.get("analysis_name")) for w in wagons if w.get("analysis_name")}
                ),
                "pwgs": sorted({str(w.get("pwg")) for w in wagons if w.get("pwg")}),
                "wagons": [str(w.get("name")) for w in wagons if w.get("name")],
                "output_dir": t.output_dir,
                "size_bytes": derived.size_of(t),
                "output_deleted_at": t.output_deleted_at,
                "deletable": t.output_deleted_at is None
                and t.state in derived.DELETABLE_STATES
                and not dependents.get(t.id),
                "composed_at": t.composed_at,
                "finished_at": t.finished_at,
                "dependent_datasets": dependents.get(t.id, []),
            }
        )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def runlist_overview(s: Session, runlist_id: int) -> dict[str, Any]:
    """Who created and last changed a DPG runlist and which dataset productions use it."""
    rl = get_or_404(s, Runlist, runlist_id, "runlist")
    rows = s.execute(
        select(Production, Dataset)
        .join(Dataset, Dataset.id == Production.dataset_id)
        .where(Production.runlist_id == rl.id)
        .order_by(Dataset.name, Production.name)
    ).all()
    return {
        "datasets": [
            {
                "dataset_id": ds.id,
                "dataset_name": ds.name,
                "active": ds.active,
                "production": prod.name,
                "excluded_runs": sorted(prod.excluded_runs or []),
            }
            for prod, ds in rows
        ],
        **_last_change(s, "runlist", rl.id),
    }


# --- runlists (``/runlists``, ``/runlist/{id}`` and ``GET /api/runlists``,
# ``GET /api/runlists/{id}/overview``)


class RunlistOut(ORMModel):
    id: int
    name: str
    data_type: DataType
    anchor: str
    tag: str
    production: str
    runs: list[int]
    description: str
    version: int
    created_at: datetime


class RunlistUse(BaseModel):
    dataset_id: int
    dataset_name: str
    active: bool
    production: str
    excluded_runs: list[int]


class RunlistOverview(BaseModel):
    """The runlist page: the runlist, who made/changed it, and the datasets using it."""

    runlist: RunlistOut
    datasets: list[RunlistUse] = Field(description="Dataset productions built from it.")
    created_by: str | None
    created_at: datetime | None
    changed_by: str | None
    changed_at: datetime | None
    changed_reason: str


def runlist_overview_data(db: Session, runlist: m.Runlist) -> RunlistOverview:
    """The data of ``/runlist/{id}`` and ``GET /api/runlists/{id}/overview``."""
    return RunlistOverview(
        runlist=RunlistOut.model_validate(runlist),
        **runlist_overview(db, runlist.id),
    )


def runlists_list_data(
    db: Session,
    actor: Actor,
    paging: PageParams,
    *,
    name: str | None = None,
    data_type: DataType | None = None,
    anchor: str | None = None,
) -> dict[str, Any]:
    """One page of runlists by name (name contains, data type, anchor)."""
    permissions.require(actor, Action.READ)
    stmt = select(m.Runlist).order_by(m.Runlist.name)
    if name:
        stmt = stmt.where(m.Runlist.name.contains(name, autoescape=True))
    if data_type is not None:
        stmt = stmt.where(m.Runlist.data_type == data_type)
    if anchor:
        stmt = stmt.where(m.Runlist.anchor == anchor)
    return paginate(db, stmt, paging, RunlistOut.model_validate)


# --- datasets as the API shows them (``/datasets``, ``/dataset/{id}``, ``/derived-data``,
# ``/staging`` and their ``GET /api/datasets...`` twins)


class ProductionOut(ORMModel):
    id: int
    name: str
    kind: ProductionKind
    runlist_id: int | None
    train_run_id: int | None
    excluded_runs: list[int]


class MergelistOut(ORMModel):
    id: int
    name: str
    runs: list[int]
    active: bool


class FinalMergelistOut(ORMModel):
    id: int
    name: str
    mergelists: list[str]


class DatasetOut(ORMModel):
    id: int
    name: str
    description: str
    active: bool
    data_type: DataType
    collision_system: str
    anchor: str
    period: str
    parent_id: int | None
    version: int
    created_at: datetime


class DatasetDetail(DatasetOut):
    final_merge_all_runs: bool
    size_class: str
    cpu_limit_hours: float | None
    slots_per_week: int
    auto_submission_slots: int
    auto_compose: bool
    auto_compose_type: AutoComposeType
    auto_compose_days: list[int]
    auto_compose_times: list[str]
    auto_compose_max_cpu_hours: float | None
    auto_compose_max_trains_per_week: int | None
    productions: list[ProductionOut]
    mergelists: list[MergelistOut]
    final_mergelists: list[FinalMergelistOut]
    short_dataset_ids: list[int]


# the lists of a dataset's detail; its other fields are the dataset's settings, as stored
_DETAIL_LISTS = frozenset({"productions", "mergelists", "final_mergelists", "short_dataset_ids"})


class CatalogueSummaryOut(BaseModel):
    files: int
    bytes: int
    runs: int


class ProductionView(BaseModel):
    id: int
    name: str
    kind: ProductionKind
    runlist_id: int | None
    runlist_name: str | None
    train_run_id: int | None
    excluded_runs: list[int]
    files: int
    bytes: int
    catalogue_runs: int = Field(description="Runs with files in the catalogue.")


class NamedRef(BaseModel):
    id: int
    name: str


class AnalysisRef(NamedRef):
    pwg: str


class ShortDatasetRef(NamedRef):
    active: bool


class TransferView(BaseModel):
    id: int
    dataset_id: int
    dataset_name: str
    target: str
    action: StagingAction
    state: str
    progress: float = Field(description="0..1")
    final: bool = Field(description="True when the transfer no longer changes.")
    requested_by: str | None
    created_at: datetime


class ChangeLine(BaseModel):
    at: datetime
    user: str | None
    impersonator: str | None = Field(description="Admin acting as ``user``, if any.")
    action: str
    reason: str
    fields: list[str] = Field(description="Top-level fields that changed.")


class DatasetOverview(BaseModel):
    """The dataset page: settings plus runs, catalogue, users, staging, last change."""

    dataset: DatasetDetail
    runs: list[int] = Field(description="Runs trains read: catalogue runs minus excluded runs.")
    excluded_runs: list[int]
    productions: list[ProductionView]
    catalogue: CatalogueSummaryOut
    analyses: list[AnalysisRef] = Field(description="Analyses that added this dataset.")
    parent: NamedRef | None
    short_datasets: list[ShortDatasetRef]
    staging: list[TransferView] = Field(description="Latest transfer per staging target.")
    recent_changes: list[ChangeLine] = Field(description="Last changes, newest first.")
    created_by: str | None
    created_at: datetime | None
    changed_by: str | None
    changed_at: datetime | None
    changed_reason: str


class StagingPage(Page[TransferView]):
    running: bool = Field(description="Some transfer (of any dataset) is still moving.")


class DependentDataset(BaseModel):
    dataset_id: int
    dataset_name: str
    production: str


class DerivedOutput(BaseModel):
    train_run_id: int
    train_type: str
    state: str
    dataset_id: int
    dataset_name: str
    tables: list[str]
    analyses: list[str]
    pwgs: list[str]
    wagons: list[str]
    output_dir: str | None
    size_bytes: int | None = Field(description="Bytes below the output folder (None: absent).")
    composed_at: datetime
    finished_at: datetime | None
    dependent_datasets: list[DependentDataset] = Field(
        description="Productions built from this output; none means unused."
    )
    output_deleted_at: datetime | None = Field(
        default=None, description="When the output files were deleted (None: still stored)."
    )
    deletable: bool = Field(
        default=False,
        description="Finished, still stored and used by no production: an operator may delete it.",
    )


def dataset_detail(dataset: m.Dataset) -> DatasetDetail:
    return DatasetDetail(
        **DatasetOut.model_validate(dataset).model_dump(),
        **{
            k: getattr(dataset, k)
            for k in DatasetDetail.model_fields
            if k not in DatasetOut.model_fields and k not in _DETAIL_LISTS
        },
        productions=[ProductionOut.model_validate(p) for p in dataset.productions],
        mergelists=[MergelistOut.model_validate(x) for x in dataset.mergelists],
        final_mergelists=[FinalMergelistOut.model_validate(x) for x in dataset.final_mergelists],
        short_dataset_ids=[d.id for d in dataset.short_datasets],
    )


def datasets_list_data(
    db: Session,
    actor: Actor,
    paging: PageParams,
    *,
    name: str | None = None,
    active: bool | None = None,
    data_type: DataType | None = None,
    collision_system: str | None = None,
    period: str | None = None,
    parent_id: int | None = None,
    analysis_id: int | None = None,
) -> dict[str, Any]:
    """One page of datasets by name, filtered (short datasets of ``parent_id``, datasets
    added to ``analysis_id``)."""
    permissions.require(actor, Action.READ)
    stmt = select(m.Dataset).order_by(m.Dataset.name)
    if name:
        stmt = stmt.where(m.Dataset.name.contains(name, autoescape=True))
    if active is not None:
        stmt = stmt.where(m.Dataset.active.is_(active))
    if data_type is not None:
        stmt = stmt.where(m.Dataset.data_type == data_type)
    if collision_system:
        stmt = stmt.where(m.Dataset.collision_system == collision_system)
    if period:
        stmt = stmt.where(m.Dataset.period == period)
    if parent_id is not None:
        stmt = stmt.where(m.Dataset.parent_id == parent_id)
    if analysis_id is not None:
        stmt = stmt.join(m.AnalysisDataset, m.AnalysisDataset.dataset_id == m.Dataset.id).where(
            m.AnalysisDataset.analysis_id == analysis_id
        )
    return paginate(db, stmt, paging, DatasetOut.model_validate)


def dataset_overview_data(db: Session, dataset: m.Dataset) -> DatasetOverview:
    """The data of ``/dataset/{id}`` and ``GET /api/datasets/{id}/overview``."""
    return DatasetOverview(dataset=dataset_detail(dataset), **dataset_overview(db, dataset.id))


def derived_list_data(
    db: Session,
    actor: Actor,
    paging: PageParams,
    *,
    dataset_id: int | None = None,
    pwg: str | None = None,
    unused: bool = False,
) -> Page[DerivedOutput]:
    """One page of derived-data train outputs (only those no production uses: ``unused``)."""
    permissions.require(actor, Action.READ)
    return Page[DerivedOutput](
        **derived_data(
            db,
            dataset_id=dataset_id,
            pwg=pwg or None,
            unused_only=unused,
            limit=paging.limit,
            offset=paging.offset,
        )
    )


def staging_list_data(
    db: Session,
    actor: Actor,
    paging: PageParams,
    *,
    dataset_id: int | None = None,
    target: str | None = None,
    running: bool = False,
) -> StagingPage:
    """One page of staging transfers of every dataset, newest first, with progress."""
    permissions.require(actor, Action.READ)
    return StagingPage(
        **staging_status(
            db,
            dataset_id=dataset_id,
            target=target or None,
            running_only=running,
            limit=paging.limit,
            offset=paging.offset,
        )
    )
