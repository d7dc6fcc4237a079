"""Measured metrics per device, in the O2 ``performanceMetrics.json`` layout (SPEC §10).

Each device (the reader, every task instance, the writer) accumulates the CPU and wall
time of its own work; a sampler thread records, once per interval, the CPU used by each
device since the previous sample (``cpuUsedAbsolute``, microseconds) and the memory of the
process hosting it (``proportionalSetSize`` in kB of 1024 bytes, read from /proc smaps via
psutil). The interval is ``sample_interval()`` seconds by default (server setting
``metrics_sample_interval``, which reaches the runtime as HYPERLOOP_METRICS_SAMPLE_INTERVAL):
often enough that a test of a few seconds draws a curve. A process that has ended records
no memory sample (not a zero that would halve the average); the summary in
``metrics_summary.json`` is in bytes (``hyperloop.units``).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psutil

from hyperloop.units import kib_to_bytes

READER = "internal-dpl-aod-reader"
WRITER = "internal-dpl-aod-writer"
SINK = "internal-dpl-aod-global-analysis-file-sink"

SAMPLE_INTERVAL_ENV = "HYPERLOOP_METRICS_SAMPLE_INTERVAL"
DEFAULT_SAMPLE_INTERVAL = 0.1  # seconds


def sample_interval() -> float:
    """Seconds between two metric samples: HYPERLOOP_METRICS_SAMPLE_INTERVAL (the server
    setting ``metrics_sample_interval``) or 0.1 s."""
    try:
        value = float(os.environ.get(SAMPLE_INTERVAL_ENV, ""))
    except ValueError:
        return DEFAULT_SAMPLE_INTERVAL
    return value if 0.01 <= value <= 60 else DEFAULT_SAMPLE_INTERVAL


def rollup_pss(pid: int) -> int | None:
    """PSS in bytes from /proc/<pid>/smaps_rollup (~0.05-0.5 ms; the full smaps psutil
    reads costs ~30 times more); None where the file cannot be read; NoSuchProcess when the
    process is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        if not psutil.pid_exists(pid):
            raise psutil.NoSuchProcess(pid) from None
    except (OSError, ValueError):
        pass
    return None


def process_memory(pid: int | None = None, *, pss: bool = True) -> tuple[int, int, int]:
    """(PSS, RSS, VMS) in bytes of a process; PSS falls back to RSS where unavailable, and
    is 0 unless ``pss`` (reading it walks the process's page tables)."""
    proc = psutil.Process(pid) if pid else psutil.Process()
    info = proc.memory_info()
    if not pss:
        return 0, int(info.rss), int(info.vms)
    value = rollup_pss(proc.pid)
    if value is not None:
        return value, int(info.rss), int(info.vms)
    try:
        full = proc.memory_full_info()
        return int(getattr(full, "pss", full.rss)), int(full.rss), int(full.vms)
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return int(info.rss), int(info.rss), int(info.vms)


