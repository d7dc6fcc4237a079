"""Typed configurables: declaration, validation, O2 text round trip, descriptions."""

from __future__ import annotations

import pickle

import hist
import numpy as np
import pytest

from hyperloop.analysis.configurables import (
    INHERIT,
    BinningValue,
    Configurable,
    ConfigurableAxis,
    ConfigurationError,
    FixedArray,
    Kind,
    LabelledMatrix,
    LabelledMatrixValue,
    Matrix,
    O2Float,
    Variable,
    VariableArray,
    declared_configurables,
)


class TrackSelection:
    """Stands in for a Task: configurables are class attributes, values live in _config."""

    ptMin = Configurable(0.15, "min pT (GeV/c)")
    etaMax = Configurable(0.8, "max |eta|", min=0.0, max=2.0)
    isRun3 = Configurable(True, "Run 3 data")
    nClsMin = Configurable(70, "min TPC clusters")
    system = Configurable("pp", "collision system", choices=["pp", "PbPb", "pPb"])
    ptBins = FixedArray([0.1, 0.2, 0.3], "pT thresholds")
    pdgCodes = VariableArray([211, 321], "PDG codes")
    rotation = Matrix([[1.0, 2.0], [3.0, 4.0]], "a matrix")
    nSigma = LabelledMatrix(
        [[3.0, 3.0], [3.0, 4.0]], rows=["Pi", "Ka"], cols=["TPC", "TOF"], help="n sigma cuts"
    )
    axisPt = ConfigurableAxis((100, 0.0, 10.0), "pT axis")
    axisPtVar = ConfigurableAxis(Variable([0, 0.5, 1, 2, 5]), "pT axis, variable")

    def __init__(self, **config: object) -> None:
        self._config = {
            name: type(self).__dict__[name].validate(value, task="track-selection")
            for name, value in config.items()
        }


def errmsg(conf: Configurable, value: object, **kw: object) -> str:
    with pytest.raises(ConfigurationError) as info:
        conf.validate(value, task="track-selection", **kw)
    return str(info.value)


# -- declaration and descriptor ----------------------------------------------------------


def test_scalar_kind_is_inferred_from_default_bool_before_int():
    assert Configurable(True).kind is Kind.BOOL
    assert Configurable(1).kind is Kind.INT
    assert Configurable(0.8).kind is Kind.FLOAT
    assert Configurable("x").kind is Kind.STRING
    assert Configurable(np.float32(0.5)).kind is Kind.FLOAT
    assert Configurable(1, kind=Kind.FLOAT).default == 1.0


def test_class_attribute_is_the_declaration_and_instance_attribute_the_value():
    assert isinstance(TrackSelection.ptMin, Configurable)
    assert TrackSelection.ptMin.name == "ptMin"
    task = TrackSelection(ptMin="0.5")
    assert task.ptMin == 0.5
    assert task.etaMax == 0.8  # default
    assert task.ptBins == (0.1, 0.2, 0.3)
    np.testing.assert_allclose(np.asarray(task.ptBins), [0.1, 0.2, 0.3])
    with pytest.raises(AttributeError, match="read-only"):
        task.ptMin = 3.0


def test_declaring_a_non_scalar_with_the_base_class_is_refused():
    with pytest.raises(TypeError, match="FixedArray"):
        Configurable([1, 2])
    with pytest.raises(TypeError, match="labels"):
        LabelledMatrix([[1.0, 2.0]], rows=["a", "b"], cols=["x", "y"])


def test_a_default_outside_the_declared_choices_is_refused():
    with pytest.raises(ConfigurationError, match="one of"):
        Configurable("AA", choices=["pp", "PbPb"])


# -- scalars -------------------------------------------------------------------------


def test_wrong_type_error_names_task_parameter_expected_and_got():
    with pytest.raises(ConfigurationError) as info:
        TrackSelection.ptMin.validate("abc", task="track-selection")
    err = info.value
    assert str(err) == "task 'track-selection', parameter 'ptMin': expected a float, got 'abc'"
    assert (err.task, err.parameter, err.expected, err.got) == (
        "track-selection",
        "ptMin",
        "a float",
        "abc",
    )


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("false", False), ("1", True), ("0", False)]
)
def test_bool_accepts_o2_texts(text, value):
    assert TrackSelection.isRun3.from_o2(text) is value


