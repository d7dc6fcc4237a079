"""Datasets: catalogue import, excluded runs, mergelists, history, notifications, runlists."""

from __future__ import annotations

import pytest
from tests.factories import make_world

from hyperloop.core import analyses, datasets, enabling, runlists, wagons
from hyperloop.core.errors import Conflict, PermissionDenied, ValidationError
from hyperloop.core.history import entries
from hyperloop.core.notifications import list_notifications, mark_all_read, unread_count
from hyperloop.core.storage_roots import StorageRoots
from hyperloop.db.models import WagonDataset
from hyperloop.enums import NotificationKind


@pytest.fixture
def world(session):
    return make_world(session)


def kinds(world, user):
    return [n.kind for n in list_notifications(world.s, user)]


def test_file_catalogue_from_a_directory_tree_and_a_file_list(world, tmp_path):
    op = world.actor(world.operator)
    prod = world.dataset.productions[0]
    for run, n in ((544013, 2), (544028, 1)):
        for i in range(n):
            f = tmp_path / "LHC23zzh" / str(run) / f"{i:03d}" / "AO2D.root"
            f.parent.mkdir(parents=True)
            f.write_bytes(b"x" * (100 + i))
    roots = StorageRoots.parse([tmp_path, "/alice/data"])
    assert datasets.import_directory(world.s, op, prod.id, tmp_path, roots=roots) == 3
    assert datasets.import_directory(world.s, op, prod.id, tmp_path, roots=roots) == 0  # again
    lines = ["# path size n_df", "/alice/data/2023/LHC23zzh/544032/apass4/0001/AO2D.root 2048 12"]
    assert datasets.import_file_list(world.s, op, prod.id, lines, roots=roots) == 1
    summary = datasets.catalogue_summary(world.s, world.dataset.id)
    assert summary == {"files": 4, "bytes": 100 + 101 + 100 + 2048, "runs": 3}
    with pytest.raises(ValidationError, match="line 1"):
        datasets.import_file_list(world.s, op, prod.id, ["/a/544013/AO2D.root big"], roots=roots)
    with pytest.raises(PermissionDenied):
        datasets.import_file_list(world.s, world.actor(world.alice), prod.id, lines, roots=roots)


def test_excluded_runs_leave_the_dataset_and_users_are_told(world):
    op = world.actor(world.operator)
    prod = world.dataset.productions[0]
    datasets.set_excluded_runs(world.s, op, prod.id, [544028])
    assert datasets.runs_of(world.s, world.dataset.id) == [544013, 544032]
    assert NotificationKind.DATASET_CHANGED in kinds(world, world.alice)
    assert NotificationKind.DATASET_CHANGED not in kinds(world, world.outsider)


def test_every_dataset_change_is_in_its_history_with_a_version(world):
    op = world.actor(world.operator)
    ds = world.dataset
    v = ds.version
    datasets.set_mergelist(world.s, op, ds.id, "early", [544013, 544028])
    datasets.set_final_mergelist(world.s, op, ds.id, "final", ["early"])
    assert ds.version > v
    with pytest.raises(ValidationError, match="no mergelist"):
        datasets.set_final_mergelist(world.s, op, ds.id, "bad", ["nope"])
    edited = datasets.edit_dataset(
        world.s,
        op,
        ds.id,
        expected_version=ds.version,
        auto_compose=True,
        auto_compose_type="both",
        auto_compose_days=[0, 3],
        auto_compose_times=["08:00"],
    )
    assert edited.auto_compose_days == [0, 3]
    with pytest.raises(Conflict):
        datasets.edit_dataset(world.s, op, ds.id, expected_version=v, description="late")
    with pytest.raises(ValidationError, match="HH:MM"):
        datasets.edit_dataset(
            world.s, op, ds.id, expected_version=ds.version, auto_compose_times=["8am"]
        )
    reasons = [e.reason for e in entries(world.s, "dataset", ds.id)]
    assert "mergelist 'early'" in reasons and "final mergelist 'final'" in reasons
    assert NotificationKind.MERGELIST_UPDATED in kinds(world, world.bob)


def test_deactivation_disables_enabled_wagons_with_a_notification(world):
    op = world.actor(world.operator)
    wagon = wagons.create_wagon(
        world.s, world.actor(world.alice), world.lf.id, name="w", workflow="tree-maker"
    )
    enabling.enable_wagon(world.s, world.actor(world.alice), wagon.id, world.dataset.id)
    datasets.set_active(world.s, op, world.dataset.id, False)
    row = world.s.query(WagonDataset).one()
    assert not row.enabled and "deactivated" in row.disabled_reason
    got = kinds(world, world.alice)
    assert NotificationKind.DATASET_DEACTIVATED in got and NotificationKind.WAGON_DISABLED in got
    assert unread_count(world.s, world.alice) == len(got)
    mark_all_read(world.s, world.actor(world.alice))
    assert unread_count(world.s, world.alice) == 0


def test_datasets_with_short_datasets_are_added_through_them(world):
    op = world.actor(world.operator)
    big = datasets.create_dataset(world.s, op, "big")
    datasets.add_short_dataset(world.s, op, big.id, "big_short")
    with pytest.raises(ValidationError, match="short datasets"):
        analyses.add_dataset(world.s, world.actor(world.alice), world.lf.id, big.id)


