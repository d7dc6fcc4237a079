"""Train composition, snapshot semantics, life cycle, clone/compare, long trains, slots."""

from __future__ import annotations

import pytest
from tests.factories import introspection, make_world
from tests.story_cause import BY_TEST

from hyperloop.core import datasets, enabling, quotas, tags, trains, wagons
from hyperloop.core.errors import IllegalTransition, PermissionDenied, ValidationError
from hyperloop.db.models import TrainRun, WagonDataset
from hyperloop.enums import TagPolicy, TestStatus, TrainState, TrainType


@pytest.fixture
def world(session):
    w = make_world(session)
    session.commit()
    return w


def make_tested_wagon(
    w, name, user=None, analysis=None, status=TestStatus.DONE, metrics=None, **kw
):
    user, analysis = user or w.alice, analysis or w.lf
    wagon = wagons.create_wagon(
        w.s,
        w.actor(user),
        analysis.id,
        name=name,
        workflow=kw.pop("workflow", "spectra-charged"),
        **kw,
    )
    policy = kw.pop("policy", TagPolicy.LATEST)
    enabling.enable_wagon(w.s, w.actor(user), wagon.id, w.dataset.id, policy=policy)
    test = enabling.current_test(w.s, wagon.id, w.dataset.id)
    enabling.finish_test(w.s, test.id, status, metrics=metrics or {})
    return wagon


def compose(w, ids, **kw):
    return trains.compose_train(
        w.s, w.actor(w.operator), w.dataset.id, ids, target_id=w.target.id, **kw
    )


def test_a_composed_train_is_a_snapshot_later_edits_do_not_change_it(world):
    wagon = make_tested_wagon(world, "spectra")
    train = compose(world, [wagon.id])
    world.s.commit()
    frozen = train.wagons_snapshot[0]["base_config"]["spectra-charged"]["etaMax"]
    wagons.edit_wagon(
        world.s,
        world.actor(world.alice),
        wagon.id,
        expected_version=wagon.version,
        base_config={"spectra-charged": {"etaMax": "0.2"}},
    )
    datasets.set_mergelist(world.s, world.actor(world.operator), world.dataset.id, "all", [544013])
    world.s.commit()
    world.s.expire_all()
    again = world.s.get(TrainRun, train.id)
    assert frozen == "0.8"
    assert again.wagons_snapshot[0]["base_config"]["spectra-charged"]["etaMax"] == "0.8"
    assert again.dataset_snapshot["mergelists"] == []
    assert again.dataset_snapshot["runs"] == [544013, 544028, 544032]


def test_only_done_or_warning_tests_and_free_wagons_can_be_composed(world):
    ok = make_tested_wagon(world, "ok")
    warn = make_tested_wagon(world, "warn", status=TestStatus.WARNING)
    bad = make_tested_wagon(world, "bad", status=TestStatus.FAILED)
    report = trains.compatible_wagons(world.s, world.dataset.id, [ok.id])
    marks = {c.wagon_id: c.compatible for c in report.candidates}
    assert marks == {ok.id: True, warn.id: True, bad.id: False}
    with pytest.raises(ValidationError, match="test is failed"):
        compose(world, [ok.id, bad.id])
    compose(world, [ok.id])
    with pytest.raises(ValidationError, match="already in a composed train"):
        compose(world, [ok.id, warn.id])


def test_decompose_frees_the_wagons(world):
    wagon = make_tested_wagon(world, "spectra")
    train = compose(world, [wagon.id])
    trains.decompose_train(world.s, world.actor(world.operator), train.id)
    again = compose(world, [wagon.id])
    assert again.state is TrainState.COMPOSED
    with pytest.raises(IllegalTransition, match="decomposed"):
        trains.submit_train(world.s, world.actor(world.operator), train.id)


def test_users_cannot_operate_trains(world):
    wagon = make_tested_wagon(world, "spectra")
    with pytest.raises(PermissionDenied):
        trains.compose_train(
            world.s,
            world.actor(world.alice),
            world.dataset.id,
            [wagon.id],
            target_id=world.target.id,
        )


