"""End-to-end checks of the DB-independent pages in Debian's chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.browser.conftest import screenshot
from tests.web_pages.accounts import ANALYZER, PASSWORD
from tests.web_pages.sample_outputs import RUN, TRAIN

from hyperloop.web.pages.docs_links import docs_link

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MENU = [
    "My Analyses",
    "All Analyses",
    "Dashboard",
    "Train Submission",
    "Train Runs",
    "Datasets",
    "DPG Runlists",
]


def test_menu_and_title_on_every_tool_page(page, server):
    for url, title in [
        ("/performance-graphs", "Performance graphs · Hyperloop"),
        ("/outputs/browse", "Output browser · Hyperloop"),
        ("/profile-viewer", "Profile viewer · Hyperloop"),
    ]:
        page.goto(server + url)
        assert page.title() == title
        nav = page.get_by_role("navigation", name="Main")
        assert nav.get_by_role("link").all_inner_texts() == MENU
        bell = page.get_by_role("link", name="Notifications: 2 unread")
        assert bell.get_attribute("href") == "/notifications"
        assert page.get_by_role("link", name="Documentation").first.get_attribute("href") == (
            docs_link(url)
        )
        assert page.locator("main#main").count() == 1
    assert page.errors == []


def test_login_page_returns_to_the_requested_page(anonymous_page, server):
    page = anonymous_page
    page.goto(server + "/outputs/browse?path=work/trains/1/output")
    assert page.title() == "Log in · Hyperloop"
    page.get_by_label("Username").fill(ANALYZER)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "unknown username or wrong password"
    screenshot(page, "login-failed", full_page=False)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server + "/outputs/browse?path=work/trains/1/output")
    bell = page.get_by_role("link", name="Notifications: 2 unread")
    assert bell.inner_text().strip().endswith("2")
    assert page.errors == []


def test_keyboard_skip_link_and_menu(page, server):
    page.goto(server + "/performance-graphs")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to main content"
    screenshot(page, "skip-link-focused", full_page=False)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # From the top, Tab walks through the brand into the menu entries in order.
    page.goto(server + "/performance-graphs")
    seen = []
    for _ in range(10):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert seen[2:9] == MENU
    # The user menu opens from the keyboard and lists the tools.
    page.locator("details.user-menu > summary").focus()
    assert ANALYZER in page.evaluate("document.activeElement.textContent")
    page.keyboard.press("Enter")
    assert page.get_by_role("link", name="Output browser").is_visible()
    page.keyboard.press("Escape")
    assert not page.get_by_role("link", name="Output browser").is_visible()


def test_performance_graphs_upload_draws_top_10(page, server, outputs_dir: Path):
    page.goto(server + "/performance-graphs")
    page.get_by_label("Metrics file").set_input_files(
        str(outputs_dir / RUN / "performanceMetrics.json")
    )
    page.get_by_role("button", name="Show graphs").click()
    page.wait_for_selector("#perf-graph canvas")
    assert page.title() == "Performance graphs: performanceMetrics.json · Hyperloop"
    boxes = page.locator("#device-list input[type=checkbox]")
    assert boxes.count() == 14  # 13 tasks + the reader
    checked = [b.get_attribute("value") for b in boxes.all() if b.is_checked()]
    # Largest maximum PSS first: task-12 ... task-03 (the reader's 20 MB is smaller).
    assert checked == [f"task-{i:02d}" for i in range(12, 2, -1)]
    # The legend shows one entry per drawn device (hover values per device).
    assert page.locator(".u-legend .u-series").count() == 11
    # Hovering shows each drawn device's value at that time in the legend.
    over = page.locator("#perf-graph .u-over").bounding_box()
    page.mouse.move(over["x"] + over["width"] * 0.5, over["y"] + over["height"] * 0.5)
    first = page.locator(".u-legend .u-series").nth(1)
    assert "task-12" in first.inner_text()
    hovered = first.locator(".u-value").inner_text()
    assert 133 < float(hovered) < 137  # MB of 10^6 B: between 130000 and 133500 kB of 1024 B
    screenshot(page, "performance-graphs-hover", full_page=False)
    rows = page.locator("#device-summary tbody tr")
    assert rows.count() == 14
    assert "task-12" in rows.first.inner_text()
    screenshot(page, "performance-graphs")
    # Another metric re-ranks and redraws; the reader has no CPU series.
    page.get_by_label("Metric", exact=True).select_option("cpuUsedAbsolute")
    page.wait_for_selector("#perf-graph canvas")
    assert page.locator("#device-list input").count() == 13
    # Zoom by dragging, reset by double click.
    canvas = page.locator("#perf-graph .u-over")
    box = canvas.bounding_box()
    x_range = "(() => { const s = document.getElementById('perf-graph').uplot.scales.x; return [s.min, s.max]; })()"
    x_before = page.evaluate(x_range)
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    x_zoomed = page.evaluate(x_range)
    assert x_before[0] < x_zoomed[0] < x_zoomed[1] < x_before[1]
    canvas.dblclick()
    assert page.evaluate(x_range) == x_before
    assert page.errors == []


def test_performance_graphs_real_o2_layout(page, server, outputs_dir: Path):
    page.goto(server + "/performance-graphs")
    page.get_by_label("Metrics file").set_input_files(
        str(outputs_dir / TRAIN / "performanceMetrics_o2.json")
    )
    page.get_by_role("button", name="Show graphs").click()
    page.wait_for_selector("#perf-graph canvas")
    assert page.locator("#device-list input:checked").count() == 4
    assert page.errors == []


def test_jsroot_draws_real_analysis_results(page, server):
    page.goto(server + "/outputs/browse?path=work/trains/1/AnalysisResults_o2.root")
    assert page.locator("#hist-list a[data-hist]").count() == 8
    page.wait_for_selector("#jsroot-drawing[data-drawn] svg", timeout=30_000)
    assert page.locator("#jsroot-drawing").get_attribute("data-drawn") == (
        "twoparcorcombexample/hZvertex"
    )
    page.get_by_role("link", name=re.compile("hDeltaEtaDeltaPhi")).click()
    page.wait_for_selector(
        "#jsroot-drawing[data-drawn='twoparcorcombexample/hDeltaEtaDeltaPhi'] svg", timeout=30_000
    )
    assert "hist=twoparcorcombexample%2FhDeltaEtaDeltaPhi" in page.url
    screenshot(page, "jsroot-real-th2f")
    assert page.errors == []


def test_jsroot_draws_our_th1d_and_projects_thnd(page, server):
    page.goto(
        server + "/outputs/browse?path=work/trains/1/output/AnalysisResults.root&hist=spectra/hPt"
    )
    page.wait_for_selector("#jsroot-drawing[data-drawn='spectra/hPt'] svg", timeout=30_000)
    screenshot(page, "jsroot-ours-th1d")
    page.get_by_role("link", name=re.compile("hPtEtaCent")).click()
    page.wait_for_selector(
        "#jsroot-drawing[data-drawn='spectra/sparse/hPtEtaCent'] svg", timeout=30_000
    )
    assert page.get_by_label("Project onto x axis").is_visible()
    screenshot(page, "jsroot-ours-thnd-projection")
    assert page.errors == []


def test_jsroot_draws_a_histogram_inside_a_tlist(page, server):
    page.goto(
        server
        + "/outputs/browse?path=work/trains/1/AnalysisResults_tlist.root&hist=qa-task/qaList/hMult"
    )
    page.wait_for_selector("#jsroot-drawing[data-drawn='qa-task/qaList/hMult'] svg", timeout=30_000)
    assert "multiplicity" in page.locator("#jsroot-drawing").inner_text()
    assert page.errors == []


def test_output_folder_listing_and_download_link(page, server):
    page.goto(server + "/outputs/browse?path=work/trains/1/output")
    assert page.title() == "Outputs: work/trains/1/output · Hyperloop"
    link = page.get_by_role("link", name="performance graphs")
    assert link.get_attribute("href") == (
        "/performance-graphs?path=work/trains/1/output/performanceMetrics.json"
    )
    with page.expect_download() as info:
        page.locator("a[download][href*='stdout.log']").click()
    assert info.value.suggested_filename == "stdout.log"
    screenshot(page, "output-folder")


def test_speedscope_loads_profile(page, server):
    page.goto(server + "/profile-viewer?path=work/trains/1/output/profile.speedscope.json")
    frame = page.frame_locator("#speedscope-frame")
    # speedscope shows the profile's title in its toolbar once it fetched and parsed the file,
    # and draws the flame graph on canvases.
    frame.get_by_text("work/trains/1/output/profile.speedscope.json").wait_for(timeout=30_000)
    assert frame.locator("canvas").count() >= 1
    assert frame.get_by_text("Time Order").is_visible()
    screenshot(page, "speedscope-profile", full_page=False)
    assert page.errors == []


@pytest.mark.parametrize("width, height", [(1280, 800), (2560, 1440)])
def test_laptop_and_wide_screens(page, server, width, height):
    page.set_viewport_size({"width": width, "height": height})
    page.goto(
        server
        + "/outputs/browse?path=work/trains/1/AnalysisResults_o2.root&hist=twoparcorcombexample/hChargedPt"
    )
    page.wait_for_selector("#jsroot-drawing[data-drawn] svg", timeout=30_000)
    screenshot(page, f"outputs-{width}x{height}", full_page=False)
    # No horizontal scrolling; the menu stays on one line; list and drawing side by side.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.locator("header.topbar").bounding_box()["height"] < 60
    nav = page.locator("nav[aria-label=Histograms]").bounding_box()
    drawing = page.locator("#jsroot-drawing").bounding_box()
    assert nav["x"] + nav["width"] <= drawing["x"]
    assert drawing["width"] > width * 0.55