@pytest.mark.parametrize("text", ["yes", "True", "on", "2", "", " true"])
def test_bool_rejects_anything_else(text):
    assert "expected a bool" in errmsg(TrackSelection.isRun3, text)


def test_bool_exports_as_o2_writes_it():
    assert TrackSelection.isRun3.to_o2(True) == "true"
    assert TrackSelection.isRun3.to_o2(False) == "false"


def test_int_must_be_integral():
    c = TrackSelection.nClsMin
    assert c.from_o2("-999") == -999
    assert c.validate(3.0) == 3
    assert "expected an int, got '1.5'" in errmsg(c, "1.5")
    assert "expected an int" in errmsg(c, 2.5)
    assert "expected an int" in errmsg(c, True)


@pytest.mark.parametrize(
    "text", ["__import__('os').getcwd()", "1+1", "1_000", "0x10", "nan", "1,5", "", "2 * 3"]
)
def test_nothing_is_evaluated_float_text_is_strictly_parsed(text):
    assert "expected a float" in errmsg(TrackSelection.ptMin, text)


def test_float_text_from_o2_exports_back_unchanged():
    c = TrackSelection.ptMin
    for text in ["0.0599999987", "0.97999999999999998", "83.0999985", "1", "-999", "1e+06"]:
        value = c.from_o2(text)
        assert isinstance(value, float)
        assert c.to_o2(value) == text
    # float32 text keeps its value too
    assert c.from_o2("0.0599999987") == pytest.approx(0.06, rel=1e-7)


def test_float_without_source_text_exports_shortest_form():
    c = TrackSelection.ptMin
    assert c.to_o2(0.06) == "0.06"
    assert c.to_o2(1.0) == "1"
    assert c.to_o2(float("inf")) == "inf"
    assert c.to_o2(c.validate(0.1 + 0.2)) == "0.30000000000000004"
    # arithmetic on a parsed value gives a plain float: its text is not reused
    assert c.to_o2(c.from_o2("0.5") * 2) == "1"


def test_o2float_survives_pickling_with_its_text():
    value = pickle.loads(pickle.dumps(O2Float(0.06, "0.0599999987")))
    assert value.text == "0.0599999987"


def test_min_max_and_choices():
    assert "expected a value <= 2.0, got '2.5'" in errmsg(TrackSelection.etaMax, "2.5")
    assert "expected a value >= 0.0" in errmsg(TrackSelection.etaMax, -1)
    assert "expected one of 'pp', 'PbPb', 'pPb', got 'AA'" in errmsg(TrackSelection.system, "AA")
    assert TrackSelection.system.validate("PbPb") == "PbPb"


def test_string_accepts_any_text_but_not_other_json():
    c = TrackSelection.system
    assert "expected a string" in str(
        pytest.raises(ConfigurationError, c.from_o2, {"values": []}).value
    )
    assert Configurable("").from_o2("http:/x") == "http:/x"


# -- arrays and matrices -------------------------------------------------------------


def test_fixed_array_length_must_match():
    c = TrackSelection.ptBins
    assert c.from_o2({"values": ["1", "2", "3.5"]}) == (1.0, 2.0, 3.5)
    msg = errmsg(c, [0.1, 0.2])
    assert "expected a list of 3 floats, got 2 values" in msg
    assert "expected a float at index 1, got 'x'" in errmsg(c, [0.1, "x", 0.3])
    with pytest.raises(ConfigurationError, match=r'\{"values"'):
        c.from_o2("0.1,0.2,0.3")


def test_fixed_array_round_trips_exact_text():
    c = TrackSelection.ptBins
    raw = {"values": ["0.100000001", "0.2", "0.30000000000000004"]}
    assert c.to_o2(c.from_o2(raw)) == raw


