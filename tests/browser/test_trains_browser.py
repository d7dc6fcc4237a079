"""Train views in Debian's chromium: the train runs list filter and compare selection, the
train run tabs, the outputs tab drawing a merged histogram with JSROOT, the dashboard graphs
and the compare page drawing both outputs side by side. Screenshots go to ci-artifacts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.browser.conftest import screenshot
from tests.served import uvicorn_app
from tests.web_pages.accounts import PASSWORD
from tests.web_pages.seed_trains import TrainWorld, seed

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def train_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TrainWorld]]:
    """The real app under uvicorn over the seeded train world."""
    tmp = tmp_path_factory.mktemp("train-server")
    root = tmp / "outputs"
    root.mkdir()
    url = f"sqlite:///{tmp / 'hyperloop.db'}"
    world = seed(url, root / "work")
    settings = {
        "HYPERLOOP_DATABASE_URL": url,
        "HYPERLOOP_DATA_DIR": str(tmp),
        "HYPERLOOP_OUTPUTS_ROOT": str(root),
        "HYPERLOOP_WORK_DIR": str(root / "work"),
        "HYPERLOOP_SCHEDULER_IN_SERVER": "false",
    }
    with uvicorn_app(settings, tmp, ready="/static/css/trains.css", timeout=60) as base:
        yield base, world


@pytest.fixture
def op_page(browser, train_server) -> Iterator[object]:
    """A page logged in as the operator, at 1440 px."""
    base, _ = train_server
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    p = context.new_page()
    p.errors = []
    p.on("pageerror", lambda exc: p.errors.append(str(exc)))
    p.goto(base + "/login")
    p.get_by_label("Username").fill("oscar")
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    p.wait_for_url(base + "/")
    yield p
    context.close()


def test_train_runs_filter_and_compare_selection(op_page, train_server) -> None:
    base, world = train_server
    page = op_page
    page.goto(base + "/train-runs")
    assert page.title() == "Train runs · Hyperloop"
    assert page.locator("#train-runs-table tbody tr").count() == 6
    page.locator("details.state-filter summary").click()
    page.get_by_role("checkbox", name="done", exact=True).check()
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**state=done**")
    assert page.locator("#train-runs-table tbody tr").count() == 3
    compare = page.get_by_role("button", name="Compare selected")
    assert compare.is_disabled()
    page.get_by_label(f"Select train run {world.ids['done']} for comparison").check()
    page.get_by_label(f"Select train run {world.ids['other']} for comparison").check()
    assert compare.is_enabled()
    screenshot(page, "train-runs")
    compare.click()
    page.wait_for_url("**/train-runs/compare?**")
    assert "Compare train runs" in page.title()
    page.wait_for_selector("#draw-a[data-drawn] svg", timeout=30_000)
    page.wait_for_selector("#draw-b[data-drawn] svg", timeout=30_000)
    assert page.locator("#hist-verdicts tbody tr").count() == 2
    screenshot(page, "train-compare")
    assert page.errors == []


def test_train_run_tabs_and_jsroot_outputs(op_page, train_server) -> None:
    base, world = train_server
    page = op_page
    page.goto(f"{base}/train-run/{world.ids['done']}")
    tabs = page.get_by_role("navigation", name="Train run sections")
    assert tabs.get_by_role("link").all_inner_texts() == [
        "Overview",
        "Jobs",
        "Merging",
        "Outputs",
        "Test results",
        "Derived data",
        "Clone train",  # the operator's form tab
    ]
    assert page.get_by_role("button", name="Clone").is_visible()
    tabs.get_by_role("link", name="Jobs").click()
    page.wait_for_url("**tab=jobs")
    assert page.locator("#master-jobs tbody tr").count() == 3
    assert page.locator(".error-group pre.traceback").inner_text().startswith("Traceback")
    assert page.locator(".distribution").count() == 3
    page.goto(f"{base}/train-run/{world.ids['issues']}?tab=jobs")
    screenshot(page, "train-run-jobs")
    page.goto(f"{base}/train-run/{world.ids['done']}?tab=merging")
    assert "Missing runs (1): 544032" in page.locator("main").inner_text()
    page.goto(f"{base}/train-run/{world.ids['done']}?tab=outputs")
    page.wait_for_selector("#out-drawing[data-drawn] svg", timeout=30_000)
    assert page.locator("#out-drawing").get_attribute("data-drawn") == "spectra-charged/hPt"
    page.get_by_role("link", name="hEta").click()
    page.wait_for_function(
        "() => document.querySelector('#out-drawing').dataset.drawn === 'spectra-charged/hEta'",
        timeout=30_000,
    )
    screenshot(page, "train-run-outputs")
    assert page.errors == []


def test_dashboard_draws_its_graphs(op_page, train_server) -> None:
    base, _ = train_server
    page = op_page
    page.goto(base + "/dashboard")
    assert page.title() == "Dashboard · Hyperloop"
    page.get_by_label("Interval", exact=True).select_option("month")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**interval=month**")
    labels = {"g-jobs": "jobs per day", "g-cpu": "CPU hours per day", "g-sites": "jobs per day"}
    labels["g-top"] = "CPU hours"
    for graph, label in labels.items():
        page.wait_for_selector(f"#{graph} canvas", timeout=20_000)
        y_axis = f"document.getElementById('{graph}').uplot.axes[1].label"
        assert page.evaluate(f"() => {y_axis}") == label, graph
    screenshot(page, "dashboard")
    assert page.errors == []


def test_operator_kills_a_train_from_its_page(op_page, train_server) -> None:
    base, world = train_server
    page = op_page
    page.goto(f"{base}/train-run/{world.ids['issues']}")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Kill").click()
    page.wait_for_selector('.live-status[data-state="killed"]', timeout=20_000)
    assert page.get_by_role("button", name="Kill").count() == 0
    assert page.errors == []


def test_operator_decomposes_then_composes_on_the_submission_page(op_page, train_server) -> None:
    base, world = train_server
    page = op_page
    page.goto(f"{base}/train-submission?dataset_id={world.ids['short_dataset']}&show_all=true")
    assert page.title() == "Train submission: LHC23_pp_pass4_short · Hyperloop"
    rows = page.locator("#submission-wagons tbody tr")
    assert page.locator('#submission-wagons tr[data-compatible="true"]').count() == 0
    assert "already in a composed train" in rows.first.inner_text()
    page.once("dialog", lambda d: d.accept())
    page.locator("#composed-trains").get_by_role("button", name="Decompose").click()
    # the page reloads: the train is gone from the composed list, its wagons are free
    page.wait_for_selector('#submission-wagons tr[data-compatible="true"]', timeout=20_000)
    assert page.locator('#submission-wagons tr[data-compatible="true"]').count() == 2
    assert "No composed train" in page.locator("#composed-trains").inner_text()
    page.get_by_role("button", name="Select all compatible").click()
    page.wait_for_function(
        "() => document.getElementById('compose-selection').textContent.includes('Package tag')"
    )
    assert page.get_by_role("button", name="Compose train").is_enabled()
    screenshot(page, "train-submission")
    page.get_by_role("button", name="Compose train").click()
    page.wait_for_url("**/train-run/*")
    assert page.locator(".live-status").get_attribute("data-state") == "composed"
    assert page.locator("#wagons-h").inner_text() == "Wagons (2)"
    page.goto(f"{base}/job/{world.ids['failed_job']}")
    assert "hyperloop reproduce" in page.locator("#reproduce-command").inner_text()
    screenshot(page, "job")
    page.goto(f"{base}/train-test/{world.ids['done']}")
    page.wait_for_selector("#perf-graph canvas", timeout=20_000)
    screenshot(page, "train-test")
    assert page.errors == []


def test_train_run_tabs_switch_without_a_full_reload(op_page, train_server) -> None:
    base, world = train_server
    page = op_page
    page.goto(f"{base}/train-run/{world.ids['done']}")
    page.evaluate("() => { window.sameDocument = true; }")  # gone after a real page load
    tabs = page.get_by_role("navigation", name="Train run sections")
    tabs.get_by_role("link", name="Jobs").click()
    page.wait_for_url("**tab=jobs")
    page.locator("#master-jobs").wait_for()
    assert page.locator("#master-jobs tbody tr").count() == 3
    assert tabs.get_by_role("link", name="Jobs").get_attribute("aria-current") == "page"
    assert tabs.get_by_role("link", name="Overview").get_attribute("aria-current") is None
    tabs.get_by_role("link", name="Merging").click()
    page.wait_for_url("**tab=merging")
    page.get_by_text("Missing runs (1): 544032").wait_for()
    assert page.evaluate("() => window.sameDocument === true")
    page.go_back()
    page.wait_for_url("**tab=jobs")
    page.locator("#master-jobs").wait_for()
    assert page.evaluate("() => window.sameDocument === true")
    assert page.errors == []
