"""DPG runlists: list, create, edit (version check), delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from hyperloop.core import runlists
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.enums import DataType
from hyperloop.readmodels import datasets as views_datasets
from hyperloop.web.api.schemas import HistoryAction, HistoryOut, ORMModel, history_page
from hyperloop.web.deps import DB, CurrentActor, RunlistForReader, require_action
from hyperloop.web.pagination import Page, Paging, paginate

router = APIRouter(prefix="/runlists", tags=["runlists"])

RunNumber = Annotated[int, Field(ge=0, le=2**31 - 1)]


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


def runlist_overview_data(db, runlist: m.Runlist) -> RunlistOverview:
    """The data of ``/runlist/{id}`` and ``GET /api/runlists/{id}/overview``."""
    return RunlistOverview(
        runlist=RunlistOut.model_validate(runlist),
        **views_datasets.runlist_overview(db, runlist.id),
    )


@router.get("", response_model=Page[RunlistOut], summary="DPG runlists")
def list_runlists(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    name: Annotated[str | None, Query(max_length=128, description="Name contains.")] = None,
    data_type: DataType | None = None,
    anchor: Annotated[str | None, Query(max_length=64)] = None,
):
    require_action(actor, Action.READ)
    stmt = select(m.Runlist).order_by(m.Runlist.name)
    if name:
        stmt = stmt.where(m.Runlist.name.contains(name, autoescape=True))
    if data_type is not None:
        stmt = stmt.where(m.Runlist.data_type == data_type)
    if anchor:
        stmt = stmt.where(m.Runlist.anchor == anchor)
    return paginate(db, stmt, paging, RunlistOut.model_validate)


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
