"""Train runs: compatibility, compose, decompose, clone, compare, long trains, submit/kill/close
(state transitions only), comments, history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from hyperloop.core import history, trains
from hyperloop.core.enums import TrainState, TrainType
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.web.api.schemas import HistoryOut, ORMModel
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
    return TrainDetail(
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
    composed_after: datetime | None = None,
    composed_before: datetime | None = None,
):
    require_action(actor, Action.READ)
    stmt = select(m.TrainRun).order_by(m.TrainRun.id.desc())
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


@router.post(
    "/compatibility",
    response_model=dict[str, Any],
    summary="Which wagons can share a train with the selected ones (tag, conflicts)",
)
def compatibility(body: CompatibilityIn, actor: CurrentActor, db: DB) -> dict[str, Any]:
    require_action(actor, Action.READ)
    _load(db, m.Dataset, body.dataset_id, "dataset")
    report = trains.compatible_wagons(db, body.dataset_id, body.wagon_ids)
    return report.as_dict() if hasattr(report, "as_dict") else dict(report)


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


def _transition(name: str, summary: str):
    def endpoint(
        train: TrainForReader, actor: CurrentActor, db: DB, body: TransitionIn | None = None
    ) -> TrainDetail:
        result = getattr(trains, f"{name}_train")(db, actor, train.id)
        db.flush()
        return train_detail(result if isinstance(result, m.TrainRun) else train)

    endpoint.__name__ = f"{name}_train"
    router.post(f"/{{train_id}}/{name}", response_model=TrainDetail, summary=summary)(endpoint)


_transition("decompose", "Decompose: free the wagons for another train (operators)")
_transition("submit", "Submit a tested train (operators); execution comes later")
_transition("kill", "Kill: stop all jobs (operators)")
_transition("close", "Close: no further activity, running jobs left alone (operators)")


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
def approve_long_train(train: TrainForReader, actor: CurrentActor, db: DB) -> TrainDetail:
    approved = trains.approve_long_train(db, actor, train.id)
    db.flush()
    return train_detail(approved)


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
def train_history(train: TrainForReader, db: DB, paging: Paging):
    entries = [HistoryOut.model_validate(e) for e in history.entries(db, "train_run", train.id)]
    return paginate_list(entries, paging)
