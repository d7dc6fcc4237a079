"""The Task base class: configurables, declared inputs, process switches, histograms.

A task is the unit O2 calls a device's analysis task. Physicists subclass ``Task``::

    class Spectra(Task):
        '''Charged-particle spectra.'''
        name = "spectra-charged"
        etaMax = Configurable(0.8, "maximum |eta|")

        def init(self):
            self.histos.add("hPt", "p_{T};p_{T} (GeV/c);tracks", [(100, 0, 10)])

        @process(Tracks=["pt", "eta"])
        def processData(self, df):
            t = df.table("Tracks")
            self.histos["hPt"].fill(t["pt"][np.abs(t["eta"]) < self.etaMax])

A function named ``process`` always runs; functions named ``processXxx`` become boolean
configurables (O2 process switches) that choose which of them run. Reading a switch in the
task (``self.processMc``, or O2's spelling ``self.doprocessMc``) gives its bool; the order in
which ``process`` and ``processXxx`` are defined does not matter.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hyperloop.analysis.ccdb import TaskConditions
from hyperloop.analysis.configurables import Configurable, ConfigurationError, Kind
from hyperloop.analysis.filters import BoundFilters, Filter, Partition
from hyperloop.analysis.histograms import HistogramRegistry
from hyperloop.analysis.mixing import BinningPolicy, Pair, SameKindPair
from hyperloop.analysis.schema import TableSchema


@dataclass(frozen=True)
class ProcessSpec:
    """A process function: its name, the switch default and the columns it reads."""

    name: str
    reads: Mapping[str, tuple[str, ...]]
    default: bool
    doc: str = ""
    #: tables taken filtered (O2's ``soa::Filtered<...>``): skipped where none of their rows pass
    filtered: tuple[str, ...] = ()

    @property
    def is_switch(self) -> bool:
        return self.name != "process"


def process(
    _func: Callable[..., Any] | None = None,
    *,
    default: bool = True,
    filtered: Iterable[str] = (),
    **reads: Iterable[str],
) -> Any:
    """Declare a process function and the table columns it reads (``Tracks=["pt"]``);
    ``filtered`` names tables it takes filtered by the task's ``Filter``s (O2's
    ``soa::Filtered<T>``): it is not called on a dataframe where no row of one passes."""
    if isinstance(filtered, str):
        filtered = (filtered,)

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        if not func.__name__.startswith("process"):
            raise TypeError(
                f"process function {func.__name__!r} must be named process or processXxx"
            )
        func.__hyperloop_process__ = ProcessSpec(  # type: ignore[attr-defined]
            name=func.__name__,
            reads={table: tuple(cols) for table, cols in reads.items()},
            default=default,
            doc=inspect.getdoc(func) or "",
            filtered=tuple(filtered),
        )
        return func

    if _func is not None:
        return wrap(_func)
    return wrap


class _ProcessSwitch(Configurable):
    """The boolean configurable generated for a ``processXxx`` function: it replaces the
    function on the class, so that ``self.processXxx`` reads the switch (O2's
    ``doprocessXxx``); the function itself is kept in ``func``."""

    def __init__(self, func: Callable[..., Any], spec: ProcessSpec) -> None:
        super().__init__(spec.default, f"process switch: {spec.doc or spec.name}")
        self.func = func
        self.__hyperloop_process__ = spec


class _TaskNamespace(dict):
    """The class-body namespace of a Task. Once the body defines ``def process``, the name
    ``process`` would be that method and ``@process(...)`` on a later ``processXxx`` would
    call it; decorator look-ups of ``process`` get the decorator instead."""

    def __getitem__(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        if key == "process" and (inspect.isfunction(value) or isinstance(value, _ProcessSwitch)):
            return process
        return value


class _TaskMeta(type):
    @classmethod
    def __prepare__(mcs, name: str, bases: tuple[type, ...], **kwargs: Any) -> dict[str, Any]:
        return _TaskNamespace()


@dataclass
class TaskOutputs:
    """What a task instance leaves after a run."""

    histos: HistogramRegistry
    produced: list[str] = field(default_factory=list)


class Task(metaclass=_TaskMeta):
    """Base class of analysis tasks. Subclasses set ``name`` and declare configurables."""

    name: ClassVar[str] = ""
    #: tables this task produces (service tables joined to others, or derived tables)
    produces: ClassVar[tuple[TableSchema, ...]] = ()

    # filled by __init_subclass__
    _configurables: ClassVar[dict[str, Configurable]]
    _processes: ClassVar[dict[str, ProcessSpec]]
    _process_funcs: ClassVar[dict[str, Callable[..., Any]]]
    _filters: ClassVar[dict[str, Filter]]
    _partitions: ClassVar[dict[str, Partition]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = _kebab(cls.__name__)
        configurables: dict[str, Configurable] = {}
        processes: dict[str, ProcessSpec] = {}
        funcs: dict[str, Callable[..., Any]] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                spec = getattr(value, "__hyperloop_process__", None)
                if spec is not None:
                    processes[attr] = spec
                    funcs[attr] = getattr(value, "func", value)
                    configurables.pop(attr, None)
                elif isinstance(value, Configurable):
                    configurables[attr] = value
                    processes.pop(attr, None)
                    funcs.pop(attr, None)
                elif attr in processes and inspect.isfunction(value):
                    funcs[attr] = value  # an override without @process keeps the declaration
        for pname, spec in processes.items():
            if not spec.is_switch:
                continue
            switch = cls.__dict__.get(pname)
            if not isinstance(switch, _ProcessSwitch):
                inherited = getattr(cls, pname, None)
                if isinstance(inherited, _ProcessSwitch) and inherited.func is funcs[pname]:
                    switch = inherited
                else:  # defined here: the class attribute becomes the switch
                    switch = _ProcessSwitch(funcs[pname], spec)
                    switch.__set_name__(cls, pname)
                    setattr(cls, pname, switch)
            configurables[pname] = switch
        cls._configurables = configurables
        cls._processes = processes
        cls._process_funcs = funcs
        cls._filters, cls._partitions = _selections(cls)

    def __init__(self, config: Mapping[str, Any] | None = None, *, suffix: str = "") -> None:
        self.suffix = suffix
        self._config: dict[str, Any] = {}
        self.defaulted: list[str] = []
        config = dict(config or {})
        unknown = [k for k in config if k not in self._configurables]
        if unknown:
            raise ConfigurationError(
                self.name,
                unknown[0],
                message=f"unknown parameter {unknown[0]!r} for task {self.name!r}; "
                f"known: {', '.join(self._configurables)}",
            )
        for pname, conf in self._configurables.items():
            if pname in config:
                self._config[pname] = conf.validate(config[pname], task=self.name)
            else:
                self._config[pname] = conf.validate(conf.default, task=self.name)
                self.defaulted.append(pname)
        self.histos = HistogramRegistry(owner=self.instance_name)

    # -- identity ----------------------------------------------------------------------
    @property
    def instance_name(self) -> str:
        """Device / output directory name: task name plus the workflow suffix."""
        return f"{self.name}{self.suffix}"

    @classmethod
    def configurables(cls) -> dict[str, Configurable]:
        return dict(cls._configurables)

    @classmethod
    def processes(cls) -> dict[str, ProcessSpec]:
        return dict(cls._processes)

    @property
    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def enabled_processes(self) -> list[ProcessSpec]:
        """Process functions that run with this configuration."""
        return [
            spec
            for spec in self._processes.values()
            if not spec.is_switch or bool(self._config.get(spec.name))
        ]

    def reads(self) -> dict[str, set[str]]:
        """Columns read per table (logical name) by the enabled process functions, and by
        the task's filters and partitions."""
        out: dict[str, set[str]] = {}
        enabled = self.enabled_processes()
        for spec in enabled:
            for table, cols in spec.reads.items():
                out.setdefault(table, set()).update(cols)
        if enabled:
            _add_selection_reads(type(self), out)
        return out

    @classmethod
    def declared_reads(cls) -> dict[str, set[str]]:
        """Columns any process function may read (independent of switches)."""
        out: dict[str, set[str]] = {}
        for spec in cls._processes.values():
            for table, cols in spec.reads.items():
                out.setdefault(table, set()).update(cols)
        _add_selection_reads(cls, out)
        return out

    def export_config(self) -> dict[str, Any]:
        """The configuration in O2 JSON form (strings, {"values": ...})."""
        return {
            pname: conf.to_o2(self._config[pname]) for pname, conf in self._configurables.items()
        }

    # -- hooks ---------------------------------------------------------------------------
    def init(self) -> None:
        """Declare histograms; called once before the first dataframe."""

    def finalize(self) -> None:
        """Called once after the last dataframe (e.g. to normalise)."""

    def run_dataframe(self, df: Any) -> None:
        """Call every enabled process function on one dataframe, with the task's filters
        for ``df.filtered(...)``; a function taking a table filtered is skipped where no
        row of it passes (recorded in ``df.stats.skipped``)."""
        before = getattr(df, "filters", None)
        df.filters = self._bound_filters(df)
        try:
            for spec in self.enabled_processes():
                empty = next(
                    (t for t in spec.filtered if df.has_table(t) and not len(df.filtered(t))),
                    None,
                )
                if empty is not None:
                    df.stats.skipped.append((self.instance_name, spec.name, empty))
                    continue
                self._process_funcs[spec.name](self, df)
        finally:
            df.filters = before

    def _bound_filters(self, df: Any) -> BoundFilters:
        """This task's filters on ``df``, their masks computed once per dataframe (shared by
        the early check of ``cannot_run_on`` and ``run_dataframe``)."""
        cache = df.bound_filters
        bound = cache.get(self.instance_name)
        if bound is None:
            filters = list(self._filters.values())
            bound = cache[self.instance_name] = BoundFilters(
                filters, self._config, self.instance_name
            )
        return bound

    def cannot_run_on(self, df: Any, produced: Iterable[str]) -> str | None:
        """Why none of this task's enabled process functions can run on ``df``, known before
        any other task has run on it: each takes a table filtered (``filtered=``) that is a
        table of the file (not one a task of the train produces) and of which no row passes
        the task's filters. None when one may run (or the data do not tell yet)."""
        specs = self.enabled_processes()
        if not specs or not self._filters:
            return None
        produced = set(produced)
        before = getattr(df, "filters", None)
        df.filters = self._bound_filters(df)
        try:
            reasons = []
            for spec in specs:
                empty = next(
                    (
                        t
                        for t in spec.filtered
                        if t not in produced and df.has_table(t) and not len(df.filtered(t))
                    ),
                    None,
                )
                if empty is None:
                    return None
                reasons.append(f"{spec.name}: no row of {empty} passes the filters")
            return "; ".join(reasons)
        finally:
            df.filters = before

    @property
    def ccdb(self) -> TaskConditions:
        """The conditions database for this task (O2's ``Service<ccdb::BasicCCDBManager>``):
        ``self.ccdb.get(path, timestamp, run=...)``, ``self.ccdb.per_run(path, runs,
        timestamps)``; objects are cached for the job, so a run's object is fetched once."""
        return TaskConditions(self.instance_name)

    def __getattr__(self, name: str) -> Any:
        # O2 spells the switch of processXxx doprocessXxx: both read the same bool
        if name.startswith("doprocess"):
            spec = type(self)._processes.get(name[2:])
            if spec is not None and spec.is_switch:
                return bool(self._config.get(spec.name))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Introspection record (stored per package tag by the server)."""
        return {
            "name": cls.name,
            "doc": inspect.getdoc(cls) or "",
            "configurables": [conf.describe() for conf in cls._configurables.values()],
            "process_functions": [
                {"name": s.name, "switch": s.is_switch, "default": s.default, "doc": s.doc}
                for s in cls._processes.values()
            ],
            "consumes": {t: sorted(c) for t, c in cls.declared_reads().items()},
            "filters": {n: str(f.expr) for n, f in cls._filters.items()},
            "partitions": {n: str(p.expr) for n, p in cls._partitions.items()},
            "produces": [describe_table(t) for t in cls.produces],
        }


def _selections(cls: type[Task]) -> tuple[dict[str, Filter], dict[str, Partition]]:
    """The Filters and Partitions of a task class; their configurables must be the task's
    and every ``filtered=`` table of a process function must have a filter."""
    filters: dict[str, Filter] = {}
    partitions: dict[str, Partition] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Filter):
                filters[attr] = value
            elif isinstance(value, Partition):
                partitions[attr] = value
            else:
                filters.pop(attr, None)
                partitions.pop(attr, None)
    for sel in (*filters.values(), *partitions.values()):
        for conf in sorted(sel.expr.configurables()):
            if conf not in cls._configurables:
                raise TypeError(
                    f"task {cls.name}: {sel.kind} {sel.name} ({sel.expr}) uses configurable "
                    f"{conf!r}, which is not a configurable of this task"
                )
    filtered_tables = {t for f in filters.values() for t in f.tables}
    for spec in cls._processes.values():
        for table in spec.filtered:
            if table not in filtered_tables:
                known = ", ".join(f"{n} on {'+'.join(f.tables)}" for n, f in filters.items())
                raise TypeError(
                    f"task {cls.name}: {spec.name} takes {table} filtered, but no Filter of "
                    f"the task reads {table} (filters: {known or 'none'})"
                )
    return filters, partitions


def _add_selection_reads(cls: type[Task], out: dict[str, set[str]]) -> None:
    for sel in (*cls._filters.values(), *cls._partitions.values()):
        for table, cols in sel.reads().items():
            out.setdefault(table, set()).update(cols)


def describe_table(table: TableSchema) -> dict[str, Any]:
    return {
        "logical": table.logical,
        "o2name": table.o2name,
        "columns": dict(table.columns),
        "index_columns": dict(table.index_columns),
        "extends": table.extends,
        "doc": table.doc,
    }


def _kebab(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("-")
        out.append(ch.lower())
    return "".join(out)


__all__ = [
    "BinningPolicy",
    "Kind",
    "Pair",
    "ProcessSpec",
    "SameKindPair",
    "Task",
    "TaskOutputs",
    "process",
]
