"""Typed configurables declared on Task classes, validated and converted to/from O2 JSON.

A configurable is a descriptor: ``ptMin = Configurable(0.15, "min pT")`` on a Task class
declares the O2 parameter ``ptMin``; the instance attribute returns the configured value.
Nothing a user types is ever evaluated: text is parsed with strict grammars only.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

__all__ = [
    "INHERIT",
    "VARIABLE_WIDTH",
    "Binning",
    "BinningValue",
    "Configurable",
    "ConfigurableAxis",
    "ConfigurationError",
    "FixedArray",
    "Kind",
    "LabelledMatrix",
    "LabelledMatrixValue",
    "Matrix",
    "O2Float",
    "Variable",
    "VariableArray",
    "declared_configurables",
    "format_float",
    "histogram_bin_limit",
    "parse_scalar_text",
]

_MISSING: Any = object()
DECLARATION = "<declaration>"  # the task name of a Task class's own defaults


class ConfigurationError(ValueError):
    """A configuration value (or parameter name) is invalid for a task's declaration."""

    def __init__(
        self,
        task: str = "?",
        parameter: str = "?",
        expected: str = "",
        got: Any = _MISSING,
        *,
        message: str | None = None,
    ) -> None:
        self.task = task
        self.parameter = parameter
        self.expected = expected
        self.got = None if got is _MISSING else got
        if message is None:
            message = f"task '{task}', parameter '{parameter}': expected {expected}"
            if got is not _MISSING:
                message += f", got {got!r}"
        super().__init__(message)


class Kind(StrEnum):
    """The configurable types of SPEC §2."""

    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STRING = "string"
    FIXED_ARRAY = "fixed-array"
    VARIABLE_ARRAY = "variable-array"
    MATRIX = "matrix"
    LABELLED_MATRIX = "labelled-matrix"
    BINNING = "binning"


_SCALAR_KINDS = (Kind.BOOL, Kind.INT, Kind.FLOAT, Kind.STRING)
_DTYPE_KIND = {bool: Kind.BOOL, int: Kind.INT, float: Kind.FLOAT, str: Kind.STRING}
_KIND_DTYPE = {v: k for k, v in _DTYPE_KIND.items()}
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # O2 ints are at most 64-bit
_EXPECTED = {
    Kind.BOOL: "a bool ('true' or 'false')",
    Kind.INT: "an int",
    Kind.FLOAT: "a float",
    Kind.STRING: "a string",
}
_PLURAL = {Kind.BOOL: "bools", Kind.INT: "ints", Kind.FLOAT: "floats", Kind.STRING: "strings"}


# ---------------------------------------------------------------------------------------
# Scalars: strict text grammars and float text fidelity


class O2Float(float):
    """A float that remembers the exact text it was parsed from, so export reproduces it.

    O2 prints float32 values with 9 digits ("0.0599999987") and doubles with 17
    ("0.97999999999999998"); re-printing from the binary value would change the text.
    """

    text: str | None

    def __new__(cls, value: float | str, text: str | None = None) -> O2Float:
        obj = super().__new__(cls, value)
        obj.text = text
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (O2Float, (float(self), self.text))


_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|inf|infinity)",
    re.IGNORECASE,
)
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


