"""O2 JSON configuration codec on the real dpl-config files, typed and untyped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hyperloop.analysis.configurables import (
    INHERIT,
    Configurable,
    ConfigurableAxis,
    ConfigurationError,
    Kind,
    LabelledMatrix,
    Variable,
    VariableArray,
)
from hyperloop.analysis.o2config import (
    O2DuplicateKeyWarning,
    O2JsonError,
    TypedValue,
    complete_task_config,
    dump_o2_json,
    export_task_config,
    infer_value,
    load_o2_config,
    load_o2_json,
    parse_o2_config,
    parse_task_config,
)

REAL_FILES = ["dpl-config_strangeness.json", "dpl-config_ud_rho.json"]


@pytest.fixture(scope="module")
def strangeness(realdata: Path) -> dict:
    return load_o2_json(realdata / "dpl-config_strangeness.json")


# -- whole documents, untyped --------------------------------------------------------


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_file_round_trips_exactly(realdata: Path, name: str):
    path = realdata / name
    original_text = path.read_text()
    original = json.loads(original_text)
    cfg = load_o2_config(path)
    dumped = dump_o2_json(cfg)
    # same document, including every string; and the same bytes as O2 wrote it
    assert json.loads(dumped) == original
    assert list(json.loads(dumped)) == list(original)  # task order kept
    assert dumped == original_text
    # the dump re-parses to the same document again
    assert dump_o2_json(load_o2_config(dumped)) == dumped


def test_real_file_tasks_and_internal_devices(strangeness: dict):
    cfg = parse_o2_config(strangeness, source="strangeness")
    assert len(cfg.tasks) == 29
    reader = cfg.tasks["internal-dpl-aod-reader"]
    assert reader.internal and not reader.empty
    clock = cfg.tasks["internal-dpl-clock"]
    assert clock.internal and clock.empty and clock.to_o2() == ""
    converter = cfg.tasks["bc-converter"]
    assert converter.empty and not converter.internal
    assert "internal-dpl-aod-reader" not in cfg.analysis_tasks
    assert "lambdakzero-builder" in cfg.analysis_tasks


def test_untyped_inference_on_real_values(strangeness: dict):
    params = parse_o2_config(strangeness).tasks["lambdakzero-builder"].params
    assert params["d_UseAbsDCA"] == TypedValue(Kind.BOOL, True)
    assert params["downscaleFactor"] == TypedValue(Kind.INT, 2)
    assert params["d_bz"] == TypedValue(Kind.INT, -999)
    assert params["dcanegtopv"].kind is Kind.FLOAT
    assert params["dcanegtopv"].value == pytest.approx(0.06)
    assert params["dcanegtopv"].to_o2() == "0.0599999987"
    assert params["v0cospa"].to_o2() == "0.97999999999999998"
    assert params["ccdb-url"] == TypedValue(Kind.STRING, "http://alice-ccdb.cern.ch")
    pt = params["axisPtQA"]
    assert (pt.kind, pt.dtype) == (Kind.VARIABLE_ARRAY, Kind.FLOAT)
    assert len(pt.value) == 57
    assert pt.to_o2() == strangeness["lambdakzero-builder"]["axisPtQA"]
    dca = params["axisTopoVarDCAToPV"]
    assert (dca.kind, dca.dtype, dca.value) == (Kind.VARIABLE_ARRAY, Kind.INT, (200, -1, 1))


def test_untyped_matrices_native_numbers_and_unknown_shapes_are_kept():
    doc = {
        "task": {
            "m": {"values": [["1", "2.5"], ["3", "4"]]},
            "lm": {"labels_rows": ["a"], "labels_cols": ["x", "y"], "values": [["1", "x"]]},
            "native": 0.5,
            "nativeBool": True,
            "emptyArray": {"values": ""},
            "strings": {"values": ["a", "1"]},
            "nonCanonicalInt": "007",
            "other": {"something": ["else"]},
        }
    }
    cfg = parse_o2_config(doc)
    p = cfg.tasks["task"].params
    assert (p["m"].kind, p["m"].dtype) == (Kind.MATRIX, Kind.FLOAT)
    assert (p["lm"].kind, p["lm"].dtype) == (Kind.LABELLED_MATRIX, Kind.STRING)
    assert p["lm"].value.get("a", "y") == "x"
    assert p["native"] == TypedValue(Kind.FLOAT, 0.5, native=True)
    assert p["emptyArray"].kind is None and p["other"].kind is None
    assert p["strings"].dtype is Kind.STRING
    assert p["nonCanonicalInt"].kind is Kind.FLOAT  # "007" keeps its text
    assert json.loads(dump_o2_json(cfg)) == doc


def test_dump_is_canonical_o2_layout():
    text = dump_o2_json(parse_o2_config({"a": {"url": "http://x/y", "b": "1"}, "c": ""}))
    assert (
        text
        == '{\n    "a": {\n        "url": "http:\\/\\/x\\/y",\n        "b": "1"\n    },\n    "c": ""\n}\n'
    )


def test_compact_file_is_reformatted_to_the_same_document(realdata: Path):
    original = json.loads((realdata / "dpl-config_strangeness.json").read_text())
    compact = json.dumps(original, separators=(",", ":"))
    out = dump_o2_json(load_o2_config(compact))
    assert json.loads(out) == original
    assert out == (realdata / "dpl-config_strangeness.json").read_text()


# -- errors loading ------------------------------------------------------------------


def test_malformed_json_error_names_file_line_and_column(tmp_path: Path):
    path = tmp_path / "bad.json"
    path.write_text('{\n    "task": {\n        "a": "1",\n    }\n}\n')
    with pytest.raises(O2JsonError) as info:
        load_o2_json(path)
    err = info.value
    assert (err.source, err.line, err.column) == (str(path), 4, 5)
    assert str(err).startswith(f"{path}:4:5: invalid JSON: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('["a"]', "expected a JSON object of task -> parameters, got list"),
        ('{"task": 5}', "task 'task': expected an object of parameters or \"\", got 5"),
        ("", "invalid JSON: Expecting value"),
    ],
)
def test_structural_errors(text: str, expected: str):
    with pytest.raises(O2JsonError, match="^<string>") as info:
        load_o2_json(text)
    assert expected in str(info.value)


def test_missing_file(tmp_path: Path):
    with pytest.raises(O2JsonError, match="nope.json: file not found"):
        load_o2_json(tmp_path / "nope.json")


# -- typed ---------------------------------------------------------------------------

# Declarations matching real tasks of the strangeness file (defaults as in O2Physics).
LAMBDAKZERO_BUILDER = {
    "dcanegtopv": Configurable(0.06, "DCA neg to PV"),
    "v0cospa": Configurable(0.995, "V0 CosPA"),
    "downscaleFactor": Configurable(2, "downscale factor"),
    "d_UseAbsDCA": Configurable(True, "use absolute DCA"),
    "ccdb-url": Configurable("http://alice-ccdb.cern.ch", "CCDB url"),
    "axisPtQA": ConfigurableAxis(Variable([0.0, 0.5, 1.0, 5.0]), "pt axis for QA"),
    "axisTopoVarDCAToPV": ConfigurableAxis((200, -1, 1), "single track DCA to PV"),
    "axisRadius": ConfigurableAxis((500, 0, 50), "V0 radius axis"),
}
STRANGENESS_TUTORIAL = {
    "nBins": Configurable(100, "N bins in all histos"),
    "cutzvertex": Configurable(10.0, "Accepted z-vertex range (cm)"),
    "v0setting_dcav0dau": Configurable(1.0, "DCA V0 Daughters"),
    "v0setting_dcapostopv": Configurable(0.06, "DCA Pos To PV"),
    "v0setting_dcanegtopv": Configurable(0.06, "DCA Neg To PV"),
    "v0setting_cospa": Configurable(0.98, "V0 CosPA"),
    "v0setting_radius": Configurable(0.5, "v0radius"),
    "cascadesetting_cospa": Configurable(0.98, ""),
    "cascadesetting_dcacascdau": Configurable(1.0, ""),
    "cascadesetting_dcabachtopv": Configurable(0.1, ""),
    "cascadesetting_mindcav0topv": Configurable(0.01, ""),
    "cascadesetting_cascradius": Configurable(0.5, ""),
    "cascadesetting_v0masswindow": Configurable(0.01, ""),
    "dcanegtopv": Configurable(0.06, ""),
    "dcapostopv": Configurable(0.06, ""),
    "NSigmaTPCPion": Configurable(4.0, ""),
    "NSigmaTPCProton": Configurable(4.0, ""),
    "processRecMC": Configurable(False, ""),
    "processGenMC": Configurable(False, ""),
}


def _declare(declared: dict[str, Configurable]) -> dict[str, Configurable]:
    for name, conf in declared.items():
        conf.__set_name__(object, name)
    return declared


def test_typed_binnings_of_a_real_task(strangeness: dict):
    raw = strangeness["lambdakzero-builder"]
    declared = _declare(LAMBDAKZERO_BUILDER)
    values = parse_task_config("lambdakzero-builder", raw, declared, allow_unknown=True)
    assert list(values) == [k for k in raw if k in declared]  # file order, unknown dropped
    pt = values["axisPtQA"]
    assert not pt.is_fixed and pt.nbins == 55
    assert pt.edges[0] == 0 and pt.edges[-1] == 50
    assert np.all(np.diff(pt.edges) > 0)
    assert pt.edges[1] == pytest.approx(0.1)
    dca = values["axisTopoVarDCAToPV"]
    assert dca.is_fixed and (dca.nbins, dca.min, dca.max) == (200, -1.0, 1.0)
    assert len(dca.edges) == 201
    assert values["dcanegtopv"] == pytest.approx(0.06) and values["downscaleFactor"] == 2
    assert values["d_UseAbsDCA"] is True
    exported = export_task_config(values, declared)
    assert exported == {k: raw[k] for k in values}


def test_typed_full_task_round_trips_exactly(strangeness: dict):
    raw = strangeness["strangeness_tutorial"]
    declared = _declare(STRANGENESS_TUTORIAL)
    values = parse_task_config("strangeness_tutorial", raw, declared)
    assert values["nBins"] == 100 and values["processRecMC"] is True
    assert values["v0setting_cospa"] == pytest.approx(0.98)
    assert export_task_config(values, declared) == raw
    assert json.dumps(export_task_config(values, declared)) == json.dumps(raw)


@pytest.mark.parametrize("name", REAL_FILES)
def test_every_real_task_validates_and_exports_exactly(realdata: Path, name: str):
    """Declare each task from its own values (axes as binnings); typed export == file."""
    doc = load_o2_json(realdata / name)
    for task, tc in parse_o2_config(doc).tasks.items():
        declared = {}
        for param, tv in tc.params.items():
            if tv.kind in (Kind.BOOL, Kind.INT, Kind.FLOAT, Kind.STRING):
                declared[param] = Configurable(tv.value, kind=tv.kind)
            elif param.startswith("axis"):
                declared[param] = ConfigurableAxis(list(tv.value))
            else:
                declared[param] = VariableArray(list(tv.value))
        _declare(declared)
        values = parse_task_config(task, doc[task], declared)
        assert export_task_config(values, declared) == (doc[task] or {}), task


def test_unknown_parameter_suggests_the_closest_name():
    declared = _declare({"ptMin": Configurable(0.1), "etaMax": Configurable(0.8)})
    with pytest.raises(ConfigurationError) as info:
        parse_task_config("track-selection", {"ptMn": "0.2"}, declared)
    assert str(info.value) == (
        "unknown parameter 'ptMn' for task 'track-selection'; did you mean 'ptMin'?"
    )
    assert info.value.parameter == "ptMn" and info.value.task == "track-selection"
    with pytest.raises(ConfigurationError, match="known parameters: etaMax, ptMin"):
        parse_task_config("track-selection", {"zzz": "1"}, declared)
    assert parse_task_config("t", {"zzz": "1", "ptMin": "1"}, declared, allow_unknown=True) == {
        "ptMin": 1.0
    }


def test_bad_value_names_task_and_parameter():
    declared = _declare({"ptMin": Configurable(0.1)})
    with pytest.raises(ConfigurationError) as info:
        parse_task_config("track-selection", {"ptMin": "abc"}, declared)
    assert str(info.value) == (
        "task 'track-selection', parameter 'ptMin': expected a float, got 'abc'"
    )
    with pytest.raises(ConfigurationError, match="expected an object of parameters"):
        parse_task_config("track-selection", ["ptMin"], declared)


def test_subwagon_inherit_binning():
    declared = _declare({"axisPt": ConfigurableAxis((10, 0, 1))})
    with pytest.raises(ConfigurationError, match="only allowed in subwagons"):
        parse_task_config("t", {"axisPt": "inherit"}, declared)
    values = parse_task_config("t", {"axisPt": "inherit"}, declared, allow_inherit=True)
    assert values == {"axisPt": INHERIT}
    assert export_task_config(values, declared) == {"axisPt": "inherit"}


def test_labelled_matrix_in_a_task_configuration():
    declared = _declare({"nSigma": LabelledMatrix([[3.0, 3.0]], rows=["Pi"], cols=["TPC", "TOF"])})
    raw = {
        "nSigma": {"labels_rows": ["Pi"], "labels_cols": ["TPC", "TOF"], "values": [["2", "3.5"]]}
    }
    values = parse_task_config("pid", raw, declared)
    assert values["nSigma"].get("Pi", "TOF") == 3.5
    assert export_task_config(values, declared) == raw
    assert infer_value(raw["nSigma"]).to_o2() == raw["nSigma"]


def test_complete_task_config_reports_filled_defaults():
    declared = _declare({"ptMin": Configurable(0.1), "etaMax": Configurable(0.8)})
    full, filled = complete_task_config({"etaMax": 0.5}, declared)
    assert full == {"ptMin": 0.1, "etaMax": 0.5}
    assert filled == ["ptMin"]


def test_a_repeated_key_is_accepted_as_o2_accepts_it(realdata: Path):
    # a real dpl-config.json with "internal-dpl-aod-index-builder" twice: boost
    # property_tree keeps both, a lookup finds the first, writing keeps both in place
    path = realdata / "dpl-config_duplicate_key.json"
    text = path.read_text()
    with pytest.warns(O2DuplicateKeyWarning, match="'internal-dpl-aod-index-builder'"):
        config = load_o2_config(path)
    assert config.duplicate_keys == ["internal-dpl-aod-index-builder"]
    raw = json.loads(text, object_pairs_hook=lambda pairs: pairs)
    firsts = [v for k, v in raw if k == "internal-dpl-aod-index-builder"]
    assert len(firsts) == 2
    first = dict(firsts[0]) if firsts[0] != "" else {}
    task = config.tasks["internal-dpl-aod-index-builder"]
    assert {k: v.to_o2() for k, v in task.params.items()} == first
    out = dump_o2_json(config)  # canonical O2 text keeps both entries, in file order
    assert out.count('"internal-dpl-aod-index-builder"') == 2
    assert json.loads(out, object_pairs_hook=lambda p: [k for k, _ in p]) == [k for k, _ in raw]
    with pytest.warns(O2DuplicateKeyWarning):
        assert dump_o2_json(load_o2_config(out)) == out


def test_a_repeated_parameter_uses_the_first_value_and_is_written_back():
    text = '{\n    "task": {\n        "a": "1",\n        "b": "2",\n        "a": "3"\n    }\n}\n'
    with pytest.warns(O2DuplicateKeyWarning, match="'task.a'"):
        config = load_o2_config(text)
    assert config.tasks["task"].params["a"].to_o2() == "1"
    assert config.duplicate_keys == ["task.a"]
    assert dump_o2_json(config) == text
