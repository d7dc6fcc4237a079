"""Jobs of train runs: paginated, filtered list and one job."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import Field
from sqlalchemy import select

from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.enums import JobState
from hyperloop.readmodels import train_results as views_train_results
from hyperloop.readmodels import trains as views_trains
from hyperloop.readmodels.paging import Page, paginate
from hyperloop.readmodels.schemas import ORMModel
from hyperloop.web.deps import DB, CurrentActor, SettingsDep, _load, require_action
from hyperloop.web.pagination import Paging, page_response

router = APIRouter(prefix="/jobs", tags=["jobs"])


class JobOut(ORMModel):
    id: int
    train_run_id: int
    run_number: int
    n_files: int
    state: JobState
    attempts: int
    site: str | None
    target: str | None = Field(
        default=None,
        description="Target of the current (or last) attempt; null: the train's target.",
    )
    cpu_s: float
    wall_s: float
    bytes_read: int
    error_signature: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


class JobDetail(JobOut):
    files: list[str]


@router.get("", response_model=Page[JobOut], summary="Jobs, filtered")
def list_jobs(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    train_run_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    state: Annotated[list[JobState] | None, Query()] = None,
    run_number: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    site: Annotated[str | None, Query(max_length=128)] = None,
    error_signature: Annotated[str | None, Query(max_length=64)] = None,
):
    require_action(actor, Action.READ)
    stmt = select(m.Job).order_by(m.Job.id)
    if train_run_id is not None:
        stmt = stmt.where(m.Job.train_run_id == train_run_id)
    if state:
        stmt = stmt.where(m.Job.state.in_(state))
    if run_number is not None:
        stmt = stmt.where(m.Job.run_number == run_number)
    if site:
        stmt = stmt.where(m.Job.site == site)
    if error_signature:
        stmt = stmt.where(m.Job.error_signature == error_signature)
    return page_response(paginate(db, stmt, paging, JobOut.model_validate), JobOut)


@router.get("/{job_id}", response_model=JobDetail, summary="One job")
def get_job(
    job_id: Annotated[int, Path(ge=1, le=2**31 - 1)], actor: CurrentActor, db: DB
) -> JobDetail:
    job = _load(db, m.Job, job_id, "job")
    require_action(actor, Action.READ, job)
    return JobDetail.model_validate(job)


def job_for_reader(job_id: int, actor: CurrentActor, db: DB) -> m.Job:
    job = _load(db, m.Job, job_id, "job")
    require_action(actor, Action.READ, job)
    return job


@router.get(
    "/{job_id}/attempts",
    summary="One job with every attempt: reason, target, verdict, error, traceback, log tail",
)
def job_attempts(
    job_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    actor: CurrentActor,
    db: DB,
    settings: SettingsDep,
) -> dict[str, Any]:
    job = job_for_reader(job_id, actor, db)
    return views_train_results.job_view(db, job, views_trains.file_roots(settings))
