"""The scheduler's decisions, asserted as the exact instructions the core returns."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hyperloop.core.assessment import GB, MB, DatasetSize, SampleFacts, evaluate
from hyperloop.enums import JobState, TestStatus, TrainState
from hyperloop.grid.targets import Target
from hyperloop.scheduler.decide import (
    AutoSubmit,
    CleanStaleTests,
    FinalMerged,
    FinishJob,
    FinishTrainTest,
    FinishWagonTest,
    FlagTrainWithIssues,
    JobFinished,
    JobNotStarted,
    JobView,
    MarkLost,
    MarkTrainDone,
    Notify,
    RequeueLost,
    ResubmitJob,
    ReturnToQueue,
    RunMerged,
    SchedulerConfig,
    Snapshot,
    SplitFailed,
    SplitTrain,
    StartFinalMerge,
    StartRunMerge,
    StartTrainTest,
    StartWagonTest,
    SubmitJob,
    TestFinished,
    TestView,
    TrainView,
    decide,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
J = JobState
TARGETS = {
    "small": Target("small", cores=1, memory_limit_bytes=2 * GB),
    "big": Target("big", cores=1, memory_limit_bytes=8 * GB),
}
DATASET = DatasetSize(bytes=1000 * GB, files=2000, cpu_limit_hours=100_000, files_per_job=10)


def summary(avg=1.0 * GB):
    return {
        "__full_train__": {
            "cpu": 100.0,
            "wall": 120.0,
            "proportionalSetSize_summary": {"avg": avg, "max": avg * 1.1},
            "aod-bytes-read-compressed": 1.0 * GB,
        }
    }


def snap(**kw):
    """A snapshot whose stale-test cleaning is not due, so only the case under test shows."""
    kw.setdefault("last_stale_clean", NOW)
    kw.setdefault("targets", TARGETS)
    return Snapshot(now=NOW, **kw)


def jobs(*specs):
    """specs: (id, run, state[, attempts])."""
    return tuple(
        JobView(i, run, st, rest[0] if rest else 1, "small") for i, run, st, *rest in specs
    )


def train(state, **kw):
    kw.setdefault("target", "small")
    return TrainView(id=7, state=state, **kw)


def running_keys(*job_ids):
    return frozenset(("job", i) for i in job_ids)


# ---------------------------------------------------------------- wagon tests


def test_queued_wagon_tests_start_up_to_the_concurrency_limit():
    tests = tuple(TestView(i, TestStatus.QUEUED) for i in (3, 1, 2))
    cfg = SchedulerConfig(max_running_tests=2)
    assert decide(snap(tests=tests), cfg=cfg) == [StartWagonTest(1), StartWagonTest(2)]


def test_running_tests_known_to_the_engine_count_against_the_limit():
    tests = (TestView(1, TestStatus.RUNNING), TestView(2, TestStatus.QUEUED))
    s = snap(tests=tests, engine_keys=frozenset({("wagon_test", 1)}))
    assert decide(s, cfg=SchedulerConfig(max_running_tests=1)) == []


def test_a_finished_wagon_test_is_done_when_the_assessment_has_no_warning():
    ev = TestFinished(
        "wagon", 5, summary=summary(), facts=SampleFacts(output_bytes=MB), dataset=DATASET
    )
    expected, _ = evaluate(ev.summary, ev.facts, ev.dataset)
    out = decide(snap(tests=(TestView(5, TestStatus.RUNNING),)), [ev])
    assert out == [FinishWagonTest(5, TestStatus.DONE, (), expected, "")]


def test_a_finished_wagon_test_with_too_much_memory_ends_in_warning():
    ev = TestFinished(
        "wagon",
        5,
        summary=summary(avg=3.7 * GB),
        facts=SampleFacts(output_bytes=MB),
        dataset=DATASET,
    )
    expected, warnings = evaluate(ev.summary, ev.facts, ev.dataset)
    [out, notice] = decide(snap(tests=(TestView(5, TestStatus.RUNNING),)), [ev])
    assert out == FinishWagonTest(
        5, TestStatus.WARNING, tuple(w.to_json() for w in warnings), expected
    )
    assert [w["code"] for w in out.warnings] == ["memory"]
    message = "wagon test 5 ended with warnings: memory"
    assert notice == Notify("test_warning", message, "wagon_test", 5)


def test_a_crashed_wagon_test_fails_with_its_reason():
    ev = TestFinished("wagon", 5, error="ZeroDivisionError in task spectra")
    out = decide(snap(tests=(TestView(5, TestStatus.RUNNING),)), [ev])
    # finishing a test as failed notifies the enabler (enabling.finish_test)
    assert out == [FinishWagonTest(5, TestStatus.FAILED, error="ZeroDivisionError in task spectra")]


def test_a_test_without_usable_metrics_fails_naming_the_problem():
    ev = TestFinished("wagon", 5, summary={}, dataset=DATASET)
    [finish] = decide(snap(tests=(TestView(5, TestStatus.RUNNING),)), [ev])
    assert finish.status is TestStatus.FAILED
    assert "wagon test 5" in finish.error and "__full_train__" in finish.error


def test_stale_tests_are_cleaned_once_a_day():
    assert decide(Snapshot(now=NOW)) == [CleanStaleTests(NOW)]
    assert decide(Snapshot(now=NOW, last_stale_clean=NOW - timedelta(hours=2))) == []


# ---------------------------------------------------------------- train tests, submission


def test_a_composed_train_starts_its_test():
    assert decide(snap(trains=(train(TrainState.COMPOSED),))) == [StartTrainTest(7)]


def test_a_done_train_test_auto_submits():
    ev = TestFinished(
        "train", 7, summary=summary(), facts=SampleFacts(kind="train"), dataset=DATASET
    )
    expected, _ = evaluate(ev.summary, ev.facts, ev.dataset)
    s = snap(trains=(train(TrainState.TESTING, auto_submit=True),))
    assert decide(s, [ev]) == [FinishTrainTest(7, TestStatus.DONE, (), expected), AutoSubmit(7)]


def test_a_train_test_with_a_warning_is_not_auto_submitted():
    ev = TestFinished(
        "train", 7, summary=summary(avg=3.7 * GB), facts=SampleFacts(kind="train"), dataset=DATASET
    )
    out = decide(snap(trains=(train(TrainState.TESTING, auto_submit=True),)), [ev])
    assert [type(i) for i in out] == [FinishTrainTest, Notify]
    assert out[0].status is TestStatus.WARNING
    assert out[1].kind == "train_test_warning" and "memory" in out[1].message


def test_without_auto_submit_a_done_train_waits_for_the_operator():
    ev = TestFinished(
        "train", 7, summary=summary(), facts=SampleFacts(kind="train"), dataset=DATASET
    )
    out = decide(snap(trains=(train(TrainState.TESTING),)), [ev])
    assert [type(i) for i in out] == [FinishTrainTest]
    assert decide(snap(trains=(train(TrainState.TEST_DONE),))) == []


def test_a_test_done_auto_submit_train_left_by_a_restart_is_submitted():
    assert decide(snap(trains=(train(TrainState.TEST_DONE, auto_submit=True),))) == [AutoSubmit(7)]
    assert decide(snap(trains=(train(TrainState.TEST_WARNING, auto_submit=True),))) == []


def test_a_submitted_train_is_split_then_its_jobs_are_submitted():
    assert decide(snap(trains=(train(TrainState.SUBMITTED),))) == [SplitTrain(7)]
    t = train(
        TrainState.SUBMITTED, split=True, jobs=jobs((1, 100, J.WAITING, 0), (2, 101, J.WAITING, 0))
    )
    assert decide(snap(trains=(t,))) == [SubmitJob(1, "small"), SubmitJob(2, "small")]
    # already handed to the engine: nothing to do
    assert decide(snap(trains=(t,), engine_keys=running_keys(1, 2))) == []


def test_a_train_that_cannot_be_split_is_flagged_once_and_not_split_again_each_tick():
    """A catalogue file outside the storage roots: one flag and one notice naming the file,
    then nothing more until an operator acts (no error every tick)."""
    why = "'/elsewhere/AO2D.root' is outside the storage roots"
    got = decide(snap(trains=(train(TrainState.SUBMITTED),)), [SplitFailed(7, why)])
    message = f"train 7: cannot be split into jobs: {why}"
    assert got == [
        FlagTrainWithIssues(7, f"cannot be split into jobs: {why}"),
        Notify("train_issues", message, "train_run", 7),
    ]
    assert decide(snap(trains=(train(TrainState.SUBMITTED, flagged=True),))) == []


# ---------------------------------------------------------------- jobs and merges


def test_a_run_is_merged_as_soon_as_all_its_jobs_are_done():
    t = train(
        TrainState.RUNNING,
        split=True,
        jobs=jobs((1, 100, J.RUNNING), (2, 100, J.DONE), (3, 101, J.RUNNING)),
    )
    s = snap(trains=(t,), engine_keys=running_keys(1, 3))
    out = decide(s, [JobFinished(1, attempt=1, cpu_s=5.0, wall_s=6.0, site="w1")])
    assert out == [FinishJob(1, J.DONE, cpu_s=5.0, wall_s=6.0, site="w1"), StartRunMerge(7, 100)]
    # merge in progress: not started twice
    t2 = replace(
        t,
        jobs=jobs((1, 100, J.DONE), (2, 100, J.DONE), (3, 101, J.RUNNING)),
        runs_merging=frozenset({100}),
    )
    s2 = snap(trains=(t2,), engine_keys=running_keys(3))
    assert decide(s2) == []


def test_the_final_merge_starts_when_every_run_is_merged_then_the_train_is_done():
    t = train(
        TrainState.RUNNING,
        slow=True,
        split=True,
        jobs=jobs((1, 100, J.DONE), (2, 101, J.RUNNING)),
        runs_merged=frozenset({100}),
    )
    s = snap(trains=(t,), engine_keys=running_keys(2))
    assert decide(s, [JobFinished(2, attempt=1)]) == [FinishJob(2, J.DONE), StartRunMerge(7, 101)]
    t2 = replace(t, jobs=jobs((1, 100, J.DONE), (2, 101, J.DONE)), runs_merging=frozenset({101}))
    assert decide(snap(trains=(t2,)), [RunMerged(7, 101)]) == [StartFinalMerge(7, (100, 101), ())]
    merging = train(TrainState.MERGING, final_merge_started=True)
    assert decide(snap(trains=(merging,)), [FinalMerged(7)]) == [
        MarkTrainDone(7),
        Notify("train_done", "train 7 is done", "train_run", 7),
    ]


def test_an_express_train_finishes_without_the_last_two_percent_of_jobs():
    specs = [(i, 100 + i // 10, J.DONE) for i in range(1, 99)] + [
        (99, 109, J.RUNNING),
        (100, 109, J.RUNNING),
    ]
    merged = frozenset(range(100, 109))
    t = train(TrainState.RUNNING, split=True, jobs=jobs(*specs), runs_merged=merged)
    s = snap(trains=(t,), engine_keys=running_keys(99, 100))
    assert decide(s) == [StartFinalMerge(7, tuple(range(100, 109)), (109,))]
    # a slow train waits for them
    assert decide(replace(s, trains=(replace(t, slow=True),))) == []


def test_a_failed_job_is_resubmitted_with_the_reason_until_the_limit():
    t = train(TrainState.RUNNING, split=True, jobs=jobs((1, 100, J.RUNNING, 1)))
    s = snap(trains=(t,), engine_keys=running_keys(1))
    ev = JobFinished(1, attempt=1, error_kind="execution", message="boom", signature="E at a.py:f")
    assert decide(s, [ev]) == [
        FinishJob(1, J.EXECUTION_ERROR, "boom", "E at a.py:f"),
        ResubmitJob(1, "small", "automatic retry after execution in attempt 1"),
    ]
    # third attempt fails: no more retries, the train is flagged for the operator
    t3 = train(TrainState.RUNNING, split=True, jobs=jobs((1, 100, J.RUNNING, 3)))
    out = decide(snap(trains=(t3,), engine_keys=running_keys(1)), [replace(ev, attempt=3)])
    why = "1 of 1 jobs failed"
    assert out == [
        FinishJob(1, J.EXECUTION_ERROR, "boom", "E at a.py:f"),
        FlagTrainWithIssues(7, why),
        Notify("train_issues", f"train 7: {why}", "train_run", 7),
    ]
    # flagged once only
    flagged = replace(t3, jobs=jobs((1, 100, J.EXECUTION_ERROR, 3)), flagged=True)
    assert decide(snap(trains=(flagged,))) == []


def test_an_attempt_whose_future_raised_counts_against_the_limit():
    """Issue 17: a future that raised (disk full) came back as attempt 0, so the limit never
    applied (151 attempts in 3 minutes). The database's counter decides."""
    t3 = train(TrainState.RUNNING, split=True, jobs=jobs((1, 100, J.RUNNING, 3)))
    ev = JobFinished(1, attempt=0, error_kind="system", message="ENOSPC", signature="OSError")
    out = decide(snap(trains=(t3,), engine_keys=running_keys(1)), [ev])
    assert out[0] == FinishJob(1, J.EXECUTION_ERROR, "ENOSPC", "OSError")
    assert not any(isinstance(i, ResubmitJob) for i in out)
    assert isinstance(out[1], FlagTrainWithIssues)