def test_incompatible_tags_are_marked_and_common_tag_is_chosen(world):
    fixed = wagons.create_wagon(
        world.s, world.actor(world.alice), world.lf.id, name="fixed", workflow="spectra-charged"
    )
    enabling.enable_wagon(
        world.s,
        world.actor(world.alice),
        fixed.id,
        world.dataset.id,
        policy=TagPolicy.FIXED,
        tag_id=world.tag.id,
    )
    enabling.finish_test(
        world.s, enabling.current_test(world.s, fixed.id, world.dataset.id).id, TestStatus.DONE
    )
    newer = tags.register_tag(
        world.s, None, introspection("0.3.0"), artifact="/tags/t2", pull_requests=["1234"]
    )
    pr = wagons.create_wagon(
        world.s, world.actor(world.bob), world.hf.id, name="pr", workflow="spectra-charged"
    )
    enabling.enable_wagon(
        world.s,
        world.actor(world.bob),
        pr.id,
        world.dataset.id,
        policy=TagPolicy.PULL_REQUEST,
        pull_request="1234",
    )
    enabling.finish_test(
        world.s, enabling.current_test(world.s, pr.id, world.dataset.id).id, TestStatus.DONE
    )
    report = trains.compatible_wagons(world.s, world.dataset.id, [fixed.id])
    marks = {c.wagon_id: c for c in report.candidates}
    assert report.tag_id == world.tag.id
    assert not marks[pr.id].compatible
    assert "no common package tag" in marks[pr.id].reasons[0]
    train = compose(world, [pr.id])
    assert train.tag_id == newer.id


def test_submission_disables_wagons_and_auto_submit_follows_a_done_test(world):
    wagon = make_tested_wagon(world, "spectra")
    train = compose(world, [wagon.id], auto_submit=True)
    trains.start_test(world.s, train.id)
    trains.finish_test(world.s, train.id, TestStatus.DONE)
    assert train.state is TrainState.SUBMITTED and train.submitted_at is not None
    row = world.s.query(WagonDataset).filter_by(wagon_id=wagon.id).one()
    assert not row.enabled and f"train run {train.id}" in row.disabled_reason


def test_a_blocking_warning_refuses_submission_naming_it(world):
    from hyperloop.core.assessment import DatasetSize, SampleFacts, evaluate
    from hyperloop.core.errors import Conflict
    from hyperloop.readmodels.trains import train_actions

    summary = {"__full_train__": {"cpu": 1.0, "wall": 1.0}}
    facts = SampleFacts(kind="train", derived_type="linked", input_bytes=1e6, output_bytes=1e3)
    _, found = evaluate(summary, facts, DatasetSize(1e9, 100, files_per_job=30))
    assert [w.code for w in found] == ["linked-inputs"] and found[0].blocks_submission
    wagon = make_tested_wagon(world, "spectra")
    train = compose(world, [wagon.id])
    trains.start_test(world.s, train.id)
    trains.finish_test(world.s, train.id, TestStatus.WARNING, warnings=[w.to_json() for w in found])
    op = world.actor(world.operator)
    assert "submit" not in [a.name for a in train_actions(train, op, 0, short_dataset=False)]
    with pytest.raises(Conflict, match=r"cannot be submitted: .*linked-inputs.*30 input files"):
        trains.submit_train(world.s, op, train.id)
    assert train.state is TrainState.TEST_WARNING


def test_clone_keeps_wagon_timestamps_and_compare_lists_differences(world):
    wagon = make_tested_wagon(world, "spectra")
    train = compose(world, [wagon.id])
    wagons.edit_wagon(
        world.s,
        world.actor(world.alice),
        wagon.id,
        expected_version=wagon.version,
        base_config={"spectra-charged": {"etaMax": "0.2"}},
    )
    clone = trains.clone_train(world.s, world.actor(world.operator), train.id, slow=True)
    assert clone.wagons_snapshot[0]["base_config"]["spectra-charged"]["etaMax"] == "0.8"
    assert clone.parent_id == train.id
    paths = {c.path for c in trains.compare_trains(train, clone)}
    assert paths == {"slow"}


