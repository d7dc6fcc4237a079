"""What sharing saved, on the running system: a train of two wagons saves the reader's CPU
and the bytes read once over (the train test's per-device figures, extrapolated to the
dataset), shown on the train page and its API, and once done on the Dashboard."""

from __future__ import annotations

import html

import pytest
from tests.e2e.system import System

pytestmark = pytest.mark.slow


def _page(system: System, path: str) -> str:
    with system.client("alice") as c:
        r = c.get(path)
    assert r.status_code == 200, r.text[:500]
    return html.unescape(r.text)


def test_a_train_of_two_wagons_saves_the_second_read(system: System):
    pt, weighted = system.wagon("gt-pt"), system.wagon("gt-weighted")
    train = system.train([pt, weighted], submit=False)
    assert system.wait_train(train, ("test_done", "test_warning")) in ("test_done", "test_warning")

    saved = system.get(f"/api/train-runs/{train}/sharing", user="alice")
    assert saved["available"] and saved["wagons"] == 2
    sample, scale = saved["sample"], saved["scale"]
    assert sample["reader_cpu_s"] > 0 and sample["bytes_read"] > 0 and scale > 0
    # two wagons: the second one's read (reader CPU and bytes) is what the train saves
    assert saved["total"]["cpu_s"] == pytest.approx(sample["reader_cpu_s"] * scale)
    assert saved["total"]["bytes"] == pytest.approx(sample["bytes_read"] * scale)
    assert saved["separate_cpu_s"] - saved["train_cpu_s"] == pytest.approx(saved["total"]["cpu_s"])
    assert saved["total"]["cpu_years"] == pytest.approx(saved["total"]["cpu_s"] / (365.25 * 86400))
    assert saved["total"]["co2_kg"] > 0
    (analysis,) = saved["analyses"]
    assert analysis["analysis"] == "e2e-spectra" and analysis["wagons"] == 2
    assert analysis["cpu_s"] == pytest.approx(saved["total"]["cpu_s"])
    page = _page(system, f"/train-run/{train}")
    assert "What sharing saved" in page and "Against running its 2 wagons separately" in page

    # a train of one wagon shares nothing
    alone = system.train([system.wagon("gt-pt")], submit=False)
    system.wait_train(alone, ("test_done", "test_warning"))
    one = system.get(f"/api/train-runs/{alone}/sharing", user="alice")
    assert one["available"] and one["total"]["cpu_s"] == 0 and one["total"]["bytes"] == 0
    assert one["why"] == "a train of one wagon shares nothing"

    with system.client("admin") as c:
        assert c.post(f"/api/train-runs/{train}/submit").status_code == 200
    assert system.wait_train(train) == "done"
    board = system.get("/api/train-runs/dashboard?interval=day")["sharing"]
    assert board["trains"] == 1
    assert board["total"]["cpu_s"] == pytest.approx(saved["total"]["cpu_s"])
    assert board["total"]["bytes"] == pytest.approx(saved["total"]["bytes"])
    assert [a["analysis"] for a in board["analyses"]] == ["e2e-spectra"]
    page = _page(system, "/dashboard?interval=day")
    assert "What sharing saved" in page and "The 1 train done in this interval saved" in page
