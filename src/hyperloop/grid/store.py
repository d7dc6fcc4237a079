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
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


def remove_folder(location: str | os.PathLike) -> None:
    """Remove a folder and everything under it (nothing when it does not exist)."""
    import shutil

    text = os.fspath(location)
    if not is_remote(text):
        shutil.rmtree(text.removeprefix("file://"), ignore_errors=True)
        return
    fs, path = _fs(text)
    try:
        fs.rm(path, recursive=True)
    except FileNotFoundError:
        return
    except Exception as exc:
        raise OSError(f"{text}: {type(exc).__name__}: {exc}") from exc


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


# ------------------------------------------------------------------ read-through mirror


class StorageUnreachable(OSError):
    """A remote storage cannot be listed or read; the message names the storage."""


#: a remote folder's listing is trusted this long before the storage is asked again
MIRROR_LISTING_S = 5.0
#: ROOT files larger than this are fetched when first opened, not when their folder is
MIRROR_LAZY_BYTES = 1024 * 1024

_listed: dict[tuple[str, str], float] = {}  # (storage, scope) -> when its listing was synced
_listed_lock = threading.Lock()


#: S3 client settings of the mirror: a web page waits a few seconds, not the client's
#: default retries (about 13 s), before it says that the storage does not answer
_QUICK_S3 = {"config_kwargs": {"retries": {"max_attempts": 2}, "connect_timeout": 5}}


def _quick_fs(location: str) -> tuple[Any, str]:
    """``_fs`` for the web servers' mirror: an S3 storage that does not answer fails fast."""
    if location.split("://", 1)[0] not in ("s3", "s3a"):
        return _fs(location)
    fs, path = fsspec.core.url_to_fs(location, **_QUICK_S3)
    fs.retries = 2  # s3fs's own retries of a failed request (its default: 5)
    fs.invalidate_cache(path)
    return fs, path


def _safe_rel(rel: str) -> str | None:
    """``rel`` as a clean relative POSIX path, None when it could climb out."""
    parts = [p for p in rel.strip("/").split("/") if p]
    if not parts or any(p in (".", "..") or "\x00" in p or "\\" in p for p in parts):
        return None
    return "/".join(parts)


