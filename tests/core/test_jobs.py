"""Jobs: resubmission limits, error groups, trains with issues, index use for big tables."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from tests.factories import make_world
from tests.story_cause import BY_TEST

from hyperloop.core import enabling, jobs, trains, wagons
from hyperloop.core.states import transition
from hyperloop.db.base import utcnow
from hyperloop.db.models import Job, TrainMerge
from hyperloop.enums import JobState, TestStatus, TrainState
from hyperloop.readmodels.train_submission import trains_with_issues_view


@pytest.fixture
def running_train(session):
    w = make_world(session)
    wagon = wagons.create_wagon(session, w.actor(w.alice), w.lf.id, name="w", workflow="tree-maker")
    enabling.enable_wagon(session, w.actor(w.alice), wagon.id, w.dataset.id)
    enabling.finish_test(
        session, enabling.current_test(session, wagon.id, w.dataset.id).id, TestStatus.DONE
    )
    train = trains.compose_train(
        session, w.actor(w.operator), w.dataset.id, [wagon.id], target_id=w.target.id
    )
    trains.start_test(session, train.id)
    trains.finish_test(session, train.id, TestStatus.DONE)
    trains.submit_train(session, w.actor(w.operator), train.id)
    specs = [jobs.JobSpec(544013 + i % 3, (f"/data/{i}/AO2D.root",)) for i in range(10)]
    assert jobs.add_jobs(session, train.id, specs, cause=BY_TEST) == 10
    return w, train


def test_failed_jobs_are_grouped_and_resubmitted_up_to_the_limit(session, running_train):
    w, train = running_train
    ids = [j.id for j in session.query(Job).order_by(Job.id)]
    sig = jobs.error_signature("KeyError", "tasks.py:42")
    for jid in ids[:4]:
        jobs.set_job_state(session, jid, JobState.RUNNING, site="local", cause=BY_TEST)
        jobs.set_job_state(
            session,
            jid,
            JobState.EXECUTION_ERROR,
            error_signature=sig,
            error_message="KeyError: 'fPt'",
            cpu_s=1.5,
            cause=BY_TEST,
        )
    jobs.set_job_state(session, ids[4], JobState.RUNNING, cause=BY_TEST)
    jobs.set_job_state(session, ids[4], JobState.LOST, cause=BY_TEST)
    groups = jobs.error_groups(session, train.id)
    assert [(g.signature, g.count) for g in groups] == [(sig, 4), ("unknown", 1)]
    assert groups[0].example == "KeyError: 'fPt'"
    issues = dict((t.id, why) for t, why in jobs.trains_with_issues(session))
    assert issues == {train.id: "5 of 10 jobs failed"}
    assert jobs.resubmit_failed(session, None, train.id) == 5
    assert jobs.job_counts(session, train.id) == {"waiting": 10}
    # a job that already used its attempts is only resubmitted by an operator
    job = session.get(Job, ids[0])
    job.attempts = jobs.MAX_ATTEMPTS
    jobs.set_job_state(session, ids[0], JobState.RUNNING, cause=BY_TEST)
    jobs.set_job_state(session, ids[0], JobState.EXPIRED, cause=BY_TEST)
    assert jobs.resubmit_failed(session, None, train.id) == 0
    assert jobs.resubmit_failed(session, w.actor(w.operator), train.id, max_attempts=None) == 1


def test_all_jobs_final_without_merge_is_an_issue(session, running_train):
    _, train = running_train
    transition_all = [j.id for j in session.query(Job)]
    for jid in transition_all:
        jobs.set_job_state(session, jid, JobState.RUNNING, cause=BY_TEST)
        jobs.set_job_state(session, jid, JobState.DONE, cause=BY_TEST)
    ((found, why),) = jobs.trains_with_issues(session)
    assert found.id == train.id and "no merge" in why
    assert train.state is TrainState.SUBMITTED


def test_merge_records_name_the_merge_stage_a_train_is_stuck_in(session, running_train):
    """SPEC §3: merges final but no final merge; final merge final but the train not done.
    The page's lean view and the service agree."""
    _, train = running_train
    for jid in [j.id for j in session.query(Job)]:
        jobs.set_job_state(session, jid, JobState.RUNNING, cause=BY_TEST)
        jobs.set_job_state(session, jid, JobState.DONE, cause=BY_TEST)
    merges = [
        TrainMerge(train_run_id=train.id, stage="run", name=str(run))
        for run in (544013, 544014, 544015)
    ]
    session.add_all(merges)
    session.flush()

    def issues() -> dict[int, str]:
        found = dict((t.id, why) for t, why in jobs.trains_with_issues(session))
        view = {row["id"]: row["issue"] for row in trains_with_issues_view(session)}
        assert view == found
        return found

    # every job done, merged just now: the scheduler starts the final merge next
    assert issues() == {}
    for m in merges:
        m.finished_at = utcnow() - jobs.MERGE_GRACE - timedelta(seconds=1)
    session.flush()
    assert issues() == {train.id: "merges final (3 runs merged) but no final merge"}
    transition(train, TrainState.RUNNING, actor=None, cause=BY_TEST)
    transition(train, TrainState.MERGING, actor=None, cause=BY_TEST)
    session.flush()
    assert issues() == {}  # merging: the final merge has not ended yet
    final = TrainMerge(
        train_run_id=train.id, stage="final", name="final", state="failed", error="OSError: full"
    )
    session.add(final)
    session.flush()
    assert issues() == {train.id: "final merge failed (OSError: full); the train is not done"}
    final.state, final.error = "done", None
    session.flush()
    assert issues() == {}  # done just now: the train is marked done next
    final.finished_at = utcnow() - jobs.MERGE_GRACE - timedelta(seconds=1)
    session.flush()
    assert issues() == {train.id: "final merge done but the train is not declared done"}


