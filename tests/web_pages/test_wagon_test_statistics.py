"""Test statistics of a wagon (the Test statistics tab and its JSON twin): three graphs per
dataset whose points are the figures in the tests' own metrics files."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from tests.web_pages.accounts import ANALYZER, PASSWORD
from tests.web_pages.seed_analyses import seeded_copy

from hyperloop.core import enabling
from hyperloop.core.actor import Actor
from hyperloop.core.story import Cause
from hyperloop.db.models import User, WagonTest
from hyperloop.enums import TestStatus
from hyperloop.readmodels.analyses import attempt_folder
from hyperloop.settings import load_settings
from hyperloop.units import MB, format_bytes, format_duration
from hyperloop.web.app import create_app

pytestmark = pytest.mark.slow  # seeding runs a real wagon test (run-train) once per process


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, realdata: Path):
    """The seeded analyses plus, for udrho, a second finished test on its dataset (the first
    test's files, its figures changed) and an enabling on a second dataset whose test is
    still queued."""
    template = tmp_path_factory.getbasetemp() / "analyses-pages-template"
    tmp = tmp_path_factory.mktemp("wagon-stats")
    url, outputs, seeded = seeded_copy(template, tmp, realdata)
    ids = dict(seeded.ids)
    engine = create_engine(url)
    with Session(engine) as s, s.begin():
        first = s.get(WagonTest, ids["test_done"])
        row = enabling._find(s, ids["udrho"], ids["dataset"])
        second = enabling.queue_test(s, row, Cause.system("test", "statistics test"))
        folder = tmp / f"wagon-test-{second.id}"
        shutil.copytree(attempt_folder(first.output_dir), folder)
        summary = json.loads((folder / "metrics_summary.json").read_text())
        full = summary["__full_train__"]
        full["cpu"] *= 3
        full["wall"] *= 2
        full["proportionalSetSize_summary"]["max"] *= 1.5
        (folder / "metrics_summary.json").write_text(json.dumps(summary))
        second.output_dir = str(folder)
        enabling.finish_test(s, second.id, TestStatus.DONE)
        ids["test_second"] = second.id
        alice = s.scalars(select(User).where(User.username == ANALYZER)).one()
        enabling.enable_wagon(s, Actor(alice), ids["udrho"], ids["dataset2"], policy="latest")
    engine.dispose()
    app = create_app(load_settings(database_url=url, outputs_root=outputs, work_dir=outputs))
    return app, ids


@pytest.fixture(scope="module")
def alice(world) -> Iterator[TestClient]:
    with TestClient(world[0]) as c:
        r = c.post("/api/auth/login", json={"username": ANALYZER, "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield c


def _expected(folder: Path) -> dict[str, float | None]:
    """The figures of one test, read from its metrics file and output folder."""
    full = json.loads((folder / "metrics_summary.json").read_text())["__full_train__"]
    pss = full["proportionalSetSize_summary"]
    return {
        "pss_max_bytes": pss["max"],
        "pss_avg_bytes": pss["avg"],
        "cpu_s": full["cpu"],
        "wall_s": full["wall"],
        "throughput_bytes_per_s": full["aod-bytes-read-compressed"] / full["wall"],
        "output_bytes": sum(p.stat().st_size for p in folder.glob("*.root")),
    }


def test_graph_points_are_the_figures_of_the_tests_metrics_files(world, alice) -> None:
    ids = world[1]
    data = alice.get(f"/api/wagons/{ids['udrho']}/test-statistics").json()
    assert [g["title"] for g in data["graphs"]] == [
        "PSS memory",
        "CPU time, wall time and throughput",
        "Output size",
    ]
    by_name = {d["name"]: d for d in data["datasets"]}
    assert set(by_name) == {"LHC22_ud_pass4", "LHC23_pp_pass4"}
    points = by_name["LHC22_ud_pass4"]["points"]
    assert [p["test_id"] for p in points] == [ids["test_done"], ids["test_second"]]  # oldest first
    assert data["default_dataset_id"] == ids["dataset"]
    engine = create_engine(world[0].state.settings.database_url)
    with Session(engine) as s:
        folders = {
            p["test_id"]: attempt_folder(s.get(WagonTest, p["test_id"]).output_dir) for p in points
        }
    engine.dispose()
    for point in points:
        want = _expected(folders[point["test_id"]])
        for key, value in want.items():
            assert point[key] == pytest.approx(value), (point["test_id"], key)
        assert point["labels"]["pss_max_bytes"] == format_bytes(want["pss_max_bytes"])
        assert point["labels"]["cpu_s"] == format_duration(want["cpu_s"])
        assert point["labels"]["throughput_bytes_per_s"] == (
            format_bytes(want["throughput_bytes_per_s"]) + "/s"
        )
    # the second test's changed figures show in its point, not in the first one's
    assert points[1]["cpu_s"] == pytest.approx(3 * points[0]["cpu_s"])
    assert points[1]["pss_max_bytes"] == pytest.approx(1.5 * points[0]["pss_max_bytes"])
    memory = data["graphs"][0]["axes"][0]
    assert memory["unit"] == "MB" and memory["factor"] == pytest.approx(1 / MB)
    # the second dataset: enabled, its test still queued, so no points ("no tests")
    assert by_name["LHC23_pp_pass4"]["points"] == [] and by_name["LHC23_pp_pass4"]["enabled"]


def test_the_tab_offers_each_dataset_and_the_three_graphs(world, alice) -> None:
    ids = world[1]
    html = alice.get(f"/wagon/{ids['udrho']}").text
    assert re.search(r'<option value="\d+" selected>LHC22_ud_pass4 \(2 tests\)</option>', html)
    assert re.search(r'<option value="\d+">LHC23_pp_pass4 \(0 tests\)</option>', html)
    for key in ("pss", "time", "output"):
        assert f'id="stats-graph-{key}"' in html
    assert "No tests on this dataset yet." in html
    embedded = re.search(r'<script type="application/json" id="stats-data">(.*?)</script>', html)
    assert (
        json.loads(embedded[1]) == alice.get(f"/api/wagons/{ids['udrho']}/test-statistics").json()
    )
    # a wagon enabled nowhere and never tested says so
    assert (
        "No tests: the wagon is enabled on no dataset." in alice.get(f"/wagon/{ids['mult']}").text
    )


def test_statistics_of_an_unknown_wagon_are_a_404(alice) -> None:
    r = alice.get("/api/wagons/999999/test-statistics")
    assert r.status_code == 404 and "999999" in r.text