def test_long_train_needs_done_short_train_approval_by_the_pwg_convener(world):
    op = world.actor(world.operator)
    short = datasets.add_short_dataset(
        world.s, op, world.dataset.id, "LHC23_pp_short", slots_per_week=10
    )
    datasets.set_active(world.s, op, short.id, True)
    from hyperloop.core import analyses

    analyses.add_dataset(world.s, world.actor(world.alice), world.lf.id, short.id)
    wagon = wagons.create_wagon(
        world.s, world.actor(world.alice), world.lf.id, name="spectra", workflow="spectra-charged"
    )
    enabling.enable_wagon(world.s, world.actor(world.alice), wagon.id, short.id)
    enabling.finish_test(
        world.s, enabling.current_test(world.s, wagon.id, short.id).id, TestStatus.DONE
    )
    train = trains.compose_train(world.s, op, short.id, [wagon.id], target_id=world.target.id)
    with pytest.raises(ValidationError, match="once it is done"):
        trains.request_long_train(world.s, world.actor(world.alice), train.id)
    for state in (
        TrainState.TESTING,
        TrainState.TEST_DONE,
        TrainState.SUBMITTED,
        TrainState.RUNNING,
        TrainState.MERGING,
        TrainState.DONE,
    ):
        from hyperloop.core.states import transition

        transition(train, state, actor=None, cause=BY_TEST)
    with pytest.raises(PermissionDenied):
        trains.request_long_train(world.s, world.actor(world.bob), train.id)
    long = trains.request_long_train(world.s, world.actor(world.alice), train.id, auto_submit=True)
    assert long.state is TrainState.LONG_TRAIN_REQUESTED and long.dataset_id == world.dataset.id
    with pytest.raises(PermissionDenied):
        trains.approve_long_train(world.s, world.actor(world.alice), long.id)
    trains.approve_long_train(world.s, world.actor(world.convener), long.id)
    assert long.state is TrainState.SUBMITTED and long.approved_by_id == world.convener.id
    # without automatic submission the approved long train waits for an operator
    waits = trains.request_long_train(world.s, world.actor(world.alice), train.id)
    trains.approve_long_train(world.s, world.actor(world.convener), waits.id)
    assert waits.state is TrainState.LONG_TRAIN_APPROVED


def test_memory_warning_keeps_an_approved_long_train_for_the_operator(world):
    wagon = make_tested_wagon(world, "spectra")
    train = compose(world, [wagon.id])
    train.state = TrainState.LONG_TRAIN_REQUESTED
    train.test_warnings = [{"code": "memory", "message": "PSS 3.5 GB"}]
    trains.approve_long_train(world.s, world.actor(world.convener), train.id)
    assert train.state is TrainState.LONG_TRAIN_APPROVED
    trains.submit_train(world.s, world.actor(world.operator), train.id)
    assert train.state is TrainState.SUBMITTED


def test_fair_usage_slots_count_heavy_wagons_double_and_are_capped_by_cores(world):
    heavy = {"__full_train__": {"proportionalSetSize_summary": {"avg": 3.5e9, "max": 3.6e9}}}
    w1 = make_tested_wagon(world, "w1", metrics=heavy)
    w2 = make_tested_wagon(world, "w2")
    compose(world, [w1.id])
    assert quotas.slots_used(world.s, world.lf.id, world.dataset.id) == 2
    # 2-core target: heavy (2) + light (1) is capped at 2
    assert quotas.slots_of([{"analysis_id": 1, "heavy": True}, {"analysis_id": 1}], 2) == {1: 2}
    compose(world, [w2.id])
    assert quotas.analysis_slots(world.s, world.lf.id, world.dataset.id) == (3, 4)
    # carol is in LF and HF (4 + 4 slots), alice only in LF
    assert quotas.slots_available(world.s, world.carol, world.lf.id, world.dataset.id) == 5
    assert quotas.slots_available(world.s, world.alice, world.lf.id, world.dataset.id) == 1
    w3 = make_tested_wagon(world, "w3", metrics=heavy)
    with pytest.raises(ValidationError, match="train slots"):
        compose(world, [w3.id])


