"""Devices as processes, like O2: a reader, one process per task instance, the writers.

The reader inflates each dataframe's pruned columns once, straight into a reusable
shared-memory slot (one of ``IN_FLIGHT``), and adds the dynamic columns that two or more
devices read, computed once. The driver (this process) hands each dataframe to the task
devices as soon as the devices producing the tables they consume have processed it;
devices keep each slot mapped (no copy per device, pages fault in once per run) and return
produced tables in segments of their own. A slot is reused once every device is done with
its dataframe, unless a task kept a view of its columns: then it is replaced by a new file
and the kept values stay intact. Several dataframes are in flight, so the reader and the
task devices work in parallel on the job's cores. The driver is also the writer device.

Pipelining (O2's ``--pipeline device:N``): a task device may run as N copies
(``name_t0``...), each dataframe going to whichever copy is free, so that the heaviest
device no longer bounds the run. Copies 1..N-1 send their histograms to copy 0, which adds
them and only then calls ``finalize``; dataframes complete (derived data written, slots
freed) in input order. Which tasks may be split, and the default with several cores, is
decided in ``plan.pipeline_copies``: stateless tasks only, checked again after every
dataframe (a copy whose task rebinds or adds an attribute fails the run by name).
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing as mp
import os
import pickle
import queue
import time
import traceback
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
    copy_name,
    declared_columns,
    finish_outputs,
    pin_cores,
    state_ids,
)
from hyperloop.analysis.frame import Frame
from hyperloop.analysis.metrics import READER, SINK, WRITER, DeviceMetrics, Sampler, Timer
from hyperloop.analysis.plan import Plan, pipeline_copies
from hyperloop.analysis.shm import (
    MappedSegment,
    Segment,
    SegmentDir,
    Slot,
    SlotMaps,
    remove_segment,
    write_segment,
)

IN_FLIGHT = 4  # dataframes held in shared memory at once (one reusable slot each)
_SPILLS = itertools.count()


@dataclass
class _DF:
    key: int
    file: str
    name: str
    sizes: dict[str, int]
    segments: list[Segment]
    done: set[str] = field(default_factory=set)
    retained: bool = False
    payload: tuple[int, bytes] | None = None  # (segments, pickled message) sent to devices


def _failure(msg: tuple) -> dict[str, str]:
    """The task-failure record of an ("error", task, file, df, error, traceback) message."""
    _, task, path, df, error, tb = msg
    return {"task": task, "file": path, "dataframe": df, "error": error, "traceback": tb}


def _dynamic_needed(plan: Plan) -> dict[str, set[str]]:
    """Dynamic columns the reader computes once and shares: those of file tables that two
    or more devices read. A column only one device reads is computed by that device (still
    once per dataframe), so that the reader does not become the train's bottleneck."""
    users: dict[tuple[str, str], int] = {}
    for inst in plan.instances:
        for table, cols in inst.task.reads().items():
            logical = plan.registry.get(table).logical
            for col in cols:
                if col in plan.dynamic_columns.get(logical, ()):
                    users[(logical, col)] = users.get((logical, col), 0) + 1
    shared: dict[str, set[str]] = {}
    for (table, col), count in users.items():
        if count >= 2 and table in plan.file_columns:
            shared.setdefault(table, set()).add(col)
    return shared


def _reader_main(
    plan: Plan, inputs: Sequence[str], segdir: str, out_q: Any, free_q: Any, cores: int
) -> None:
    pin_cores(cores)
    metrics = DeviceMetrics(READER)
    source = DataframeSource(plan, metrics)
    dynamic = _dynamic_needed(plan)
    slots: dict[int, Slot] = {}
    key = 0
    n = 0
    for path in inputs:
        rec = FileRecord(file=path)
        t0 = time.perf_counter()
        try:
            cpu0 = time.process_time()
            f, dfs = source.open(path)
            rec.dataframes_total = len(dfs)
            out_q.put(("cpu", READER, time.process_time() - cpu0, 0))
            with f:
                for df in dfs:
                    index, retire = free_q.get()
                    cpu0 = time.process_time()
                    before_c, before_u = metrics.bytes_compressed, metrics.bytes_uncompressed
                    slot = slots.get(index)
                    if slot is None:
                        slot = slots[index] = Slot(segdir, index)
                    elif retire:  # a task kept a view of the last dataframe: keep it intact
                        slot.retire()
                    try:
                        sizes, segments = _read_dataframe(plan, source, f, df, slot, dynamic)
                    except BaseException:
                        free_q.put((index, False))
                        raise
                    n += 1
                    out_q.put(
                        (
                            "cpu",
                            READER,
                            time.process_time() - cpu0,
                            (
                                metrics.bytes_compressed - before_c,
                                metrics.bytes_uncompressed - before_u,
                            ),
                        )
                    )
                    out_q.put(("df", key, path, df, sizes, segments))
                    key += 1
                    rec.dataframes += 1
                    rec.rows += sum(sizes.values())
        except AO2DError as exc:
            rec.ok = False
            rec.error_type = type(exc).__name__
            rec.message = str(exc)
        rec.duration = time.perf_counter() - t0
        out_q.put(("file", rec))
    out_q.put(("reader_done",))


