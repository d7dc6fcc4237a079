"""``JobMoves`` (the scheduler's batched job state changes) writes exactly what
``set_job_state`` writes, and refuses exactly what it refuses, for every pair of states."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select, update
from tests.story_cause import BY_TEST

from hyperloop.core import datasets, tags, users
from hyperloop.core import jobs as jobs_service
from hyperloop.core.actor import Actor
from hyperloop.core.errors import DomainError
from hyperloop.core.story import Cause
from hyperloop.db.models import Job, TrainRun
from hyperloop.db.models import Target as DbTarget
from hyperloop.enums import JobState, Role, TrainState

COLUMNS = (Job.state, Job.attempts, Job.target, Job.cpu_s, Job.site, Job.error_message)


@pytest.fixture
def job_id(db_sessionmaker) -> int:
    with db_sessionmaker.begin() as s:
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        intro = {"package": {"name": "moves", "version": "1.0"}, "workflows": []}
        tag = tags.register_tag(s, None, intro, artifact="/nonexistent/moves")
        ds = datasets.create_dataset(s, admin, "LHC26_moves", collision_system="pp")
        target = DbTarget(name="small", cores=1, memory_limit_mb=2000)
        s.add(target)
        s.flush()
        train = TrainRun(
            dataset_id=ds.id,
            tag_id=tag.id,
            target_id=target.id,
            state=TrainState.RUNNING,
            wagons_snapshot=[],
        )
        s.add(train)
        s.flush()
        job = Job(train_run_id=train.id, run_number=1, files=["/a.root"], n_files=1, attempts=1)
        s.add(job)
        s.flush()
        return job.id


def _outcome(sessions, job_id: int, start: JobState, to: JobState, batched: bool) -> tuple:
    """(columns after the move, or the error) of one move from ``start``; rolled back."""
    with sessions() as s:
        s.execute(update(Job).where(Job.id == job_id).values(state=start, attempts=1))
        fields = {"cpu_s": 3.5, "site": "node-1", "error_message": f"to {to.value}"}
        try:
            if batched:
                moves = jobs_service.JobMoves(s)
                moves.move(job_id, to, cause=Cause("test", "seed", "test"), **fields)
                if to is JobState.RUNNING:
                    moves.set_target(job_id, "big")
                moves.flush()
            else:
                job = jobs_service.set_job_state(
                    s, job_id, to, cause=Cause("test", "seed", "test"), **fields
                )
                if to is JobState.RUNNING:
                    job.target = "big"
                s.flush()
        except DomainError as exc:
            return (type(exc).__name__, str(exc))
        finally:
            s.expire_all()
        got = tuple(s.execute(select(*COLUMNS).where(Job.id == job_id)).one())
        s.rollback()
        return got


def test_every_move_writes_or_refuses_as_set_job_state(db_sessionmaker, job_id):
    refused = 0
    for start, to in itertools.product(JobState, JobState):
        one = _outcome(db_sessionmaker, job_id, start, to, batched=False)
        many = _outcome(db_sessionmaker, job_id, start, to, batched=True)
        assert many == one, (start, to)
        refused += isinstance(one[0], str) and one[0] == "IllegalTransition"
    assert 0 < refused < len(JobState) ** 2
    # a new attempt counts: waiting -> running adds one, with the target written
    running = _outcome(db_sessionmaker, job_id, JobState.WAITING, JobState.RUNNING, batched=True)
    assert running[:3] == (JobState.RUNNING, 2, "big")


def test_a_missing_job_and_an_unknown_field_are_refused_like_set_job_state(db_sessionmaker, job_id):
    with db_sessionmaker() as s:
        moves = jobs_service.JobMoves(s)
        with pytest.raises(DomainError, match=f"job {job_id + 1} not found"):
            moves.move(job_id + 1, JobState.RUNNING, cause=BY_TEST)
        with pytest.raises(DomainError, match=r"unknown job field\(s\) \['colour'\]"):
            moves.move(job_id, JobState.RUNNING, colour="red", cause=BY_TEST)
