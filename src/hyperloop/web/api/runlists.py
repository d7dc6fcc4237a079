"""DPG runlists: list, create, edit (version check), delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from hyperloop.core import runlists
from hyperloop.enums import DataType
from hyperloop.readmodels.dataset_pages import (
    RunlistOut,
    RunlistOverview,
    runlist_overview_data,
    runlists_list_data,
)
from hyperloop.readmodels.paging import Page
from hyperloop.web.api.schemas import HistoryAction, HistoryOut, history_page
from hyperloop.web.deps import DB, CurrentActor, RunlistForReader
from hyperloop.web.pagination import Paging

router = APIRouter(prefix="/runlists", tags=["runlists"])

RunNumber = Annotated[int, Field(ge=0, le=2**31 - 1)]


class RunlistIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    data_type: DataType = DataType.DATA
    anchor: str = Field(default="", max_length=64)
    tag: str = Field(default="", max_length=64)
    production: str = Field(default="", max_length=128)
    runs: list[RunNumber] = Field(default_factory=list)
    description: str = Field(default="", max_length=10000)


class RunlistPatch(BaseModel):
    expected_version: int = Field(ge=1, le=2**31 - 1)
    name: str | None = Field(default=None, min_length=1, max_length=128)
    data_type: DataType | None = None
    anchor: str | None = Field(default=None, max_length=64)
    tag: str | None = Field(default=None, max_length=64)
    production: str | None = Field(default=None, max_length=128)
    runs: list[RunNumber] | None = None
    description: str | None = Field(default=None, max_length=10000)


@router.get("", response_model=Page[RunlistOut], summary="DPG runlists")
def list_runlists(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    name: Annotated[str | None, Query(max_length=128, description="Name contains.")] = None,
    data_type: DataType | None = None,
    anchor: Annotated[str | None, Query(max_length=64)] = None,
):
    return runlists_list_data(db, actor, paging, name=name, data_type=data_type, anchor=anchor)


@router.post("", response_model=RunlistOut, status_code=201, summary="Create a runlist (DPG)")
def create_runlist(body: RunlistIn, actor: CurrentActor, db: DB) -> RunlistOut:
    fields = body.model_dump(exclude={"name", "runs"})
    runlist = runlists.create_runlist(db, actor, body.name, body.runs, **fields)
    db.flush()
    return RunlistOut.model_validate(runlist)


@router.get("/{runlist_id}", response_model=RunlistOut, summary="One runlist")
def get_runlist(runlist: RunlistForReader) -> RunlistOut:
    return RunlistOut.model_validate(runlist)


@router.get(
    "/{runlist_id}/overview",
    response_model=RunlistOverview,
    summary="One runlist with its author, last change and the datasets using it",
)
def get_runlist_overview(runlist: RunlistForReader, db: DB) -> RunlistOverview:
    return runlist_overview_data(db, runlist)


@router.patch("/{runlist_id}", response_model=RunlistOut, summary="Edit a runlist (DPG)")
def edit_runlist(
    runlist: RunlistForReader, body: RunlistPatch, actor: CurrentActor, db: DB
) -> RunlistOut:
    changes = body.model_dump(exclude_unset=True, exclude={"expected_version"})
    changes = {k: v for k, v in changes.items() if v is not None}
    edited = runlists.edit_runlist(
        db, actor, runlist.id, expected_version=body.expected_version, **changes
    )
    db.flush()
    return RunlistOut.model_validate(edited)


@router.delete("/{runlist_id}", status_code=204, summary="Delete a runlist (DPG)")
def delete_runlist(runlist: RunlistForReader, actor: CurrentActor, db: DB) -> Response:
    runlists.delete_runlist(db, actor, runlist.id)
    return Response(status_code=204)


@router.get("/{runlist_id}/history", response_model=Page[HistoryOut], summary="Runlist history")
def runlist_history(
    runlist: RunlistForReader, db: DB, paging: Paging, action: HistoryAction = None
):
    return history_page(db, "runlist", runlist.id, paging, action)
