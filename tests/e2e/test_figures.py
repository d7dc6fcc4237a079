"""Figures users decide on, on the running system: every number on a test's page equals
its metrics file, each wagon's memory is its own, the metrics draw a curve, and jobs
record the bytes they read (per job, per site, per train)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.system import System

from hyperloop.db.models import WagonTest
from hyperloop.readmodels.analyses import attempt_folder
from hyperloop.units import format_bytes

HOLD_MB = 300
THRESHOLDS = {"min_reduction_factor": 1, "wagon_test_memory_limit": 250e6}
SLOW = "0.4"  # seconds per dataframe: a test of about two seconds
HOLD = "1.0"  # the heavy wagon holds its memory for about 4 s after allocating it


def _page(system: System, path: str, user: str = "alice") -> str:
    with system.client(user) as c:
        r = c.get(path)
    assert r.status_code == 200, f"GET {path}: {r.status_code}"
    return html.unescape(r.text)


def _rows(page: str, table_id: str) -> dict[str, list[str]]:
    """Device -> its cells, from the table ``table_id`` of a page."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert table, f"no table {table_id} on the page"
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(0), re.S):
        head = re.search(r'<th scope="row"[^>]*>(.*?)</th>', row, re.S)
        if head:
            rows[head.group(1).strip()] = [
                c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            ]
    return rows


def _test_folder(system: System, test_id: int) -> Path:
    with system.sessions() as s:
        folder = attempt_folder(s.get(WagonTest, test_id).output_dir)
    assert folder is not None and (folder / "metrics_summary.json").is_file(), folder
    return folder


def _pss(entry: dict[str, Any]) -> tuple[float, float]:
    pss = entry["proportionalSetSize_summary"]
    return pss["avg"], pss["max"]


@pytest.mark.slow
def test_each_wagon_shows_its_own_memory_and_the_page_equals_the_file(system_factory):
    system: System = system_factory(scheduler_thresholds=THRESHOLDS)
    light = system.wagon("gt-pt", {"gt-pt": {"sleepPerDf": SLOW}})
    heavy = system.wagon("gt-hold", {"gt-hold": {"holdMb": str(HOLD_MB), "sleepPerDf": HOLD}})
    tests = {w: system.wagon_test(w) for w in (light, heavy)}
    summaries, metrics = {}, {}
    for wagon, test in tests.items():
        folder = _test_folder(system, test["id"])
        summaries[wagon] = json.loads((folder / "metrics_summary.json").read_text())
        metrics[wagon] = json.loads((folder / "performanceMetrics.json").read_text())

    # the heavy wagon's own process holds the 300 MB; the reader and writer do not
    # (its peak by the whole 300 MB; its average by most of it: the samples before and while
    # it allocates count too); the writer (the driver process) is below it too
    hold_avg, hold_max = _pss(summaries[heavy]["gt-hold"])
    for other in (summaries[heavy]["reader"], summaries[light]["gt-pt"]):
        avg, peak = _pss(other)
        assert hold_max - peak > 0.9 * HOLD_MB * 1e6, (summaries[heavy], summaries[light])
        assert hold_avg - avg > 0.6 * HOLD_MB * 1e6, (summaries[heavy], summaries[light])
    assert hold_avg > _pss(summaries[heavy]["writer"])[0] + 0.3 * HOLD_MB * 1e6
    assert _pss(summaries[light]["gt-pt"])[1] < 0.5 * HOLD_MB * 1e6, summaries[light]

    # ... and the memory warning names it, with the file's figure; the light one has none
    assert tests[heavy]["status"] == "warning", tests[heavy]
    with system.client("alice") as c:
        heavy_result = c.get(f"/api/wagons/{heavy}/tests/{tests[heavy]['id']}").json()
        light_result = c.get(f"/api/wagons/{light}/tests/{tests[light]['id']}").json()
    memory = next(w for w in heavy_result["warnings"] if w["code"] == "memory")
    assert f"largest: gt-hold {format_bytes(hold_avg)}" in memory["message"], memory
    assert not [w for w in light_result["warnings"] if w["code"].startswith("memory")]

    for wagon, result in ((heavy, heavy_result), (light, light_result)):
        summary = summaries[wagon]
        # the API gives the file's bytes
        assert (
            result["total"]["pss_avg_bytes"]
            == summary["__full_train__"]["proportionalSetSize_summary"]["avg"]
        )
        api_devices = {d["device"]: d for d in result["devices"]}
        page = _page(system, f"/wagon-test/{result['test']['id']}")
        shown = _rows(page, "device-metrics")
        assert set(shown) == set(api_devices) == {k for k in summary if k != "__full_train__"}
        for device, cells in shown.items():
            avg, peak = _pss(summary[device])
            assert (api_devices[device]["pss_avg_bytes"], api_devices[device]["pss_max_bytes"]) == (
                avg,
                peak,
            )
            assert cells[2:4] == [format_bytes(avg), format_bytes(peak)], (device, cells)
        # the test graphs' per-device figures (what the graph's legend and hover show)
        data = re.search(
            r'<script type="application/json" id="perf-data">(.*?)</script>', page, re.S
        )
        graphs = {d["device"]: d for d in json.loads(data.group(1))["devices"]}
        names = {"reader": "internal-dpl-aod-reader", "writer": "internal-dpl-aod-writer"}
        for name in (k for k in summary if k != "__full_train__"):
            avg, peak = _pss(summary[name])
            g = graphs[names.get(name, name)]
            assert [format_bytes(g["pss_avg_bytes"]), format_bytes(g["pss_max_bytes"])] == [
                format_bytes(avg),
                format_bytes(peak),
            ], (name, g)
        full_avg, full_max = _pss(summary["__full_train__"])
        assert f"{format_bytes(full_avg)} / {format_bytes(full_max)}" in page
        if wagon == heavy:
            assert f"largest: gt-hold {format_bytes(hold_avg)}" in page

    # a test of about a second draws a curve: samples every 0.1 s, no zero at the end
    for wagon, device in ((light, "gt-pt"), (heavy, "gt-hold")):
        pss = [float(p["value"]) for p in metrics[wagon][device]["proportionalSetSize"]]
        assert len(pss) >= 5, pss
        assert min(pss) > 0, pss
        avg, peak = _pss(summaries[wagon][device])
        assert peak < 1.5 * avg, (device, pss)  # no artefact doubling the maximum


