"""The Train Submission CO2 estimates read the tests' expected CPU inside their JSON metrics
(no metrics loaded): the same figures on both database backends."""

from __future__ import annotations

from tests.factories import make_world

from hyperloop.core import co2, enabling, wagons
from hyperloop.enums import TestStatus
from hyperloop.readmodels.train_submission import submission_view


def test_estimates_from_the_wagon_tests(session):
    w = make_world(session)
    alice = w.actor(w.alice)
    wagon = wagons.create_wagon(session, alice, w.lf.id, name="spectra", workflow="spectra-charged")
    enabling.enable_wagon(session, alice, wagon.id, w.dataset.id)
    test = enabling.current_test(session, wagon.id, w.dataset.id)
    metrics = {"expected": {"cpu_seconds": 20_000.0 * 3600.0}}
    enabling.finish_test(session, test.id, TestStatus.DONE, metrics=metrics)
    session.commit()
    view = submission_view(session, w.actor(w.operator), w.dataset.id)
    [row] = view["co2"]["wagons"]
    assert row["name"] == "spectra"
    assert row["cpu_hours"] == 20_000.0
    assert row["co2_kg"] == co2.co2_kg(20_000.0)
    assert row["flights_text"] == "≈ 0.12 flights Geneva–New York"
    assert view["co2"]["compatible_total"]["co2_kg"] == row["co2_kg"]
