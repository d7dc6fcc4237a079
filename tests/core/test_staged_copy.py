"""A dataset staged to a facility is read by the trains run on the target of that name, and
cannot be unstaged while such a train may still read it (the scheduler's split and the
running system are tested in tests/e2e/test_merging_staging.py)."""

from __future__ import annotations

import pytest
from tests.factories import make_world

from hyperloop.core import datasets
from hyperloop.core.errors import Conflict
from hyperloop.db.models import StagingTransfer, TrainRun
from hyperloop.enums import StagingAction, TrainState


@pytest.fixture
def world(session):
    return make_world(session)


def _staged(world, target: str, state: str = "done") -> StagingTransfer:
    """A stage transfer as the scheduler leaves it (it copies and verifies the files)."""
    op = world.actor(world.operator)
    transfer = datasets.request_staging(world.s, op, world.dataset.id, target)
    transfer.state, transfer.location = state, f"/af/{target}/dataset-{world.dataset.id}"
    world.s.flush()
    return transfer


def test_only_a_finished_stage_is_a_copy_to_read(world):
    name = world.target.name
    assert datasets.staged_copy(world.s, world.dataset.id, name) is None
    transfer = _staged(world, name, state="transferring")
    assert datasets.staged_copy(world.s, world.dataset.id, name) is None
    transfer.state = "done"
    assert datasets.staged_copy(world.s, world.dataset.id, name) == transfer.location
    assert datasets.staged_copy(world.s, world.dataset.id, "other-facility") is None
    unstage = datasets.request_staging(
        world.s, world.actor(world.operator), world.dataset.id, name, StagingAction.UNSTAGE
    )
    assert datasets.staged_copy(world.s, world.dataset.id, name) is None  # going away
    unstage.state = "done"
    assert datasets.staged_copy(world.s, world.dataset.id, name) is None


@pytest.mark.parametrize("state", [TrainState.SUBMITTED, TrainState.RUNNING, TrainState.MERGING])
def test_a_copy_being_read_by_a_train_is_not_unstaged(world, state):
    _staged(world, world.target.name)
    train = TrainRun(
        dataset_id=world.dataset.id, tag_id=world.tag.id, target_id=world.target.id, state=state
    )
    world.s.add(train)
    world.s.flush()
    op = world.actor(world.operator)
    with pytest.raises(Conflict, match=rf"being read by train run\(s\) {train.id}"):
        datasets.request_staging(
            world.s, op, world.dataset.id, world.target.name, StagingAction.UNSTAGE
        )
    train.state = TrainState.DONE
    world.s.flush()
    transfer = datasets.request_staging(
        world.s, op, world.dataset.id, world.target.name, StagingAction.UNSTAGE
    )
    assert transfer.state == "requested"