@pytest.mark.slow
def test_train_test_page_equals_its_file_and_jobs_record_the_bytes_they_read(system: System):
    wagon = system.wagon("gt-pt")
    train = system.train([wagon])
    assert system.wait_train(train) == "done"

    # the train test: API and page show the metrics file's bytes
    [folder] = [
        p.parent
        for p in system.root.glob(
            f"var/**/train-test-{train}/sample/attempt-*/metrics_summary.json"
        )
    ]
    summary = json.loads((folder / "metrics_summary.json").read_text())
    api = system.get(f"/api/train-runs/{train}/test")
    rows = {r["device"]: r for r in api["devices"]}
    page = _rows(_page(system, f"/train-test/{train}", "admin"), "test-devices")
    for name, entry in summary.items():
        device = "full train" if name == "__full_train__" else name
        avg, peak = _pss(entry)
        assert (rows[device]["pss_avg_bytes"], rows[device]["pss_max_bytes"]) == (avg, peak)
        assert page[device][2:4] == [format_bytes(avg), format_bytes(peak)], (device, page[device])

    # every job records what its attempt read; per site and for the train the sums
    jobs = system.get(f"/api/jobs?train_run_id={train}")["items"]
    assert jobs and all(j["state"] == "done" for j in jobs), jobs
    for job in jobs:
        reports = sorted(
            system.root.glob(
                f"var/**/trains/{train}/jobs/job-{job['id']}/attempt-*/run_report.json"
            )
        )
        report = json.loads(reports[-1].read_text())
        read = sum(d["bytes_compressed"] for d in report["devices"].values())
        assert read > 0 and job["bytes_read"] == read, (job, read)
    master = system.get(f"/api/train-runs/{train}/master-jobs")
    total = sum(j["bytes_read"] for j in jobs)
    assert sum(r["bytes_read"] for r in master["runs"]) == total
    sites = {r["site"]: r for r in master["sites"]}
    assert sites["total"]["bytes_read"] == total and sites["total"]["jobs"] == len(jobs)
    assert sum(r["bytes_read"] for name, r in sites.items() if name != "total") == total
    shown = _rows(_page(system, f"/train-run/{train}?tab=jobs", "admin"), "job-sites")
    assert shown["total"][-1] == format_bytes(total)
