"""Data parallelism on a job's cores: each process runs the whole train on its dataframes.

With ``cores`` N, N worker processes each open the inputs and run reader and tasks in one
process, like the in-process mode, on the dataframes they claim from a shared counter (so
a faster worker takes more). A dataframe's columns stay in the cache of the core that read
them; no process waits for another. Histograms of workers 1..N-1 are added to worker 0's,
which then finalizes every task: the result equals the one-core run.

Tasks that must see every dataframe in order, the *serial* tasks, run in worker 0 only:
a task that keeps state from one dataframe to the next (``plan.pipeline_blocker``: event
mixing pools, counters), every task consuming what such a task produces, and the producers
of the derived tables the train writes (worker 0 writes the derived AO2D in input order).
A worker that claims a dataframe runs the other tasks on it and hands worker 0 what the
serial tasks read: their stored columns and the tables of the stateless producers they
consume (*feeders*). Worker 0 runs the serial tasks on every dataframe in input order: on
its own after the ones before it that others handed over.

A file that fails to open counts no dataframe for every worker (all check its structure
against the whole train); a file that fails mid-way is flagged so that no worker starts
another of its dataframes. The per-device metrics are per worker (``reader_t0``,
``task_t1``...), each device measured in the process that ran it.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import pickle
import queue
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from hyperloop.analysis import ccdb
from hyperloop.analysis.ao2d import AO2DError
from hyperloop.analysis.execution import (
    DataframeSource,
    DerivedWriter,
    FileRecord,
    RunResult,
    check_stateless,
    collect_derived,
    copy_name,
    declared_columns,
    derived_outputs,
    finish_outputs,
    mark_task_failure,
    pin_cores,
    state_ids,
)
from hyperloop.analysis.frame import Frame
from hyperloop.analysis.metrics import READER, SINK, WRITER, DeviceMetrics, Sampler, Timer
from hyperloop.analysis.plan import Plan, TaskInstance, dataframe_skips, pipeline_blocker

log = logging.getLogger("hyperloop.run")


def serial_tasks(plan: Plan) -> tuple[set[str], set[str]]:
    """(serial, feeders): the instances that run in worker 0 over every dataframe, and the
    stateless producers they consume (whose tables the claiming worker hands over)."""
    serial = {i.name for i in plan.instances if pipeline_blocker(i.task, auto=False)}
    serial |= {plan.produced[t] for t in plan.derived_tables}
    for inst in plan.instances:  # in dependency order: consumers follow their producers
        if any(dep in serial for dep in inst.needs):
            serial.add(inst.name)
    needs = {i.name: i.needs for i in plan.instances}
    feeders: set[str] = set()
    todo = [dep for name in serial for dep in needs[name]]
    while todo:
        name = todo.pop()
        if name not in serial and name not in feeders:
            feeders.add(name)
            todo.extend(needs[name])
    return serial, feeders


def use_dataframe_parallelism(plan: Plan, cores: int) -> bool:
    """Whether a run on ``cores`` cores splits dataframes over whole-train workers: yes unless
    the spec asks for pipelined devices, or every task is serial or feeds a serial one
    (worker 0 would run all of it anyway: nothing to gain)."""
    if cores <= 1 or any(inst.pipeline for inst in plan.instances):
        return False
    serial, feeders = serial_tasks(plan)
    return any(i.name not in serial and i.name not in feeders for i in plan.instances)


def _subplan(plan: Plan, instances: list[TaskInstance]) -> Plan:
    """The plan restricted to ``instances``: the stored columns only they read."""
    file_columns: dict[str, set[str]] = {}
    for inst in instances:
        for table_name, cols in inst.task.reads().items():
            table = plan.registry.get(table_name)
            if table.logical in plan.produced:
                continue
            file_columns.setdefault(table.logical, set()).update(table.stored_inputs(cols))
    return replace(plan, instances=instances, file_columns=file_columns)


def _error(exc: BaseException) -> tuple[str, str]:
    """(type, message) of a file's error, as sent to the driver (exceptions may not unpickle)."""
    return type(exc).__name__, str(exc)


