"""Datasets: create/edit/activate/delete, productions, excluded runs, file catalogue,
mergelists, final mergelists, short datasets, limits, automatic composition, staging."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from hyperloop.core import datasets, derived, storage_listing
from hyperloop.core.errors import NotFound
from hyperloop.db import models as m
from hyperloop.enums import AutoComposeType, DataType, ProductionKind, StagingAction
from hyperloop.readmodels.dataset_pages import (
    CatalogueSummaryOut,
    DatasetDetail,
    DatasetOut,
    DatasetOverview,
    DerivedPage,
    FinalMergelistOut,
    MergelistOut,
    ProductionOut,
    StagingPage,
    dataset_detail,
    dataset_overview_data,
    datasets_list_data,
    derived_list_data,
    staging_list_data,
)
from hyperloop.readmodels.paging import Page, paginate
from hyperloop.readmodels.schemas import ORMModel
from hyperloop.web.api.schemas import HistoryAction, HistoryOut, history_page
from hyperloop.web.deps import DB, CurrentActor, DatasetForReader, SettingsDep
from hyperloop.web.pagination import Paging

router = APIRouter(prefix="/datasets", tags=["datasets"])

Ident = Annotated[int, Path(ge=1, le=2**31 - 1)]
RunNumber = Annotated[int, Field(ge=0, le=2**31 - 1)]
Name = Annotated[str, Field(min_length=1, max_length=128)]
TimeOfDay = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class DatasetSettings(BaseModel):
    """Editable fields (all optional in an edit)."""

    description: str | None = Field(default=None, max_length=10000)
    data_type: DataType | None = None
    collision_system: str | None = Field(default=None, max_length=32)
    anchor: str | None = Field(default=None, max_length=64)
    period: str | None = Field(default=None, max_length=64)
    final_merge_all_runs: bool | None = None
    size_class: str | None = Field(default=None, max_length=32)
    cpu_limit_hours: float | None = Field(default=None, ge=0, le=1e9)
    slots_per_week: int | None = Field(default=None, ge=0, le=10000)
    auto_submission_slots: int | None = Field(default=None, ge=0, le=10000)
    auto_compose: bool | None = None
    auto_compose_type: AutoComposeType | None = None
    auto_compose_days: list[Annotated[int, Field(ge=0, le=6)]] | None = None
    auto_compose_times: list[TimeOfDay] | None = None
    auto_compose_max_cpu_hours: float | None = Field(default=None, ge=0, le=1e9)
    auto_compose_max_trains_per_week: int | None = Field(default=None, ge=0, le=10000)


class DatasetIn(DatasetSettings):
    name: Name


class DatasetPatch(DatasetSettings):
    expected_version: int = Field(ge=1, le=2**31 - 1)
    name: Name | None = None


class ActiveIn(BaseModel):
    active: bool


class ProductionIn(BaseModel):
    name: Name
    kind: ProductionKind
    runlist_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    train_run_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class ExcludedRunsIn(BaseModel):
    runs: list[RunNumber]


class FileImportIn(BaseModel):
    """Either ``lines`` (``path size [n_dataframes]`` per line) or a server-side
    ``directory`` tree; every path must lie under the ``storage_roots`` setting."""

    lines: list[Annotated[str, Field(max_length=8192)]] | None = Field(
        default=None,
        max_length=100_000,
        description="At most 100000 lines per request; a larger catalogue is imported in "
        "several requests (each adds its files).",
    )
    directory: str | None = Field(default=None, min_length=1, max_length=4096)


class ImportOut(BaseModel):
    imported: int


class FileOut(ORMModel):
    id: int
    production_id: int
    run_number: int
    path: str
    size: int
    n_dataframes: int | None


class MergelistIn(BaseModel):
    name: Name
    runs: list[RunNumber]
    active: bool = True


class FinalMergelistIn(BaseModel):
    name: Name
    mergelists: list[Name] = Field(min_length=1)


class ShortDatasetIn(BaseModel):
    name: Name
    description: str = Field(default="", max_length=10000)


class StagingIn(BaseModel):
    target: str = Field(min_length=1, max_length=128)
    action: StagingAction = StagingAction.STAGE


class StagingOut(ORMModel):
    id: int
    dataset_id: int
    target: str
    action: StagingAction
    state: str = Field(
        description="awaiting_confirmation, requested, transferring, verifying, done or failed."
    )
    progress: float
    created_at: datetime
    location: str | None = Field(default=None, description="Where the copies go (URL/folder).")
    bytes_total: int = 0
    bytes_done: int = 0
    files_total: int = 0
    files_done: int = 0
    error: str | None = Field(default=None, description="Why the transfer failed.")
    confirmed_by: str | None = Field(
        default=None, description="Operator who confirmed the data amount of a big transfer."
    )
    finished_at: datetime | None = None


class DerivedDeleted(BaseModel):
    train_run_id: int
    deleted_at: datetime
    bytes_freed: int = Field(description="Bytes of the deleted files.")


def _fields(body: BaseModel, exclude: set[str] = frozenset()) -> dict:
    data = body.model_dump(exclude_unset=True, exclude=set(exclude))
    return {k: v for k, v in data.items() if v is not None}


def _production(dataset: m.Dataset, production_id: int) -> m.Production:
    for production in dataset.productions:
        if production.id == production_id:
            return production
    raise NotFound(f"dataset {dataset.name} has no production {production_id}")


@router.get("", response_model=Page[DatasetOut], summary="Datasets, filtered")
def list_datasets(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    name: Annotated[str | None, Query(max_length=128, description="Name contains.")] = None,
    active: bool | None = None,
    data_type: DataType | None = None,
    collision_system: Annotated[str | None, Query(max_length=32)] = None,
    period: Annotated[str | None, Query(max_length=64)] = None,
    parent_id: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Short datasets of this dataset.")
    ] = None,
    analysis_id: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Datasets added to this analysis.")
    ] = None,
):
    return datasets_list_data(
        db,
        actor,
        paging,
        name=name,
        active=active,
        data_type=data_type,
        collision_system=collision_system,
        period=period,
        parent_id=parent_id,
        analysis_id=analysis_id,
    )


@router.get(
    "/derived-data",
    response_model=DerivedPage,
    summary="Derived-data train outputs with their datasets, analyses, sizes and users, "
    "grouped by dataset, analysis or PWG, and the total stored size",
)
def list_derived_data(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    dataset_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    pwg: Annotated[str | None, Query(max_length=64)] = None,
    unused: Annotated[bool, Query(description="Only outputs no dataset production uses.")] = False,
    used_by: Annotated[
        Literal["active", "inactive", "unused"] | None,
        Query(
            description="Only outputs a production of an active dataset uses (active), only "
            "productions of inactive datasets use (inactive), or none uses (unused)."
        ),
    ] = None,
    group: Annotated[
        Literal["dataset", "analysis", "pwg"],
        Query(description="How ``groups`` groups the page's outputs."),
    ] = "dataset",
):
    return derived_list_data(
        db,
        actor,
        paging,
        dataset_id=dataset_id,
        pwg=pwg,
        unused=unused,
        used_by=used_by,
        group=group,
    )


@router.delete(
    "/derived-data/{train_run_id}",
    response_model=DerivedDeleted,
    summary="Delete an unused derived-data output (operators); the train run and history stay",
)
def delete_derived_output(train_run_id: Ident, actor: CurrentActor, db: DB) -> DerivedDeleted:
    return DerivedDeleted(**derived.delete_output(db, actor, train_run_id))


@router.get(
    "/staging-transfers",
    response_model=StagingPage,
    summary="Staging transfers of every dataset, newest first, with progress",
)
def list_staging_transfers(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    dataset_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    target: Annotated[str | None, Query(max_length=128)] = None,
    running: Annotated[bool, Query(description="Only transfers still moving.")] = False,
):
    return staging_list_data(
        db, actor, paging, dataset_id=dataset_id, target=target, running=running
    )


@router.post("", response_model=DatasetDetail, status_code=201, summary="Create (operators)")
def create_dataset(body: DatasetIn, actor: CurrentActor, db: DB) -> DatasetDetail:
    fields = _fields(body, {"name"})
    dataset = datasets.create_dataset(db, actor, body.name, **fields)
    db.flush()
    return dataset_detail(dataset)


@router.get("/{dataset_id}", response_model=DatasetDetail, summary="One dataset")
def get_dataset(dataset: DatasetForReader) -> DatasetDetail:
    return dataset_detail(dataset)


@router.get(
    "/{dataset_id}/overview",
    response_model=DatasetOverview,
    summary="One dataset with runs, catalogue, users, staging and last change (its page)",
)
def get_dataset_overview(dataset: DatasetForReader, db: DB) -> DatasetOverview:
    return dataset_overview_data(db, dataset)


@router.patch(
    "/{dataset_id}",
    response_model=DatasetDetail,
    summary="Edit settings, limits, automatic composition (operators; 409 on concurrent edit)",
)
def edit_dataset(
    dataset: DatasetForReader, body: DatasetPatch, actor: CurrentActor, db: DB
) -> DatasetDetail:
    edited = datasets.edit_dataset(
        db,
        actor,
        dataset.id,
        expected_version=body.expected_version,
        **_fields(body, {"expected_version"}),
    )
    db.flush()
    return dataset_detail(edited)


@router.delete("/{dataset_id}", status_code=204, summary="Delete a dataset (operators)")
def delete_dataset(dataset: DatasetForReader, actor: CurrentActor, db: DB) -> Response:
    datasets.delete_dataset(db, actor, dataset.id)
    return Response(status_code=204)


@router.put("/{dataset_id}/active", response_model=DatasetDetail, summary="Activate/deactivate")
def set_active(
    dataset: DatasetForReader, body: ActiveIn, actor: CurrentActor, db: DB
) -> DatasetDetail:
    datasets.set_active(db, actor, dataset.id, body.active)
    db.flush()
    return dataset_detail(dataset)


@router.post(
    "/{dataset_id}/productions",
    response_model=ProductionOut,
    status_code=201,
    summary="Add a production (runlist, derived train output, Run 2 conversion)",
)
def add_production(
    dataset: DatasetForReader, body: ProductionIn, actor: CurrentActor, db: DB
) -> ProductionOut:
    fields = body.model_dump(exclude={"name"})
    production = datasets.add_production(db, actor, dataset.id, body.name, **fields)
    db.flush()
    return ProductionOut.model_validate(production)


@router.delete(
    "/{dataset_id}/productions/{production_id}", status_code=204, summary="Remove a production"
)
def remove_production(
    dataset: DatasetForReader, production_id: Ident, actor: CurrentActor, db: DB
) -> Response:
    datasets.remove_production(db, actor, _production(dataset, production_id).id)
    return Response(status_code=204)


@router.put(
    "/{dataset_id}/productions/{production_id}/excluded-runs",
    response_model=ProductionOut,
    summary="Set the excluded runs of a production",
)
def set_excluded_runs(
    dataset: DatasetForReader,
    production_id: Ident,
    body: ExcludedRunsIn,
    actor: CurrentActor,
    db: DB,
) -> ProductionOut:
    production = _production(dataset, production_id)
    datasets.set_excluded_runs(db, actor, production.id, body.runs)
    db.flush()
    return ProductionOut.model_validate(production)


@router.post(
    "/{dataset_id}/productions/{production_id}/files",
    response_model=ImportOut,
    summary="Import the file catalogue from a file list or a directory tree on the server "
    "(every path under the storage roots)",
)
def import_files(
    dataset: DatasetForReader,
    production_id: Ident,
    body: FileImportIn,
    actor: CurrentActor,
    db: DB,
    settings: SettingsDep,
) -> ImportOut:
    production = _production(dataset, production_id)
    if (body.lines is None) == (body.directory is None):
        from hyperloop.core.errors import ValidationError

        raise ValidationError("give exactly one of lines (a file list) or directory")
    if body.lines is not None:
        n = datasets.import_file_list(
            db, actor, production.id, body.lines, roots=settings.dataset_roots
        )
    else:
        n = datasets.import_directory(
            db, actor, production.id, FsPath(body.directory), roots=settings.dataset_roots
        )
    return ImportOut(imported=n)


class StorageListIn(BaseModel):
    base: str = Field(
        min_length=1,
        max_length=4096,
        description="Folder or URL under a storage root holding one folder per run "
        "(`BASE/<run>/**/AO2D*.root`).",
    )
    pattern: str = Field(default="AO2D*.root", min_length=1, max_length=128)


class StorageListOut(BaseModel):
    base: str
    added: int = Field(description="New files in the catalogue.")
    runs_listed: list[int] = Field(description="Runs of the runlist listed (not excluded).")
    runs_without_files: list[int] = Field(description="Listed runs where nothing was found.")
    excluded_runs: list[int] = Field(description="Runs of the runlist not listed: excluded.")


@router.post(
    "/{dataset_id}/productions/{production_id}/files/from-storage",
    response_model=StorageListOut,
    summary="Fill a runlist production's catalogue by listing the storage of each of its "
    "runs (excluded runs are not listed)",
)
def fill_from_storage(
    dataset: DatasetForReader,
    production_id: Ident,
    body: StorageListIn,
    actor: CurrentActor,
    db: DB,
    settings: SettingsDep,
) -> StorageListOut:
    production = _production(dataset, production_id)
    listing = storage_listing.fill_from_storage(
        db, actor, production.id, body.base, roots=settings.dataset_roots, pattern=body.pattern
    )
    db.flush()
    return StorageListOut(**listing.as_dict())


@router.get("/{dataset_id}/files", response_model=Page[FileOut], summary="File catalogue")
def list_files(
    dataset: DatasetForReader,
    db: DB,
    paging: Paging,
    production_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    run_number: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
):
    ids = [p.id for p in dataset.productions]
    stmt = (
        select(m.DatasetFile)
        .where(m.DatasetFile.production_id.in_(ids))
        .order_by(m.DatasetFile.run_number, m.DatasetFile.path)
    )
    if production_id is not None:
        stmt = stmt.where(m.DatasetFile.production_id == production_id)
    if run_number is not None:
        stmt = stmt.where(m.DatasetFile.run_number == run_number)
    return paginate(db, stmt, paging, FileOut.model_validate)


@router.get(
    "/{dataset_id}/catalogue-summary",
    response_model=CatalogueSummaryOut,
    summary="Number of files, bytes and runs of the file catalogue",
)
def catalogue_summary(dataset: DatasetForReader, db: DB) -> CatalogueSummaryOut:
    return CatalogueSummaryOut(**datasets.catalogue_summary(db, dataset.id))


@router.post(
    "/{dataset_id}/mergelists",
    response_model=MergelistOut,
    status_code=201,
    summary="Create or replace a mergelist",
)
def add_mergelist(
    dataset: DatasetForReader, body: MergelistIn, actor: CurrentActor, db: DB
) -> MergelistOut:
    ml = datasets.set_mergelist(db, actor, dataset.id, body.name, body.runs, active=body.active)
    db.flush()
    return MergelistOut.model_validate(ml)


@router.post(
    "/{dataset_id}/final-mergelists",
    response_model=FinalMergelistOut,
    status_code=201,
    summary="Create or replace a final mergelist (combines mergelists)",
)
def add_final_mergelist(
    dataset: DatasetForReader, body: FinalMergelistIn, actor: CurrentActor, db: DB
) -> FinalMergelistOut:
    fml = datasets.set_final_mergelist(db, actor, dataset.id, body.name, body.mergelists)
    db.flush()
    return FinalMergelistOut.model_validate(fml)


@router.post(
    "/{dataset_id}/short-datasets",
    response_model=DatasetDetail,
    status_code=201,
    summary="Add a short dataset (subset for staged submission)",
)
def add_short_dataset(
    dataset: DatasetForReader, body: ShortDatasetIn, actor: CurrentActor, db: DB
) -> DatasetDetail:
    short = datasets.add_short_dataset(
        db, actor, dataset.id, body.name, description=body.description
    )
    db.flush()
    return dataset_detail(short)


@router.get("/{dataset_id}/staging", response_model=Page[StagingOut], summary="Staging transfers")
def list_staging(dataset: DatasetForReader, db: DB, paging: Paging):
    stmt = (
        select(m.StagingTransfer)
        .where(m.StagingTransfer.dataset_id == dataset.id)
        .order_by(m.StagingTransfer.id.desc())
    )
    return paginate(db, stmt, paging, StagingOut.model_validate)


@router.post(
    "/{dataset_id}/staging",
    response_model=StagingOut,
    status_code=201,
    summary="Stage/unstage the dataset to an analysis facility (operators)",
)
def request_staging(
    dataset: DatasetForReader,
    body: StagingIn,
    actor: CurrentActor,
    db: DB,
    settings: SettingsDep,
) -> StagingOut:
    transfer = datasets.request_staging(
        db,
        actor,
        dataset.id,
        body.target,
        body.action,
        confirm_above_bytes=settings.staging_confirm_bytes,
    )
    db.flush()
    return StagingOut.model_validate(transfer)


@router.post(
    "/staging-transfers/{transfer_id}/confirm",
    response_model=StagingOut,
    summary="Confirm the data amount of a big staging request (operators); it then starts",
)
def confirm_staging(transfer_id: Ident, actor: CurrentActor, db: DB) -> StagingOut:
    transfer = datasets.confirm_staging(db, actor, transfer_id)
    db.flush()
    return StagingOut.model_validate(transfer)


@router.get("/{dataset_id}/history", response_model=Page[HistoryOut], summary="Dataset history")
def dataset_history(
    dataset: DatasetForReader, db: DB, paging: Paging, action: HistoryAction = None
):
    return history_page(db, "dataset", dataset.id, paging, action)
