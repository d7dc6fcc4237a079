"""Performance graphs: a ``performanceMetrics.json`` (ours or a real O2 one) as graph data.

:func:`performance_graphs_data` feeds the page (``/performance-graphs``), its JSON endpoint
(``POST /api/performance-graphs``) and the wagon and train test results: per device and
metric the time series (seconds since the first sample), per metric the devices ranked
largest first, and a per-device summary (CPU seconds, max/avg PSS, bytes read, throughput).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from hyperloop.core.errors import DomainError
from hyperloop.units import KIB, MB

CPU = "cpuUsedAbsolute"
PSS = "proportionalSetSize"
BYTES_READ = "aod-bytes-read-compressed"

# metric -> (unit shown, factor applied to the raw value, how devices are ranked)
METRIC_UNITS: dict[str, tuple[str, float, str]] = {
    CPU: ("CPU s per interval", 1e-6, "sum"),
    "cpuUsedPercentage": ("%", 1.0, "max"),
    # memory: kB of 1024 bytes in the file, MB of 10^6 bytes shown (hyperloop.units)
    PSS: ("MB", KIB / MB, "max"),
    "residentSetSize": ("MB", KIB / MB, "max"),
    "virtualMemorySize": ("MB", KIB / MB, "max"),
    BYTES_READ: ("MB (cumulative)", 1 / MB, "max"),
    "aod-bytes-read-uncompressed": ("MB (cumulative)", 1 / MB, "max"),
}
DEFAULT_METRIC = PSS
TOP_N = 10
MAX_POINTS = 1000  # per device and metric sent to the browser (peaks kept)
SIGNIFICANT_DIGITS = 6


class PerformanceMetricsError(DomainError):
    """The file is not a performanceMetrics.json (message says what is wrong)."""

    code = "bad_metrics_file"
    status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.details = None  # type: ignore[assignment]  # the error body says null, as it did


def _series(points: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(timestamps, values) of one metric as floats, or None if it is not numeric."""
    if not isinstance(points, list) or not points:
        return None
    try:
        ts = np.array([p["timestamp"] for p in points], dtype=np.float64)
        vals = np.array([p["value"] for p in points], dtype=np.float64)
    except (TypeError, KeyError, ValueError):
        return None
    order = np.argsort(ts, kind="stable")
    return ts[order], vals[order]


def downsample(t: np.ndarray, v: np.ndarray, max_points: int = MAX_POINTS):
    """At most ``max_points`` points: consecutive buckets, each the bucket's first time and
    its maximum value (so memory peaks and CPU bursts stay visible)."""
    if len(t) <= max_points:
        return t, v
    starts = np.linspace(0, len(t), max_points, endpoint=False).astype(np.int64)
    return t[starts], np.maximum.reduceat(v, starts)


def _rounded(v: np.ndarray) -> list[float]:
    """Values rounded to SIGNIFICANT_DIGITS of the series' largest value (smaller JSON)."""
    top = float(np.max(np.abs(v))) if v.size else 0.0
    if top == 0.0 or not np.isfinite(top):
        return v.tolist()
    decimals = max(0, SIGNIFICANT_DIGITS - 1 - int(np.floor(np.log10(top))))
    return np.round(v, decimals).tolist()


def _device_series(doc: Mapping[str, Any]) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    devices: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for device, metrics in doc.items():
        if not isinstance(metrics, Mapping):
            continue  # e.g. our "driver": {"wall": ...} summary
        numeric = {}
        for metric, points in metrics.items():
            s = _series(points)
            if s is not None:
                numeric[metric] = s
        if numeric:
            devices[str(device)] = numeric
    return devices


def _load(metrics_json: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(metrics_json, str | bytes):
        try:
            metrics_json = json.loads(metrics_json)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PerformanceMetricsError(
                f"performanceMetrics.json is not valid JSON: {exc}"
            ) from None
    if not isinstance(metrics_json, Mapping):
        raise PerformanceMetricsError(
            "performanceMetrics.json must be an object {device: {metric: [{timestamp, value}]}}, "
            f"got a JSON {type(metrics_json).__name__}"
        )
    return metrics_json


def _summary(name: str, metrics: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    all_ts = np.concatenate([ts for ts, _ in metrics.values()])
    wall = float((all_ts.max() - all_ts.min()) / 1000.0) if all_ts.size else 0.0
    row: dict[str, Any] = {"device": name, "wall_s": wall, "samples": int(all_ts.size)}
    row["cpu_s"] = float(metrics[CPU][1].sum() * 1e-6) if CPU in metrics else None
    if PSS in metrics:
        pss = metrics[PSS][1] * float(KIB)  # kB in the file, bytes from here on
        row["pss_max_bytes"], row["pss_avg_bytes"] = float(pss.max()), float(pss.mean())
    else:  # no sample (a device done before the first one): 0, as metrics_summary.json says
        row["pss_max_bytes"] = row["pss_avg_bytes"] = 0.0
    if BYTES_READ in metrics and metrics[BYTES_READ][1].size:
        ts, vals = metrics[BYTES_READ]
        read = float(vals.max())
        row["bytes_read"] = read
        span = float((ts.max() - all_ts.min()) / 1000.0)
        row["throughput_bytes_per_s"] = read / span if span > 0 and read > 0 else None
    else:
        row["bytes_read"] = row["throughput_bytes_per_s"] = None
    return row


def performance_graphs_data(metrics_json: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    """Graph data of a performanceMetrics.json: series, rankings (largest first), summaries.

    Returns ``{"start": epoch s, "metrics": [{name, unit, ranking}], "default_metric",
    "top_n", "series": {metric: {device: {"t": [s], "v": [scaled]}}}, "devices": [summary]}``.
    Raises PerformanceMetricsError when the content has no numeric metric series.
    """
    devices = _device_series(_load(metrics_json))
    if not devices:
        raise PerformanceMetricsError(
            "performanceMetrics.json has no device with numeric metric series "
            '(expected {device: {metric: [{"timestamp": ..., "value": "..."}]}})'
        )
    start = min(float(ts.min()) for m in devices.values() for ts, _ in m.values())
    series: dict[str, dict[str, dict[str, list[float]]]] = {}
    scores: dict[str, dict[str, float]] = {}
    for device, metrics in devices.items():
        for metric, (ts, vals) in metrics.items():
            _unit, factor, how = METRIC_UNITS.get(metric, ("", 1.0, "max"))
            scaled = vals * factor
            t_shown, v_shown = downsample((ts - start) / 1000.0, scaled)
            series.setdefault(metric, {})[device] = {
                "t": np.round(t_shown, 3).tolist(),
                "v": _rounded(v_shown),
            }
            score = float(scaled.sum() if how == "sum" else scaled.max())
            scores.setdefault(metric, {})[device] = score
    names = sorted(
        series,
        key=lambda m: (
            m not in METRIC_UNITS,
            list(METRIC_UNITS).index(m) if m in METRIC_UNITS else 0,
            m,
        ),
    )
    metrics_out = [
        {
            "name": metric,
            "unit": METRIC_UNITS.get(metric, ("",))[0],
            "ranking": sorted(scores[metric], key=lambda d, m=metric: (-scores[m][d], d)),
        }
        for metric in names
    ]
    summaries = [_summary(name, m) for name, m in devices.items()]
    summaries.sort(key=lambda r: (-(r["pss_max_bytes"] or 0.0), r["device"]))
    return {
        "start": start / 1000.0,
        "metrics": metrics_out,
        "default_metric": DEFAULT_METRIC if DEFAULT_METRIC in series else names[0],
        "top_n": TOP_N,
        "series": series,
        "devices": summaries,
    }
