"""Dataset, runlist, notification, profile and admin pages in Debian's chromium: an operator
edits a dataset setting (a bad value first: the message shows and nothing typed is lost), the
analyzer marks a notification read and sees the bell count drop, creates an API token (shown
once). Screenshots of the main pages go to ci-artifacts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from tests.browser.conftest import screenshot
from tests.factories import staging_copied
from tests.served import uvicorn_app
from tests.web_pages.seed_datasets import PASSWORD, ROLE_USERS, ROOTS, done_derived_train, seed

from hyperloop.db.models import StagingTransfer
from hyperloop.db.session import make_engine, make_sessionmaker

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def site_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    """The real app under uvicorn over the seeded dataset site."""
    tmp = tmp_path_factory.mktemp("datasets-server")
    url = f"sqlite:///{tmp / 'hyperloop.db'}"
    ids = seed(url)
    ids["url"] = url  # type: ignore[assignment]  # tests write progress to the same file
    settings = {
        "HYPERLOOP_DATABASE_URL": url,
        "HYPERLOOP_DATA_DIR": str(tmp),
        "HYPERLOOP_STORAGE_ROOTS": json.dumps(ROOTS),  # the seeded catalogue's roots
    }
    with uvicorn_app(settings, tmp, ready="/static/css/datasets.css") as base:
        yield base, ids


def set_staging_copied(url: str, target: str, files: int) -> None:
    """What the scheduler's staging work records: ``files`` of the target's files copied."""
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as s:
        for t in s.scalars(select(StagingTransfer).where(StagingTransfer.target == target)):
            staging_copied(s, t.id, files=files)
    engine.dispose()


@pytest.fixture
def login(browser, site_server):
    """``login(role)``: a page logged in as that role (1440 px wide); no JavaScript errors."""
    base, _ = site_server
    contexts = []
    pages = []

    def _login(role: str, width: int = 1440):
        context = browser.new_context(viewport={"width": width, "height": 900})
        contexts.append(context)
        p = context.new_page()
        p.errors = []
        p.on("pageerror", lambda exc: p.errors.append(str(exc)))
        p.goto(base + "/login")
        p.get_by_label("Username").fill(ROLE_USERS[role])
        p.get_by_label("Password").fill(PASSWORD)
        p.get_by_role("button", name="Log in").click()
        p.wait_for_url(base + "/")
        pages.append(p)
        return p

    yield _login
    for p in pages:
        assert p.errors == [], p.errors
    for c in contexts:
        c.close()


def test_operator_edits_a_dataset_setting(login, site_server) -> None:
    base, ids = site_server
    page = login("operator")
    page.goto(f"{base}/datasets")
    assert page.title() == "Datasets · Hyperloop"
    page.get_by_label("Name contains").fill("LHC23")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*name=LHC23.*"))
    page.get_by_role("link", name="LHC23_pp_pass4", exact=True).click()
    page.wait_for_url(f"{base}/dataset/{ids['dataset']}")
    page.get_by_role("link", name="Edit dataset").click()
    page.wait_for_url(f"{base}/dataset/{ids['dataset']}/edit")
    screenshot(page, "dataset-edit")
    form = page.locator("#settings-form")
    form.get_by_label("Train slots per analysis per week").fill("6")
    form.get_by_label("Times (UTC, HH:MM, comma separated)").fill("08:00, 25:00")
    form.get_by_role("button", name="Save settings").click()
    alert = form.get_by_role("alert")
    alert.wait_for()
    assert "auto_compose_times" in alert.inner_text() and "25:00" not in page.url
    # nothing typed is lost: fix the bad value and save again
    assert form.get_by_label("Train slots per analysis per week").input_value() == "6"
    form.get_by_label("Times (UTC, HH:MM, comma separated)").fill("08:00, 20:00")
    with page.expect_navigation():
        form.get_by_role("button", name="Save settings").click()
    page.goto(f"{base}/dataset/{ids['dataset']}")
    limits = page.get_by_role("region", name="Resource limits")
    assert "Train slots per analysis per week\n6" in limits.inner_text()
    assert "08:00, 20:00" in page.get_by_role("region", name="Automatic composition").inner_text()
    screenshot(page, "dataset-view")
    page.goto(f"{base}/datasets")
    screenshot(page, "datasets")
    page.goto(f"{base}/staging-status")
    assert page.locator("#staging-live[hx-trigger]").count() == 1  # af-gsi still running
    screenshot(page, "staging-status")
    # the scheduler records the files copied: htmx polling shows it, then stops when done
    set_staging_copied(ids["url"], "af-gsi", 4)  # 9 of 13.5 MB
    page.locator("#staging-table span.num", has_text="4/6 files").wait_for(timeout=20_000)
    assert page.locator("#staging-table span.num", has_text="67%").count() == 1
    set_staging_copied(ids["url"], "af-gsi", 6)
    page.get_by_text("No transfer running.").wait_for(timeout=20_000)
    assert page.locator("#staging-live[hx-trigger]").count() == 0


def test_analyzer_sees_no_edit_controls(login, site_server) -> None:
    base, ids = site_server
    page = login("analyzer", width=1280)
    page.goto(f"{base}/dataset/{ids['dataset']}")
    assert page.get_by_role("link", name="Edit dataset").count() == 0
    assert page.get_by_role("button", name="Deactivate").count() == 0
    # laptop width: the cards and tables fit without a horizontal scroll bar
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "dataset-view-1280")


def test_mark_a_notification_read_and_the_bell_drops(login, site_server) -> None:
    base, _ = site_server
    page = login("analyzer")
    page.goto(f"{base}/notifications")
    bell = page.locator("a.bell")
    before = int(bell.locator(".badge").inner_text())
    assert before > 0
    assert bell.get_attribute("aria-label") == f"Notifications: {before} unread"
    first = page.locator("li.notification.unread").first
    message = first.locator(".notification-message").inner_text()
    first.get_by_role("button", name=re.compile("Mark as read")).click()
    page.wait_for_function(
        "n => document.querySelector('a.bell .badge')?.textContent === String(n)", arg=before - 1
    )
    assert bell.get_attribute("aria-label") == f"Notifications: {before - 1} unread"
    assert message.removeprefix("New: ") in page.locator("li.notification.read").first.inner_text()
    page.reload()
    assert int(page.locator("a.bell .badge").inner_text()) == before - 1
    screenshot(page, "notifications")


def test_create_an_api_token_shown_once(login, site_server) -> None:
    base, _ = site_server
    page = login("analyzer")
    page.goto(f"{base}/profile")
    assert page.title() == "Profile of alice · Hyperloop"
    page.get_by_label("What is the token for?").fill("laptop scripts")
    page.get_by_role("button", name="Create token").click()
    value = page.locator("#new-token-value")
    value.wait_for()
    token = value.inner_text()
    assert token.startswith("hlp_") and len(token) > 30
    row = page.locator("#tokens tbody tr").first
    assert "laptop scripts" in row.inner_text()
    screenshot(page, "profile")
    page.reload()
    assert token not in page.content()  # shown only once
    assert "laptop scripts" in page.locator("#tokens").inner_text()


def test_runlists_and_admin_pages(login, site_server) -> None:
    base, ids = site_server
    page = login("dpg_expert")
    page.goto(f"{base}/runlists")
    assert page.title() == "DPG runlists · Hyperloop"
    assert page.get_by_text("Create a runlist").count() == 1
    screenshot(page, "runlists")
    page.goto(f"{base}/runlist/{ids['runlist']}")
    assert "LHC23_pp_pass4" in page.get_by_role("region", name="Datasets using it").inner_text()
    screenshot(page, "runlist-view")
    admin = login("admin")
    admin.goto(f"{base}/admin")
    assert admin.title() == "Administration · Hyperloop"
    assert admin.locator("#users tbody tr").count() >= 8
    screenshot(admin, "admin")
    admin.goto(f"{base}/derived-data")
    screenshot(admin, "derived-data")


def test_operator_deletes_an_unused_derived_output(login, site_server, tmp_path) -> None:
    base, ids = site_server
    train = done_derived_train(ids["url"], ids["derived_train"], tmp_path)
    page = login("operator")
    page.goto(f"{base}/derived-data?unused=true")
    row = page.locator("tr", has=page.locator(f'a[href="/train-run/{train}"]'))
    assert "2.0 kB" in row.inner_text() and "unused" in row.inner_text()
    screenshot(page, "derived-data-unused")
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Delete unused output").click()
    expect(row).to_have_count(0)  # the page reloaded: nothing left to delete there
    page.goto(f"{base}/derived-data")
    row = page.locator("tr", has=page.locator(f'a[href="/train-run/{train}"]'))
    assert "deleted" in row.inner_text()
    assert "Output deleted: nothing to register." in row.inner_text()
    assert not (tmp_path / "merged").exists()
    page.goto(f"{base}/derived-data?dataset_id=abc")  # a malformed filter: an error page
    assert page.title() == "Invalid address · Hyperloop"
    assert "dataset_id" in page.get_by_role("alert").inner_text() or "dataset_id" in (
        page.locator("ul.problems").inner_text()
    )
    screenshot(page, "error-page")


def test_operator_fills_a_runlist_production_by_listing_its_storage(
    login, site_server, tmp_path
) -> None:
    """Each run of the runlist is listed in the storage; the excluded run 544032 is not, and
    the totals leave its files out."""
    base, ids = site_server
    storage = tmp_path / "LHC23zzh" / "pass4"
    for run in (544013, 544028, 544032):
        (storage / str(run)).mkdir(parents=True)
        (storage / str(run) / "AO2D_001.root").write_bytes(b"x" * 1000)
    page = login("operator")
    page.goto(f"{base}/dataset/{ids['dataset']}")
    before = int(page.locator("#productions tbody tr td.num").first.inner_text())
    page.goto(f"{base}/dataset/{ids['dataset']}/edit")
    page.get_by_label(re.compile("^Storage of")).fill(str(tmp_path / "nowhere"))
    page.get_by_role("button", name="List the storage of each run").click()
    form = page.locator("form", has=page.get_by_label(re.compile("^Storage of")))
    expect(form.get_by_role("alert")).to_contain_text("does not exist")
    page.get_by_label(re.compile("^Storage of")).fill(str(storage))
    with page.expect_navigation():
        page.get_by_role("button", name="List the storage of each run").click()
    page.goto(f"{base}/dataset/{ids['dataset']}")
    row = page.locator("#productions tbody tr").first
    assert int(row.locator("td.num").first.inner_text()) == before + 2  # not run 544032
    assert "of excluded runs, not counted" in row.inner_text()


def test_derived_data_groups_expand_and_collapse_all(login, site_server, tmp_path) -> None:
    base, ids = site_server
    done_derived_train(ids["url"], ids["derived_train"], tmp_path)
    page = login("analyzer")
    page.goto(f"{base}/derived-data")
    page.get_by_role("link", name="PWG", exact=True).click()
    page.wait_for_url(re.compile(r"group=pwg"))
    groups = page.locator("details.derived-group")
    assert groups.count() >= 1
    assert "Total size of all derived data" in page.locator("#derived-total").inner_text()
    page.get_by_role("button", name="Collapse all").click()
    assert all(g.get_attribute("open") is None for g in groups.all())
    assert not page.locator("table.derived-table").first.is_visible()
    page.get_by_role("button", name="Expand all").click()
    assert all(g.get_attribute("open") is not None for g in groups.all())
    assert page.locator("table.derived-table").first.is_visible()
