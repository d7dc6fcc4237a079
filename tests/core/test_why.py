""" "Why am I waiting?" (hyperloop.readmodels.why): the one-sentence reasons of wagon tests,
jobs and train runs in many situations (pure functions of facts), and the facts read from a
database world."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from tests.factories import make_world

from hyperloop.core import enabling, jobs, trains, wagons
from hyperloop.core.errors import NotFound
from hyperloop.core.story import Cause
from hyperloop.db.models import Job
from hyperloop.enums import AutoComposeType, JobState, TestStatus, TrainState
from hyperloop.readmodels.why import (
    Composition,
    JobFacts,
    Retrying,
    Settings,
    TrainFacts,
    WagonTestFacts,
    job_reason,
    job_why,
    next_slot,
    train_reason,
    train_why,
    wagon_test_reason,
    wagon_test_why,
)
from hyperloop.settings import Settings as AppSettings

# a Sunday, 12:00 UTC
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
CFG = Settings(max_running_tests=1, test_target="test", test_target_cores=1, max_attempts=3)


def _test(status: TestStatus = TestStatus.QUEUED, **kw) -> WagonTestFacts:
    return WagonTestFacts(id=7, status=status, now=NOW, **kw)


# --------------------------------------------------------------------------- wagon tests


def test_queued_behind_tests_with_an_estimate():
    r = wagon_test_reason(_test(ahead=3, running=1, typical_s=60.0), CFG)
    assert r.text == (
        "queued behind 3 tests on the 1-core test target 'test' (1 at a time), "
        "expected start in ~4 min"
    )
    assert r.waiting_for == "test-slot"
    assert r.expected_at == NOW + timedelta(minutes=4)


def test_queued_estimate_counts_parallel_slots():
    cfg = Settings(max_running_tests=4)
    r = wagon_test_reason(_test(ahead=6, running=4, typical_s=120.0), cfg)
    # 7 tests (6 ahead + this one) through 4 slots all busy: two rounds of ~2 min
    assert "expected start in ~4 min" in r.text
    assert r.expected_at == NOW + timedelta(minutes=4)


def test_queued_without_history_says_no_estimate():
    r = wagon_test_reason(_test(ahead=2, running=1), CFG)
    assert "queued behind 2 tests" in r.text and "no finished test yet" in r.text
    assert r.expected_at is None


def test_queued_with_a_free_slot_starts_next_tick():
    r = wagon_test_reason(_test(ahead=0, running=0, typical_s=60.0), CFG)
    assert r.text.startswith("a test slot is free on the 1-core test target 'test'")
    assert r.waiting_for == "scheduler"


def test_queued_waiting_for_pull_request_tag():
    r = wagon_test_reason(_test(tagless=True, pull_request="1234"), CFG)
    assert "pull request 1234" in r.text and r.waiting_for == "tag"


def test_queued_waiting_for_any_tag():
    r = wagon_test_reason(_test(tagless=True), CFG)
    assert r.waiting_for == "tag" and "tag policy" in r.text


def test_running_names_typical_duration():
    start = NOW - timedelta(minutes=1)
    r = wagon_test_reason(_test(TestStatus.RUNNING, started_at=start, typical_s=300.0), CFG)
    assert r.text == (
        "running on the 1-core test target 'test' since 11:59 UTC; recent tests took ~5 min"
    )
    assert r.expected_at == NOW + timedelta(minutes=4)


def test_failed_test_waits_for_nothing():
    r = wagon_test_reason(_test(TestStatus.FAILED, error="KeyError: 'pt'"), CFG)
    assert r.text.startswith("test failed: KeyError: 'pt'") and r.waiting_for == "nothing"


def test_superseded():
    r = wagon_test_reason(_test(TestStatus.DONE, superseded=True), CFG)
    assert "superseded" in r.text


def test_done_waiting_for_the_composition_slot():
    comp = Composition(AutoComposeType.SCHEDULED, days=(1,), times=("14:00",))
    r = wagon_test_reason(_test(TestStatus.DONE, composition=comp), CFG)
    assert r.text == "test done, waiting for the Tuesday 14:00 composition slot"
    assert r.waiting_for == "composition"
    assert r.expected_at == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)


def test_done_slot_today_later():
    comp = Composition(AutoComposeType.BOTH, days=(6,), times=("09:00", "18:30"))
    r = wagon_test_reason(_test(TestStatus.DONE, composition=comp), CFG)
    assert "Sunday 18:30 composition slot (or earlier, when the wagons fill a train)" in r.text


def test_done_train_full_only():
    comp = Composition(AutoComposeType.TRAIN_FULL)
    r = wagon_test_reason(_test(TestStatus.DONE, composition=comp), CFG)
    assert "fill a train" in r.text and r.waiting_for == "composition"


def test_done_without_automatic_composition_waits_for_operator():
    r = wagon_test_reason(_test(TestStatus.DONE), CFG)
    assert r.text == (
        "test done, waiting for an operator to compose a train "
        "(the dataset has no automatic composition)"
    )
    assert r.waiting_for == "operator"


def test_warning_is_not_composed_automatically():
    comp = Composition(AutoComposeType.SCHEDULED, days=(1,), times=("14:00",))
    r = wagon_test_reason(_test(TestStatus.WARNING, warnings=("3", "5"), composition=comp), CFG)
    assert r.text.startswith("test ended with warnings (3, 5): automatic composition takes only")
    assert r.waiting_for == "operator"


def test_derived_data_waits_for_an_operator_schedule():
    comp = Composition(AutoComposeType.SCHEDULED, days=(1,), times=("14:00",))
    r = wagon_test_reason(_test(TestStatus.DONE, derived=True, composition=comp), CFG)
    assert "operator schedules it" in r.text
    scheduled = _test(TestStatus.DONE, derived=True, scheduled=True, composition=comp)
    assert "Tuesday 14:00" in wagon_test_reason(scheduled, CFG).text


def test_done_and_in_a_train():
    r = wagon_test_reason(_test(TestStatus.DONE, train=(12, TrainState.TEST_DONE)), CFG)
    assert r.text == "test done; in train run 12 (test done)"


def test_done_but_disabled():
    r = wagon_test_reason(_test(TestStatus.DONE, enabled=False), CFG)
    assert "no longer enabled" in r.text


def test_next_slot_wraps_the_week():
    assert next_slot((6,), ("11:00",), NOW) == datetime(2026, 12, 13, 11, 0, tzinfo=UTC)
    assert next_slot((), ("11:00",), NOW) is None


# --------------------------------------------------------------------------- jobs


def _job(state: JobState, **kw) -> JobFacts:
    return JobFacts(id=5, state=state, now=NOW, target="small", **kw)


def test_job_retrying_after_a_memory_kill():
    reason = (
        "automatic retry after memory in attempt 1, on target big with more memory per job "
        "(8000 MB instead of 2000 MB)"
    )
    r = job_reason(
        JobFacts(
            id=5,
            state=JobState.WAITING,
            now=NOW,
            attempts=1,
            target="big",
            last_cause="retry",
            last_reason=reason,
        ),
        CFG,
    )
    assert (
        r.text
        == f"{reason}; attempt 2 of 3 is submitted on target 'big' at the next scheduler tick"
    )
    assert r.waiting_for == "retry"


def test_job_queued_in_the_engine():
    r = job_reason(_job(JobState.RUNNING, attempts=1, ahead=3), CFG)
    assert r.text == "queued in the engine behind 3 jobs on target 'small'"
    assert r.waiting_for == "engine"


def test_job_running_on_a_site():
    r = job_reason(_job(JobState.RUNNING, attempts=2, site="worker-0"), CFG)
    assert r.text == "running on worker-0 (attempt 2 of 3, target 'small')"


def test_job_failed_for_good():
    r = job_reason(_job(JobState.EXECUTION_ERROR, attempts=3, error="segfault"), CFG)
    assert r.text.startswith("execution error after 3 attempts (the most allowed): segfault")
    assert r.waiting_for == "operator"


def test_job_input_error_is_not_retried():
    r = job_reason(_job(JobState.EXECUTION_ERROR, attempts=1, error="truncated file"), CFG)
    assert "not retried automatically" in r.text


def test_job_done_and_waiting_first_submission():
    assert job_reason(_job(JobState.DONE, attempts=1), CFG).waiting_for == "nothing"
    r = job_reason(_job(JobState.WAITING), CFG)
    assert r.text == "waiting to be submitted on target 'small' at the next scheduler tick"


# --------------------------------------------------------------------------- trains


def _train(state: TrainState, **kw) -> TrainFacts:
    return TrainFacts(id=9, state=state, now=NOW, **kw)


@pytest.mark.parametrize(
    ("state", "kw", "text", "waiting_for"),
    [
        (TrainState.COMPOSED, {}, "composed: its train test starts", "scheduler"),
        (
            TrainState.TEST_DONE,
            {},
            "train test done, waiting for an operator to submit it",
            "operator",
        ),
        (TrainState.TEST_DONE, {"auto_submit": True}, "submitted automatically", "scheduler"),
        (TrainState.TEST_WARNING, {"warnings": ("1",)}, "with warnings (1)", "operator"),
        (TrainState.TEST_FAILED, {"error": "boom"}, "train test failed: boom", "operator"),
        (TrainState.LONG_TRAIN_APPROVED, {}, "long train approved", "operator"),
        (TrainState.SUBMITTED, {}, "split into jobs at the next", "scheduler"),
        (TrainState.MERGING, {}, "final merge running", "merge"),
        (TrainState.DONE, {}, "done: nothing to wait for", "nothing"),
        (TrainState.KILLED, {"last_reason": "killed by op"}, "killed (killed by op)", "nothing"),
    ],
)
def test_train_states(state, kw, text, waiting_for):
    r = train_reason(_train(state, **kw), CFG)
    assert text in r.text and r.waiting_for == waiting_for


def test_train_long_request_expiry():
    at = NOW - timedelta(days=1)
    r = train_reason(_train(TrainState.LONG_TRAIN_REQUESTED, requested_at=at), CFG)
    assert r.waiting_for == "approval" and r.expected_at == at + timedelta(days=14)


def test_train_testing_names_the_test_target():
    r = train_reason(_train(TrainState.TESTING, test_started_at=NOW, typical_test_s=120.0), CFG)
    assert r.text == (
        "train test running on the 1-core test target 'test' since 12:00 UTC; "
        "recent tests took ~2 min"
    )


def test_train_jobs_retrying_after_memory_kills():
    r = train_reason(
        _train(
            TrainState.RUNNING,
            split=True,
            slow=True,
            jobs={JobState.DONE: 6, JobState.WAITING: 2, JobState.RUNNING: 1},
            retrying=(Retrying("memory", "8GB", 2),),
            open_runs={523308: 2, 523309: 1},
        ),
        CFG,
    )
    assert r.text == (
        "2 jobs retrying after memory kills, next attempt on the '8GB' target "
        "(6 of 9 jobs done, 1 running, 2 waiting for submission)"
    )
    assert r.waiting_for == "retry"


def test_train_merge_waits_for_one_runs_last_job():
    r = train_reason(
        _train(
            TrainState.RUNNING,
            split=True,
            slow=True,
            jobs={JobState.DONE: 8, JobState.RUNNING: 1},
            open_runs={523310: 1},
            runs_merged=2,
        ),
        CFG,
    )
    assert r.text == "8 of 9 jobs done; the merge waits for run 523310's last job"
    assert r.waiting_for == "jobs"


def test_train_jobs_running_and_queued_express():
    r = train_reason(
        _train(
            TrainState.RUNNING,
            split=True,
            jobs={JobState.DONE: 10, JobState.RUNNING: 5, JobState.WAITING: 5},
            queued_in_engine=3,
            open_runs={1: 4, 2: 6},
        ),
        CFG,
    )
    assert r.text == (
        "10 of 20 jobs done, 2 running, 3 queued in the engine, 5 waiting for submission; "
        "the final merge starts after 10 more jobs"
    )


def test_train_failed_jobs_wait_for_an_operator():
    r = train_reason(
        _train(
            TrainState.RUNNING,
            split=True,
            jobs={JobState.DONE: 3, JobState.EXECUTION_ERROR: 2},
            open_runs={1: 2},
        ),
        CFG,
    )
    assert "3 of 5 jobs done, 2 failed after all retries" in r.text
    assert r.waiting_for == "operator"


def test_train_all_done_waits_for_run_merges():
    r = train_reason(
        _train(TrainState.RUNNING, split=True, jobs={JobState.DONE: 4}, runs_merged=1), CFG
    )
    assert r.waiting_for == "merge" and "(1 of 1 merged)" in r.text


def test_train_flagged_with_issues():
    r = train_reason(_train(TrainState.MERGING, flagged="final merge failed: disk full"), CFG)
    assert r.text == "final merge failed: disk full: waiting for an operator"


def test_job_resubmitted_after_a_memory_kill_waits_in_the_engine():
    reason = "automatic retry after memory in attempt 1, on target big with more memory"
    r = job_reason(
        _job(JobState.RUNNING, attempts=2, ahead=0, last_cause="retry", last_reason=reason),
        CFG,
    )
    assert r.text == (
        f"{reason}; queued in the engine on target 'small': starts when a worker is free "
        "(attempt 2 of 3)"
    )
    assert r.waiting_for == "retry"


# --------------------------------------------------------------------------- read from a world


@pytest.fixture
def submitted(session):
    """A train composed, tested and submitted through the domain, with 4 jobs of one run."""
    w = make_world(session)
    alice = w.actor(w.alice)
    wagon = wagons.create_wagon(session, alice, w.lf.id, name="w", workflow="tree-maker")
    enabling.enable_wagon(session, alice, wagon.id, w.dataset.id)
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
    ids = sorted(session.scalars(select(Job.id).where(Job.train_run_id == train.id)))
    return w, train, test, ids


def test_reasons_read_from_the_database(session, submitted, tmp_path):
    w, train, test, (retried, done, queued, waiting) = submitted
    settings = AppSettings(data_dir=tmp_path, scheduler_test_target=w.target.name)
    tick = Cause("tick-1796580000", "job-submitted", "submitted")
    failed = Cause("tick-1796580010", "job-failed", "attempt 1 failed (memory): MemoryError")
    retry_text = "automatic retry after memory in attempt 1, on target big with more memory"
    retry = Cause("tick-1796580010", "retry", retry_text)
    for job_id in (retried, done, queued):
        jobs.set_job_state(session, job_id, JobState.RUNNING, cause=tick)
    jobs.set_job_state(session, retried, JobState.EXECUTION_ERROR, cause=failed)
    jobs.set_job_state(session, retried, JobState.WAITING, cause=retry)
    jobs.set_job_state(session, retried, JobState.RUNNING, cause=retry).target = "big"
    jobs.set_job_fields(session, done, site="node1")
    jobs.set_job_state(session, done, JobState.DONE, cause=tick)
    session.flush()

    told = train_why(session, train.id, settings)
    assert told.reason.text == (
        "1 job retrying after memory kills, next attempt on the 'big' target "
        "(1 of 4 jobs done, 0 running, 2 queued in the engine, 1 waiting for submission; "
        "the final merge starts after 3 more jobs)"
    )
    assert told.state == "submitted"
    assert [s.state for s in told.steps][-1] == told.state

    assert job_why(session, retried, settings).reason.text == (
        f"{retry_text}; queued in the engine on target 'big': starts when a worker is free "
        "(attempt 2 of 3)"
    )
    behind = job_why(session, queued, settings)
    assert behind.reason.text == f"queued in the engine behind 1 job on target '{w.target.name}'"
    assert [s.cause for s in behind.steps] == ["split", "job-submitted"]

    # the wagon test is done and in this train
    assert wagon_test_why(session, test.id, settings).reason.text == (
        f"test done; in train run {train.id} (submitted)"
    )
    with pytest.raises(NotFound, match="job 999999"):
        job_why(session, 999999, settings)
