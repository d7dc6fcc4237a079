"""From a train spec to an execution plan, checked before any data is read.

The plan instantiates every task of every workflow instance with its configuration
(defaults filled in and reported), runs a dependency needed by several wagons with the same
configuration once, orders tasks by the tables they consume and produce, and works out the
stored columns to read per table (the union over the train: column pruning). A missing
producer, two producers of one table, or a cycle is an error here, not mid-run.
"""

from __future__ import annotations

import ast
import copy
import difflib
import inspect
import json
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hyperloop.analysis.histograms import HistogramRegistry
from hyperloop.analysis.o2config import parse_task_config
from hyperloop.analysis.schema import SchemaRegistry, TableSchema, default_registry
from hyperloop.analysis.spec import TrainSpec, WorkflowEntry
from hyperloop.analysis.task import Task
from hyperloop.analysis.workflows import Package, Workflow


class PlanError(ValueError):
    """A train that cannot run: unknown workflow/task, missing producer, cycle, conflict."""


@dataclass
class TaskInstance:
    """One task of one workflow instance, configured."""

    task: Task
    workflow: str
    suffix: str
    wagon_ids: list[int | None]
    entry_index: int
    needs: list[str] = field(default_factory=list)  # instance names this one waits for
    pipeline: int = 0  # copies asked for by the spec's pipeline_strategy (0: not asked)

    @property
    def name(self) -> str:
        return self.task.instance_name


@dataclass
class Plan:
    """What to run, in which order, reading which columns."""

    instances: list[TaskInstance]
    registry: SchemaRegistry
    file_columns: dict[str, set[str]]  # logical file table -> stored columns to read
    dynamic_columns: dict[str, set[str]]  # logical table -> dynamic columns tasks use
    produced: dict[str, str]  # logical produced table -> producing instance name
    derived_tables: list[str]  # logical produced tables written to the derived AO2D
    defaults_filled: dict[str, list[str]]  # instance -> parameters that took defaults
    shared: dict[str, list[int | None]]  # instance -> wagon ids sharing it (deduplicated)
    spec: TrainSpec
    # instance -> parameters added by hand that its task does not declare (left out)
    ignored_parameters: dict[str, list[str]] = field(default_factory=dict)

    def instance(self, name: str) -> TaskInstance:
        for inst in self.instances:
            if inst.name == name:
                return inst
        raise KeyError(name)

    def file_tables(self) -> dict[str, set[str]]:
        """O2 tree name -> stored columns to read."""
        return {self.registry.get(t).o2name: cols for t, cols in self.file_columns.items()}


def _config_key(workflow: str, tasks: Iterable[Task]) -> str:
    return json.dumps(
        [workflow, [(t.name, t.export_config()) for t in tasks]], sort_keys=True, default=str
    )


def _instantiate(
    entry: WorkflowEntry, wf: Workflow, index: int, ignored_parameters: dict[str, list[str]]
) -> list[Task]:
    """The workflow's tasks configured by ``entry``; parameters added by hand that a task
    does not declare are left out and listed in ``ignored_parameters`` (per instance)."""
    known = {t.name for t in wf.tasks}
    for task_name in entry.configuration:
        if task_name.startswith("internal-dpl-") or task_name in known:
            continue
        raise PlanError(
            f"workflows[{index}] ({wf.name}{entry.suffix}): the configuration names task "
            f"{task_name!r}, which workflow {wf.name!r} does not have (tasks: {', '.join(sorted(known))})"
        )
    tasks = []
    for task_cls in wf.tasks:
        raw = entry.configuration.get(task_cls.name, {})
        declared = task_cls.configurables()
        added = set(entry.added_parameters.get(task_cls.name, ()))
        ignored = (
            sorted(n for n in raw if n in added and n not in declared)
            if isinstance(raw, dict)
            else []
        )
        if ignored:
            raw = {k: v for k, v in raw.items() if k not in ignored}
        values = parse_task_config(task_cls.name, raw, declared)
        task = task_cls(values, suffix=entry.suffix)
        if ignored:
            ignored_parameters[task.instance_name] = ignored
        tasks.append(task)
    return tasks


