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
from dataclasses import asdict
from pathlib import Path

from hyperloop.analysis import ccdb
from hyperloop.analysis.ao2d import AO2DError
from hyperloop.analysis.dataparallel import run_dataframe_workers, use_dataframe_parallelism
from hyperloop.analysis.devices import run_devices
from hyperloop.analysis.execution import (
    DataframeSource,
    DerivedWriter,
    FileRecord,
    RunResult,
    Strategy,
    TaskFailure,
    collect_derived,
    declared_columns,
    finish_outputs,
    mark_task_failure,
)
from hyperloop.analysis.frame import Frame
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
from hyperloop.analysis.plan import Plan, dataframe_skips, describe_plan

log = logging.getLogger("hyperloop.run")


def choose_strategy(plan: Plan, cores: int, mode: str = "auto") -> Strategy:
    """The execution strategy of ``mode``: ``inprocess``, ``processes`` (devices as
    processes), ``dataframes`` (whole-train workers) or ``auto`` (in-process on one core,
    else dataframe workers unless the plan asks for pipelined devices)."""
    if mode == "auto":
        if cores <= 1:
            mode = "inprocess"
        else:
            mode = "dataframes" if use_dataframe_parallelism(plan, cores) else "processes"
    if mode not in STRATEGIES:
        raise ValueError(f"unknown mode {mode!r} (inprocess, processes, dataframes, auto)")
    return STRATEGIES[mode]


def run_train(
    plan: Plan,
    inputs: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    cores: int = 1,
    mode: str = "auto",
    strategy: Strategy | None = None,
    sample_interval: float | None = None,
    progress: Callable[[str], None] | None = None,
    job_id: str = "",
) -> RunResult:
    """Run the planned train over ``inputs`` and write every output into ``out_dir``.

    ``strategy`` runs it (any :class:`~hyperloop.analysis.execution.Strategy`); by default
    the one ``choose_strategy(plan, cores, mode)`` names."""
    run = strategy if strategy is not None else choose_strategy(plan, cores, mode)
    start_time = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "full_config.json").write_text(json.dumps(plan.spec.to_json(), indent=2) + "\n")
    ccdb.reset()  # a job's conditions cache and call counts start empty
    result = run(plan, inputs, out, cores=cores, sample_interval=sample_interval, progress=progress)
    mark_task_failure(result.files, result.task_failure)  # whichever strategy ran
    _count_conditions_calls(result, out)
    result.out_dir, result.defaults_filled = str(out), plan.defaults_filled
    result.start_time, result.job_id = start_time, job_id
    _write_report(plan, result, out)
    return result


def _count_conditions_calls(result: RunResult, out: Path) -> None:
    """Give each device its calls to the conditions database (made in this process or in
    device processes, see ``ccdb.save_calls``); copies of a device count for the first."""
    counts = ccdb.collect_calls(out)
    for name, n in counts.items():
        dev = next((d for d in result.devices if d.name == name), None)
        if dev is None:
            dev = next((d for d in result.devices if name and d.name.startswith(name)), None)
        if dev is not None:
            dev.conditions_calls += int(n)
        elif result.devices:  # calls outside any device (none today): the reader's
            result.devices[0].conditions_calls += int(n)


def run_inprocess(
    plan: Plan,
    inputs: Sequence[str],
    out: Path,
    *,
    cores: int,
    sample_interval: float | None,
    progress: Callable[[str], None] | None,
) -> RunResult:
    """The in-process strategy: every device of the train in this process, in order."""
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
    key = 0  # dataframe number, in input order
    try:
        for inst in plan.instances:
            with Timer(task_m[inst.name]), ccdb.device(inst.name):
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
                        skips = dataframe_skips(plan, frame)
                        for inst in plan.instances:
                            if inst.name in skips:
                                task_m[inst.name].dataframes_skipped += 1
                                continue
                            frame.current_task = inst.name
                            try:
                                with Timer(task_m[inst.name]), ccdb.device(inst.name):
                                    inst.task.run_dataframe(frame)
                            except Exception as exc:
                                raise TaskFailure(
                                    inst.name, path, df, exc, traceback.format_exc()
                                ) from exc
                        frame.current_task = None
                        for inst in plan.instances:  # weighted sums in input order
                            inst.task.histos.seal(key)
                        key += 1
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
            except TaskFailure as exc:
                rec.ok, rec.error_type = False, "TaskFailure"
                rec.message = f"task {exc.task} failed on {exc.df}: {exc.exc_type}: {exc.__cause__}"
                raise
            finally:
                rec.duration = time.perf_counter() - t0
            if progress:
                progress(
                    f"{'ok' if rec.ok else 'FAILED'} {path} ({rec.dataframes} DF, {rec.duration:.2f} s)"
                )
        for inst in plan.instances:
            with Timer(task_m[inst.name]), ccdb.device(inst.name):
                inst.task.histos.settle()
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


# The strategies by mode name (``hyperloop run-train --mode``).
STRATEGIES: dict[str, Strategy] = {
    "inprocess": run_inprocess,
    "processes": run_devices,
    "dataframes": run_dataframe_workers,
}


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
        "ignored_parameters": plan.ignored_parameters,
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
                "conditions_calls": d.conditions_calls,
                "dataframes_skipped": d.dataframes_skipped,
                "pid": d.pid,  # its process (a profile's "Process <pid>" entries)
            }
            for d in devices
        },
    }
    (out / "run_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
