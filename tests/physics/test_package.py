"""The physics package as the system sees it: workflows, configurables, tables, plans."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hyperloop.analysis.configurables import Kind
from hyperloop.analysis.o2config import parse_task_config
from hyperloop.analysis.plan import PlanError, build_plan
from hyperloop.analysis.spec import TrainSpec

USER_WORKFLOWS = {
    "spectra-charged",
    "mc-spectra",
    "two-particle-correlations",
    "strangeness",
    "ud-rho",
    "skim-tracks",
    "spectra-skimmed",
}
SERVICE_WORKFLOWS = {
    "timestamp",
    "track-propagation",
    "event-selection",
    "track-selection",
    "multiplicity",
    "pid",
}


def test_the_package_exposes_services_and_analyses(physics):
    assert physics.name == "hyperloop-physics"
    assert physics.version == "0.2.0"
    assert set(physics.workflows) == USER_WORKFLOWS | SERVICE_WORKFLOWS
    produced = {wf: physics.get(wf).produces() for wf in SERVICE_WORKFLOWS}
    assert produced == {
        "timestamp": {"Timestamps"},
        "track-propagation": {"Tracks", "TracksDCA", "TracksCov"},
        "event-selection": {"EvSels"},
        "track-selection": {"TrackSelection"},
        "multiplicity": {"Mults"},
        "pid": {"PIDTPC"},
    }
    assert physics.get("skim-tracks").produces() == {"SkimCollisions", "SkimTracks"}


def test_every_task_is_documented_and_every_configurable_type_is_used(physics):
    described = physics.describe()
    json.dumps(described)  # what the server stores per package tag
    kinds, binnings = set(), set()
    for wf in described["workflows"]:
        assert wf["doc"], wf["name"]
        for task in wf["tasks"]:
            assert len(task["doc"]) > 80, f"{task['name']} needs a docstring a physicist accepts"
            for conf in task["configurables"]:
                assert conf["help"], f"{task['name']}.{conf['name']} has no help text"
                kinds.add(conf["kind"])
                if conf["kind"] == Kind.BINNING:
                    binnings.add(conf["binning"])
    assert kinds == {k.value for k in Kind}
    assert binnings == {"fixed", "variable"}


def test_track_selection_of_this_version_has_the_longitudinal_dca_cut(physics):
    confs = physics.get("track-selection").task("track-selection").configurables()
    assert confs["maxDcaZ"].default == 2.0
    assert confs["maxDcaXY"].default == 0.1


def test_default_configurations_round_trip_through_o2_json(physics):
    for wf in physics.workflows.values():
        for task_cls in wf.tasks:
            task = task_cls()
            exported = json.loads(json.dumps(task.export_config()))
            values = parse_task_config(task_cls.name, exported, task_cls.configurables())
            assert task_cls(values).export_config() == exported


def test_labelled_matrix_accepts_an_o2_json_value(physics):
    task_cls = physics.get("ud-rho").task("ud-rho")
    raw = task_cls().export_config()["pidCuts"]
    assert raw["labels_rows"] == ["Pi", "El", "Ka", "Pr"]
    assert raw["labels_cols"] == ["TPC", "TOF"]
    raw["values"][0][0] = "2.5"
    values = parse_task_config("ud-rho", {"pidCuts": raw}, task_cls.configurables())
    assert task_cls(values).pidCuts.get("Pi", "TPC") == 2.5


def test_an_analysis_without_its_services_is_refused_before_reading(physics):
    spec = TrainSpec.from_json({"workflows": [{"workflow_name": "spectra-charged"}]})
    with pytest.raises(PlanError, match="event-selection"):
        build_plan(spec, physics)


def test_services_run_before_the_analyses_that_use_them(physics):
    names = [
        "strangeness",
        "pid",
        "spectra-charged",
        "multiplicity",
        "track-selection",
        "event-selection",
    ]
    spec = TrainSpec.from_json({"workflows": [{"workflow_name": n} for n in names]})
    order = [i.name for i in build_plan(spec, physics).instances]
    assert order.index("track-selection") < order.index("multiplicity")
    assert order.index("multiplicity") < order.index("spectra-charged")
    assert order.index("pid") < order.index("strangeness")
    assert order.index("event-selection") < order.index("strangeness")


def test_pid_and_efficiency_defaults_are_the_demo_detector_response(physics):
    from hyperloop.demo import TPC_SIGNAL_RESOLUTION, efficiency, expected_tpc_signal
    from hyperloop_physics.kinematics import tracking_efficiency
    from hyperloop_physics.pid_response import RELATIVE_RESOLUTION, expected_signal

    p = np.geomspace(0.1, 20, 200)
    for mass in (0.13957, 0.493677, 0.938272):
        np.testing.assert_allclose(expected_signal(p, mass), expected_tpc_signal(p, mass))
    assert RELATIVE_RESOLUTION == TPC_SIGNAL_RESOLUTION
    pt, eta = np.meshgrid(np.linspace(0, 3, 61), np.linspace(-1, 1, 41))
    params = physics.get("mc-spectra").task("mc-spectra").configurables()["efficiencyParams"]
    np.testing.assert_allclose(tracking_efficiency(pt, eta, params.default), efficiency(pt, eta))


def test_a_parameter_added_by_hand_is_ignored_and_reported_where_the_task_lacks_it(physics):
    """A wagon's hand-added parameter runs where the task declares it (typed there) and is
    left out, listed per instance, where it does not; an unknown one not added by hand is
    still an error."""
    entry = {
        "workflow_name": "event-selection",
        "configuration": {"event-selection": {"maxVertexZ": "7", "newCut": "3"}},
        "added_parameters": {"event-selection": ["newCut"]},
    }
    spec = TrainSpec.from_json({"workflows": [entry]})
    assert TrainSpec.from_json(spec.to_json()).workflows[0].added_parameters == {
        "event-selection": ["newCut"]
    }
    plan = build_plan(spec, physics)
    assert plan.ignored_parameters == {"event-selection": ["newCut"]}
    assert plan.instances[0].task.maxVertexZ == 7.0

    declared = dict(entry, added_parameters={"event-selection": ["maxVertexZ"]})
    declared["configuration"] = {"event-selection": {"maxVertexZ": "6"}}
    plan = build_plan(TrainSpec.from_json({"workflows": [declared]}), physics)
    assert plan.ignored_parameters == {} and plan.instances[0].task.maxVertexZ == 6.0

    not_added = dict(entry, added_parameters={})
    with pytest.raises(ValueError, match="unknown parameter 'newCut'"):
        build_plan(TrainSpec.from_json({"workflows": [not_added]}), physics)
