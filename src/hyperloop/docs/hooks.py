"""MkDocs hooks (``hooks:`` in mkdocs.yml): generated reference pages, missing screenshots.

``on_files`` adds the settings, CLI and REST API reference pages (and ``openapi.json``)
generated from the code; ``on_page_markdown`` turns a screenshot that was never captured
into a visible note naming the file, so the build stays strict and honest.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

from hyperloop.docs.reference import GENERATED_PAGES, api_markdown, openapi_document, openapi_json

log = logging.getLogger("mkdocs.plugins.hyperloop")

IMAGE_RE = re.compile(
    r"^!\[(?P<alt>[^\]]*)\]\((?P<path>(?:\.\./)*images/(?P<name>[\w.-]+))\)", re.M
)


def on_files(files: Files, config: Any) -> Files:
    """Add the generated reference pages (replacing stale copies in the docs folder)."""
    doc = openapi_document()
    generated = {path: fn for path, fn in GENERATED_PAGES.items()}
    generated["reference/api.md"] = lambda: api_markdown(doc)
    generated["reference/openapi.json"] = lambda: openapi_json(doc)
    for path, make in generated.items():
        existing = files.get_file_from_path(path)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, path, content=make()))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Replace images missing from docs/images by a note saying how to capture them."""
    images = Path(config["docs_dir"]) / "images"

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if (images / name).is_file():
            return match.group(0)
        log.info("screenshot %s not captured yet (page %s)", name, page.file.src_uri)
        return (
            f'!!! note "Screenshot not captured yet: {name}"\n'
            f"    This place shows *{match.group('alt')}*. The browser tests save it as "
            f"`ci-artifacts/screenshots/{name}`; `hyperloop docs screenshots` copies it to "
            f"`docs/images/`.\n"
        )

    return IMAGE_RE.sub(replace, markdown)
