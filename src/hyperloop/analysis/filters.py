"""Declarative filters and partitions on columns, as O2Physics writes them.

O2::

    Configurable<float> etaMax{"etaMax", 0.8f, "max |eta|"};
    Filter trackFilter = nabs(aod::track::eta) < etaMax && aod::track::pt > ptMin;
    Partition<aod::Tracks> positive = aod::track::signed1Pt > 0.f;
    void process(soa::Filtered<aod::Tracks> const& tracks) { ... }

here, in the task's class body::

    etaMax = Configurable(0.8, "max |eta|")
    trackFilter = Filter((nabs(aod.Tracks.eta) < etaMax) & (aod.Tracks.pt > ptMin))
    positive = Partition(aod.Tracks.signed1Pt > 0)

    @process(Tracks=["pt"], filtered=["Tracks"])
    def process(self, df):
        tracks = df.filtered("Tracks")          # rows passing every filter of the task on Tracks
        pos = self.positive(tracks)              # the partition, within the filtered rows

An expression is built from column references (``aod.<Table>.<column>``, stored or
dynamic), the task's configurables (their configured value), numbers, the operators
``< <= > >= == != & | ~ + - * /`` and ``nabs``. Python's ``and``/``or``/``not`` cannot be
overloaded: write ``&``, ``|``, ``~`` and parenthesise comparisons. Arithmetic needs a
column on one side (``aod.Tracks.pt - ptMin > 1``, not ``ptMin + 1``: a configurable in the
class body is not a number). The columns a filter or
partition reads count as read by the task (column pruning, plan-time name checks).

A filter applies to a view whose tables hold all its columns (``df.filtered("Tracks",
"TracksExtra")`` for a filter on both); it is evaluated once per dataframe and task, on its
own columns only. A process function that takes a table filtered (``filtered=[...]`` in
``@process``, O2's ``soa::Filtered<...>`` argument) is not called on a dataframe in which
no row of that table passes: the dataframe is skipped for it before it computes anything.
Where the filters of a task read only tables of the file, this is known before any task
runs on the dataframe (``plan.dataframe_skips``): the task is not run, and neither is a
producer whose tables only ruled-out tasks read.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperloop.analysis.configurables import Configurable

if TYPE_CHECKING:
    from hyperloop.analysis.frame import Frame, Table

__all__ = ["Expr", "Filter", "FilterError", "Partition", "aod", "nabs"]


class FilterError(ValueError):
    """A filter or partition that cannot be evaluated (a value that is not a column)."""


class Expr:
    """A node of a column expression; operators build new nodes."""

    __hash__ = object.__hash__  # comparisons build expressions, identity is the hash

    def columns(self) -> set[tuple[str, str]]:
        """(table, column) pairs the expression reads."""
        raise NotImplementedError

    def configurables(self) -> set[str]:
        return set()

    def evaluate(self, view: Table, config: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _op(self, op: Callable[[Any, Any], Any], sym: str, other: Any, swap: bool = False) -> Expr:
        other = wrap(other)
        return _Binary(op, sym, other, self) if swap else _Binary(op, sym, self, other)

    def __lt__(self, o: Any) -> Expr:
        return self._op(operator.lt, "<", o)

    def __le__(self, o: Any) -> Expr:
        return self._op(operator.le, "<=", o)

    def __gt__(self, o: Any) -> Expr:
        return self._op(operator.gt, ">", o)

    def __ge__(self, o: Any) -> Expr:
        return self._op(operator.ge, ">=", o)

    def __eq__(self, o: Any) -> Expr:  # type: ignore[override]
        return self._op(operator.eq, "==", o)

    def __ne__(self, o: Any) -> Expr:  # type: ignore[override]
        return self._op(operator.ne, "!=", o)

    def __and__(self, o: Any) -> Expr:
        return self._op(np.logical_and, "&", o)

    def __rand__(self, o: Any) -> Expr:
        return self._op(np.logical_and, "&", o, swap=True)

    def __or__(self, o: Any) -> Expr:
        return self._op(np.logical_or, "|", o)

    def __ror__(self, o: Any) -> Expr:
        return self._op(np.logical_or, "|", o, swap=True)

    def __invert__(self) -> Expr:
        return _Unary(np.logical_not, "~", self)

    def __neg__(self) -> Expr:
        return _Unary(operator.neg, "-", self)

    def __add__(self, o: Any) -> Expr:
        return self._op(operator.add, "+", o)

    def __radd__(self, o: Any) -> Expr:
        return self._op(operator.add, "+", o, swap=True)

    def __sub__(self, o: Any) -> Expr:
        return self._op(operator.sub, "-", o)

    def __rsub__(self, o: Any) -> Expr:
        return self._op(operator.sub, "-", o, swap=True)

    def __mul__(self, o: Any) -> Expr:
        return self._op(operator.mul, "*", o)

    def __rmul__(self, o: Any) -> Expr:
        return self._op(operator.mul, "*", o, swap=True)

    def __truediv__(self, o: Any) -> Expr:
        return self._op(operator.truediv, "/", o)

    def __rtruediv__(self, o: Any) -> Expr:
        return self._op(operator.truediv, "/", o, swap=True)

    def __bool__(self) -> bool:
        raise TypeError(
            f"the expression {self} has no truth value: combine conditions with & | ~ "
            "(not and/or/not) and parenthesise comparisons: (a < 1) & (b > 2)"
        )


class ColumnRef(Expr):
    """``aod.Tracks.pt``: a stored or dynamic column of a table."""

    def __init__(self, table: str, column: str) -> None:
        self.table, self.column = table, column

    def columns(self) -> set[tuple[str, str]]:
        return {(self.table, self.column)}

    def evaluate(self, view: Table, config: dict[str, Any]) -> Any:
        return view[self.column]

    def __repr__(self) -> str:
        return f"aod.{self.table}.{self.column}"


class _ConfigRef(Expr):
    def __init__(self, conf: Configurable) -> None:
        self.conf = conf

    def columns(self) -> set[tuple[str, str]]:
        return set()

    def configurables(self) -> set[str]:
        return {self.conf.name}

    def evaluate(self, view: Table, config: dict[str, Any]) -> Any:
        return config[self.conf.name]

    def __repr__(self) -> str:
        return self.conf.name


class _Const(Expr):
    def __init__(self, value: Any) -> None:
        if not isinstance(value, (bool, int, float, np.number, np.bool_)):
            raise FilterError(
                f"{value!r} ({type(value).__name__}) cannot be part of a filter expression: "
                "use columns (aod.Table.column), configurables and numbers"
            )
        self.value = value

    def columns(self) -> set[tuple[str, str]]:
        return set()

    def evaluate(self, view: Table, config: dict[str, Any]) -> Any:
        return self.value

    def __repr__(self) -> str:
        return repr(self.value)


class _Unary(Expr):
    def __init__(self, func: Callable[[Any], Any], sym: str, arg: Expr) -> None:
        self.func, self.sym, self.arg = func, sym, arg

    def columns(self) -> set[tuple[str, str]]:
        return self.arg.columns()

    def configurables(self) -> set[str]:
        return self.arg.configurables()

    def evaluate(self, view: Table, config: dict[str, Any]) -> Any:
        return self.func(self.arg.evaluate(view, config))

    def __repr__(self) -> str:
        return f"{self.sym}({self.arg})" if self.sym.isalpha() else f"{self.sym}{self.arg}"


class _Binary(Expr):
    def __init__(self, func: Callable[[Any, Any], Any], sym: str, a: Expr, b: Expr) -> None:
        self.func, self.sym, self.a, self.b = func, sym, a, b

    def columns(self) -> set[tuple[str, str]]:
        return self.a.columns() | self.b.columns()

    def configurables(self) -> set[str]:
        return self.a.configurables() | self.b.configurables()

    def evaluate(self, view: Table, config: dict[str, Any]) -> Any:
        return self.func(self.a.evaluate(view, config), self.b.evaluate(view, config))

    def __repr__(self) -> str:
        return f"({self.a} {self.sym} {self.b})"


def wrap(value: Any) -> Expr:
    """An expression node for a value: itself, a configurable's value, or a number."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, Configurable):
        return _ConfigRef(value)
    return _Const(value)


