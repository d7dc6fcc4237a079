"""The operator's final-merge request on a real database (both backends): who may ask, in
which states, once; what the scheduler's snapshot then says (the request, each job's
target read from ``jobs.target``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from tests.factories import make_world
from tests.scheduler.test_shell_cycles import make_shell
from tests.story_cause import BY_TEST

from hyperloop.core import trains
from hyperloop.core.errors import Conflict, PermissionDenied
from hyperloop.core.jobs import JobSpec, add_jobs, set_job_state
from hyperloop.db.models import HistoryEntry, Job, TrainRun
from hyperloop.enums import JobState, TrainState


def running_train(s, w, outcomes: list[tuple[int, JobState]]) -> int:
    train = TrainRun(
        dataset_id=w.dataset.id,
        tag_id=w.tag.id,
        target_id=w.target.id,
        state=TrainState.RUNNING,
        wagons_snapshot=[{"wagon_id": 1, "analysis_id": w.lf.id, "pwg": "PWG-LF"}],
    )
    s.add(train)
    s.flush()
    add_jobs(
        s,
        train.id,
        [JobSpec(run, (f"{run}/f{i}.root",)) for i, (run, _) in enumerate(outcomes)],
        cause=BY_TEST,
    )
    jobs = s.scalars(select(Job).where(Job.train_run_id == train.id).order_by(Job.id)).all()
    for job, (_run, state) in zip(jobs, outcomes, strict=True):
        set_job_state(s, job.id, JobState.RUNNING, cause=BY_TEST)
        if state is not JobState.RUNNING:
            set_job_state(s, job.id, state, cause=BY_TEST)
    s.flush()
    return train.id


def test_operators_request_a_final_merge_once_and_the_snapshot_carries_it(
    db_sessionmaker, tmp_path
):
    with db_sessionmaker.begin() as s:
        w = make_world(s)
        outcomes = [
            (544013, JobState.DONE),
            (544013, JobState.DONE),
            (544028, JobState.DONE),
            (544028, JobState.EXECUTION_ERROR),
        ]
        train_id = running_train(s, w, outcomes)
        first = s.scalars(select(Job).where(Job.train_run_id == train_id)).first()
        first.target = "2core"
        with pytest.raises(PermissionDenied):
            trains.request_final_merge(s, w.actor(w.alice), train_id)
        train = trains.request_final_merge(s, w.actor(w.operator), train_id)
        assert train.final_merge_requested_by_id == w.operator.id
        with pytest.raises(Conflict, match="already requested"):
            trains.request_final_merge(s, w.actor(w.admin), train_id)
        entry = s.scalars(
            select(HistoryEntry).where(
                HistoryEntry.object_id == train_id, HistoryEntry.action == "final_merge_request"
            )
        ).one()
        assert entry.user_id == w.operator.id
    shell = make_shell(db_sessionmaker, tmp_path)
    with db_sessionmaker() as s:
        (view,) = shell.snapshot(s, datetime.now(UTC)).trains
    assert view.id == train_id and view.final_merge_requested
    assert {j.target for j in view.jobs} == {"2core"}  # the column, else the train's target


def test_no_request_without_a_complete_run_or_outside_running_and_merging(db_sessionmaker):
    with db_sessionmaker.begin() as s:
        w = make_world(s)
        op = w.actor(w.operator)
        # run 544013 has a done job and a failed one: no run is complete
        partial = running_train(s, w, [(544013, JobState.DONE), (544013, JobState.LOST)])
        with pytest.raises(Conflict, match="no run whose jobs are all done"):
            trains.request_final_merge(s, op, partial)
        trains.kill_train(s, op, partial)
        with pytest.raises(Conflict, match="is killed: .* only while it is running or merging"):
            trains.request_final_merge(s, op, partial)
