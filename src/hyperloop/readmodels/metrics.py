"""The figures of ``GET /api/metrics`` read from the database: jobs and trains of the
scheduled trains by state, the merge backlog, and the active scheduler's last step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from hyperloop.db.models import Job, SchedulerLease, TrainMerge, TrainRun
from hyperloop.enums import JobState, TrainState

#: trains the scheduler still drives (their jobs are the queue)
ACTIVE = (TrainState.SUBMITTED, TrainState.RUNNING, TrainState.MERGING)


@dataclass(frozen=True)
class SystemFigures:
    jobs: dict[str, int] = field(default_factory=dict)  # job state -> count (active trains)
    trains: dict[str, int] = field(default_factory=dict)  # active train state -> count
    merge_backlog: int = 0  # runs whose jobs are all done, not merged yet
    scheduler_up: bool = False
    tick_s: float | None = None  # the active scheduler's last step
    tick_age_s: float | None = None  # seconds since that step ended


def system_figures(s: Session) -> SystemFigures:
    """A few grouped queries over the scheduled trains (not the whole job history)."""
    active = select(TrainRun.id).where(TrainRun.state.in_(ACTIVE))
    jobs = {st.value: 0 for st in JobState}
    for state, n in s.execute(
        select(Job.state, func.count()).where(Job.train_run_id.in_(active)).group_by(Job.state)
    ):
        jobs[state.value] = int(n)
    trains = {st.value: 0 for st in ACTIVE}
    for state, n in s.execute(
        select(TrainRun.state, func.count())
        .where(TrainRun.state.in_(ACTIVE))
        .group_by(TrainRun.state)
    ):
        trains[state.value] = int(n)
    done = func.sum(case((Job.state == JobState.DONE, 1), else_=0))
    complete = {
        (tid, str(run))
        for tid, run, total, n_done in s.execute(
            select(Job.train_run_id, Job.run_number, func.count(), done)
            .where(Job.train_run_id.in_(active))
            .group_by(Job.train_run_id, Job.run_number)
        )
        if total == n_done
    }
    merged = {
        (tid, name)
        for tid, name in s.execute(
            select(TrainMerge.train_run_id, TrainMerge.name).where(
                TrainMerge.train_run_id.in_(active),
                TrainMerge.stage == "run",
                TrainMerge.state == "done",
            )
        )
    }
    lease = s.get(SchedulerLease, "scheduler")
    now = datetime.now(UTC)
    up = bool(lease and lease.holder and lease.expires_at and _aware(lease.expires_at) > now)
    tick_s = tick_age = None
    if lease is not None and lease.last_tick_s is not None and lease.last_tick_at is not None:
        tick_s = float(lease.last_tick_s)
        tick_age = (now - _aware(lease.last_tick_at)).total_seconds()
    return SystemFigures(jobs, trains, len(complete - merged), up, tick_s, tick_age)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
