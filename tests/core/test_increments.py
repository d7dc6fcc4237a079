"""Incremental trains (issue 21 item 5) in the core: which runs an increment covers, its
lineage, and the refusals naming the train (the running system: tests/e2e/test_incremental)."""

from __future__ import annotations

import pytest
from tests.core.test_trains import compose, make_tested_wagon
from tests.factories import make_world
from tests.story_cause import BY_TEST

from hyperloop.core import datasets, trains, wagons
from hyperloop.core.errors import Conflict, PermissionDenied
from hyperloop.core.states import transition
from hyperloop.db.models import TrainMerge
from hyperloop.enums import TrainState


@pytest.fixture
def world(session):
    w = make_world(session)
    session.commit()
    return w


def _done(w, train, merged_runs):
    start = (TrainState.TESTING, TrainState.TEST_DONE, TrainState.SUBMITTED)
    path = start if train.state is TrainState.COMPOSED else ()  # an increment is submitted
    for state in (*path, TrainState.RUNNING, TrainState.MERGING, TrainState.DONE):
        transition(train, state, actor=None, cause=BY_TEST)
    for run in merged_runs:
        out = {"AnalysisResults": f"/x/{train.id}/runs/{run}/AnalysisResults.root"}
        w.s.add(TrainMerge(train_run_id=train.id, stage="run", name=str(run), outputs=out,
                           runs_merged=[run], runs_missing=[]))  # fmt: skip
    w.s.flush()
    return train


def test_an_increment_covers_the_runs_its_lineage_has_not_merged(world):
    op = world.actor(world.operator)
    wagon = make_tested_wagon(world, "spectra")
    first = compose(world, [wagon.id])
    with pytest.raises(Conflict, match=f"train run {first.id} is composed"):
        trains.start_increment(world.s, op, first.id)
    runs = first.dataset_snapshot["runs"]
    _done(world, first, runs[:2])  # the last run was missing (or added since)
    with pytest.raises(PermissionDenied):
        trains.start_increment(world.s, world.actor(world.alice), first.id)
    inc = trains.start_increment(world.s, op, first.id)
    assert (inc.increment_of_id, inc.increment_runs) == (first.id, runs[2:])
    assert inc.state is TrainState.SUBMITTED and inc.wagons_snapshot == first.wagons_snapshot
    assert (inc.tag_id, inc.target_id, inc.train_type) == (
        first.tag_id,
        first.target_id,
        first.train_type,
    )
    with pytest.raises(Conflict, match=f"train run {first.id} already has an increment"):
        trains.start_increment(world.s, op, first.id)
    _done(world, inc, runs[2:])
    assert [t.id for t in trains.lineage(world.s, inc)] == [inc.id, first.id]
    with pytest.raises(Conflict, match=f"train run {inc.id}: dataset .* has no run"):
        trains.start_increment(world.s, op, inc.id)


def test_an_increment_is_refused_after_its_wagons_tag_or_dataset_changed(world):
    op = world.actor(world.operator)
    wagon = make_tested_wagon(world, "spectra")
    first = _done(world, compose(world, [wagon.id]), [])
    wagons.edit_wagon(
        world.s,
        world.actor(world.alice),
        wagon.id,
        expected_version=wagon.version,
        base_config={"spectra-charged": {"etaMax": "0.2"}},
    )
    why = f"train run {first.id} cannot .*'spectra' changed its base_config"
    with pytest.raises(Conflict, match=why):
        trains.start_increment(world.s, op, first.id)
    wagons.edit_wagon(
        world.s,
        world.actor(world.alice),
        wagon.id,
        expected_version=wagon.version,
        base_config=first.wagons_snapshot[0]["base_config"],
    )
    trains.start_increment(world.s, op, first.id).state = TrainState.KILLED  # allowed again
    datasets.set_mergelist(world.s, op, world.dataset.id, "all", [544013])
    with pytest.raises(Conflict, match="changed its mergelists"):
        trains.start_increment(world.s, op, first.id)
