"""Train runs: compatibility, compose, decompose, clone, compare, long trains, submit/kill/close
(state transitions only), comments, history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import defer, object_session

from hyperloop.core import jobs, trains
from hyperloop.core.enums import TrainState, TrainType
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.web.api.schemas import HistoryAction, HistoryOut, ORMModel, history_page
from hyperloop.web.api.wagons import ChangeOut
from hyperloop.web.deps import DB, CurrentActor, TrainForReader, _load, require_action
from hyperloop.web.pagination import Page, Paging, paginate, paginate_list

router = APIRouter(prefix="/train-runs", tags=["train-runs"])

Ident = Annotated[int, Field(ge=1, le=2**31 - 1)]


class TrainOut(ORMModel):
    id: int
    dataset_id: int
    tag_id: int
    target_id: int
    train_type: TrainType
    auto_submit: bool
    slow: bool
    state: TrainState
    parent_id: int | None
    composed_by_id: int | None
    approved_by_id: int | None
    requested_by_id: int | None
    composed_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None


class CommentOut(ORMModel):
    id: int
    user_id: int | None
    text: str
    created_at: datetime


class TrainDetail(TrainOut):
    wagons_snapshot: list[dict[str, Any]]
    dataset_snapshot: dict[str, Any]
    test_metrics: dict[str, Any]
    test_warnings: list[dict[str, Any]]
    comments: list[CommentOut]
    job_counts: dict[str, int] = Field(description="Number of jobs per job state.")


class ComposeIn(BaseModel):
    dataset_id: Ident
    wagon_ids: list[Ident] = Field(min_length=1, max_length=1000)
    target_id: Ident
    train_type: TrainType = TrainType.ANALYSIS
    tag_id: Ident | None = Field(default=None, description="Default: from the first wagon.")
    slow: bool = Field(default=False, description="Wait for every job (not express).")
    auto_submit: bool = Field(default=False, description="Submit after a `done` test.")


class CompatibilityIn(BaseModel):
    dataset_id: Ident
    wagon_ids: list[Ident] = Field(min_length=1, max_length=1000)


class CandidateOut(BaseModel):
    wagon_id: int
    compatible: bool
    reasons: list[str]


class CompatibilityOut(BaseModel):
    tag_id: int | None = Field(description="The tag the train would use (None: no common tag).")
    candidates: list[CandidateOut]


class ApproveIn(BaseModel):
    expected_cpu_hours: float | None = Field(default=None, ge=0, le=1e12)


class CloneTrainIn(BaseModel):
    tag_id: Ident | None = None
    target_id: Ident | None = None
    train_type: TrainType | None = None
    slow: bool | None = None
    auto_submit: bool | None = None


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=10000)


class TransitionIn(BaseModel):
    reason: str = Field(default="", max_length=2000)


class TrainCompareOut(BaseModel):
    left: int
    right: int
    changes: list[ChangeOut]


def train_detail(train: m.TrainRun) -> TrainDetail:
    db = object_session(train)
    counts = db.execute(
        select(m.Job.state, func.count())
        .where(m.Job.train_run_id == train.id)
        .group_by(m.Job.state)
    ).all()
    return TrainDetail(
        job_counts={str(state.value): n for state, n in counts},
        **TrainOut.model_validate(train).model_dump(),
        wagons_snapshot=train.wagons_snapshot or [],
        dataset_snapshot=train.dataset_snapshot or {},
        test_metrics=train.test_metrics or {},
        test_warnings=train.test_warnings or [],
        comments=[CommentOut.model_validate(c) for c in train.comments],
    )


@router.get("", response_model=Page[TrainOut], summary="Train runs, newest first, filtered")
def list_trains(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    dataset_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    state: Annotated[list[TrainState] | None, Query()] = None,
    train_type: TrainType | None = None,
    analysis_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    tag_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    composed_after: AwareDatetime | None = None,
    composed_before: AwareDatetime | None = None,
):
    require_action(actor, Action.READ)
    # The list shows no snapshots: do not load (and parse) their JSON.
    stmt = (
        select(m.TrainRun)
        .options(
            defer(m.TrainRun.wagons_snapshot),
            defer(m.TrainRun.dataset_snapshot),
            defer(m.TrainRun.test_metrics),
            defer(m.TrainRun.test_warnings),
        )
        .order_by(m.TrainRun.id.desc())
    )
    if dataset_id is not None:
        stmt = stmt.where(m.TrainRun.dataset_id == dataset_id)
    if state:
        stmt = stmt.where(m.TrainRun.state.in_(state))
    if train_type is not None:
        stmt = stmt.where(m.TrainRun.train_type == train_type)
    if tag_id is not None:
        stmt = stmt.where(m.TrainRun.tag_id == tag_id)
    if composed_after is not None:
        stmt = stmt.where(m.TrainRun.composed_at >= composed_after)
    if composed_before is not None:
        stmt = stmt.where(m.TrainRun.composed_at < composed_before)
    if analysis_id is not None:
        members = select(m.train_run_wagons.c.train_run_id).where(
            m.train_run_wagons.c.analysis_id == analysis_id
        )
        stmt = stmt.where(m.TrainRun.id.in_(members))
    return paginate(db, stmt, paging, TrainOut.model_validate)


class IssueOut(BaseModel):
    train: TrainOut
    issue: str


class ErrorGroupOut(BaseModel):
    signature: str = Field(description="Same exception at the same place.")
    count: int
    example: str


class ResubmittedOut(BaseModel):
    resubmitted: int


@router.get(
    "/with-issues",
    response_model=Page[IssueOut],
    summary="Trains with issues: many failed jobs, or stuck before merging",
)
def trains_with_issues(actor: CurrentActor, db: DB, paging: Paging):
    require_action(actor, Action.READ)
    issues = [
        IssueOut(train=TrainOut.model_validate(t), issue=why)
        for t, why in jobs.trains_with_issues(db)
    ]
    return paginate_list(issues, paging)


@router.post(
    "/compatibility",
    response_model=CompatibilityOut,
    summary="Which enabled wagons can share a train with the selected ones",
)
def compatibility(body: CompatibilityIn, actor: CurrentActor, db: DB) -> CompatibilityOut:
    require_action(actor, Action.READ)
    _load(db, m.Dataset, body.dataset_id, "dataset")
    report = trains.compatible_wagons(db, body.dataset_id, body.wagon_ids)
    return CompatibilityOut(
        tag_id=report.tag_id,
        candidates=[
            CandidateOut(wagon_id=c.wagon_id, compatible=c.compatible, reasons=list(c.reasons))
            for c in report.candidates
        ],
    )


@router.post("", response_model=TrainDetail, status_code=201, summary="Compose a train (operators)")
def compose(body: ComposeIn, actor: CurrentActor, db: DB) -> TrainDetail:
    train = trains.compose_train(
        db,
        actor,
        body.dataset_id,
        body.wagon_ids,
        target_id=body.target_id,
        train_type=body.train_type,
        tag_id=body.tag_id,
        slow=body.slow,
        auto_submit=body.auto_submit,
    )
    db.flush()
    return train_detail(train)


@router.get("/{train_id}", response_model=TrainDetail, summary="One train run")
def get_train(train: TrainForReader) -> TrainDetail:
    return train_detail(train)


@router.get(
    "/{train_id}/compare", response_model=TrainCompareOut, summary="Differences of two train runs"
)
def compare(
    train: TrainForReader,
    other_id: Annotated[int, Query(ge=1, le=2**31 - 1)],
    actor: CurrentActor,
    db: DB,
) -> TrainCompareOut:
    other = _load(db, m.TrainRun, other_id, "train run")
    require_action(actor, Action.READ, other)
    changes = trains.compare_trains(train, other)
    return TrainCompareOut(
        left=train.id,
        right=other.id,
        changes=[ChangeOut(path=c.path, old=c.old, new=c.new) for c in changes],
    )


@router.post(
    "/{train_id}/decompose",
    response_model=TrainDetail,
    summary="Decompose: free the wagons for another train (operators)",
)
def decompose(train: TrainForReader, actor: CurrentActor, db: DB) -> TrainDetail:
    return train_detail(trains.decompose_train(db, actor, train.id))


@router.post(
    "/{train_id}/submit",
    response_model=TrainDetail,
    summary="Submit a train whose test is done/warning (operators); execution comes later",
)
def submit(train: TrainForReader, actor: CurrentActor, db: DB) -> TrainDetail:
    return train_detail(trains.submit_train(db, actor, train.id))


@router.post("/{train_id}/kill", response_model=TrainDetail, summary="Kill all jobs (operators)")
def kill(
    train: TrainForReader, actor: CurrentActor, db: DB, body: TransitionIn | None = None
) -> TrainDetail:
    reason = body.reason if body else ""
    return train_detail(trains.kill_train(db, actor, train.id, reason))


@router.post(
    "/{train_id}/close",
    response_model=TrainDetail,
    summary="Close: no further activity, running jobs left alone (operators)",
)
def close(
    train: TrainForReader, actor: CurrentActor, db: DB, body: TransitionIn | None = None
) -> TrainDetail:
    reason = body.reason if body else ""
    return train_detail(trains.close_train(db, actor, train.id, reason))


@router.post(
    "/{train_id}/clone",
    response_model=TrainDetail,
    status_code=201,
    summary="Clone: same wagon timestamps, current dataset configuration (operators)",
)
def clone(train: TrainForReader, body: CloneTrainIn, actor: CurrentActor, db: DB) -> TrainDetail:
    options = {k: v for k, v in body.model_dump().items() if v is not None}
    new = trains.clone_train(db, actor, train.id, **options)
    db.flush()
    return train_detail(new)


@router.post(
    "/{train_id}/long-train",
    response_model=TrainDetail,
    status_code=201,
    summary="Request a long train on the big dataset after a done short train (analyzers)",
)
def request_long_train(train: TrainForReader, actor: CurrentActor, db: DB) -> TrainDetail:
    new = trains.request_long_train(db, actor, train.id)
    db.flush()
    return train_detail(new)


@router.post(
    "/{train_id}/approve",
    response_model=TrainDetail,
    summary="Approve a requested long train (PWG conveners, operators)",
)
def approve_long_train(
    train: TrainForReader, actor: CurrentActor, db: DB, body: ApproveIn | None = None
) -> TrainDetail:
    hours = body.expected_cpu_hours if body else None
    approved = trains.approve_long_train(db, actor, train.id, expected_cpu_hours=hours)
    db.flush()
    return train_detail(approved)


@router.get(
    "/{train_id}/error-groups",
    response_model=Page[ErrorGroupOut],
    summary="Failed jobs grouped by error signature, largest group first",
)
def error_groups(train: TrainForReader, db: DB, paging: Paging):
    groups = [
        ErrorGroupOut(signature=g.signature, count=g.count, example=g.example)
        for g in jobs.error_groups(db, train.id)
    ]
    return paginate_list(groups, paging)


@router.post(
    "/{train_id}/resubmit",
    response_model=ResubmittedOut,
    summary="Resubmit the failed jobs of a train (operators)",
)
def resubmit(train: TrainForReader, actor: CurrentActor, db: DB) -> ResubmittedOut:
    return ResubmittedOut(resubmitted=jobs.resubmit_failed(db, actor, train.id))


@router.get("/{train_id}/comments", response_model=Page[CommentOut], summary="Comments")
def list_comments(train: TrainForReader, paging: Paging):
    return paginate_list([CommentOut.model_validate(c) for c in train.comments], paging)


@router.post(
    "/{train_id}/comments", response_model=CommentOut, status_code=201, summary="Add a comment"
)
def add_comment(train: TrainForReader, body: CommentIn, actor: CurrentActor, db: DB) -> CommentOut:
    comment = trains.add_comment(db, actor, train.id, body.text)
    db.flush()
    return CommentOut.model_validate(comment)


@router.get("/{train_id}/history", response_model=Page[HistoryOut], summary="State history")
def train_history(train: TrainForReader, db: DB, paging: Paging, action: HistoryAction = None):
    return history_page(db, "train_run", train.id, paging, action)
