"""Wagon test failures: notifications for the analysis, e-mails by its policy; CO2 helper."""

from __future__ import annotations

import pytest
from tests.factories import make_world

from hyperloop.core import analyses, enabling, wagons
from hyperloop.core.co2 import co2_kg
from hyperloop.core.notifications import list_notifications
from hyperloop.db.models import EmailOutbox
from hyperloop.enums import NotificationKind, TestStatus


def failed_test(w, policy):
    analyses.set_email_policy(w.s, w.actor(w.alice), w.lf.id, policy)
    wagon = wagons.create_wagon(w.s, w.actor(w.alice), w.lf.id, name="w", workflow="tree-maker")
    enabling.enable_wagon(w.s, w.actor(w.carol), wagon.id, w.dataset.id)
    test = enabling.current_test(w.s, wagon.id, w.dataset.id)
    enabling.finish_test(w.s, test.id, TestStatus.FAILED)
    return sorted(m.to_address for m in w.s.query(EmailOutbox))


@pytest.mark.parametrize(
    ("policy", "mails"),
    [
        ("none", []),
        ("all", ["alice@example.org", "carol@example.org"]),
        ("enabler", ["carol@example.org"]),
    ],
)
def test_email_policy_of_the_analysis(session, policy, mails):
    w = make_world(session)
    assert failed_test(w, policy) == mails
    assert [n.kind for n in list_notifications(session, w.alice)] == [NotificationKind.TEST_FAILED]


def test_a_failed_test_email_says_why_what_to_do_and_links_the_page_absolutely(session):
    w = make_world(session)
    analyses.set_email_policy(session, w.actor(w.alice), w.lf.id, "enabler")
    wagon = wagons.create_wagon(session, w.actor(w.alice), w.lf.id, name="w", workflow="tree-maker")
    enabling.enable_wagon(session, w.actor(w.carol), wagon.id, w.dataset.id)
    test = enabling.current_test(session, wagon.id, w.dataset.id)
    error = "execution (KeyError@tasks.py:42): KeyError: 'fPt'"
    enabling.finish_test(
        session,
        test.id,
        TestStatus.FAILED,
        metrics={"error": error},
        public_url="https://hyperloop.example/",
    )
    [m] = session.query(EmailOutbox).all()
    assert m.subject == f"[Hyperloop] wagon test {test.id} of wagon 'w' failed"
    assert f"failed: {error}." in m.body  # the reason
    assert "What to do: Open the test's page" in m.body
    assert m.body.endswith(f"Open: https://hyperloop.example/wagon-test/{test.id}\n")
    [n] = list_notifications(session, w.carol)
    assert error in n.message


def test_editing_a_dependency_relaunches_tests_of_wagons_using_it(session):
    w = make_world(session)
    dep = wagons.create_wagon(
        session, w.actor(w.alice), w.lf.id, name="ev", workflow="event-selection"
    )
    top = wagons.create_wagon(
        session,
        w.actor(w.alice),
        w.lf.id,
        name="top",
        workflow="spectra-charged",
        dependencies=[dep.id],
    )
    enabling.enable_wagon(session, w.actor(w.alice), top.id, w.dataset.id)
    first = enabling.current_test(session, top.id, w.dataset.id)
    enabling.finish_test(session, first.id, TestStatus.DONE)
    wagons.edit_wagon(
        session,
        w.actor(w.alice),
        dep.id,
        expected_version=dep.version,
        base_config={"event-selection": {"zMax": "7"}},
    )
    again = enabling.current_test(session, top.id, w.dataset.id)
    assert again.id != first.id and again.status is TestStatus.QUEUED
    assert first.superseded


def test_co2_estimate_matches_the_spec_figures():
    assert co2_kg(1e6) == pytest.approx(6020.0)  # ~6 t per million CPU hours
    assert co2_kg(24 * 365.25) == pytest.approx(52.8, abs=0.6)  # 1 CPU-year ~53 kg


def test_tests_not_composed_within_four_weeks_are_cleaned(session):
    from datetime import timedelta

    from hyperloop.db.base import utcnow
    from hyperloop.db.models import WagonDataset

    w = make_world(session)
    wagon = wagons.create_wagon(session, w.actor(w.alice), w.lf.id, name="w", workflow="tree-maker")
    row = enabling.enable_wagon(session, w.actor(w.alice), wagon.id, w.dataset.id)
    assert enabling.clean_stale_tests(session) == []
    row.enabled_at = utcnow() - timedelta(weeks=5)
    assert enabling.clean_stale_tests(session) == [row]
    assert not session.get(WagonDataset, row.id).enabled
    assert enabling.current_test(session, wagon.id, w.dataset.id) is None
    kinds = [n.kind for n in list_notifications(session, w.alice)]
    assert NotificationKind.WAGON_DISABLED in kinds


def test_a_queued_test_records_the_wagon_and_its_dependencies(session):
    w = make_world(session)
    dep = wagons.create_wagon(
        session, w.actor(w.alice), w.lf.id, name="ev", workflow="event-selection"
    )
    top = wagons.create_wagon(
        session,
        w.actor(w.alice),
        w.lf.id,
        name="top",
        workflow="spectra-charged",
        dependencies=[dep.id],
        subwagons={"hi": {"spectra-charged": {"etaMax": "0.3", "ptAxis": "inherit"}}},
    )
    assert top.subwagons == {"hi": {"spectra-charged": {"etaMax": "0.3"}}}
    enabling.enable_wagon(session, w.actor(w.alice), top.id, w.dataset.id)
    snap = enabling.current_test(session, top.id, w.dataset.id).config_snapshot
    assert snap["wagon"]["name"] == "top" and snap["wagon"]["subwagons"] == top.subwagons
    assert [d["name"] for d in snap["dependencies"]] == ["ev"]
