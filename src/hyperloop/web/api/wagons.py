"""Wagons: create, edit (optimistic version check), delete, clone, sync, subwagons,
dependencies, configuration JSON download/upload (preview then confirm), compare, history."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from hyperloop.core import wagon_json, wagons
from hyperloop.core.actor import Actor
from hyperloop.core.errors import NotFound, ValidationError
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.enums import TagPolicy, TestStatus, TrainType
from hyperloop.readmodels import analyses as views_analyses
from hyperloop.readmodels import wagons as wagon_views
from hyperloop.readmodels.paging import Page, paginate
from hyperloop.readmodels.schemas import ORMModel
from hyperloop.readmodels.trains import storage_mirror
from hyperloop.readmodels.wagons import CompareOut, UploadPreviewOut
from hyperloop.web.api.schemas import HistoryAction, HistoryOut, history_page
from hyperloop.web.deps import (
    DB,
    CurrentActor,
    SettingsDep,
    WagonForEditor,
    WagonForReader,
    require_action,
)
from hyperloop.web.pagination import Paging

router = APIRouter(prefix="/wagons", tags=["wagons"])

NAME_PATTERN = r"^[A-Za-z0-9_]+$"
Version = Annotated[int, Field(ge=1, le=2**31 - 1, description="The version the user edited.")]
Config = dict[str, dict[str, Any]]


class WagonOut(ORMModel):
    id: int
    analysis_id: int
    name: str
    workflow: str
    tag_id: int | None
    disabled_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class EnablingOut(ORMModel):
    id: int
    wagon_id: int
    dataset_id: int
    tag_policy: TagPolicy
    tag_id: int | None
    pull_request: str | None
    enabled: bool
    enabled_by_id: int | None
    enabled_at: datetime
    disabled_reason: str | None
    scheduled: bool = Field(description="Derived data: scheduled for automatic composition.")
    scheduled_type: TrainType | None = Field(
        default=None, description="The scheduled derived-data train's type."
    )
    scheduled_slow: bool = Field(default=False, description="The scheduled train is slow.")
    scheduled_auto_submit: bool = Field(
        default=False, description="The scheduled train is submitted after a done test."
    )


class WagonDetail(WagonOut):
    base_config: Config
    subwagons: dict[str, Config]
    derived_tables: list[str]
    added_parameters: Config = Field(
        description="Parameters added by hand that the tag does not declare ({task: {name: "
        "value}}); they run with the base and every subwagon."
    )
    pull_request_id: int | None = Field(
        description="Configured on this pull request's workflows (until a sync to a tag)."
    )
    slim_ready: bool
    max_df_size: int | None
    max_derived_file_size: int | None
    dependencies: list[int]
    enablings: list[EnablingOut]


class SyncOut(BaseModel):
    wagon: WagonDetail
    report: dict[str, Any] = Field(description="Parameters removed/added/reset, tables removed.")


class WagonIn(BaseModel):
    analysis_id: int = Field(ge=1, le=2**31 - 1)
    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    workflow: str = Field(min_length=1, max_length=128)
    tag_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    base_config: Config | None = None
    subwagons: dict[str, Config] | None = None
    derived_tables: list[Annotated[str, Field(max_length=128)]] = Field(default_factory=list)
    dependencies: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(default_factory=list)
    added_parameters: Config | None = Field(
        default=None, description="Parameters added by hand: {task: {name: value}}."
    )
    pull_request_id: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="Take the workflow from this registered pull request (GET "
        "/api/pull-requests), for a workflow no released tag has yet.",
    )


class WagonPatch(BaseModel):
    expected_version: Version
    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=NAME_PATTERN)
    workflow: str | None = Field(default=None, min_length=1, max_length=128)
    base_config: Config | None = Field(
        default=None,
        description="Values to change, merged per task and parameter into the current base "
        "configuration (JSON merge patch); parameters not given keep their value.",
    )
    subwagons: dict[str, Config] | None = Field(
        default=None,
        description="Replaces every subwagon (name -> overrides); use the subwagon endpoints "
        "to change one.",
    )
    derived_tables: list[Annotated[str, Field(max_length=128)]] | None = None
    slim_ready: bool | None = None
    max_df_size: int | None = Field(default=None, ge=0, le=2**62)
    max_derived_file_size: int | None = Field(default=None, ge=0, le=2**62)
    dependencies: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = None


class CloneIn(BaseModel):
    analysis_id: int = Field(ge=1, le=2**31 - 1, description="Analysis to clone into.")
    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=NAME_PATTERN)


class SyncIn(BaseModel):
    tag_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Default: latest.")
    expected_version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class SubwagonIn(BaseModel):
    expected_version: Version
    overrides: Config = Field(description="Only the parameters that differ from the base.")


class AddedParameterIn(BaseModel):
    expected_version: Version
    task: str = Field(min_length=1, max_length=128, description="A task of the workflow.")
    name: str = Field(
        min_length=1, max_length=128, description="A parameter the task does not declare."
    )
    value: Any = Field(description="Any JSON value but null (numbers, strings, lists...).")


class DependenciesIn(BaseModel):
    expected_version: Version
    dependencies: list[Annotated[int, Field(ge=1, le=2**31 - 1)]]


class ConfigUploadIn(BaseModel):
    configuration: dict[str, Any] = Field(
        description="An O2 JSON configuration (task -> params), or the downloaded form "
        "`{workflow, base, subwagons}`."
    )


class ConfigConfirmIn(ConfigUploadIn):
    expected_version: Version


class TestOut(ORMModel):
    id: int
    wagon_id: int
    dataset_id: int
    tag_id: int | None
    status: TestStatus
    warnings: list[dict[str, Any]]
    superseded: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def wagon_detail(wagon: m.Wagon) -> WagonDetail:
    return WagonDetail(
        **WagonOut.model_validate(wagon).model_dump(),
        base_config=wagon.base_config or {},
        subwagons=wagon.subwagons or {},
        derived_tables=wagon.derived_tables or [],
        added_parameters=wagon.added_parameters or {},
        pull_request_id=wagon.pull_request_id,
        slim_ready=wagon.slim_ready,
        max_df_size=wagon.max_df_size,
        max_derived_file_size=wagon.max_derived_file_size,
        dependencies=[d.id for d in wagon.dependencies],
        enablings=[EnablingOut.model_validate(e) for e in wagon.enablings],
    )


def _edit(
    db: Session,
    actor: Actor,
    wagon: m.Wagon,
    edit: Callable[..., m.Wagon],
    expected_version: int,
    **fields: Any,
) -> WagonDetail:
    """One versioned edit of ``wagon`` by a core service (``wagons.edit_wagon``,
    ``add_parameter``, ``remove_parameter``: 409 with the changes when somebody saved
    meanwhile), flushed, as the API returns the wagon."""
    edited = edit(db, actor, wagon.id, expected_version=expected_version, **fields)
    db.flush()
    return wagon_detail(edited)


@router.get("", response_model=Page[WagonOut], summary="Wagons, filtered")
def list_wagons(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    analysis_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    workflow: Annotated[str | None, Query(max_length=128)] = None,
    name: Annotated[str | None, Query(max_length=64, description="Name contains.")] = None,
    enabled_on: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Enabled on this dataset id.")
    ] = None,
):
    require_action(actor, Action.READ)
    stmt = (
        select(m.Wagon)
        .options(
            defer(m.Wagon.base_config), defer(m.Wagon.subwagons), defer(m.Wagon.derived_tables)
        )
        .order_by(m.Wagon.id)
    )
    if analysis_id is not None:
        stmt = stmt.where(m.Wagon.analysis_id == analysis_id)
    if workflow:
        stmt = stmt.where(m.Wagon.workflow == workflow)
    if name:
        stmt = stmt.where(m.Wagon.name.contains(name, autoescape=True))
    if enabled_on is not None:
        stmt = stmt.join(m.WagonDataset).where(
            m.WagonDataset.dataset_id == enabled_on, m.WagonDataset.enabled.is_(True)
        )
    return paginate(db, stmt, paging, WagonOut.model_validate)


@router.post("", response_model=WagonDetail, status_code=201, summary="Create a wagon")
def create_wagon(body: WagonIn, actor: CurrentActor, db: DB) -> WagonDetail:
    wagon = wagons.create_wagon(
        db,
        actor,
        body.analysis_id,
        name=body.name,
        workflow=body.workflow,
        tag_id=body.tag_id,
        base_config=body.base_config,
        subwagons=body.subwagons,
        derived_tables=body.derived_tables,
        dependencies=body.dependencies,
        added_parameters=body.added_parameters,
        pull_request_id=body.pull_request_id,
    )
    db.flush()
    return wagon_detail(wagon)


@router.get("/{wagon_id}", response_model=WagonDetail, summary="One wagon")
def get_wagon(wagon: WagonForReader) -> WagonDetail:
    return wagon_detail(wagon)


@router.patch(
    "/{wagon_id}",
    response_model=WagonDetail,
    summary="Edit a wagon (409 with the changes when somebody saved meanwhile)",
)
def edit_wagon(wagon: WagonForEditor, body: WagonPatch, actor: CurrentActor, db: DB):
    changes = body.model_dump(exclude_unset=True, exclude={"expected_version"})
    changes = {k: v for k, v in changes.items() if v is not None}
    if "base_config" in changes and "workflow" not in changes:
        current = wagon.base_config or {}
        changes["base_config"] = {
            task: {**current.get(task, {}), **changes["base_config"].get(task, {})}
            for task in {*current, *changes["base_config"]}
        }
    return _edit(db, actor, wagon, wagons.edit_wagon, body.expected_version, **changes)


@router.delete("/{wagon_id}", status_code=204, summary="Delete a wagon")
def delete_wagon(
    wagon: WagonForReader,
    actor: CurrentActor,
    db: DB,
    expected_version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    wagons.delete_wagon(db, actor, wagon.id, expected_version=expected_version)
    return Response(status_code=204)


@router.post(
    "/{wagon_id}/clone",
    response_model=WagonDetail,
    status_code=201,
    summary="Clone a wagon (with subwagons and derived data) into one of my analyses",
)
def clone_wagon(wagon: WagonForReader, body: CloneIn, actor: CurrentActor, db: DB):
    clone = wagons.clone_wagon(db, actor, wagon.id, body.analysis_id, name=body.name)
    db.flush()
    return wagon_detail(clone)


@router.post(
    "/{wagon_id}/sync",
    response_model=SyncOut,
    summary="Update configuration and derived tables to the latest (or given) tag",
)
def sync_wagon(wagon: WagonForEditor, body: SyncIn, actor: CurrentActor, db: DB) -> SyncOut:
    synced, report = wagons.sync_wagon(
        db, actor, wagon.id, tag_id=body.tag_id, expected_version=body.expected_version
    )
    db.flush()
    return SyncOut(wagon=wagon_detail(synced), report=report.as_dict())


@router.put(
    "/{wagon_id}/subwagons/{subwagon}",
    response_model=WagonDetail,
    summary="Create or replace a subwagon (overrides of the base configuration)",
)
def put_subwagon(
    wagon: WagonForEditor,
    subwagon: Annotated[str, Path(min_length=1, max_length=64, pattern=NAME_PATTERN)],
    body: SubwagonIn,
    actor: CurrentActor,
    db: DB,
):
    subwagons = {**(wagon.subwagons or {}), subwagon: body.overrides}
    return _edit(db, actor, wagon, wagons.edit_wagon, body.expected_version, subwagons=subwagons)


@router.delete(
    "/{wagon_id}/subwagons/{subwagon}", response_model=WagonDetail, summary="Remove a subwagon"
)
def delete_subwagon(
    wagon: WagonForEditor,
    subwagon: Annotated[str, Path(min_length=1, max_length=64)],
    expected_version: Annotated[int, Query(ge=1, le=2**31 - 1)],
    actor: CurrentActor,
    db: DB,
):
    if subwagon not in (wagon.subwagons or {}):
        raise ValidationError(f"wagon {wagon.name} has no subwagon {subwagon!r}")
    subwagons = {k: v for k, v in wagon.subwagons.items() if k != subwagon}
    return _edit(db, actor, wagon, wagons.edit_wagon, expected_version, subwagons=subwagons)


@router.post(
    "/{wagon_id}/parameters",
    response_model=WagonDetail,
    summary="Add (or change) a parameter by hand that the wagon's tag does not declare",
)
def add_parameter(wagon: WagonForEditor, body: AddedParameterIn, actor: CurrentActor, db: DB):
    fields = {"task": body.task, "name": body.name, "value": body.value}
    return _edit(db, actor, wagon, wagons.add_parameter, body.expected_version, **fields)


@router.delete(
    "/{wagon_id}/parameters/{task}/{name}",
    response_model=WagonDetail,
    summary="Remove a parameter added by hand",
)
def remove_parameter(
    wagon: WagonForEditor,
    task: Annotated[str, Path(min_length=1, max_length=128)],
    name: Annotated[str, Path(min_length=1, max_length=128)],
    expected_version: Annotated[int, Query(ge=1, le=2**31 - 1)],
    actor: CurrentActor,
    db: DB,
):
    return _edit(db, actor, wagon, wagons.remove_parameter, expected_version, task=task, name=name)


@router.put(
    "/{wagon_id}/dependencies",
    response_model=WagonDetail,
    summary="Set dependencies (wagons of the same analysis or service wagons)",
)
def set_dependencies(wagon: WagonForEditor, body: DependenciesIn, actor: CurrentActor, db: DB):
    deps = body.dependencies
    return _edit(db, actor, wagon, wagons.edit_wagon, body.expected_version, dependencies=deps)


@router.get(
    "/{wagon_id}/configuration",
    summary="Download the configuration (base and effective subwagon values, O2 JSON values)",
    response_model=dict[str, Any],
    responses={200: {"content": {"application/json": {}}}},
)
def download_configuration(wagon: WagonForReader) -> Response:
    body = json.dumps(wagon_json.download_config(wagon), indent=2)
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{wagon.name}.json"'},
    )


@router.post(
    "/{wagon_id}/configuration/preview",
    response_model=UploadPreviewOut,
    summary="Preview an uploaded O2 JSON: per-value overview and diff (nothing is saved)",
)
def preview_configuration(wagon: WagonForEditor, body: ConfigUploadIn, db: DB) -> UploadPreviewOut:
    return wagon_views.upload_preview_data(db, wagon, body.configuration)


@router.put(
    "/{wagon_id}/configuration",
    response_model=WagonDetail,
    summary="Confirm an uploaded O2 JSON: save the changed values",
)
def apply_configuration(wagon: WagonForEditor, body: ConfigConfirmIn, actor: CurrentActor, db: DB):
    saved = wagon_json.apply_upload(
        db, actor, wagon.id, body.configuration, expected_version=body.expected_version
    )
    db.flush()
    return wagon_detail(saved)


@router.get(
    "/{wagon_id}/compare",
    response_model=CompareOut,
    summary="Compare with another wagon the user can read, or with itself at two times or "
    "versions; the changes per tab, dependencies by name",
)
def compare_wagon(
    wagon: WagonForReader,
    actor: CurrentActor,
    db: DB,
    other_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Other wagon.")] = None,
    at: Annotated[
        AwareDatetime | None, Query(description="This wagon's state at this time (with zone).")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Compare `at` with this time (default: now).")
    ] = None,
    version: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="This wagon at an earlier version.")
    ] = None,
    version2: Annotated[
        int | None,
        Query(ge=1, le=2**31 - 1, description="Compare `version` with this one (default: now)."),
    ] = None,
) -> CompareOut:
    return wagon_views.compare_data(
        db,
        actor,
        wagon,
        other_id=other_id,
        at=at,
        until=until,
        version=version,
        version2=version2,
    )


@router.get("/{wagon_id}/history", response_model=Page[HistoryOut], summary="Wagon history")
def wagon_history(wagon: WagonForReader, db: DB, paging: Paging, action: HistoryAction = None):
    return history_page(db, "wagon", wagon.id, paging, action)


@router.get("/{wagon_id}/tests", response_model=Page[TestOut], summary="Tests of the wagon")
def wagon_tests(
    wagon: WagonForReader,
    db: DB,
    paging: Paging,
    dataset_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    status: TestStatus | None = None,
):
    stmt = (
        select(m.WagonTest).where(m.WagonTest.wagon_id == wagon.id).order_by(m.WagonTest.id.desc())
    )
    if dataset_id is not None:
        stmt = stmt.where(m.WagonTest.dataset_id == dataset_id)
    if status is not None:
        stmt = stmt.where(m.WagonTest.status == status)
    return paginate(db, stmt, paging, TestOut.model_validate)


@router.get(
    "/{wagon_id}/view",
    response_model=dict[str, Any],
    summary="Everything the wagon edit page shows (settings, configuration rows, derived "
    "data, enablings, test statistics, permissions)",
)
def wagon_view(
    wagon: WagonForReader, actor: CurrentActor, db: DB, settings: SettingsDep
) -> dict[str, Any]:
    return views_analyses.wagon_editor_data(db, wagon, actor.user, storage_mirror(settings))


@router.get(
    "/{wagon_id}/test-statistics",
    response_model=dict[str, Any],
    summary="Test statistics graphs: per dataset the PSS, CPU/wall/throughput and output "
    "size of the wagon's finished tests, oldest first",
)
def wagon_test_statistics(wagon: WagonForReader, db: DB, settings: SettingsDep) -> dict[str, Any]:
    return views_analyses.wagon_test_graphs(db, wagon.id, storage_mirror(settings))


@router.get(
    "/{wagon_id}/history-view",
    response_model=list[dict[str, Any]],
    summary="Wagon history with user names (impersonation shown), newest first",
)
def wagon_history_view(wagon: WagonForReader, db: DB) -> list[dict[str, Any]]:
    return views_analyses.wagon_history_data(db, wagon.id)


def wagon_test_for(db, wagon: m.Wagon, test_id: int) -> m.WagonTest:
    test = db.get(m.WagonTest, test_id)
    if test is None or test.wagon_id != wagon.id:
        raise NotFound(f"wagon {wagon.id} has no test {test_id}", {"test_id": test_id})
    return test


TestId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Wagon test id.")]


@router.get(
    "/{wagon_id}/tests/{test_id}",
    response_model=dict[str, Any],
    summary="One wagon test: status and reason, metrics per device, expected resources, "
    "CO2, warnings with advice, logs, output files",
)
def wagon_test(
    wagon: WagonForReader,
    test_id: TestId,
    db: DB,
    settings: SettingsDep,
    graphs: Annotated[bool, Query(description="Include the metric time series.")] = False,
) -> dict[str, Any]:
    test = wagon_test_for(db, wagon, test_id)
    return wagon_views.wagon_test_result(db, test, settings, graphs=graphs)


@router.get(
    "/{wagon_id}/tests/{test_id}/full-config",
    summary="Download the test's full_config.json (what `hyperloop reproduce` runs)",
    response_model=dict[str, Any],
    responses={200: {"content": {"application/json": {}}}},
)
def wagon_test_full_config(
    wagon: WagonForReader, test_id: TestId, db: DB, settings: SettingsDep
) -> Response:
    test = wagon_test_for(db, wagon, test_id)
    path = views_analyses.full_config_file(test, storage_mirror(settings))
    if path is None:
        raise NotFound(f"wagon test {test.id} has no full_config.json (not started yet?)")
    return Response(
        path.read_bytes(),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="full_config_wagon_test_{test.id}.json"'
        },
    )
