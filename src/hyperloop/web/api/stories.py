"""Stories: every state change of a job, wagon test or train run with its cause
(``core.story``), readable by whoever may read the object's page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from hyperloop.core import story
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.enums import TrainState
from hyperloop.readmodels import why
from hyperloop.web.deps import (
    DB,
    CurrentActor,
    SettingsDep,
    TrainForReader,
    _load,
    require_action,
)
from hyperloop.web.errors import ERROR_RESPONSES

router = APIRouter(tags=["stories"], responses=ERROR_RESPONSES)
Ident = Annotated[int, Path(ge=1, le=2**31 - 1)]


class StepOut(BaseModel):
    from_state: str | None = Field(description="State before; null: the object was created.")
    state: str = Field(description="State after the transition.")
    at: datetime
    stimulus: str = Field(
        description="What set it off: `tick-<unix time>` (a scheduler tick), `user`, `system`."
    )
    cause: str = Field(description="Kind of cause, e.g. `job-failed`, `retry`, `kill`.")
    reason: str = Field(description="The cause in one sentence.")
    actor: str | None = Field(default=None, description="The user who asked, if any.")


class JobMovesOut(BaseModel):
    from_state: str | None
    state: str
    cause: str
    count: int
    first_at: datetime | None
    last_at: datetime | None
    example: str = Field(description="One of the sentences of these moves.")


class StoryOut(BaseModel):
    kind: str = Field(description="job, wagon_test, train_test or train_run.")
    id: int
    state: str = Field(
        description="Current state (of a train test: the state its train run reached when "
        "the test ended, or testing, or the train's state before its test)."
    )
    steps: list[StepOut] = Field(description="Every transition, oldest first.")


class TrainStoryOut(StoryOut):
    jobs: list[JobMovesOut] = Field(
        description="The moves of the train's jobs grouped by (from, to, cause)."
    )


def _steps(db: DB, kind: str, ident: int) -> list[StepOut]:
    return [StepOut(**step.as_dict()) for step in story.story(db, kind, ident)]


@router.get("/jobs/{job_id}/story", response_model=StoryOut, summary="A job's story")
def job_story(job_id: Ident, actor: CurrentActor, db: DB) -> StoryOut:
    job = _load(db, m.Job, job_id, "job")
    require_action(actor, Action.READ, job)
    return StoryOut(kind="job", id=job.id, state=job.state.value, steps=_steps(db, "job", job.id))


@router.get("/wagon-tests/{test_id}/story", response_model=StoryOut, summary="A wagon test's story")
def wagon_test_story(test_id: Ident, actor: CurrentActor, db: DB) -> StoryOut:
    test = _load(db, m.WagonTest, test_id, "wagon test")
    require_action(actor, Action.READ, db.get(m.Wagon, test.wagon_id))
    return StoryOut(
        kind="wagon_test",
        id=test.id,
        state=test.status.value,
        steps=_steps(db, "wagon_test", test.id),
    )


@router.get(
    "/train-tests/{train_id}/story",
    response_model=StoryOut,
    summary="A train test's story: the moves of its train run into and out of testing",
)
def train_test_story(train: TrainForReader, db: DB) -> StoryOut:
    testing = TrainState.TESTING.value
    steps = [s for s in _steps(db, "train_run", train.id) if testing in (s.from_state, s.state)]
    state = steps[-1].state if steps else train.state.value
    return StoryOut(kind="train_test", id=train.id, state=state, steps=steps)


@router.get(
    "/train-runs/{train_id}/story",
    response_model=TrainStoryOut,
    summary="A train run's story (its test included) and its jobs' moves",
)
def train_story(train: TrainForReader, db: DB) -> TrainStoryOut:
    return TrainStoryOut(
        kind="train_run",
        id=train.id,
        state=train.state.value,
        steps=_steps(db, "train_run", train.id),
        jobs=[JobMovesOut(**row) for row in story.jobs_summary(db, train.id)],
    )


class WhyOut(BaseModel):
    kind: str = Field(description="job, wagon_test or train_run.")
    id: int
    state: str = Field(description="Current state.")
    reason: str = Field(
        description="Why it is where it is, in one sentence (e.g. `queued behind 3 tests on "
        "the 1-core test target 'test' (4 at a time), expected start in ~4 min`)."
    )
    waiting_for: str = Field(
        description="What it waits for: test-slot, tag, engine, composition, operator, "
        "approval, jobs, retry, merge, scheduler (the next tick) or nothing."
    )
    expected_at: datetime | None = Field(
        default=None, description="When the wait is expected to end (an estimate), if known."
    )
    since: datetime | None = Field(default=None, description="Time of the last state change.")
    timeline: list[StepOut] = Field(description="Every state change and its cause, oldest first.")


@router.get(
    "/jobs/{job_id}/why", response_model=WhyOut, summary="Why a job is waiting (or where it is)"
)
def job_why(job_id: Ident, actor: CurrentActor, db: DB, settings: SettingsDep) -> WhyOut:
    job = _load(db, m.Job, job_id, "job")
    require_action(actor, Action.READ, job)
    return WhyOut(**why.job_why(db, job.id, settings).as_dict())


@router.get(
    "/wagon-tests/{test_id}/why",
    response_model=WhyOut,
    summary="Why a wagon test is waiting (or where it is)",
)
def wagon_test_why(test_id: Ident, actor: CurrentActor, db: DB, settings: SettingsDep) -> WhyOut:
    test = _load(db, m.WagonTest, test_id, "wagon test")
    require_action(actor, Action.READ, db.get(m.Wagon, test.wagon_id))
    return WhyOut(**why.wagon_test_why(db, test.id, settings).as_dict())


@router.get(
    "/train-runs/{train_id}/why",
    response_model=WhyOut,
    summary="Why a train run is waiting (or where it is)",
)
def train_why(train: TrainForReader, db: DB, settings: SettingsDep) -> WhyOut:
    return WhyOut(**why.train_why(db, train.id, settings).as_dict())
