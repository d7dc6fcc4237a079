"""Run a train over AO2D files: reader -> tasks -> writers, with measured metrics.

``run_train`` is the one code path used by tests, grid jobs and ``hyperloop run-train``.
With ``cores == 1`` (or ``mode="inprocess"``) every device runs in this process. With more
cores, by default each core runs the whole train on the dataframes it claims, tasks that
must see every dataframe staying in one of them (``dataparallel.py``); a spec asking for
pipelined devices, or ``mode="processes"``, runs the devices as processes that share the
dataframe's columns through shared memory (``devices.py``). Either way the outputs are the
same files.

A bad input file is a failure record (file, error, duration) and the other files still
complete; a task that raises stops the run with the task's name and traceback.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hyperloop.analysis.ao2d import AO2DError, open_ao2d, write_metadata, write_parent_files
from hyperloop.analysis.ao2d_writer import AO2DWriter
from hyperloop.analysis.frame import Frame, file_metadata
from hyperloop.analysis.metrics import (
    READER,
    SINK,
    WRITER,
    DeviceMetrics,
    Sampler,
    Timer,
    metrics_summary,
    performance_metrics,
)
from hyperloop.analysis.plan import Plan, describe_plan

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
                out[f.bind(df, table, cols)] = (logical, cols)
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
    """Writes the train's derived tables, one output dataframe per input dataframe."""

    def __init__(self, plan: Plan, out_dir: Path, metrics: DeviceMetrics) -> None:
        self.plan = plan
        self.metrics = metrics
        self.path = out_dir / f"{plan.spec.output_director.resfile}.root"
        self._writer: AO2DWriter | None = None
        self._names: set[str] = set()
        self.parents: dict[str, str] = {}

    def write(self, df_name: str, tables: dict[str, dict[str, Any]], parent: str) -> None:
        """Write one output dataframe; ``parent`` is the input file it was derived from."""
        if self._writer is None:
            self._writer = AO2DWriter(self.path)
        name, n = df_name, 1
        while name in self._names:  # two input files may use the same DF id
            name = f"{df_name}{n:02d}"
            n += 1
        self._names.add(name)
        self._writer.write_dataframe(name, tables)
        self.parents[name] = parent

    def close(self) -> str | None:
        if self._writer is None:
            return None
        # like O2, derived files link each dataframe to its parent file (linked derived data
        # reads parent tables through it) and keep the metaData of their input
        write_parent_files(self._writer.file, self.parents)
        first = next(iter(self.parents.values()), "")
        metadata = file_metadata(first) if first else {}
        if metadata:
            write_metadata(self._writer.file, metadata)
        self._writer.close()
        self.metrics.output_bytes = self.path.stat().st_size
        return str(self.path)


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
            outputs["AO2D"] = derived_path
    return outputs


def run_train(
    plan: Plan,
    inputs: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    cores: int = 1,
    mode: str = "auto",
    sample_interval: float = 1.0,
    progress: Callable[[str], None] | None = None,
    job_id: str = "",
) -> RunResult:
    """Run the planned train over ``inputs`` and write every output into ``out_dir``."""
    from hyperloop.analysis.dataparallel import run_dataframe_workers, use_dataframe_parallelism
    from hyperloop.analysis.devices import run_devices

    if mode == "auto":
        if cores <= 1:
            mode = "inprocess"
        else:
            mode = "dataframes" if use_dataframe_parallelism(plan, cores) else "processes"
    runners = {
        "inprocess": _run_inprocess,
        "processes": run_devices,
        "dataframes": run_dataframe_workers,
    }
    if mode not in runners:
        raise ValueError(f"unknown mode {mode!r} (inprocess, processes, dataframes, auto)")
    start_time = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "full_config.json").write_text(json.dumps(plan.spec.to_json(), indent=2) + "\n")
    result = runners[mode](
        plan, inputs, out, cores=cores, sample_interval=sample_interval, progress=progress
    )
    result.out_dir, result.defaults_filled = str(out), plan.defaults_filled
    result.start_time, result.job_id = start_time, job_id
    _write_report(plan, result, out)
    return result