def test_job_queries_use_the_train_and_state_indexes(session, db_backend):
    if db_backend != "sqlite":
        plan = " ".join(
            str(r)
            for r in session.execute(
                text(
                    "EXPLAIN SELECT state, count(*) FROM jobs WHERE train_run_id = 1 GROUP BY state"
                )
            )
        )
        # a tiny table may be scanned sequentially; the planner must at least know the index
        indexes = {
            r[0]
            for r in session.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'jobs'")
            )
        }
        assert {"ix_jobs_train_run_state", "ix_jobs_state"} <= indexes, (indexes, plan)
        return
    plan = " ".join(
        str(r)
        for r in session.execute(
            text(
                "EXPLAIN QUERY PLAN SELECT state, count(*) FROM jobs WHERE train_run_id = 1 "
                "GROUP BY state"
            )
        )
    )
    assert "ix_jobs_train_run_state" in plan
    plan = " ".join(
        str(r)
        for r in session.execute(
            text("EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE state = 'running'")
        )
    )
    assert "ix_jobs_state" in plan


def test_killing_a_train_leaves_no_job_waiting_or_running(session, running_train):
    """Issue 17: a killed train's jobs stayed "running" for ever. They are recorded lost
    with who killed it; done ones stay done."""
    w, train = running_train
    ids = [j.id for j in session.query(Job).order_by(Job.id)]
    jobs.set_job_state(session, ids[0], JobState.RUNNING, cause=BY_TEST)
    jobs.set_job_state(session, ids[0], JobState.DONE, cause=BY_TEST)
    jobs.set_job_state(session, ids[1], JobState.RUNNING, cause=BY_TEST)
    session.flush()
    trains.kill_train(session, w.actor(w.operator), train.id, "wrong cuts")
    session.expire_all()
    assert jobs.job_counts(session, train.id) == {"done": 1, "lost": 9}
    lost = session.get(Job, ids[1])
    assert lost.error_signature == "TrainKilled"
    assert lost.error_message == f"train {train.id} killed by {w.operator.username}: wrong cuts"
