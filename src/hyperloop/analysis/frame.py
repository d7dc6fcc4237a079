"""One dataframe as tables for tasks: the API analysis tasks program against.

A ``Frame`` holds the columns read (pruned) from one ``DF_<n>`` of an AO2D file, plus the
tables tasks produced. ``Table`` views give stored and dynamic columns (dynamic ones computed
once per frame and shared by all tasks), row-aligned joins, row selections that remember the
original row numbers, and groupings through index columns (tracks per collision) as
counts/offsets/jagged arrays and vectorised within-group combinations.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import awkward as ak
import numpy as np

from hyperloop.analysis.ao2d import AO2DError, CorruptFileError, MissingTableError
from hyperloop.analysis.schema import SchemaError, SchemaRegistry, TableSchema

if TYPE_CHECKING:
    from hyperloop.analysis.ao2d import AO2DFile

__all__ = [
    "ColumnNotDeclaredError",
    "ColumnTypeError",
    "Frame",
    "FrameStats",
    "Grouping",
    "JoinError",
    "ProduceError",
    "Table",
    "reindex",
]


class ColumnNotDeclaredError(LookupError):
    """A task reads a column it did not declare (or that was not read from the file)."""

    def __init__(self, task: str | None, table: str, column: str, detail: str = "") -> None:
        who = f"task {task}" if task else "the current task"
        super().__init__(
            f"{who} reads column {column!r} of table {table} without declaring it{detail}; "
            f"declare it in the task's @process(...) inputs, e.g. {table}=[{column!r}]"
        )
        self.task = task
        self.table = table
        self.column = column


class ColumnTypeError(AO2DError):
    """A stored column's dtype cannot be converted to the dtype the schema declares."""


class JoinError(ValueError):
    """Tables joined row by row have different numbers of rows."""


class ProduceError(ValueError):
    """A task produced a table that does not fit its schema or its parent table."""


@dataclass
class FrameStats:
    """What the frame computed: dynamic columns are computed once and then reused."""

    dynamic_computed: int = 0
    dynamic_reused: int = 0
    computed: list[tuple[str, str]] = field(default_factory=list)
    #: (task, process function, table) skipped because no row of the table passed its filters
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


def _frozen(values: np.ndarray) -> np.ndarray:
    """A read-only view: columns are shared by all tasks, so none may modify them in place."""
    values = np.asarray(values)
    if not values.flags.writeable:
        return values
    view = values.view()
    view.flags.writeable = False
    return view