def _read_dataframe(
    plan: Plan,
    source: DataframeSource,
    f: Any,
    df: str,
    slot: Slot,
    dynamic: dict[str, set[str]],
) -> tuple[dict[str, int], list[Segment]]:
    """Inflate a dataframe's pruned columns straight into ``slot`` and add the shared dynamic
    columns; what does not fit goes to an extra one-off segment."""
    sizes, nbytes = source.nbytes(f, df)
    for table, cols in dynamic.items():
        nbytes += len(cols) * 8 * sizes.get(table, 0)  # at most 8 bytes per value
    slot.begin(nbytes + 64 * (len(source.trees) + sum(map(len, dynamic.values())) + 8))
    spill: dict[tuple[str, str], Any] = {}
    sizes, columns = source.read(f, df, alloc=slot.alloc)
    for key, arr in columns.items():
        if key not in slot:
            spill[key] = arr
    if dynamic:
        frame = Frame(df, f.path, plan.registry, sizes, columns)
        for table, cols in dynamic.items():
            t = frame.table(table)
            for col in sorted(cols):
                values = t[col]
                dest = slot.alloc((table, col), values.dtype, values.shape)
                if dest is None:
                    spill[(table, col)] = values
                else:
                    dest[...] = values
        del frame
    del columns
    segments = [slot.segment()]
    if spill:
        path = slot.folder / f"spill-{slot.index}-{next(_SPILLS)}"
        segments.append(write_segment(str(path), spill))
    return sizes, segments


