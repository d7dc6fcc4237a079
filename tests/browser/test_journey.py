"""The newcomer journey on the demo site, end to end in a browser (ISSUE 6, "The first
README command"): ``hyperloop serve --demo`` prints the URL and accounts; the analyzer logs
in, enables a wagon and watches its test run to done; the operator composes a train,
watches its test, submits it and browses the merged histograms with JSROOT.

Everything is real: the server process with its scheduler and Dask LocalCluster, the
physics package tag built by the demo, PYTHIA demo data, SQLite.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.browser.conftest import screenshot

from hyperloop.demo.site import DATASET, prepare_demo
from hyperloop.settings import load_settings

pytestmark = pytest.mark.slow
REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
FINAL_TEST = ("test_done", "test_warning", "test_failed")
ACCOUNT_LINE = re.compile(r"^\s+(?P<role>\S.*?)\s{2,}(?P<user>\S+)\s+(?P<password>\S.*?)\s*$")


@dataclass
class Demo:
    base: str
    passwords: dict[str, str]  # username -> password printed when the demo was prepared
    roles: dict[str, str]  # username -> printed role
    banner: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accounts(banner: str) -> tuple[dict[str, str], dict[str, str]]:
    """(username -> password, username -> role) from the printed account lines."""
    lines = banner.splitlines()
    start = next(i for i, line in enumerate(lines) if "accounts" in line.lower())
    passwords, roles = {}, {}
    for line in lines[start + 1 :]:
        match = ACCOUNT_LINE.match(line)
        if match is None:
            break
        passwords[match["user"]] = match["password"]
        roles[match["user"]] = match["role"]
    return passwords, roles


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``hyperloop serve --demo`` in its own process group on a fresh data folder (the demo
    data is made smaller beforehand by preparing it once with fewer events)."""
    root = tmp_path_factory.mktemp("journey")
    url = f"sqlite:///{root / 'hyperloop.db'}"
    site = prepare_demo(
        load_settings(data_dir=root, database_url=url), events_per_run=1000, pool_size=200
    )
    port = _free_port()
    env = os.environ | {
        "HYPERLOOP_DATA_DIR": str(root),
        "HYPERLOOP_DATABASE_URL": url,
        "HYPERLOOP_SCHEDULER_INTERVAL_S": "0.5",
    }
    log_path = root / "serve.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hyperloop", "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                pytest.fail(f"hyperloop serve --demo did not start:\n{log_path.read_text()}")
            time.sleep(0.5)
    banner = log_path.read_text()
    _printed, roles = _accounts(banner)
    # passwords are printed once, by the first preparation; serve --demo then prints none
    passwords = {user: password for _, user, password in site.accounts}
    assert not any(p in banner for p in passwords.values())
    yield Demo(base, passwords, roles, banner)
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    log.close()


def _page(browser, demo: Demo, username: str):
    """A new browser context logged in through the login page with the printed password."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(demo.base + "/")
    page.wait_for_url(re.compile(r".*/login.*"))  # anonymous visitors land on the login page
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(demo.passwords[username])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(demo.base + "/")
    return page


def _wait_for_state(page, url: str, selector: str, attribute: str, final, timeout: float):
    """Reload ``url`` until ``selector``'s ``attribute`` is one of ``final``; its value."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout
    while True:
        try:
            page.goto(url)
            value = page.locator(selector).first.get_attribute(attribute)
        except PlaywrightError:  # the page's own navigation (an action's reload) won
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
            continue
        if value in final or time.monotonic() > deadline:
            return value
        time.sleep(2)


def test_demo_prints_url_and_an_account_per_role(demo: Demo):
    assert f"{demo.base}/" in demo.banner or demo.base in demo.banner
    assert {"admin", "operator", "alice", "bob"} <= set(demo.passwords)
    assert demo.roles["alice"] == demo.roles["bob"] == "analyzer"
    assert demo.roles["operator"] == "operator" and demo.roles["admin"] == "admin"


