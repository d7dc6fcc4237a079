"""Train pages through the real app (TestClient): dashboard, submission, train runs list with
filters and pagination, the train run tabs, job, compare, trains with issues, train test,
live-status partials; what each role sees; anonymous redirects and 404s."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from tests.web_pages.accounts import PASSWORD
from tests.web_pages.seed_trains import TrainWorld, seed

from hyperloop.settings import load_settings
from hyperloop.units import format_duration
from hyperloop.web.app import create_app


@pytest.fixture(scope="module")
def world_app(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("trains")
    root = tmp / "outputs"
    root.mkdir()
    url = f"sqlite:///{tmp / 'trains.db'}"
    world = seed(url, root / "work")
    app = create_app(load_settings(database_url=url, outputs_root=root, work_dir=root / "work"))
    return world, app


@pytest.fixture(scope="module")
def world(world_app) -> TrainWorld:
    return world_app[0]


def _client(app, username: str | None) -> TestClient:
    c = TestClient(app)
    if username:
        r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


@pytest.fixture(scope="module")
def operator(world_app) -> TestClient:
    with _client(world_app[1], "oscar") as c:
        yield c


@pytest.fixture(scope="module")
def analyzer(world_app) -> TestClient:
    with _client(world_app[1], "alice") as c:
        yield c


@pytest.fixture(scope="module")
def convener(world_app) -> TestClient:
    with _client(world_app[1], "connie") as c:
        yield c


@pytest.fixture(scope="module")
def anonymous(world_app) -> TestClient:
    with _client(world_app[1], None) as c:
        yield c


def text(html: str) -> str:
    """Visible text of a page, whitespace collapsed (what a reader sees)."""
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def buttons(html: str) -> set[str]:
    return set(re.findall(r'data-train-action="([^"]+)"', html))


def pages(w: TrainWorld) -> list[str]:
    i = w.ids
    return [
        "/dashboard",
        "/train-submission",
        "/train-runs",
        f"/train-run/{i['done']}",
        f"/train-run/{i['done']}?tab=jobs",
        f"/job/{i['failed_job']}",
        f"/train-runs/compare?a={i['done']}&b={i['other']}",
        "/trains-with-issues",
        f"/train-test/{i['done']}",
    ]


def test_anonymous_visitors_are_sent_to_the_login_page(anonymous, world) -> None:
    for page in pages(world):
        r = anonymous.get(page, follow_redirects=False)
        assert r.status_code == 303, page
        assert r.headers["location"].startswith("/login?next=%2F"), page
    r = anonymous.get(f"/partials/trains/{world.ids['done']}/status")
    assert r.status_code == 401


def test_every_train_page_renders_with_a_title(analyzer, world) -> None:
    for page in pages(world):
        r = analyzer.get(page)
        assert r.status_code == 200, (page, r.text[:500])
        assert re.search(r"<title>[^<]+ · Hyperloop</title>", r.text), page


def test_unknown_objects_are_404_pages(analyzer) -> None:
    for page in ("/train-run/99999", "/job/99999", "/train-test/99999"):
        r = analyzer.get(page)
        assert r.status_code == 404, page
        assert "does not exist" in text(r.text)
    r = analyzer.get("/train-runs/compare?a=1&b=99999")
    assert r.status_code == 404
    assert "Train run 99999 does not exist" in text(r.text)
    assert analyzer.get("/train-runs/compare?a=1").status_code == 400
    assert analyzer.get("/partials/trains/99999/status").status_code == 404
    assert analyzer.get("/train-submission?dataset_id=99999").status_code == 404


def test_train_runs_list_filters_and_paginates_on_the_server(analyzer, world) -> None:
    i = world.ids
    page = text(analyzer.get("/train-runs").text)
    assert "6 train runs, showing 1–6" in page
    done = analyzer.get("/train-runs?state=done").text
    ids = re.findall(r'<tr data-train-id="(\d+)">', done)
    assert sorted(map(int, ids)) == sorted([i["done"], i["other"], i["short_done"]])
    by_ds = analyzer.get(f"/train-runs?dataset_id={i['short_dataset']}").text
    assert sorted(map(int, re.findall(r'data-train-id="(\d+)"', by_ds))) == sorted(
        [i["composed"], i["short_done"]]
    )
    # junk filter values are ignored, not errors
    assert analyzer.get("/train-runs?dataset_id=&analysis_id=x&state=nope").status_code == 200
    first = analyzer.get("/train-runs?limit=2").text
    assert "6 train runs, showing 1–2" in text(first)
    assert "Page 1 of 3" in text(first)
    nxt = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = analyzer.get(nxt).text
    assert "showing 3–4" in text(second)
    assert set(re.findall(r'data-train-id="(\d+)"', first)).isdisjoint(
        re.findall(r'data-train-id="(\d+)"', second)
    )
    assert 'rel="prev"' in second
    future = analyzer.get("/train-runs?date_from=2999-01-01").text
    assert "No train run matches these filters" in text(future)


def test_overview_shows_the_train_and_only_permitted_actions(
    operator, analyzer, convener, world
) -> None:
    i = world.ids
    html = operator.get(f"/train-run/{i['done']}").text
    page = text(html)
    assert "Train run" in page and "LHC23_pp_pass4" in page
    assert "spectra-charged" in page and "Looks good, thanks!" in page
    assert "test done → submitted by oscar" in page
    # CPU used in s / min / h by the one formatter, times of day to the second
    cpu = re.search(r'"card-value">([^<]*)</div><div class="card-label">CPU used', html)
    assert cpu and re.fullmatch(r"\d+\.\d s|\d+ s|\d+ min|\d+\.\d h", cpu[1]), cpu
    assert re.search(
        r"<dt>Submitted</dt><dd><time datetime=\"[^\"]+\">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</time>",
        html,
    ), html[html.find("<dt>Submitted") : html.find("<dt>Submitted") + 200]
    assert buttons(html) == {"close", "clone", "increment"}  # a done train: its new runs
    assert buttons(analyzer.get(f"/train-run/{i['done']}").text) == set()
    assert buttons(operator.get(f"/train-run/{i['issues']}").text) == {
        "resubmit",
        "final-merge",
        "kill",
        "close",
        "clone",
    }
    assert "Resubmit 2 failed jobs" in text(operator.get(f"/train-run/{i['issues']}").text)
    assert buttons(operator.get(f"/train-run/{i['composed']}").text) == {
        "kill",
        "decompose",
        "close",
        "clone",
    } - {"kill", "close"}
    # staged submission: the analyzer may request the long train; the convener approves it
    assert buttons(analyzer.get(f"/train-run/{i['short_done']}").text) == {"long-train"}
    assert buttons(convener.get(f"/train-run/{i['long_train']}").text) == {"approve"}
    assert buttons(analyzer.get(f"/train-run/{i['long_train']}").text) == set()


def test_jobs_tab_groups_errors_with_one_full_traceback(analyzer, world) -> None:
    i = world.ids
    html = analyzer.get(f"/train-run/{i['issues']}?tab=jobs").text
    page = text(html)
    assert "2 failed jobs in 2 runs" in page
    assert "ZeroDivisionError at spectra.py:process" in page
    assert "line 42, in process" in html  # the full traceback, not just the message
    assert html.count('class="traceback"') == 1
    assert re.search(r'<a href="/job/\d+">job \d+</a>', html)
    runs = re.findall(r"tab=jobs&amp;run=(\d+)", html)
    assert [int(r) for r in runs] == [544013, 544028, 544032]
    failed_only = analyzer.get(f"/train-run/{i['issues']}?tab=jobs&failed=1").text
    assert "2 jobs." in text(failed_only)
    stats = text(analyzer.get(f"/train-run/{i['done']}?tab=jobs").text)
    assert "Grid statistics (finished jobs)" in stats
    assert "CPU per job · mean 120.0s, max 120.0s" in stats


def test_merging_tab_lists_merged_and_missing_runs(analyzer, world) -> None:
    page = text(analyzer.get(f"/train-run/{world.ids['done']}?tab=merging").text)
    assert "Merged runs (2): 544013, 544028" in page
    assert "Missing runs (1): 544032" in page
    assert "first-two" in page


def test_outputs_tab_links_the_merged_file_for_jsroot_and_download(analyzer, world) -> None:
    html = analyzer.get(f"/train-run/{world.ids['done']}?tab=outputs").text
    path = f"work/trains/{world.ids['done']}/merged/final/AnalysisResults.root"
    assert f'data-path="{path}"' in html
    assert "/static/js/train_outputs.mjs" in html
    r = analyzer.get("/outputs/file", params={"path": path, "download": 1})
    assert r.status_code == 200 and r.content[:4] == b"root"
    listing = analyzer.get("/api/outputs/browse", params={"path": path}).json()
    assert {h["name"] for h in listing["histograms"]} == {"hPt", "hEta"}
    derived = text(analyzer.get(f"/train-run/{world.ids['done']}?tab=derived").text)
    assert "analysis train: it writes no derived data" in derived


def test_train_test_page_has_metrics_expected_resources_and_profile(analyzer, world) -> None:
    html = analyzer.get(f"/train-test/{world.ids['done']}").text
    page = text(html)
    assert "10.0 h" in page  # 36,000 CPU seconds expected
    assert "0.060 kg" in page  # CO2
    assert "full train" in page and "spectra-charged" in page
    assert "/profile-viewer?path=work/tests/train-test-" in html
    assert 'id="perf-data"' in html and "/static/js/performance_graphs.js" in html
    assert f"hyperloop reproduce http://testserver/train-test/{world.ids['done']}" in page
    warned = text(analyzer.get(f"/train-run/{world.ids['issues']}?tab=test").text)
    assert "memory-growth" in warned and "max PSS 40% above average" in warned


def test_job_page_shows_attempts_and_the_reproduce_command(analyzer, world) -> None:
    job = world.ids["failed_job"]
    html = analyzer.get(f"/job/{job}").text
    page = text(html)
    assert f"hyperloop reproduce http://testserver/job/{job}" in page
    assert "Attempt 1" in page and "first attempt" in page
    assert "line 42, in process" in page
    assert "console.log" in page
    # no target recorded on the job: the train's target is the one its attempts ran on
    assert '<span class="job-target">grid-1core</span>' in html
    data = analyzer.get(f"/api/jobs/{job}/attempts").json()
    assert data["attempt_details"][0]["error_kind"] == "execution"


def test_compare_shows_configuration_and_histogram_verdicts(analyzer, world) -> None:
    i = world.ids
    html = analyzer.get(f"/train-runs/compare?a={i['done']}&b={i['other']}").text
    page = text(html)
    assert "Configuration differences" in page
    assert "etaMax" in page
    verdicts = dict(re.findall(r'data-hist="([^"]+)" data-verdict="([^"]+)"', html))
    assert verdicts["spectra-charged/hPt"] == "different"
    assert verdicts["spectra-charged/hEta"] == "identical"
    running = text(analyzer.get(f"/train-runs/compare?a={i['done']}&b={i['issues']}").text)
    assert "Outputs are compared when both train runs are done" in running


def _pairs(client, a: int, b: int) -> list[tuple[str | None, str | None]]:
    data = client.get(f"/api/train-runs/{a}/compare-outputs", params={"other_id": b}).json()
    pairs = [((p["a"] or {}).get("name"), (p["b"] or {}).get("name")) for p in data["wagons"]]
    return sorted(pairs, key=lambda pair: (pair[0] or "", pair[1] or ""))


def test_compare_matches_wagons_by_wagon_not_by_workflow(analyzer, world) -> None:
    i = world.ids
    # composed: spectra and spectra_wide, two wagons of the workflow spectra-charged
    assert _pairs(analyzer, i["composed"], i["done"]) == [
        ("spectra", "spectra"),
        ("spectra_wide", None),
    ]
    assert _pairs(analyzer, i["composed"], i["other"]) == [
        ("spectra", None),
        ("spectra_wide", "spectra_wide"),
    ]
    # issues runs spectra_new, the same workflow: another wagon, so never paired
    assert _pairs(analyzer, i["composed"], i["issues"]) == [
        (None, "spectra_new"),
        ("spectra", None),
        ("spectra_wide", None),
    ]
    html = analyzer.get(f"/train-runs/compare?a={i['composed']}&b={i['issues']}").text
    assert html.count("<em>not in this train</em>") == 3


def test_trains_with_issues_lists_the_failing_train(analyzer, world) -> None:
    html = analyzer.get("/trains-with-issues").text
    assert f'href="/train-run/{world.ids["issues"]}?tab=jobs"' in html
    assert "2 of 3 jobs failed" in text(html)
    assert f'href="/train-run/{world.ids["done"]}?' not in html


def test_live_status_partial_polls_until_the_state_is_final(analyzer, world) -> None:
    running = analyzer.get(f"/partials/trains/{world.ids['issues']}/status").text
    assert 'hx-trigger="every 5s"' in running and "1/3 jobs done" in text(running)
    done = analyzer.get(f"/partials/trains/{world.ids['done']}/status").text
    assert "hx-trigger" not in done and 'data-state="done"' in done
    job = analyzer.get(f"/partials/jobs/{world.ids['failed_job']}/status").text
    assert "hx-trigger" not in job and "execution error" in text(job)


def test_dashboard_numbers_match_the_api_and_bad_intervals_say_why(analyzer) -> None:
    page = text(analyzer.get("/dashboard?interval=month").text)
    api = analyzer.get("/api/train-runs/dashboard", params={"interval": "month"}).json()
    assert api["period"]["trains_done"] == 3
    assert api["period"]["jobs_done"] == 7 and api["period"]["jobs_failed"] == 3
    assert f"{api['period']['jobs_done']} jobs done" in page
    assert "3 trains done" in page
    assert "LF-spectra" in page  # top analysis by CPU
    assert f"{format_duration(api['period']['cpu_hours'] * 3600)} CPU used" in page
    assert "0.0 h" not in page
    html = analyzer.get("/dashboard?interval=month").text
    for graph, unit in (
        ("g-jobs", "jobs per day"),
        ("g-cpu", "CPU hours per day"),
        ("g-sites", "jobs per day"),
        ("g-top", "CPU hours"),
    ):
        assert f'id="{graph}" class="dash-graph" data-y-label="{unit}"' in html, graph
    assert api["series"]["labels"] and sum(api["series"]["jobs_done"]) == 7
    bad = analyzer.get("/dashboard?interval=custom&start=2026-02-02&end=2026-01-01")
    assert bad.status_code == 422 and "before its start" in text(bad.text)
    assert analyzer.get("/api/train-runs/dashboard?interval=custom").status_code == 422


def test_submission_page_is_read_only_for_analyzers(operator, analyzer, world) -> None:
    short = world.ids["short_dataset"]
    op = operator.get(f"/train-submission?dataset_id={short}&show_all=true").text
    assert 'id="compose-form"' in op and "Compatibility rules" in text(op)
    assert 'class="wagon-pick"' in op
    # the composed train holds spectra and spectra_wide: marked incompatible with the reason
    assert "already in a composed train" in text(op)
    assert f'href="/train-run/{world.ids["composed"]}"' in op
    assert "decompose" in buttons(op)
    ro = analyzer.get(f"/train-submission?dataset_id={short}&show_all=true").text
    assert 'id="compose-form"' not in ro and "wagon-pick" not in ro
    assert "read-only" in text(ro)
    assert buttons(ro) == set()


def test_long_train_requests_show_approve_to_the_convener(convener, analyzer, world) -> None:
    html = convener.get("/train-submission").text
    assert f'href="/train-run/{world.ids["long_train"]}"' in html
    assert "approve" in buttons(html)
    assert "approve" not in buttons(analyzer.get("/train-submission").text)


def test_operator_action_through_the_api_changes_the_page(operator, world) -> None:
    composed = world.ids["composed"]
    r = operator.post(f"/api/train-runs/{composed}/decompose")
    assert r.status_code == 200, r.text
    html = operator.get(f"/train-run/{composed}").text
    assert 'data-state="decomposed"' in html
    assert "decompose" not in buttons(html)


def test_final_merge_now_is_an_operator_button_of_a_train_with_issues(
    operator, analyzer, world
) -> None:
    issues, done = world.ids["issues"], world.ids["done"]
    html = operator.get(f"/train-run/{issues}").text
    assert "final-merge" in buttons(html) and "Final merge now" in text(html)
    assert f'data-url="/api/train-runs/{issues}/final-merge"' in html
    assert "final-merge" not in buttons(analyzer.get(f"/train-run/{issues}").text)
    assert "final-merge" not in buttons(operator.get(f"/train-run/{done}").text)  # done
    refused = analyzer.post(f"/api/train-runs/{issues}/final-merge")
    assert refused.status_code == 403
    r = operator.post(f"/api/train-runs/{issues}/final-merge")
    assert r.status_code == 200, r.text
    assert r.json()["final_merge_requested_at"] is not None
    html = operator.get(f"/train-run/{issues}").text
    assert "final-merge" not in buttons(html)  # requested once
    assert "final merge requested by oscar" in text(html)
    merging = text(operator.get(f"/train-run/{issues}?tab=merging").text)
    assert "Final merge requested by oscar" in merging
    assert "Missing runs (3): 544013, 544028, 544032" in merging  # nothing merged yet


def test_job_and_train_pages_tell_the_story_with_causes(operator, analyzer, world) -> None:
    job = text(analyzer.get(f"/job/{world.ids['failed_job']}").text)
    assert "Story: every state change and its cause" in job
    assert "created → waiting" in job and "running → execution error" in job
    assert "tick-1796580000:job-failed" in job
    assert "attempt 1 failed on node-b (execution): ZeroDivisionError: division by zero" in job
    overview = text(analyzer.get(f"/train-run/{world.ids['issues']}").text)
    assert "created → composed user:compose train composed (by oscar)" in overview
    assert "test warning → submitted user:submit submitted (by oscar)" in overview
    # its jobs' moves, grouped by cause: two jobs of the train failed in the seeded tick
    assert re.search(
        r"running → execution error job-failed 2 \S+ \S+ – \S+ \S+ attempt 1", overview
    )
    # other tabs do not read the story
    assert "Story: every state change" not in text(
        analyzer.get(f"/train-run/{world.ids['issues']}?tab=jobs").text
    )