class Mirror:
    """A read-through local copy of a remote storage (``s3://bucket/work``) in ``local``,
    with the storage's layout (``trains/<id>/...``, ``tests/...``), for the web servers'
    path-based read models and file serving.

    ``sync(scope)`` brings a folder of an owner (``trains/5``, ``trains/5/jobs/job-7``,
    ``tests/train-test-5``) up to date, everything under it or only its entries: files new
    or changed since the last sync (size or ETag) are fetched, files gone from the storage
    removed; its listing is trusted ``listing_s`` seconds. ROOT files above ``lazy_bytes``
    are kept as sparse placeholders of their size until ``ensure`` fetches them: read a
    ``.root`` file of the mirror only after ``ensure`` (the output browser and the
    comparison of two trains call it before reading or serving one). What was
    fetched and what each file was is kept in ``<local>.index/`` (outside the served
    folder). Failures to reach the storage raise ``StorageUnreachable`` naming it."""

    def __init__(
        self,
        remote: str,
        local: str | os.PathLike,
        *,
        listing_s: float | None = None,
        lazy_bytes: int | None = None,
    ) -> None:
        self.remote = os.fspath(remote).rstrip("/")
        self.local = Path(local)
        self.index_dir = self.local.with_name(self.local.name + ".index")
        self.listing_s = MIRROR_LISTING_S if listing_s is None else listing_s
        self.lazy_bytes = MIRROR_LAZY_BYTES if lazy_bytes is None else lazy_bytes
        self.fetched: list[str] = []  # relative paths fetched by this object (for callers)

    @classmethod
    def under(cls, remote: str, cache_dir: str | os.PathLike, **kw: Any) -> Mirror:
        """The mirror of ``remote`` in ``<cache_dir>/storage-mirror/<name of remote>/files``."""
        import hashlib
        import re

        slug = re.sub(r"[^A-Za-z0-9]+", "-", remote).strip("-")[:60]
        digest = hashlib.sha256(remote.encode()).hexdigest()[:10]
        return cls(remote, Path(cache_dir) / "storage-mirror" / f"{slug}-{digest}" / "files", **kw)

    # -------------------------------------------------------------- paths
    def local_of(self, location: str | os.PathLike) -> Path | None:
        """The mirror path of a storage URL (``s3://bucket/work/trains/5/...``), None when
        it is not in this storage."""
        text = os.fspath(location)
        if not text.startswith(self.remote + "/"):
            return None
        rel = _safe_rel(text[len(self.remote) :])
        return self.local / rel if rel else None

    def _unreachable(self, exc: BaseException) -> StorageUnreachable:
        return StorageUnreachable(
            f"storage {self.remote} cannot be read: {type(exc).__name__}: {exc}"
        )

    # -------------------------------------------------------------- index
    # per owner folder (``trains/5``): relative path in it -> [size, ETag, content fetched]
    def _index_path(self, owner: str) -> Path:
        return self.index_dir / (owner.replace("/", "__") + ".json")

    def _read_index(self, owner: str) -> dict[str, list[Any]]:
        import json

        try:
            data = json.loads(self._index_path(owner).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @contextmanager
    def _locked_index(self, owner: str) -> Iterator[dict[str, list[Any]]]:
        """The owner's index, read and written back under an exclusive lock (several web
        workers may sync the same owner at once: none loses another's entries)."""
        import fcntl
        import json

        self.index_dir.mkdir(parents=True, exist_ok=True)
        path = self._index_path(owner)
        with path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index = self._read_index(owner)
            try:
                yield index
            finally:  # what was done before a failure is recorded too
                tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
                tmp.write_text(json.dumps(index, sort_keys=True))
                os.replace(tmp, path)

    # -------------------------------------------------------------- syncing
    def children(self, folder: str = "") -> list[str]:
        """The sub-folders of a storage folder (the way to the owners' folders: ``""``,
        ``trains``, ``tests``), created as empty folders in the mirror; their names."""
        rel = _safe_rel(folder) if folder else ""
        if rel is None:
            return []
        key = (self.remote, f"ls:{rel}")
        with _listed_lock:
            fresh = time.monotonic() - _listed.get(key, -1e18) < self.listing_s
        base = self.local / rel if rel else self.local
        if not fresh:
            try:
                fs, root = _quick_fs(join(self.remote, rel) if rel else self.remote)
                names = [
                    str(e["name"]).rstrip("/").rsplit("/", 1)[-1]
                    for e in fs.ls(root, detail=True)
                    if e.get("type") == "directory"
                ]
            except FileNotFoundError:
                names = []
            except Exception as exc:
                raise self._unreachable(exc) from None
            for name in names:
                if _safe_rel(name) == name and not name.startswith("."):
                    (base / name).mkdir(parents=True, exist_ok=True)
            base.mkdir(parents=True, exist_ok=True)
            _remember_listing(key, self.listing_s)
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    def _listing(self, scope: str, recursive: bool) -> tuple[Any, str, dict[str, Any]]:
        """``(fs, root, {path under scope: (size, tag) or None for a folder})``."""
        try:
            fs, root = _quick_fs(join(self.remote, scope))
            root = root.rstrip("/")
            if recursive:
                found = fs.find(root, detail=True)
            else:
                found = {str(e["name"]): e for e in fs.ls(root, detail=True)}
        except FileNotFoundError:
            return None, "", {}
        except Exception as exc:
            raise self._unreachable(exc) from None
        out: dict[str, Any] = {}
        for name, info in found.items():
            sub = _safe_rel(str(name)[len(root) :])
            if sub is None or not str(name).startswith(root + "/"):
                continue
            if info.get("type") == "directory":
                out[sub] = None
                continue
            tag = info.get("ETag") or info.get("LastModified") or info.get("mtime")
            out[sub] = (int(info.get("size") or 0), str(tag or info.get("created")))
        return fs, root, out

    def sync(self, scope: str, *, recursive: bool = True, force: bool = False) -> Path | None:
        """Bring the storage folder ``scope`` (in an owner's folder: ``trains/<id>``,
        ``trains/<id>/jobs/job-<n>``) up to date in the mirror, everything under it
        (``recursive``) or only its entries (folders created empty); its local folder, or
        None when the storage has nothing there."""
        rel = _safe_rel(scope)
        if rel is None or rel.count("/") < 1:
            return None
        key = (self.remote, f"{'find' if recursive else 'ls'}:{rel}")
        folder = self.local / rel
        with _listed_lock:
            fresh = time.monotonic() - _listed.get(key, -1e18) < self.listing_s
        if fresh and not force:
            return folder if folder.is_dir() else None
        fs, root, listing = self._listing(rel, recursive)
        owner = "/".join(rel.split("/")[:2])
        prefix = rel[len(owner) + 1 :]  # the scope inside the owner's folder ("" for it)
        with self._locked_index(owner) as index:
            for sub, entry in sorted(listing.items()):
                dest = folder / sub
                if entry is None:
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                nbytes, tag = entry
                name = f"{prefix}/{sub}" if prefix else sub
                known = index.get(name)
                if known and known[0] == nbytes and known[1] == tag and dest.is_file():
                    continue
                if sub.endswith(".root") and nbytes > self.lazy_bytes:
                    self._placeholder(dest, nbytes)
                    index[name] = [nbytes, tag, False]
                else:
                    self._fetch(f"{root}/{sub}", dest, fs)
                    index[name] = [nbytes, tag, True]
                    self.fetched.append(f"{rel}/{sub}")
            # files gone from the storage: gone here (only those this listing covers)
            inside = f"{prefix}/" if prefix else ""
            for name in [n for n in index if n.startswith(inside)]:
                sub = name[len(inside) :]
                if sub not in listing and (recursive or "/" not in sub):
                    (folder / sub).unlink(missing_ok=True)
                    del index[name]
        _remember_listing(key, self.listing_s)
        return folder if listing and folder.is_dir() else None

    def ensure(self, path: str | os.PathLike) -> None:
        """Fetch a mirrored file whose content is still a placeholder (a big ROOT file);
        nothing for a file already fetched or outside the mirror. Read a ``.root`` file
        of the mirror only after this."""
        try:
            rel = Path(path).resolve().relative_to(self.local.resolve()).as_posix()
        except ValueError:
            return
        parts = rel.split("/")
        if len(parts) < 3:
            return
        owner, name = "/".join(parts[:2]), "/".join(parts[2:])
        if (self._read_index(owner).get(name) or [0, "", True])[2]:
            return  # fetched already (or not a file of the storage)
        with self._locked_index(owner) as index:
            known = index.get(name)
            if not known or known[2]:
                return
            try:
                fs, root = _quick_fs(join(self.remote, owner))
            except Exception as exc:
                raise self._unreachable(exc) from None
            self._fetch(f"{root.rstrip('/')}/{name}", self.local / owner / name, fs)
            index[name] = [known[0], known[1], True]
            self.fetched.append(rel)

    def _fetch(self, remote_path: str, dest: Path, fs: Any) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            fs.get_file(remote_path, str(tmp))
            os.replace(tmp, dest)
        except FileNotFoundError:  # removed since it was listed: gone here too
            dest.unlink(missing_ok=True)
        except Exception as exc:
            raise self._unreachable(exc) from None
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _placeholder(dest: Path, nbytes: int) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.part")
        with tmp.open("wb") as f:
            f.truncate(nbytes)  # sparse: no disk used until fetched
        os.replace(tmp, dest)


def _remember_listing(key: tuple[str, str], listing_s: float) -> None:
    """Note when a folder was listed; listings older than ``listing_s`` are dropped once
    there are many (a server that showed thousands of jobs keeps no list of them)."""
    now = time.monotonic()
    with _listed_lock:
        _listed[key] = now
        if len(_listed) > 4096:
            for old in [k for k, t in _listed.items() if now - t >= listing_s]:
                del _listed[old]


def forget_listings() -> None:
    """Drop the cached listings (the next sync asks the storage again)."""
    with _listed_lock:
        _listed.clear()
