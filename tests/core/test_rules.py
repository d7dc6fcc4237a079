"""Wagon disabling rules, operator scheduling, and notices of parameters a new tag drops."""

from __future__ import annotations

import pytest
from tests.factories import introspection, make_world

from hyperloop.core import enabling, tags, wagons
from hyperloop.core.errors import PermissionDenied, ValidationError
from hyperloop.core.notifications import list_notifications
from hyperloop.db.models import WagonDataset
from hyperloop.enums import NotificationKind


@pytest.fixture
def world(session):
    return make_world(session)


def test_private_copy_of_a_service_wagon_as_dependency_blocks_the_wagon(world):
    wagons.create_wagon(
        world.s,
        world.actor(world.service_expert),
        world.service.id,
        name="evsel",
        workflow="event-selection",
    )
    copy = wagons.create_wagon(
        world.s, world.actor(world.alice), world.lf.id, name="myevsel", workflow="event-selection"
    )
    top = wagons.create_wagon(
        world.s,
        world.actor(world.alice),
        world.lf.id,
        name="top",
        workflow="spectra-charged",
        dependencies=[copy.id],
    )
    with pytest.raises(ValidationError, match="identical to service wagon 'evsel'"):
        enabling.enable_wagon(world.s, world.actor(world.alice), top.id, world.dataset.id)
    # a differently configured private dependency is fine
    wagons.edit_wagon(
        world.s,
        world.actor(world.alice),
        copy.id,
        expected_version=copy.version,
        base_config={"event-selection": {"zMax": "7"}},
    )
    enabling.enable_wagon(world.s, world.actor(world.alice), top.id, world.dataset.id)
    # ...until it is edited back to the service configuration: then it is disabled + notified
    wagons.edit_wagon(
        world.s,
        world.actor(world.alice),
        copy.id,
        expected_version=copy.version,
        base_config={"event-selection": {"zMax": "10"}},
    )
    row = world.s.query(WagonDataset).filter_by(wagon_id=top.id).one()
    assert not row.enabled and "service wagon" in row.disabled_reason
    kinds = [n.kind for n in list_notifications(world.s, world.alice)]
    assert NotificationKind.WAGON_DISABLED in kinds


def test_derived_wagon_sharing_a_workflow_with_its_dependency_is_refused(world):
    dep = wagons.create_wagon(
        world.s,
        world.actor(world.alice),
        world.lf.id,
        name="t1",
        workflow="tree-maker",
        derived_tables=["MyTracks"],
    )
    top = wagons.create_wagon(
        world.s,
        world.actor(world.alice),
        world.lf.id,
        name="t2",
        workflow="tree-maker",
        derived_tables=["MyTracks"],
        base_config={"tree-maker": {"ptMin": "1"}},
        dependencies=[dep.id],
    )
    with pytest.raises(ValidationError, match="shares workflow"):
        enabling.enable_wagon(world.s, world.actor(world.alice), top.id, world.dataset.id)


def test_operators_schedule_derived_data_wagons(world):
    tree = wagons.create_wagon(
        world.s,
        world.actor(world.alice),
        world.lf.id,
        name="t",
        workflow="tree-maker",
        derived_tables=["MyTracks"],
    )
    enabling.enable_wagon(world.s, world.actor(world.alice), tree.id, world.dataset.id)
    with pytest.raises(PermissionDenied):
        enabling.schedule_wagon(world.s, world.actor(world.alice), tree.id, world.dataset.id)
    row = enabling.schedule_wagon(world.s, world.actor(world.operator), tree.id, world.dataset.id)
    assert row.scheduled and row.scheduled_by_id == world.operator.id


def test_new_tag_without_a_used_parameter_notifies_the_analysis(world):
    wagon = wagons.create_wagon(
        world.s, world.actor(world.alice), world.lf.id, name="w", workflow="spectra-charged"
    )
    enabling.enable_wagon(world.s, world.actor(world.alice), wagon.id, world.dataset.id)
    tags.register_tag(world.s, None, introspection("0.3.0", drop_label=True), artifact="/t2")
    notes = [
        n
        for n in list_notifications(world.s, world.alice)
        if n.kind is NotificationKind.INCONSISTENT_PARAMETERS
    ]
    assert len(notes) == 1 and "spectra-charged.label" in notes[0].message


def test_a_tag_without_the_workflow_disables_wagons_following_the_latest_tag(world):
    wagon = wagons.create_wagon(
        world.s, world.actor(world.alice), world.lf.id, name="w", workflow="tree-maker"
    )
    enabling.enable_wagon(world.s, world.actor(world.alice), wagon.id, world.dataset.id)
    doc = introspection("0.4.0")
    doc["workflows"] = [wf for wf in doc["workflows"] if wf["name"] != "tree-maker"]
    newer = tags.register_tag(world.s, None, doc, artifact="/t4")
    row = world.s.query(WagonDataset).filter_by(wagon_id=wagon.id).one()
    assert not row.enabled and "no longer exists" in row.disabled_reason
    # syncing to that tag is a record, not an error: the wagon is marked disabled
    synced, report = wagons.sync_wagon(world.s, world.actor(world.alice), wagon.id, tag_id=newer.id)
    assert "no longer exists" in report.disabled and synced.disabled_reason == report.disabled
    with pytest.raises(ValidationError, match="disabled"):
        enabling.enable_wagon(world.s, world.actor(world.alice), wagon.id, world.dataset.id)
    kinds = [n.kind for n in list_notifications(world.s, world.alice)]
    assert kinds.count(NotificationKind.WAGON_DISABLED) == 2