def build_plan(
    spec: TrainSpec, package: Package, *, registry: SchemaRegistry | None = None
) -> Plan:
    """Check and order the train; raises PlanError (or ConfigurationError) before reading."""
    registry = registry.copy() if registry is not None else default_registry()
    # tables of derived data (standalone tables the package produces) can be read from
    # files too: a later train runs on a derived-data production
    for wf in package.workflows.values():
        for task in wf.tasks:
            for table in task.produces:
                if table.extends is None and table.logical not in registry:
                    registry.register(table)
    file_table_names = {t.logical for t in registry.tables()}

    instances: list[TaskInstance] = []
    ignored: dict[str, list[str]] = {}
    by_key: dict[str, list[TaskInstance]] = {}
    shared: dict[str, list[int | None]] = {}
    seen_names: dict[str, int] = {}
    for index, entry in enumerate(spec.workflows):
        wf = package.get(entry.workflow_name)
        tasks = _instantiate(entry, wf, index, ignored)
        key = _config_key(wf.name, tasks)
        if wf.produces() and key in by_key:
            # a dependency several wagons need with the same configuration runs once
            for inst in by_key[key]:
                inst.wagon_ids.append(entry.wagon_id)
                shared[inst.name] = inst.wagon_ids
            continue
        group = []
        for task in tasks:
            if task.instance_name in seen_names:
                raise PlanError(
                    f"workflows[{index}] ({wf.name}): task instance {task.instance_name!r} is "
                    f"already defined by workflows[{seen_names[task.instance_name]}]; give the "
                    "second instance a different suffix"
                )
            seen_names[task.instance_name] = index
            inst = TaskInstance(task, wf.name, entry.suffix, [entry.wagon_id], index)
            instances.append(inst)
            group.append(inst)
        by_key[key] = group

    # producers
    produced: dict[str, str] = {}
    for inst in instances:
        for table in inst.task.produces:
            if table.logical in produced:
                raise PlanError(
                    f"table {table.logical} is produced twice in this train: by "
                    f"{produced[table.logical]} and by {inst.name} (a service with two "
                    "different configurations cannot share a train)"
                )
            known = registry.get(table.logical) if table.logical in file_table_names else None
            if known is not None and not _same_table(known, table):
                raise PlanError(
                    f"{inst.name} produces {table.logical}, which clashes with a known table"
                )
            registry.register(table, replace=True)
            produced[table.logical] = inst.name

    # consumers -> edges, file columns
    file_columns: dict[str, set[str]] = {}
    dynamic_columns: dict[str, set[str]] = {}
    for inst in instances:
        for table_name, cols in inst.task.reads().items():
            if table_name not in registry:
                if not any(table_name in wf.produces() for wf in package.workflows.values()):
                    hint = registry.suggest(table_name)
                    if "did you mean" in hint:
                        raise PlanError(
                            f"task {inst.name} declares table {table_name!r} in "
                            f"@process(...), which is not a known table{hint}"
                        )
                raise PlanError(_missing_producer(inst, table_name, package))
            table = registry.get(table_name)
            for col in cols:
                if not table.has_column(col):
                    raise PlanError(_unknown_column(inst.name, table, col))
            _add_needs(inst, table, produced, registry)
            stored = table.stored_inputs(cols)
            dyn = {c for c in cols if c in table.dynamic}
            if dyn:
                dynamic_columns.setdefault(table.logical, set()).update(dyn)
                # dynamic columns need their stored inputs
            if table.logical in produced:
                continue
            if table.logical not in file_table_names:
                raise PlanError(_missing_producer(inst, table.logical, package))
            file_columns.setdefault(table.logical, set()).update(stored)
    # parents of joined file tables must be read at least for their row count
    for inst in instances:
        inst.needs = [n for n in dict.fromkeys(inst.needs) if n != inst.name]

    for inst in instances:
        check_process_sources(inst.task, registry)

    for index, entry in enumerate(spec.workflows):
        _apply_pipeline_strategy(index, entry, [i for i in instances if i.entry_index == index])

    ordered = _toposort(instances)

    derived_tables: list[str] = []
    if spec.derived_data:
        for name in spec.output_director.tables:
            if name not in registry:
                raise PlanError(f"OutputDirector names table {name!r}, which is not known")
            logical = registry.get(name).logical
            if logical not in produced:
                raise PlanError(
                    f"OutputDirector saves {logical}, but no task of the train produces it"
                )
            derived_tables.append(logical)

    return Plan(
        instances=ordered,
        registry=registry,
        file_columns=file_columns,
        dynamic_columns=dynamic_columns,
        produced=produced,
        derived_tables=derived_tables,
        defaults_filled={i.name: list(i.task.defaulted) for i in ordered},
        shared={k: v for k, v in shared.items()},
        spec=spec,
        ignored_parameters=ignored,
    )


