"""Stage a dataset's files to a target's storage (fsspec), resumable, and unstage them.

Each file goes to ``<target_url>/<run>/<hash of source>_<name>`` (real AO2D files of one run
often share a name), written as ``.part`` and renamed when complete, so a destination file
that exists with the catalogue size is complete and skipped on the next call; partial or
wrong-size files are restarted. ``progress`` receives a record per transfer as it moves.
Every staged file is then verified (:func:`verify`): size and SHA-256 of the copy equal the
source's (computed while copying, or read again for a file already there); a copy that
differs is removed and its transfer failed. The scheduler drives it
(``hyperloop.scheduler.staging``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import fsspec

CHUNK = 8 * 1024 * 1024


@dataclass
class TransferRecord:
    """One file's transfer: ``state`` is queued, copying, done, skipped or failed."""

    run: int
    source: str
    dest: str
    size: int
    state: str = "queued"
    bytes_done: int = 0
    restarted: bool = False  # a partial or wrong-size copy was found and replaced
    seconds: float = 0.0
    error: str = ""
    checksum: str = ""  # sha256 of the source (hex), set while copying or by verify()
    verified: bool = False

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.size if self.size else 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StagingReport:
    target_url: str
    transfers: list[TransferRecord] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for t in self.transfers if t.state == state)

    @property
    def complete(self) -> bool:
        return all(t.state in ("done", "skipped") for t in self.transfers)

    @property
    def bytes_copied(self) -> int:
        return sum(t.bytes_done for t in self.transfers if t.state == "done")

    def catalogue(self) -> dict[int, list[tuple[str, int]]]:
        """The staged copy as a catalogue ``{run: [(dest, size)]}`` (complete files only)."""
        out: dict[int, list[tuple[str, int]]] = {}
        for t in self.transfers:
            if t.state in ("done", "skipped"):
                out.setdefault(t.run, []).append((t.dest, t.size))
        return out


def staged_path(target_url: str, run: int, source: str) -> str:
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    name = source.rstrip("/").rsplit("/", 1)[-1]
    return f"{target_url.rstrip('/')}/{run}/{digest}_{name}"


def _copy(rec: TransferRecord, fs: Any, dest: str, progress: Callable | None, chunk: int) -> None:
    part = dest + ".part"
    if fs.exists(part):
        rec.restarted = True
        fs.rm_file(part)
    fs.makedirs(fs._parent(dest), exist_ok=True)
    rec.state = "copying"
    digest = hashlib.sha256()
    with fsspec.open(rec.source, "rb") as src, fs.open(part, "wb") as out:
        while True:
            block = src.read(chunk)
            if not block:
                break
            out.write(block)
            digest.update(block)
            rec.bytes_done += len(block)
            if progress is not None:
                progress(rec)
    if rec.bytes_done != rec.size:
        fs.rm_file(part)
        raise OSError(f"copied {rec.bytes_done} bytes but the catalogue says {rec.size}")
    rec.checksum = digest.hexdigest()
    fs.mv(part, dest)


def stage(
    catalogue: Mapping[int, Iterable[tuple[str, int]]],
    target_url: str,
    *,
    progress: Callable[[TransferRecord], None] | None = None,
    chunk_size: int = CHUNK,
) -> StagingReport:
    """Copy every catalogue file to ``target_url`` (see module doc); never raises per file."""
    fs, root = fsspec.core.url_to_fs(target_url)
    report = StagingReport(target_url)
    runs = {int(r): list(files) for r, files in catalogue.items()}
    for run in sorted(runs):
        for source, size in runs[run]:
            dest_url = staged_path(target_url, run, source)
            dest = staged_path(root, run, source)
            rec = TransferRecord(run=run, source=source, dest=dest_url, size=int(size))
            report.transfers.append(rec)
            t0 = time.perf_counter()
            try:
                if fs.exists(dest):
                    if fs.size(dest) == rec.size:
                        rec.state, rec.bytes_done = "skipped", rec.size
                        continue
                    rec.restarted = True
                    fs.rm_file(dest)
                _copy(rec, fs, dest, progress, chunk_size)
                rec.state = "done"
            except Exception as exc:  # noqa: BLE001 - recorded per transfer
                rec.state = "failed"
                rec.error = f"{source} -> {dest_url}: {type(exc).__name__}: {exc}"
            finally:
                rec.seconds = time.perf_counter() - t0
                if progress is not None:
                    progress(rec)
    return report


def _sha256(fs: Any, path: str, chunk: int) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(report: StagingReport, *, chunk_size: int = CHUNK) -> StagingReport:
    """Check every complete transfer: the copy's size and SHA-256 equal the source's. A
    copy that differs is removed and its transfer ``failed`` (the next stage() copies it
    again); the others are marked ``verified``."""
    fs, _root = fsspec.core.url_to_fs(report.target_url)
    for rec in report.transfers:
        if rec.state not in ("done", "skipped"):
            continue
        _fs, dest = fsspec.core.url_to_fs(rec.dest)
        try:
            if not rec.checksum:
                src_fs, src = fsspec.core.url_to_fs(rec.source)
                rec.checksum = _sha256(src_fs, src, chunk_size)
            size = int(fs.size(dest))
            if size != rec.size:
                raise OSError(f"the copy has {size} bytes, the source {rec.size}")
            copy = _sha256(fs, dest, chunk_size)
            if copy != rec.checksum:
                raise OSError(
                    f"SHA-256 of the copy {copy[:12]} differs from the source's {rec.checksum[:12]}"
                )
            rec.verified = True
        except Exception as exc:  # noqa: BLE001 - recorded per transfer
            rec.state, rec.verified = "failed", False
            rec.error = f"verification of {rec.dest} failed: {type(exc).__name__}: {exc}"
            if fs.exists(dest):
                fs.rm_file(dest)
    return report


def unstage(catalogue: Mapping[int, Iterable[tuple[str, int]]], target_url: str) -> list[str]:
    """Remove a dataset's staged copies (and leftover ``.part`` files); returns what was removed."""
    fs, root = fsspec.core.url_to_fs(target_url)
    removed = []
    for run, files in catalogue.items():
        for source, _size in files:
            dest = staged_path(root, int(run), source)
            for path in (dest, dest + ".part"):
                if fs.exists(path):
                    fs.rm_file(path)
                    removed.append(path)
    return removed
