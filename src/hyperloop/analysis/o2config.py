"""The O2 JSON configuration format (SPEC §9): load, infer/validate typed values, dump.

A configuration is ``{task: {parameter: value}}`` with every scalar a string. Two readings:
*untyped* (no declarations, used by ``hyperloop config fmt``: each value's type is inferred
and its exact text kept) and *typed* (validated against a task's declared configurables).
Both export back to the very same JSON document.
"""

from __future__ import annotations

import difflib
import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperloop.analysis.configurables import (
    INHERIT,
    INHERIT_JSON,
    Configurable,
    ConfigurationError,
    Kind,
    LabelledMatrixValue,
    _scalar_to_o2,
    parse_scalar_text,
)
from hyperloop.analysis.jsonlimits import JsonLimitError, loads_limited, read_limited_bytes

__all__ = [
    "INTERNAL_PREFIX",
    "O2Config",
    "O2DuplicateKeyWarning",
    "O2Object",
    "O2JsonError",
    "TaskConfig",
    "TypedValue",
    "complete_task_config",
    "dump_o2_json",
    "export_task_config",
    "infer_value",
    "load_o2_config",
    "load_o2_json",
    "parse_o2_config",
    "parse_o2_json_text",
    "read_o2_text",
    "parse_task_config",
]

INTERNAL_PREFIX = "internal-dpl-"
"""Framework devices (reader, writers, clock) whose entries are not analysis tasks."""


class O2JsonError(ValueError):
    """A configuration file that is not valid O2 JSON; names the file and, if known, line:col."""

    def __init__(
        self, source: str, message: str, line: int | None = None, column: int | None = None
    ) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.reason = message
        where = source if line is None else f"{source}:{line}:{column}"
        super().__init__(f"{where}: {message}")


# ---------------------------------------------------------------------------------------
# Loading


class O2Object(dict):
    """A JSON object as O2 reads it (boost property_tree): a key may appear more than once;
    a lookup finds the first, and writing it back keeps every entry in file order.

    ``pairs`` holds all entries, ``duplicates`` the keys seen more than once."""

    def __init__(self, pairs: list[tuple[str, Any]] = ()) -> None:  # type: ignore[assignment]
        super().__init__()
        self.pairs = list(pairs)
        self.duplicates: list[str] = []
        for key, value in self.pairs:
            if dict.__contains__(self, key):
                if key not in self.duplicates:
                    self.duplicates.append(key)
            else:
                dict.__setitem__(self, key, value)

    def items(self):  # type: ignore[override]
        """Every entry, duplicates included (what ``json.dumps`` writes)."""
        return list(self.pairs) if self.duplicates else super().items()


def _keep_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) == len(pairs):
        return dict(pairs)
    return O2Object(pairs)


def duplicate_keys(doc: Any, where: str = "") -> list[str]:
    """The duplicated keys of a document from :func:`load_o2_json`, as ``task.key`` paths."""
    out: list[str] = []
    if isinstance(doc, O2Object):
        out += [f"{where}{k}" for k in doc.duplicates]
    if isinstance(doc, dict):
        for key, value in dict.items(doc):
            out += duplicate_keys(value, f"{where}{key}.")
    return out


def _warn_duplicates(doc: Any, display: str) -> None:
    for path in duplicate_keys(doc):
        warnings.warn(
            f"{display}: key {path!r} appears more than once; as in O2 the first value is "
            "used (and every entry is kept when the file is written back)",
            O2DuplicateKeyWarning,
            stacklevel=3,
        )


class O2DuplicateKeyWarning(UserWarning):
    """An O2 configuration repeats a key in one object (accepted, the first value wins)."""


def _looks_like_text(source: str) -> bool:
    stripped = source.lstrip()
    return stripped.startswith(("{", "[")) or "\n" in source or stripped == ""


