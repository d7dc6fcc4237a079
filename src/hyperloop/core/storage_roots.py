"""Where dataset files may lie: the ``storage_roots`` setting (local folders and URL prefixes).

A catalogue path is normalised (``..`` and ``.`` collapsed, symlinks of local paths
resolved) and then must lie strictly under one root; anything else is refused with one
error naming the path and the setting. So a file-list import cannot publish the database,
``/etc/passwd`` or any other server file: the catalogue download, wagon tests, train jobs
and ``hyperloop reproduce`` only ever see files under the roots. A local file is also
checked to be a ROOT file with AO2D dataframes (``DF_*`` folders) when it is first read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from hyperloop.core.errors import ValidationError

SETTING = "storage_roots"
ROOT_MAGIC = b"root"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class StorageRootError(ValidationError):
    """A dataset file path outside the storage roots, or not a usable path at all."""


def _is_url(text: str) -> bool:
    return "://" in text


def _url_parts(text: str, what: str) -> tuple[str, str, str, str]:
    """(scheme, host, path, query) of a URL; ``.``/``..`` segments are refused (also
    percent-encoded), since servers resolve them differently."""
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc:
        raise StorageRootError(f"{what} {text!r} is not a URL with a scheme and a host")
    if parts.fragment:
        raise StorageRootError(f"{what} {text!r} must not have a fragment")
    segments = unquote(parts.path).split("/")
    if any(seg in (".", "..") for seg in segments) or "\\" in unquote(parts.path):
        raise StorageRootError(f"{what} {text!r} must not contain '.' or '..' segments")
    return parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query


@dataclass(frozen=True)
class StorageRoots:
    """Resolved local folders and normalised URL prefixes (each ending with '/')."""

    folders: tuple[Path, ...] = ()
    prefixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str | os.PathLike[str]]) -> StorageRoots:
        """Roots from the setting's entries: absolute folders, or URL prefixes."""
        folders, prefixes = [], []
        for raw in entries:
            entry = os.fspath(raw).strip()
            if not entry or _CONTROL.search(entry):
                raise StorageRootError(f"{SETTING}: {entry!r} is not a folder or a URL prefix")
            if _is_url(entry) and not entry.lower().startswith("file://"):
                scheme, host, path, _ = _url_parts(entry, f"{SETTING}:")
                prefixes.append(urlunsplit((scheme, host, path.rstrip("/") + "/", "", "")))
                continue
            local = entry[len("file://") :] if entry.lower().startswith("file://") else entry
            if not os.path.isabs(local):
                raise StorageRootError(
                    f"{SETTING}: {entry!r} must be an absolute folder or a URL prefix"
                )
            folders.append(Path(os.path.normpath(local)).resolve())
        return cls(tuple(folders), tuple(prefixes))

    def describe(self) -> str:
        shown = [str(f) for f in self.folders] + list(self.prefixes)
        return ", ".join(shown) if shown else "none configured"

    def _outside(self, path: str) -> StorageRootError:
        return StorageRootError(
            f"dataset file {path!r} is not under a storage root ({SETTING}: "
            f"{self.describe()}); ask an admin to add its storage to the setting",
            {"path": path},
        )

    def _folder_of(self, resolved: Path) -> Path | None:
        return next((f for f in self.folders if f in resolved.parents), None)

    def check(self, path: str) -> str:
        """The normalised form of catalogue ``path`` (what is stored); raises
        StorageRootError unless it lies strictly under a root."""
        if not path or _CONTROL.search(path):
            raise StorageRootError(
                f"dataset file {path!r} contains control characters", {"path": path}
            )
        if _is_url(path) and not path.lower().startswith("file://"):
            scheme, host, url_path, query = _url_parts(path, "dataset file")
            normal = urlunsplit((scheme, host, url_path, query, ""))
            if not any(normal.startswith(p) and len(normal) > len(p) for p in self.prefixes):
                raise self._outside(path)
            return normal
        local = path[len("file://") :] if path.lower().startswith("file://") else path
        if not os.path.isabs(local):
            raise StorageRootError(
                f"dataset file {path!r} must be an absolute path or a URL", {"path": path}
            )
        normal = os.path.normpath(local)
        if normal.startswith("//"):  # POSIX keeps a leading double slash; one is enough
            normal = "/" + normal.lstrip("/")
        # where the file really is: a symlink out of a root is outside, a root reached
        # through a symlinked folder is inside (re-checked whenever the file is read)
        if self._folder_of(Path(normal).resolve()) is None:
            raise self._outside(path)
        return normal

    def local_file(self, path: str) -> Path | None:
        """The resolved local file of a catalogue path under a local root (None for URLs);
        raises StorageRootError when it is outside the roots now."""
        normal = self.check(path)
        if _is_url(normal):
            return None
        return Path(normal).resolve()


def is_ao2d(path: Path) -> bool:
    """True when ``path`` is a ROOT file holding at least one AO2D dataframe (``DF_*``)."""
    try:
        with path.open("rb") as fh:
            if fh.read(4) != ROOT_MAGIC:
                return False
    except OSError:
        return False
    import uproot

    try:
        with uproot.open(path) as f:
            return any(key.split(";")[0].startswith("DF_") for key in f.keys(recursive=False))
    except Exception:  # noqa: BLE001 - uproot raises many types for damaged files
        return False


def require_ao2d(path: Path, shown: str) -> None:
    """Raise StorageRootError unless ``path`` is an AO2D ROOT file (``shown`` names it)."""
    if not is_ao2d(path):
        raise StorageRootError(
            f"dataset file {shown!r} is not an AO2D file (a ROOT file with DF_ dataframes)",
            {"path": shown},
        )
