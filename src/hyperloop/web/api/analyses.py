"""Analyses: list/create, members, datasets, e-mail policy, display order (My Analyses)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from hyperloop.core import analyses
from hyperloop.core.enums import EmailPolicy, TestStatus
from hyperloop.core.errors import NotFound
from hyperloop.db import models as m
from hyperloop.web.api.schemas import ORMModel
from hyperloop.web.deps import DB, AnalysisForReader, CurrentActor
from hyperloop.web.pagination import Page, Paging, paginate

router = APIRouter(tags=["analyses"])

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


class AnalysisOut(ORMModel):
    id: int
    name: str
    pwg: str
    is_service: bool
    email_policy: EmailPolicy
    description: str
    created_at: datetime


class MemberOut(BaseModel):
    user_id: int
    username: str
    display_order: int
    collapsed: bool


class AnalysisDetail(AnalysisOut):
    members: list[MemberOut]
    dataset_ids: list[int]
    wagon_ids: list[int]


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


class GridWagon(BaseModel):
    id: int
    name: str
    workflow: str
    disabled_reason: str | None
    cells: list[GridCell]


class MyAnalysis(AnalysisOut):
    member: bool = Field(description="False for service analyses shown read-only on top.")
    collapsed: bool
    display_order: int
    dataset_ids: list[int]
    wagons: list[GridWagon]


def analysis_detail(db, analysis: m.Analysis) -> AnalysisDetail:
    members = db.execute(
        select(m.AnalysisMember, m.User.username)
        .join(m.User, m.User.id == m.AnalysisMember.user_id)
        .where(m.AnalysisMember.analysis_id == analysis.id)
        .order_by(m.User.username)
    ).all()
    dataset_ids = db.scalars(
        select(m.AnalysisDataset.dataset_id).where(m.AnalysisDataset.analysis_id == analysis.id)
    ).all()
    wagon_ids = db.scalars(
        select(m.Wagon.id).where(m.Wagon.analysis_id == analysis.id).order_by(m.Wagon.id)
    ).all()
    return AnalysisDetail(
        **AnalysisOut.model_validate(analysis).model_dump(),
        members=[
            MemberOut(
                user_id=ms.user_id,
                username=name,
                display_order=ms.display_order,
                collapsed=ms.collapsed,
            )
            for ms, name in members
        ],
        dataset_ids=sorted(dataset_ids),
        wagon_ids=list(wagon_ids),
    )


def my_analyses_data(db, user: m.User, *, with_service: bool = True) -> list[MyAnalysis]:
    """The My Analyses page data: service analyses (read-only, on top) then the user's
    analyses in their saved order, each with its wagon x dataset grid and test statuses.
    A fixed number of queries, whatever the number of analyses and wagons."""
    mine = analyses.my_analyses(db, user)
    service = [a for a in analyses.service_analyses(db) if a not in mine] if with_service else []
    ordered = [*service, *mine]
    ids = [a.id for a in ordered]
    if not ids:
        return []
    memberships = {
        ms.analysis_id: ms
        for ms in db.scalars(select(m.AnalysisMember).where(m.AnalysisMember.user_id == user.id))
    }
    datasets_of: dict[int, list[int]] = {i: [] for i in ids}
    for aid, did in db.execute(
        select(m.AnalysisDataset.analysis_id, m.AnalysisDataset.dataset_id)
        .where(m.AnalysisDataset.analysis_id.in_(ids))
        .order_by(m.AnalysisDataset.dataset_id)
    ):
        datasets_of[aid].append(did)
    # Only the grid's columns: configurations (large JSON) are not needed here.
    wagons = db.execute(
        select(
            m.Wagon.id, m.Wagon.analysis_id, m.Wagon.name, m.Wagon.workflow, m.Wagon.disabled_reason
        )
        .where(m.Wagon.analysis_id.in_(ids))
        .order_by(m.Wagon.name)
    ).all()
    wagon_ids = [w.id for w in wagons]
    enabled: dict[tuple[int, int], bool] = {}
    latest: dict[tuple[int, int], TestStatus] = {}
    if wagon_ids:
        for wid, did, on in db.execute(
            select(
                m.WagonDataset.wagon_id, m.WagonDataset.dataset_id, m.WagonDataset.enabled
            ).where(m.WagonDataset.wagon_id.in_(wagon_ids))
        ):
            enabled[(wid, did)] = on
        for wid, did, status in db.execute(
            select(m.WagonTest.wagon_id, m.WagonTest.dataset_id, m.WagonTest.status)
            .where(m.WagonTest.wagon_id.in_(wagon_ids), m.WagonTest.superseded.is_(False))
            .order_by(m.WagonTest.id)
        ):
            latest[(wid, did)] = status
    grid: dict[int, list[GridWagon]] = {i: [] for i in ids}
    for wagon in wagons:
        grid[wagon.analysis_id].append(
            GridWagon(
                id=wagon.id,
                name=wagon.name,
                workflow=wagon.workflow,
                disabled_reason=wagon.disabled_reason,
                cells=[
                    GridCell(
                        dataset_id=d,
                        enabled=enabled.get((wagon.id, d), False),
                        test_status=latest.get((wagon.id, d)),
                    )
                    for d in datasets_of[wagon.analysis_id]
                ],
            )
        )
    result = []
    for analysis in ordered:
        membership = memberships.get(analysis.id)
        result.append(
            MyAnalysis(
                **AnalysisOut.model_validate(analysis).model_dump(),
                member=membership is not None,
                collapsed=membership.collapsed if membership else False,
                display_order=membership.display_order if membership else 0,
                dataset_ids=datasets_of[analysis.id],
                wagons=grid[analysis.id],
            )
        )
    return result


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
    stmt = select(m.Analysis).order_by(m.Analysis.name)
    if name:
        stmt = stmt.where(m.Analysis.name.contains(name))
    if pwg:
        stmt = stmt.where(m.Analysis.pwg == pwg)
    if service is not None:
        stmt = stmt.where(m.Analysis.is_service.is_(service))
    if mine:
        stmt = stmt.join(m.AnalysisMember).where(m.AnalysisMember.user_id == actor.user.id)
    return paginate(db, stmt, paging, AnalysisOut.model_validate)


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
) -> list[MyAnalysis]:
    return my_analyses_data(db, actor.user, with_service=with_service)


@router.get("/analyses/{analysis_id}", response_model=AnalysisDetail, summary="One analysis")
def get_analysis(analysis: AnalysisForReader, db: DB) -> AnalysisDetail:
    return analysis_detail(db, analysis)


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