def nabs(value: Any) -> Expr:
    """|x| of a column expression (O2's ``nabs``)."""
    return _Unary(np.abs, "nabs", wrap(value))


class _TableRefs:
    def __init__(self, table: str) -> None:
        self._table = table

    def __getattr__(self, column: str) -> ColumnRef:
        if column.startswith("__"):
            raise AttributeError(column)
        return ColumnRef(self._table, column)


class _Aod:
    """``aod.<Table>.<column>``: column references for filters (O2's ``aod::track::pt``)."""

    def __getattr__(self, table: str) -> _TableRefs:
        if table.startswith("__"):
            raise AttributeError(table)
        return _TableRefs(table)


aod = _Aod()


class _Selection:
    """What Filter and Partition share: an expression over the columns of some tables."""

    kind = "selection"

    def __init__(self, expr: Expr) -> None:
        if not isinstance(expr, Expr) or not expr.columns():
            raise FilterError(
                f"a {self.kind} needs an expression over columns (aod.Table.column), got {expr!r}"
            )
        self.expr = expr
        self.name = "?"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def tables(self) -> list[str]:
        """The tables whose columns the expression reads, in first-use order."""
        return list(dict.fromkeys(t for t, _ in sorted(self.expr.columns())))

    def reads(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for table, column in self.expr.columns():
            out.setdefault(table, set()).add(column)
        return out

    def applies_to(self, view: Table) -> bool:
        """Whether ``view`` (a table and the tables joined to it) holds the columns."""
        registry = view.frame.registry
        have = {s.logical for s in view._schemas()}
        return all(registry.get(t).logical in have for t in self.tables)

    def mask(self, view: Table, config: dict[str, Any]) -> np.ndarray:
        values = np.asarray(self.expr.evaluate(view, config))
        if values.dtype != bool or values.shape != (len(view),):
            raise FilterError(
                f"{self.kind} {self.name} ({self.expr}) must give one bool per row of "
                f"{view.name} ({len(view)}), got {values.dtype} {values.shape}: compare "
                "columns (<, >, ==...) and combine with & | ~"
            )
        return values

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}: {self.expr})"


