"""Columns in shared memory: one file in /dev/shm per dataframe segment, mapped read-only.

The reader device decompresses each column once and copies it into a segment; every task
device maps the same pages (no copy per device). Produced tables travel the same way.
A run keeps its segments in one folder, removed when the run ends.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ALIGN = 64


def shm_root() -> Path:
    base = Path("/dev/shm")
    return base if base.is_dir() and os.access(base, os.W_OK) else Path(tempfile.gettempdir())


class SegmentDir:
    """The folder of one run's segments; removed on close."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"hyperloop-{os.getpid()}-", dir=shm_root()))
        self._n = 0

    def new_path(self, tag: str) -> str:
        self._n += 1
        return str(self.path / f"{tag}-{self._n}")

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@dataclass(frozen=True)
class Segment:
    """Where columns live: a file path and, per (table, column), offset/dtype/length."""

    path: str
    manifest: Mapping[tuple[str, str], tuple[int, str, int]]
    nbytes: int


def write_segment(path: str, columns: Mapping[tuple[str, str], np.ndarray]) -> Segment:
    """Copy the columns into a new shared-memory file (one copy, aligned)."""
    manifest: dict[tuple[str, str], tuple[int, str, int]] = {}
    offset = 0
    arrays = {}
    for key, arr in columns.items():
        a = np.ascontiguousarray(arr)
        if a.ndim != 1:
            raise ValueError(f"column {key} must be 1-D to share, got shape {a.shape}")
        manifest[key] = (offset, a.dtype.str, a.shape[0])
        arrays[key] = a
        offset += (a.nbytes + ALIGN - 1) // ALIGN * ALIGN
    size = max(offset, 1)
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, size)
        with mmap.mmap(fd, size) as mm:
            for key, a in arrays.items():
                off = manifest[key][0]
                if a.nbytes:
                    mm[off : off + a.nbytes] = a.view(np.uint8).reshape(-1).data
    finally:
        os.close(fd)
    return Segment(path, manifest, size)


class MappedSegment:
    """A segment mapped read-only; arrays are views into the shared pages."""

    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        fd = os.open(segment.path, os.O_RDONLY)
        try:
            self._mm = mmap.mmap(fd, segment.nbytes, prot=mmap.PROT_READ)
        finally:
            os.close(fd)

    def arrays(self) -> dict[tuple[str, str], np.ndarray]:
        out = {}
        for key, (offset, dtype, length) in self.segment.manifest.items():
            out[key] = np.frombuffer(self._mm, dtype=np.dtype(dtype), count=length, offset=offset)
        return out

    def close(self) -> None:
        # a task may keep a view of this dataframe's columns: the mapping is then released
        # when the last view goes (the file itself is unlinked by the driver)
        with contextlib.suppress(BufferError):
            self._mm.close()


def remove_segment(segment: Segment) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(segment.path)