def format_float(value: float) -> str:
    """O2 text of a float: its source text if it has one, else the shortest exact form."""
    text = getattr(value, "text", None)
    if text is not None:
        return text
    value = float(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    out = repr(value)
    return out[:-2] if out.endswith(".0") else out  # O2 prints 1.0 as "1"


def parse_scalar_text(kind: Kind, text: str) -> Any:
    """Parse O2 text as a scalar of ``kind``; raise ValueError (no message) on bad text."""
    if kind is Kind.STRING:
        return text
    if kind is Kind.BOOL:
        try:
            return _BOOL_TEXT[text]
        except KeyError:
            raise ValueError from None
    if kind is Kind.INT:
        if _INT_RE.fullmatch(text):
            return int(text)
        # O2 may print an integral double ("100" is usual, but "1e+06" happens)
        if _FLOAT_RE.fullmatch(text):
            f = float(text)
            if math.isfinite(f) and f.is_integer():
                return int(f)
        raise ValueError
    if kind is Kind.FLOAT:
        if _FLOAT_RE.fullmatch(text):
            return O2Float(float(text), text)
        raise ValueError
    raise TypeError(f"not a scalar kind: {kind}")


def _scalar(kind: Kind, value: Any) -> Any:
    """Canonical python value of a scalar; raise ValueError when it is not one."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return parse_scalar_text(kind, value)
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return value
        raise ValueError
    if kind is Kind.INT:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        raise ValueError
    if kind is Kind.FLOAT:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError
        if isinstance(value, float) and math.isnan(value):
            raise ValueError
        return value if isinstance(value, O2Float) else float(value)
    raise ValueError  # STRING with a non-string


def _scalar_to_o2(kind: Kind, value: Any) -> str:
    if kind is Kind.BOOL:
        return "true" if value else "false"
    if kind is Kind.FLOAT:
        return format_float(value)
    return str(value)


def _infer_dtype(values: Iterable[Any]) -> type:
    """Element type of a default: bool before int (bool is an int), int before float."""
    seen = set()
    for v in values:
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, bool):
            seen.add(bool)
        elif isinstance(v, numbers.Integral):
            seen.add(int)
        elif isinstance(v, numbers.Real):
            seen.add(float)
        elif isinstance(v, str):
            seen.add(str)
        else:
            raise TypeError(f"cannot infer a configurable type from {v!r}")
    if not seen:
        return float
    if seen <= {int, float}:
        return float if float in seen else int
    if len(seen) == 1:
        return seen.pop()
    raise TypeError(f"mixed element types {sorted(t.__name__ for t in seen)} in a default")


class _Inherit:
    """Sentinel: a subwagon binning that takes the base wagon's value (JSON ``"inherit"``)."""

    _instance: _Inherit | None = None

    def __new__(cls) -> _Inherit:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "INHERIT"

    def __reduce__(self) -> str:
        return "INHERIT"


INHERIT = _Inherit()
"""Subwagon binning value meaning "inherit from base"; written to JSON as ``"inherit"``.
Accepted only when the caller passes ``allow_inherit=True`` (subwagon configurations)."""
INHERIT_JSON = "inherit"


# ---------------------------------------------------------------------------------------
# Base class and scalars


class Configurable:
    """A typed task parameter (descriptor); also used directly for bool/int/float/string.

    The kind is inferred from the default (bool before int) unless ``kind`` is given.
    ``choices``, ``min`` and ``max`` restrict allowed values (element-wise for arrays).
    """

    kind: Kind

    def __init__(
        self,
        default: Any,
        help: str = "",
        *,
        kind: Kind | None = None,
        choices: Sequence[Any] | None = None,
        min: float | None = None,
        max: float | None = None,
    ) -> None:
        self.name = "?"
        self.help = help
        self.kind = self._resolve_kind(default, kind)
        self.choices = None
        self.min = min
        self.max = max
        if choices is not None:
            self.choices = tuple(self._element(c, task=DECLARATION) for c in choices)
        self.default = self.validate(default, task=DECLARATION)

    # -- declaration ---------------------------------------------------------------------
    def _resolve_kind(self, default: Any, kind: Kind | None) -> Kind:
        if kind is None:
            try:
                kind = _DTYPE_KIND[_infer_dtype([default])]
            except TypeError:
                raise TypeError(
                    f"Configurable({default!r}): cannot infer a scalar type; use FixedArray, "
                    "VariableArray, Matrix, LabelledMatrix or ConfigurableAxis"
                ) from None
        kind = Kind(kind)
        if kind not in _SCALAR_KINDS:
            raise TypeError(f"Configurable(kind={kind.value!r}): use the {kind.value} class")
        return kind

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        config = getattr(instance, "_config", None)
        if config is not None and self.name in config:
            return config[self.name]
        return self.default

    def __set__(self, instance: Any, value: Any) -> None:
        raise AttributeError(
            f"configurable '{self.name}' is read-only; pass it in the task configuration"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, kind={self.kind.value!r}, default={self.default!r})"

    # -- errors --------------------------------------------------------------------------
    def _error(self, task: str, expected: str, got: Any) -> ConfigurationError:
        return ConfigurationError(task, self.name, expected, got)

    def _fail(self, task: str, expected: str, got: Any, described: str) -> ConfigurationError:
        """An error whose "got" part is a description rather than the raw value."""
        return ConfigurationError(
            task,
            self.name,
            expected,
            got,
            message=f"task '{task}', parameter '{self.name}': expected {expected}, got {described}",
        )

    # -- element (scalar) rules, reused by arrays and matrices ---------------------------
    def _element_kind(self) -> Kind:
        return self.kind

    def _element(self, value: Any, *, task: str, where: str = "") -> Any:
        kind = self._element_kind()
        try:
            out = _scalar(kind, value)
        except ValueError:
            raise self._error(task, _EXPECTED[kind] + where, value) from None
        if kind is Kind.INT and not INT_MIN <= out <= INT_MAX:
            raise self._error(task, f"a 64-bit int ({INT_MIN} to {INT_MAX}){where}", value)
        if self.choices is not None and out not in self.choices:
            allowed = ", ".join(repr(_scalar_to_o2(kind, c)) for c in self.choices)
            raise self._error(task, f"one of {allowed}{where}", value)
        if self.min is not None and out < self.min:
            raise self._error(task, f"a value >= {self.min}{where}", value)
        if self.max is not None and out > self.max:
            raise self._error(task, f"a value <= {self.max}{where}", value)
        return out

    # -- public conversion API -----------------------------------------------------------
    def validate(self, value: Any, *, task: str = "?") -> Any:
        """Python value (or O2 text) -> canonical typed value; ConfigurationError if invalid."""
        return self._element(value, task=task)

    def from_o2(self, raw: Any, *, task: str = "?", allow_inherit: bool = False) -> Any:
        """O2 JSON value -> typed value. Scalars are strings in O2 ("0.5", "true")."""
        if isinstance(raw, dict | list) or raw is None:
            raise self._error(task, _EXPECTED[self.kind], raw)
        return self.validate(raw, task=task)

    def to_o2(self, value: Any) -> Any:
        """Typed value -> O2 JSON (scalars as strings, floats keep their source text)."""
        return _scalar_to_o2(self.kind, value)

    def describe(self) -> dict[str, Any]:
        """JSON-ready declaration: name, kind, default (O2 form), help and restrictions."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind.value,
            "default": self.to_o2(self.default),
            "help": self.help,
        }
        out.update(self._describe_extra())
        kind = self._element_kind()
        if self.choices is not None:
            out["choices"] = [_scalar_to_o2(kind, c) for c in self.choices]
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out

    def _describe_extra(self) -> dict[str, Any]:
        return {}


# ---------------------------------------------------------------------------------------
# Arrays and matrices


def _values_of(raw: Any) -> Any:
    """The ``values`` member of an O2 array/matrix object ("" is how O2 writes empty)."""
    if isinstance(raw, dict) and "values" in raw:
        values = raw["values"]
        return [] if values == "" else values
    return _MISSING


def _as_sequence(value: Any) -> list[Any] | None:
    if isinstance(value, np.ndarray):
        return list(value.tolist()) if value.ndim >= 1 else None
    if isinstance(value, list | tuple):
        return list(value)
    return None


class _ArrayBase(Configurable):
    """Shared code of fixed- and variable-length arrays (values are tuples)."""

    def __init__(
        self,
        default: Sequence[Any],
        help: str = "",
        *,
        dtype: type | None = None,
        choices: Sequence[Any] | None = None,
        min: float | None = None,
        max: float | None = None,
    ) -> None:
        seq = _as_sequence(default)
        if seq is None:
            raise TypeError(f"{type(self).__name__} default must be a list, got {default!r}")
        if dtype is None:
            dtype = _infer_dtype(seq)
        if dtype not in _DTYPE_KIND:
            raise TypeError(f"dtype must be one of bool, int, float, str; got {dtype!r}")
        self.dtype = dtype
        self.length = len(seq)
        super().__init__(tuple(seq), help, kind=None, choices=choices, min=min, max=max)

    def _resolve_kind(self, default: Any, kind: Kind | None) -> Kind:
        return self._array_kind

    def _element_kind(self) -> Kind:
        return _DTYPE_KIND[self.dtype]

    def _expected(self, n: int | None = None) -> str:
        plural = _PLURAL[self._element_kind()]
        return f"a list of {n} {plural}" if n is not None else f"a list of {plural}"

    def _check_length(self, seq: list[Any], value: Any, task: str) -> None:
        pass

    def validate(self, value: Any, *, task: str = "?") -> tuple[Any, ...]:
        seq = _as_sequence(value)
        if seq is None:
            raise self._error(task, self._expected(), value)
        self._check_length(seq, value, task)
        return tuple(self._element(v, task=task, where=f" at index {i}") for i, v in enumerate(seq))

    def from_o2(self, raw: Any, *, task: str = "?", allow_inherit: bool = False) -> Any:
        values = _values_of(raw)
        if values is _MISSING or not isinstance(values, list):
            raise self._error(task, '{"values": [...]}', raw)
        return self.validate(values, task=task)

    def to_o2(self, value: Any) -> Any:
        kind = self._element_kind()
        return {"values": [_scalar_to_o2(kind, v) for v in value]}

    def _describe_extra(self) -> dict[str, Any]:
        return {"dtype": _DTYPE_KIND[self.dtype].value}


class FixedArray(_ArrayBase):
    """An array of fixed length (the default's); the value is a tuple (np.asarray for numpy)."""

    _array_kind = Kind.FIXED_ARRAY

    def _check_length(self, seq: list[Any], value: Any, task: str) -> None:
        if len(seq) != self.length:
            got = f"{len(seq)} values {seq!r}"
            raise self._fail(task, self._expected(self.length), value, got)

    def _describe_extra(self) -> dict[str, Any]:
        return {"dtype": _DTYPE_KIND[self.dtype].value, "length": self.length}


class VariableArray(_ArrayBase):
    """An array of any length (including empty); the value is a tuple."""

    _array_kind = Kind.VARIABLE_ARRAY


class Matrix(Configurable):
    """A matrix of fixed shape (the default's); the value is a tuple of row tuples."""

    def __init__(
        self,
        default: Sequence[Sequence[Any]],
        help: str = "",
        *,
        dtype: type | None = None,
        choices: Sequence[Any] | None = None,
        min: float | None = None,
        max: float | None = None,
    ) -> None:
        rows = self._rows(default)
        if rows is None:
            raise TypeError(f"{type(self).__name__} default must be a list of rows: {default!r}")
        if dtype is None:
            dtype = _infer_dtype(v for r in rows for v in r)
        if dtype not in _DTYPE_KIND:
            raise TypeError(f"dtype must be one of bool, int, float, str; got {dtype!r}")
        self.dtype = dtype
        self.shape = (len(rows), len(rows[0]) if rows else 0)
        super().__init__(default, help, choices=choices, min=min, max=max)

    @staticmethod
    def _rows(value: Any) -> list[list[Any]] | None:
        seq = _as_sequence(value)
        if seq is None:
            return None
        rows = [_as_sequence(r) for r in seq]
        if any(r is None for r in rows):
            return None
        return rows  # type: ignore[return-value]

    def _resolve_kind(self, default: Any, kind: Kind | None) -> Kind:
        return Kind.MATRIX

    def _element_kind(self) -> Kind:
        return _DTYPE_KIND[self.dtype]

    def _expected_shape(self) -> str:
        return f"a {self.shape[0]}x{self.shape[1]} matrix of {_PLURAL[self._element_kind()]}"

    def _matrix(self, value: Any, task: str) -> tuple[tuple[Any, ...], ...]:
        rows = self._rows(value)
        if rows is None:
            raise self._error(task, self._expected_shape(), value)
        got_shape = (len(rows), {len(r) for r in rows})
        if len(rows) != self.shape[0] or any(len(r) != self.shape[1] for r in rows):
            cols = sorted(got_shape[1])
            got = f"{len(rows)}x{cols[0] if len(cols) == 1 else cols} values"
            raise self._fail(task, self._expected_shape(), value, got)
        return tuple(
            tuple(self._element(v, task=task, where=f" at [{i}][{j}]") for j, v in enumerate(r))
            for i, r in enumerate(rows)
        )

    def validate(self, value: Any, *, task: str = "?") -> Any:
        return self._matrix(value, task)

    def from_o2(self, raw: Any, *, task: str = "?", allow_inherit: bool = False) -> Any:
        values = _values_of(raw)
        if values is _MISSING or not isinstance(values, list):
            raise self._error(task, '{"values": [[...], ...]}', raw)
        return self.validate(values, task=task)

    def to_o2(self, value: Any) -> Any:
        kind = self._element_kind()
        return {"values": [[_scalar_to_o2(kind, v) for v in row] for row in value]}

    def _describe_extra(self) -> dict[str, Any]:
        return {"dtype": _DTYPE_KIND[self.dtype].value, "shape": list(self.shape)}


@dataclass(frozen=True)
class LabelledMatrixValue:
    """Values of a labelled matrix: ``values[i][j]`` belongs to ``rows[i]``, ``cols[j]``."""

    rows: tuple[str, ...]
    cols: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]

    def get(self, row: str, col: str) -> Any:
        """The value at the named row and column (KeyError naming the missing label)."""
        try:
            i = self.rows.index(row)
        except ValueError:
            raise KeyError(f"no row {row!r}; rows are {list(self.rows)}") from None
        try:
            j = self.cols.index(col)
        except ValueError:
            raise KeyError(f"no column {col!r}; columns are {list(self.cols)}") from None
        return self.values[i][j]

    def as_array(self) -> np.ndarray:
        """The values as a 2D numpy array (rows x cols)."""
        return np.asarray(self.values).reshape(len(self.rows), len(self.cols))


class LabelledMatrix(Matrix):
    """A matrix with named rows and columns (O2 ``LabeledArray``); labels are fixed."""

    def __init__(
        self,
        default: Sequence[Sequence[Any]] | LabelledMatrixValue,
        help: str = "",
        *,
        rows: Sequence[str],
        cols: Sequence[str],
        dtype: type | None = None,
        choices: Sequence[Any] | None = None,
        min: float | None = None,
        max: float | None = None,
    ) -> None:
        self.rows = tuple(rows)
        self.cols = tuple(cols)
        if isinstance(default, LabelledMatrixValue):
            default = default.values
        super().__init__(default, help, dtype=dtype, choices=choices, min=min, max=max)
        if self.shape != (len(self.rows), len(self.cols)) and self.rows and self.cols:
            raise TypeError(
                f"LabelledMatrix default is {self.shape[0]}x{self.shape[1]} but has "
                f"{len(self.rows)} row labels and {len(self.cols)} column labels"
            )

    def _resolve_kind(self, default: Any, kind: Kind | None) -> Kind:
        return Kind.LABELLED_MATRIX

    def _check_labels(self, what: str, declared: tuple[str, ...], got: Any, task: str) -> None:
        seq = [] if got == "" else _as_sequence(got)
        if seq is None or tuple(seq) != declared:
            raise self._fail(task, f"{what} labels {list(declared)}", got, repr(got))

    def validate(self, value: Any, *, task: str = "?") -> LabelledMatrixValue:
        if isinstance(value, LabelledMatrixValue):
            self._check_labels("row", self.rows, list(value.rows), task)
            self._check_labels("column", self.cols, list(value.cols), task)
            value = value.values
        return LabelledMatrixValue(self.rows, self.cols, self._matrix(value, task))

    def from_o2(self, raw: Any, *, task: str = "?", allow_inherit: bool = False) -> Any:
        if not isinstance(raw, dict) or "values" not in raw:
            raise self._error(
                task, '{"labels_rows": [...], "labels_cols": [...], "values": ...}', raw
            )
        extra = set(raw) - {"values", "labels_rows", "labels_cols"}
        if extra:
            raise self._error(task, "only labels_rows, labels_cols and values", sorted(extra))
        self._check_labels("row", self.rows, raw.get("labels_rows", ""), task)
        self._check_labels("column", self.cols, raw.get("labels_cols", ""), task)
        values = _values_of(raw)
        if not isinstance(values, list):
            raise self._error(task, self._expected_shape(), raw["values"])
        return LabelledMatrixValue(self.rows, self.cols, self._matrix(values, task))

    def to_o2(self, value: Any) -> Any:
        if not isinstance(value, LabelledMatrixValue):
            value = self.validate(value)
        out = super().to_o2(value.values)
        return {"labels_rows": list(value.rows), "labels_cols": list(value.cols), **out}

    def _describe_extra(self) -> dict[str, Any]:
        return {**super()._describe_extra(), "rows": list(self.rows), "cols": list(self.cols)}


# ---------------------------------------------------------------------------------------
# Histogram binning (O2 ConfigurableAxis)

HISTOGRAM_BINS_ENV = "HYPERLOOP_MAX_HISTOGRAM_BINS"
DEFAULT_MAX_HISTOGRAM_BINS = 10_000_000


def histogram_bin_limit() -> int:
    """Most bins one histogram (and one binning) may have: the server setting
    ``max_histogram_bins``, which reaches the runtime as HYPERLOOP_MAX_HISTOGRAM_BINS."""
    try:
        value = int(os.environ.get(HISTOGRAM_BINS_ENV, ""))
    except ValueError:
        return DEFAULT_MAX_HISTOGRAM_BINS
    return value if value >= 1 else DEFAULT_MAX_HISTOGRAM_BINS


VARIABLE_WIDTH = 0
"""First element marking a variable-width binning in O2 (``{VARIABLE_WIDTH, e0, e1, ...}``)."""


@dataclass(frozen=True)
class Variable:
    """Declares a variable-width binning default: ``ConfigurableAxis(Variable([0, 1, 5]))``."""

    edges: Sequence[float]


@dataclass(frozen=True, eq=False)
class BinningValue:
    """A histogram binning: fixed (nbins, min, max) or variable (edges).

    ``raw`` is the O2 value sequence (fixed: nbins, min, max; variable: marker 0 then the
    edges), kept with the source text of every number so export reproduces it exactly.
    """

    raw: tuple[float, ...]
    is_fixed: bool
    edges: np.ndarray = field(repr=False, compare=False)

    @property
    def nbins(self) -> int:
        return int(self.raw[0]) if self.is_fixed else len(self.raw) - 2

    @property
    def min(self) -> float:
        return float(self.raw[1])

    @property
    def max(self) -> float:
        return float(self.raw[2] if self.is_fixed else self.raw[-1])

    def axis(self, name: str = "", label: str = "") -> Any:
        """A ``hist`` axis (Regular for fixed, Variable for variable binning)."""
        import hist

        if self.is_fixed:
            return hist.axis.Regular(self.nbins, self.min, self.max, name=name, label=label)
        return hist.axis.Variable(self.edges, name=name, label=label)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BinningValue):
            return NotImplemented
        return self.is_fixed == other.is_fixed and tuple(map(float, self.raw)) == tuple(
            map(float, other.raw)
        )

    def __hash__(self) -> int:
        return hash((self.is_fixed, tuple(map(float, self.raw))))