def _unknown_column(who: str, table: TableSchema, col: str) -> str:
    known = [*table.columns, *table.dynamic]
    close = difflib.get_close_matches(col, known, n=1) or difflib.get_close_matches(
        col.lower(), {k.lower(): k for k in known}, n=1
    )
    if close:
        match = next((k for k in known if k.lower() == close[0].lower()), close[0])
        return (
            f"task {who} reads column {col!r} of {table.logical}, which has no such column; "
            f"did you mean {match!r}?"
        )
    return (
        f"task {who} reads column {col!r} of {table.logical}, which has no such column "
        f"(stored: {', '.join(table.columns)}; dynamic: {', '.join(table.dynamic) or 'none'})"
    )


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _chain_tables(node: ast.AST) -> list[str] | None:
    """Tables whose columns ``df.table("A").join("B").select(m)`` gives (None: unknown)."""
    tables: list[str] = []
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        attr = node.func.attr
        if attr == "table":
            name = _literal(node.args[0]) if len(node.args) == 1 else None
            return None if name is None else [name, *tables]
        if attr == "filtered":  # df.filtered("Tracks", "TracksExtra"): a filtered join
            names = [_literal(a) for a in node.args]
            if not names or any(n is None for n in names):
                return None
            return [*names, *tables]  # type: ignore[list-item]
        if attr == "join":
            names = [_literal(a) for a in node.args]
            if not names or any(n is None for n in names):
                return None
            tables += names  # type: ignore[arg-type]
        elif attr != "select":
            return None
        node = node.func.value
    return None


def check_process_sources(task: Task, registry: SchemaRegistry) -> None:
    """Table and column names written as literals in the enabled process functions
    (``df.table("Tracks")``, ``tracks["pt"]``) must exist: a typo is a PlanError with a
    "did you mean" before any data is read, not an error in the middle of a run."""
    for spec in task.enabled_processes():
        _check_process_source(task, spec.name, registry)


def _check_process_source(task: Task, fname: str, registry: SchemaRegistry) -> None:
    func = type(task)._process_funcs[fname]
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
        first = func.__code__.co_firstlineno
        where_file = Path(inspect.getsourcefile(func) or "?").name
    except (OSError, TypeError, SyntaxError):
        return  # defined where its source cannot be read: checked at run time

    def where(node: ast.AST) -> str:
        line = first + getattr(node, "lineno", 1) - 1
        return f"task {task.instance_name}, {fname} ({where_file}:{line})"

    stores: dict[str, int] = {}
    views: dict[str, list[str] | None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            stores[node.id] = stores.get(node.id, 0) + 1
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                views[target.id] = _chain_tables(node.value)
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        names: list[str | None] = []
        if node.func.attr in ("table", "has_table") and len(node.args) == 1:
            names = [_literal(node.args[0])]
        elif node.func.attr == "filtered" or (
            node.func.attr == "join" and _chain_tables(node.func.value) is not None
        ):
            names = [_literal(a) for a in node.args]
        for name in names:
            if name is not None and name not in registry:
                raise PlanError(f"{where(node)}: unknown table {name!r}{registry.suggest(name)}")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)):
            continue
        col = _literal(node.slice)
        tables = views.get(node.value.id)
        # a name assigned more than once may hold different tables: not checked
        if col is None or not tables or stores.get(node.value.id) != 1:
            continue
        if any(t not in registry for t in tables):
            continue
        schemas = [registry.get(t) for t in tables]
        if not any(s.has_column(col) for s in schemas):
            raise PlanError(_unknown_column(where(node).removeprefix("task "), schemas[0], col))


