"""The permission policy of SPEC §1, checked for every role on representative objects."""

from __future__ import annotations

import pytest
from tests.factories import make_world

from hyperloop.core import wagons
from hyperloop.core.actor import Actor
from hyperloop.core.errors import PermissionDenied
from hyperloop.core.permissions import Action, can, require
from hyperloop.db.models import TrainRun


@pytest.fixture
def world(session):
    return make_world(session)


def test_permission_matrix(world):
    w = world
    wagon = wagons.create_wagon(w.s, Actor(w.alice), w.lf.id, name="x", workflow="tree-maker")
    train = TrainRun(id=99, wagons_snapshot=[{"analysis_id": w.lf.id, "pwg": "PWG-LF"}])
    people = {
        "anonymous": None,
        "outsider": w.outsider,
        "alice": w.alice,
        "bob": w.bob,
        "operator": w.operator,
        "dpg": w.dpg,
        "convener": w.convener,
        "admin": w.admin,
    }
    expect = {
        (Action.READ, None): {"outsider", "alice", "bob", "operator", "dpg", "convener"},
        (Action.WAGON_CREATE, w.lf): {"alice"},
        (Action.WAGON_EDIT, wagon): {"alice"},
        (Action.WAGON_DELETE, wagon): {"alice"},
        (Action.WAGON_CLONE, w.hf): {"bob"},
        (Action.WAGON_ENABLE, wagon): {"alice"},
        (Action.ANALYSIS_EDIT, w.lf): {"alice"},
        (Action.REQUEST_LONG_TRAIN, train): {"alice"},
        (Action.COMMENT, train): {"alice"},
        (Action.APPROVE_LONG_TRAIN, train): {"convener", "operator"},
        (Action.TRAIN_OPERATE, None): {"operator"},
        (Action.DATASET_MANAGE, None): {"operator"},
        (Action.RUNLIST_MANAGE, None): {"dpg"},
        (Action.TAG_REGISTER, None): set(),
        (Action.TARGET_MANAGE, None): set(),
        (Action.ANALYSIS_MANAGE, None): set(),
        (Action.USER_MANAGE, None): set(),
        (Action.IMPERSONATE, None): set(),
    }
    for (action, obj), allowed in expect.items():
        allowed = allowed | {"admin"}
        for name, user in people.items():
            assert can(user, action, obj) == (name in allowed), (action, name)


def test_convener_approves_only_for_their_pwg(world):
    hf_train = TrainRun(id=1, wagons_snapshot=[{"analysis_id": world.hf.id, "pwg": "PWG-HF"}])
    assert not can(world.convener, Action.APPROVE_LONG_TRAIN, hf_train)


def test_refusal_names_who_and_what_and_inactive_users_can_do_nothing(world):
    with pytest.raises(PermissionDenied, match="outsider may not train_operate"):
        require(Actor(world.outsider), Action.TRAIN_OPERATE)
    with pytest.raises(PermissionDenied, match="admin as outsider"):
        require(Actor(world.outsider, world.admin), Action.TRAIN_OPERATE)
    world.admin.active = False
    assert not can(world.admin, Action.READ)


def test_roles_do_not_stand_in_for_membership(world):
    """Commenting on a train and requesting its long train belong to the members of an
    analysis in it (SPEC §1 analyzer row, §5); an operator or convener who is a member may,
    one who is not may not. Tags and targets are the admins' (no role row names them)."""
    from hyperloop.core import analyses

    train = TrainRun(id=98, wagons_snapshot=[{"analysis_id": world.lf.id, "pwg": "PWG-LF"}])
    for user in (world.operator, world.convener, world.dpg):
        assert not can(user, Action.COMMENT, train)
        assert not can(user, Action.REQUEST_LONG_TRAIN, train)
        analyses.add_member(world.s, None, world.lf.id, user.id)
        world.s.refresh(user)
        assert can(user, Action.COMMENT, train)
        assert can(user, Action.REQUEST_LONG_TRAIN, train)
    assert not can(world.operator, Action.TAG_REGISTER)
    assert not can(world.operator, Action.TARGET_MANAGE)
    assert can(world.admin, Action.TARGET_MANAGE)
    with pytest.raises(PermissionDenied, match="operator may not target_manage"):
        require(Actor(world.operator), Action.TARGET_MANAGE)