def _device_main(
    plan: Plan,
    index: int,
    in_conn: Any,
    out_q: Any,
    segdir: str,
    cores: int,
    copy_index: int = 0,
    copies: int = 1,
) -> None:
    pin_cores(cores)
    inst = plan.instances[index]
    name = inst.name
    copy = copy_name(name, copy_index, copies)
    declared = declared_columns(plan)
    ccdb.set_device(name)  # this process runs one device: its conditions calls are its own
    try:
        cpu0 = time.process_time()
        inst.task.init()
        out_q.put(("cpu", copy, time.process_time() - cpu0, 0))
    except Exception as exc:  # noqa: BLE001 - reported with the task name
        out_q.put(("error", name, "", "", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        return
    guard = (
        state_ids(inst.task)
        if copies > 1 and getattr(type(inst.task), "pipeline_safe", None) is not True
        else None
    )
    n = 0
    produced = [t for t in inst.task.produces]
    if copies > 1:  # this copy sees some of the dataframes: copy 0 adds the parts in order
        inst.task.histos.keep_parts()
    slots = SlotMaps()
    while True:
        msg = pickle.loads(in_conn.recv_bytes())
        if msg[0] in ("partial", "finish"):
            out_q.put(("calls", copy, sum(ccdb.calls().values())))
        if msg[0] == "partial":  # a copy of a pipelined device: its share, not finalized
            out_q.put(("partial", name, {h.name: h for h in inst.task.histos}))
            return
        if msg[0] == "finish":
            try:
                for part in msg[1]:  # the other copies' shares: the histograms of all DFs
                    for h in inst.task.histos:
                        h.merge(part[h.name])
                inst.task.histos.settle()  # weighted parts added in dataframe order
                inst.task.finalize()
                out_q.put(("histos", name, {h.name: h for h in inst.task.histos}))
            except Exception as exc:  # noqa: BLE001
                out_q.put(
                    ("error", name, "", "", f"{type(exc).__name__}: {exc}", traceback.format_exc())
                )
            return
        _, key, file, df, sizes, segments = msg
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        maps = [MappedSegment(s) for s in segments if s.slot < 0]
        columns: dict[tuple[str, str], Any] = {}
        shared: list[Any] = []
        for s in segments:
            if s.slot >= 0:
                arrays = slots.arrays(s)
                shared.extend(weakref.ref(a) for a in arrays.values())
                columns.update(arrays)
        for m in maps:
            columns.update(m.arrays())
        frame = Frame(df, file, plan.registry, dict(sizes), columns, declared=declared)
        frame.current_task = name
        try:
            inst.task.run_dataframe(frame)
            if guard is not None:
                check_stateless(
                    name,
                    inst.task,
                    guard,
                    f"run as {copies} pipelined copies (remove its pipeline_strategy, or set "
                    "pipeline_safe = False on the task class)",
                )
        except Exception as exc:  # noqa: BLE001
            out_q.put(
                ("error", name, file, df, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            )
            return
        inst.task.histos.seal(key)  # keys are the dataframes' input order
        seg = table = None
        out_sizes: dict[str, int] = {}
        if produced:
            cols: dict[tuple[str, str], Any] = {}
            for schema in produced:
                if frame.has_table(schema.logical):
                    table = frame.table(schema.logical)
                    out_sizes[schema.logical] = len(table)
                    for col in schema.columns:
                        cols[(schema.logical, col)] = table[col]
            n += 1
            seg = write_segment(os.path.join(segdir, f"{index}-{copy_index}-{n}"), cols)
            del cols
        del frame, columns
        table = arrays = None
        # a task that kept (a view of) a slot's column must find it intact later: the slot
        # is then not reused (checked without a collection first: the common case is cheap)
        retained = any(r() is not None for r in shared)
        if retained:
            gc.collect()
            retained = any(r() is not None for r in shared)
        del shared
        for m in maps:
            m.close()
        out_q.put(
            (
                "done",
                copy,
                key,
                seg,
                out_sizes,
                time.process_time() - cpu0,
                time.perf_counter() - wall0,
                retained,
            )
        )


def run_devices(
    plan: Plan,
    inputs: Sequence[str],
    out: Path,
    *,
    cores: int,
    sample_interval: float | None,
    progress: Callable[[str], None] | None,
) -> RunResult:
    """Run the train with one process per device (pipelined devices: several copies that
    share the dataframes); same outputs as the in-process mode."""
    ctx = mp.get_context("fork")
    wall0 = time.perf_counter()
    names = [inst.name for inst in plan.instances]
    ncopies = pipeline_copies(plan, cores)
    copies = {n: [copy_name(n, k, ncopies[n]) for k in range(ncopies[n])] for n in names}
    owner = {c: n for n in names for c in copies[n]}
    in_flight = IN_FLIGHT + max(ncopies.values(), default=1) - 1
    segdir = SegmentDir()
    out_q = ctx.Queue()
    free_q = ctx.Queue()
    for i in range(in_flight):
        free_q.put((i, False))
    needs = {inst.name: list(inst.needs) for inst in plan.instances}
    # the driver talks to each device through a pipe of its own, one message in flight:
    # a dataframe's message is pickled once and the same bytes go to every device
    pipes = {c: ctx.Pipe(duplex=False) for c in owner}
    in_conns = {c: pipes[c][1] for c in owner}
    procs: dict[str, Any] = {}
    reader = ctx.Process(
        target=_reader_main,
        name=READER,
        args=(plan, list(inputs), str(segdir.path), out_q, free_q, cores),
        daemon=True,
    )
    for i, name in enumerate(names):
        for k, c in enumerate(copies[name]):
            procs[c] = ctx.Process(
                target=_device_main,
                name=c,
                args=(plan, i, pipes[c][0], out_q, str(segdir.path), cores, k, ncopies[name]),
                daemon=True,
            )
    reader.start()
    for p in procs.values():
        p.start()
    metrics = {READER: DeviceMetrics(READER, pid=reader.pid)}
    for inst in plan.instances:
        for c in copies[inst.name]:
            metrics[c] = DeviceMetrics(
                c,
                wagon_id=inst.wagon_ids[0],
                workflow=inst.workflow + inst.suffix,
                pid=procs[c].pid,
            )
    writer_m, sink_m = DeviceMetrics(WRITER), DeviceMetrics(SINK)
    devices = [metrics[READER], *(metrics[c] for c in owner), writer_m, sink_m]
    sampler = Sampler(devices, sample_interval).start()
    derived = DerivedWriter(plan, out, writer_m) if plan.derived_tables else None

    frames: dict[int, _DF] = {}
    order: list[int] = []
    next_index = dict.fromkeys(names, 0)
    busy = dict.fromkeys(owner, False)
    records: list[FileRecord] = []
    histos: dict[str, dict[str, Any]] = {}
    partials: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    failure: dict[str, str] | None = None
    reader_done = False
    finished = 0  # dataframes completed, in order (the writer keeps the input order)

    def send(c: str, msg: Any) -> None:
        data = msg if isinstance(msg, bytes) else pickle.dumps(msg, pickle.HIGHEST_PROTOCOL)
        try:
            in_conns[c].send_bytes(data)
        except OSError:  # the device is gone: reported below as a dead process
            busy[c] = True

    def dispatch() -> None:
        for name in names:
            for c in copies[name]:
                if busy[c] or next_index[name] >= len(order):
                    continue
                d = frames[order[next_index[name]]]
                if not all(dep in d.done for dep in needs[name]):
                    break
                busy[c] = True
                next_index[name] += 1
                if d.payload is None or d.payload[0] != len(d.segments):
                    msg = ("df", d.key, d.file, d.name, d.sizes, list(d.segments))
                    d.payload = (len(d.segments), pickle.dumps(msg, pickle.HIGHEST_PROTOCOL))
                send(c, d.payload[1])

    def complete(d: _DF) -> None:
        if derived is not None:
            with Timer(writer_m):
                maps = [MappedSegment(s) for s in d.segments if s.slot < 0]
                cols: dict[tuple[str, str], Any] = {}
                for m in maps:
                    cols.update(m.arrays())
                tables: dict[str, dict[str, Any]] = {}
                for logical in plan.derived_tables:
                    schema = plan.registry.get(logical)
                    if (logical, next(iter(schema.columns))) in cols:
                        tables[schema.o2name] = {c: cols[(logical, c)] for c in schema.columns}
                derived.write(d.name, tables, d.file)
                del cols, tables
                for m in maps:
                    m.close()
        for s in d.segments:
            if s.slot >= 0:
                free_q.put((s.slot, d.retained))
            else:
                remove_segment(s)

    try:
        while not (reader_done and finished == len(order)):
            try:
                msg = out_q.get(timeout=1.0)
            except queue.Empty:
                dead = [owner[c] for c, p in procs.items() if not p.is_alive()]
                if dead or (not reader.is_alive() and not reader_done):
                    who = dead[0] if dead else READER
                    failure = {
                        "task": who,
                        "file": "",
                        "dataframe": "",
                        "error": "device process died unexpectedly",
                        "traceback": "",
                    }
                    break
                continue
            kind = msg[0]
            if kind == "df":
                _, key, path, df, sizes, segs = msg
                frames[key] = _DF(key, path, df, sizes, list(segs))
                order.append(key)
            elif kind == "cpu":
                _, name, cpu, extra = msg
                metrics[name].add(cpu, cpu)
                if extra:
                    metrics[name].bytes_compressed += extra[0]
                    metrics[name].bytes_uncompressed += extra[1]
            elif kind == "file":
                rec = msg[1]
                records.append(rec)
                if rec.ok:
                    metrics[READER].files_read.append(rec.file)
                if progress:
                    progress(
                        f"{'ok' if rec.ok else 'FAILED'} {rec.file} ({rec.dataframes} DF, {rec.duration:.2f} s)"
                    )
            elif kind == "reader_done":
                reader_done = True
            elif kind == "done":
                _, c, key, seg, out_sizes, cpu, wall, retained = msg
                metrics[c].add(cpu, wall, sum(frames[key].sizes.values()))
                busy[c] = False
                d = frames[key]
                d.retained |= retained
                if seg is not None:
                    d.segments.append(seg)
                    d.sizes.update(out_sizes)
                d.done.add(owner[c])
                # copies of a pipelined device finish dataframes out of order: complete
                # (write, free the slot) in input order
                while finished < len(order) and len(frames[order[finished]].done) == len(names):
                    complete(frames.pop(order[finished]))
                    finished += 1
            elif kind == "error":
                failure = _failure(msg)
                break
            dispatch()
        if failure is None:
            # copies 1..N-1 send their share; copy 0 adds them up and finalizes the task
            for name in names:
                for c in copies[name][1:]:
                    send(c, ("partial",))
                if len(copies[name]) == 1:
                    send(name, ("finish", []))
            while len(histos) < len(names):
                msg = out_q.get(timeout=600)
                if msg[0] == "calls":
                    metrics[msg[1]].conditions_calls += int(msg[2])
                elif msg[0] == "histos":
                    histos[msg[1]] = msg[2]
                elif msg[0] == "partial":
                    name = msg[1]
                    partials[name].append(msg[2])
                    if len(partials[name]) == len(copies[name]) - 1:
                        send(copies[name][0], ("finish", partials.pop(name)))
                elif msg[0] == "error":
                    failure = _failure(msg)
                    break
    finally:
        sampler.stop()
        for p in [reader, *procs.values()]:
            if failure is not None and p.is_alive():
                p.terminate()
            p.join(timeout=30)
        segdir.close()

    outputs = finish_outputs(
        plan, out, histos if failure is None else None, sink_m, writer_m, derived
    )
    return RunResult(records, outputs, devices, time.perf_counter() - wall0, failure)