def test_variable_array_any_length_including_empty():
    c = TrackSelection.pdgCodes
    assert c.from_o2({"values": ["211", "321", "2212"]}) == (211, 321, 2212)
    assert c.from_o2({"values": []}) == ()
    assert c.from_o2({"values": ""}) == ()  # how O2's property tree writes an empty array
    assert c.to_o2((11, -11)) == {"values": ["11", "-11"]}
    assert "expected an int at index 0, got '2.5'" in errmsg(c, ["2.5"])


def test_matrix_shape_must_match_and_round_trips():
    c = TrackSelection.rotation
    raw = {"values": [["1", "2.5"], ["3", "0.0599999987"]]}
    value = c.from_o2(raw)
    assert value == ((1.0, 2.5), (3.0, 0.0599999987))
    assert c.to_o2(value) == raw
    assert "expected a 2x2 matrix of floats, got 2x3 values" in errmsg(c, [[1, 2, 3], [4, 5, 6]])
    assert "expected a 2x2 matrix" in errmsg(c, [[1, 2]])
    assert "at [1][0]" in errmsg(c, [[1, 2], ["x", 4]])


def test_labelled_matrix_values_labels_and_o2_form():
    c = TrackSelection.nSigma
    raw = {
        "labels_rows": ["Pi", "Ka"],
        "labels_cols": ["TPC", "TOF"],
        "values": [["2", "3"], ["2.5", "4"]],
    }
    value = c.from_o2(raw)
    assert isinstance(value, LabelledMatrixValue)
    assert value.get("Ka", "TPC") == 2.5
    np.testing.assert_array_equal(value.as_array(), [[2, 3], [2.5, 4]])
    assert c.to_o2(value) == raw
    with pytest.raises(KeyError, match="Pr"):
        value.get("Pr", "TPC")


def test_labelled_matrix_labels_must_match_declaration():
    c = TrackSelection.nSigma
    bad = {"labels_rows": ["Pi", "Pr"], "labels_cols": ["TPC", "TOF"], "values": [["1"] * 2] * 2}
    with pytest.raises(ConfigurationError) as info:
        c.from_o2(bad, task="track-selection")
    assert str(info.value) == (
        "task 'track-selection', parameter 'nSigma': expected row labels ['Pi', 'Ka'], "
        "got ['Pi', 'Pr']"
    )
    with pytest.raises(ConfigurationError, match="column labels"):
        c.from_o2({**bad, "labels_rows": ["Pi", "Ka"], "labels_cols": ["TOF", "TPC"]})


# -- binnings ------------------------------------------------------------------------


def test_fixed_binning_from_o2():
    value = TrackSelection.axisPt.from_o2({"values": ["200", "-1", "1"]})
    assert isinstance(value, BinningValue) and value.is_fixed
    assert (value.nbins, value.min, value.max) == (200, -1.0, 1.0)
    np.testing.assert_allclose(value.edges, np.linspace(-1, 1, 201))
    axis = value.axis("dca", "DCA (cm)")
    assert isinstance(axis, hist.axis.Regular)
    assert (axis.size, axis.name, axis.label) == (200, "dca", "DCA (cm)")


def test_variable_binning_from_o2_with_leading_marker():
    raw = {"values": ["0", "0", "0.10000000149011612", "0.5", "2", "50"]}
    value = TrackSelection.axisPtVar.from_o2(raw)
    assert not value.is_fixed
    assert value.nbins == 4
    np.testing.assert_allclose(value.edges, [0, 0.1, 0.5, 2, 50])
    assert isinstance(value.axis("pt"), hist.axis.Variable)
    np.testing.assert_allclose(value.axis("pt").edges, value.edges)
    assert TrackSelection.axisPtVar.to_o2(value) == raw


