"""Train runs: compatibility, compose, decompose, clone, compare, long trains, submit/kill/close
(state transitions only), the operator's final merge request, comments, history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import object_session

from hyperloop.core import jobs, policy, preferences, trains
from hyperloop.core.full_config import build_full_config
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.enums import TrainState, TrainType
from hyperloop.readmodels import policy as views_policy
from hyperloop.readmodels import sharing as views_sharing
from hyperloop.readmodels import train_results as views_train_results
from hyperloop.readmodels import train_submission as views_train_submission
from hyperloop.readmodels import trains as views_trains
from hyperloop.readmodels.paging import Page, paginate_list
from hyperloop.readmodels.schemas import ORMModel
from hyperloop.readmodels.wagons import ChangeOut
from hyperloop.web.api.schemas import HistoryAction, HistoryOut, history_page
from hyperloop.web.deps import (
    DB,
    CurrentActor,
    SettingsDep,
    TrainForReader,
    _load,
    require_action,
)
from hyperloop.web.errors import ApiError
from hyperloop.web.pagination import Paging, page_response

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
    final_merge_requested_at: datetime | None = Field(
        default=None, description="When an operator asked for the final merge of what succeeded."
    )
    final_merge_requested_by_id: int | None = None
    submit_requested_at: datetime | None = Field(
        default=None,
        description="An operator's submission waiting for the dataset's automatic "
        "submission time (datasets over 50 TB, fair-usage policy).",
    )
    increment_of_id: int | None = Field(
        default=None,
        description="An incremental train: the train run whose output it adds new runs to.",
    )
    increment_runs: list[int] | None = Field(
        default=None, description="An incremental train: the runs it processes (the new runs)."
    )


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


class PolicyApproveIn(BaseModel):
    comment: str = Field(default="", max_length=2000)


class ApprovalOut(BaseModel):
    level: str
    label: str
    approved_by: str
    approved_by_id: int
    approved_at: datetime
    comment: str


class PolicyOut(BaseModel):
    train_id: int
    level: Literal["none", "pwg", "coordination", "physics_board"] = Field(
        description="Who must approve before submission (fair-usage policy tier)."
    )
    label: str
    reason: str
    cpu_hours: float | None = Field(description="Expected CPU hours (from the train test).")
    cpu_years: float | None
    dataset_tb: float
    discouraged: bool = Field(
        description="Over 2 CPU years on a dataset under 30 TB: strongly discouraged."
    )
    approvals: list[ApprovalOut]
    approved: bool
    satisfied: bool = Field(description="May be submitted as far as the policy goes.")
    can_approve: bool = Field(description="Whether the caller may approve it now.")
    scheduled_only: bool = Field(
        description="The dataset is over 50 TB: submissions wait for its automatic times."
    )
    scheduled_only_above_tb: float
    submit_requested_at: datetime | None
    next_submission_at: datetime | None


class CloneTrainIn(BaseModel):
    tag_id: Ident | None = None
    target_id: Ident | None = None
    train_type: TrainType | None = None
    slow: bool | None = None
    auto_submit: bool | None = None


class SubmitIn(BaseModel):
    target_id: Ident | None = Field(
        default=None, description="Submit to this target instead of the one of the train test."
    )


class LongTrainIn(BaseModel):
    dataset_id: Ident | None = Field(
        default=None, description="The big dataset (the short dataset's parent; default)."
    )
    target_id: Ident | None = Field(default=None, description="Default: the short train's.")
    wagon_ids: list[Ident] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="A subset of the short train's wagons (default: all).",
    )
    train_type: TrainType | None = Field(
        default=None,
        description="Default: the short train's; slim derived data may become standard.",
    )
    auto_submit: bool = Field(
        default=False,
        description="Submit right after approval (no memory warning, CPU within the limit).",
    )


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
    filters = views_trains.TrainFilters(
        dataset_id=dataset_id,
        states=state or (),
        train_type=train_type,
        analysis_id=analysis_id,
        tag_id=tag_id,
        composed_after=composed_after,
        composed_before=composed_before,
    )
    rows, total = views_trains.train_runs_page(
        db, filters, paging.limit, paging.offset, details=False
    )
    page = {
        "items": [TrainOut.model_validate(r.train) for r in rows],
        "total": total,
        "limit": paging.limit,
        "offset": paging.offset,
    }
    return page_response(page, TrainOut)


IntervalName = Literal["day", "week", "month", "custom"]


def interval_of(name: str, start: date | None, end: date | None) -> views_trains.Interval:
    """The dashboard interval, or a 422 naming what is wrong with it."""
    try:
        return views_trains.resolve_interval(name, start, end)
    except ValueError as exc:
        raise ApiError(422, "validation_error", f"interval: {exc}") from None


@router.get("/dashboard", summary="Dashboard: now and over an interval (default last week)")
def dashboard(
    actor: CurrentActor,
    db: DB,
    interval: IntervalName = "week",
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    require_action(actor, Action.READ)
    return views_sharing.dashboard_with_sharing(db, interval_of(interval, start, end))


@router.get(
    "/submission",
    summary="Train submission: datasets with enabled wagons, compatibility, composed trains",
)
def submission(
    actor: CurrentActor,
    db: DB,
    dataset_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    show_all: bool = False,
) -> dict[str, Any]:
    require_action(actor, Action.READ)
    return views_train_submission.submission_view(db, actor, dataset_id, show_all=show_all)


class IssueOut(BaseModel):
    """A row of the Trains with issues page (the same data function feeds both)."""

    id: int
    state: TrainState
    icon: str = Field(description="Status icon key: queued, running, done, warning, failed.")
    dataset: str = Field(description="Dataset name.")
    submitted_at: AwareDatetime | None
    issue: str = Field(description="Why the train needs a decision.")
    jobs: int
    failed: int
    done: int


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
    return paginate_list(views_train_submission.trains_with_issues_view(db), paging)


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
    preferences.remember_submission(db, actor.user, body.dataset_id, body.target_id)
    db.flush()
    return train_detail(train)


@router.get("/{train_id}", response_model=TrainDetail, summary="One train run")
def get_train(train: TrainForReader) -> Response:
    # serialised once here: FastAPI would validate the built model (its snapshots are most
    # of the ~20 kB) again against response_model, which still documents the shape
    return Response(
        train_detail(train).model_dump_json(by_alias=True), media_type="application/json"
    )


@router.get(
    "/{train_id}/result",
    response_class=StreamingResponse,
    summary="The train run's merged result file, read from the storage (storage_url)",
    responses={
        200: {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
            "description": "The ROOT file.",
        }
    },
)
def result(train: TrainForReader, settings: SettingsDep) -> StreamingResponse:
    """The file the train run's ``output_dir`` names (its final merge's AnalysisResults.root),
    read through the storage layer: a local folder or an fsspec URL (``s3://...``), so a web
    server needs no folder shared with the scheduler or the workers."""
    from hyperloop.grid import store
    from hyperloop.scheduler.service import storage_location, work_dir

    where = train.output_dir or ""
    roots = (storage_location(settings), str(work_dir(settings)))
    if not where.endswith(".root") or not any(
        where.startswith(store.join(root, "trains", str(train.id)) + "/") for root in roots
    ):
        raise ApiError(404, "not_found", f"train run {train.id} has no merged result yet")
    try:
        length = store.size(where)
        handle = store.open_read(where)
    except FileNotFoundError:
        raise ApiError(
            404, "not_found", f"train run {train.id}: its result {where} is not in the storage"
        ) from None
    except OSError as exc:
        raise ApiError(
            503, "storage_unavailable", f"train run {train.id}: {str(exc)[:300]}"
        ) from None

    def chunks():
        with handle:
            while block := handle.read(1 << 20):
                yield block

    name = where.rsplit("/", 1)[-1]
    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(length),
            "Content-Disposition": f'attachment; filename="train-{train.id}-{name}"',
        },
    )


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
    summary="Submit a train whose test is done/warning (operators), optionally to another "
    "target than the test's; execution comes later",
)
def submit(
    train: TrainForReader, actor: CurrentActor, db: DB, body: SubmitIn | None = None
) -> TrainDetail:
    target = body.target_id if body else None
    return train_detail(trains.submit_train(db, actor, train.id, target_id=target))


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
    "/{train_id}/final-merge",
    response_model=TrainDetail,
    summary="Final merge now: merge the complete runs, list the missing ones (operators)",
    description=(
        "For a running or merging train that cannot finish by itself (a train with issues): "
        "the scheduler stops submitting and retrying its jobs, merges every run whose jobs "
        "are all done and lists the others as missing (the merging view). 409 when the train "
        "is in another state, already has a request, or has no done job."
    ),
)
def final_merge(train: TrainForReader, actor: CurrentActor, db: DB) -> TrainDetail:
    return train_detail(trains.request_final_merge(db, actor, train.id))


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
    "/{train_id}/increment",
    response_model=TrainDetail,
    status_code=201,
    summary="Run a done train on the runs its dataset gained since (operators)",
    description=(
        "An incremental train: a train run of its own with the same wagons, configurations, "
        "tag and target, submitted at once, on the runs without a per-run merge in the train's "
        "lineage; its final merge adds them to the lineage's per-run outputs (equal to a full "
        "rerun). 409 naming the train when it is not done, already has an increment, is a "
        "standard or linked derived-data train, its wagons, tag or dataset merge "
        "configuration changed, or there is no new run."
    ),
)
def increment(train: TrainForReader, actor: CurrentActor, db: DB) -> TrainDetail:
    new = trains.start_increment(db, actor, train.id)
    db.flush()
    return train_detail(new)


@router.post(
    "/{train_id}/long-train",
    response_model=TrainDetail,
    status_code=201,
    summary="Request a long train on the big dataset after a done short train (members), "
    "with a target, a subset of the wagons, a type and automatic submission",
)
def request_long_train(
    train: TrainForReader, actor: CurrentActor, db: DB, body: LongTrainIn | None = None
) -> TrainDetail:
    choices = body.model_dump(exclude_none=True) if body else {}
    new = trains.request_long_train(db, actor, train.id, **choices)
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
    "/{train_id}/policy",
    response_model=PolicyOut,
    summary="The train's fair-usage tier: who must approve it, the approvals it has",
)
def train_policy(train: TrainForReader, actor: CurrentActor, db: DB) -> dict[str, Any]:
    return views_policy.train_policy(db, train, actor)


@router.post(
    "/{train_id}/policy-approval",
    response_model=PolicyOut,
    summary="Approve a train for the policy tier it needs (PWG conveners, analysis "
    "coordination, Physics Board)",
)
def approve_policy(
    train: TrainForReader, actor: CurrentActor, db: DB, body: PolicyApproveIn | None = None
) -> dict[str, Any]:
    policy.approve(db, actor, train.id, body.comment if body else "")
    db.flush()
    return views_policy.train_policy(db, train, actor)


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
    # an operator's resubmission ignores the attempt limit: it always recovers a train
    return ResubmittedOut(resubmitted=jobs.resubmit_failed(db, actor, train.id, max_attempts=None))


@router.get("/{train_id}/comments", response_model=Page[CommentOut], summary="Comments")
def list_comments(train: TrainForReader, paging: Paging):
    return paginate_list([CommentOut.model_validate(c) for c in train.comments], paging)


@router.post(
    "/{train_id}/comments",
    response_model=CommentOut,
    status_code=201,
    summary="Add a comment (members of an analysis in the train)",
)
def add_comment(train: TrainForReader, body: CommentIn, actor: CurrentActor, db: DB) -> CommentOut:
    comment = trains.add_comment(db, actor, train.id, body.text)
    db.flush()
    return CommentOut.model_validate(comment)


@router.get("/{train_id}/history", response_model=Page[HistoryOut], summary="State history")
def train_history(train: TrainForReader, db: DB, paging: Paging, action: HistoryAction = None):
    return history_page(db, "train_run", train.id, paging, action)


# ------------------------------------------------------------------ result views (pages too)


@router.get("/{train_id}/overview", summary="General tab: progress, wagons, history, actions")
def overview(train: TrainForReader, actor: CurrentActor, db: DB) -> dict[str, Any]:
    return views_trains.train_overview(db, train, actor)


@router.get("/{train_id}/status", summary="Live status: state and job progress")
def status(train: TrainForReader, db: DB) -> dict[str, Any]:
    return views_trains.train_status(db, train)


@router.get(
    "/{train_id}/master-jobs",
    summary="Jobs per run (master jobs), grid statistics, failed jobs grouped by signature",
)
def master_jobs(train: TrainForReader, db: DB, settings: SettingsDep) -> dict[str, Any]:
    return views_train_results.master_jobs_view(db, train.id, views_trains.file_roots(settings))


@router.get("/{train_id}/merging", summary="Per-run merges, mergelists, final merge")
def merging(train: TrainForReader, db: DB, settings: SettingsDep) -> dict[str, Any]:
    return views_train_results.merging_view(db, train, views_trains.file_roots(settings))


@router.get("/{train_id}/outputs", summary="Merged outputs and derived-data files")
def outputs(train: TrainForReader, db: DB, settings: SettingsDep) -> dict[str, Any]:
    return views_train_results.outputs_view(db, train, views_trains.file_roots(settings))


@router.get(
    "/{train_id}/partial",
    summary="Live partial results: outputs merged over the jobs finished so far (running trains)",
    description=(
        "While a train runs, the scheduler merges the outputs of its finished jobs, per run and "
        "overall, into a folder of their own (never read by the real merges) as jobs finish: "
        "their files and the fractions of runs, jobs and events they hold. `partial` is null "
        "before a job finished and once the final merge is done."
    ),
)
def partial(train: TrainForReader, settings: SettingsDep) -> dict[str, Any]:
    view = views_train_results.partial_view(train, views_trains.file_roots(settings))
    return {"train_id": train.id, "state": train.state.value, "partial": view}


@router.get("/{train_id}/test", summary="Train test: metrics per device, expected resources")
def train_test(train: TrainForReader, db: DB, settings: SettingsDep) -> dict[str, Any]:
    return views_train_results.train_test_view(db, train, views_trains.file_roots(settings))


@router.get(
    "/{train_id}/sharing",
    summary="What sharing saved: CPU time, bytes read, CPU-years and CO2 against running the "
    "train's wagons separately, per analysis and in total (docs: user guide, sharing saved)",
)
def train_sharing(train: TrainForReader, db: DB, settings: SettingsDep) -> dict[str, Any]:
    return views_sharing.train_sharing(db, train, views_trains.file_roots(settings))


@router.get(
    "/{train_id}/full-config",
    summary="full_config.json of the train (its wagons as frozen at composition)",
)
def full_config(train: TrainForReader, db: DB) -> JSONResponse:
    spec = build_full_config(train, _load(db, m.PackageTag, train.tag_id, "package tag"))
    return JSONResponse(
        spec.to_json(),
        headers={
            "Content-Disposition": f'attachment; filename="full_config_train_{train.id}.json"'
        },
    )


@router.get(
    "/{train_id}/compare-outputs",
    summary="Configuration differences and, when both are done, per-histogram verdicts",
)
def compare_outputs(
    train: TrainForReader,
    other_id: Annotated[int, Query(ge=1, le=2**31 - 1)],
    actor: CurrentActor,
    db: DB,
    settings: SettingsDep,
) -> dict[str, Any]:
    other = _load(db, m.TrainRun, other_id, "train run")
    require_action(actor, Action.READ, other)
    return views_train_results.compare_view(db, train, other, views_trains.file_roots(settings))
