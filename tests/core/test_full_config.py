"""The typed train spec (``FullConfig``) of a wagon test, a train test and a train job, built
by one function from the database snapshot, writes the same ``full_config.json`` byte for
byte as the scheduler wrote before the spec was typed (the expected files in
``tests/data/full_config/`` were captured from the earlier code), and converts to the
runtime's ``TrainSpec``."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from hyperloop.analysis.spec import FullConfig, TrainSpec
from hyperloop.core.full_config import build_full_config
from hyperloop.db.models import PackageTag, TrainRun, WagonTest
from hyperloop.enums import TrainType
from hyperloop.grid.execute import write_full_config
from hyperloop.grid.targets import Target

EXPECTED = Path(__file__).parents[1] / "data" / "full_config"
TAG = ("hyperloop-physics", "0.2.0")


def _wagon(wid: int, name: str, workflow: str, deps: list[int], **extra: Any) -> dict[str, Any]:
    """A wagon as ``wagon_state`` snapshots it (plus id and version)."""
    state: dict[str, Any] = {
        "wagon_id": wid,
        "version": 3,
        "name": name,
        "workflow": workflow,
        "tag_id": None,
        "base_config": {},
        "subwagons": {},
        "derived_tables": [],
        "slim_ready": False,
        "max_df_size": 0,
        "max_derived_file_size": 0,
        "analysis_id": 1,
        "dependencies": deps,
    }
    state.update(extra)
    return state


PROP = _wagon(1, "prop", "track-propagation", [], base_config={"track-propagation": {"x": "1"}})
TRK = _wagon(2, "trksel", "track-selection", [1], base_config={"track-selection": {"ptMin": "0.1"}})
EVSEL = _wagon(3, "evsel", "event-selection", [])
SPECTRA = _wagon(
    4,
    "spectra",
    "spectra-charged",
    [2, 3],
    base_config={"spectra-charged": {"etaMax": "0.8", "nBins": "50"}},
    subwagons={
        "eta05": {"spectra-charged": {"etaMax": "0.5", "nBins": "inherit"}},
        "a-first": {"spectra-charged": {"nBins": "20"}},
    },
    derived_tables=["SpectraTracks", "SpectraEvents"],
)
V0 = _wagon(5, "v0", "v0-builder", [2], derived_tables=["V0Cands", "SpectraEvents"])


def wagon_test_snapshot() -> dict[str, Any]:
    """``enabling.test_snapshot`` of the spectra wagon: the wagon, its dependency closure."""
    return copy.deepcopy({"wagon": SPECTRA, "dependencies": [PROP, TRK, EVSEL]})


def train_snapshot() -> list[dict[str, Any]]:
    """``TrainRun.wagons_snapshot`` of a train of spectra, v0 and trksel (a wagon that is
    also another's dependency), each with its dependency snapshots."""
    out = []
    for w, deps in ((SPECTRA, [PROP, TRK, EVSEL]), (V0, [PROP, TRK]), (TRK, [PROP])):
        snap = copy.deepcopy(w)
        snap.update(pwg="PWG-LF", test_status="done", dependency_snapshots=copy.deepcopy(deps))
        out.append(snap)
    return out


def _tag() -> PackageTag:
    return PackageTag(name=TAG[0], version=TAG[1])


def _wagon_test() -> WagonTest:
    return WagonTest(config_snapshot=wagon_test_snapshot())


def _train(train_type: TrainType) -> TrainRun:
    return TrainRun(wagons_snapshot=train_snapshot(), train_type=train_type)


@pytest.mark.parametrize(
    ("name", "source", "cores"),
    [
        ("wagon_test", _wagon_test, 1),
        ("train_test", lambda: _train(TrainType.ANALYSIS), 4),
        ("train_job", lambda: _train(TrainType.STANDARD_DERIVED), 2),
    ],
)
def test_the_written_file_is_byte_for_byte_what_it_was(name, source, cores, tmp_path) -> None:
    spec = build_full_config(source(), _tag())
    assert isinstance(spec, FullConfig)
    write_full_config(tmp_path, spec, Target("t", cores))
    written = (tmp_path / "full_config.json").read_text()
    assert written == (EXPECTED / f"{name}.full_config.json").read_text()
    # run-train reads the file into the runtime's spec; the typed spec converts to the same
    assert TrainSpec.load(tmp_path / "full_config.json") == spec.with_cores(cores).to_train_spec()


def test_the_wagon_test_runs_dependencies_then_the_wagon_and_its_subwagons() -> None:
    spec = build_full_config(_wagon_test(), _tag())
    assert [(w.workflow_name, w.suffix) for w in spec.workflows] == [
        ("track-propagation", ""),
        ("track-selection", ""),
        ("event-selection", ""),
        ("spectra-charged", ""),
        ("spectra-charged", "a-first"),
        ("spectra-charged", "eta05"),
    ]
    # "inherit" keeps the base value; the override replaces it
    assert spec.workflows[-1].configuration == {"spectra-charged": {"etaMax": "0.5", "nBins": "50"}}
    assert spec.derived_tables == ("SpectraTracks", "SpectraEvents")
    assert spec.cpu_cores is None


def test_a_train_runs_each_wagon_once_and_only_derived_trains_write_tables() -> None:
    analysis = build_full_config(_train(TrainType.ANALYSIS), _tag())
    ids = [w.wagon_id for w in analysis.workflows if not w.suffix]
    assert ids == [1, 2, 3, 4, 5]  # trksel (2) is a wagon and a dependency: once
    assert analysis.derived_tables == ()
    assert "derived_data" not in analysis.to_json()
    derived = build_full_config(_train(TrainType.SLIM_DERIVED), _tag(), cores=8)
    assert derived.derived_tables == ("SpectraTracks", "SpectraEvents", "V0Cands")
    assert derived.to_json()["cpu_cores"] == 8


def test_the_api_forms_are_unchanged() -> None:
    """What the reproduce API rebuilds from the database (no attempt folder) and what
    ``/api/trains/{id}/full-config`` returns."""
    tag = _tag()
    wagon_test = build_full_config(_wagon_test(), tag).to_json()
    assert json.dumps(wagon_test, indent=2) == (EXPECTED / "wagon_test.reproduce.json").read_text()
    job = build_full_config(_train(TrainType.STANDARD_DERIVED), tag, cores=2).to_json()
    assert json.dumps(job, indent=2) == (EXPECTED / "train_job.reproduce.json").read_text()
    train = build_full_config(_train(TrainType.ANALYSIS), tag).to_json()
    assert json.dumps(train, indent=2) == (EXPECTED / "train.api.json").read_text()


def test_the_typed_spec_travels_pickled_as_itself() -> None:
    """Dask pickles the spec to the worker: it arrives typed, equal, not as a dict."""
    spec = build_full_config(_train(TrainType.LINKED_DERIVED), _tag())
    back = pickle.loads(pickle.dumps(spec))
    assert isinstance(back, FullConfig)
    assert back == spec


def test_the_wagons_derived_limits_reach_the_writer_the_strictest_first() -> None:
    train = _train(TrainType.STANDARD_DERIVED)
    train.wagons_snapshot[0].update(max_df_size=50_000_000, max_derived_file_size=2_000_000_000)
    train.wagons_snapshot[1].update(max_df_size=30_000_000)  # v0: stricter DF size
    spec = build_full_config(train, _tag())
    assert (spec.max_df_size, spec.max_derived_file_size) == (30_000_000, 2_000_000_000)
    director = spec.to_train_spec().output_director
    assert director.max_df_bytes == 30_000_000
    assert director.max_file_bytes == 2_000_000_000
    # analysis trains write no derived data: no limits
    analysis = build_full_config(_train(TrainType.ANALYSIS), _tag())
    assert analysis.max_df_size is None and "OutputDirector" not in analysis.to_json()


def test_a_second_wagon_of_a_workflow_runs_its_tasks_under_its_wagon_id() -> None:
    """Two analyses' wagons of one workflow in a train (the overlap the enabling warns of):
    the second one's tasks, and its subwagons', run as ``<task>_id<wagon id>``, so that the
    train's plan has distinct task instances and outputs; the first keeps the plain names."""
    other = _wagon(
        9,
        "spectra_cf",
        "spectra-charged",
        [2, 3],
        base_config={"spectra-charged": {"etaMax": "0.9"}},
        subwagons={"eta05": {"spectra-charged": {"etaMax": "0.5"}}},
        analysis_id=2,
    )
    snaps = train_snapshot()
    snap = copy.deepcopy(other)
    snap.update(test_status="done", dependency_snapshots=copy.deepcopy([PROP, TRK, EVSEL]))
    train = TrainRun(wagons_snapshot=[*snaps, snap], train_type=TrainType.ANALYSIS)
    spec = build_full_config(train, _tag())
    names = [(w.workflow_name, w.suffix, w.wagon_id) for w in spec.workflows]
    assert ("spectra-charged", "", 4) in names  # the first wagon: plain names
    assert ("spectra-charged", "_id9", 9) in names
    assert ("spectra-charged", "_id9eta05", 9) in names  # and its subwagon
    assert len({(w, s) for w, s, _ in names}) == len(names)  # no two alike
    cfg = next(w for w in spec.workflows if w.suffix == "_id9").configuration
    assert cfg["spectra-charged"]["etaMax"] == "0.9"  # its own configuration


def test_two_wagons_of_one_workflow_make_a_plan_of_the_physics_package() -> None:
    """The spec of such a train is a valid plan of the real package: every task instance
    once, the second wagon's under ``_id<wagon id>`` (the train test used to fail with
    "task instance ... is already defined")."""
    from hyperloop.analysis.plan import build_plan
    from hyperloop.analysis.workflows import load_package

    deps = copy.deepcopy([PROP, _wagon(2, "trksel", "track-selection", [1]), EVSEL])
    deps.append(_wagon(6, "mult", "multiplicity", [3]))
    deps[0]["base_config"] = {}  # the package's defaults
    wagons = []
    for wid, eta in ((4, "0.8"), (9, "0.5")):
        w = _wagon(wid, f"spectra{wid}", "spectra-charged", [2, 3])
        w["base_config"] = {"spectra-charged": {"etaMax": eta}}
        w.update(dependency_snapshots=copy.deepcopy(deps))
        wagons.append(w)
    train = TrainRun(wagons_snapshot=wagons, train_type=TrainType.ANALYSIS)
    spec = TrainSpec.from_json(build_full_config(train, _tag()).to_json())
    plan = build_plan(spec, load_package(name="hyperloop-physics"))
    names = [i.name for i in plan.instances]
    assert "spectra-charged" in names and "spectra-charged_id9" in names
    assert len(names) == len(set(names))
    second = plan.instance("spectra-charged_id9")
    assert second.wagon_ids == [9] and second.task._config["etaMax"] == 0.5
