"""My Analyses and the wagon pages in Debian's chromium: the analyzer enables a wagon (tag
policy dialog) and sees its test status, edits a configurable and saves it, uploads a real
O2 configuration and sees the diff before saving, meets an edit conflict, and reads a real
wagon test with its graphs. Screenshots of the main pages go to ci-artifacts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from tests.browser.conftest import screenshot
from tests.served import uvicorn_app
from tests.web_pages.accounts import ANALYZER, PASSWORD
from tests.web_pages.seed_analyses import seeded_copy

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, realdata: Path) -> Iterator[tuple[str, dict]]:
    """The real app under uvicorn over the seeded analyses (a private database copy)."""
    tmp = tmp_path_factory.mktemp("wagons-server")
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
    """A page logged in as the analyzer (1440 px wide); collects JavaScript errors."""
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


def test_enable_a_wagon_and_see_its_test_status(page, site):
    base, ids = site
    page.goto(base + "/")
    assert page.title() == "My Analyses · Hyperloop"
    toggle = page.get_by_role("button", name="Not enabled: enable corr on LHC22_ud_pass4")
    toggle.click()
    dialog = page.get_by_role("dialog")
    assert dialog.is_visible()
    dialog.get_by_label("Fixed tag").check()
    dialog.get_by_label("Tag", exact=True).select_option(label="hyperloop-physics 0.2.0")
    dialog.get_by_role("button", name="Enable and test").click()
    cell = page.locator(f"#cell-{ids['corr']}-{ids['dataset']}")
    cell.get_by_role("button", name="Enabled: disable corr on LHC22_ud_pass4").wait_for()
    assert cell.get_by_role("img", name="queued").is_visible()
    assert "fixed tag" in cell.inner_text()
    assert cell.get_attribute("hx-trigger") == "every 3s"  # live status while the test waits
    # collapse an analysis and move it: both are kept after a reload
    hf = page.locator(f"#analysis-{ids['hf']}")
    hf.get_by_role("button", name="Move HF-charm up").click()
    page.wait_for_timeout(300)
    hf.locator("summary .name").click()
    page.wait_for_timeout(300)
    page.reload()
    names = page.locator("details.analysis summary .name").all_inner_texts()
    assert names.index("HF-charm") < names.index("LF-spectra")
    assert page.locator(f"#analysis-{ids['hf']}").get_attribute("open") is None
    page.locator(f"#analysis-{ids['hf']} summary .name").click()
    page.wait_for_timeout(300)
    screenshot(page, "analyses-my")
    assert page.errors == []


def test_edit_a_configurable_and_save(page, site):
    base, ids = site
    page.goto(f"{base}/wagon/{ids['corr']}")
    assert page.title() == "Wagon corr · Hyperloop"
    eta = page.get_by_label("two-particle-correlations.etaMax", exact=True)
    eta.fill("0.75")
    # a variable-length array grows by one element
    page.get_by_role(
        "button", name="Add an element to two-particle-correlations.vertexZPoolEdges"
    ).click()
    page.get_by_label("two-particle-correlations.vertexZPoolEdges element 8").fill("15")
    assert "2 unsaved changes" in page.locator('.scope-panel[data-scope="base"]').inner_text()
    screenshot(page, "wagon-edit")
    with page.expect_navigation():
        page.get_by_role("button", name="Save base configuration").click()
    expect(page.locator("#save-notice")).to_contain_text("Saved 2 values")
    assert page.get_by_label("two-particle-correlations.etaMax", exact=True).input_value() == "0.75"
    assert (
        page.get_by_label("two-particle-correlations.vertexZPoolEdges element 8").input_value()
        == "15"
    )
    # a subwagon override: tick it, change the value, save
    page.get_by_role("button", name=re.compile("Subwagon narrow")).click()
    page.get_by_label("Override two-particle-correlations.nMixEvents in subwagon narrow").check()
    page.get_by_label("two-particle-correlations.nMixEvents (narrow)").fill("3")
    with page.expect_navigation():
        page.get_by_role("button", name="Save subwagon narrow").click()
    expect(page.locator("#save-notice")).to_contain_text("Saved subwagon narrow")
    page.get_by_role("button", name=re.compile("Subwagon narrow")).click()
    assert page.get_by_label("two-particle-correlations.nMixEvents (narrow)").input_value() == "3"
    assert page.errors == []


def test_a_conflicting_save_shows_what_changed(page, site, browser):
    base, ids = site
    page.goto(f"{base}/wagon/{ids['spectra']}")
    # somebody else saves the same wagon meanwhile (another session of alice)
    other = browser.new_context()
    p2 = other.new_page()
    p2.goto(base + "/login")
    p2.get_by_label("Username").fill(ANALYZER)
    p2.get_by_label("Password").fill(PASSWORD)
    p2.get_by_role("button", name="Log in").click()
    p2.wait_for_url(base + "/")
    p2.goto(f"{base}/wagon/{ids['spectra']}")
    p2.get_by_label("spectra-charged.etaMax", exact=True).fill("0.6")
    p2.get_by_role("button", name="Save base configuration").click()
    p2.wait_for_selector("#save-notice:not([hidden])")
    other.close()
    page.get_by_label("spectra-charged.etaMax", exact=True).fill("0.5")
    page.get_by_role("button", name="Save base configuration").click()
    conflict = page.locator("#conflict")
    conflict.wait_for(state="visible")
    assert "base_config.spectra-charged.etaMax" in conflict.inner_text()
    assert page.get_by_label("spectra-charged.etaMax", exact=True).input_value() == "0.5"
    assert page.errors == []


def test_upload_a_real_configuration_and_see_the_diff_before_saving(page, site, realdata):
    base, ids = site
    page.goto(f"{base}/wagon/{ids['o2strange']}")
    page.get_by_label("Configuration file (JSON)").set_input_files(
        str(realdata / "dpl-config_strangeness.json")
    )
    page.get_by_role("button", name="Preview upload").click()
    preview = page.locator("#upload-preview")
    preview.wait_for()
    diff = page.locator("#upload-diff").inner_text()
    assert "base_config.strangeness_tutorial.cutzvertex" in diff
    assert "nothing is saved yet" in preview.inner_text()
    preview.scroll_into_view_if_needed()
    screenshot(page, "wagon-upload-diff", full_page=False)
    # still the old values until the user confirms
    before = page.request.get(f"{base}/api/wagons/{ids['o2strange']}").json()
    with page.expect_navigation():
        page.get_by_role("button", name="Save uploaded configuration").click()
    expect(page.locator("#save-notice")).to_contain_text("Saved the uploaded configuration")
    after = page.request.get(f"{base}/api/wagons/{ids['o2strange']}").json()
    real = json.loads((realdata / "dpl-config_strangeness.json").read_text())
    assert after["version"] == before["version"] + 1
    assert (
        after["base_config"]["strangeness_tutorial"]["cutzvertex"]
        == real["strangeness_tutorial"]["cutzvertex"]
    )
    assert page.errors == []


def test_add_a_parameter_by_hand_see_it_in_the_history_and_remove_it(page, site):
    base, ids = site
    page.goto(f"{base}/wagon/{ids['corr']}")
    form = page.locator("#add-parameter-form")
    form.get_by_label("Task").select_option(label="two-particle-correlations")
    form.get_by_label("Parameter").fill("etaMax")  # declared: refused, nothing saved
    form.get_by_label("Value").fill("0.7")
    form.get_by_role("button", name="Add parameter").click()
    expect(form.get_by_role("alert")).to_contain_text("already declares 'etaMax'")
    form.get_by_label("Parameter").fill("maxMixDepth")
    form.get_by_label("Value").fill("[4, 8]")
    with page.expect_navigation():
        form.get_by_role("button", name="Add parameter").click()
    expect(page.locator("#save-notice")).to_contain_text(
        "Added parameter two-particle-correlations.maxMixDepth"
    )
    row = page.locator("#added-parameters tbody tr", has_text="maxMixDepth")
    assert row.locator("td").nth(1).inner_text() == "[4, 8]"
    wagon = page.request.get(f"{base}/api/wagons/{ids['corr']}").json()
    assert wagon["added_parameters"] == {"two-particle-correlations": {"maxMixDepth": [4, 8]}}
    page.goto(f"{base}/wagon/{ids['corr']}/history")
    history = page.locator("#history").inner_text()
    assert "added_parameters.two-particle-correlations.maxMixDepth" in history
    assert "added by hand" in history
    page.goto(f"{base}/wagon/{ids['corr']}")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Remove two-particle-correlations.maxMixDepth").click()
    expect(page.locator("#save-notice")).to_contain_text("Removed parameter")
    expect(page.locator("#added-parameters")).to_contain_text("No parameter added by hand")
    assert page.errors == []


def test_a_wagon_on_a_pull_requests_workflow_waits_for_its_tag(page, site):
    """The workflow exists only in pull request #2041: pick it from the list, configure the
    wagon, enable it with the pull request chosen from the list; its test waits for a tag."""
    base, ids = site
    page.goto(f"{base}/analysis/{ids['lf']}")
    form = page.locator("#create-wagon-form")
    assert "flow-harmonics" not in form.locator("#new-workflow").inner_text()
    form.get_by_label("Workflows from").select_option(label="PR #2041 Add flow harmonics (open)")
    form.locator("#new-workflow").select_option("flow-harmonics")
    form.get_by_label("Name (letters, digits, _)").fill("flow")
    with page.expect_navigation():
        form.get_by_role("button", name="Create wagon").click()
    assert page.title() == "Wagon flow · Hyperloop"
    expect(page.locator(".facts")).to_contain_text("Configured on pull request #2041")
    page.get_by_label("flow-task.harmonic", exact=True).fill("4")
    with page.expect_navigation():
        page.get_by_role("button", name="Save base configuration").click()
    expect(page.locator("#save-notice")).to_contain_text("Saved 1 value")
    wagon_id = int(page.url.split("/wagon/")[1].split("#")[0])

    page.goto(base + "/")
    page.get_by_role("button", name="Not enabled: enable flow on LHC22_ud_pass4").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Latest tag").check()
    dialog.get_by_role("button", name="Enable and test").click()
    expect(dialog.get_by_role("alert")).to_contain_text("configured on pull request #2041")
    dialog.get_by_label("Future tag containing a pull request").check()
    assert "Fix the eta cut" in dialog.inner_text()  # merged ones are listed too
    dialog.get_by_role("button", name="#2041").click()
    assert dialog.get_by_label("Pull request", exact=True).input_value() == "2041"
    dialog.get_by_role("button", name="Enable and test").click()
    cell = page.locator(f"#cell-{wagon_id}-{ids['dataset']}")
    cell.get_by_role("button", name="Enabled: disable flow on LHC22_ud_pass4").wait_for()
    tests = page.request.get(f"{base}/api/wagons/{wagon_id}/tests").json()["items"]
    page.goto(f"{base}/wagon-test/{tests[0]['id']}")
    expect(page.locator("main")).to_contain_text(
        "waiting for a released package tag containing pull request #2041"
    )
    assert page.errors == []


def test_wagon_test_result_with_graphs(page, site):
    base, ids = site
    page.goto(f"{base}/wagon-test/{ids['test_done']}")
    assert page.title().startswith("Wagon test")
    assert page.get_by_text("hyperloop reproduce").is_visible()
    graph = page.locator("#perf-graph")
    graph.locator("canvas").wait_for()
    graph.scroll_into_view_if_needed()
    box = graph.locator(".u-over").bounding_box()
    before = page.evaluate("() => document.getElementById('perf-graph').uplot.scales.x.max")
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    zoomed = page.evaluate("() => document.getElementById('perf-graph').uplot.scales.x.max")
    assert zoomed < before
    page.mouse.dblclick(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    screenshot(page, "wagon-test")
    assert page.errors == []


def test_derived_data_and_settings_are_saved(page, site):
    base, ids = site
    page.goto(f"{base}/wagon/{ids['skim']}#derived")
    panel = page.get_by_role("tabpanel", name="Derived data")
    panel.get_by_role("checkbox", name=re.compile("^SkimTracks")).check()
    size = panel.get_by_label("Max derived file size [bytes]")
    size.fill("2 GB")
    panel.get_by_role("button", name="Save derived data").click()
    expect(panel.get_by_role("alert")).to_contain_text("expected a whole number of bytes")
    assert panel.get_by_role("checkbox", name=re.compile("^SkimTracks")).is_checked()  # kept
    size.fill("2000000000")
    with page.expect_navigation():
        panel.get_by_role("button", name="Save derived data").click()
    expect(page.locator("#save-notice")).to_contain_text("Saved the derived-data settings")
    panel = page.get_by_role("tabpanel", name="Derived data")
    assert panel.get_by_role("checkbox", name=re.compile("^SkimTracks")).is_checked()
    assert panel.get_by_label("Max derived file size [bytes]").input_value() == "2000000000"
    page.get_by_role("tab", name="Settings").click()
    settings = page.get_by_role("tabpanel", name="Settings")
    settings.get_by_role("checkbox", name=re.compile(r"^evsel")).check()
    with page.expect_navigation():
        settings.get_by_role("button", name="Save settings").click()
    expect(page.locator("#save-notice")).to_contain_text("Saved the settings")
    wagon = page.request.get(f"{base}/api/wagons/{ids['skim']}").json()
    assert wagon["dependencies"] == [ids["evsel"]] and wagon["derived_tables"] == ["SkimTracks"]
    assert page.errors == []


def test_test_statistics_graphs_per_dataset(page, site):
    base, ids = site
    # a second dataset whose test has not run yet: its choice says "no tests"
    status = page.evaluate(
        """async ([w, d]) => (await fetch(`/api/wagons/${w}/datasets/${d}`, {
            method: "PUT",
            headers: {"Content-Type": "application/json",
                      "X-CSRF-Token": window.hyperloop.csrfToken()},
            body: JSON.stringify({policy: "latest"})})).status""",
        [ids["udrho"], ids["dataset2"]],
    )
    assert status == 200
    page.goto(f"{base}/wagon/{ids['udrho']}#tests")
    panel = page.get_by_role("tabpanel", name="Test statistics")
    choice = panel.get_by_label("Dataset")
    assert choice.locator("option:checked").inner_text() == "LHC22_ud_pass4 (1 test)"
    for name in ("PSS memory", "CPU time, wall time and throughput", "Output size"):
        graph = panel.get_by_role("figure", name=f"{name} of the tests")
        graph.locator("canvas").wait_for()
        assert graph.get_attribute("data-points") == "1"
    # hovering the point shows its figures as the server formatted them (hyperloop.units)
    pss = panel.get_by_role("figure", name="PSS memory of the tests")
    pss.scroll_into_view_if_needed()
    box = pss.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    legend = pss.locator(".u-legend").inner_text()
    assert re.search(r"max PSS\s*[\d.]+ (MB|kB|GB)", legend), legend
    screenshot(page, "wagon-test-statistics")
    # clicking the point opens that test in a new tab
    with page.context.expect_page() as opened:
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    new_tab = opened.value
    new_tab.wait_for_load_state()
    assert new_tab.url.endswith(f"/wagon-test/{ids['test_done']}")
    new_tab.close()
    choice.select_option(label="LHC23_pp_pass4 (0 tests)")
    expect(panel.get_by_text("No tests on this dataset yet.")).to_be_visible()
    assert not panel.get_by_role("figure", name="PSS memory of the tests").is_visible()
    choice.select_option(label="LHC22_ud_pass4 (1 test)")
    expect(panel.get_by_text("No tests on this dataset yet.")).to_be_hidden()
    panel.get_by_role("figure", name="Output size of the tests").locator("canvas").wait_for()
    assert page.errors == []


def test_history_compares_two_ticked_states_in_tabs(page, site):
    base, ids = site
    page.goto(f"{base}/wagon/{ids['corr']}/history")
    history = page.locator("#history-compare")
    compare = history.get_by_role("button", name="Compare", exact=True)
    assert compare.is_disabled()  # until exactly two states are ticked
    history.get_by_label("Compare version 1").check()
    assert compare.is_disabled()
    expect(page.locator("#history-chosen")).to_have_text("1 of 2 chosen")
    history.get_by_label("Compare version 2").check()
    assert compare.is_enabled()
    history.get_by_role("button", name="Unselect all").click()
    expect(page.locator("#history-chosen")).to_have_text("0 of 2 chosen")
    assert not history.get_by_label("Compare version 1").is_checked()
    assert compare.is_disabled()
    history.get_by_label("Compare version 2").check()
    history.get_by_label("Compare version 1").check()
    with page.expect_navigation():
        compare.click()
    assert "v=1" in page.url and "v=2" in page.url
    settings = page.get_by_role("tabpanel", name=re.compile("^Wagon settings"))
    assert settings.is_visible()
    page.get_by_role("tab", name=re.compile("^Configuration")).click()
    panel = page.get_by_role("tabpanel", name=re.compile("^Configuration"))
    expect(panel).to_be_visible()
    assert not settings.is_visible()
    row = panel.get_by_role("row", name=re.compile("nMixEvents"))
    assert row.locator("td.diff-old").inner_text() == "5"
    assert row.locator("td.diff-new").inner_text() == "9"
    screenshot(page, "wagon-compare")
    # compare with a wagon of another analysis, chosen from every wagon the user can read
    page.get_by_label("Wagon (any analysis)").select_option(label="charm · pid")
    with page.expect_navigation():
        page.locator("form").filter(has=page.get_by_label("Wagon (any analysis)")).get_by_role(
            "button", name="Compare"
        ).click()
    expect(page.locator("#compare-sides")).to_contain_text("HF-charm")
    assert page.errors == []


@pytest.mark.parametrize("width", [1280, 1920])
def test_pages_fit_laptop_and_wide_screens(browser, site, width):
    base, ids = site
    context = browser.new_context(viewport={"width": width, "height": 900})
    p = context.new_page()
    p.goto(base + "/login")
    p.get_by_label("Username").fill(ANALYZER)
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    p.wait_for_url(base + "/")
    for url in ("/", f"/wagon/{ids['corr']}", f"/wagon-test/{ids['test_done']}"):
        p.goto(base + url)
        overflow = p.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{url} is wider than {width} px by {overflow} px"
    context.close()
