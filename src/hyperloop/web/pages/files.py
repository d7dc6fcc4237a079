"""Serving files safely: strict containment under a root, explicit MIME types, HTTP ranges.

Used for the package's static assets (``/static``) and for output files (JSROOT reads ROOT
files with HTTP range requests; Starlette's FileResponse answers ``Range`` with 206).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from hyperloop.readmodels.trains import storage_mirror
from hyperloop.settings import Settings
from hyperloop.web.errors import ApiError
from hyperloop.web.pages.templating import STATIC_DIR

# Explicit types: browsers refuse ES modules and wasm served with a wrong MIME type, and the
# system mime database differs between machines.
MIME_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".log": "text/plain",
    ".root": "application/octet-stream",
}

router = APIRouter(include_in_schema=False)


class PathRefused(ApiError):
    """A requested path is absolute, climbs out of its root, or does not exist."""


def outputs_root(settings: Settings) -> Path:
    """The folder the output browser and file-path parameters are confined to (with a
    remote ``storage_url``: the server's mirror of the storage)."""
    mirror = storage_mirror(settings)
    if mirror is not None:
        mirror.local.mkdir(parents=True, exist_ok=True)
        return mirror.local
    return Path(settings.outputs_root or settings.data_dir)


def media_type(path: Path) -> str:
    """The Content-Type to send for ``path`` (octet-stream when unknown)."""
    known = MIME_TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def contained_path(root: Path, relative: str, *, what: str = "path") -> Path:
    """Resolve ``relative`` under ``root``; refuse absolute paths, ``..``, and symlink escapes.

    Raises PathRefused (400 for a malformed path, 404 when it is outside or missing) with a
    message naming the path, never the server's folders.
    """
    if "\x00" in relative:
        raise PathRefused(400, "bad_path", f"{what} {relative!r} contains a NUL byte")
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or any(part == ".." for part in pure.parts):
        raise PathRefused(
            400, "bad_path", f"{what} {relative!r} must be relative and must not contain '..'"
        )
    base = root.resolve()
    try:
        target = (base / pure).resolve()
        exists = target.exists()
    except (OSError, ValueError):  # e.g. a name longer than the file system allows
        raise PathRefused(404, "not_found", f"{what} {relative!r} does not exist") from None
    if target != base and base not in target.parents:
        raise PathRefused(404, "not_found", f"{what} {relative!r} is outside the served folder")
    if not exists:
        raise PathRefused(404, "not_found", f"{what} {relative!r} does not exist")
    return target


def serve_file(path: Path, *, download: bool = False, cache_seconds: int = 0) -> FileResponse:
    """A FileResponse with the right type; ranges supported; optional attachment name."""
    headers = {"Accept-Ranges": "bytes", "X-Content-Type-Options": "nosniff"}
    if cache_seconds:
        headers["Cache-Control"] = f"public, max-age={cache_seconds}"
    else:
        headers["Cache-Control"] = "no-cache"
    return FileResponse(
        path,
        media_type=media_type(path),
        headers=headers,
        filename=path.name if download else None,
        content_disposition_type="attachment" if download else "inline",
    )


@router.get("/static/{asset:path}", name="static")
def static_asset(asset: str, request: Request) -> FileResponse:
    """The package's CSS/JS and vendored libraries (htmx, uPlot, JSROOT, speedscope)."""
    path = contained_path(STATIC_DIR, asset, what="static asset")
    if path.is_dir():
        index = path / "index.html"
        if not index.is_file():
            raise PathRefused(404, "not_found", f"static asset {asset!r} is a folder")
        path = index
    cache = 3600 if asset.startswith("vendor/") else 0
    return serve_file(path, cache_seconds=cache)
