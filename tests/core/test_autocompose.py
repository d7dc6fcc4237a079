"""Automatic composition: schedule slots, clean tests only, train-full threshold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.factories import make_world

from hyperloop.core import datasets, enabling, wagons
from hyperloop.core.autocompose import auto_candidates, auto_compose, schedule_due
from hyperloop.enums import TestStatus

MONDAY_0900 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(session):
    w = make_world(session)
    datasets.edit_dataset(
        session,
        w.actor(w.operator),
        w.dataset.id,
        expected_version=w.dataset.version,
        auto_compose=True,
        auto_compose_type="both",
        auto_compose_days=[0],
        auto_compose_times=["08:30"],
    )
    return w


def wagon_with_test(w, name, status, *, warnings=None, pss=1e9, **kw):
    wagon = wagons.create_wagon(
        w.s,
        w.actor(w.alice),
        w.lf.id,
        name=name,
        workflow=kw.pop("workflow", "spectra-charged"),
        **kw,
    )
    enabling.enable_wagon(w.s, w.actor(w.alice), wagon.id, w.dataset.id)
    test = enabling.current_test(w.s, wagon.id, w.dataset.id)
    enabling.finish_test(w.s, test.id, status, warnings=warnings, metrics={"pss_avg_bytes": pss})
    return wagon


def test_schedule_slots_fire_once(world):
    ds = world.dataset
    assert schedule_due(ds, MONDAY_0900, None)
    assert not schedule_due(ds, MONDAY_0900, last_run=MONDAY_0900.replace(hour=8, minute=45))


def test_only_clean_done_tests_without_derived_data_are_taken(world):
    ok = wagon_with_test(world, "ok", TestStatus.DONE)
    wagon_with_test(world, "warned", TestStatus.WARNING, warnings=[{"code": "memory"}])
    wagon_with_test(
        world, "derived", TestStatus.DONE, workflow="tree-maker", derived_tables=["MyTracks"]
    )
    assert auto_candidates(world.s, world.dataset.id, MONDAY_0900) == [ok.id]
    train = auto_compose(world.s, world.dataset.id, world.target.id, now=MONDAY_0900, last_run=None)
    assert [w["wagon_id"] for w in train.wagons_snapshot] == [ok.id] and train.auto_submit
    assert train.composed_by_id is None


def test_train_full_composes_outside_the_schedule(world):
    tuesday = MONDAY_0900.replace(day=1, month=12)
    wagon_with_test(world, "small", TestStatus.DONE, pss=1e9)
    assert (
        auto_compose(world.s, world.dataset.id, world.target.id, now=tuesday, last_run=MONDAY_0900)
        is None
    )
    wagon_with_test(world, "big", TestStatus.DONE, pss=5.5e9)  # 6.5 GB of 8 GB >= 75 %
    train = auto_compose(
        world.s, world.dataset.id, world.target.id, now=tuesday, last_run=MONDAY_0900
    )
    assert train is not None and len(train.wagons_snapshot) == 2
