"""Never a log storm: a submitted train whose dataset lists a file outside the storage roots
(a root removed after the files were imported) is not split; the scheduler flags it once,
tells the operators which file, and does not try again on every tick."""

from __future__ import annotations

import json
import time

import pytest
from tests.e2e.system import System


@pytest.mark.slow
def test_a_train_over_a_file_outside_the_roots_is_flagged_once_naming_the_file(
    system: System,
):
    wagon = system.wagon("gt-pt")
    train = system.train([wagon], submit=False)
    system.wait_train(train, ("test_done", "test_warning"))
    # the operator narrows the storage roots: the dataset's files are now outside them
    system.stop("scheduler")
    elsewhere = system.root / "elsewhere"
    elsewhere.mkdir()
    system.env["HYPERLOOP_STORAGE_ROOTS"] = json.dumps([str(elsewhere)])
    system.start("scheduler")
    with system.client("admin") as c:
        assert c.post(f"/api/train-runs/{train}/submit").status_code == 200

    def notice() -> list[str]:
        items = system.get("/api/notifications?limit=100")["items"]
        return [n["message"] for n in items if f"train {train}:" in n["message"]]

    messages = system.wait_for("the train-issues notice", notice, timeout=120)
    assert len(messages) == 1, messages
    assert "cannot be split into jobs" in messages[0]
    assert system.files[0] in messages[0] and "not under a storage root" in messages[0], messages[0]
    time.sleep(3)  # ten ticks more: no second notice, no error logged on every tick
    assert len(notice()) == 1
    # one decision (in the decision log) and one notice, not a line on every tick
    lines = [ln for ln in system.log("scheduler").splitlines() if "cannot be split" in ln]
    assert len([ln for ln in lines if "decision=FlagTrainWithIssues" in ln]) == 1, lines
    assert len(lines) <= 2, lines
    log = system.log("scheduler")
    assert log.count("decision=SplitTrain") == 1  # decided once, refused once: not retried
    assert "Traceback" not in log and "instruction SplitTrain" not in log  # never an error
    assert system.get(f"/api/train-runs/{train}")["state"] == "submitted"
    assert system.get(f"/api/jobs?train_run_id={train}")["items"] == []
