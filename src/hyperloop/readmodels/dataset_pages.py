"""Datasets, runlists, derived data and staging as the pages and the JSON API show them:
the response shapes and one data function per page (``/datasets``, ``/dataset/{id}``,
``/runlists``, ``/runlist/{id}``, ``/derived-data``, ``/staging`` and their
``GET /api/datasets...``, ``GET /api/runlists...`` twins), over the queries of
:mod:`hyperloop.readmodels.datasets`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core import permissions
from hyperloop.core.actor import Actor
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.enums import AutoComposeType, DataType, ProductionKind, StagingAction
from hyperloop.readmodels.datasets import (
    dataset_overview,
    derived_data,
    runlist_overview,
    staging_status,
)
from hyperloop.readmodels.paging import Page, PageParams, paginate
from hyperloop.readmodels.schemas import ORMModel

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
    files: int = Field(description="Files of the runs trains read (excluded runs left out).")
    bytes: int = Field(description="Their size (excluded runs left out).")
    catalogue_runs: int = Field(description="Runs with files in the catalogue, not excluded.")
    excluded_files: int = Field(0, description="Catalogue files of the excluded runs.")
    excluded_bytes: int = Field(0, description="Their size.")


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
    bytes_total: int = 0
    bytes_done: int = 0
    files_total: int = 0
    files_done: int = 0
    location: str | None = None
    error: str | None = None
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
    active: bool = Field(description="The dataset is active (its output may not be deleted).")


class DerivedOutput(BaseModel):
    train_run_id: int
    train_type: str
    state: str
    dataset_id: int
    dataset_name: str
    tables: list[str]
    analyses: list[str]
    analysis_ids: list[int | None] = Field(
        default_factory=list, description="The ids of ``analyses``, in the same order."
    )
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
        description="Finished, still stored and used by no active dataset's production: an "
        "operator may delete it.",
    )


class DerivedGroup(BaseModel):
    name: str = Field(description="Dataset, analysis or PWG name; '(none)' for outputs without.")
    id: int | None = Field(description="The dataset's or analysis's id (None for PWGs).")
    train_run_ids: list[int] = Field(description="The outputs of the page in this group.")
    size_bytes: int = Field(description="Bytes of the group's stored outputs on this page.")


class DerivedPage(Page[DerivedOutput]):
    groups: list[DerivedGroup] = Field(
        description="The page's outputs grouped by dataset, analysis or PWG (``group``)."
    )
    total_bytes: int = Field(
        description="Bytes of every derived output still stored (not affected by filters)."
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
    used_by: str | None = None,
    group: str = "dataset",
) -> DerivedPage:
    """One page of derived-data train outputs (only those no production uses: ``unused``;
    only those an active dataset uses, or only inactive ones: ``used_by``), grouped by
    dataset, analysis or PWG, with the total size of all stored derived outputs."""
    permissions.require(actor, Action.READ)
    return DerivedPage(
        **derived_data(
            db,
            dataset_id=dataset_id,
            pwg=pwg or None,
            unused_only=unused,
            used_by=used_by,
            group_by=group,
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