def dataframe_skips(plan: Plan, frame: Any) -> dict[str, str]:
    """The task instances not run on this dataframe, with why, decided before any task runs
    on it (so that a task's filters spare the work of the tasks feeding it):

    - a task none of whose enabled process functions can run: each takes a table of the
      file filtered, and no row of it passes (``Task.cannot_run_on``; it would skip them);
    - then, from the last task back, a producer whose tables are read only by skipped tasks,
      none written as derived data, and that books no histogram of its own: its columns
      would be computed for nobody.

    The outputs are those of running every task (skipped work fills nothing)."""
    produced = set(plan.produced)
    skips: dict[str, str] = {}
    for inst in plan.instances:
        try:
            why = inst.task.cannot_run_on(frame, produced)
        except Exception:  # noqa: BLE001 - the task runs and fails under its own name
            why = None
        if why is not None:
            skips[inst.name] = why
    readers: dict[str, list[str]] = {inst.name: [] for inst in plan.instances}
    for inst in plan.instances:
        for need in inst.needs:
            readers.setdefault(need, []).append(inst.name)
    writes_derived = {plan.produced[t] for t in plan.derived_tables if t in plan.produced}
    for inst in reversed(plan.instances):  # dependents come after their producers
        users = readers.get(inst.name, [])
        if (
            inst.name in skips
            or not users
            or not all(u in skips for u in users)
            or inst.name in writes_derived
            or len(inst.task.histos) > 0
        ):
            continue
        skips[inst.name] = f"its tables are read only by {', '.join(users)}, skipped here"
    return skips


def check_dataset_type(plan: Plan, *, is_mc: bool, what: str) -> None:
    """Refuse a plan whose enabled process functions read MC tables (``Mc*``) when the
    input (``what``) is real data, naming the task and the process switch to turn off."""
    if is_mc:
        return
    for inst in plan.instances:
        for spec in inst.task.enabled_processes():
            mc = sorted(t for t in spec.reads if plan.registry.get(t).logical.startswith("Mc"))
            if not mc:
                continue
            if spec.is_switch:
                fix = (
                    f'; turn the switch off for this data ("{inst.task.name}": '
                    f'{{"{spec.name}": "false"}})'
                )
                who = f"task {inst.name}: process switch {spec.name} is on and reads"
            else:
                fix = "; move the MC part into a processXxx function (a process switch)"
                who = f"task {inst.name}: its process function reads"
            raise PlanError(f"{who} MC tables ({', '.join(mc)}), but {what} is real data{fix}")


def _apply_pipeline_strategy(
    index: int, entry: WorkflowEntry, instances: list[TaskInstance]
) -> None:
    """Set the copies a workflow entry's ``pipeline_strategy`` asks for ({task: N}); a task
    that keeps state across dataframes cannot be split over copies (PlanError)."""
    for key, value in entry.pipeline_strategy.items():
        where = f"workflows[{index}] ({entry.workflow_name}{entry.suffix}): pipeline_strategy"
        match = [i for i in instances if key in (i.task.name, i.name)]
        if not match:
            known = ", ".join(sorted(i.task.name for i in instances)) or "none"
            raise PlanError(
                f"{where} names task {key!r}, which this workflow does not run ({known})"
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PlanError(
                f"{where}[{key!r}] must be a whole number of copies >= 1, got {value!r}"
            )
        for inst in match:
            if value > 1:
                reason = pipeline_blocker(inst.task, auto=False)
                if reason:
                    raise PlanError(
                        f"{where}[{key!r}]: {inst.name} cannot run as {value} copies: {reason}"
                    )
            inst.pipeline = value


_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), np.generic)


def _immutable(value: Any) -> bool:
    if isinstance(value, (tuple, frozenset)):
        return all(_immutable(v) for v in value)
    # objects that hold configuration only (a mixing binning policy) say so
    return isinstance(value, _IMMUTABLE) or getattr(type(value), "stateless", False) is True


