"""Analyses: list/create, members, datasets, e-mail policy, display order (My Analyses)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from hyperloop.core import analyses
from hyperloop.core.errors import NotFound
from hyperloop.db import models as m
from hyperloop.enums import DataType, EmailPolicy, TagPolicy, TestStatus
from hyperloop.readmodels.analyses import (
    AnalysisDetail,
    AnalysisOut,
    DatasetBrief,
    analyses_list_data,
    analysis_detail,
    analysis_view_data,
)
from hyperloop.readmodels.my_analyses import my_analyses_json
from hyperloop.readmodels.paging import Page
from hyperloop.web.deps import DB, AnalysisForReader, CurrentActor
from hyperloop.web.pagination import Paging

router = APIRouter(tags=["analyses"])

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


class AnalysisIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    pwg: str = Field(min_length=1, max_length=64)
    service: bool = Field(default=False, description="A service analysis (shared wagons).")
    description: str = Field(default="", max_length=10000)


class MemberIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)


class EmailPolicyIn(BaseModel):
    policy: EmailPolicy


class DisplayIn(BaseModel):
    order: int | None = Field(default=None, ge=0, le=100000)
    collapsed: bool | None = None


class DatasetLink(BaseModel):
    dataset_id: int = Field(ge=1, le=2**31 - 1)


class GridCell(BaseModel):
    dataset_id: int
    enabled: bool
    test_status: TestStatus | None
    test_id: int | None = Field(default=None, description="The current (latest) wagon test.")
    tag_policy: TagPolicy | None = Field(default=None, description="Set once enabled.")
    disabled_reason: str | None = Field(default=None, description="Why it was disabled.")
    tag: str | None = Field(
        default=None,
        description="Enabled cells: the package tag (fixed tag, the pull request's future tag, "
        "or 'latest' with the tag of the current test).",
    )
    enabled_at: datetime | None = Field(default=None, description="Enabled cells: when.")
    enabled_by: str | None = Field(default=None, description="Enabled cells: by which user.")


class GridWagon(BaseModel):
    id: int
    name: str
    workflow: str
    disabled_reason: str | None
    cells: list[GridCell]


class SlotUse(BaseModel):
    dataset_id: int
    used: int = Field(description="Train slots used on the dataset in the last 7 days.")
    allowed: int = Field(description="Slots per rolling week.")
    frees_at: datetime | None = Field(
        default=None,
        description="When the earliest counted train leaves the rolling week and a slot "
        "frees up (None: no slot used).",
    )


class MyAnalysis(AnalysisOut):
    member: bool = Field(description="False for service analyses shown read-only on top.")
    collapsed: bool
    display_order: int
    dataset_ids: list[int]
    wagons: list[GridWagon]
    datasets: list[DatasetBrief] = Field(default_factory=list, description="Grid columns.")
    slots: list[SlotUse] = Field(default_factory=list, description="Per dataset, this week.")
    can_edit: bool = Field(default=False, description="The user may enable and edit wagons.")


@router.get("/analyses", response_model=Page[AnalysisOut], summary="All analyses")
def list_analyses(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    name: Annotated[str | None, Query(max_length=128, description="Name contains.")] = None,
    pwg: Annotated[str | None, Query(max_length=64)] = None,
    service: bool | None = None,
    mine: Annotated[bool, Query(description="Only analyses I am a member of.")] = False,
):
    return analyses_list_data(db, actor, paging, name=name, pwg=pwg, service=service, mine=mine)


@router.post(
    "/analyses", response_model=AnalysisDetail, status_code=201, summary="Create an analysis"
)
def create_analysis(body: AnalysisIn, actor: CurrentActor, db: DB) -> AnalysisDetail:
    analysis = analyses.create_analysis(
        db, actor, body.name, body.pwg, service=body.service, description=body.description
    )
    db.flush()
    return analysis_detail(db, analysis)


@router.get(
    "/my-analyses",
    response_model=list[MyAnalysis],
    summary="My Analyses: my analyses with the wagon x dataset grid and test statuses",
)
def my_analyses(
    actor: CurrentActor,
    db: DB,
    with_service: Annotated[
        bool, Query(description="Also list the service analyses (read-only) on top.")
    ] = True,
) -> Response:
    # Sent as built: my_analyses_json serialises the JSON-ready dicts of the documented
    # list[MyAnalysis] shape (tests/api/test_my_analyses_contract.py checks it), cached per
    # user until a write changes the grid; validating a heavy user's ~1,000 grid cells again
    # through the response model cost more than all the queries. response_model documents it.
    body = my_analyses_json(db, actor.user, with_service=with_service)
    return Response(content=body, media_type="application/json")


@router.get("/analyses/{analysis_id}", response_model=AnalysisDetail, summary="One analysis")
def get_analysis(analysis: AnalysisForReader, db: DB) -> AnalysisDetail:
    return analysis_detail(db, analysis)


@router.get(
    "/analyses/{analysis_id}/view",
    response_model=dict,
    summary="The analysis page: analysis, permissions, workflows, datasets that can be added "
    "(searched by type, collision system, anchor, period), my notifications about it",
)
def analysis_view(
    analysis: AnalysisForReader,
    actor: CurrentActor,
    db: DB,
    data_type: Annotated[
        DataType | None, Query(description="Only addable datasets of this data type.")
    ] = None,
    collision_system: Annotated[
        str | None, Query(max_length=32, description="Only this collision system (pp, PbPb...).")
    ] = None,
    anchor: Annotated[str | None, Query(max_length=64, description="Only this anchor.")] = None,
    period: Annotated[str | None, Query(max_length=64, description="Only this period.")] = None,
) -> dict:
    search = {
        "data_type": data_type.value if data_type else None,
        "collision_system": collision_system,
        "anchor": anchor,
        "period": period,
    }
    return analysis_view_data(db, analysis, actor.user, search)


@router.post(
    "/analyses/{analysis_id}/members",
    response_model=AnalysisDetail,
    status_code=201,
    summary="Add a member",
)
def add_member(analysis_id: Id, body: MemberIn, actor: CurrentActor, db: DB) -> AnalysisDetail:
    user = db.scalar(select(m.User).where(m.User.username == body.username))
    if user is None:
        raise NotFound(f"no user {body.username!r}")
    analyses.add_member(db, actor, analysis_id, user.id)
    db.flush()
    return analysis_detail(db, db.get(m.Analysis, analysis_id))


@router.delete(
    "/analyses/{analysis_id}/members/{user_id}", status_code=204, summary="Remove a member"
)
def remove_member(analysis_id: Id, user_id: Id, actor: CurrentActor, db: DB) -> Response:
    analyses.remove_member(db, actor, analysis_id, user_id)
    return Response(status_code=204)


@router.put(
    "/analyses/{analysis_id}/email-policy",
    response_model=AnalysisDetail,
    summary="Who gets an e-mail when a wagon test fails",
)
def set_email_policy(
    analysis_id: Id, body: EmailPolicyIn, actor: CurrentActor, db: DB
) -> AnalysisDetail:
    analyses.set_email_policy(db, actor, analysis_id, body.policy)
    db.flush()
    return analysis_detail(db, db.get(m.Analysis, analysis_id))


@router.put(
    "/analyses/{analysis_id}/display",
    response_model=AnalysisDetail,
    summary="My display order / collapsed state of this analysis",
)
def set_display(analysis_id: Id, body: DisplayIn, actor: CurrentActor, db: DB) -> AnalysisDetail:
    analyses.set_display(db, actor, analysis_id, order=body.order, collapsed=body.collapsed)
    db.flush()
    return analysis_detail(db, db.get(m.Analysis, analysis_id))


@router.post(
    "/analyses/{analysis_id}/datasets",
    response_model=AnalysisDetail,
    status_code=201,
    summary="Add a dataset to the analysis",
)
def add_dataset(analysis_id: Id, body: DatasetLink, actor: CurrentActor, db: DB) -> AnalysisDetail:
    analyses.add_dataset(db, actor, analysis_id, body.dataset_id)
    db.flush()
    return analysis_detail(db, db.get(m.Analysis, analysis_id))


@router.delete(
    "/analyses/{analysis_id}/datasets/{dataset_id}",
    status_code=204,
    summary="Remove a dataset from the analysis",
)
def remove_dataset(analysis_id: Id, dataset_id: Id, actor: CurrentActor, db: DB) -> Response:
    analyses.remove_dataset(db, actor, analysis_id, dataset_id)
    return Response(status_code=204)