def test_binning_defaults_and_o2_export():
    assert TrackSelection.axisPt.to_o2(TrackSelection.axisPt.default) == {
        "values": ["100", "0", "10"]
    }
    assert TrackSelection.axisPtVar.to_o2(TrackSelection.axisPtVar.default) == {
        "values": ["0", "0", "0.5", "1", "2", "5"]
    }
    # a Python list with the O2 leading 0 is a variable binning, as in O2
    assert not TrackSelection.axisPt.validate([0, 1, 2, 4]).is_fixed


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["0", "1", "1"], "strictly increasing bin edges, got edge 1 = '1' after '1'"),
        (["0", "0", "2", "1"], "strictly increasing bin edges"),
        (["0", "1"], "at least 2 bin edges"),
        (["10.5", "0", "1"], "a positive integer number of bins"),
        (["-5", "0", "1"], "a positive integer number of bins"),
        (["10", "1", "0"], "min < max, got min '1', max '0'"),
        (["10", "0", "abc"], "a number for max, got 'abc'"),
        (["10", "0", "1", "2"], "[nbins, min, max]"),
        (["10", "0", "inf"], "a finite number"),
    ],
)
def test_invalid_binnings_are_refused(values, expected):
    with pytest.raises(ConfigurationError) as info:
        TrackSelection.axisPt.from_o2({"values": values}, task="track-selection")
    assert expected in str(info.value)
    assert "parameter 'axisPt'" in str(info.value)


def test_inherit_is_only_accepted_where_allowed():
    c = TrackSelection.axisPt
    with pytest.raises(ConfigurationError, match="only allowed in subwagons"):
        c.from_o2("inherit")
    assert c.from_o2("inherit", allow_inherit=True) is INHERIT
    assert c.to_o2(INHERIT) == "inherit"
    # other kinds never accept it
    with pytest.raises(ConfigurationError):
        TrackSelection.ptMin.from_o2("inherit", allow_inherit=True)


# -- descriptions --------------------------------------------------------------------


def test_describe_gives_kind_default_help_and_kind_specific_fields():
    d = {
        name: c.describe()
        for name, c in vars(TrackSelection).items()
        if isinstance(c, Configurable)
    }
    assert d["ptMin"] == {
        "name": "ptMin",
        "kind": "float",
        "default": "0.15",
        "help": "min pT (GeV/c)",
    }
    assert d["etaMax"]["min"] == 0.0 and d["etaMax"]["max"] == 2.0
    assert d["isRun3"]["default"] == "true"
    assert d["system"]["choices"] == ["pp", "PbPb", "pPb"]
    assert d["ptBins"]["kind"] == "fixed-array" and d["ptBins"]["length"] == 3
    assert d["pdgCodes"]["kind"] == "variable-array" and d["pdgCodes"]["dtype"] == "int"
    assert d["rotation"]["shape"] == [2, 2]
    assert d["nSigma"]["rows"] == ["Pi", "Ka"] and d["nSigma"]["cols"] == ["TPC", "TOF"]
    assert d["nSigma"]["default"]["labels_rows"] == ["Pi", "Ka"]
    assert d["axisPt"]["binning"] == "fixed"
    assert d["axisPtVar"]["binning"] == "variable"
    assert d["axisPtVar"]["default"] == {"values": ["0", "0", "0.5", "1", "2", "5"]}


def test_declared_configurables_include_base_classes_in_order():
    class Base:
        a = Configurable(1)
        b = Configurable(2.0)

    class Derived(Base):
        b = Configurable(3.0, "overridden")
        c = ConfigurableAxis((10, 0, 1))

    declared = declared_configurables(Derived)
    assert list(declared) == ["a", "b", "c"]
    assert declared["b"].help == "overridden"


def test_values_pickle_for_device_processes():
    binning = TrackSelection.axisPtVar.from_o2({"values": ["0", "0", "0.5", "2"]})
    again = pickle.loads(pickle.dumps(binning))
    assert again == binning and TrackSelection.axisPtVar.to_o2(again) == {
        "values": ["0", "0", "0.5", "2"]
    }
    assert pickle.loads(pickle.dumps(INHERIT)) is INHERIT
    lm = TrackSelection.nSigma.default
    assert pickle.loads(pickle.dumps(lm)) == lm
