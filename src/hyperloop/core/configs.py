"""Wagon configuration rules: validation against a tag's configurables, defaults, subwagon
overrides (with propagation of variable-length arrays) and sync to a newer tag.

Values are kept in O2 JSON form (``{task: {param: value}}``). Typing and parsing reuse the
analysis runtime's configurables (``hyperloop.analysis.configurables``): a description from
the tag introspection is turned back into the same ``Configurable`` the task declared.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from hyperloop.analysis.configurables import (
    Configurable,
    ConfigurableAxis,
    ConfigurationError,
    FixedArray,
    Kind,
    LabelledMatrix,
    Matrix,
    VariableArray,
    parse_scalar_text,
)
from hyperloop.core.errors import ValidationError
from hyperloop.core.tag_workflows import workflow_info
from hyperloop.db.models import PackageTag

Config = dict[str, dict[str, Any]]
_DTYPES = {"bool": bool, "int": int, "float": float, "string": str}


def _element(dtype: type, text: Any) -> Any:
    if isinstance(text, str):
        kind = {bool: Kind.BOOL, int: Kind.INT, float: Kind.FLOAT, str: Kind.STRING}[dtype]
        return parse_scalar_text(kind, text)
    return text


def _values(default: Any) -> Any:
    if isinstance(default, dict):
        values = default.get("values", [])
        return [] if values == "" else values
    return default


def configurable_from_description(desc: dict[str, Any]) -> Configurable:
    """Rebuild the typed configurable a task declared from its introspection record."""
    kind = Kind(desc["kind"])
    default = desc["default"]
    dtype = _DTYPES.get(desc.get("dtype", "float"), float)
    # the declared restrictions: a value is checked against them when a wagon is saved
    limits: dict[str, Any] = {
        "choices": desc.get("choices"),
        "min": desc.get("min"),
        "max": desc.get("max"),
    }
    conf: Configurable
    if kind in (Kind.BOOL, Kind.INT, Kind.FLOAT, Kind.STRING):
        value = parse_scalar_text(kind, default) if isinstance(default, str) else default
        conf = Configurable(value, desc.get("help", ""), kind=kind, **limits)
    elif kind in (Kind.FIXED_ARRAY, Kind.VARIABLE_ARRAY):
        cls = FixedArray if kind is Kind.FIXED_ARRAY else VariableArray
        conf = cls(
            [_element(dtype, v) for v in _values(default)],
            desc.get("help", ""),
            dtype=dtype,
            **limits,
        )
    elif kind is Kind.MATRIX:
        rows = [[_element(dtype, v) for v in r] for r in _values(default)]
        conf = Matrix(rows, desc.get("help", ""), dtype=dtype, **limits)
    elif kind is Kind.LABELLED_MATRIX:
        rows = [[_element(dtype, v) for v in r] for r in _values(default)]
        conf = LabelledMatrix(
            rows,
            desc.get("help", ""),
            rows=desc.get("rows", []),
            cols=desc.get("cols", []),
            dtype=dtype,
            **limits,
        )
    else:
        conf = ConfigurableAxis(_values(default), desc.get("help", ""))
    conf.name = desc["name"]
    return conf


@dataclass
class WorkflowSchema:
    """The configurables of every task of one workflow in one tag."""

    tag_label: str
    workflow: str
    tasks: dict[str, dict[str, Configurable]]
    descriptions: dict[str, dict[str, dict[str, Any]]]

    def defaults(self) -> Config:
        return {
            t: {n: copy.deepcopy(d["default"]) for n, d in params.items()}
            for t, params in self.descriptions.items()
        }

    def kind(self, task: str, param: str) -> Kind | None:
        desc = self.descriptions.get(task, {}).get(param)
        return Kind(desc["kind"]) if desc else None


def workflow_schema(tag: PackageTag, workflow: str) -> WorkflowSchema:
    info = workflow_info(tag, workflow)
    tasks: dict[str, dict[str, Configurable]] = {}
    descs: dict[str, dict[str, dict[str, Any]]] = {}
    for task in info.tasks:
        descs[task["name"]] = {c["name"]: c for c in task.get("configurables", [])}
        tasks[task["name"]] = {
            c["name"]: configurable_from_description(c) for c in task.get("configurables", [])
        }
    return WorkflowSchema(tag.label, workflow, tasks, descs)


def default_config(tag: PackageTag, workflow: str) -> Config:
    """Every configurable of the workflow at its default (O2 JSON form)."""
    return workflow_schema(tag, workflow).defaults()


@dataclass
class ConfigProblem:
    task: str
    parameter: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"task": self.task, "parameter": self.parameter, "message": self.message}


def check_config(
    schema: WorkflowSchema, config: Any, *, subwagon: bool = False
) -> tuple[Config, list[ConfigProblem]]:
    """Canonical O2 form of ``config`` and the problems found (unknown names, bad values)."""
    problems: list[ConfigProblem] = []
    out: Config = {}
    if not isinstance(config, dict):
        return out, [ConfigProblem("?", "?", "configuration must be an object {task: {...}}")]
    for task, params in config.items():
        declared = schema.tasks.get(task)
        if declared is None:
            problems.append(
                ConfigProblem(
                    task,
                    "?",
                    f"workflow {schema.workflow!r} in "
                    f"{schema.tag_label} has no task {task!r}; tasks: " + ", ".join(schema.tasks),
                )
            )
            continue
        if not isinstance(params, dict):
            problems.append(ConfigProblem(task, "?", "task configuration must be an object"))
            continue
        out[task] = {}
        for name, raw in params.items():
            conf = declared.get(name)
            if conf is None:
                problems.append(
                    ConfigProblem(
                        task,
                        name,
                        f"task {task!r} has no configurable {name!r} in {schema.tag_label}",
                    )
                )
                continue
            try:
                value = conf.from_o2(raw, task=task, allow_inherit=subwagon)
                out[task][name] = conf.to_o2(value)
            except ConfigurationError as exc:
                problems.append(ConfigProblem(task, name, str(exc)))
    return out, problems


def validate_config(
    schema: WorkflowSchema, config: Any, *, subwagon: bool = False, what: str = "configuration"
) -> Config:
    """Canonical config or ``ValidationError`` listing every problem (task, parameter)."""
    out, problems = check_config(schema, config, subwagon=subwagon)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValidationError(
            f"{what}: {first.message}{more}", {"errors": [p.as_dict() for p in problems]}
        )
    return out


def complete_base(schema: WorkflowSchema, base: Config) -> Config:
    """Fill every configurable missing from ``base`` with its default."""
    full = schema.defaults()
    for task, params in base.items():
        full.setdefault(task, {}).update(params)
    return full


def effective_subwagon(base: Config, overrides: Config) -> Config:
    """The configuration a subwagon runs with: base, with its overridden values replaced."""
    out = copy.deepcopy(base)
    for task, params in overrides.items():
        for name, value in params.items():
            if value == "inherit":
                continue
            out.setdefault(task, {})[name] = copy.deepcopy(value)
    return out


def minimal_overrides(base: Config, config: Config) -> Config:
    """Only the values of ``config`` that differ from ``base`` (what a subwagon stores)."""
    out: Config = {}
    for task, params in config.items():
        for name, value in params.items():
            if value == "inherit":  # a binning inherited from the base is no override
                continue
            if base.get(task, {}).get(name) != value:
                out.setdefault(task, {})[name] = value
    return out


def _propagate_list(old_base: list[Any], new_base: list[Any], sub: list[Any]) -> list[Any]:
    if len(sub) != len(old_base):
        return sub  # the subwagon changed the array's length itself: leave it alone
    out: list[Any] = []
    ops = difflib.SequenceMatcher(a=old_base, b=new_base, autojunk=False).get_opcodes()
    for op, i1, i2, j1, j2 in ops:
        if op == "equal":
            out.extend(sub[i1:i2])
        elif op == "insert":
            out.extend(new_base[j1:j2])
        elif op == "replace":
            kept = sub[i1:i2][: j2 - j1]
            out.extend(kept + new_base[j1 + len(kept) : j2])
        # "delete": the base removed these elements, so does the subwagon
    return out


def propagate_arrays(
    schema: WorkflowSchema, old_base: Config, new_base: Config, subwagons: dict[str, Config]
) -> dict[str, Config]:
    """Elements added to / removed from a variable-length array of the base are added to /
    removed from the subwagons overriding that array (their own values are kept)."""
    out = copy.deepcopy(subwagons)
    for sub in out.values():
        for task, params in sub.items():
            for name, value in list(params.items()):
                if schema.kind(task, name) is not Kind.VARIABLE_ARRAY:
                    continue
                old = _values(old_base.get(task, {}).get(name))
                new = _values(new_base.get(task, {}).get(name))
                if old == new or not isinstance(old, list) or not isinstance(new, list):
                    continue
                values = _propagate_list(old, new, list(_values(value)))
                params[name] = {"values": values}
    return out


@dataclass
class SyncReport:
    """What a sync to another tag did, per ``task.param``."""

    removed: list[str] = field(default_factory=list)
    new_defaults: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    reset_invalid: list[str] = field(default_factory=list)
    removed_tables: list[str] = field(default_factory=list)
    disabled: str | None = None  # why the wagon was disabled instead of synced

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()}


def sync_config(
    old: WorkflowSchema, new: WorkflowSchema, base: Config, subwagons: dict[str, Config]
) -> tuple[Config, dict[str, Config], SyncReport]:
    """Move a configuration to another tag: removed parameters are dropped, values the user
    never touched take the new defaults, touched values are kept when still valid."""
    report = SyncReport()
    old_defaults, new_defaults = old.defaults(), new.defaults()
    out: Config = {}
    for task, params in new_defaults.items():
        out[task] = {}
        for name, new_default in params.items():
            key = f"{task}.{name}"
            if name not in base.get(task, {}):
                out[task][name] = new_default
                report.added.append(key)
                continue
            value = base[task][name]
            if (
                value == old_defaults.get(task, {}).get(name, value)
                and task in old.tasks
                and name in old.tasks[task]
            ):
                if value != new_default:
                    report.new_defaults.append(key)
                out[task][name] = new_default
                continue
            _, problems = check_config(new, {task: {name: value}})
            if problems:
                out[task][name] = new_default
                report.reset_invalid.append(key)
            else:
                out[task][name] = value
                report.kept.append(key)
    for task, params in base.items():
        for name in params:
            if name not in new_defaults.get(task, {}):
                report.removed.append(f"{task}.{name}")
    new_subs: dict[str, Config] = {}
    for sub_name, sub in subwagons.items():
        kept_sub: Config = {}
        for task, params in sub.items():
            for name, value in params.items():
                if name in new.tasks.get(task, {}):
                    _, problems = check_config(new, {task: {name: value}}, subwagon=True)
                    if not problems:
                        kept_sub.setdefault(task, {})[name] = value
        new_subs[sub_name] = kept_sub
    return out, new_subs, report


# ---------------------------------------------------------------- parameters added by hand

PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
MAX_ADDED_VALUE_CHARS = 10_000


def parse_added_value(text: str) -> Any:
    """A value typed in the page: JSON when it parses as JSON (``5``, ``true``, ``[1, 2]``,
    ``"x"``), else the text itself as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def check_added_parameter(schema: WorkflowSchema, task: str, name: str, value: Any) -> Any:
    """A parameter added by hand: the task must be one of the workflow's, the name one the
    task does not declare (a declared one is changed in the configuration table), the value
    a JSON value (not null, at most 10 000 characters as JSON). Returns the value."""
    if task not in schema.tasks:
        raise ValidationError(
            f"parameter {task}.{name} added by hand: workflow {schema.workflow!r} in "
            f"{schema.tag_label} has no task {task!r}; tasks: " + ", ".join(schema.tasks),
            {"task": task, "parameter": name},
        )
    if not isinstance(name, str) or not PARAMETER_NAME.match(name):
        raise ValidationError(
            f"parameter name {name!r} of task {task!r}: use letters, digits, '_', '.' or '-' "
            "(at most 128 characters, not starting with a digit)",
            {"task": task, "parameter": name},
        )
    if name in schema.tasks[task]:
        raise ValidationError(
            f"task {task!r} already declares {name!r} in {schema.tag_label}: change its value "
            "in the configuration table instead of adding it",
            {"task": task, "parameter": name},
        )
    if value is None:
        raise ValidationError(
            f"parameter {task}.{name}: a value is required", {"task": task, "parameter": name}
        )
    try:
        size = len(json.dumps(value))
    except (TypeError, ValueError):
        raise ValidationError(
            f"parameter {task}.{name}: the value is not JSON", {"task": task, "parameter": name}
        ) from None
    if size > MAX_ADDED_VALUE_CHARS:
        raise ValidationError(
            f"parameter {task}.{name}: the value has {size} characters as JSON, more than "
            f"{MAX_ADDED_VALUE_CHARS}",
            {"task": task, "parameter": name},
        )
    return value


def check_added_parameters(schema: WorkflowSchema, added: Any) -> Config:
    """Every added parameter checked (``check_added_parameter``); ``{task: {name: value}}``
    without empty tasks."""
    if added is None:
        return {}
    if not isinstance(added, dict) or not all(isinstance(p, dict) for p in added.values()):
        raise ValidationError("added parameters must be an object {task: {name: value}}")
    out: Config = {}
    for task, params in sorted(added.items()):
        for name, value in sorted(params.items()):
            out.setdefault(task, {})[name] = check_added_parameter(schema, task, name, value)
    return out
