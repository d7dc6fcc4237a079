"""CO2-equivalent estimates (issue 18 item 13, the original's "CO2 equivalent estimates"):
on Train Submission per wagon from its test, their total and per composed train, with the
comparison with flights Geneva–New York; the factors in one place (``core.co2``)."""

from __future__ import annotations

from sqlalchemy import update
from tests.factories import ApiWorld

from hyperloop.core import co2
from hyperloop.db.models import TrainRun, WagonTest
from hyperloop.db.session import make_engine


def expected(cpu_hours: float) -> dict:
    cpu_s = cpu_hours * 3600.0
    return {
        "expected": {
            "scale": 1000.0,
            "cpu_seconds": cpu_s,
            "wall_seconds": cpu_s,
            "output_bytes": 1e9,
            "jobs": 10,
            "co2_kg": co2.co2_kg(cpu_hours),
            "memory_class": "single-core",
        }
    }


def test_factors_follow_the_original() -> None:
    assert round(co2.co2_kg(1e6)) == 6020  # "6 t per million CPU hours" (20 W x 0.301)
    assert round(co2.FACTORS["kg_per_cpu_year"], 1) == 52.8
    assert co2.flights_text(2400.0) == "≈ 2.4 flights Geneva–New York"
    assert co2.flights_text(60.0) == "≈ 0.06 flights Geneva–New York"
    assert co2.flights_text(1000.0) == "≈ 1 flight Geneva–New York"
    assert co2.flights_text(8.6e-7) == "< 0.01 flights Geneva–New York"  # a test's share


def test_train_submission_shows_the_estimates_with_flights(as_role, world: ApiWorld) -> None:
    engine = make_engine(world.url)
    with engine.begin() as conn:  # the tests' extrapolations, as the scheduler records them
        for wagon, hours in (
            (world.ids["wagon"], 100_000.0),
            (world.ids["spare_wagon"], 300_000.0),
        ):
            conn.execute(
                update(WagonTest)
                .where(WagonTest.wagon_id == wagon, WagonTest.dataset_id == world.ids["dataset"])
                .values(metrics=expected(hours))
            )
        conn.execute(
            update(TrainRun)
            .where(TrainRun.id == world.ids["train"])
            .values(test_metrics=expected(50_000.0))
        )
    engine.dispose()
    oscar = as_role("operator")
    view = oscar.get(
        "/api/train-runs/submission", params={"dataset_id": world.ids["dataset"], "show_all": True}
    ).json()
    c = view["co2"]
    assert c["factors"]["watts_per_core"] == 20.0 and c["factors"]["kg_per_kwh"] == 0.301
    by_name = {w["name"]: w for w in c["wagons"]}
    spare = by_name["spare"]
    assert round(spare["co2_kg"]) == 1806  # 300 000 CPU hours x 6.02 kg per 1000 h
    assert spare["flights_text"] == "≈ 1.8 flights Geneva–New York"
    compatible = [w for w in c["wagons"] if w["compatible"] and w["co2_kg"] is not None]
    assert c["compatible_total"]["wagons"] == len(compatible)
    assert round(c["compatible_total"]["co2_kg"], 6) == round(
        sum(w["co2_kg"] for w in compatible), 6
    )
    [train] = [t for t in c["trains"] if t["id"] == world.ids["train"]]
    assert (
        round(train["co2_kg"]) == 301 and train["flights_text"] == "≈ 0.3 flights Geneva–New York"
    )

    page = oscar.get(
        "/train-submission", params={"dataset_id": world.ids["dataset"], "show_all": "true"}
    ).text
    assert 'id="co2-estimates"' in page
    assert "1806.00 kg" in page and "≈ 1.8 flights Geneva–New York" in page
    assert f"train run {world.ids['train']}</a>: 301.00 kg" in page
    overview = oscar.get(f"/train-run/{world.ids['train']}?tab=test").text
    assert "(≈ 0.3 flights Geneva–New York)" in overview
