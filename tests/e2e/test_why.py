""" "Why am I waiting?" on the running system: wagon tests queued behind each other on the
one-slot test target, a done test waiting for an operator and then for the dataset's
composition slot, a train test waiting for its submission, and the done train and jobs; each
through ``/api/.../why`` (the sentence and the timeline of states and causes) and on the
wagon test, train and job pages."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from tests.e2e.system import COMPONENTS, System, running_system

pytestmark = pytest.mark.slow
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WITHOUT_SCHEDULER = tuple(c for c in COMPONENTS if c != "scheduler")


def _test_id(system: System, wagon_id: int) -> int:
    items = system.get(f"/api/wagons/{wagon_id}/tests", user="alice")["items"]
    return max(t["id"] for t in items)


def _why(system: System, path: str) -> dict:
    return system.get(f"/api/{path}/why", user="alice")


def _page_shows(system: System, path: str, reason: str) -> None:
    with system.client("alice") as c:
        r = c.get(path)
    assert r.status_code == 200, r.text[:500]
    assert "Why am I waiting?" in r.text
    assert reason in html.unescape(r.text), (reason, path)


def test_why_am_i_waiting_from_the_test_queue_to_the_done_train(tmp_path):
    with running_system(
        tmp_path / "s", start=WITHOUT_SCHEDULER, scheduler_max_running_tests=1
    ) as system:
        # no scheduler yet: three tests queue on the test target, which runs one at a time
        wagons = [system.wagon("gt-pt") for _ in range(3)]
        tests = [_test_id(system, w) for w in wagons]
        first = _why(system, f"wagon-tests/{tests[0]}")
        assert first["reason"] == (
            "a test slot is free on the 1-core test target 'small' (0 of 1 running): "
            "starts at the next scheduler tick"
        )
        third = _why(system, f"wagon-tests/{tests[2]}")
        assert third["reason"] == (
            "queued behind 2 tests on the 1-core test target 'small' (1 at a time); "
            "no finished test yet to estimate the wait"
        )
        assert third["waiting_for"] == "test-slot" and third["state"] == "queued"
        assert [s["state"] for s in third["timeline"]] == ["queued"]
        _page_shows(system, f"/wagon-test/{tests[2]}", third["reason"])

        system.start("scheduler")
        for w in wagons:
            assert system.wagon_test(w)["status"] == "done"
        # with finished tests, the queue has an estimate
        system.stop("scheduler")
        later = [system.wagon("gt-pt") for _ in range(2)]
        queued = _why(system, f"wagon-tests/{_test_id(system, later[1])}")
        assert re.fullmatch(
            r"queued behind 1 test on the 1-core test target 'small' \(1 at a time\), "
            r"expected start in ~\d+ min",
            queued["reason"],
        ), queued
        assert queued["expected_at"] is not None
        system.start("scheduler")

        done = _why(system, f"wagon-tests/{tests[0]}")
        assert done["reason"] == (
            "test done, waiting for an operator to compose a train "
            "(the dataset has no automatic composition)"
        )
        assert [s["state"] for s in done["timeline"]] == ["queued", "running", "done"]
        assert done["timeline"][1]["reason"].startswith("a test slot was free")

        # a composition schedule three days ahead: the done test waits for that slot
        day = (datetime.now(UTC) + timedelta(days=3)).weekday()
        with system.client("admin") as c:
            ds = c.get(f"/api/datasets/{system.dataset_id}").json()
            body = {
                "expected_version": ds["version"],
                "auto_compose": True,
                "auto_compose_type": "scheduled",
                "auto_compose_days": [day],
                "auto_compose_times": ["03:00"],
            }
            r = c.patch(f"/api/datasets/{system.dataset_id}", json=body)
            assert r.status_code == 200, r.text
        slot = _why(system, f"wagon-tests/{tests[0]}")
        assert slot["reason"] == f"test done, waiting for the {DAYS[day]} 03:00 composition slot"
        assert slot["waiting_for"] == "composition"
        _page_shows(system, f"/wagon-test/{tests[0]}", slot["reason"])

        # a train test done waits for an operator's submission
        train = system.train([wagons[0]], submit=False)
        system.wait_train(train, ("test_done",))
        waiting = _why(system, f"train-runs/{train}")
        assert waiting["reason"] == "train test done, waiting for an operator to submit it"
        assert [s["state"] for s in waiting["timeline"]] == ["composed", "testing", "test_done"]
        _page_shows(system, f"/train-run/{train}", waiting["reason"])
        in_train = _why(system, f"wagon-tests/{tests[0]}")
        assert in_train["reason"] == f"test done; in train run {train} (test done)"

        with system.client("admin") as c:
            assert c.post(f"/api/train-runs/{train}/submit").status_code == 200
        assert system.wait_train(train) == "done"
        assert _why(system, f"train-runs/{train}")["reason"] == "done: nothing to wait for"
        jobs = system.get(f"/api/jobs?train_run_id={train}")["items"]
        job = _why(system, f"jobs/{jobs[0]['id']}")
        assert job["reason"] == "done after 1 attempt: nothing to wait for"
        assert [s["state"] for s in job["timeline"]] == ["waiting", "running", "done"]
        assert job["timeline"][-1]["cause"] == "job-done"
        _page_shows(system, f"/job/{jobs[0]['id']}", job["reason"])

        with system.client("alice") as c:
            r = c.get("/api/jobs/999999/why")
        assert r.status_code == 404 and "job 999999" in r.text