class Filter(_Selection):
    """O2's ``Filter``: rows of a table a task's ``df.filtered(...)`` keeps."""

    kind = "filter"


class Partition(_Selection):
    """O2's ``Partition<T>``: a named subset of a table's rows. Read on the task
    (``self.positive(view)``) it selects the rows of ``view`` (a table view, e.g. the
    filtered tracks, or the dataframe: the whole table) that pass."""

    kind = "partition"

    def __get__(self, task: Any, owner: type | None = None) -> Any:
        if task is None:
            return self
        return _BoundPartition(self, task)


class _BoundPartition:
    def __init__(self, partition: Partition, task: Any) -> None:
        self.partition, self.task = partition, task

    def __call__(self, view: Table | Frame) -> Table:
        from hyperloop.analysis.frame import Frame

        part = self.partition
        if isinstance(view, Frame):
            first, *rest = part.tables
            view = view.table(first).join(*rest) if rest else view.table(first)
        if not part.applies_to(view):
            raise FilterError(
                f"task {self.task.instance_name}: partition {part.name} reads "
                f"{', '.join(part.tables)}, which the view {view.name} does not hold "
                f"(join {' + '.join(part.tables)})"
            )
        return view.select(part.mask(view, self.task.config))

    def __repr__(self) -> str:
        return f"<partition {self.partition.name} of {self.task.instance_name}>"


class BoundFilters:
    """The filters of one task with its configuration, applied to one frame's views (the
    masks cached per frame: each filter is evaluated once per dataframe)."""

    def __init__(self, filters: list[Filter], config: dict[str, Any], owner: str) -> None:
        self.filters, self.config, self.owner = filters, config, owner
        self._masks: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}

    def apply(self, view: Table) -> Table:
        if view.is_selection:
            raise FilterError(
                f"task {self.owner}: df.filtered() filters whole tables; select rows after"
            )
        key_tables = tuple(s.logical for s in view._schemas())
        keep: np.ndarray | None = None
        for f in self.filters:
            if not f.applies_to(view):
                continue
            key = (f.name, key_tables)
            mask = self._masks.get(key)
            if mask is None:
                mask = self._masks[key] = f.mask(view, self.config)
            keep = mask if keep is None else keep & mask
        return view if keep is None else view.select(keep)