def pipeline_blocker(task: Task, *, auto: bool = True) -> str | None:
    """Why ``task`` cannot run as several copies over alternate dataframes (None: it can).

    Copies split the dataframes and their histograms are added at the end, which gives the
    one-device result only if the task keeps no state from one dataframe to the next. A
    task's ``pipeline_safe`` class attribute decides if set; otherwise a trial ``init`` on a
    copy of the task must leave no mutable attribute (buffers, counters, pools: event
    mixing) and no growing histogram axis. Tables produced for other devices block the
    automatic choice only (``auto``): a producer is duplicated when the spec asks for it.
    """
    declared = getattr(type(task), "pipeline_safe", None)
    if declared is False:
        return f"task class {type(task).__name__} sets pipeline_safe = False"
    if auto and task.produces:
        return "it produces tables other devices consume"
    if declared is True:
        return None
    probe = copy.copy(task)
    probe.histos = HistogramRegistry(owner=task.instance_name)
    before = set(vars(probe))
    try:
        probe.init()
    except Exception as exc:  # noqa: BLE001 - the real init reports it in the run
        return f"its init raised {type(exc).__name__}"
    for attr in vars(probe):
        if attr not in before and not _immutable(getattr(probe, attr)):
            kind = type(getattr(probe, attr)).__name__
            return (
                f"init sets attribute {attr!r} ({kind}), state that may carry from one "
                "dataframe to the next (set pipeline_safe = True on the task class if not)"
            )
    for h in probe.histos:
        if any(getattr(ax.traits, "growth", False) for ax in h.hist.axes):
            return f"histogram {h.name!r} has a growing axis (copies would disagree on its bins)"
    return None


def pipeline_copies(plan: Plan, cores: int) -> dict[str, int]:
    """Copies of each task device for a run on ``cores`` cores: what the spec's
    pipeline_strategy asks for, else (with 2+ cores) ``cores`` copies of every task whose
    work is histograms only and stateless, so the heaviest device stops bounding the run.
    Dataframes go to whichever copy is free, so copies of a light device mostly idle."""
    out: dict[str, int] = {}
    for inst in plan.instances:
        if inst.pipeline:
            out[inst.name] = inst.pipeline
        elif cores > 1 and pipeline_blocker(inst.task) is None:
            out[inst.name] = cores
        else:
            out[inst.name] = 1
    return out


def _same_table(a: TableSchema, b: TableSchema) -> bool:
    return a.o2name == b.o2name and dict(a.columns) == dict(b.columns)


def _add_needs(
    inst: TaskInstance, table: TableSchema, produced: dict[str, str], registry: SchemaRegistry
) -> None:
    """The instance waits for the producer of ``table`` (and of tables it extends)."""
    seen = set()
    current: TableSchema | None = table
    while current is not None and current.logical not in seen:
        seen.add(current.logical)
        producer = produced.get(current.logical)
        if producer is not None:
            inst.needs.append(producer)
        current = registry.get(current.extends) if current.extends else None


def _missing_producer(inst: TaskInstance, table: str, package: Package) -> str:
    providers = sorted(wf.name for wf in package.workflows.values() if table in wf.produces())
    hint = (
        f"; add a dependency on {' or '.join(providers)}"
        if providers
        else "; no workflow of the package produces it"
    )
    return f"task {inst.name} needs table {table}, which no workflow of this train produces{hint}"


def _toposort(instances: list[TaskInstance]) -> list[TaskInstance]:
    by_name = {i.name: i for i in instances}
    remaining = {i.name: set(i.needs) for i in instances}
    order: list[TaskInstance] = []
    while remaining:
        ready = [n for n in by_name if n in remaining and not remaining[n]]
        if not ready:
            cycle = ", ".join(f"{n} <- {sorted(d)}" for n, d in remaining.items())
            raise PlanError(f"tables form a dependency cycle between tasks: {cycle}")
        for name in ready:
            order.append(by_name[name])
            del remaining[name]
            for deps in remaining.values():
                deps.discard(name)
    return order


def describe_plan(plan: Plan) -> dict[str, Any]:
    """A JSON-able summary (printed by run-train --dry-run and kept with outputs)."""
    return {
        "tasks": [
            {
                "instance": i.name,
                "workflow": i.workflow,
                "wagon_ids": i.wagon_ids,
                "needs": i.needs,
                **({"pipeline": i.pipeline} if i.pipeline else {}),
                "defaults_filled": i.task.defaulted,
            }
            for i in plan.instances
        ],
        "read": {t: sorted(c) for t, c in plan.file_tables().items()},
        "produced": plan.produced,
        "derived_tables": plan.derived_tables,
        # saved table -> {index column: indexed table}: what SPEC §4 warning 8 checks
        "derived_indices": {
            t: dict(plan.registry.get(t).index_columns) for t in plan.derived_tables
        },
    }
