"""Columns in shared memory: files in /dev/shm holding a dataframe's columns, mapped read-only.

The reader device inflates each column straight into a *slot*: one of a few files it
reuses dataframe after dataframe. Task devices map each slot once and keep the mapping, so
the pages are shared (no copy per device) and fault in once per run instead of once per
dataframe and device. Produced tables travel in one-off segments (``write_segment``).
A run keeps its files in one folder, removed when the run ends.
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
    """Where columns live: a file path and, per (table, column), offset/dtype/length.
    ``slot`` >= 0: a reusable slot file (mapped once per device, see ``SlotMaps``)."""

    path: str
    manifest: Mapping[tuple[str, str], tuple[int, str, int]]
    nbytes: int
    slot: int = -1


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class Slot:
    """A reusable shared-memory file the reader fills with one dataframe at a time.

    ``begin`` starts a dataframe (growing the file if needed: a new file, the old one is
    unlinked), ``alloc`` hands out aligned arrays inside it, ``segment`` describes them."""

    def __init__(self, folder: str | os.PathLike[str], index: int) -> None:
        self.folder = Path(folder)
        self.index = index
        self.version = 0
        self.path = ""
        self.capacity = 0
        self._mm: mmap.mmap | None = None
        self._manifest: dict[tuple[str, str], tuple[int, str, int]] = {}
        self._offset = 0

    def begin(self, nbytes: int) -> None:
        """Start a new dataframe needing about ``nbytes`` (more may spill: see ``alloc``)."""
        if self._mm is None or nbytes > self.capacity:
            self._new_file(max(nbytes + nbytes // 2, int(self.capacity * 1.5), 1 << 20))
        self._manifest = {}
        self._offset = 0

    def _new_file(self, capacity: int) -> None:
        self.retire()
        capacity = (capacity + 4095) // 4096 * 4096
        self.version += 1
        self.path = str(self.folder / f"slot{self.index}-{self.version}")
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, capacity)
            self._mm = mmap.mmap(fd, capacity)
        finally:
            os.close(fd)
        self.capacity = capacity

    def retire(self) -> None:
        """Stop using the current file (a device may still map it; the data stays intact)."""
        if self._mm is not None:
            with contextlib.suppress(BufferError):
                self._mm.close()
            self._mm = None
        if self.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.path = ""
        self.capacity = 0

    def alloc(
        self, key: tuple[str, str], dtype: np.dtype, shape: tuple[int, ...]
    ) -> np.ndarray | None:
        """A writable array for column ``key`` inside the slot, or None if it does not fit
        (or is not 1-D: segments hold 1-D columns)."""
        dtype = np.dtype(dtype)
        if self._mm is None or len(shape) != 1 or dtype.hasobject:
            return None
        n = int(shape[0])
        nbytes = n * dtype.itemsize
        if self._offset + nbytes > self.capacity:
            return None
        offset = self._offset
        self._offset += _aligned(nbytes)
        self._manifest[key] = (offset, dtype.str, n)
        return np.frombuffer(self._mm, dtype=dtype, count=n, offset=offset)

    @property
    def used(self) -> int:
        return self._offset

    def __contains__(self, key: tuple[str, str]) -> bool:
        """Whether the current dataframe's column ``key`` lies in the slot."""
        return key in self._manifest

    def segment(self) -> Segment:
        return Segment(self.path, dict(self._manifest), max(self._offset, 1), self.index)


class SlotMaps:
    """A device's read-only mappings of the reader's slots, kept from one dataframe to the
    next (a slot replaced by a new file is remapped)."""

    def __init__(self) -> None:
        self._maps: dict[int, tuple[str, mmap.mmap]] = {}

    def arrays(self, segment: Segment) -> dict[tuple[str, str], np.ndarray]:
        entry = self._maps.get(segment.slot)
        if entry is None or entry[0] != segment.path or len(entry[1]) < segment.nbytes:
            if entry is not None:
                with contextlib.suppress(BufferError):
                    entry[1].close()
            fd = os.open(segment.path, os.O_RDONLY)
            try:
                mm = mmap.mmap(fd, os.fstat(fd).st_size, prot=mmap.PROT_READ)
            finally:
                os.close(fd)
            entry = self._maps[segment.slot] = (segment.path, mm)
        mm = entry[1]
        return {
            key: np.frombuffer(mm, dtype=np.dtype(dtype), count=length, offset=offset)
            for key, (offset, dtype, length) in segment.manifest.items()
        }

    def close(self) -> None:
        for _, mm in self._maps.values():
            with contextlib.suppress(BufferError):
                mm.close()
        self._maps.clear()


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
