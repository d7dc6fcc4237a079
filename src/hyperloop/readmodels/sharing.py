"""What sharing saved, on a train's page and on the Dashboard (``core.sharing`` has the
formula): the CPU time, bytes read, CPU-years and CO2 a train saved against running its
wagons separately, per analysis and in total, extrapolated to the whole dataset."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core import sharing
from hyperloop.db.models import TrainRun
from hyperloop.enums import TrainState
from hyperloop.readmodels.train_results import train_test_folder
from hyperloop.readmodels.trains import FileRoots, Interval, dashboard_data


def _sample(train: TrainRun, root: FileRoots | None) -> dict[str, Any] | None:
    """The savings on the test sample: stored with the train test's metrics (``sharing``,
    since the scheduler records them), else computed from its stored per-device figures or
    from the test's ``metrics_summary.json`` when the test ran here."""
    metrics = train.test_metrics or {}
    if isinstance(metrics.get("sharing"), dict):
        return metrics["sharing"]
    devices = metrics.get("devices")
    if not isinstance(devices, dict):
        folder = train_test_folder(root, train.id)
        path = folder / "metrics_summary.json" if folder is not None else None
        if path is None or not path.is_file():
            return None
        try:
            devices = sharing.compact_devices(json.loads(path.read_text()))
        except (OSError, ValueError):
            return None
    return sharing.sample_savings(devices, train.wagons_snapshot or [])


def _scale(train: TrainRun) -> float:
    expected = (train.test_metrics or {}).get("expected") or {}
    return float(expected.get("scale") or 0.0)


def train_sharing(s: Session, train: TrainRun, root: FileRoots | None = None) -> dict[str, Any]:
    """A train's savings over the whole dataset (``available`` False, with the reason, when
    its test has no per-device figures yet)."""
    sample = _sample(train, root)
    wagons = len(train.wagons_snapshot or [])
    if sample is None:
        return {
            "train_id": train.id,
            "available": False,
            "wagons": wagons,
            "why": "the train test has not recorded per-device figures (yet)",
        }
    out = sharing.scaled(sample, _scale(train))
    return {
        "train_id": train.id,
        "available": True,
        "wagons": wagons,
        "why": "" if wagons > 1 else "a train of one wagon shares nothing",
        "sample": {
            "reader_cpu_s": sample.get("reader_cpu_s", 0.0),
            "train_cpu_s": sample.get("train_cpu_s", 0.0),
            "separate_cpu_s": sample.get("separate_cpu_s", 0.0),
            "bytes_read": sample.get("bytes_read", 0.0),
        },
        **out,
    }


def dashboard_sharing(s: Session, lo: datetime, hi: datetime) -> dict[str, Any]:
    """What the trains done in ``[lo, hi)`` saved together: totals and per analysis."""
    rows = s.execute(
        select(TrainRun.test_metrics).where(
            TrainRun.finished_at >= lo,
            TrainRun.finished_at < hi,
            TrainRun.state == TrainState.DONE,
        )
    ).scalars()
    total = {"cpu_s": 0.0, "cpu_years": 0.0, "bytes": 0.0, "co2_kg": 0.0}
    analyses: dict[Any, dict[str, Any]] = {}
    trains = 0
    for metrics in rows:
        sample = (metrics or {}).get("sharing")
        if not isinstance(sample, dict):
            continue
        trains += 1
        scale = float(((metrics or {}).get("expected") or {}).get("scale") or 0.0)
        out = sharing.scaled(sample, scale)
        for k in total:
            total[k] += out["total"][k]
        for a in out["analyses"]:
            row = analyses.setdefault(
                a["analysis_id"],
                {
                    "analysis_id": a["analysis_id"],
                    "analysis": a["analysis"],
                    "trains": 0,
                    "cpu_s": 0.0,
                    "cpu_years": 0.0,
                    "bytes": 0.0,
                    "co2_kg": 0.0,
                },  # fmt: skip
            )
            row["trains"] += 1
            for k in ("cpu_s", "cpu_years", "bytes", "co2_kg"):
                row[k] += a[k]
    return {
        "trains": trains,
        "total": total,
        "analyses": sorted(analyses.values(), key=lambda a: (-a["cpu_s"], str(a["analysis"]))),
    }


def dashboard_with_sharing(s: Session, interval: Interval, **options: Any) -> dict[str, Any]:
    """The Dashboard's data (``readmodels.trains.dashboard_data``) with what the trains done
    in the interval saved by sharing (``sharing``): the one data function of the Dashboard
    page and its JSON twin."""
    data = dashboard_data(s, interval, **options)
    data["sharing"] = dashboard_sharing(s, interval.start, interval.end)
    return data
