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


# ---------------------------------------------------------------------------- package tags

#: written last into ``<storage>/tags/<digest>/``: the tag's upload is complete
TAG_COMPLETE = ".complete"


class TagFetchError(RuntimeError):
    """A package tag cannot be fetched from the storage, or its content hash differs."""


def _tag_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def publish_tag(folder: str | os.PathLike, digest: str, storage: str) -> str:
    """Upload a registered tag's folder to ``<storage>/tags/<digest>/`` once (a complete
    upload ends with ``TAG_COMPLETE``); its URL, which workers give to ``fetch_tag``."""
    remote = join(storage, "tags", digest)
    if exists(join(remote, TAG_COMPLETE)):
        return remote
    fs, root = _fs(remote)
    base = Path(folder)
    for path in _tag_files(base):
        fs.put_file(str(path), f"{root.rstrip('/')}/{path.relative_to(base).as_posix()}")
    write_bytes(join(remote, TAG_COMPLETE), digest.encode())
    return remote


def fetch_tag(remote: str, digest: str, cache: Path | None = None) -> Path:
    """A local copy of the tag at ``remote`` in the worker's cache (``<scratch>/tags/
    <digest>``), fetched once and verified: its content hash must be ``digest`` (the one
    recorded at registration), else ``TagFetchError`` and nothing is kept."""
    import shutil

    from hyperloop.analysis.tags import tree_digest

    cache = cache or worker_scratch() / "tags"
    dest = cache / digest
    if dest.is_dir():
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{digest}.{os.getpid()}.{time.time_ns()}"
    try:
        if not exists(join(remote, TAG_COMPLETE)):
            raise TagFetchError(f"package tag {remote} is not in the storage (no {TAG_COMPLETE})")
        fs, root = _fs(remote)
        root = root.rstrip("/")
        for name in fs.find(root):
            rel = name[len(root) :].lstrip("/")
            if rel == TAG_COMPLETE:
                continue
            local = tmp / rel
            local.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(name, str(local))
        got = tree_digest(tmp)
        if got != digest:
            raise TagFetchError(
                f"package tag {remote}: content hash {got[:12]} differs from the registered "
                f"{digest[:12]}; not run"
            )
        try:
            os.replace(tmp, dest)
        except OSError:  # another attempt on this worker fetched it meanwhile
            if not dest.is_dir():
                raise
    except TagFetchError:
        raise
    except Exception as exc:
        raise TagFetchError(f"package tag {remote}: {type(exc).__name__}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def probe(location: str | os.PathLike) -> float:
    """Write, read back and delete a small file under ``location``: the seconds it took.
    Raises ``OSError`` naming the location and what failed (unreachable, refused, ...)."""
    text = os.fspath(location)
    name = join(text, f".hyperloop-probe-{os.getpid()}-{time.time_ns()}")
    payload = b"hyperloop storage probe\n"
    t0 = time.perf_counter()
    try:
        write_bytes(name, payload)
        if read_bytes(name) != payload:
            raise OSError("the file read back differs from the one written")
        if is_remote(text):
            fs, path = _fs(name)
            fs.rm_file(path)
        else:
            Path(name).unlink()
    except Exception as exc:
        raise OSError(f"storage {text}: {type(exc).__name__}: {exc}") from None
    return time.perf_counter() - t0


def reachable(location: str | os.PathLike) -> str:
    """A read-only look at a storage (for health checks, which must not write): the
    location, or its nearest existing parent (a local one writable); what was found.
    Raises ``OSError`` naming the location when nothing of it can be reached."""
    text = os.fspath(location)
    try:
        if not is_remote(text):
            path = Path(text.removeprefix("file://")).absolute()
            for folder in (path, *path.parents):
                if folder.exists():
                    if not os.access(folder, os.W_OK | os.X_OK):
                        raise OSError(f"{folder} is not writable by this process")
                    return (
                        f"{folder} writable"
                        if folder == path
                        else f"{folder} writable ({path} not created yet)"
                    )
            raise OSError("no part of the path exists")
        fs, path = _fs(text)
        parts = path.strip("/").split("/")
        for n in range(len(parts), 0, -1):
            candidate = "/".join(parts[:n])
            if fs.exists(candidate):
                return f"{text} answers" if n == len(parts) else f"{text} answers (empty so far)"
        raise OSError(f"{parts[0]} does not exist")
    except Exception as exc:
        raise OSError(f"storage {text}: {type(exc).__name__}: {exc}") from None


def open_read(location: str | os.PathLike) -> Any:
    """A binary file object to read a file at a path or URL (``OSError`` when missing or
    unreachable)."""
    text = os.fspath(location)
    if not is_remote(text):
        return Path(text.removeprefix("file://")).open("rb")
    fs, path = _fs(text)
    try:
        return fs.open(path, "rb")
    except OSError:
        raise
    except Exception as exc:
        raise OSError(f"{text}: {type(exc).__name__}: {exc}") from exc


def size(location: str | os.PathLike) -> int:
    """The size of a file at a path or URL (``OSError`` when missing or unreachable)."""
    text = os.fspath(location)
    if not is_remote(text):
        return Path(text.removeprefix("file://")).stat().st_size
    fs, path = _fs(text)
    try:
        return int(fs.size(path))
    except OSError:
        raise
    except Exception as exc:
        raise OSError(f"{text}: {type(exc).__name__}: {exc}") from exc


def names(location: str | os.PathLike) -> list[str]:
    """The names of the files and folders directly under a folder at a path or URL, sorted
    ([] when it does not exist). Raises ``OSError`` naming the location when the storage
    cannot be read."""
    text = os.fspath(location)
    try:
        if not is_remote(text):
            path = Path(text.removeprefix("file://"))
            return sorted(os.listdir(path)) if path.is_dir() else []
        fs, path = _fs(text)
        try:
            found = fs.ls(path.rstrip("/"), detail=False)
        except FileNotFoundError:
            return []
        return sorted({str(name).rstrip("/").rsplit("/", 1)[-1] for name in found})
    except Exception as exc:
        raise OSError(f"storage {text}: {type(exc).__name__}: {exc}") from None
