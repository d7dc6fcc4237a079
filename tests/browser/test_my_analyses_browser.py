"""My Analyses in Debian's chromium (issue 18 item 10): an analysis dragged by its title bar
onto another lands before or after it and the order is kept after a reload (saved per
user); hovering an enabled cell shows its package tag, time and user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.served import uvicorn_app
from tests.web_pages.accounts import ANALYZER, PASSWORD
from tests.web_pages.seed_analyses import seeded_copy

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, realdata: Path) -> Iterator[tuple[str, dict]]:
    tmp = tmp_path_factory.mktemp("my-analyses-server")
    template = tmp_path_factory.getbasetemp() / "analyses-pages-template"
    url, outputs, seeded = seeded_copy(template, tmp, realdata)
    settings = {
        "HYPERLOOP_DATABASE_URL": url,
        "HYPERLOOP_DATA_DIR": str(tmp),
        "HYPERLOOP_OUTPUTS_ROOT": str(outputs),
    }
    with uvicorn_app(settings, tmp, ready="/static/css/analyses.css") as base:
        yield base, seeded.ids


@pytest.fixture
def page(browser, site):
    base, _ = site
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    p = context.new_page()
    p.errors = []
    p.on("pageerror", lambda exc: p.errors.append(str(exc)))
    p.goto(base + "/login")
    p.get_by_label("Username").fill(ANALYZER)
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    p.wait_for_url(base + "/")
    yield p
    context.close()


def _order(page) -> list[str]:
    return page.locator('details.analysis[data-member="true"] summary .name').all_inner_texts()


def test_drag_an_analysis_onto_another_and_the_order_is_kept(page, site):
    base, ids = site
    before = _order(page)
    assert sorted(before) == ["HF-charm", "LF-spectra"]
    first, second = before
    moved = page.locator(f"details.analysis:has(summary .name:text-is('{second}')) > summary")
    onto = page.locator(f"details.analysis:has(summary .name:text-is('{first}'))")
    with page.expect_response(lambda r: "/display" in r.url and r.request.method == "PUT"):
        moved.drag_to(onto, target_position={"x": 40, "y": 5})  # upper half: before it
    assert _order(page) == [second, first]
    page.wait_for_load_state("networkidle")
    page.reload()
    assert _order(page) == [second, first]
    # back again: the top one dropped on the lower half of the other goes after it
    moved = page.locator(f"details.analysis:has(summary .name:text-is('{second}')) > summary")
    onto = page.locator(f"details.analysis:has(summary .name:text-is('{first}'))")
    height = onto.bounding_box()["height"]
    with page.expect_response(lambda r: "/display" in r.url and r.request.method == "PUT"):
        moved.drag_to(onto, target_position={"x": 40, "y": height - 4})
    assert _order(page) == [first, second]
    page.wait_for_load_state("networkidle")
    page.reload()
    assert _order(page) == [first, second]
    assert page.errors == []


def test_hovering_an_enabled_cell_shows_tag_time_and_user(page, site):
    base, ids = site
    toggle = page.locator(f"#cell-{ids['strange']}-{ids['dataset']} button.toggle")
    who = toggle.get_attribute("title")
    assert who.startswith("tag: hyperloop-physics 0.2.0 · enabled 20")
    assert who.endswith(" UTC by alice (click to disable)")
    toggle.hover()
    off = page.locator(f"#cell-{ids['corr']}-{ids['dataset']} button.toggle")
    assert off.get_attribute("title") == "Enable corr on LHC22_ud_pass4"
    assert page.errors == []


def test_the_guided_tour_walks_through_the_page_and_can_be_dismissed(page, site):
    base, _ = site
    offer = page.get_by_role("region", name="Guided tour")
    offer.get_by_role("button", name="Take the tour").click()
    tour = page.get_by_role("dialog", name="Guided tour")
    assert tour.locator(".tour-title").inner_text() == "Your analyses"
    assert tour.locator(".tour-count").inner_text() == "1 / 4"
    assert page.locator("summary.tour-highlight").count() == 1
    tour.get_by_role("button", name="Next").click()
    assert tour.locator(".tour-title").inner_text() == "Wagons × datasets"
    assert page.locator("table.grid.tour-highlight").count() == 1
    tour.get_by_role("button", name="Exit").click()
    assert tour.count() == 0 and page.locator(".tour-highlight").count() == 0
    # the box offers "don't show again" too (checked on the datasets page below)
    # the last step says Done and closes the tour
    offer.get_by_role("button", name="Take the tour").click()
    for _ in range(3):
        tour.get_by_role("button", name="Next").click()
    assert tour.locator(".tour-title").inner_text() == "Notifications"
    tour.get_by_role("button", name="Done").click()
    assert tour.count() == 0
    # "don't show again" is remembered for the user: no offer after a reload
    with page.expect_response(lambda r: r.url.endswith("/api/tours/my-analyses/dismiss")):
        offer.get_by_role("button", name="Dismiss for good").click()
    assert offer.count() == 0
    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("region", name="Guided tour").count() == 0
    # other pages still offer theirs; "Don't show again" in the tour box dismisses it too
    page.goto(base + "/datasets")
    page.get_by_role("region", name="Guided tour").get_by_role(
        "button", name="Take the tour"
    ).click()
    with page.expect_response(lambda r: r.url.endswith("/api/tours/datasets/dismiss")):
        tour.get_by_role("button", name="Don't show again").click()
    assert tour.count() == 0
    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("region", name="Guided tour").count() == 0
    assert page.errors == []
