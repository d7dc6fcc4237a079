"""Life cycles as data: legal moves pass with their side effects, illegal ones are refused."""

from __future__ import annotations

import pytest
from tests.story_cause import BY_TEST

from hyperloop.core.errors import IllegalTransition
from hyperloop.core.states import (
    JOB_TRANSITIONS,
    TEST_TRANSITIONS,
    TRAIN_FINAL,
    TRAIN_TRANSITIONS,
    transition,
)
from hyperloop.core.story import Cause
from hyperloop.db.models import Job, WagonTest
from hyperloop.enums import JobState, TestStatus, TrainState


def test_every_state_has_a_row_and_final_states_have_no_exit():
    assert set(TRAIN_TRANSITIONS) == set(TrainState)
    assert set(TEST_TRANSITIONS) == set(TestStatus)
    assert set(JOB_TRANSITIONS) == set(JobState)
    for state in TRAIN_FINAL - {TrainState.DONE}:
        assert TRAIN_TRANSITIONS[state] == frozenset()


def test_only_tested_trains_can_be_submitted():
    submittable = {s for s, nxt in TRAIN_TRANSITIONS.items() if TrainState.SUBMITTED in nxt}
    assert submittable == {
        TrainState.TEST_DONE,
        TrainState.TEST_WARNING,
        TrainState.LONG_TRAIN_APPROVED,
    }


def test_illegal_transition_names_both_states_and_the_allowed_ones():
    test = WagonTest(id=7, status=TestStatus.QUEUED)
    with pytest.raises(IllegalTransition) as err:
        transition(test, TestStatus.DONE, actor=None, cause=BY_TEST)
    assert "'queued' to 'done'" in err.value.message and "running" in err.value.message
    assert test.status is TestStatus.QUEUED


def test_job_attempts_count_each_start_and_errors_can_be_resubmitted():
    job = Job(id=1, state=JobState.WAITING, attempts=0)
    transition(job, JobState.RUNNING, actor=None, cause=BY_TEST)
    transition(job, JobState.EXECUTION_ERROR, actor=None, cause=BY_TEST)
    transition(job, JobState.WAITING, actor=None, cause=Cause("test", "seed", "resubmitted"))
    transition(job, JobState.RUNNING, actor=None, cause=BY_TEST)
    transition(job, JobState.DONE, actor=None, cause=BY_TEST)
    assert job.attempts == 2
    with pytest.raises(IllegalTransition):
        transition(job, JobState.WAITING, actor=None, cause=BY_TEST)


def test_test_timestamps_are_set_by_transitions():
    test = WagonTest(id=1, status=TestStatus.QUEUED)
    transition(test, TestStatus.RUNNING, actor=None, cause=BY_TEST)
    transition(test, TestStatus.WARNING, actor=None, cause=BY_TEST)
    assert test.started_at is not None and test.finished_at >= test.started_at