def test_an_analyzer_in_several_analyses_has_the_sum_of_their_slots(world):
    """LF's own 4 slots are used; carol (LF and HF) still has HF's unused slots, alice has
    not: carol's wagon is composed, alice's is refused."""
    heavy = {"__full_train__": {"proportionalSetSize_summary": {"avg": 3.5e9, "max": 3.6e9}}}
    for name in ("a1", "a2"):
        compose(world, [make_tested_wagon(world, name, metrics=heavy).id])
    assert quotas.analysis_slots(world.s, world.lf.id, world.dataset.id) == (4, 4)
    with pytest.raises(ValidationError, match="would use 5 of its 4 train slots"):
        compose(world, [make_tested_wagon(world, "alices").id])
    carols = make_tested_wagon(world, "carols", user=world.carol)
    train = compose(world, [carols.id])
    assert [w["wagon_id"] for w in train.wagons_snapshot] == [carols.id]
    assert quotas.user_slots(world.s, world.carol, world.dataset.id) == (5, 8)


def test_linked_derived_data_wagons_run_alone(world):
    a = make_tested_wagon(world, "a", workflow="tree-maker", derived_tables=["MyTracks"])
    b = make_tested_wagon(
        world,
        "b",
        workflow="tree-maker",
        derived_tables=["MyTracks"],
        base_config={"tree-maker": {"ptMin": "0.3"}},
    )
    with pytest.raises(ValidationError, match="run alone"):
        compose(world, [a.id, b.id], train_type=TrainType.LINKED_DERIVED)
    train = compose(world, [a.id, b.id], train_type=TrainType.STANDARD_DERIVED)
    assert train.train_type is TrainType.STANDARD_DERIVED


def test_wagons_whose_dependencies_disagree_cannot_share_a_train(world):
    ev1 = wagons.create_wagon(
        world.s, world.actor(world.alice), world.lf.id, name="ev1", workflow="event-selection"
    )
    ev2 = wagons.create_wagon(
        world.s,
        world.actor(world.bob),
        world.hf.id,
        name="ev2",
        workflow="event-selection",
        base_config={"event-selection": {"zMax": "7"}},
    )
    a = make_tested_wagon(world, "a", dependencies=[ev1.id])
    b = make_tested_wagon(world, "b", user=world.bob, analysis=world.hf, dependencies=[ev2.id])
    marks = {
        c.wagon_id: c
        for c in trains.compatible_wagons(world.s, world.dataset.id, [a.id]).candidates
    }
    assert not marks[b.id].compatible
    assert "configured differently" in marks[b.id].reasons[0]
    with pytest.raises(ValidationError):
        compose(world, [a.id, b.id])


def test_grid_and_recent_enablings_for_the_composition_view(world):
    from datetime import timedelta

    from hyperloop.db.base import utcnow

    old = make_tested_wagon(world, "old")
    new = make_tested_wagon(world, "new", status=TestStatus.WARNING)
    row = world.s.query(WagonDataset).filter_by(wagon_id=old.id).one()
    row.enabled_at = utcnow() - timedelta(days=10)
    week_ago = utcnow() - timedelta(days=7)
    recent = trains.compatible_wagons(world.s, world.dataset.id, [], enabled_since=week_ago)
    assert [c.wagon_id for c in recent.candidates] == [new.id]
    everything = trains.compatible_wagons(world.s, world.dataset.id, [])
    assert [c.wagon_id for c in everything.candidates] == [old.id, new.id]
    cells = {c.wagon_id: c for c in enabling.analysis_grid(world.s, world.lf.id)}
    assert cells[old.id].test_status == "done" and cells[new.id].test_status == "warning"
    assert cells[old.id].enabled and cells[old.id].tag_policy == "latest"


