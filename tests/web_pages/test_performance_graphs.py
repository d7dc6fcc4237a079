"""performance_graphs_data on our metrics files and the real O2 layout; page and JSON API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.web_pages.sample_outputs import RUN, TRAIN

from hyperloop.readmodels.performance import (
    MAX_POINTS,
    PerformanceMetricsError,
    performance_graphs_data,
)


def test_ours_ranked_largest_first_with_summaries(outputs_dir: Path):
    data = performance_graphs_data((outputs_dir / RUN / "performanceMetrics.json").read_bytes())
    names = [m["name"] for m in data["metrics"]]
    assert names[:2] == ["cpuUsedAbsolute", "proportionalSetSize"]
    assert "aod-file-read-info" not in names  # strings, not a series
    assert data["default_metric"] == "proportionalSetSize"
    pss = next(m for m in data["metrics"] if m["name"] == "proportionalSetSize")
    assert pss["ranking"][:3] == ["task-12", "task-11", "task-10"]
    series = data["series"]["proportionalSetSize"]["task-12"]
    assert series["t"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]  # seconds since start
    assert series["v"][0] == pytest.approx(130_000 * 1024 / 1e6)  # kB (1024 B) -> MB (10^6 B)
    rows = {r["device"]: r for r in data["devices"]}
    # CPU: sum of cpuUsedAbsolute microseconds = 13 * 1000 * (0+...+7) us
    assert rows["task-12"]["cpu_s"] == pytest.approx(13 * 1000 * 28 / 1e6)
    assert rows["task-12"]["pss_max_bytes"] == (130_000 + 3_500) * 1024
    reader = rows["internal-dpl-aod-reader"]
    assert reader["bytes_read"] == 7_000_000
    assert reader["throughput_bytes_per_s"] == pytest.approx(1_000_000)
    assert data["devices"][0]["device"] == "task-12"  # table sorted by max PSS


def test_real_o2_layout_string_timestamps_and_driver(outputs_dir: Path):
    data = performance_graphs_data((outputs_dir / TRAIN / "performanceMetrics_o2.json").read_text())
    assert set(data["series"]["cpuUsedAbsolute"]) == {
        "internal-dpl-aod-reader",
        "track-selection",
        "my-task",
        "driver",
    }
    assert data["series"]["cpuUsedAbsolute"]["my-task"]["t"][-1] == 2.5


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "got a JSON list"),
        (json.dumps({"driver": {"wall": 3.0}}), "no device with numeric metric series"),
    ],
)
def test_bad_files_are_explained(content, message):
    with pytest.raises(PerformanceMetricsError, match=message):
        performance_graphs_data(content)


def test_page_and_api_share_the_data(client, outputs_dir: Path):
    path = outputs_dir / TRAIN / "performanceMetrics_o2.json"
    api = client.post(
        "/api/performance-graphs", files={"file": ("m.json", path.read_bytes(), "application/json")}
    )
    assert api.status_code == 200
    assert api.json() == performance_graphs_data(path.read_bytes())
    page = client.post(
        "/performance-graphs", files={"file": ("m.json", path.read_bytes(), "application/json")}
    )
    assert page.status_code == 200
    assert "<title>Performance graphs: m.json · Hyperloop</title>" in page.text
    assert 'id="perf-data"' in page.text and "track-selection" in page.text


def test_upload_errors_render_on_the_page(client):
    page = client.post("/performance-graphs", files={"file": ("x.json", b"{}", "application/json")})
    assert page.status_code == 422
    assert "x.json: performanceMetrics.json has no device" in page.text
    api = client.post("/api/performance-graphs", files={"file": ("x.json", b"", "text/plain")})
    assert api.status_code == 422 and api.json()["error"] == "bad_metrics_file"


def test_metrics_file_by_output_path(client):
    page = client.get("/performance-graphs?path=work/trains/1/output/performanceMetrics.json")
    assert page.status_code == 200 and "task-12" in page.text
    refused = client.get("/performance-graphs?path=../../etc/passwd")
    assert refused.status_code == 400


def test_upload_form_needs_the_csrf_token(client, outputs_dir: Path):
    content = (outputs_dir / TRAIN / "performanceMetrics_o2.json").read_bytes()
    token = client.headers.pop("X-CSRF-Token")
    try:
        refused = client.post("/performance-graphs", files={"file": ("m.json", content)})
        assert refused.status_code == 403
        form = client.post(
            "/performance-graphs", files={"file": ("m.json", content)}, data={"csrf_token": token}
        )
        assert form.status_code == 200 and "track-selection" in form.text
    finally:
        client.headers["X-CSRF-Token"] = token


def test_long_series_are_downsampled_keeping_peaks():
    n = 10 * MAX_POINTS
    pss = [{"timestamp": 1_000 * k, "value": "1024"} for k in range(n)]
    pss[4321]["value"] = str(500 * 10**6 // 1024)  # one 500 MB spike (values in kB)
    data = performance_graphs_data({"task": {"proportionalSetSize": pss}})
    shown = data["series"]["proportionalSetSize"]["task"]
    assert len(shown["t"]) == len(shown["v"]) == MAX_POINTS
    assert max(shown["v"]) == pytest.approx(500.0, abs=0.001) and shown["t"][-1] < n
    assert data["devices"][0]["pss_max_bytes"] == (500 * 10**6 // 1024) * 1024  # all points
