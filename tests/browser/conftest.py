"""Browser-test fixtures: the real app under uvicorn on a free port, Debian's chromium via
Playwright (``playwright install`` cannot download browsers here), screenshots for CI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.served import uvicorn_app
from tests.web_pages.accounts import ANALYZER, PASSWORD, seed_accounts
from tests.web_pages.sample_outputs import TRAIN, make_outputs, seed_train

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
SCREENSHOTS = REPO_ROOT / "ci-artifacts" / "screenshots"
CHROMIUM = os.environ.get("HYPERLOOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# O2 tasks also store histograms inside a TList (OutputObj<TList>); written by ROOT itself.
WRITE_TLIST = """
import os, sys, ROOT
f = ROOT.TFile.Open(sys.argv[1], "RECREATE")
f.mkdir("qa-task").cd()
items = ROOT.TList()
h = ROOT.TH1F("hMult", "multiplicity;N_{ch};events", 50, 0, 50)
for i in range(1000):
    h.Fill(i % 37)
items.Add(h)
items.Add(ROOT.TH1F("hPhi", "phi", 36, 0, 6.3))
items.Write("qaList", ROOT.TObject.kSingleKey)
f.Close()
sys.stdout.flush()
os._exit(0)  # skip interpreter teardown: PyROOT may crash deleting the list's histograms
"""


@pytest.fixture(scope="session")
def outputs_dir(tmp_path_factory: pytest.TempPathFactory, realdata: Path) -> Path:
    root = make_outputs(tmp_path_factory.mktemp("outputs"), realdata)
    target = root / TRAIN / "AnalysisResults_tlist.root"
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", WRITE_TLIST, str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0 or not target.is_file():
        pytest.fail(f"ROOT could not write the TList sample file: {done.stderr[-2000:]}")
    return root


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, outputs_dir: Path) -> Iterator[str]:
    """Base URL of the real app (uvicorn, create_app from HYPERLOOP_* settings)."""
    data = tmp_path_factory.mktemp("server")
    url = f"sqlite:///{data / 'hyperloop.db'}"
    seed_accounts(url)
    seed_train(url)  # the sample outputs are train run 1's
    settings = {
        "HYPERLOOP_DATABASE_URL": url,
        "HYPERLOOP_DATA_DIR": str(data),
        "HYPERLOOP_OUTPUTS_ROOT": str(outputs_dir),
        "HYPERLOOP_WORK_DIR": str(outputs_dir / "work"),
    }
    with uvicorn_app(settings, data, ready="/static/css/hyperloop.css", timeout=30) as base:
        yield base


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"chromium not found at {CHROMIUM}: browser tests need Debian's chromium "
            "(run `source scripts/services.sh && start_browser`, or set HYPERLOOP_CHROMIUM)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def log_in(page, base: str, username: str = ANALYZER) -> None:
    """Log in through the login page."""
    page.goto(base + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")


@pytest.fixture(scope="session")
def logged_in_state(browser, server: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Cookies of a login session of the analyzer, shared by the tests' browser contexts."""
    context = browser.new_context()
    p = context.new_page()
    log_in(p, server)
    path = tmp_path_factory.mktemp("state") / "analyzer.json"
    context.storage_state(path=str(path))
    context.close()
    return str(path)


@pytest.fixture
def anonymous_page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    p = context.new_page()
    p.errors = []
    p.on("pageerror", lambda exc: p.errors.append(str(exc)))
    yield p
    context.close()


@pytest.fixture
def page(browser, logged_in_state: str) -> Iterator[object]:
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, storage_state=logged_in_state
    )
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.errors = errors  # tests assert no JavaScript errors
    yield p
    context.close()


def screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save a screenshot where CI keeps artifacts."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
