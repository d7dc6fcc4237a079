"""What every execution strategy of a train shares: the dataframe source, the derived-data
writer, the run's records and outputs, and the helpers of processes that run tasks.

The runner (:mod:`hyperloop.analysis.runner`) chooses a strategy and hands it the plan;
the strategies are in-process (the runner's own), devices as processes
(:mod:`hyperloop.analysis.devices`) and whole-train workers over dataframes
(:mod:`hyperloop.analysis.dataparallel`). They import this module and never each other
or the runner. A strategy is any callable of the :class:`Strategy` shape.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hyperloop.analysis.ao2d import (
    MissingTableError,
    open_ao2d,
    write_metadata,
    write_parent_files,
)
from hyperloop.analysis.ao2d_writer import AO2DWriter
from hyperloop.analysis.frame import Frame, file_metadata
from hyperloop.analysis.metrics import (
    DeviceMetrics,
    Timer,
)
from hyperloop.analysis.plan import Plan

log = logging.getLogger("hyperloop.run")


class TaskFailure(RuntimeError):
    """A task raised while processing a dataframe."""

    def __init__(self, task: str, file: str, df: str, exc: BaseException, tb: str) -> None:
        self.task, self.file, self.df, self.tb = task, file, df, tb
        self.exc_type = type(exc).__name__
        super().__init__(f"task {task} failed on {file} {df}: {self.exc_type}: {exc}")


@dataclass
class FileRecord:
    """What happened to one input file."""

    file: str
    ok: bool = True
    error_type: str = ""
    message: str = ""
    duration: float = 0.0
    dataframes: int = 0
    dataframes_total: int = 0
    rows: int = 0


@dataclass
class RunResult:
    files: list[FileRecord]
    outputs: dict[str, str]
    devices: list[DeviceMetrics]
    wall: float
    task_failure: dict[str, str] | None = None
    # filled in by run_train
    out_dir: str = ""
    defaults_filled: dict[str, list[str]] = field(default_factory=dict)
    start_time: float = 0.0
    job_id: str = ""

    @property
    def failed_files(self) -> list[FileRecord]:
        return [f for f in self.files if not f.ok]

    @property
    def exit_code(self) -> int:
        if self.task_failure is not None:
            return 3
        return 1 if self.failed_files else 0


def mark_task_failure(files: list[FileRecord], failure: dict[str, str] | None) -> None:
    """After a task failed, no file the run did not finish may pass for analysed: the file
    it failed on says which task failed and why, files left unfinished say the run stopped."""
    if failure is None:
        return
    task, error = failure.get("task", "?"), failure.get("error", "")
    for rec in files:
        if rec.file and rec.file == failure.get("file"):
            if rec.ok or not rec.message:
                rec.ok, rec.error_type = False, "TaskFailure"
                rec.message = (
                    f"task {task} failed on {failure.get('dataframe') or 'a dataframe'}: {error}"
                )
        elif rec.ok and (rec.dataframes < rec.dataframes_total or not rec.dataframes_total):
            rec.ok, rec.error_type = False, "NotProcessed"
            rec.message = (
                f"{rec.dataframes} of {rec.dataframes_total} dataframes processed: the run "
                f"stopped when task {task} failed"
            )


def required_tables(plan: Plan) -> dict[str, set[str]]:
    """Logical file table -> stored columns, including parent tables of row-aligned joins
    (read for their row count)."""
    tables = {t: set(c) for t, c in plan.file_columns.items()}
    for logical in list(plan.file_columns):
        table = plan.registry.get(logical)
        while table.extends and table.extends not in plan.produced:
            table = plan.registry.get(table.extends)
            if not table.stored:  # e.g. Tracks for TracksExtra: Run 3 files do not hold it
                break
            tables.setdefault(table.logical, set())
    return tables


def required_trees(plan: Plan) -> dict[str, set[str]]:
    """O2 tree (of the current versions) -> stored columns (see ``required_tables``)."""
    return {plan.registry.get(t).o2name: c for t, c in required_tables(plan).items()}


def table_readers(plan: Plan) -> dict[str, list[str]]:
    """Logical table -> "task X (processMc)" for every enabled process function reading it."""
    out: dict[str, list[str]] = {}
    for inst in plan.instances:
        for spec in inst.task.enabled_processes():
            for table in spec.reads:
                logical = plan.registry.get(table).logical
                out.setdefault(logical, []).append(f"task {inst.name} ({spec.name})")
    return out


class DataframeSource:
    """The reader device: opens files, checks their structure, reads pruned columns.

    Each table is bound per dataframe to the tree holding it: the current version, or an
    older version whose columns suffice (``AO2DFile.bind``)."""

    def __init__(self, plan: Plan, metrics: DeviceMetrics) -> None:
        self.plan = plan
        self.metrics = metrics
        self.tables = required_tables(plan)
        self.trees = required_trees(plan)
        self._bound: dict[tuple[str, str], dict[str, tuple[str, set[str]]]] = {}

    def bound(self, f: Any, df: str) -> dict[str, tuple[str, set[str]]]:
        """O2 tree -> (logical table, stored columns) for one dataframe."""
        key = (f.path, df)
        out = self._bound.get(key)
        if out is None:
            out = {}
            for logical, cols in self.tables.items():
                table = self.plan.registry.get(logical)
                try:
                    out[f.bind(df, table, cols)] = (logical, cols)
                except MissingTableError as err:
                    readers = table_readers(self.plan).get(logical)
                    if readers:  # which task and process switch asked for it
                        err.args = (f"{err.args[0]}; read by {', '.join(readers)}",)
                    raise
            if len(self._bound) > 4096:
                self._bound.clear()
            self._bound[key] = out
        return out

    def open(self, path: str) -> tuple[Any, list[str]]:
        """Open and check a file before any of it is processed (all-or-nothing structure)."""
        f = open_ao2d(path)
        dfs = f.dataframes()
        try:
            for df in dfs:
                self.bound(f, df)
        except BaseException:
            f.close()
            raise
        return f, dfs

    def read(
        self, f: Any, df: str, alloc: Callable[..., Any] | None = None
    ) -> tuple[dict[str, int], dict[tuple[str, str], Any]]:
        """Sizes per logical table and the pruned columns of one dataframe; ``alloc((table,
        column), dtype, shape)`` may give the array each column is read into (or None)."""
        sizes: dict[str, int] = {}
        columns: dict[tuple[str, str], Any] = {}
        before_c, before_u = f.stats.bytes_compressed, f.stats.bytes_uncompressed
        rows = 0
        for o2name, (logical, cols) in self.bound(f, df).items():
            n = sizes[logical] = f.entries(df, o2name)
            rows += n
            if cols:
                table_alloc = None
                if alloc is not None:

                    def table_alloc(col, dtype, shape, _t=logical):
                        return alloc((_t, col), dtype, shape)

                for col, arr in f.read(df, o2name, sorted(cols), alloc=table_alloc).items():
                    columns[(logical, col)] = arr
        self.metrics.bytes_compressed += f.stats.bytes_compressed - before_c
        self.metrics.bytes_uncompressed += f.stats.bytes_uncompressed - before_u
        self.metrics.rows += rows
        return sizes, columns

    def nbytes(self, f: Any, df: str) -> tuple[dict[str, int], int]:
        """Rows per logical table and the bytes the pruned columns take once read (from the
        metadata; columns only uproot reads count as 0)."""
        sizes: dict[str, int] = {}
        total = 0
        for o2name, (logical, cols) in self.bound(f, df).items():
            sizes[logical] = f.entries(df, o2name)
            for col in cols:
                total += f.column_nbytes(df, o2name, col) or 0
        return sizes, total


def declared_columns(plan: Plan) -> dict[str, set[str]]:
    """Per logical table, the columns some task of the train may touch."""
    out: dict[str, set[str]] = {}
    for inst in plan.instances:
        for table, cols in inst.task.reads().items():
            logical = plan.registry.get(table).logical
            out.setdefault(logical, set()).update(cols)
    for logical in plan.produced:
        out.setdefault(logical, set()).update(plan.registry.get(logical).columns)
    return out


class DerivedWriter:
    """Writes the train's derived tables, one output dataframe per input dataframe, or
    several consecutive ones merged up to ``OutputDirector.max_df_bytes`` (uncompressed),
    into ``AO2D.root`` and, once a file reaches ``max_file_bytes``, ``AO2D_001.root``, ...
    (the wagons' max DF size and max derived file size)."""

    def __init__(self, plan: Plan, out_dir: Path, metrics: DeviceMetrics) -> None:
        self.plan = plan
        self.metrics = metrics
        director = plan.spec.output_director
        self.out_dir = out_dir
        self.resfile = director.resfile
        self.path = out_dir / f"{director.resfile}.root"
        self.max_file_bytes = director.max_file_bytes
        self.max_df_bytes = director.max_df_bytes
        self.paths: list[Path] = []
        self._writer: AO2DWriter | None = None
        self._names: set[str] = set()
        self.parents: dict[str, str] = {}
        # index columns of the saved tables: O2 tree -> {column: indexed O2 tree or None}
        saved = {plan.registry.get(t).logical: plan.registry.get(t) for t in plan.derived_tables}
        self._indices: dict[str, dict[str, str | None]] = {}
        for schema in saved.values():
            self._indices[schema.o2name] = {
                col: saved[target].o2name if target in saved else None
                for col, target in schema.index_columns.items()
            }
        # dataframes can merge only when every index points into a saved table (whose rows
        # are then offset); an index into a parent table (linked data) keeps them apart
        self._mergeable = self.max_df_bytes > 0 and all(
            target is not None for cols in self._indices.values() for target in cols.values()
        )
        self._pending: list[tuple[str, dict[str, dict[str, Any]], str]] = []
        self._pending_bytes = 0

    def write(self, df_name: str, tables: dict[str, dict[str, Any]], parent: str) -> None:
        """Write one output dataframe; ``parent`` is the input file it was derived from."""
        if not self._mergeable:
            self._write(df_name, tables, parent)
            return
        if self._pending and self._pending[0][2] != parent:
            self._flush()  # a dataframe links one parent file
        self._pending.append((df_name, tables, parent))
        self._pending_bytes += sum(
            getattr(a, "nbytes", 0) for cols in tables.values() for a in cols.values()
        )
        if self._pending_bytes >= self.max_df_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        first, _, parent = self._pending[0]
        merged = _concat_dataframes([t for _, t, _ in self._pending], self._indices)
        self._pending, self._pending_bytes = [], 0
        self._write(first, merged, parent)

    def _file(self) -> AO2DWriter:
        if self._writer is not None and self.max_file_bytes > 0:
            current = self.paths[-1]
            if current.stat().st_size >= self.max_file_bytes:  # full: the next file
                self._close_file()
        if self._writer is None:
            n = len(self.paths)
            path = self.path if n == 0 else self.out_dir / f"{self.resfile}_{n:03d}.root"
            self._writer = AO2DWriter(path)
            self.paths.append(path)
        return self._writer

    def _write(self, df_name: str, tables: dict[str, dict[str, Any]], parent: str) -> None:
        writer = self._file()
        name, n = df_name, 1
        while name in self._names:  # two input files may use the same DF id
            name = f"{df_name}{n:02d}"
            n += 1
        self._names.add(name)
        writer.write_dataframe(name, tables)
        self.parents[name] = parent

    def _close_file(self) -> None:
        if self._writer is None:
            return
        # like O2, derived files link each dataframe to its parent file (linked derived data
        # reads parent tables through it) and keep the metaData of their input
        write_parent_files(self._writer.file, self.parents)
        first = next(iter(self.parents.values()), "")
        metadata = file_metadata(first) if first else {}
        if metadata:
            write_metadata(self._writer.file, metadata)
        self._writer.close()
        self._writer, self.parents = None, {}

    def close(self) -> str | None:
        """Close the output; the first file's path (the others follow its name, see
        ``derived_parts``), None when nothing was written."""
        self._flush()
        self._close_file()
        if not self.paths:
            return None
        self.metrics.output_bytes = sum(p.stat().st_size for p in self.paths)
        return str(self.paths[0])


def derived_parts(first: str | os.PathLike) -> list[str]:
    """The files of a derived output whose first file is ``first`` (``AO2D.root``, then
    ``AO2D_001.root``, ... when split at the max derived file size), in order."""
    first = Path(first)
    parts = sorted(first.parent.glob(f"{first.stem}_[0-9][0-9][0-9]{first.suffix}"))
    return [str(first), *(str(p) for p in parts)]


def _concat_dataframes(
    frames: list[dict[str, dict[str, Any]]], indices: dict[str, dict[str, str | None]]
) -> dict[str, dict[str, Any]]:
    """Dataframes' tables as one dataframe: rows appended, the index columns of each
    dataframe offset by the rows of their target table before it (-1 stays -1)."""
    import numpy as np

    if len(frames) == 1:
        return frames[0]
    out: dict[str, dict[str, list]] = {}
    rows: dict[str, int] = {}
    for tables in frames:
        for tree, cols in tables.items():
            acc = out.setdefault(tree, {c: [] for c in cols})
            for col, arr in cols.items():
                target = indices.get(tree, {}).get(col)
                if target is not None and rows.get(target):
                    a = np.asarray(arr)
                    arr = np.where(a >= 0, a + rows[target], a).astype(a.dtype)
                acc.setdefault(col, []).append(arr)
        for tree, cols in tables.items():
            rows[tree] = rows.get(tree, 0) + len(next(iter(cols.values()), ()))
    return {
        tree: {col: np.concatenate(parts) for col, parts in cols.items()}
        for tree, cols in out.items()
    }


def collect_derived(plan: Plan, frame: Frame) -> dict[str, dict[str, Any]]:
    """O2 tree -> stored columns of the derived tables a frame holds."""
    out: dict[str, dict[str, Any]] = {}
    for logical in plan.derived_tables:
        schema = plan.registry.get(logical)
        if not frame.has_table(logical):
            continue
        table = frame.table(logical)
        out[schema.o2name] = {col: table[col] for col in schema.columns}
    return out


def finish_outputs(
    plan: Plan,
    out_dir: Path,
    histos: dict[str, dict[str, Any]] | None,
    sink: DeviceMetrics,
    writer: DeviceMetrics,
    derived: DerivedWriter | None,
) -> dict[str, str]:
    """Write AnalysisResults.root (a directory per task instance) and close the derived
    output; ``histos`` is None when the run failed (nothing is written, files are closed)."""
    from hyperloop.analysis.results import write_results

    outputs: dict[str, str] = {}
    if histos is None:
        if derived is not None:
            derived.close()
        return outputs
    nonempty = {name: h for name, h in histos.items() if h}
    if nonempty:
        path = out_dir / "AnalysisResults.root"
        with Timer(sink):
            write_results(path, nonempty)
        sink.output_bytes = path.stat().st_size
        outputs["AnalysisResults"] = str(path)
    if derived is not None:
        with Timer(writer):
            derived_path = derived.close()
        if derived_path:
            outputs.update(derived_outputs(derived_path))
    return outputs


def derived_outputs(first: str) -> dict[str, str]:
    """Output kind -> path of a derived output: ``AO2D``, then ``AO2D_001``, ..."""
    parts = derived_parts(first)
    return {"AO2D": parts[0], **{Path(p).stem: p for p in parts[1:]}}


def _keep_heap() -> None:
    """Keep freed memory in this device's heap: a device allocates the same large
    temporaries for every dataframe, and glibc would otherwise return them to the system
    and fault them in again (zeroed pages) each time: up to a third of a task's CPU."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: the largest allowed, 32 MiB
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: do not trim below 1 GiB free
    except (OSError, AttributeError):
        pass


def pin_cores(cores: int) -> None:
    """Restrict this process to ``cores`` CPUs (the job's allocation)."""
    _keep_heap()
    try:
        allowed = sorted(os.sched_getaffinity(0))
        if cores < len(allowed):
            os.sched_setaffinity(0, allowed[:cores])
    except (AttributeError, OSError):
        pass


def copy_name(name: str, index: int, copies: int) -> str:
    """Device name of copy ``index`` of a task device run as ``copies`` copies (O2 style:
    ``name_t0``, ``name_t1``...; a device that is not pipelined keeps its name)."""
    return name if copies <= 1 else f"{name}_t{index}"


def state_ids(task: Any) -> dict[str, int]:
    """Identity of each attribute of a task (not its histograms): a pipelined copy checks
    after every dataframe that none was rebound or added, i.e. that it keeps no state."""
    return {k: id(v) for k, v in vars(task).items() if k != "histos"}


def check_stateless(name: str, task: Any, guard: dict[str, int], how: str) -> None:
    """Raise if ``task`` rebound or added an attribute since ``guard`` (``state_ids``): it
    keeps state across dataframes, so running it over alternate dataframes is wrong."""
    now = state_ids(task)
    if now != guard:
        attr = sorted(k for k in {*guard, *now} if guard.get(k) != now.get(k))[0]
        raise RuntimeError(
            f"task {name} changed its attribute {attr!r} while processing a dataframe: it "
            f"keeps state across dataframes, so it cannot {how}"
        )


class Strategy(Protocol):
    """How a planned train runs over its inputs, writing every output into ``out``."""

    def __call__(
        self,
        plan: Plan,
        inputs: Sequence[str],
        out: Path,
        *,
        cores: int,
        sample_interval: float | None,
        progress: Callable[[str], None] | None,
    ) -> RunResult: ...