def test_newcomer_journey(browser, demo: Demo):
    # --- the analyzer enables a wagon and watches its test --------------------------------
    alice = _page(browser, demo, "alice")
    assert alice.title().startswith("My Analyses")
    toggle = alice.get_by_role("button", name=f"Not enabled: enable spectra on {DATASET}")
    toggle.click()
    alice.get_by_role("button", name="Enable and test").click()
    spectra_cell = f'.cell[data-wagon-name="spectra"][data-dataset-name="{DATASET}"]'
    # the cell is re-rendered enabled, with the status icon of its queued test
    alice.wait_for_selector(
        f"{spectra_cell}:is([data-status=queued], [data-status=running], "
        "[data-status=done], [data-status=warning])",
        timeout=30_000,
    )
    screenshot(alice, "journey-1-wagon-enabled")
    # the cell polls its status (htmx) until the test is final: no reload needed
    alice.wait_for_selector(
        f"{spectra_cell}:is([data-status=done], [data-status=warning], [data-status=failed])",
        timeout=300_000,
    )
    cell = alice.locator(spectra_cell)
    status = cell.get_attribute("data-status")
    cell.locator("a.test-link").click()
    alice.wait_for_url(re.compile(r".*/wagon-test/\d+$"))
    assert "spectra" in alice.title()
    # done, or a warning explained on the page (tiny demo samples may trip a threshold);
    # both may be composed into a train
    assert status in ("done", "warning"), alice.locator("main").inner_text()[:2000]
    assert alice.get_by_text(re.compile(r"hyperloop reproduce http")).count() >= 1
    screenshot(alice, "journey-2-wagon-test-done")
    assert alice.errors == []

    # --- the operator composes, tests and submits a train ---------------------------------
    op = _page(browser, demo, "operator")
    op.get_by_role("link", name="Train Submission").click()
    op.wait_for_url(re.compile(r".*/train-submission.*"))
    op.get_by_label("Select wagon spectra").check()
    op.get_by_role("button", name="Select all compatible").click()
    target = next(
        o for o in op.locator("#c-target option").all_inner_texts() if o.startswith("local-")
    )
    op.get_by_label("Target").select_option(label=target)
    screenshot(op, "journey-3-compose")
    op.get_by_role("button", name="Compose train").click()
    op.wait_for_function("() => document.title.startsWith('Train run ')", timeout=30_000)
    train_id = int(re.match(r"Train run (\d+)", op.title()).group(1))
    train_url = f"{demo.base}/train-run/{train_id}"
    state = _wait_for_state(
        op, train_url, f"#train-status-{train_id}", "data-state", FINAL_TEST, 300
    )
    assert state in ("test_done", "test_warning"), state
    screenshot(op, "journey-4-train-tested")
    op.get_by_role("button", name="Submit").click()
    op.wait_for_selector(
        f"#train-status-{train_id}:is([data-state=submitted], [data-state=running], "
        "[data-state=merging], [data-state=done])",
        timeout=60_000,
    )
    state = _wait_for_state(
        op, train_url, f"#train-status-{train_id}", "data-state", ("done", "killed"), 600
    )
    assert state == "done"
    screenshot(op, "journey-5-train-done")

    # --- and browses the merged histograms ------------------------------------------------
    op.get_by_role("link", name="Outputs").first.click()
    op.get_by_role("link", name="Open in the output browser").first.click()
    op.wait_for_url(re.compile(r".*/outputs/browse\?path=.*AnalysisResults\.root.*"))
    op.wait_for_selector("#jsroot-drawing[data-drawn] svg", timeout=60_000)
    histograms = op.locator("#hist-list a[data-hist]")
    assert histograms.count() > 20  # spectra (+ 2 subwagons), strangeness, correlations
    names = " ".join(op.locator("#hist-list .dirname").all_inner_texts())
    for directory in ("spectra-charged", "strangeness", "two-particle-correlations"):
        assert directory in names
    screenshot(op, "journey-6-merged-histograms")
    assert op.errors == []