class _Claims:
    """The shared dataframe counter: ``next()`` claims the next unclaimed dataframe."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def next(self) -> int:
        with self.value.get_lock():
            i = self.value.value
            self.value.value = i + 1
        return i


class _Inputs:
    """Walks the input files in order, mapping a global dataframe number to (file, df)."""

    def __init__(self, inputs: Sequence[str], check: DataframeSource, out_q: Any, worker: int):
        self.inputs = list(inputs)
        self.check, self.out_q, self.worker = check, out_q, worker
        self.index = -1
        self.base = 0
        self.file: Any = None
        self.dfs: list[str] = []

    def seek(self, target: int) -> tuple[int, str] | None:
        """(file index, dataframe name) of dataframe ``target``; None past the last one."""
        while target >= self.base + len(self.dfs):
            self.base += len(self.dfs)
            self.close()
            self.index += 1
            if self.index >= len(self.inputs):
                return None
            path = self.inputs[self.index]
            t0 = time.perf_counter()
            try:
                self.file, self.dfs = self.check.open(path)
                self.out_q.put(("file", self.index, len(self.dfs), None, 0.0))
            except AO2DError as exc:
                self.out_q.put(("file", self.index, 0, _error(exc), time.perf_counter() - t0))
        return self.index, self.dfs[target - self.base]

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.file, self.dfs = None, []


HANDOFF_AHEAD = 8  # dataframes a worker may hand to worker 0 before it took them


class _Handoff:
    """What the serial tasks read of a dataframe another worker claimed: that worker sends
    the stored columns they read and the tables their producers made, so worker 0 neither
    reads the dataframe again nor runs the producers twice. Each worker sends in claim order
    and at most HANDOFF_AHEAD ahead; worker 0 takes them in dataframe order."""

    def __init__(self, plan: Plan, serial: set[str], feeders: set[str], q: Any, budgets: list):
        serial_plan = _subplan(plan, [i for i in plan.instances if i.name in serial])
        self.columns = serial_plan.file_columns
        self.produced = [t for i in plan.instances if i.name in feeders for t in i.task.produces]
        self.q, self.budgets = q, budgets
        self.waiting: dict[int, tuple[int, Any]] = {}

    def send(
        self,
        worker: int,
        i: int,
        frame: Frame | None,
        sizes: dict[str, int],
        where: tuple[int, str] = (0, ""),
    ) -> None:
        """Hand dataframe ``i`` (file index, name) over (``frame`` None: skipped, bad file)."""
        payload = None
        if frame is not None:
            frame.declared = None  # what the serial tasks declared is checked in worker 0
            cols = {
                (table, col): frame.table(table)[col]
                for table, names in self.columns.items()
                for col in names
            }
            sizes = dict(sizes)
            for schema in self.produced:
                if frame.has_table(schema.logical):
                    table = frame.table(schema.logical)
                    sizes[schema.logical] = len(table)
                    for col in schema.columns:
                        cols[(schema.logical, col)] = table[col]
            payload = (*where, sizes, cols)
        self.budgets[worker].acquire()
        self.q.put((i, worker, payload))

    def take(self, i: int) -> Any:
        """(file index, name, sizes, columns) of dataframe ``i`` (None: skipped), once it
        arrives."""
        while i not in self.waiting:
            j, worker, payload = self.q.get()
            self.waiting[j] = (worker, payload)
        worker, payload = self.waiting.pop(i)
        self.budgets[worker].release()
        return payload


def _worker_main(
    plan: Plan,
    worker: int,
    workers: int,
    inputs: Sequence[str],
    counter: Any,
    bad: Any,
    handoff_q: Any,
    budgets: list,
    out_q: Any,
    in_conn: Any,
    out_dir: str,
    cores: int,
) -> None:
    pin_cores(cores)
    serial, feeders = serial_tasks(plan)
    runs_serial = worker == 0 and bool(serial)
    handoff = _Handoff(plan, serial, feeders, handoff_q, budgets) if serial else None
    parallel = [i for i in plan.instances if i.name not in serial]
    mine = plan.instances if worker == 0 else parallel
    # (instance name, task object) to run on a dataframe, per kind of dataframe
    full = [(i.name, i.task) for i in mine]
    only_serial = [(i.name, i.task) for i in plan.instances if runs_serial and i.name in serial]
    devname = {
        i.name: i.name if i.name in serial else copy_name(i.name, worker, workers) for i in mine
    }
    reader_m = DeviceMetrics(copy_name(READER, worker, workers))
    metrics = {i.name: DeviceMetrics(devname[i.name]) for i in mine}
    writer_m = DeviceMetrics(WRITER)
    # every worker reads what the whole train reads: another worker's serial tasks may
    # need a column none of this worker's tasks does (sent to worker 0 with the handoff)
    source = DataframeSource(plan, reader_m)
    derived = DerivedWriter(plan, Path(out_dir), writer_m) if runs_serial else None
    if derived is not None and not plan.derived_tables:
        derived = None
    declared = declared_columns(plan)
    files = _Inputs(inputs, DataframeSource(plan, DeviceMetrics(READER)), out_q, worker)
    claims = _Claims(counter)
    sent: dict[str, tuple[float, float, int, int, int, int]] = {}

    def deltas() -> list[tuple[str, float, float, int, int, int, int]]:
        """What each device of this worker measured since the last message."""
        out = []
        for m in [reader_m, *metrics.values(), writer_m]:
            now = (
                m.cpu,
                m.wall,
                m.rows,
                m.bytes_compressed,
                m.bytes_uncompressed,
                m.dataframes_skipped,
            )
            last = sent.get(m.name, (0.0, 0.0, 0, 0, 0, 0))
            if now != last:
                out.append((m.name, *(a - b for a, b in zip(now, last, strict=True))))
                sent[m.name] = now
        return out

    def fail(name: str, path: str, df: str, exc: BaseException) -> None:
        out_q.put(("error", name, path, df, f"{type(exc).__name__}: {exc}", traceback.format_exc()))

    current = ""
    try:
        for name, task in full:
            current = name
            with Timer(metrics[name]), ccdb.device(name):
                task.init()
    except Exception as exc:  # noqa: BLE001 - reported with the task name
        fail(current, "", "", exc)
        return
    if workers > 1:  # a worker sees some dataframes: worker 0 adds the parts in order
        for inst in parallel:
            inst.task.histos.keep_parts()
    # a task run over alternate dataframes must keep no state: checked after each one
    guards = {
        i.name: state_ids(i.task)
        for i in parallel
        if getattr(type(i.task), "pipeline_safe", None) is not True
    }

    def run_tasks(frame: Frame, tasks: list[tuple[str, Any]], path: str, df: str, key: int) -> bool:
        """Run ``tasks`` on dataframe number ``key`` (input order), but those its filters
        rule out (``dataframe_skips``)."""
        skips = dataframe_skips(plan, frame)
        for name, task in tasks:
            if name in skips:
                metrics[name].dataframes_skipped += 1
                continue
            frame.current_task = name
            try:
                with Timer(metrics[name]), ccdb.device(name):
                    task.run_dataframe(frame)
                    task.histos.seal(key)
                if name in guards:
                    check_stateless(
                        name,
                        task,
                        guards[name],
                        f"run on {workers} cores over alternate dataframes (set "
                        "pipeline_safe = False on the task class)",
                    )
            except Exception as exc:  # noqa: BLE001
                fail(name, path, df, exc)
                return False
        frame.current_task = None
        return True

    def run_serial(frame: Frame, path: str, df: str, key: int) -> bool:
        """The serial tasks on one dataframe, in input order (worker 0), and its derived data."""
        if not run_tasks(frame, only_serial, path, df, key):
            return False
        if derived is not None:
            with Timer(writer_m):
                derived.write(df, collect_derived(plan, frame), path)
        return True

    def catch_up(upto: int) -> bool:
        """Worker 0: the serial tasks on the dataframes before ``upto`` others claimed."""
        nonlocal serial_next
        while serial_next < upto:
            t0 = time.perf_counter()
            key = serial_next
            payload = handoff.take(serial_next)  # type: ignore[union-attr]
            serial_next += 1
            if payload is None or bad[payload[0]]:
                continue
            k, df, sizes, columns = payload
            frame = Frame(df, inputs[k], plan.registry, sizes, columns, declared=declared)
            if not run_serial(frame, inputs[k], df, key):
                return False
            out_q.put(("df", k, 0, 0, time.perf_counter() - t0, deltas()))
        return True

    parallel_part = [(n, t) for n, t in full if n not in serial]
    serial_next = 0
    while True:
        i = claims.next()
        t0 = time.perf_counter()
        with Timer(reader_m):
            where = files.seek(i)
        if where is None:
            if runs_serial and not catch_up(files.base):
                return
            break
        k, df = where
        path = inputs[k]
        hands_over = handoff is not None and worker > 0
        columns: Any = None
        if not bad[k]:
            try:
                with Timer(reader_m):
                    sizes, columns = source.read(files.file, df)
            except AO2DError as exc:
                bad[k] = 1
                out_q.put(("file", k, -1, _error(exc), time.perf_counter() - t0))
        if columns is None:  # a bad file: nothing to run (worker 0 still keeps the order)
            if hands_over:
                handoff.send(worker, i, None, {})  # type: ignore[union-attr]
            if runs_serial:
                if not catch_up(i):
                    return
                serial_next = i + 1
            continue
        frame = Frame(df, path, plan.registry, sizes, columns, declared=declared)
        if not run_tasks(frame, parallel_part, path, df, i):
            return
        if runs_serial:
            # the dataframes before this one go through the serial tasks first
            if not catch_up(i) or not run_serial(frame, path, df, i):
                return
            serial_next = i + 1
        elif hands_over:
            with Timer(reader_m):
                handoff.send(worker, i, frame, sizes, (k, df))  # type: ignore[union-attr]
        del frame, columns
        out_q.put(("df", k, 1, sum(sizes.values()), time.perf_counter() - t0, deltas()))
    files.close()
    histos = {name: {h.name: h for h in task.histos} for name, task in full}
    if worker > 0:
        ccdb.save_calls(out_dir)  # before the message: the parent adds them up after it
        out_q.put(("partial", worker, histos, deltas()))
        return
    parts = pickle.loads(in_conn.recv_bytes())
    current = ""
    try:
        for part in parts:
            for name, hs in part.items():
                for h in histos[name].values():
                    h.merge(hs[h.name])
        for name, task in full:
            current = name
            with Timer(metrics[name]), ccdb.device(name):
                task.histos.settle()  # weighted parts of every worker, in dataframe order
                task.finalize()
        derived_path = None
        if derived is not None:
            with Timer(writer_m):
                derived_path = derived.close()
    except Exception as exc:  # noqa: BLE001
        fail(current or READER, "", "", exc)
        return
    ccdb.save_calls(out_dir)
    out_q.put(("histos", histos, derived_path, writer_m.output_bytes, deltas()))


def run_dataframe_workers(
    plan: Plan,
    inputs: Sequence[str],
    out: Path,
    *,
    cores: int,
    sample_interval: float | None,
    progress: Callable[[str], None] | None,
) -> RunResult:
    """Run the train as ``cores`` whole-train workers splitting the dataframes; same outputs
    as the in-process mode."""
    ctx = mp.get_context("fork")
    wall0 = time.perf_counter()
    serial, _ = serial_tasks(plan)
    counter = ctx.Value("q", 0)
    handoff_q = ctx.Queue()
    budgets = [ctx.Semaphore(HANDOFF_AHEAD) for _ in range(cores)]
    bad = ctx.Array("b", max(len(inputs), 1), lock=False)
    out_q = ctx.Queue()
    pipes = [ctx.Pipe(duplex=False) for _ in range(cores)]
    procs = [
        ctx.Process(
            target=_worker_main,
            name=f"train-worker-{w}",
            args=(
                plan,
                w,
                cores,
                list(inputs),
                counter,
                bad,
                handoff_q,
                budgets,
                out_q,
                pipes[w][0],
                str(out),
                cores,
            ),
            daemon=True,
        )
        for w in range(cores)
    ]
    for p in procs:
        p.start()
    devices: list[DeviceMetrics] = []
    by_name: dict[str, DeviceMetrics] = {}
    for w, p in enumerate(procs):
        names = [(copy_name(READER, w, cores), None)]
        for inst in plan.instances:
            if inst.name in serial:
                if w == 0:
                    names.append((inst.name, inst))
            else:
                names.append((copy_name(inst.name, w, cores), inst))
        for name, inst in names:
            m = DeviceMetrics(name, pid=p.pid)
            if inst is not None:
                m.wagon_id, m.workflow = inst.wagon_ids[0], inst.workflow + inst.suffix
            by_name[name] = m
            devices.append(m)
    writer_m = DeviceMetrics(WRITER, pid=procs[0].pid)
    sink_m = DeviceMetrics(SINK)
    by_name[WRITER] = writer_m
    devices += [writer_m, sink_m]
    sampler = Sampler(devices, sample_interval).start()

    records = [FileRecord(file=p) for p in inputs]
    opened = [False] * len(inputs)
    reported = [False] * len(inputs)
    partials: list[dict[str, Any]] = []
    histos: dict[str, dict[str, Any]] | None = None
    derived_path: str | None = None
    failure: dict[str, str] | None = None

    def account(rows: list[tuple[str, float, float, int, int, int, int]]) -> None:
        for name, cpu, wall, nrows, compressed, uncompressed, skipped in rows:
            m = by_name[name]
            m.add(cpu, wall, nrows)
            m.bytes_compressed += compressed
            m.bytes_uncompressed += uncompressed
            m.dataframes_skipped += skipped

    spans: dict[int, tuple[float, float]] = {}

    def span(k: int, duration: float) -> None:
        """A file's duration: from the first worker starting on it to the last finishing."""
        now = time.perf_counter()
        first, _ = spans.get(k, (now - duration, now))
        spans[k] = (min(first, now - duration), now)
        records[k].duration = now - spans[k][0]

    def report(k: int) -> None:
        rec = records[k]
        if progress and not reported[k]:
            reported[k] = True
            state = "ok" if rec.ok else "FAILED"
            progress(f"{state} {rec.file} ({rec.dataframes} DF, {rec.duration:.2f} s)")

    try:
        while histos is None:
            try:
                msg = out_q.get(timeout=1.0)
            except queue.Empty:
                dead = [w for w, p in enumerate(procs) if not p.is_alive() and p.exitcode != 0]
                if dead:
                    failure = {
                        "task": f"train-worker-{dead[0]}",
                        "file": "",
                        "dataframe": "",
                        "error": "worker process died unexpectedly",
                        "traceback": "",
                    }
                    break
                continue
            kind = msg[0]
            if kind == "file":
                _, k, total, error, duration = msg
                rec = records[k]
                span(k, duration)
                if error is not None and rec.ok:
                    rec.ok = False
                    rec.error_type, rec.message = error
                    log.error("input file failed: %s", rec.message)
                if total >= 0 and not opened[k]:
                    opened[k] = True
                    rec.dataframes_total = total
                    if error is None:
                        by_name[copy_name(READER, 0, cores)].files_read.append(rec.file)
                if not rec.ok or rec.dataframes == rec.dataframes_total:
                    report(k)
            elif kind == "df":
                _, k, claimed, rows, duration, cpu = msg
                account(cpu)
                rec = records[k]
                span(k, duration)
                if claimed:
                    rec.dataframes += 1
                    rec.rows += rows
                    if rec.dataframes == rec.dataframes_total:
                        report(k)
            elif kind == "partial":
                partials.append(msg[2])
                account(msg[3])
                if len(partials) == cores - 1:
                    pipes[0][1].send_bytes(pickle.dumps(partials, pickle.HIGHEST_PROTOCOL))
                    partials = []
            elif kind == "histos":
                _, histos, derived_path, writer_m.output_bytes, cpu = msg
                account(cpu)
            elif kind == "error":
                _, task, path, df, error, tb = msg
                failure = {
                    "task": task,
                    "file": path,
                    "dataframe": df,
                    "error": error,
                    "traceback": tb,
                }
                break
    finally:
        sampler.stop()
        for p in procs:
            if failure is not None and p.is_alive():
                p.terminate()
            p.join(timeout=30)
    mark_task_failure(records, failure)
    for k in range(len(records)):
        report(k)
    outputs = finish_outputs(plan, out, histos if failure is None else None, sink_m, writer_m, None)
    if failure is None and derived_path:
        outputs.update(derived_outputs(derived_path))
    return RunResult(records, outputs, devices, time.perf_counter() - wall0, failure)