def _as_index(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def reindex(index: np.ndarray, kept_rows: np.ndarray, parent_size: int) -> np.ndarray:
    """Rewrite an index column after its target table kept only ``kept_rows`` (in order):
    old target row -> new row number, -1 where the target row was dropped (or was -1)."""
    mapping = np.full(parent_size + 1, -1, dtype=np.int64)  # last slot maps -1 to -1
    mapping[np.asarray(kept_rows, dtype=np.int64)] = np.arange(len(kept_rows), dtype=np.int64)
    idx = np.asarray(index, dtype=np.int64)
    return mapping[np.where(idx < 0, parent_size, idx)].astype(np.int32)


class Frame:
    """The tables of one dataframe: pruned stored columns, produced tables, dynamic cache."""

    def __init__(
        self,
        name: str,
        file: str,
        registry: SchemaRegistry,
        sizes: Mapping[str, int],
        columns: Mapping[tuple[str, str], np.ndarray],
        *,
        declared: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """``sizes``: table -> rows; ``columns``: (table, column) -> values, pruned to what
        the train needs. Dynamic columns given here (computed upstream, e.g. by the reader
        device) are used as they are, not recomputed."""
        self.name = name
        self.file = file
        self.registry = registry
        self.sizes: dict[str, int] = {}
        for table, size in sizes.items():
            self.sizes[registry.get(table).logical] = int(size)
        self._columns: dict[tuple[str, str], np.ndarray] = {}
        self._dynamic: dict[tuple[str, str], np.ndarray] = {}
        schemas: dict[str, TableSchema] = {}
        for (table, column), values in columns.items():
            schema = schemas.get(table)
            if schema is None:
                schema = schemas[table] = registry.get(table)
            logical = schema.logical
            if logical not in self.sizes:
                raise ValueError(f"{name}: column {column} given for {logical} without its size")
            if len(values) != self.sizes[logical]:
                raise ValueError(
                    f"{name}: column {logical}.{column} has {len(values)} rows, "
                    f"the table has {self.sizes[logical]}"
                )
            if column in schema.dynamic and column not in schema.columns:
                self._dynamic[(logical, column)] = _frozen(values)  # computed upstream
            else:
                self._columns[(logical, column)] = _frozen(values)
        self.producers: dict[str, str | None] = {}
        self.current_task: str | None = None
        self.stats = FrameStats()
        self.declared = declared  # type: ignore[assignment]
        self.filters = None  # the current task's filters (set by Task.run_dataframe)
        self.bound_filters: dict[str, Any] = {}  # task -> its filters on this dataframe

    # -- file metadata ---------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, str]:
        """The ``metaData`` of the file this dataframe comes from (``DataType``: ``RAW`` or
        ``MC``, ``Run``: ``3``, ``RecoPassName``, ``AnchorProduction``, ...; empty if the
        file has none), read once per file and process."""
        return dict(file_metadata(self.file))

    @property
    def is_mc(self) -> bool:
        """Whether the file says it holds simulated data (``metaData`` ``DataType`` MC)."""
        return self.metadata.get("DataType", "").upper() == "MC"

    # -- declared columns ------------------------------------------------------------------
    @property
    def declared(self) -> dict[str, set[str]] | None:
        """Logical table -> column names the current task may read (None: no check)."""
        return self._declared

    @declared.setter
    def declared(self, value: Mapping[str, Iterable[str]] | None) -> None:
        if value is None:
            self._declared = None
            return
        out: dict[str, set[str]] = {}
        for table, cols in value.items():
            out.setdefault(self.registry.get(table).logical, set()).update(cols)
        self._declared = out

    def _check_declared(self, logical: str, column: str) -> None:
        declared = self._declared
        if declared is None or column in declared.get(logical, ()):
            return
        if logical in self.producers and self.producers[logical] == self.current_task:
            return  # a task may read back what it produced
        have = sorted(declared.get(logical, ()))
        detail = f" (declared for {logical}: {', '.join(have)})" if have else ""
        raise ColumnNotDeclaredError(self.current_task, logical, column, detail)

    # -- tables ---------------------------------------------------------------------------
    def _schema(self, name: str) -> TableSchema:
        schema = self.registry.get(name)
        if schema.logical not in self.sizes:
            present = [f"{self.registry.get(t).o2name} ({t})" for t in self.sizes]
            raise MissingTableError(
                self.file,
                self.name,
                f"{schema.o2name} ({schema.logical})",
                present,
                task=self.current_task or "",
            )
        return schema

    def has_table(self, name: str) -> bool:
        return name in self.registry and self.registry.get(name).logical in self.sizes

    def table(self, name: str) -> Table:
        """A table by logical (``UDTracks``) or O2 (``O2udtrack``) name."""
        return Table(self, self._schema(name))

    def filtered(self, name: str, *joined: str) -> Table:
        """The rows of a table (joined with ``joined``) that pass every filter of the
        current task reading those tables (O2's ``soa::Filtered<soa::Join<...>>``); each
        filter is evaluated once per dataframe. Without filters: the whole table."""
        view = self.table(name).join(*joined) if joined else self.table(name)
        return view if self.filters is None else self.filters.apply(view)

    def tables(self) -> list[str]:
        """Logical names of the tables present (read or produced)."""
        return list(self.sizes)

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """The stored columns held for a table (all of them for produced tables)."""
        logical = self._schema(name).logical
        return {c: v for (t, c), v in self._columns.items() if t == logical}

    def dynamic_columns(self) -> dict[tuple[str, str], np.ndarray]:
        """The dynamic columns computed (or given) so far, to share with other processes."""
        return dict(self._dynamic)

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in self._columns.values()) + sum(
            v.nbytes for v in self._dynamic.values()
        )

    # -- column access --------------------------------------------------------------------
    def _value(self, schema: TableSchema, column: str, *, check: bool = True) -> np.ndarray:
        """Full-length values of a stored or dynamic column (dynamic ones cached)."""
        logical = schema.logical
        if check:
            self._check_declared(logical, column)
        key = (logical, column)
        if column in schema.columns:
            values = self._columns.get(key)
            if values is None:
                raise ColumnNotDeclaredError(
                    self.current_task,
                    logical,
                    column,
                    f": it was not read from {self.file} ({self.name}) because no task declared it",
                )
            return values
        cached = self._dynamic.get(key)
        if cached is not None:
            self.stats.dynamic_reused += 1
            return cached
        dyn = schema.dynamic.get(column)
        if dyn is None:
            raise SchemaError(
                f"table {logical} has no column {column!r}; "
                f"known: {', '.join([*schema.columns, *schema.dynamic])}"
            )
        inputs = [self._value(schema, dep, check=False) for dep in dyn.inputs]
        values = np.asarray(dyn.func(*inputs))
        if values.shape != (self.sizes[logical],):
            raise ValueError(
                f"dynamic column {logical}.{column} gave shape {values.shape}, "
                f"expected ({self.sizes[logical]},)"
            )
        values = _frozen(values)
        self._dynamic[key] = values
        self.stats.dynamic_computed += 1
        self.stats.computed.append(key)
        return values

    # -- produced tables ------------------------------------------------------------------
    def produce(self, schema_or_name: TableSchema | str, /, **columns: np.ndarray) -> Table:
        """Add a table a task produced; checks its columns, dtypes, length and indices."""
        if isinstance(schema_or_name, TableSchema):
            schema = self.registry.register(schema_or_name)
        else:
            schema = self.registry.get(schema_or_name)
        logical = schema.logical
        who = f"task {self.current_task}" if self.current_task else "a task"
        where = f"{who} producing {logical} in {self.name}"
        if logical in self.sizes:
            origin = (
                f"produced by task {self.producers[logical]}"
                if logical in self.producers
                else f"read from {self.file}"
            )
            raise ProduceError(f"{where}: the table already exists ({origin})")
        unknown = sorted(set(columns) - set(schema.columns))
        missing = [c for c in schema.columns if c not in columns]
        if unknown or missing:
            raise ProduceError(
                f"{where}: columns must be exactly the schema's stored columns "
                f"({', '.join(schema.columns)}); missing: {', '.join(missing) or '-'}, "
                f"unknown: {', '.join(unknown) or '-'}"
            )
        arrays: dict[str, np.ndarray] = {}
        for col, values in columns.items():
            arr = np.asarray(values)
            target = schema.dtype(col)
            if arr.ndim != 1 + len(target.shape) or arr.shape[1:] != target.shape:
                want = f"(n, {', '.join(map(str, target.shape))})" if target.shape else "1-D"
                raise ProduceError(f"{where}: column {col} must be {want}, got shape {arr.shape}")
            if not np.can_cast(arr.dtype, target.base, casting="same_kind"):
                raise ProduceError(
                    f"{where}: column {col} has dtype {arr.dtype}, schema says {target}"
                )
            arrays[col] = np.ascontiguousarray(arr.astype(target.base, copy=False))
        lengths = {c: len(a) for c, a in arrays.items()}
        if len(set(lengths.values())) > 1:
            raise ProduceError(f"{where}: columns have different lengths {lengths}")
        size = next(iter(lengths.values()), 0)
        if schema.extends is not None:
            parent = self.registry.get(schema.extends).logical
            if parent not in self.sizes:
                raise ProduceError(f"{where}: it extends {parent}, which is not in this dataframe")
            if self.sizes[parent] != size:
                raise ProduceError(
                    f"{where}: it extends {parent} row by row, so it needs "
                    f"{self.sizes[parent]} rows, got {size}"
                )
        for col, target in schema.index_columns.items():
            target_logical = (
                self.registry.get(target).logical if target in self.registry else target
            )
            n_target = self.sizes.get(target_logical)
            if n_target is None or size == 0:
                continue
            idx = arrays[col]
            lo, hi = int(idx.min()), int(idx.max())
            if lo < -1 or hi >= n_target:
                raise ProduceError(
                    f"{where}: index column {col} has values in [{lo}, {hi}] but {target_logical} "
                    f"has {n_target} rows (valid: -1 .. {n_target - 1})"
                )
        self.sizes[logical] = size
        for col, arr in arrays.items():
            self._columns[(logical, col)] = _frozen(arr)
        self.producers[logical] = self.current_task
        return Table(self, schema)

    # -- construction from a file ----------------------------------------------------------
    @classmethod
    def from_file(
        cls,
        ao2d_file: AO2DFile,
        df: str,
        registry: SchemaRegistry,
        needed: Mapping[str, Iterable[str]],
    ) -> Frame:
        """Read exactly the stored columns that ``needed`` (table -> columns, dynamic ones
        allowed) resolves to; every table of the dataframe known to the registry gets its size."""
        trees = ao2d_file.trees(df)
        sizes = {}
        for o2name, n in trees.items():
            schema = registry.by_o2name(o2name)
            if schema is not None:
                sizes[schema.logical] = n
        columns: dict[tuple[str, str], np.ndarray] = {}
        for name, cols in needed.items():
            schema = registry.get(name)
            stored = schema.stored_inputs(cols)
            # the current version's tree, or an older version's whose columns suffice
            o2name = ao2d_file.bind(df, schema, stored)
            sizes[schema.logical] = trees[o2name]
            if not stored:
                continue
            for col, values in ao2d_file.read(df, o2name, stored).items():
                columns[(schema.logical, col)] = _conform(ao2d_file.path, df, schema, col, values)
        return cls(df, ao2d_file.path, registry, sizes, columns)

    def __repr__(self) -> str:
        tables = ", ".join(f"{t}[{n}]" for t, n in self.sizes.items())
        return f"<Frame {self.name} of {self.file}: {tables}>"


_METADATA: dict[str, dict[str, str]] = {}


def file_metadata(path: str) -> dict[str, str]:
    """The ``metaData`` TMap of an AO2D file (empty: none, or no file), cached per path."""
    cached = _METADATA.get(path)
    if cached is None:
        from hyperloop.analysis.ao2d import open_ao2d

        cached = {}
        if path and os.path.exists(path.removeprefix("file://")) or "://" in path:
            try:
                with open_ao2d(path) as f:
                    cached = f.metadata() or {}
            except AO2DError:
                cached = {}
        if len(_METADATA) > 1024:
            _METADATA.clear()
        _METADATA[path] = cached
    return cached


def _conform(file: str, df: str, schema: TableSchema, column: str, values: np.ndarray):
    """Check a stored column against the schema (dtype, fixed inner shape) and convert it."""
    target = schema.dtype(column)
    base, shape = target.base, target.shape
    if schema.is_vector(column) and values.dtype == object:
        return values
    if values.dtype == base and values.shape[1:] == shape:
        return values
    if values.shape[1:] != shape or not np.can_cast(values.dtype, base, casting="same_kind"):
        found = f"{values.dtype}{list(values.shape[1:]) if values.ndim > 1 else ''}"
        raise ColumnTypeError(
            file,
            f"column {column} of {schema.o2name} in {df} has dtype {found}, "
            f"the schema of {schema.logical} expects {target}",
        )
    return values.astype(base)


# ---------------------------------------------------------------------------------------


class Table:
    """A view of one table (optionally joined with row-aligned tables, optionally a row
    selection) in a frame. ``t[col]`` gives stored or dynamic columns as numpy arrays."""

    def __init__(
        self,
        frame: Frame,
        schema: TableSchema,
        *,
        rows: np.ndarray | None = None,
        joined: tuple[TableSchema, ...] = (),
    ) -> None:
        self.frame = frame
        self.schema = schema
        self._rows = rows
        self._joined = joined
        self._cache: dict[str, np.ndarray] = {}

    @property
    def name(self) -> str:
        return self.schema.logical

    @property
    def base_size(self) -> int:
        """Rows of the underlying (unselected) table."""
        return self.frame.sizes[self.schema.logical]

    def __len__(self) -> int:
        return self.base_size if self._rows is None else len(self._rows)

    @property
    def rows(self) -> np.ndarray:
        """Original row number (in the stored table) of each row of this view."""
        return np.arange(self.base_size) if self._rows is None else self._rows

    @property
    def is_selection(self) -> bool:
        return self._rows is not None

    @property
    def joined(self) -> list[str]:
        return [s.logical for s in self._joined]

    def _schemas(self) -> tuple[TableSchema, ...]:
        return (self.schema, *self._joined)

    @property
    def columns(self) -> list[str]:
        """Stored and dynamic columns of this table and the joined ones."""
        out: dict[str, None] = {}
        for s in self._schemas():
            out.update(dict.fromkeys([*s.columns, *s.dynamic]))
        return list(out)

    def __contains__(self, column: str) -> bool:
        return any(s.has_column(column) for s in self._schemas())

    def _owner(self, column: str) -> TableSchema:
        for s in self._schemas():
            if s.has_column(column):
                return s
        names = " + ".join(s.logical for s in self._schemas())
        raise SchemaError(
            f"table {names} has no column {column!r}; known: {', '.join(self.columns)}"
        )

    def __getitem__(self, column: str) -> np.ndarray:
        cached = self._cache.get(column)
        if cached is not None:
            return cached
        values = self.frame._value(self._owner(column), column)
        if self._rows is not None:
            values = values[self._rows]
            self._cache[column] = values
        return values

    def arrays(self, *columns: str) -> dict[str, np.ndarray]:
        return {c: self[c] for c in columns}

    # -- views ----------------------------------------------------------------------------
    def join(self, *others: str | Table) -> Table:
        """Row-aligned join (``TracksExtra`` on ``Tracks``): columns of all, same rows."""
        joined = list(self._joined)
        for other in others:
            if isinstance(other, Table):
                if other.frame is not self.frame:
                    raise JoinError(f"cannot join {other.name} of another frame onto {self.name}")
                if other.is_selection:
                    raise JoinError(
                        f"join the full table {other.name} onto {self.name}, then select rows"
                    )
                extra = other._schemas()
            else:
                extra = (self.frame._schema(other),)
            for schema in extra:
                n = self.frame.sizes[schema.logical]
                if n != self.base_size:
                    raise JoinError(
                        f"{self.frame.name} of {self.frame.file}: cannot join {schema.logical} "
                        f"({n} rows) onto {self.name} ({self.base_size} rows); joined tables "
                        "must be row-aligned"
                    )
                if schema.logical != self.schema.logical and schema not in joined:
                    joined.append(schema)
        return Table(self.frame, self.schema, rows=self._rows, joined=tuple(joined))

    def select(self, mask_or_indices: np.ndarray) -> Table:
        """A view of a subset of rows: a boolean mask or row numbers of this view."""
        sel = np.asarray(mask_or_indices)
        if sel.dtype == bool:
            if sel.shape != (len(self),):
                raise ValueError(
                    f"selection mask on {self.name} has shape {sel.shape}, expected ({len(self)},)"
                )
            local = np.flatnonzero(sel)
        elif sel.size == 0 or np.issubdtype(sel.dtype, np.integer):
            local = sel.astype(np.int64, copy=False).ravel()
            if local.size and (local.min() < 0 or local.max() >= len(self)):
                raise IndexError(
                    f"select() on {self.name}: row numbers must be in 0 .. {len(self) - 1}, "
                    f"got {local.min()} .. {local.max()}"
                )
        else:
            raise TypeError(f"select() takes a boolean mask or integer rows, got {sel.dtype}")
        rows = local if self._rows is None else self._rows[local]
        return Table(self.frame, self.schema, rows=rows, joined=self._joined)

    def _index_column(self, target_name: str, column: str | None) -> tuple[TableSchema, str]:
        """The index column of this view (or a joined table) pointing to ``target_name``."""
        target = self.frame.registry.get(target_name).logical
        candidates = [
            (s, c)
            for s in self._schemas()
            for c, t in s.index_columns.items()
            if self.frame.registry.get(t).logical == target
        ]
        if column is not None:
            candidates = [(s, c) for s, c in candidates if c == column]
        if not candidates:
            raise SchemaError(
                f"table {self.name} has no index column pointing to {target}"
                + (f" named {column!r}" if column else "")
                + (
                    f" (join the table that has one, e.g. {self.name} + McTrackLabels)"
                    if not self._joined
                    else ""
                )
            )
        if len(candidates) > 1:
            names = ", ".join(c for _, c in candidates)
            raise SchemaError(
                f"table {self.name} has several index columns to {target} ({names}); "
                "pass column=..."
            )
        return candidates[0]

    def index(self, target: str, *, column: str | None = None) -> np.ndarray:
        """Row number in ``target`` that each row of this view points to, -1 where none
        (O2's ``track.collisionId()``). A vector index column (``fIndexArray_Mothers``) gives
        its first entry (O2's ``mothers_first_as``)."""
        schema, index_column = self._index_column(target, column)
        target = self.frame.registry.get(target).logical
        n_target = self.frame.sizes.get(target)
        if n_target is None:
            self.frame._schema(target)  # raises MissingTableError
        values = self[index_column]
        if schema.is_vector(index_column):
            values = np.fromiter(
                (int(v[0]) if len(v) else -1 for v in values), dtype=np.int64, count=len(values)
            )
        elif values.ndim > 1:  # a slice column (first, last): its first row
            values = values[:, 0]
        idx = _as_index(values)
        if idx.size and idx.max() >= n_target:
            raise CorruptFileError(
                self.frame.file,
                f"dataframe {self.frame.name}: index column {index_column} of {self.name} "
                f"has values up to {idx.max()} but {target} has {n_target} rows",
            )
        return idx

    def has(self, target: str, *, column: str | None = None) -> np.ndarray:
        """Whether each row points to a ``target`` row (O2's ``track.has_collision()``)."""
        return self.index(target, column=column) >= 0

    def follow(self, target: str, *, column: str | None = None) -> Table:
        """The ``target`` row each row of this view points to, as a view aligned with this
        one (O2's ``track.collision()``, for all rows at once): ``tracks.follow("Collisions")
        ["fPosZ"]`` is the vertex z of each track's collision. Rows that point nowhere (-1)
        are refused: select ``view.has(target)`` first."""
        idx = self.index(target, column=column)
        missing = int((idx < 0).sum())
        if missing:
            raise IndexError(
                f"{missing} of {len(idx)} rows of {self.name} point to no {target} row (-1); "
                f"select them first: view.select(view.has({target!r}))"
            )
        return self.frame.table(target).select(idx)

    def grouped_by(self, parent: str | Table, *, column: str | None = None) -> Grouping:
        """Group this view's rows by the parent row their index column points to."""
        parent_name = parent.name if isinstance(parent, Table) else parent
        target = self.frame.registry.get(parent_name).logical
        _, index_column = self._index_column(target, column)
        n_parent = self.frame.sizes.get(target)
        if n_parent is None:
            self.frame._schema(target)  # raises MissingTableError
        idx = _as_index(self[index_column])
        if idx.size and idx.max() >= n_parent:
            raise CorruptFileError(
                self.frame.file,
                f"dataframe {self.frame.name}: index column {index_column} of {self.name} "
                f"has values up to {idx.max()} but {target} has {n_parent} rows",
            )
        if isinstance(parent, Table) and parent.is_selection:
            mapping = np.full(n_parent + 1, -1, dtype=np.int64)
            mapping[parent.rows] = np.arange(len(parent))
            idx = mapping[np.where(idx < 0, n_parent, idx)]
            n_parent = len(parent)
        return Grouping(self, target, idx, n_parent, index_column)

    def __repr__(self) -> str:
        name = " + ".join(s.logical for s in self._schemas())
        sel = f", selection of {self.base_size}" if self.is_selection else ""
        return f"<Table {name} [{len(self)} rows{sel}] in {self.frame.name}>"


class Grouping:
    """The rows of a table view per row of a parent table (e.g. tracks per collision).

    Rows whose index is -1 (unassigned) belong to no group. ``order`` lists the view's rows
    sorted by parent (stable), or is None when the view is already sorted with no -1 rows.
    """

    def __init__(
        self, table: Table, parent: str, parent_index: np.ndarray, n_parent: int, column: str
    ) -> None:
        self.table = table
        self.parent = parent
        self.column = column
        self.parent_index = parent_index
        valid = parent_index >= 0
        self.counts = np.bincount(parent_index[valid], minlength=n_parent).astype(np.int64)
        self.offsets = np.zeros(n_parent + 1, dtype=np.int64)
        np.cumsum(self.counts, out=self.offsets[1:])
        all_valid = bool(valid.all())
        if all_valid and bool(np.all(parent_index[1:] >= parent_index[:-1])):
            self.order: np.ndarray | None = None
        else:
            kept = np.flatnonzero(valid) if not all_valid else np.arange(len(parent_index))
            self.order = kept[np.argsort(parent_index[kept], kind="stable")]

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def sorted_rows(self) -> np.ndarray:
        """Rows of the view in group order (only rows that belong to a group)."""
        return np.arange(len(self.parent_index)) if self.order is None else self.order

    def indices(self) -> ak.Array:
        """Row numbers (of the view) per group, as a jagged array."""
        return ak.unflatten(self.sorted_rows, self.counts)

    def jagged(self, column: str) -> ak.Array:
        """A column of the view per group: ``ak.unflatten`` of the sorted values by counts."""
        values = self.table[column]
        if self.order is not None:
            values = values[self.order]
        return ak.unflatten(values, self.counts)

    def slice(self, parent_row: int) -> Table:
        """The rows of one parent row as a view (O2's ``tracks.sliceBy(perCollision, i)``),
        for the rare loop over parents; prefer ``counts``, ``sum``, ``per_row``, ``pairs``."""
        if not 0 <= parent_row < len(self.counts):
            raise IndexError(f"{self.parent} row {parent_row} out of range 0..{len(self) - 1}")
        rows = self.sorted_rows[self.offsets[parent_row] : self.offsets[parent_row + 1]]
        return self.table.select(rows)

    def sum(self, column: str | np.ndarray) -> np.ndarray:
        """Per-group sum (one value per parent row) of a column of the view, or of an array
        aligned with the view's rows: O2's loop over a ``SliceBy`` slice, summed."""
        values = self.table[column] if isinstance(column, str) else np.asarray(column)
        if len(values) != len(self.parent_index):
            raise ValueError(
                f"sum over {self.table.name} per {self.parent}: {len(values)} values for "
                f"{len(self.parent_index)} rows"
            )
        valid = self.parent_index >= 0
        return np.bincount(
            self.parent_index[valid], weights=values[valid], minlength=len(self.counts)
        )

    def per_row(self, per_group: np.ndarray, fill: float = -1) -> np.ndarray:
        """A per-parent-row array (``counts``, a ``sum``, a column of the parent) for each row
        of the view: every track gets its collision's value (``fill`` where unassigned)."""
        per_group = np.asarray(per_group)
        if len(per_group) != len(self.counts):
            raise ValueError(
                f"per_row needs one value per {self.parent} row ({len(self.counts)}), "
                f"got {len(per_group)}"
            )
        idx = self.parent_index
        out = (
            per_group[np.where(idx < 0, 0, idx)]
            if len(per_group)
            else np.zeros(len(idx), dtype=per_group.dtype)
        )
        if (idx < 0).any():
            out = out.astype(np.result_type(out.dtype, type(fill)), copy=True)
            out[idx < 0] = fill
        return out

    def _group_of_sorted(self) -> np.ndarray:
        """Parent row of each entry of ``sorted_rows``."""
        return np.repeat(np.arange(len(self.counts)), self.counts)

    def combinations(self, n: int = 2, *, return_group: bool = False) -> tuple[np.ndarray, ...]:
        """Row numbers of all unordered n-tuples of distinct rows within each group
        (i < j in group order); with ``return_group`` the parent row of each tuple is last."""
        if n < 2:
            raise ValueError(f"combinations need n >= 2, got {n}")
        if n == 2:
            return self._pairs_within(return_group)
        combos = ak.combinations(self.indices(), n)
        out = tuple(ak.to_numpy(ak.flatten(combos[str(k)])).astype(np.int64) for k in range(n))
        if return_group:
            out = (*out, np.repeat(np.arange(len(self.counts)), ak.to_numpy(ak.num(combos))))
        return out

    def _pairs_within(self, return_group: bool) -> tuple[np.ndarray, ...]:
        # In group order each entry pairs with the entries after it in its group: entry e of
        # a group starting at s with c rows has c - 1 - (e - s) partners, e + 1, e + 2, ...
        group = self._group_of_sorted()
        entry = np.arange(len(group), dtype=np.int64)
        partners = self.offsets[1:][group] - entry - 1
        starts = np.cumsum(partners) - partners
        first = np.repeat(entry, partners)
        # second = first + 1 + (position within the entry's run); built in place (big arrays)
        second = np.arange(len(first), dtype=np.int64)
        second += np.repeat(entry + 1 - starts, partners)
        if self.order is not None:
            first, second = self.order[first], self.order[second]
        out: tuple[np.ndarray, ...] = (first, second)
        if return_group:
            out = (*out, np.repeat(group, partners))
        return out

    def pairs(
        self, other: Grouping | None = None, *, return_group: bool = False
    ) -> tuple[np.ndarray, ...]:
        """Pairs within each group: unordered pairs of this grouping (``other`` None), or
        every (row of this, row of ``other``) in the same parent row (trigger x associated)."""
        if other is None:
            return self._pairs_within(return_group)
        if other.parent != self.parent or len(other) != len(self):
            raise ValueError(
                f"pairs of groupings need the same parent: {self.parent}[{len(self)}] vs "
                f"{other.parent}[{len(other)}]"
            )
        group = self._group_of_sorted()
        partners = other.counts[group]  # every row of the same parent in ``other``
        entry = np.arange(len(group), dtype=np.int64)
        starts = np.cumsum(partners) - partners
        first = np.repeat(entry, partners)
        second = np.arange(len(first), dtype=np.int64)
        second += np.repeat(other.offsets[:-1][group] - starts, partners)
        if self.order is not None:
            first = self.order[first]
        if other.order is not None:
            second = other.order[second]
        out: tuple[np.ndarray, ...] = (first, second)
        if return_group:
            out = (*out, np.repeat(group, partners))
        return out

    def __repr__(self) -> str:
        return (
            f"<Grouping of {self.table.name} by {self.parent} via {self.column}: "
            f"{len(self)} groups, {int(self.counts.sum())} rows>"
        )
