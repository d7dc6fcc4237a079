"""Decisions of the slower life cycles, asserted as the exact instructions ``decide``
returns: automatic composition (three types, derived data), pull-request tags, long
trains, train-test and merge notices, e-mail delivery."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hyperloop.enums import AutoComposeType, JobState, TestStatus, TrainState, TrainType
from hyperloop.scheduler.cycles import DerivedBatch, due_slot
from hyperloop.scheduler.decide import (
    AssignTestTag,
    ComposeTrain,
    ComposeView,
    DeliverMail,
    ExpireLongTrain,
    FinalMerged,
    FlagTrainWithIssues,
    JobView,
    LongTrainView,
    MarkTrainDone,
    Notify,
    RecordComposeSlot,
    SchedulerConfig,
    Snapshot,
    StartFinalMerge,
    StartRunMerge,
    StartWagonTest,
    TestFinished,
    TestView,
    TrainView,
    decide,
)

MONDAY_0830 = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
MONDAY_0900 = MONDAY_0830.replace(minute=59, hour=8) + timedelta(minutes=1)
T = AutoComposeType


def snap(now=MONDAY_0900, **kw):
    kw.setdefault("last_stale_clean", now)
    return Snapshot(now=now, **kw)


def view(kind=T.SCHEDULED, **kw):
    kw.setdefault("days", (0,))  # Monday
    kw.setdefault("times", ("08:30",))
    kw.setdefault("wagons", (11, 12))
    return ComposeView(dataset_id=3, kind=kind, **kw)


# ---------------------------------------------------------------- automatic composition


def test_a_scheduled_slot_composes_the_clean_wagons_once():
    out = decide(snap(compose=(view(),)))
    assert out == [
        ComposeTrain(3, (11, 12), TrainType.ANALYSIS, "scheduled slot Mon 08:30"),
        RecordComposeSlot(3, MONDAY_0900, "slot 2026-11-30T08:30:00+00:00: 1 train(s) composed"),
    ]
    # the next step sees the recorded slot: nothing more until next Monday 08:30
    assert decide(snap(compose=(view(last_run=MONDAY_0900),))) == []
    next_monday = MONDAY_0900 + timedelta(days=7)
    assert [type(i) for i in decide(snap(next_monday, compose=(view(last_run=MONDAY_0900),)))] == [
        ComposeTrain,
        RecordComposeSlot,
    ]


def test_a_slot_with_nothing_to_compose_is_still_recorded_so_it_fires_once():
    out = decide(snap(compose=(view(wagons=()),)))
    assert out == [
        RecordComposeSlot(3, MONDAY_0900, "slot 2026-11-30T08:30:00+00:00: 0 train(s) composed")
    ]


def test_slots_missed_while_down_fire_once_and_old_ones_not_on_a_first_start():
    # down from Friday to Tuesday: Monday's slot fires once when the scheduler comes back
    friday = MONDAY_0900 - timedelta(days=3)
    tuesday = MONDAY_0900 + timedelta(days=1)
    out = decide(snap(tuesday, compose=(view(last_run=friday),)))
    assert [type(i) for i in out] == [ComposeTrain, RecordComposeSlot]
    # never ran before: only slots within the catch-up window (1 hour) fire
    assert decide(snap(MONDAY_0900 + timedelta(hours=2), compose=(view(),))) == []
    assert due_slot((0,), ("08:30", "20:00"), friday, tuesday) == MONDAY_0830.replace(
        hour=20, minute=0
    )


def test_train_full_composes_at_any_time_only_for_types_that_use_it():
    tuesday = MONDAY_0900 + timedelta(days=1)
    last = MONDAY_0900
    full = ComposeTrain(3, (11, 12), TrainType.ANALYSIS, "train full")
    assert decide(snap(tuesday, compose=(view(T.TRAIN_FULL, full=True, last_run=last),))) == [full]
    assert decide(snap(tuesday, compose=(view(T.BOTH, full=True, last_run=last),))) == [full]
    assert decide(snap(tuesday, compose=(view(T.SCHEDULED, full=True, last_run=last),))) == []
    assert decide(snap(tuesday, compose=(view(T.TRAIN_FULL, full=False, last_run=last),))) == []
    # a train-full dataset has no slots: its schedule is ignored
    assert decide(snap(compose=(view(T.TRAIN_FULL, full=False),))) == []


def test_scheduled_derived_data_wagons_go_in_their_own_train_at_the_slot():
    SD = TrainType.STANDARD_DERIVED
    v = view(derived=(DerivedBatch((21, 22)),))
    assert decide(snap(compose=(v,)))[:2] == [
        ComposeTrain(3, (11, 12), TrainType.ANALYSIS, "scheduled slot Mon 08:30"),
        ComposeTrain(3, (21, 22), SD, "scheduled derived data, slot Mon 08:30", False, False),
    ]
    # outside a slot they wait ...
    later = view(derived=(DerivedBatch((21,)),), wagons=(), last_run=MONDAY_0900)
    assert decide(snap(MONDAY_0900 + timedelta(hours=3), compose=(later,))) == []
    # ... except on a train-full dataset, which has no slots: the next step takes them
    tf = view(T.TRAIN_FULL, derived=(DerivedBatch((21,)),), wagons=())
    assert decide(snap(compose=(tf,))) == [
        ComposeTrain(3, (21,), SD, "scheduled derived data", False, False)
    ]


def test_each_scheduled_batch_is_a_train_with_the_operators_settings():
    batches = (
        DerivedBatch((21, 22), TrainType.STANDARD_DERIVED, slow=True, auto_submit=True),
        DerivedBatch((23,), TrainType.LINKED_DERIVED),
        DerivedBatch((24,), TrainType.LINKED_DERIVED),
    )
    out = decide(snap(compose=(view(wagons=(), derived=batches),)))
    why = "scheduled derived data, slot Mon 08:30"
    assert out[:3] == [
        ComposeTrain(3, (21, 22), TrainType.STANDARD_DERIVED, why, True, True),
        ComposeTrain(3, (23,), TrainType.LINKED_DERIVED, why, False, False),
        ComposeTrain(3, (24,), TrainType.LINKED_DERIVED, why, False, False),
    ]


# ---------------------------------------------------------------- pull-request tags


def test_a_test_waiting_for_a_pull_request_starts_once_a_tag_contains_it():
    waiting = TestView(5, TestStatus.QUEUED, pull_request="4711", tagless=True)
    assert decide(snap(tests=(waiting,))) == []
    out = decide(snap(tests=(waiting,), pr_tags={"4711": 9}))
    assert out == [
        AssignTestTag(5, 9, "4711"),
        Notify(
            "pull_request_available",
            "pull request 4711 is in a released package tag: wagon test 5 starts",
            "wagon_test",
            5,
        ),
        StartWagonTest(5),
    ]


def test_a_test_without_any_tag_is_held_not_started():
    assert decide(snap(tests=(TestView(5, TestStatus.QUEUED, tagless=True),))) == []


# ---------------------------------------------------------------- long trains


def long(state, *, age=timedelta(days=1), **kw):
    return LongTrainView(id=8, state=state, requested_at=MONDAY_0900 - age, **kw)


def test_an_undecided_long_train_request_expires_and_the_requester_is_told():
    cfg = SchedulerConfig(long_train_expiry=timedelta(days=14))
    assert decide(snap(long_trains=(long(TrainState.LONG_TRAIN_REQUESTED),)), cfg=cfg) == []
    old = long(TrainState.LONG_TRAIN_REQUESTED, age=timedelta(days=15))
    why = "long train request expired: not approved within 14 days"
    assert decide(snap(long_trains=(old,)), cfg=cfg) == [
        ExpireLongTrain(8, why),
        Notify("long_train_expired", f"train 8: {why}", "train_run", 8),
    ]


def test_long_train_decisions_are_told_once():
    waits = long(TrainState.LONG_TRAIN_APPROVED, approved=True)
    [n] = decide(snap(long_trains=(waits,)))
    assert n.kind == "long_train_approved" and "waits for an operator" in n.message
    submitted = long(TrainState.SUBMITTED, approved=True)
    assert decide(snap(long_trains=(submitted,))) == [
        Notify("long_train_approved", "long train 8 approved and submitted", "train_run", 8)
    ]
    rejected = long(TrainState.CLOSED, reason="long train rejected: CPU too high")
    assert decide(snap(long_trains=(rejected,))) == [
        Notify("long_train_rejected", "train 8: long train rejected: CPU too high", "train_run", 8)
    ]
    told = long(TrainState.CLOSED, notified=frozenset({"long_train_rejected"}))
    assert decide(snap(long_trains=(told,))) == []


# ---------------------------------------------------------------- trains, mail


def test_a_failed_train_test_is_told():
    t = TrainView(id=7, state=TrainState.TESTING, target="small")
    out = decide(snap(trains=(t,)), [TestFinished("train", 7, error="execution: boom")])
    assert out[1] == Notify(
        "train_test_failed", "train 7: train test failed: execution: boom", "train_run", 7
    )


def test_a_train_left_merging_by_a_restart_merges_again_and_finishes():
    jobs = (JobView(1, 100, JobState.DONE, 1, "small"), JobView(2, 101, JobState.DONE, 1, "small"))
    merging = TrainView(id=7, state=TrainState.MERGING, target="small", jobs=jobs, split=True)
    # the per-run merges of the dead scheduler are gone: redo them, then the final merge
    assert decide(snap(trains=(merging,))) == [StartRunMerge(7, 100), StartRunMerge(7, 101)]
    merged = replace(merging, runs_merged=frozenset({100, 101}))
    assert decide(snap(trains=(merged,))) == [StartFinalMerge(7, (100, 101), ())]
    assert decide(snap(trains=(merged,)), [FinalMerged(7)]) == [
        MarkTrainDone(7),
        Notify("train_done", "train 7 is done", "train_run", 7),
    ]


def test_a_failed_final_merge_is_flagged_with_its_reason_once():
    merging = TrainView(id=7, state=TrainState.MERGING, target="small")
    why = "final merge failed: MergeStageError: run 100 unreadable"
    out = decide(
        snap(trains=(merging,)), [FinalMerged(7, error="MergeStageError: run 100 unreadable")]
    )
    assert out == [
        FlagTrainWithIssues(7, why),
        Notify("train_issues", f"train 7: {why}", "train_run", 7),
    ]
    assert decide(snap(trains=(replace(merging, flagged=True),))) == []


def test_queued_mail_is_delivered_last():
    waiting = TestView(5, TestStatus.QUEUED)
    assert decide(snap(tests=(waiting,), unsent_mail=2)) == [StartWagonTest(5), DeliverMail()]
    assert decide(snap(unsent_mail=0)) == []


def test_the_datasets_max_cpu_keeps_an_automatic_train_within_it():
    v = view(max_cpu_hours=100.0, cpu_hours={11: 80.0, 12: 30.0}, wagons=(11, 12, 13))
    [compose, _record] = decide(snap(compose=(v,)))
    assert compose.wagon_ids == (11, 13)  # 12 would bring it to 110 h: it waits
