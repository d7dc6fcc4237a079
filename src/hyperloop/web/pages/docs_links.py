"""The documentation under /documentation, and which section each page of the UI links to.

``mount_documentation(app)`` publishes the built MkDocs site (``data_dir/documentation``,
written by ``hyperloop docs build``); while it is not built, /documentation says how to
build it. ``docs_link(path)`` gives the documentation URL for a page path (context help).
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

DOCS_PREFIX = "/documentation"

# page path pattern (IDs written as {id}) -> section of the documentation (relative URL).
# Keep in step with docs/user-guide/pages.md (tests/docs/test_pages_documented.py checks).
DOCS_SECTIONS: dict[str, str] = {
    "/": "user-guide/pages/#my-analyses",
    "/all-analyses": "user-guide/pages/#all-analyses",
    "/analysis/{id}": "user-guide/pages/#analysis",
    "/wagon/{id}": "user-guide/create-wagon/",
    "/wagon/{id}/history": "user-guide/pages/#wagon-history",
    "/wagon/{id}/compare": "user-guide/pages/#compare-wagons",
    "/wagon-test/{id}": "user-guide/read-test/",
    "/train-test/{id}": "user-guide/read-test/",
    "/dashboard": "user-guide/pages/#dashboard",
    "/train-submission": "operator-guide/trains/",
    "/train-runs": "user-guide/pages/#train-runs",
    "/train-run/{id}": "user-guide/train-result/",
    "/train-runs/compare": "user-guide/compare-trains/",
    "/trains-with-issues": "operator-guide/trains-with-issues/",
    "/job/{id}": "user-guide/train-result/#jobs",
    "/datasets": "user-guide/pages/#datasets",
    "/dataset/{id}": "operator-guide/datasets/",
    "/dataset/{id}/edit": "operator-guide/datasets/",
    "/derived-data": "operator-guide/datasets/#derived-data",
    "/staging-status": "operator-guide/staging/",
    "/runlists": "operator-guide/datasets/#dpg-runlists",
    "/runlist/{id}": "operator-guide/datasets/#dpg-runlists",
    "/notifications": "user-guide/pages/#notifications",
    "/emails": "user-guide/pages/#e-mails",
    "/performance-graphs": "user-guide/read-test/#performance-graphs",
    "/outputs/browse": "user-guide/train-result/#outputs",
    "/profile-viewer": "user-guide/read-test/#profile",
    "/profile": "user-guide/pages/#profile",
    "/admin": "operator-guide/administration/",
    "/login": "user-guide/#logging-in",
}


def normalise_path(path: str) -> str:
    """A concrete or route path with its IDs written ``{id}`` (``/wagon/12`` -> ``/wagon/{id}``)."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    path = re.sub(r"\{[^}/]+\}", "{id}", path)
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


def docs_link(path: str) -> str:
    """The documentation URL that explains the page at ``path`` (the start page if unknown)."""
    section = DOCS_SECTIONS.get(normalise_path(path))
    return f"{DOCS_PREFIX}/{section}" if section else f"{DOCS_PREFIX}/"


NOT_BUILT = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Documentation not built · Hyperloop</title>
<link rel="stylesheet" href="/static/css/hyperloop.css"></head>
<body><main id="main" style="max-width:50rem;margin:2rem auto;padding:0 1rem">
<h1>The documentation is not built yet</h1>
<p>This server publishes the documentation from <code>{site}</code>, which does not exist.
Build it once (and after each upgrade) with:</p>
<pre><code>hyperloop docs build</code></pre>
<p>(from a source checkout of Hyperloop, with the <code>docs</code> extra installed:
<code>pip install -e '.[docs]'</code>). The sources are Markdown files in <code>docs/</code>;
<code>mkdocs build --strict</code> builds the same site into <code>./site</code>.</p>
<p><a href="/">Back to Hyperloop</a> · <a href="/docs">API reference (OpenAPI)</a></p>
</main></body></html>
"""


class DocumentationApp:
    """Serves the built site; looks for it on each request so a later build needs no restart."""

    def __init__(self, site: Path) -> None:
        self.site = Path(site)
        self._static: StaticFiles | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (self.site / "index.html").is_file():
            page = NOT_BUILT.replace("{site}", str(self.site))
            await HTMLResponse(page, status_code=503)(scope, receive, send)
            return
        if self._static is None:
            self._static = StaticFiles(directory=self.site, html=True)
        await self._static(scope, receive, send)


def mount_documentation(app: FastAPI, site: Path | None = None) -> None:
    """Publish the documentation site under /documentation (default: data_dir/documentation)."""
    from hyperloop.docs.paths import site_dir

    app.mount(
        DOCS_PREFIX,
        DocumentationApp(site or site_dir(app.state.settings)),
        name="documentation",
    )