def test_an_input_error_is_not_retried():
    """A truncated file stays truncated: no automatic retry (an operator resubmits)."""
    t = train(TrainState.RUNNING, split=True, jobs=jobs((1, 100, J.RUNNING, 1)))
    ev = JobFinished(1, attempt=1, error_kind="input", message="truncated", signature="T")
    out = decide(snap(trains=(t,), engine_keys=running_keys(1)), [ev])
    assert out[0] == FinishJob(1, J.EXECUTION_ERROR, "truncated", "T")
    assert not any(isinstance(i, ResubmitJob) for i in out)


def test_a_job_whose_attempt_never_began_returns_to_the_queue():
    t = train(TrainState.RUNNING, split=True, jobs=jobs((1, 100, J.RUNNING, 3)))
    out = decide(snap(trains=(t,)), [JobNotStarted(1, "never began")])
    assert out == [ReturnToQueue(1, "never began")]


def test_a_memory_killed_job_moves_to_a_target_with_more_memory():
    t = train(TrainState.RUNNING, split=True, jobs=jobs((1, 100, J.RUNNING, 1)))
    s = snap(trains=(t,), engine_keys=running_keys(1))
    out = decide(s, [JobFinished(1, attempt=1, error_kind="memory", message="PSS over 2 GB")])
    assert out == [
        FinishJob(1, J.EXECUTION_ERROR, "PSS over 2 GB"),
        ResubmitJob(
            1,
            "big",
            "automatic retry after memory in attempt 1, on target big with more memory "
            "per job (8000 MB instead of 2000 MB)",
        ),
    ]


