"""Measured metrics per device, in the O2 ``performanceMetrics.json`` layout (SPEC §10).

Each device (the reader, every task instance, the writer) accumulates the CPU and wall
time of its own work; a sampler thread records, once per interval, the CPU used by each
device since the previous sample (``cpuUsedAbsolute``, microseconds) and the memory of the
process hosting it (``proportionalSetSize`` in kB, read from /proc smaps via psutil).
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

READER = "internal-dpl-aod-reader"
WRITER = "internal-dpl-aod-writer"
SINK = "internal-dpl-aod-global-analysis-file-sink"


def process_memory(pid: int | None = None, *, pss: bool = True) -> tuple[int, int, int]:
    """(PSS, RSS, VMS) in bytes of a process; PSS falls back to RSS where unavailable, and
    is 0 unless ``pss`` (reading it walks the process's page tables)."""
    proc = psutil.Process(pid) if pid else psutil.Process()
    if not pss:
        info = proc.memory_info()
        return 0, int(info.rss), int(info.vms)
    try:
        info = proc.memory_full_info()
        pss = getattr(info, "pss", info.rss)
        return int(pss), int(info.rss), int(info.vms)
    except (psutil.AccessDenied, psutil.ZombieProcess):
        info = proc.memory_info()
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
        return [float(v) * 1024 for _, v in self.series.get("proportionalSetSize", [])]

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
    walk each process's page tables (/proc smaps_rollup, ~1 ms per device process with
    mapped dataframes), so it is sampled at most as often as keeps that walk below
    ``PSS_BUDGET`` of one core (and always at the start and end of the run)."""

    PSS_BUDGET = 0.005

    def __init__(self, devices: Iterable[DeviceMetrics], interval: float = 1.0) -> None:
        self.devices = list(devices)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-sampler", daemon=True)
        self._pss_due = 0.0

    def start(self) -> Sampler:
        self.sample(pss=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample(pss=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self, pss: bool | None = None) -> None:
        now = time.time()
        if pss is None:
            pss = now >= self._pss_due
        t0 = time.perf_counter()
        memory: dict[int, tuple[int, int, int]] = {}
        for dev in self.devices:
            if dev.pid not in memory:
                try:
                    memory[dev.pid] = process_memory(dev.pid, pss=pss)
                except psutil.NoSuchProcess:
                    memory[dev.pid] = (0, 0, 0)
        if pss:
            cost = time.perf_counter() - t0
            self._pss_due = now + max(self.interval, cost / self.PSS_BUDGET) * 0.999
        stamp = int(now * 1000)
        for dev in self.devices:
            pss_b, rss, vms = memory[dev.pid]
            dev.record("cpuUsedAbsolute", stamp, int(dev.take_cpu_delta() * 1e6))
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
        avg = sum(_pss_summary(d)["avg"] for d in devs)
        mx = sum(_pss_summary(d)["max"] for d in devs)
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
