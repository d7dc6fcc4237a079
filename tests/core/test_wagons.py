"""Wagons: validation, optimistic locking, history, clone, dependencies, subwagons, sync."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.factories import introspection, make_world

from hyperloop.core import tags, wagons
from hyperloop.core.errors import Conflict, PermissionDenied, ValidationError
from hyperloop.db.base import utcnow
from hyperloop.db.models import HistoryEntry, Wagon


@pytest.fixture
def world(session):
    w = make_world(session)
    session.commit()
    return w


def new_wagon(w, user=None, analysis=None, name="spectra", **kw):
    return wagons.create_wagon(
        w.s,
        w.actor(user or w.alice),
        (analysis or w.lf).id,
        name=name,
        workflow=kw.pop("workflow", "spectra-charged"),
        **kw,
    )


def test_new_wagon_gets_every_default_and_records_history(world):
    wagon = new_wagon(world, base_config={"spectra-charged": {"etaMax": "0.9"}})
    cfg = wagon.base_config["spectra-charged"]
    assert cfg["etaMax"] == "0.9"
    assert cfg["processData"] == "true" and cfg["centClasses"] == {"values": ["0", "10", "50"]}
    entries = world.s.query(HistoryEntry).filter_by(object_type="wagon").all()
    assert [e.action for e in entries] == ["create"] and entries[0].user_id == world.alice.id


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"spectra-charged": {"etaMax": "wide"}}, "etaMax"),
        ({"spectra-charged": {"nEvents": "1.5"}}, "nEvents"),
        ({"spectra-charged": {"noSuchParam": "1"}}, "noSuchParam"),
        ({"other-task": {"x": "1"}}, "other-task"),
        ({"spectra-charged": {"ptAxis": {"values": ["0", "1", "0.5"]}}}, "ptAxis"),
        (
            {
                "spectra-charged": {
                    "pidCuts": {
                        "labels_rows": ["Pi", "Pr"],
                        "labels_cols": ["TPC", "TOF"],
                        "values": [["3", "3"], ["3", "3"]],
                    }
                }
            },
            "pidCuts",
        ),
    ],
)
def test_invalid_configuration_is_refused_naming_the_parameter(world, config, fragment):
    with pytest.raises(ValidationError) as err:
        new_wagon(world, base_config=config)
    assert fragment in err.value.message


def test_names_are_alphanumeric_and_unique_per_analysis(world):
    with pytest.raises(ValidationError):
        new_wagon(world, name="has space")
    new_wagon(world)
    with pytest.raises(Conflict):
        new_wagon(world, user=world.carol)
    # the same name in another analysis is fine
    new_wagon(world, user=world.bob, analysis=world.hf)


def test_only_members_create_and_edit(world):
    with pytest.raises(PermissionDenied):
        new_wagon(world, user=world.bob)  # bob is not in LF
    wagon = new_wagon(world)
    with pytest.raises(PermissionDenied):
        wagons.edit_wagon(
            world.s, world.actor(world.outsider), wagon.id, expected_version=wagon.version, name="x"
        )
    # an admin impersonating alice acts as alice, and both names are recorded
    wagons.edit_wagon(
        world.s,
        world.actor(world.alice, world.admin),
        wagon.id,
        expected_version=wagon.version,
        name="renamed",
    )
    last = wagons.wagon_history(world.s, wagon.id)[-1]
    assert last["user_id"] == world.alice.id and last["impersonator_id"] == world.admin.id
    assert last["changes"]["name"] == ["spectra", "renamed"]


def test_stale_edit_gets_conflict_with_what_changed(world):
    wagon = new_wagon(world)
    seen = wagon.version
    wagons.edit_wagon(
        world.s,
        world.actor(world.carol),
        wagon.id,
        expected_version=seen,
        base_config={"spectra-charged": {"etaMax": "0.5"}},
    )
    with pytest.raises(Conflict) as err:
        wagons.edit_wagon(
            world.s, world.actor(world.alice), wagon.id, expected_version=seen, name="mine"
        )
    details = err.value.details
    assert details["current_version"] == seen + 1
    assert {"path": "base_config.spectra-charged.etaMax", "old": "0.8", "new": "0.5"} in (
        details["changes"]
    )
    assert world.s.get(Wagon, wagon.id).name == "spectra"


def test_two_sessions_editing_concurrently_lose_nothing(world, db_sessionmaker):
    wagon_id = new_wagon(world).id
    world.s.commit()
    with db_sessionmaker() as s1, db_sessionmaker() as s2:
        w1, w2 = s1.get(Wagon, wagon_id), s2.get(Wagon, wagon_id)
        v = w1.version
        assert w2.version == v
        from hyperloop.core.actor import Actor
        from hyperloop.core.users import get_user

        wagons.edit_wagon(
            s1,
            Actor(get_user(s1, "alice")),
            wagon_id,
            expected_version=v,
            base_config={"spectra-charged": {"etaMax": "0.3"}},
        )
        s1.commit()
        with pytest.raises(Conflict) as err:
            wagons.edit_wagon(
                s2,
                Actor(get_user(s2, "carol")),
                wagon_id,
                expected_version=v,
                base_config={"spectra-charged": {"nEvents": "7"}},
            )
        s2.rollback()
        assert any(c["path"].endswith("etaMax") for c in err.value.details["changes"])
    with db_sessionmaker() as s3:
        final = s3.get(Wagon, wagon_id)
        assert final.base_config["spectra-charged"]["etaMax"] == "0.3"
        assert final.base_config["spectra-charged"]["nEvents"] == "100"


def test_compare_with_itself_in_the_past_and_with_another_wagon(world):
    wagon = new_wagon(world)
    t0 = utcnow()
    world.s.query(HistoryEntry).update({HistoryEntry.at: t0 - timedelta(seconds=5)})
    wagons.edit_wagon(
        world.s,
        world.actor(world.alice),
        wagon.id,
        expected_version=wagon.version,
        base_config={"spectra-charged": {"label": "PbPb"}},
    )
    changes = wagons.compare_wagon_times(world.s, wagon.id, t0 - timedelta(seconds=1), utcnow())
    assert [(c.path, c.old, c.new) for c in changes] == [
        ("base_config.spectra-charged.label", "pp", "PbPb")
    ]
    other = new_wagon(world, name="other")
    paths = {c.path for c in wagons.compare_wagons(world.s, wagon.id, other.id)}
    assert paths == {"name", "base_config.spectra-charged.label"}


def test_clone_keeps_subwagons_derived_data_and_clones_private_dependencies(world):
    evsel = new_wagon(world, name="evsel", workflow="event-selection")
    svc = wagons.create_wagon(
        world.s,
        world.actor(world.service_expert),
        world.service.id,
        name="svc_evsel",
        workflow="event-selection",
    )
    tree = new_wagon(
        world,
        name="tree",
        workflow="tree-maker",
        derived_tables=["MyTracks"],
        subwagons={"loose": {"tree-maker": {"ptMin": "0.1"}}},
        dependencies=[evsel.id, svc.id],
    )
    clone = wagons.clone_wagon(world.s, world.actor(world.carol), tree.id, world.hf.id)
    assert clone.analysis_id == world.hf.id and clone.name == "tree"
    assert clone.subwagons == {"loose": {"tree-maker": {"ptMin": "0.1"}}}
    assert clone.derived_tables == ["MyTracks"]
    deps = {d.name: d.analysis_id for d in clone.dependencies}
    assert deps == {"evsel": world.hf.id, "svc_evsel": world.service.id}
    with pytest.raises(PermissionDenied):  # alice is not in HF
        wagons.clone_wagon(world.s, world.actor(world.alice), tree.id, world.hf.id)


def test_dependencies_only_same_analysis_or_service_and_no_cycles(world):
    hf_wagon = new_wagon(
        world, user=world.bob, analysis=world.hf, name="hfevsel", workflow="event-selection"
    )
    with pytest.raises(ValidationError, match="service wagons"):
        new_wagon(world, dependencies=[hf_wagon.id])
    a = new_wagon(world, name="a", workflow="event-selection")
    b = new_wagon(world, name="b", dependencies=[a.id])
    with pytest.raises(ValidationError, match="cycle"):
        wagons.edit_wagon(
            world.s, world.actor(world.alice), a.id, expected_version=a.version, dependencies=[b.id]
        )
    with pytest.raises(Conflict, match="dependency"):
        wagons.delete_wagon(world.s, world.actor(world.alice), a.id)


def test_subwagons_store_overrides_only_and_identical_ones_are_refused(world):
    wagon = new_wagon(
        world, subwagons={"tight": {"spectra-charged": {"etaMax": "0.5", "label": "pp"}}}
    )
    assert wagon.subwagons == {"tight": {"spectra-charged": {"etaMax": "0.5"}}}
    with pytest.raises(ValidationError, match="identical to the base"):
        new_wagon(world, name="w2", subwagons={"same": {"spectra-charged": {"label": "pp"}}})
    with pytest.raises(ValidationError, match="identical configurations"):
        new_wagon(
            world,
            name="w3",
            subwagons={
                "a": {"spectra-charged": {"etaMax": "0.5"}},
                "b": {"spectra-charged": {"etaMax": "0.5"}},
            },
        )


def test_variable_array_elements_added_in_base_propagate_to_subwagons(world):
    wagon = new_wagon(
        world,
        subwagons={
            "central": {
                "spectra-charged": {"centClasses": {"values": ["0", "5", "50"]}, "etaMax": "0.5"}
            }
        },
    )
    wagons.edit_wagon(
        world.s,
        world.actor(world.alice),
        wagon.id,
        expected_version=wagon.version,
        base_config={"spectra-charged": {"centClasses": {"values": ["0", "10", "50", "90"]}}},
    )
    assert wagon.subwagons["central"]["spectra-charged"]["centClasses"] == {
        "values": ["0", "5", "50", "90"]
    }
    wagons.edit_wagon(
        world.s,
        world.actor(world.alice),
        wagon.id,
        expected_version=wagon.version,
        base_config={"spectra-charged": {"centClasses": {"values": ["0", "10", "90"]}}},
    )
    assert wagon.subwagons["central"]["spectra-charged"]["centClasses"] == {
        "values": ["0", "5", "90"]
    }


def test_sync_drops_removed_parameters_and_takes_new_defaults_for_untouched_values(world):
    wagon = new_wagon(world, base_config={"spectra-charged": {"nEvents": "5"}})
    newer = tags.register_tag(
        world.s,
        None,
        introspection("0.3.0", drop_label=True, new_default_eta="0.7"),
        artifact="/tags/t2",
    )
    synced, report = wagons.sync_wagon(world.s, world.actor(world.alice), wagon.id, tag_id=newer.id)
    cfg = synced.base_config["spectra-charged"]
    assert synced.tag_id == newer.id
    assert "label" not in cfg and "spectra-charged.label" in report.removed
    assert cfg["etaMax"] == "0.7" and "spectra-charged.etaMax" in report.new_defaults
    assert cfg["nEvents"] == "5" and "spectra-charged.nEvents" in report.kept


def test_delete_keeps_history(world):
    wagon = new_wagon(world)
    wid = wagon.id
    wagons.delete_wagon(world.s, world.actor(world.alice), wid)
    assert world.s.get(Wagon, wid) is None
    assert [e["action"] for e in wagons.wagon_history(world.s, wid)] == ["create", "delete"]