def test_long_train_above_the_cpu_limit_waits_for_the_operator(world):
    wagon = make_tested_wagon(world, "spectra")
    world.dataset.cpu_limit_hours = 100.0
    train = compose(world, [wagon.id])
    train.state = TrainState.LONG_TRAIN_REQUESTED
    train.test_metrics = {"expected": {"cpu_seconds": 500 * 3600.0}}
    trains.approve_long_train(world.s, world.actor(world.convener), train.id)
    assert train.state is TrainState.LONG_TRAIN_APPROVED
    assert trains.expected_cpu_hours_of({"expected_cpu_hours": 3}) == 3.0


def _done_short_train(world, names):
    """A train done on a new short dataset of the world's dataset, with wagons ``names``."""
    op = world.actor(world.operator)
    short = datasets.add_short_dataset(
        world.s, op, world.dataset.id, "LHC23_pp_short", slots_per_week=10
    )
    datasets.set_active(world.s, op, short.id, True)
    from hyperloop.core import analyses

    analyses.add_dataset(world.s, world.actor(world.alice), world.lf.id, short.id)
    made = []
    for i, name in enumerate(names):
        wagon = wagons.create_wagon(
            world.s,
            world.actor(world.alice),
            world.lf.id,
            name=name,
            workflow="spectra-charged",
            base_config={"spectra-charged": {"etaMax": f"0.{i + 5}"}},
        )
        enabling.enable_wagon(world.s, world.actor(world.alice), wagon.id, short.id)
        enabling.finish_test(
            world.s, enabling.current_test(world.s, wagon.id, short.id).id, TestStatus.DONE
        )
        made.append(wagon)
    train = trains.compose_train(
        world.s, op, short.id, [w.id for w in made], target_id=world.target.id
    )
    train.state = TrainState.DONE
    return train, made


def test_a_long_train_takes_a_subset_of_the_wagons_a_target_and_slim_becomes_standard(world):
    alice = world.actor(world.alice)
    train, (keep, drop) = _done_short_train(world, ["spectra", "spectra_wide"])
    big = trains.create_target(world.s, None, name="grid-8core", cores=8)
    with pytest.raises(ValidationError, match="is not the dataset of short dataset"):
        trains.request_long_train(world.s, alice, train.id, dataset_id=train.dataset_id)
    with pytest.raises(ValidationError, match="wagon 99999 is not in train run"):
        trains.request_long_train(world.s, alice, train.id, wagon_ids=[keep.id, 99999])
    with pytest.raises(ValidationError, match="is analysis, not standard_derived"):
        trains.request_long_train(world.s, alice, train.id, train_type="standard_derived")
    long = trains.request_long_train(
        world.s,
        alice,
        train.id,
        dataset_id=world.dataset.id,
        target_id=big.id,
        wagon_ids=[keep.id],
    )
    assert [w["wagon_id"] for w in long.wagons_snapshot] == [keep.id]
    assert (long.dataset_id, long.target_id, long.auto_submit) == (world.dataset.id, big.id, False)
    # slim derived data on the short dataset may be standard derived data on the big one
    train.train_type = TrainType.SLIM_DERIVED
    train.wagons_snapshot = [
        {**w, "derived_tables": ["MyTracks"], "slim_ready": True} for w in train.wagons_snapshot
    ]
    assert trains.long_train_types(TrainType.SLIM_DERIVED) == [
        TrainType.SLIM_DERIVED,
        TrainType.STANDARD_DERIVED,
    ]
    standard = trains.request_long_train(
        world.s, alice, train.id, train_type="standard_derived", auto_submit=True
    )
    assert standard.train_type is TrainType.STANDARD_DERIVED and standard.auto_submit
    with pytest.raises(ValidationError, match="is slim_derived, standard_derived, not analysis"):
        trains.request_long_train(world.s, alice, train.id, train_type="analysis")