def read_o2_text(source: str | os.PathLike[str], *, name: str | None = None) -> tuple[str, str]:
    """(text, display name) of a path or of JSON text given directly."""
    if isinstance(source, str) and _looks_like_text(source):
        return source, name or "<string>"
    path = Path(source)
    display = name or str(path)
    try:
        return read_limited_bytes(path).decode("utf-8"), display
    except JsonLimitError as exc:
        raise O2JsonError(display, str(exc)) from None
    except FileNotFoundError:
        raise O2JsonError(display, "file not found") from None
    except IsADirectoryError:
        raise O2JsonError(display, "is a directory, expected a JSON file") from None
    except UnicodeDecodeError as exc:
        raise O2JsonError(display, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise O2JsonError(display, exc.strerror or str(exc)) from None


def load_o2_json(source: str | os.PathLike[str], *, name: str | None = None) -> dict[str, Any]:
    """Parse an O2 configuration (a path, or JSON text) into its raw JSON document.

    Errors name the file, line and column. The top level must map task names to a
    parameter object or ``""`` (O2's form for a device without parameters).
    """
    return parse_o2_json_text(*read_o2_text(source, name=name))


def parse_o2_json_text(text: str, display: str = "<string>") -> dict[str, Any]:
    """Like :func:`load_o2_json` for text already read; ``display`` names it in errors."""
    try:
        doc = loads_limited(text, object_pairs_hook=_keep_duplicates)
    except json.JSONDecodeError as exc:
        raise O2JsonError(display, f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except JsonLimitError as exc:
        raise O2JsonError(display, str(exc)) from None
    if not isinstance(doc, dict):
        raise O2JsonError(
            display, f"expected a JSON object of task -> parameters, got {type(doc).__name__}"
        )
    _warn_duplicates(doc, display)
    for task, params in doc.items():
        if not (isinstance(params, dict) or params == ""):
            raise O2JsonError(
                display,
                f'task {task!r}: expected an object of parameters or "", got {params!r}',
            )
    return doc


# ---------------------------------------------------------------------------------------
# Untyped model (types inferred from the text, exact text kept)


@dataclass
class TypedValue:
    """One parameter value with its inferred kind.

    ``kind`` None means a JSON shape that is not a configurable (kept verbatim);
    ``native`` means the file held a JSON number/bool instead of O2's string form;
    ``dtype`` is the element kind of arrays and matrices.
    """

    kind: Kind | None
    value: Any
    dtype: Kind | None = None
    native: bool = False

    def to_o2(self) -> Any:
        """The O2 JSON form (identical to what was parsed)."""
        if self.kind is None or self.native:
            return self.value
        if self.kind in (Kind.VARIABLE_ARRAY, Kind.FIXED_ARRAY):
            assert self.dtype is not None
            return {"values": [_scalar_to_o2(self.dtype, v) for v in self.value]}
        if self.kind is Kind.MATRIX:
            assert self.dtype is not None
            return {"values": [[_scalar_to_o2(self.dtype, v) for v in r] for r in self.value]}
        if self.kind is Kind.LABELLED_MATRIX:
            assert self.dtype is not None
            v: LabelledMatrixValue = self.value
            return {
                "labels_rows": list(v.rows),
                "labels_cols": list(v.cols),
                "values": [[_scalar_to_o2(self.dtype, x) for x in r] for r in v.values],
            }
        return _scalar_to_o2(self.kind, self.value)


def _infer_text(text: str) -> tuple[Kind, Any]:
    """Most specific scalar kind whose canonical text is exactly ``text``."""
    if text in ("true", "false"):
        return Kind.BOOL, text == "true"
    try:
        value = parse_scalar_text(Kind.INT, text)
        if str(value) == text:
            return Kind.INT, value
    except ValueError:
        pass
    try:
        return Kind.FLOAT, parse_scalar_text(Kind.FLOAT, text)
    except ValueError:
        return Kind.STRING, text


def _infer_elements(texts: list[str]) -> tuple[Kind, list[Any]]:
    """One element kind for a whole array/matrix; each element keeps its exact text."""
    kinds = [_infer_text(t) for t in texts]
    found = {k for k, _ in kinds}
    if len(found) == 1:
        kind = found.pop()
        return kind, [v for _, v in kinds]
    if found <= {Kind.INT, Kind.FLOAT}:
        return Kind.FLOAT, [parse_scalar_text(Kind.FLOAT, t) for t in texts]
    return Kind.STRING, list(texts)


def _all_str(items: Any) -> bool:
    return isinstance(items, list) and all(isinstance(x, str) for x in items)


def _is_matrix(values: Any) -> bool:
    return isinstance(values, list) and bool(values) and all(_all_str(r) for r in values)


def infer_value(raw: Any) -> TypedValue:
    """Typed view of one O2 JSON value without a declaration (for ``config fmt``).

    Arrays stay arrays: without a declaration a fixed-array, variable-array and binning
    are indistinguishable, so they are all reported as variable arrays and kept exactly.
    """
    if isinstance(raw, str):
        kind, value = _infer_text(raw)
        return TypedValue(kind, value)
    if isinstance(raw, bool):
        return TypedValue(Kind.BOOL, raw, native=True)
    if isinstance(raw, int):
        return TypedValue(Kind.INT, raw, native=True)
    if isinstance(raw, float):
        return TypedValue(Kind.FLOAT, raw, native=True)
    if isinstance(raw, dict) and "values" in raw:
        values = raw["values"]
        if set(raw) == {"values"}:
            if _all_str(values):
                dtype, elems = _infer_elements(values)
                return TypedValue(Kind.VARIABLE_ARRAY, tuple(elems), dtype)
            if _is_matrix(values):
                dtype, flat = _infer_elements([x for r in values for x in r])
                it = iter(flat)
                rows = tuple(tuple(next(it) for _ in r) for r in values)
                return TypedValue(Kind.MATRIX, rows, dtype)
        elif (
            set(raw) == {"values", "labels_rows", "labels_cols"}
            and _all_str(raw["labels_rows"])
            and _all_str(raw["labels_cols"])
            and _is_matrix(values)
        ):
            dtype, flat = _infer_elements([x for r in values for x in r])
            it = iter(flat)
            rows = tuple(tuple(next(it) for _ in r) for r in values)
            lm = LabelledMatrixValue(tuple(raw["labels_rows"]), tuple(raw["labels_cols"]), rows)
            return TypedValue(Kind.LABELLED_MATRIX, lm, dtype)
    return TypedValue(None, raw)  # unknown shape (e.g. O2's "" for an empty array): verbatim


@dataclass
class TaskConfig:
    """The parameters of one device. ``internal``: a framework device (``internal-dpl-*``);
    ``empty``: the file gave ``""`` (O2's form for a device without parameters)."""

    name: str
    params: dict[str, TypedValue] = field(default_factory=dict)
    internal: bool = False
    empty: bool = False

    repeated: list[tuple[int, str, TypedValue]] = field(default_factory=list)
    # entries of a key already seen (position among the entries, key, value): not used,
    # written back where they were

    def to_o2(self) -> dict[str, Any] | str:
        if self.empty and not self.params and not self.repeated:
            return ""
        pairs = [(k, v.to_o2()) for k, v in self.params.items()]
        for pos, key, value in self.repeated:
            pairs.insert(pos, (key, value.to_o2()))
        return O2Object(pairs) if self.repeated else dict(pairs)


@dataclass
class O2Config:
    """A whole configuration file: tasks in file order (internal devices included)."""

    tasks: dict[str, TaskConfig] = field(default_factory=dict)
    source: str | None = None
    repeated: list[tuple[int, TaskConfig]] = field(default_factory=list)
    # tasks whose name was already seen (position among the entries, entry): written back

    @property
    def duplicate_keys(self) -> list[str]:
        """Keys that appear more than once (``task`` or ``task.parameter``)."""
        out = [t.name for _, t in self.repeated]
        for task in self.tasks.values():
            out += [f"{task.name}.{k}" for _, k, _ in task.repeated]
        return list(dict.fromkeys(out))

    @property
    def analysis_tasks(self) -> dict[str, TaskConfig]:
        """The tasks that are not framework-internal devices (what a wagon imports)."""
        return {k: t for k, t in self.tasks.items() if not t.internal}

    def to_o2(self) -> dict[str, Any]:
        pairs = [(name, task.to_o2()) for name, task in self.tasks.items()]
        for pos, task in self.repeated:
            pairs.insert(pos, (task.name, task.to_o2()))
        return O2Object(pairs) if self.repeated else dict(pairs)


def _task_config(name: str, params: Any) -> TaskConfig:
    typed: dict[str, TypedValue] = {}
    repeated: list[tuple[int, str, TypedValue]] = []
    if params != "":
        for pos, (key, value) in enumerate(params.items()):
            if key in typed:  # O2 (boost property_tree) keeps it; a lookup finds the first
                repeated.append((pos, key, infer_value(value)))
            else:
                typed[key] = infer_value(value)
    return TaskConfig(
        name,
        typed,
        internal=name.startswith(INTERNAL_PREFIX),
        empty=params == "",
        repeated=repeated,
    )


def parse_o2_config(doc: Mapping[str, Any], *, source: str | None = None) -> O2Config:
    """Untyped model of a raw document from :func:`load_o2_json`. A key repeated in one
    object is kept as O2 keeps it: the first value is the one used, the others are written
    back in place (``duplicate_keys`` lists them)."""
    tasks: dict[str, TaskConfig] = {}
    repeated: list[tuple[int, TaskConfig]] = []
    for pos, (name, params) in enumerate(doc.items()):
        config = _task_config(name, params)
        if name in tasks:
            repeated.append((pos, config))
        else:
            tasks[name] = config
    return O2Config(tasks, source, repeated)


def load_o2_config(source: str | os.PathLike[str], *, name: str | None = None) -> O2Config:
    """Load a file (or JSON text) into the untyped model; errors as :func:`load_o2_json`."""
    text, display = read_o2_text(source, name=name)
    return parse_o2_config(parse_o2_json_text(text, display), source=display)


def dump_o2_json(config: O2Config | Mapping[str, Any]) -> str:
    """Canonical O2 text: 4-space indent, file order, ``/`` escaped as ``\\/``, final newline.

    This is byte for byte how O2 (boost property_tree) writes ``dpl-config.json``.
    """
    doc = config.to_o2() if isinstance(config, O2Config) else config
    # "/" only ever occurs inside JSON strings, so a textual replace is exact
    return json.dumps(doc, indent=4, ensure_ascii=False).replace("/", "\\/") + "\n"


# ---------------------------------------------------------------------------------------
# Typed model (against a task's declared configurables)


def _unknown(task: str, name: str, declared: Mapping[str, Configurable]) -> ConfigurationError:
    close = difflib.get_close_matches(name, list(declared), n=1, cutoff=0.6)
    if close:
        hint = f"did you mean '{close[0]}'?"
    elif declared:
        names = sorted(declared)
        hint = "known parameters: " + ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    else:
        hint = "the task has no parameters"
    return ConfigurationError(
        task,
        name,
        "a declared parameter",
        message=f"unknown parameter '{name}' for task '{task}'; {hint}",
    )


def parse_task_config(
    task_name: str,
    raw: Mapping[str, Any] | str,
    declared: Mapping[str, Configurable],
    *,
    allow_unknown: bool = False,
    allow_inherit: bool = False,
) -> dict[str, Any]:
    """Validate one task's O2 parameters -> {name: typed value}, in the file's order.

    Only parameters present in ``raw`` are returned (the caller fills defaults). Unknown
    parameters raise (with a did-you-mean) unless ``allow_unknown``, then they are dropped.
    ``allow_inherit`` accepts ``"inherit"`` binnings (subwagons) as :data:`INHERIT`.
    """
    if raw == "":
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigurationError(
            task_name,
            "*",
            "an object of parameters",
            raw,
            message=f"task '{task_name}': expected an object of parameters, got {raw!r}",
        )
    out: dict[str, Any] = {}
    for name, value in raw.items():
        conf = declared.get(name)
        if conf is None:
            if allow_unknown:
                continue
            raise _unknown(task_name, name, declared)
        out[name] = conf.from_o2(value, task=task_name, allow_inherit=allow_inherit)
    return out


def export_task_config(
    values: Mapping[str, Any], declared: Mapping[str, Configurable], *, task: str = "?"
) -> dict[str, Any]:
    """Typed values -> O2 JSON object, in the order of ``values``."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        conf = declared.get(name)
        if conf is None:
            raise _unknown(task, name, declared)
        out[name] = INHERIT_JSON if value is INHERIT else conf.to_o2(value)
    return out


def complete_task_config(
    values: Mapping[str, Any], declared: Mapping[str, Configurable]
) -> tuple[dict[str, Any], list[str]]:
    """(every declared parameter -> value, names filled in with their default), in
    declaration order; a run reports the second list."""
    full: dict[str, Any] = {}
    filled: list[str] = []
    for name, conf in declared.items():
        if name in values:
            full[name] = values[name]
        else:
            full[name] = conf.default
            filled.append(name)
    return full, filled
