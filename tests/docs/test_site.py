"""The documentation builds strictly with one command, contains the generated reference,
and the application serves it under /documentation (or says how to build it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.docs.conftest import DOCS

from hyperloop.docs.hooks import on_page_markdown
from hyperloop.docs.screenshots import EXPECTED, copy_screenshots
from hyperloop.settings import settings_doc
from hyperloop.web.pages.docs_links import mount_documentation


@pytest.mark.slow
def test_site_has_every_nav_page_and_the_generated_reference(built_site):
    for page in (
        "user-guide/concepts",
        "user-guide/warnings",
        "operator-guide/deployment",
        "workflows/configurables",
        "reference/settings",
        "reference/cli",
        "reference/api",
        "reference/file-formats",
    ):
        assert (built_site / page / "index.html").is_file(), page
    settings_html = (built_site / "reference" / "settings" / "index.html").read_text()
    for _name, env, _default, _help in settings_doc():
        assert env in settings_html
    cli_html = (built_site / "reference" / "cli" / "index.html").read_text()
    assert 'id="hyperloop-docs-build"' in cli_html and 'id="hyperloop-db-upgrade"' in cli_html
    assert (built_site / "reference" / "openapi.json").stat().st_size > 10_000
    # the examples are included from the tested files, not copied by hand
    assert "two-track-mass" in (built_site / "workflows" / "index.html").read_text()


@pytest.mark.slow
def test_application_serves_the_built_site_under_documentation(built_site):
    app = FastAPI()
    app.state.settings = None
    mount_documentation(app, built_site)
    with TestClient(app) as client:
        home = client.get("/documentation/")
        assert home.status_code == 200 and "Hyperloop documentation" in home.text
        page = client.get("/documentation/user-guide/warnings/")
        assert page.status_code == 200 and 'id="memory-growth"' in page.text
        css = next((built_site / "assets" / "stylesheets").glob("*.css"))
        asset = client.get(f"/documentation/assets/stylesheets/{css.name}")
        assert asset.status_code == 200 and "text/css" in asset.headers["content-type"]
        assert client.get("/documentation/no-such-page/").status_code == 404


def test_documentation_says_how_to_build_it_while_not_built(tmp_path):
    from hyperloop.settings import load_settings
    from hyperloop.web.app import create_app

    settings = load_settings(database_url="sqlite://", data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        response = client.get("/documentation/")
    assert response.status_code == 503
    assert "hyperloop docs build" in response.text
    assert str(tmp_path / "documentation") in response.text


def test_missing_screenshot_becomes_a_visible_note_and_present_ones_stay(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "dashboard.png").write_bytes(b"\x89PNG")
    config = {"docs_dir": str(tmp_path)}
    page = SimpleNamespace(file=SimpleNamespace(src_uri="user-guide/x.md"))
    text = "Intro\n\n![The dashboard](../images/dashboard.png)\n\n![Jobs](../images/train-run-jobs.png)\n"
    out = on_page_markdown(text, page, config, None)
    assert "![The dashboard](../images/dashboard.png)" in out
    assert '!!! note "Screenshot not captured yet: train-run-jobs.png"' in out
    assert "![Jobs]" not in out


def test_screenshots_are_copied_from_the_browser_tests_folder(tmp_path):
    source, dest = tmp_path / "ci", tmp_path / "images"
    source.mkdir()
    (source / "dashboard.png").write_bytes(b"\x89PNG")
    (source / "unrelated.png").write_bytes(b"\x89PNG")
    copied, missing = copy_screenshots(source, dest)
    assert copied == ["dashboard"]
    assert sorted(p.name for p in dest.iterdir()) == ["dashboard.png"]
    assert "dashboard" not in missing and len(missing) == len(EXPECTED) - 1


def test_every_screenshot_the_guide_shows_is_in_the_expected_list():
    shown = set()
    for md in DOCS.rglob("*.md"):
        shown |= set(re.findall(r"\(\.\./images/([\w.-]+)\.png\)", md.read_text()))
    assert shown <= {s.name for s in EXPECTED}, shown - {s.name for s in EXPECTED}


@pytest.mark.slow
def test_docs_build_works_from_any_folder(tmp_path):
    """The operator runs ``hyperloop docs build`` from wherever they are, not only from the
    checkout's root (snippets of examples are found relative to ``mkdocs.yml``)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "hyperloop", "docs", "build", "--no-screenshots", "--out", "site"],
        cwd=elsewhere,
        env={**os.environ, "HYPERLOOP_DATA_DIR": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = elsewhere / "site" / "operator-guide" / "deployment" / "index.html"
    assert "SLURMCluster" in page.read_text()  # the jobqueue snippet was included
