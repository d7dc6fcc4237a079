"""The pages work under their Content-Security-Policy: no script, style, font, image, frame
or connection of any page (JSROOT, uPlot, htmx, speedscope included) is refused by the
policy, which the browser reports as a console error."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# (address, selector that appears once the page's scripts have drawn it)
PAGES = [
    ("/", "main#main"),
    ("/all-analyses", "main#main"),
    ("/dashboard", "main#main"),
    ("/train-submission", "main#main"),
    ("/train-runs", "main#main"),
    ("/datasets", "main#main"),
    ("/runlists", "main#main"),
    ("/notifications", "main#main"),
    ("/profile", "main#main"),
    ("/performance-graphs?path=work/trains/1/output/performanceMetrics.json", "#perf-graph canvas"),
    (
        "/outputs/browse?path=work/trains/1/output/AnalysisResults.root&hist=spectra/hPt",
        "#jsroot-drawing[data-drawn='spectra/hPt'] svg",
    ),
    (
        "/outputs/browse?path=work/trains/1/AnalysisResults_tlist.root&hist=qa-task/qaList/hMult",
        "#jsroot-drawing[data-drawn='qa-task/qaList/hMult'] svg",
    ),
]


def _watch(page) -> list[str]:
    """Console errors and CSP violation reports of the page and its frames."""
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(f"{msg.type}: {msg.text}") if msg.type == "error" else None,
    )
    return problems


def test_no_page_breaks_its_content_security_policy(page, server):
    problems = _watch(page)
    for url, ready in PAGES:
        response = page.goto(server + url)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector(ready, timeout=30_000)
        page.wait_for_load_state("networkidle")
        assert problems == [], f"{url}: {problems}"
    assert page.errors == []


def test_speedscope_runs_under_the_policy(page, server):
    problems = _watch(page)
    page.goto(server + "/profile-viewer?path=work/trains/1/output/profile.speedscope.json")
    frame = page.frame_locator("#speedscope-frame")
    frame.get_by_text("work/trains/1/output/profile.speedscope.json").wait_for(timeout=30_000)
    assert frame.locator("canvas").count() >= 1
    assert problems == []
    assert page.errors == []


def test_login_form_works_without_inline_script(anonymous_page, server):
    from tests.web_pages.accounts import ANALYZER, PASSWORD

    page = anonymous_page
    problems = _watch(page)
    page.goto(server + "/login")
    page.get_by_label("Username").fill(ANALYZER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server + "/")
    assert problems == []
    assert page.errors == []