def _run_inprocess(
    plan: Plan,
    inputs: Sequence[str],
    out: Path,
    *,
    cores: int,
    sample_interval: float,
    progress: Callable[[str], None] | None,
) -> RunResult:
    wall0 = time.perf_counter()
    reader_m = DeviceMetrics(READER)
    task_m = {
        inst.name: DeviceMetrics(
            inst.name, wagon_id=inst.wagon_ids[0], workflow=inst.workflow + inst.suffix
        )
        for inst in plan.instances
    }
    writer_m = DeviceMetrics(WRITER)
    sink_m = DeviceMetrics(SINK)
    devices = [reader_m, *task_m.values(), writer_m, sink_m]
    sampler = Sampler(devices, sample_interval).start()
    source = DataframeSource(plan, reader_m)
    derived = DerivedWriter(plan, out, writer_m) if plan.derived_tables else None
    declared = declared_columns(plan)
    records: list[FileRecord] = []
    failure: TaskFailure | None = None
    try:
        for inst in plan.instances:
            with Timer(task_m[inst.name]):
                inst.task.init()
        for path in inputs:
            rec = FileRecord(file=path)
            records.append(rec)
            t0 = time.perf_counter()
            try:
                with Timer(reader_m):
                    f, dfs = source.open(path)
                rec.dataframes_total = len(dfs)
                reader_m.files_read.append(path)
                with f:
                    for df in dfs:
                        with Timer(reader_m):
                            sizes, columns = source.read(f, df)
                        frame = Frame(df, path, plan.registry, sizes, columns, declared=declared)
                        for inst in plan.instances:
                            frame.current_task = inst.name
                            try:
                                with Timer(task_m[inst.name]):
                                    inst.task.run_dataframe(frame)
                            except Exception as exc:
                                raise TaskFailure(
                                    inst.name, path, df, exc, traceback.format_exc()
                                ) from exc
                        frame.current_task = None
                        if derived is not None:
                            with Timer(writer_m):
                                derived.write(df, collect_derived(plan, frame), path)
                        rec.dataframes += 1
                        rec.rows += sum(sizes.values())
            except AO2DError as exc:
                rec.ok = False
                rec.error_type = type(exc).__name__
                rec.message = str(exc)
                log.error("input file failed: %s", exc)
            except TaskFailure:
                rec.ok = False
                raise
            finally:
                rec.duration = time.perf_counter() - t0
            if progress:
                progress(
                    f"{'ok' if rec.ok else 'FAILED'} {path} ({rec.dataframes} DF, {rec.duration:.2f} s)"
                )
        for inst in plan.instances:
            with Timer(task_m[inst.name]):
                inst.task.finalize()
    except TaskFailure as exc:
        failure = exc
        log.error("%s\n%s", exc, exc.tb)
    finally:
        sampler.stop()
    histos = None
    if failure is None:
        histos = {inst.name: {h.name: h for h in inst.task.histos} for inst in plan.instances}
    outputs = finish_outputs(plan, out, histos, sink_m, writer_m, derived)
    wall = time.perf_counter() - wall0
    return RunResult(
        files=records,
        outputs=outputs,
        devices=devices,
        wall=wall,
        task_failure=None
        if failure is None
        else {
            "task": failure.task,
            "file": failure.file,
            "dataframe": failure.df,
            "error": f"{failure.exc_type}: {failure.__cause__}",
            "traceback": failure.tb,
        },
    )


def _write_report(plan: Plan, result: RunResult, out: Path) -> None:
    devices = result.devices
    (out / "performanceMetrics.json").write_text(
        json.dumps(performance_metrics(devices, {"wall": result.wall}), indent=1) + "\n"
    )
    summary = metrics_summary(
        devices,
        wall=result.wall,
        n_input_files=len(result.files),
        job_id=result.job_id,
        start_time=result.start_time,
    )
    (out / "metrics_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    report = {
        "exit_code": result.exit_code,
        "wall": result.wall,
        "files": [asdict(r) for r in result.files],
        "failed_files": len(result.failed_files),
        "outputs": result.outputs,
        "task_failure": result.task_failure,
        "defaults_filled": result.defaults_filled,
        "plan": describe_plan(plan),
        "devices": {
            d.name: {
                "cpu": d.cpu,
                "wall": d.wall,
                "calls": d.calls,
                "rows": d.rows,
                "bytes_compressed": d.bytes_compressed,
                "bytes_uncompressed": d.bytes_uncompressed,
                "output_bytes": d.output_bytes,
            }
            for d in devices
        },
    }
    (out / "run_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
