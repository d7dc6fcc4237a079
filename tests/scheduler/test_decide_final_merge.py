"""The operator's final merge in the pure core: once requested, the complete runs are merged
and the others listed missing; no job is submitted or retried any more, running jobs are
ignored (their runs are missing), and a restart during the merge redoes it."""

from __future__ import annotations

from dataclasses import replace

from tests.scheduler.test_decide import jobs, running_keys, snap, train

from hyperloop.enums import JobState, TrainState
from hyperloop.scheduler.decide import (
    FinalMerged,
    FinishJob,
    FlagTrainWithIssues,
    JobFinished,
    MarkLost,
    MarkTrainDone,
    Notify,
    ResubmitJob,
    StartFinalMerge,
    StartRunMerge,
    SubmitJob,
    decide,
)

J = JobState


def stuck_train(**kw):
    """A slow train with issues: run 100 done and merged, run 101's job failed for good,
    run 102 has a job still running and one never submitted."""
    kw.setdefault("runs_merged", frozenset({100}))
    return train(
        TrainState.RUNNING,
        slow=True,
        split=True,
        flagged=True,
        jobs=jobs(
            (1, 100, J.DONE),
            (2, 100, J.DONE),
            (3, 101, J.EXECUTION_ERROR, 3),
            (4, 102, J.RUNNING),
            (5, 102, J.WAITING),
        ),
        **kw,
    )


def test_without_a_request_a_train_with_issues_waits_for_the_operator():
    t = stuck_train()
    # only the waiting job is submitted; nothing is merged finally
    assert decide(snap(trains=(t,), engine_keys=running_keys(4))) == [SubmitJob(5, "small")]


def test_a_requested_final_merge_merges_the_complete_runs_and_lists_the_missing_ones():
    t = stuck_train(final_merge_requested=True)
    out = decide(snap(trains=(t,), engine_keys=running_keys(4)))
    # the waiting job is not submitted; the running one is ignored (its run is missing)
    assert out == [StartFinalMerge(7, (100,), (101, 102))]


def test_complete_runs_are_merged_per_run_before_the_requested_final_merge():
    t = stuck_train(final_merge_requested=True, runs_merged=frozenset())
    assert decide(snap(trains=(t,), engine_keys=running_keys(4))) == [StartRunMerge(7, 100)]
    merging = replace(t, runs_merging=frozenset({100}))
    assert decide(snap(trains=(merging,), engine_keys=running_keys(4))) == []


def test_no_retry_or_requeue_after_the_request():
    t = stuck_train(final_merge_requested=True)
    # the running job fails: recorded, not retried; the final merge goes ahead without it
    ev = JobFinished(4, attempt=1, error_kind="execution", message="boom", signature="E")
    out = decide(snap(trains=(t,)), [ev])
    assert out == [
        FinishJob(4, J.EXECUTION_ERROR, "boom", "E"),
        StartFinalMerge(7, (100,), (101, 102)),
    ]
    # without the request the same failure is retried
    plain = decide(snap(trains=(replace(t, final_merge_requested=False),)), [ev])
    assert any(isinstance(i, ResubmitJob) for i in plain)
    # after a restart the engine does not know job 4: lost, not requeued
    out = decide(snap(trains=(t,)))
    why = "job 4 was running but the engine does not know it (restart?)"
    assert out == [MarkLost("job", 4, why), StartFinalMerge(7, (100,), (101, 102))]


def test_a_job_finishing_in_the_same_step_completes_its_run():
    t = replace(
        stuck_train(final_merge_requested=True),
        jobs=jobs(
            (1, 100, J.DONE), (2, 100, J.DONE), (3, 101, J.EXECUTION_ERROR, 3), (4, 102, J.RUNNING)
        ),
    )
    out = decide(snap(trains=(t,), engine_keys=running_keys(4)), [JobFinished(4, attempt=1)])
    # run 102 is now complete: merged first, the final merge waits for it
    assert out == [FinishJob(4, J.DONE), StartRunMerge(7, 102)]


def test_a_requested_final_merge_without_any_complete_run_flags_the_train_once():
    t = train(
        TrainState.RUNNING,
        split=True,
        final_merge_requested=True,
        jobs=jobs((1, 100, J.DONE), (2, 100, J.EXECUTION_ERROR, 3)),
    )
    why = "final merge requested but no run has all its jobs done"
    assert decide(snap(trains=(t,))) == [
        FlagTrainWithIssues(7, why),
        Notify("train_issues", f"train 7: {why}", "train_run", 7),
    ]
    assert decide(snap(trains=(replace(t, flagged=True),))) == []


def test_a_restart_during_the_requested_final_merge_redoes_it_then_the_train_is_done():
    t = replace(
        stuck_train(final_merge_requested=True, runs_merged=frozenset()),
        state=TrainState.MERGING,
        flagged=False,  # the shell reports a merging train flagged only on a failed merge
    )
    # a new scheduler: nothing merged in this process yet; jobs 4 and 5 were left behind
    assert decide(snap(trains=(t,))) == [StartRunMerge(7, 100)]
    merged = replace(t, runs_merged=frozenset({100}))
    assert decide(snap(trains=(merged,))) == [StartFinalMerge(7, (100,), (101, 102))]
    assert decide(snap(trains=(merged,)), [FinalMerged(7)]) == [
        MarkTrainDone(7),
        Notify("train_done", "train 7 is done", "train_run", 7),
    ]