class ConfigurableAxis(Configurable):
    """A histogram binning: ``ConfigurableAxis((100, 0.0, 10.0), "pT")`` (fixed) or
    ``ConfigurableAxis(Variable([0, 0.5, 1, 2]), "pT")`` (variable edges)."""

    def __init__(self, default: Any, help: str = "") -> None:
        super().__init__(default, help)

    def _resolve_kind(self, default: Any, kind: Kind | None) -> Kind:
        return Kind.BINNING

    def _binning(self, seq: list[Any], variable: bool, task: str, original: Any) -> BinningValue:
        def num(v: Any, what: str) -> float:
            try:
                out = _scalar(Kind.FLOAT, v)
            except ValueError:
                raise self._error(task, f"a number for {what}", v) from None
            if not math.isfinite(out):
                raise self._error(task, f"a finite number for {what}", v)
            return out

        if variable:
            marker, edges_in = seq[0], seq[1:]
            if len(edges_in) < 2:
                raise self._error(
                    task, "at least 2 bin edges after the variable marker 0", original
                )
            limit = histogram_bin_limit()
            if len(edges_in) - 1 > limit and task != DECLARATION:
                raise self._fail(
                    task,
                    f"at most {limit} bins (setting max_histogram_bins)",
                    original,
                    f"{len(edges_in) - 1} bins",
                )
            vals = [num(marker, "the variable-width marker")]
            vals += [num(v, f"edge {i}") for i, v in enumerate(edges_in)]
            edges = np.asarray(vals[1:], dtype=np.float64)
            bad = np.nonzero(np.diff(edges) <= 0)[0]
            if bad.size:
                i = int(bad[0])
                raise self._fail(
                    task,
                    "strictly increasing bin edges",
                    original,
                    f"edge {i + 1} = {edges_in[i + 1]!r} after {edges_in[i]!r}",
                )
            return BinningValue(tuple(vals), False, edges)
        if len(seq) != 3:
            raise self._error(task, "[nbins, min, max] or [0, edge0, edge1, ...]", original)
        nb, lo, hi = num(seq[0], "nbins"), num(seq[1], "min"), num(seq[2], "max")
        if not float(nb).is_integer() or nb <= 0:
            raise self._error(task, "a positive integer number of bins", seq[0])
        if not lo < hi:
            raise self._fail(task, "min < max", original, f"min {seq[1]!r}, max {seq[2]!r}")
        limit = histogram_bin_limit()
        if nb > limit and task != DECLARATION:
            raise self._fail(
                task,
                f"at most {limit} bins (setting max_histogram_bins)",
                original,
                f"{int(nb)} bins",
            )
        edges = np.linspace(float(lo), float(hi), int(nb) + 1)
        if not isinstance(nb, O2Float):
            nb = O2Float(nb, str(int(nb)))
        return BinningValue((nb, lo, hi), True, edges)

    def validate(self, value: Any, *, task: str = "?") -> BinningValue:
        if isinstance(value, BinningValue):
            return value
        if isinstance(value, Variable):
            seq = _as_sequence(value.edges)
            if seq is None:
                raise self._error(task, "a list of bin edges", value.edges)
            return self._binning([VARIABLE_WIDTH, *seq], True, task, value)
        seq = _as_sequence(value)
        if not seq:
            raise self._error(task, "(nbins, min, max) or Variable([edges])", value)
        first = seq[0]
        if isinstance(first, str):
            try:
                first = _scalar(Kind.FLOAT, first)
            except ValueError:
                raise self._error(task, "a number for nbins", seq[0]) from None
        variable = isinstance(first, numbers.Real) and not isinstance(first, bool) and first == 0
        return self._binning(seq, variable, task, value)

    def from_o2(self, raw: Any, *, task: str = "?", allow_inherit: bool = False) -> Any:
        if raw == INHERIT_JSON or raw is INHERIT:
            if allow_inherit:
                return INHERIT
            raise self._error(task, "a binning (inherit is only allowed in subwagons)", raw)
        values = _values_of(raw)
        if values is _MISSING or not isinstance(values, list):
            raise self._error(
                task, '{"values": [nbins, min, max]} or {"values": ["0", edges...]}', raw
            )
        return self.validate(values, task=task)

    def to_o2(self, value: Any) -> Any:
        if value is INHERIT:
            return INHERIT_JSON
        if not isinstance(value, BinningValue):
            value = self.validate(value)
        return {"values": [format_float(v) for v in value.raw]}

    def _describe_extra(self) -> dict[str, Any]:
        return {"binning": "fixed" if self.default.is_fixed else "variable"}


Binning = ConfigurableAxis


def declared_configurables(cls: type) -> dict[str, Configurable]:
    """Every configurable of a Task class by O2 name, base classes first (overrides win)."""
    out: dict[str, Configurable] = {}
    for klass in reversed(cls.__mro__):
        for attr in vars(klass).values():
            if isinstance(attr, Configurable):
                out[attr.name] = attr
    return out
