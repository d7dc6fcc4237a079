"""CO2-equivalent estimates on Train Submission (the original's "estimate based on the wagon
test"): per enabled wagon from its current test's extrapolation to the whole dataset, the
total of the compatible wagons, and per composed train from its train test. Factors and the
flight comparison come from ``hyperloop.core.co2``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core import co2
from hyperloop.db.models import TrainRun, WagonTest


def _cpu_seconds(column: Any) -> Any:
    """The expected CPU seconds inside a test's metrics (JSON path; the metrics themselves,
    large, are not loaded)."""
    return column[("expected", "cpu_seconds")].as_float()


def submission_co2(
    s: Session, dataset_id: int, wagons: list[dict[str, Any]], train_ids: list[int]
) -> dict[str, Any]:
    """``wagons``: the submission view's wagon rows (wagon_id, name, analysis, compatible,
    test_id); ``train_ids``: the composed trains shown."""
    test_ids = [w["test_id"] for w in wagons if w.get("test_id")]
    cpu_of_test = (
        dict(
            s.execute(
                select(WagonTest.id, _cpu_seconds(WagonTest.metrics)).where(
                    WagonTest.id.in_(test_ids)
                )
            ).all()
        )
        if test_ids
        else {}
    )
    rows = []
    for w in wagons:
        cpu = cpu_of_test.get(w.get("test_id"))
        rows.append(
            {
                "wagon_id": w["wagon_id"],
                "name": w["name"],
                "analysis": w["analysis"],
                "compatible": w["compatible"],
                **co2.estimate(cpu),
            }
        )
    known = [r for r in rows if r["compatible"] and r["co2_kg"] is not None]
    total_cpu = sum(r["cpu_hours"] for r in known) * 3600.0 if known else None
    cpu_of_train = (
        dict(
            s.execute(
                select(TrainRun.id, _cpu_seconds(TrainRun.test_metrics)).where(
                    TrainRun.id.in_(train_ids), TrainRun.dataset_id == dataset_id
                )
            ).all()
        )
        if train_ids
        else {}
    )
    return {
        "factors": dict(co2.FACTORS),
        "wagons": rows,
        "compatible_total": {"wagons": len(known), **co2.estimate(total_cpu)},
        "trains": [{"id": t, **co2.estimate(cpu_of_train.get(t))} for t in train_ids],
    }
