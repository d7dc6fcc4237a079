"""Decisions when an output cannot be read: a run whose merge failed (an output missing
from the storage) flags the train once and is not merged again every tick; an operator's
final merge lists it missing."""

from __future__ import annotations

from dataclasses import replace

from tests.scheduler.test_decide import J, jobs, snap, train

from hyperloop.enums import TrainState
from hyperloop.scheduler.decide import (
    FlagTrainWithIssues,
    Notify,
    RunMergeFailed,
    StartFinalMerge,
    decide,
)


def test_a_failed_run_merge_flags_the_train_once_and_is_not_retried_each_tick():
    t = train(
        TrainState.RUNNING,
        slow=True,
        split=True,
        jobs=jobs((1, 100, J.DONE), (2, 101, J.DONE)),
        runs_merged=frozenset({101}),
        runs_merge_failed=frozenset({100}),
    )
    error = "FileNotFoundError: s3://bucket/work/trains/7/jobs/job-1/attempt-1/AnalysisResults.root"
    got = decide(snap(trains=(t,)), [RunMergeFailed(7, 100, error)])
    why = f"merge of run(s) 100 failed: {error}"
    assert got == [
        FlagTrainWithIssues(7, why),
        Notify("train_issues", f"train 7: {why}", "train_run", 7),
    ]
    # the next ticks: flagged, nothing to start (no merge of run 100 again, no final merge)
    assert decide(snap(trains=(replace(t, flagged=True),))) == []


def test_an_operators_final_merge_lists_the_run_whose_merge_failed_as_missing():
    t = train(
        TrainState.RUNNING,
        split=True,
        jobs=jobs((1, 100, J.DONE), (2, 101, J.DONE)),
        runs_merged=frozenset({101}),
        runs_merge_failed=frozenset({100}),
        flagged=True,
        final_merge_requested=True,
    )
    assert decide(snap(trains=(t,))) == [StartFinalMerge(7, (101,), (100,))]
