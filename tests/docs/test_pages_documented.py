"""Every page of the web interface is documented: each HTML page route of
hyperloop.web.pages and each menu entry has a row in docs/user-guide/pages.md and a context
link (DOCS_SECTIONS) to a section that exists. The page list lives in one file the lead
extends: docs/user-guide/pages.md."""

from __future__ import annotations

import re

import pytest
from starlette.responses import HTMLResponse
from tests.docs.conftest import DOCS

from hyperloop.web.pages.docs_links import DOCS_SECTIONS, docs_link, normalise_path

PAGES_MD = DOCS / "user-guide" / "pages.md"
EXCLUDED_PREFIXES = ("/partials/", "/static/", "/api/", "/documentation")


def html_page_routes() -> set[str]:
    """Paths (IDs as {id}) of GET routes of hyperloop.web.pages that answer HTML."""
    from hyperloop.web.pages import router

    found: set[str] = set()

    def visit(routes) -> None:
        for route in routes:
            contexts = getattr(route, "effective_route_contexts", None)
            if contexts is not None:  # FastAPI >= 0.16x: included routers stay nested
                items = list(contexts())
            elif hasattr(route, "original_router"):
                visit(route.original_router.routes)
                continue
            else:
                items = [route]
            for item in items:
                methods = getattr(item, "methods", None) or set()
                if (
                    "GET" not in methods
                    or getattr(item, "response_class", None) is not HTMLResponse
                ):
                    continue
                path = item.path
                if not path.startswith(EXCLUDED_PREFIXES):
                    found.add(normalise_path(path))

    visit(router.routes)
    return found


def menu_paths() -> set[str]:
    from hyperloop.web.pages.templating import MENU

    return {normalise_path(item.path) for item in MENU} | {"/notifications"}


def documented_paths() -> set[str]:
    """Addresses in the first column of the table of pages.md (`ID` written as {id})."""
    rows = re.findall(r"^\| `([^`]+)` \|", PAGES_MD.read_text(), re.M)
    return {normalise_path(r.replace("ID", "{id}")) for r in rows}


def test_the_route_walk_finds_the_existing_html_pages():
    routes = html_page_routes()
    assert {"/login", "/performance-graphs", "/outputs/browse"} <= routes


def test_every_html_page_and_menu_entry_has_a_row_in_pages_md():
    missing = sorted((html_page_routes() | menu_paths()) - documented_paths())
    assert not missing, (
        f"pages without documentation: {missing}; add a row to {PAGES_MD.relative_to(DOCS.parent)}"
    )


def test_every_html_page_and_menu_entry_has_a_context_link():
    missing = sorted((html_page_routes() | menu_paths()) - set(DOCS_SECTIONS))
    assert not missing, (
        f"pages without a context link: {missing}; add them to DOCS_SECTIONS in "
        "src/hyperloop/web/pages/docs_links.py"
    )


def test_pages_md_and_docs_sections_list_the_same_pages():
    assert documented_paths() == set(DOCS_SECTIONS)


def test_docs_link_maps_concrete_paths_to_their_section():
    assert docs_link("/wagon/12") == "/documentation/user-guide/create-wagon/"
    assert docs_link("/wagon/12/history") == "/documentation/user-guide/pages/#wagon-history"
    assert docs_link("/train-runs/compare?a=1&b=2") == "/documentation/user-guide/compare-trains/"
    assert docs_link("/no-such-page") == "/documentation/"


@pytest.mark.slow
def test_every_context_link_points_to_an_existing_page_and_anchor(built_site):
    for path, section in DOCS_SECTIONS.items():
        page, _, anchor = section.partition("#")
        html = built_site / page / "index.html"
        assert html.is_file(), f"{path} -> {section}: no page {html}"
        if anchor:
            assert f'id="{anchor}"' in html.read_text(), f"{path} -> {section}: no anchor"


def test_a_rendered_page_links_to_its_documentation_section(tmp_path):
    """Every page's 📖 link opens its own section (base.html uses the ``docs_link`` Jinja
    global); /login is rendered without an account."""
    from fastapi.testclient import TestClient

    from hyperloop.settings import load_settings
    from hyperloop.web.app import create_app

    app = create_app(load_settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}"))
    from hyperloop.db.models import Base

    Base.metadata.create_all(app.state.engine)
    with TestClient(app) as client:
        html = client.get("/login").text
    assert 'href="/documentation/user-guide/#logging-in"' in html
