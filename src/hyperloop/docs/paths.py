"""Where the documentation sources are and where the built site goes."""

from __future__ import annotations

from pathlib import Path

from hyperloop.settings import Settings


class DocsError(RuntimeError):
    """The documentation cannot be built (message says what is missing and how to fix it)."""


def repo_root() -> Path:
    """The source checkout holding ``mkdocs.yml`` (the package is installed editable)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "mkdocs.yml").is_file():
            return parent
    cwd = Path.cwd().resolve()
    for parent in (cwd, *cwd.parents):
        if (parent / "mkdocs.yml").is_file():
            return parent
    raise DocsError(
        "mkdocs.yml not found above the hyperloop package nor the current folder: build the "
        "documentation from a source checkout of Hyperloop"
    )


def site_dir(settings: Settings) -> Path:
    """The built site the server publishes under /documentation: ``data_dir/documentation``."""
    return Path(settings.data_dir) / "documentation"
