"""Stories: every move of a job, wagon test or train run is recorded with its cause, single
moves and the scheduler's bulk job moves alike, and read back in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from tests.factories import make_world

from hyperloop.core import enabling, jobs, story, trains, wagons
from hyperloop.core.errors import IllegalTransition
from hyperloop.core.states import transition
from hyperloop.core.story import Cause
from hyperloop.db.models import Job, TrainRun, Transition
from hyperloop.enums import JobState, TestStatus, TrainState
from hyperloop.scheduler import causes, decide

TICK = Cause("tick-1796580000", "job-failed", "attempt 1 failed (memory): MemoryError")


@pytest.fixture
def running_train(session):
    """A train composed, tested and submitted through the domain, with 4 jobs."""
    w = make_world(session)
    wagon = wagons.create_wagon(session, w.actor(w.alice), w.lf.id, name="w", workflow="tree-maker")
    enabling.enable_wagon(session, w.actor(w.alice), wagon.id, w.dataset.id)
    test = enabling.current_test(session, wagon.id, w.dataset.id)
    enabling.finish_test(session, test.id, TestStatus.DONE)
    train = trains.compose_train(
        session, w.actor(w.operator), w.dataset.id, [wagon.id], target_id=w.target.id
    )
    trains.start_test(session, train.id)
    trains.finish_test(session, train.id, TestStatus.DONE)
    trains.submit_train(session, w.actor(w.operator), train.id)
    split = Cause("tick-1796579990", "split", f"train run {train.id} split into jobs")
    specs = [jobs.JobSpec(544013, (f"/data/{i}/AO2D.root",)) for i in range(4)]
    jobs.add_jobs(session, train.id, specs, cause=split)
    session.flush()
    return w, train, test


def _ids(session, train_id: int) -> list[int]:
    return list(session.scalars(select(Job.id).where(Job.train_run_id == train_id)))


def test_the_cause_is_a_required_argument_of_every_move():
    job = Job(id=1, state=JobState.WAITING, attempts=0)
    with pytest.raises(TypeError, match="cause"):
        transition(job, JobState.RUNNING, actor=None)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="cause"):
        jobs.set_job_state(None, 1, JobState.RUNNING)  # type: ignore[call-arg,arg-type]
    with pytest.raises(TypeError, match="cause"):
        jobs.JobMoves(None).move(1, JobState.RUNNING)  # type: ignore[call-arg,arg-type]


def test_wagon_test_and_train_stories_tell_each_state_with_its_cause_and_user(
    session, running_train
):
    w, train, test = running_train
    steps = story.story(session, "wagon_test", test.id)
    assert [(s.from_state, s.state) for s in steps] == [
        (None, "queued"),
        ("queued", "running"),
        ("running", "done"),
    ]
    assert steps[0].stimulus == "user" and steps[0].cause == "enable"
    assert steps[0].actor == w.alice.username and "enabled on dataset" in steps[0].reason

    steps = story.story(session, "train_run", train.id)
    assert [(s.from_state, s.state, s.cause) for s in steps] == [
        (None, "composed", "compose"),
        ("composed", "testing", "test-started"),
        ("testing", "test_done", "test-finished"),
        ("test_done", "submitted", "submit"),
    ]
    assert steps[-1].actor == w.operator.username
    assert [s.at for s in steps] == sorted(s.at for s in steps)

    trains.kill_train(session, w.actor(w.operator), train.id, reason="wrong dataset")
    last = story.story(session, "train_run", train.id)[-1]
    assert (last.state, last.stimulus, last.cause, last.reason, last.actor) == (
        "killed",
        "user",
        "killed",
        "wrong dataset",
        w.operator.username,
    )


def test_single_and_bulk_job_moves_write_the_same_story(session, running_train):
    _, train, _ = running_train
    single, bulk = _ids(session, train.id)[:2]
    jobs.set_job_state(session, single, JobState.RUNNING, cause=TICK)
    jobs.set_job_state(session, single, JobState.EXECUTION_ERROR, cause=TICK)
    moves = jobs.JobMoves(session)
    moves.move(bulk, JobState.RUNNING, cause=TICK)
    moves.move(bulk, JobState.EXECUTION_ERROR, cause=TICK)
    assert not story.story(session, "job", bulk)[1:]  # written at flush(), not before
    moves.flush()
    session.flush()
    told = {
        j: [
            (s.from_state, s.state, s.stimulus, s.cause, s.reason)
            for s in story.story(session, "job", j)
        ]
        for j in (single, bulk)
    }
    assert told[single] == told[bulk]
    assert told[bulk] == [
        (None, "waiting", "tick-1796579990", "split", f"train run {train.id} split into jobs"),
        ("waiting", "running", *TICK.label.split(":"), TICK.text),
        ("running", "execution_error", *TICK.label.split(":"), TICK.text),
    ]


def test_an_illegal_bulk_move_records_nothing(session, running_train):
    _, train, _ = running_train
    job_id = _ids(session, train.id)[0]
    moves = jobs.JobMoves(session)
    with pytest.raises(IllegalTransition):
        moves.move(job_id, JobState.DONE, cause=TICK)  # waiting -> done is not a move
    moves.flush()
    assert [s.state for s in story.story(session, "job", job_id)] == ["waiting"]


def test_thousands_of_bulk_moves_are_all_recorded_in_the_transaction(session, running_train):
    _, train, _ = running_train
    specs = [jobs.JobSpec(544014, (f"/more/{i}.root",)) for i in range(6000)]
    jobs.add_jobs(session, train.id, specs, cause=TICK)
    ids = _ids(session, train.id)
    moves = jobs.JobMoves(session)
    moves.load(ids)
    for job_id in ids:
        moves.move(job_id, JobState.RUNNING, cause=TICK)
    moves.flush()
    count = select(func.count()).select_from(Transition)
    of_train = count.where(Transition.train_run_id == train.id, Transition.object_kind == "job")
    assert session.scalar(of_train.where(Transition.to_state == "running")) == len(ids)
    assert session.scalar(of_train.where(Transition.from_state.is_(None))) == len(ids)
    summary = {
        (r["from_state"], r["state"], r["cause"]): r["count"]
        for r in story.jobs_summary(session, train.id)
    }
    assert summary[("waiting", "running", "job-failed")] == len(ids)
    assert summary[(None, "waiting", "split")] == 4


def test_resubmission_by_an_operator_names_them(session, running_train):
    w, train, _ = running_train
    job_id = _ids(session, train.id)[0]
    jobs.set_job_state(session, job_id, JobState.RUNNING, cause=TICK)
    jobs.set_job_state(session, job_id, JobState.LOST, cause=TICK)
    assert jobs.resubmit_failed(session, w.actor(w.operator), train.id, max_attempts=None) == 1
    last = story.story(session, "job", job_id)[-1]
    assert (last.state, last.stimulus, last.cause, last.actor) == (
        "waiting",
        "user",
        "resubmit",
        w.operator.username,
    )


def test_no_story_for_an_unknown_kind(session):
    with pytest.raises(Exception, match="no story for 'wagon'"):
        story.story(session, "wagon", 1)


def test_the_scheduler_decisions_carry_their_reasons():
    now = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)
    job = decide.JobView(id=5, run=1, state=JobState.RUNNING, attempts=1, target="small")
    train = decide.TrainView(
        id=2, state=decide.TrainState.RUNNING, target="small", jobs=(job,), split=True
    )
    snap = decide.Snapshot(now=now, trains=(train,), engine_keys=frozenset({("job", 5)}))
    failed = decide.JobFinished(5, attempt=1, error_kind="memory", message="MemoryError: 2 GB")
    out = decide.decide(snap, [failed])
    finish = next(i for i in out if isinstance(i, decide.FinishJob))
    retry = next(i for i in out if isinstance(i, decide.ResubmitJob))
    assert finish.why == "attempt 1 failed (memory): MemoryError: 2 GB"
    cause = causes.cause_of(finish, now)
    assert (cause.stimulus, cause.kind) == (f"tick-{int(now.timestamp())}", "job-failed")
    assert cause.text == finish.why
    cause = causes.cause_of(retry, now)
    assert cause.kind == "retry" and cause.text.startswith("automatic retry after memory")
    # the reason is not part of the decision's identity: tests compare decisions
    assert finish == decide.FinishJob(5, JobState.EXECUTION_ERROR, "MemoryError: 2 GB")


def _job_rows(session, train_id: int) -> int:
    of_train = select(func.count()).where(
        Transition.train_run_id == train_id, Transition.object_kind == "job"
    )
    return session.scalar(of_train)


def test_pruning_deletes_old_ended_stories_and_keeps_the_train_summary(session, running_train):
    w, train, test = running_train
    ids = _ids(session, train.id)
    for job_id in ids:
        jobs.set_job_state(session, job_id, JobState.RUNNING, cause=TICK)
    jobs.set_job_state(session, ids[0], JobState.EXECUTION_ERROR, cause=TICK)
    jobs.set_job_state(session, ids[0], JobState.WAITING, cause=TICK)
    jobs.set_job_state(session, ids[0], JobState.RUNNING, cause=TICK)
    done = Cause("tick-1796580100", "job-done", "attempt finished")
    for job_id in ids:
        jobs.set_job_state(session, job_id, JobState.DONE, cause=done)
    transition(train, TrainState.RUNNING, actor=None, cause=TICK)
    transition(train, TrainState.DONE, actor=None, cause=done)
    # still going: a second wagon's test (queued) and a running train with one job
    other = wagons.create_wagon(session, w.actor(w.bob), w.hf.id, name="h", workflow="tree-maker")
    enabling.enable_wagon(session, w.actor(w.bob), other.id, w.dataset.id)
    queued = enabling.current_test(session, other.id, w.dataset.id)
    running = TrainRun(
        dataset_id=w.dataset.id, tag_id=w.tag.id, target_id=w.target.id, state=TrainState.RUNNING
    )
    session.add(running)
    session.flush()
    jobs.add_jobs(session, running.id, [jobs.JobSpec(544013, ("/r.root",))], cause=TICK)
    session.flush()
    summary = story.jobs_summary(session, train.id)
    own = story.story(session, "train_run", train.id)
    queued_story = story.story(session, "wagon_test", queued.id)
    job_rows = _job_rows(session, train.id)
    assert job_rows == 4 * 3 + 3  # created, running, done each; one failure and its retry
    assert [(m["from_state"], m["state"], m["count"]) for m in summary][-1] == (
        "running",
        "done",
        4,
    )

    # the train ended and the test finished just at the cut-off: nothing is old enough yet
    cut = min(train.finished_at, test.finished_at)
    assert story.prune(session, cut, 100) == 0

    later = max(train.finished_at, test.finished_at) + timedelta(seconds=1)
    batches = []
    while pruned := story.prune(session, later, 4):  # a bounded batch per call
        batches.append(pruned)
        # part pruned, part not: the moves are counted once either way
        assert story.jobs_summary(session, train.id) == summary
    assert max(batches) == 4 and sum(batches) == job_rows + 3  # + the test's three
    assert _job_rows(session, train.id) == 0
    assert story.story(session, "job", ids[0]) == []
    assert story.story(session, "wagon_test", test.id) == []
    assert story.jobs_summary(session, train.id) == summary  # counted as before
    assert story.story(session, "train_run", train.id) == own
    assert story.story(session, "wagon_test", queued.id) == queued_story
    assert _job_rows(session, running.id) == 1