def test_a_short_dataset_takes_its_parent_out_of_analyses_and_says_so(world):
    """Staged submission: once a dataset has a short dataset, analyses use the short one;
    the parent leaves them, its wagons are disabled on it, members are told what to do;
    removing the short dataset tells its users too."""
    op = world.actor(world.operator)
    ds = world.dataset
    wagon = wagons.create_wagon(
        world.s, world.actor(world.alice), world.lf.id, name="sp", workflow="tree-maker"
    )
    enabling.enable_wagon(world.s, world.actor(world.alice), wagon.id, ds.id)
    short = datasets.add_short_dataset(world.s, op, ds.id, "LHC23_short")
    assert ds.id not in analyses.analysis_dataset_ids(world.s, world.lf.id)
    row = world.s.query(WagonDataset).filter_by(wagon_id=wagon.id, dataset_id=ds.id).one()
    assert not row.enabled and "short dataset 'LHC23_short'" in row.disabled_reason
    [n] = [
        n
        for n in list_notifications(world.s, world.alice)
        if n.kind is NotificationKind.SHORT_DATASET_ADDED
    ]
    assert "removed from your analysis" in n.message and "wagons disabled on" in n.message
    assert "sp" in n.message and (n.object_type, n.object_id) == ("dataset", short.id)
    [hf] = [
        n
        for n in list_notifications(world.s, world.bob)
        if n.kind is NotificationKind.SHORT_DATASET_ADDED
    ]
    assert "wagons disabled" not in hf.message  # HF had no wagon on it
    datasets.set_active(world.s, op, short.id, True)
    analyses.add_dataset(world.s, world.actor(world.alice), world.lf.id, short.id)
    datasets.delete_dataset(world.s, op, short.id)
    assert NotificationKind.SHORT_DATASET_REMOVED in kinds(world, world.alice)
    assert NotificationKind.SHORT_DATASET_REMOVED not in kinds(world, world.bob)


def test_runs_whose_production_folder_is_not_found_are_notified(world, tmp_path):
    op = world.actor(world.operator)
    prod = world.dataset.productions[0]  # runlist 544013, 544028, 544032
    f = tmp_path / "LHC23zzh" / "544013" / "001" / "AO2D.root"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"x" * 100)
    roots = StorageRoots.parse([tmp_path])
    datasets.import_directory(world.s, op, prod.id, tmp_path / "LHC23zzh", roots=roots)
    for user in (world.alice, world.operator):
        [n] = [
            n
            for n in list_notifications(world.s, user)
            if n.kind is NotificationKind.PRODUCTION_DIR_NOT_FOUND
        ]
        assert "2 run(s) of runlist 'LHC23zzh_pass4': 544028, 544032" in n.message
    assert NotificationKind.PRODUCTION_DIR_NOT_FOUND not in kinds(world, world.outsider)


def test_runlists_belong_to_dpg_experts_and_updates_notify_dataset_users(world):
    rl = world.dataset.productions[0].runlist_id
    with pytest.raises(PermissionDenied):
        runlists.create_runlist(world.s, world.actor(world.alice), "x", [1])
    from hyperloop.db.models import Runlist

    runlist = world.s.get(Runlist, rl)
    runlists.edit_runlist(
        world.s,
        world.actor(world.dpg),
        rl,
        expected_version=runlist.version,
        runs=[544013, 544028, 544032, 544091],
    )
    assert NotificationKind.RUNLIST_UPDATED in kinds(world, world.carol)
    assert datasets.runs_of(world.s, world.dataset.id)[-1] == 544091
    with pytest.raises(Conflict, match="used by a dataset"):
        runlists.delete_runlist(world.s, world.actor(world.dpg), rl)


def test_a_staging_request_records_what_the_scheduler_will_copy(world):
    op = world.actor(world.operator)
    prod = world.dataset.productions[0]
    roots = StorageRoots.parse(["/d"])
    lines = ["/d/544013/AO2D_1.root 2000 10", "/d/544028/AO2D_2.root 3000 10"]
    datasets.import_file_list(world.s, op, prod.id, lines, roots=roots)
    transfer = datasets.request_staging(world.s, op, world.dataset.id, "AF-GSI")
    assert (transfer.state, transfer.progress) == ("requested", 0.0)
    assert (transfer.files_total, transfer.bytes_total) == (2, 5000)
    assert (transfer.files_done, transfer.bytes_done) == (0, 0)


def test_size_class_sets_the_resource_limits(world, tmp_path):
    op = world.actor(world.operator)
    prod = world.dataset.productions[0]
    roots = StorageRoots.parse(["/d"])
    datasets.import_file_list(
        world.s, op, prod.id, ["/d/544013/AO2D.root 200000000000000"], roots=roots
    )
    ds = datasets.apply_size_class(world.s, op, world.dataset.id)
    assert (ds.size_class, ds.slots_per_week) == ("medium", 4)
    ds = datasets.apply_size_class(world.s, op, world.dataset.id, "huge")
    assert (ds.cpu_limit_hours, ds.slots_per_week, ds.auto_submission_slots) == (400000.0, 1, 0)
    with pytest.raises(ValidationError, match="unknown size class"):
        datasets.apply_size_class(world.s, op, world.dataset.id, "gigantic")