def test_a_few_failures_in_a_large_train_do_not_flag_it_while_jobs_run():
    specs = [(i, 100, J.RUNNING) for i in range(1, 11)] + [(11, 101, J.EXPIRED, 3)]
    t = train(TrainState.RUNNING, split=True, jobs=jobs(*specs))
    assert decide(snap(trains=(t,), engine_keys=running_keys(*range(1, 11)))) == []


# ---------------------------------------------------------------- reconciliation after restart


def test_after_a_restart_running_jobs_unknown_to_the_engine_are_lost_and_requeued():
    t = train(
        TrainState.RUNNING,
        split=True,
        jobs=jobs(
            (1, 100, J.RUNNING, 1),
            (2, 100, J.RUNNING, 1),
            (3, 100, J.RUNNING, 3),
            (4, 101, J.RUNNING, 1),
            (5, 101, J.RUNNING, 1),
        ),
    )
    out = decide(snap(trains=(t,), engine_keys=running_keys(2, 4, 5)))
    why1 = "job 1 was running but the engine does not know it (restart?)"
    why3 = "job 3 was running but the engine does not know it (restart?)"
    assert out == [
        MarkLost("job", 1, why1),
        RequeueLost("job", 1, why1, "small"),
        MarkLost("job", 3, why3),  # out of attempts: stays lost
    ]


def test_after_a_restart_lost_tests_are_requeued():
    tests = (TestView(1, TestStatus.RUNNING),)
    s = snap(tests=tests, trains=(train(TrainState.TESTING),))
    assert decide(s) == [
        RequeueLost("wagon_test", 1, "wagon test 1 was running but the engine does not know it"),
        RequeueLost("train_test", 7, "train test 7 was running but the engine does not know it"),
    ]