def test_a_new_tag_relaunches_a_failed_test_of_a_wagon_on_the_latest_policy(world):
    from hyperloop.core.enabling import current_test, finish_test
    from hyperloop.enums import TagPolicy, TestStatus

    actor = world.actor(world.alice)
    failing = wagons.create_wagon(world.s, actor, world.lf.id, name="f", workflow="spectra-charged")
    passing = wagons.create_wagon(world.s, actor, world.lf.id, name="p", workflow="spectra-charged")
    pinned = wagons.create_wagon(world.s, actor, world.lf.id, name="x", workflow="spectra-charged")
    enabling.enable_wagon(world.s, actor, failing.id, world.dataset.id)
    enabling.enable_wagon(world.s, actor, passing.id, world.dataset.id)
    enabling.enable_wagon(
        world.s, actor, pinned.id, world.dataset.id, policy=TagPolicy.FIXED, tag_id=world.tag.id
    )
    for wagon, status in ((failing, "failed"), (passing, "done"), (pinned, "failed")):
        finish_test(world.s, current_test(world.s, wagon.id, world.dataset.id).id, status)
    failed_before = current_test(world.s, failing.id, world.dataset.id)
    done_before = current_test(world.s, passing.id, world.dataset.id)

    newer = tags.register_tag(world.s, None, introspection("0.3.0"), artifact="/t3")

    again = current_test(world.s, failing.id, world.dataset.id)
    assert again.id != failed_before.id and again.status is TestStatus.QUEUED
    assert again.tag_id == newer.id  # tested with the new tag
    assert current_test(world.s, passing.id, world.dataset.id).id == done_before.id
    assert current_test(world.s, pinned.id, world.dataset.id).status is TestStatus.FAILED


def test_a_tag_of_another_package_leaves_wagons_of_the_collaboration_package_alone(world):
    """Released next to the collaboration's, a user's own package tag is not the "latest"
    of wagons of hyperloop-physics: they keep running, nothing is disabled or relaunched;
    the next hyperloop-physics tag still is their latest."""
    from hyperloop.core.enabling import current_test, finish_test, resolve_tag
    from hyperloop.enums import TestStatus

    actor = world.actor(world.alice)
    wagon = wagons.create_wagon(world.s, actor, world.lf.id, name="w", workflow="spectra-charged")
    enabling.enable_wagon(world.s, actor, wagon.id, world.dataset.id)
    finish_test(world.s, current_test(world.s, wagon.id, world.dataset.id).id, "failed")
    failed = current_test(world.s, wagon.id, world.dataset.id)
    row = world.s.query(WagonDataset).filter_by(wagon_id=wagon.id).one()
    physics = resolve_tag(world.s, row)

    own = {
        "package": {"name": "my-analysis", "version": "0.1.0"},
        "workflows": [introspection()["workflows"][1]],  # event-selection only
    }
    mine = tags.register_tag(world.s, None, own, artifact="/mine")
    world.s.refresh(row)
    assert row.enabled and row.disabled_reason is None
    assert resolve_tag(world.s, row).id == physics.id != mine.id
    assert current_test(world.s, wagon.id, world.dataset.id).id == failed.id
    assert not [n for n in list_notifications(world.s, world.alice) if "my-analysis" in n.message]
    # Sync moves it to the latest tag of its own package; a new wagon gets a tag offering
    # its workflow
    synced, report = wagons.sync_wagon(world.s, actor, wagon.id)
    assert synced.tag_id == physics.id and report.disabled is None
    fresh = wagons.create_wagon(world.s, actor, world.lf.id, name="n", workflow="spectra-charged")
    assert fresh.tag_id == physics.id

    newer = tags.register_tag(world.s, None, introspection("0.3.0"), artifact="/t3")
    assert resolve_tag(world.s, row).id == newer.id
    again = current_test(world.s, wagon.id, world.dataset.id)
    assert again.status is TestStatus.QUEUED and again.tag_id == newer.id
    # a wagon of the other package follows that package's tags
    mywagon = wagons.create_wagon(
        world.s, actor, world.lf.id, name="mine", workflow="event-selection", tag_id=mine.id
    )
    enabling.enable_wagon(world.s, actor, mywagon.id, world.dataset.id)
    myrow = world.s.query(WagonDataset).filter_by(wagon_id=mywagon.id).one()
    assert resolve_tag(world.s, myrow).id == mine.id


def test_the_analysis_page_offers_the_workflows_of_the_newest_tag_of_each_package(world):
    from hyperloop.readmodels.analyses import analysis_view_data

    own = {
        "package": {"name": "my-analysis", "version": "0.1.0"},
        "workflows": [{**introspection()["workflows"][1], "name": "sel8-spectra"}],
    }
    tags.register_tag(world.s, None, own, artifact="/mine")
    view = analysis_view_data(world.s, world.lf, world.alice)
    assert view["workflows"] == ["spectra-charged", "event-selection", "tree-maker", "sel8-spectra"]
    assert view["latest_tag"].startswith("hyperloop-physics ")
    assert view["latest_tag"].endswith(", my-analysis 0.1.0")
    # the form posts a workflow without a tag: it gets the tag that offers it
    actor = world.actor(world.alice)
    mine = wagons.create_wagon(world.s, actor, world.lf.id, name="m", workflow="sel8-spectra")
    theirs = wagons.create_wagon(world.s, actor, world.lf.id, name="t", workflow="tree-maker")
    names = [tags.get_tag(world.s, w.tag_id).name for w in (mine, theirs)]
    assert names == ["my-analysis", "hyperloop-physics"]
