"""Attempt folders behind a path or an fsspec URL (a local folder, ``s3://...``).

A local folder (the default) is read and written in place. A URL (``s3://bucket/work``)
holds what a worker uploads at the end of an attempt it computed in its own scratch
folder, and what the scheduler and the web servers read back: nothing requires a
filesystem shared by the workers, the scheduler and the web servers. S3 endpoints and keys
come from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``FSSPEC_S3_ENDPOINT_URL``: fsspec's configuration by environment variables).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import fsspec


def is_remote(location: str | os.PathLike) -> bool:
    """Whether ``location`` is a URL other than a local ``file://`` one."""
    text = os.fspath(location)
    return "://" in text and not text.startswith("file://")


def join(location: str | os.PathLike, *parts: str) -> str:
    """``location/part/...`` for a path or a URL."""
    text = os.fspath(location)
    if not is_remote(text):
        return str(Path(text.removeprefix("file://"), *parts))
    return "/".join([text.rstrip("/"), *(p.strip("/") for p in parts)])


def _fs(location: str) -> tuple[Any, str]:
    fs, path = fsspec.core.url_to_fs(location)
    if is_remote(location):
        fs.invalidate_cache(path)  # another process (a worker) writes there: no stale listing
    return fs, path


def read_bytes(location: str | os.PathLike) -> bytes:
    """The bytes of a file at a path or URL (``OSError`` when missing or unreachable)."""
    text = os.fspath(location)
    if not is_remote(text):
        return Path(text.removeprefix("file://")).read_bytes()
    fs, path = _fs(text)
    try:
        return fs.cat_file(path)
    except OSError:
        raise
    except Exception as exc:  # a client error of the storage's library: one kind for callers
        raise OSError(f"{text}: {type(exc).__name__}: {exc}") from exc


def write_bytes(location: str | os.PathLike, data: bytes) -> None:
    """Write a whole file (a local one atomically: temp file + rename)."""
    text = os.fspath(location)
    if not is_remote(text):
        path = Path(text.removeprefix("file://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return
    fs, path = _fs(text)
    try:
        fs.pipe_file(path, data)
    except OSError:
        raise
    except Exception as exc:
        raise OSError(f"{text}: {type(exc).__name__}: {exc}") from exc


def exists(location: str | os.PathLike) -> bool:
    """Whether a file or folder (for a URL: any object under it) exists; False when the
    storage cannot be reached."""
    text = os.fspath(location)
    if not is_remote(text):
        return Path(text.removeprefix("file://")).exists()
    try:
        fs, path = _fs(text)
        return bool(fs.exists(path))
    except Exception:
        return False


def age_s(location: str | os.PathLike) -> float | None:
    """Seconds since a file was last written, or None when it is missing."""
    text = os.fspath(location)
    try:
        if not is_remote(text):
            return time.time() - Path(text.removeprefix("file://")).stat().st_mtime
        fs, path = _fs(text)
        info = fs.info(path)
    except Exception:
        return None
    modified = info.get("LastModified") or info.get("mtime") or info.get("created")
    if modified is None:
        return None
    stamp = modified.timestamp() if hasattr(modified, "timestamp") else float(modified)
    return time.time() - stamp


def upload_folder(local: str | os.PathLike, remote: str, skip: frozenset[str] = frozenset()) -> int:
    """Copy every file under ``local`` to ``remote`` (same relative paths); the bytes sent."""
    fs, root = _fs(remote)
    sent = 0
    base = Path(local)
    for path in sorted(p for p in base.rglob("*") if p.is_file() and p.name not in skip):
        rel = path.relative_to(base).as_posix()
        fs.put_file(str(path), f"{root.rstrip('/')}/{rel}")
        sent += path.stat().st_size
    return sent


def worker_scratch() -> Path:
    """Where a worker computes attempts stored remotely: ``HYPERLOOP_WORKER_SCRATCH`` or
    ``<system temp>/hyperloop-worker``."""
    configured = os.environ.get("HYPERLOOP_WORKER_SCRATCH")
    return Path(configured or Path(tempfile.gettempdir()) / "hyperloop-worker")
