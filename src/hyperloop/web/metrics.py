"""Request latency of this server process, and the Prometheus text format of
``GET /api/metrics`` (format 0.0.4: ``# HELP``, ``# TYPE``, one sample a line)."""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from hyperloop.readmodels.metrics import SystemFigures

#: upper bounds (seconds) of the latency histogram's buckets
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Latencies:
    """Per (method, route template): a cumulative histogram of request durations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], list[float]] = {}  # counts..., sum, count

    def observe(self, method: str, route: str, seconds: float) -> None:
        with self._lock:
            row = self._series.setdefault((method, route), [0.0] * (len(BUCKETS) + 2))
            bucket = bisect_left(BUCKETS, seconds)  # len(BUCKETS): only in +Inf (the count)
            if bucket < len(BUCKETS):
                row[bucket] += 1
            row[-2] += seconds
            row[-1] += 1

    def snapshot(self) -> dict[tuple[str, str], list[float]]:
        with self._lock:
            return {k: list(v) for k, v in self._series.items()}


class LatencyMiddleware:
    """ASGI middleware: the duration of every HTTP request, under its route template
    (``/api/train-runs/{train_id}``; ``unmatched`` for paths no route matched)."""

    def __init__(self, app: Any, latencies: Latencies) -> None:
        self.app = app
        self.latencies = latencies

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = _template(scope) if scope.get("route") is not None else "unmatched"
            self.latencies.observe(scope.get("method", "GET"), route, time.perf_counter() - t0)


def _template(scope: dict) -> str:
    """The request's path with each path parameter's segment named (``/api/jobs/{job_id}``):
    few series per route, whatever the ids."""
    names = {str(v): k for k, v in (scope.get("path_params") or {}).items()}
    parts = str(scope.get("path", "")).split("/")
    return "/".join(f"{{{names[p]}}}" if p in names else p for p in parts)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def render(figures: SystemFigures, latencies: Latencies) -> str:
    """The Prometheus text exposition of the figures and this process's latencies."""
    out: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{labels} {_num(v)}" for labels, v in samples)

    metric(
        "hyperloop_jobs",
        "gauge",
        "Jobs of the scheduled train runs (submitted, running, merging) by state.",
        ((f'{{state="{st}"}}', n) for st, n in sorted(figures.jobs.items())),
    )
    metric(
        "hyperloop_trains",
        "gauge",
        "Train runs the scheduler drives, by state.",
        ((f'{{state="{st}"}}', n) for st, n in sorted(figures.trains.items())),
    )
    metric(
        "hyperloop_merge_backlog_runs",
        "gauge",
        "Runs whose jobs are all done and whose merge is not recorded done yet.",
        [("", figures.merge_backlog)],
    )
    metric(
        "hyperloop_scheduler_up",
        "gauge",
        "1 when a scheduler holds an unexpired lease, else 0.",
        [("", 1 if figures.scheduler_up else 0)],
    )
    if figures.tick_s is not None:
        metric(
            "hyperloop_scheduler_tick_seconds",
            "gauge",
            "Duration of the active scheduler's last step (stored with each lease renewal).",
            [("", figures.tick_s)],
        )
        metric(
            "hyperloop_scheduler_tick_age_seconds",
            "gauge",
            "Seconds since the active scheduler's last stored step ended.",
            [("", max(0.0, figures.tick_age_s or 0.0))],
        )
    name = "hyperloop_api_request_duration_seconds"
    out.append(f"# HELP {name} Duration of the HTTP requests this server process answered.")
    out.append(f"# TYPE {name} histogram")
    for (method, route), row in sorted(latencies.snapshot().items()):
        base = f'method="{_escape(method)}",route="{_escape(route)}"'
        cumulative = 0.0
        for bound, n in zip(BUCKETS, row, strict=False):
            cumulative += n
            out.append(f'{name}_bucket{{{base},le="{bound}"}} {_num(cumulative)}')
        out.append(f'{name}_bucket{{{base},le="+Inf"}} {_num(row[-1])}')
        out.append(f"{name}_sum{{{base}}} {_num(row[-2])}")
        out.append(f"{name}_count{{{base}}} {_num(row[-1])}")
    return "\n".join(out) + "\n"