@dataclass
class DeviceMetrics:
    """Counters of one device; CPU/wall in seconds, bytes, rows."""

    name: str
    wagon_id: int | None = None
    workflow: str = ""
    cpu: float = 0.0
    wall: float = 0.0
    calls: int = 0
    rows: int = 0
    bytes_compressed: int = 0
    bytes_uncompressed: int = 0
    output_bytes: int = 0
    conditions_calls: int = 0  # calls that reached the conditions database (not the cache)
    dataframes_skipped: int = 0  # dataframes its filters ruled out before it ran
    pid: int = field(default_factory=os.getpid)
    files_read: list[str] = field(default_factory=list)
    series: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    _cpu_reported: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, cpu: float, wall: float, rows: int = 0) -> None:
        with self._lock:
            self.cpu += cpu
            self.wall += wall
            self.calls += 1
            self.rows += rows

    def record(self, metric: str, timestamp: float, value: Any) -> None:
        self.series.setdefault(metric, []).append((timestamp, str(value)))

    def take_cpu_delta(self) -> float:
        with self._lock:
            delta = self.cpu - self._cpu_reported
            self._cpu_reported = self.cpu
        return delta

    def pss_values(self) -> list[float]:
        """The PSS samples in bytes (the series holds kB, as O2's files)."""
        return [kib_to_bytes(v) for _, v in self.series.get("proportionalSetSize", [])]

    def to_state(self) -> dict[str, Any]:
        """Picklable snapshot (devices in other processes send this back)."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DeviceMetrics:
        m = cls(name=state["name"])
        for k, v in state.items():
            setattr(m, k, v)
        return m


class Timer:
    """Measure CPU (this thread) and wall time of a block into a DeviceMetrics."""

    __slots__ = ("metrics", "rows", "_cpu", "_wall")

    def __init__(self, metrics: DeviceMetrics, rows: int = 0) -> None:
        self.metrics = metrics
        self.rows = rows

    def __enter__(self) -> Timer:
        self._cpu = time.thread_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.metrics.add(
            time.thread_time() - self._cpu, time.perf_counter() - self._wall, self.rows
        )


class Sampler:
    """Samples CPU deltas and process memory of devices every ``interval`` seconds.

    RSS and virtual size are read every time (/proc statm: cheap); PSS needs the kernel to
    walk each process's page tables (/proc smaps_rollup, 0.05 ms for a small process, more
    with large mapped dataframes), so it is sampled at most as often as keeps that walk below
    ``PSS_BUDGET`` of one core (and always at the start and end of the run). A device whose
    process has ended (or not yet started) gets no memory sample at that time. Past
    ``SPAN_SAMPLES`` intervals the interval grows with the run's age (``next_wait``): a
    two-hour job keeps about 3,500 samples per device instead of 72,000."""

    PSS_BUDGET = 0.05  # of one core
    SPAN_SAMPLES = 600

    def __init__(self, devices: Iterable[DeviceMetrics], interval: float | None = None) -> None:
        self.devices = list(devices)
        self.interval = interval if interval else sample_interval()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-sampler", daemon=True)
        self._pss_due = 0.0
        self._t0 = time.monotonic()

    def start(self) -> Sampler:
        self._t0 = time.monotonic()
        self.sample(pss=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample(pss=True)

    def next_wait(self) -> float:
        """Seconds to the next sample: the interval, stretched on long runs so that a run
        keeps about ``SPAN_SAMPLES`` samples per span of its age (a test of seconds gets a
        sample every interval, a job of hours one every few seconds: files stay small)."""
        return max(self.interval, (time.monotonic() - self._t0) / self.SPAN_SAMPLES)

    def _run(self) -> None:
        while not self._stop.wait(self.next_wait()):
            self.sample()

    def sample(self, pss: bool | None = None) -> None:
        now = time.time()
        if pss is None:
            pss = now >= self._pss_due
        t0 = time.thread_time()  # CPU the reads cost (not the waits of a busy machine)
        memory: dict[int, tuple[int, int, int] | None] = {}
        for dev in self.devices:
            if dev.pid not in memory:
                try:
                    memory[dev.pid] = process_memory(dev.pid, pss=pss)
                except psutil.NoSuchProcess:
                    memory[dev.pid] = None
                if memory[dev.pid] is not None and memory[dev.pid][1] == 0:
                    memory[dev.pid] = None  # a zombie: ended, nothing mapped any more
        if pss:
            cost = time.thread_time() - t0
            self._pss_due = now + max(self.interval, cost / self.PSS_BUDGET) * 0.999
        stamp = int(now * 1000)
        for dev in self.devices:
            dev.record("cpuUsedAbsolute", stamp, int(dev.take_cpu_delta() * 1e6))
            mem = memory[dev.pid]
            if mem is not None:
                pss_b, rss, vms = mem
                if pss:
                    dev.record("proportionalSetSize", stamp, pss_b // 1024)
                dev.record("residentSetSize", stamp, rss // 1024)
                dev.record("virtualMemorySize", stamp, vms // 1024)
            if dev.bytes_compressed:
                dev.record("aod-bytes-read-compressed", stamp, dev.bytes_compressed)
                dev.record("aod-bytes-read-uncompressed", stamp, dev.bytes_uncompressed)


def performance_metrics(
    devices: Iterable[DeviceMetrics], driver: dict[str, Any] | None = None
) -> dict:
    """The ``performanceMetrics.json`` object: device -> metric -> [{timestamp, value}]."""
    out: dict[str, Any] = {}
    for dev in devices:
        out[dev.name] = {
            metric: [{"timestamp": ts, "value": value} for ts, value in points]
            for metric, points in dev.series.items()
        }
        if dev.conditions_calls:
            stamp = int(time.time() * 1000)
            out[dev.name]["ccdb-fetch-count"] = [
                {"timestamp": stamp, "value": str(dev.conditions_calls)}
            ]
        if dev.files_read:
            out[dev.name]["aod-file-read-info"] = [
                {"timestamp": 0, "value": f} for f in dev.files_read
            ]
    out["driver"] = driver or {}
    return out


def _pss_summary(dev: DeviceMetrics) -> dict[str, float]:
    values = dev.pss_values()
    if not values:
        return {"avg": 0.0, "max": 0.0}
    return {"avg": sum(values) / len(values), "max": max(values)}


def metrics_summary(
    devices: list[DeviceMetrics],
    *,
    wall: float,
    n_input_files: int,
    job_id: str = "",
    site: str = "local",
    start_time: float = 0.0,
) -> dict[str, Any]:
    """``metrics_summary.json``: per workflow, reader, writer, and ``__full_train__``."""
    out: dict[str, Any] = {}
    reader = [d for d in devices if d.name.startswith(READER)]
    writer = [d for d in devices if d.name in (WRITER, SINK)]
    tasks = [d for d in devices if d not in reader and d not in writer]

    def merged(name: str, devs: list[DeviceMetrics], wagon_id: int | None = None) -> dict:
        # memory is per process: devices sharing one (the writer and the sink, copies in
        # one worker) count it once
        once = list({d.pid: d for d in devs}.values())
        avg = sum(_pss_summary(d)["avg"] for d in once)
        mx = sum(_pss_summary(d)["max"] for d in once)
        return {
            "wagon_id": wagon_id,
            "cpu": sum(d.cpu for d in devs),
            "wall": sum(d.wall for d in devs),
            "proportionalSetSize_summary": {"avg": avg, "max": mx},
            "conditions-calls": sum(d.conditions_calls for d in devs),
        }

    by_workflow: dict[str, list[DeviceMetrics]] = {}
    for dev in tasks:
        by_workflow.setdefault(dev.workflow or dev.name, []).append(dev)
    for wf, devs in by_workflow.items():
        out[wf] = merged(wf, devs, devs[0].wagon_id)
    out["reader"] = merged("reader", reader)
    out["writer"] = merged("writer", writer)
    # the whole train's memory is that of its processes, counted once each
    pids: dict[int, DeviceMetrics] = {}
    for dev in devices:
        pids.setdefault(dev.pid, dev)
    pss = [_pss_summary(d) for d in pids.values()]
    out["__full_train__"] = {
        "cpu": sum(d.cpu for d in devices),
        "wall": wall,
        "proportionalSetSize_summary": {
            "avg": sum(p["avg"] for p in pss),
            "max": sum(p["max"] for p in pss),
        },
        "number_of_input_files": n_input_files,
        "conditions-calls": sum(d.conditions_calls for d in devices),
        "aod-bytes-read-compressed": sum(d.bytes_compressed for d in reader),
        "aod-bytes-read-uncompressed": sum(d.bytes_uncompressed for d in reader),
        "host_name": socket.gethostname(),
        "job_id": job_id,
        "start_time": start_time,
        "site": site,
    }
    return out
