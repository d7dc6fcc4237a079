"""The fair-usage policy in the running scheduler (both backends): an operator's submission
on a dataset over 50 TB waits for the dataset's automatic submission time; an automatic
submission whose approval is missing is held; a size class without automatic submissions
left composes no automatic train at its slot."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from tests.factories import make_world
from tests.scheduler.test_shell_cycles import MONDAY_0900, clean_wagon, make_shell

from hyperloop.core import datasets, trains
from hyperloop.core.errors import Conflict
from hyperloop.db.models import DatasetFile, HistoryEntry, TrainRun
from hyperloop.enums import TestStatus, TrainState
from hyperloop.scheduler import decide

SUNDAY_1200 = MONDAY_0900 - timedelta(hours=21)


def scheduled_dataset(s, w, **values):
    return datasets.edit_dataset(
        s,
        w.actor(w.operator),
        w.dataset.id,
        expected_version=w.dataset.version,
        auto_compose=True,
        auto_compose_type="scheduled",
        auto_compose_days=[0],
        auto_compose_times=["08:30"],
        **values,
    )


def make_tested_train(s, w, wagon_id, *, metrics=None, auto_submit=False):
    train = trains.compose_train(
        s,
        w.actor(w.operator),
        w.dataset.id,
        [wagon_id],
        target_id=w.target.id,
        auto_submit=auto_submit,
    )
    trains.start_test(s, train.id)
    trains.finish_test(s, train.id, TestStatus.DONE, metrics=metrics or {})
    return train


def test_a_submission_over_50_tb_waits_for_the_dataset_slot(db_sessionmaker, tmp_path):
    with db_sessionmaker.begin() as s:
        w = make_world(s)
        production = w.dataset.productions[0]
        s.add(
            DatasetFile(
                production_id=production.id, run_number=544013, path="/d/big", size=60 * 10**12
            )
        )
        train = make_tested_train(s, w, clean_wagon(w, "spectra").id)
        try:
            trains.submit_train(s, w.actor(w.operator), train.id, now=SUNDAY_1200)
        except Conflict as exc:
            assert "60 TB (over 50 TB)" in exc.message and "it has none" in exc.message
        else:
            raise AssertionError("a submission on a dataset over 50 TB without times passed")
        scheduled_dataset(s, w)
        waiting = trains.submit_train(s, w.actor(w.operator), train.id, now=SUNDAY_1200)
        assert waiting.state is TrainState.TEST_DONE
        assert waiting.submit_requested_at is not None
        train_id = train.id
    shell = make_shell(db_sessionmaker, tmp_path)
    before = shell.tick(MONDAY_0900 - timedelta(hours=1))
    assert not [i for i in before.instructions if isinstance(i, decide.SubmitRequested)]
    with db_sessionmaker() as s:
        assert s.get(TrainRun, train_id).state is TrainState.TEST_DONE
    tick = shell.tick(MONDAY_0900)
    assert tick.unperformed == []
    assert [i.train_id for i in tick.instructions if isinstance(i, decide.SubmitRequested)] == [
        train_id
    ]
    with db_sessionmaker() as s:
        assert s.get(TrainRun, train_id).state is TrainState.SUBMITTED
        reasons = s.scalars(
            select(HistoryEntry.reason).where(
                HistoryEntry.object_type == "train_run", HistoryEntry.object_id == train_id
            )
        ).all()
        assert any("next automatic submission time Mon" in r for r in reasons), reasons


def test_an_automatic_submission_needing_approval_is_held(db_sessionmaker):
    with db_sessionmaker.begin() as s:
        w = make_world(s)
        years_30 = {"expected_cpu_hours": 30 * 8766.0}
        train = make_tested_train(
            s, w, clean_wagon(w, "hungry").id, metrics=years_30, auto_submit=True
        )
        train_id = train.id
    with db_sessionmaker() as s:
        held = s.get(TrainRun, train_id)
        assert held.state is TrainState.TEST_DONE
        assert held.auto_submit is False
        reasons = s.scalars(
            select(HistoryEntry.reason).where(
                HistoryEntry.object_type == "train_run", HistoryEntry.object_id == train_id
            )
        ).all()
        assert any(
            "automatic submission held" in r and "analysis coordination" in r for r in reasons
        ), reasons


def test_a_size_class_without_automatic_submissions_left_composes_nothing(
    db_sessionmaker, tmp_path
):
    with db_sessionmaker.begin() as s:
        w = make_world(s)
        scheduled_dataset(s, w, size_class="huge", auto_submission_slots=0)
        clean_wagon(w, "spectra")
    tick = make_shell(db_sessionmaker, tmp_path).tick(MONDAY_0900)
    assert not [i for i in tick.instructions if isinstance(i, decide.ComposeTrain)]
    [slot] = [i for i in tick.instructions if isinstance(i, decide.RecordComposeSlot)]
    assert "automatic submissions of the dataset's size class are used up" in slot.note
