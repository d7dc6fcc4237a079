"""Build the documentation site with MkDocs (what ``hyperloop docs build`` runs)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from hyperloop.docs.paths import DocsError, repo_root


class _Collect(logging.Handler):
    """Keeps the warnings MkDocs logs, so a strict build can say which ones failed it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _anchor_snippets(config: object, root: Path) -> None:
    """Snippet folders of ``mkdocs.yml`` are relative to the checkout, not to the folder the
    command runs in: made absolute, so that the build works from anywhere."""
    snippets = config["mdx_configs"].get("pymdownx.snippets")  # type: ignore[index]
    if snippets and "base_path" in snippets:
        paths = snippets["base_path"]
        paths = [paths] if isinstance(paths, str) else paths
        snippets["base_path"] = [str(root / p) for p in paths]


def build_site(out: Path, *, strict: bool = True, config_file: Path | None = None) -> Path:
    """Build the site from ``mkdocs.yml`` into ``out``; raise DocsError on any failure.

    ``strict`` turns every MkDocs warning (broken link, missing nav page) into an error.
    """
    try:
        from mkdocs.commands.build import build
        from mkdocs.config import load_config
        from mkdocs.exceptions import Abort, MkDocsException
    except ImportError:
        raise DocsError(
            "MkDocs is not installed: pip install 'hyperloop[docs]' (mkdocs-material)"
        ) from None
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")  # Material's banner about its successor
    config_file = config_file or repo_root() / "mkdocs.yml"
    out = Path(out).resolve()
    collect = _Collect()
    logger = logging.getLogger("mkdocs")
    logger.addHandler(collect)
    try:
        config = load_config(str(config_file), site_dir=str(out), strict=strict)
        _anchor_snippets(config, Path(config_file).resolve().parent)
        build(config)
    except (Abort, MkDocsException) as exc:
        detail = "; ".join(collect.messages) or str(exc)
        raise DocsError(f"documentation build failed: {detail}") from None
    finally:
        logger.removeHandler(collect)
    if not (out / "index.html").is_file():
        raise DocsError(f"documentation build wrote no {out / 'index.html'}")
    return out
