"""Merge job outputs: ``AnalysisResults.root`` histograms summed, derived AO2D dataframes kept apart.

Streaming: each input is opened once, read, closed; only one running accumulator per
histogram (or one dataframe at a time for AO2D) is held, so memory is bounded by about one
input file, not N. The output is written to a temporary file beside the target and renamed
at the end, so a failed merge never leaves a half-written output.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import uproot

from hyperloop.analysis import rawmerge, treemerge
from hyperloop.analysis.ao2d_writer import AO2DWriter
from hyperloop.analysis.results import (
    LIST_CLASSES,
    StoredHistogram,
    atomic_output,
    from_uproot,
    get_directory,
    is_histogram_class,
    list_of_models,
    make_codec,
    to_writable,
    write_histogram,
)
from hyperloop.analysis.thn import unpack_coordinates

_DF_RE = re.compile(r"^DF_(\d+)$")
_TREE_CLASSES = ("TTree", "TNtuple")


class MergeError(RuntimeError):
    """A merge that cannot proceed; the message names the input file and object."""


@dataclass
class MergeReport:
    """What a merge did: counts for the summary line, renamed dataframes, unmerged objects."""

    output: Path
    kind: str  # "results" or "ao2d"
    files: int
    histograms: int = 0
    dataframes: int = 0
    trees: int = 0
    renamed: dict[str, str] = field(default_factory=dict)  # "input.root:DF_1" -> "DF_7"
    copied: list[str] = field(default_factory=list)  # objects kept from their first file
    skipped: list[str] = field(default_factory=list)  # objects that could not be carried
    seconds: float = 0.0
    output_bytes: int = 0

    def summary(self) -> str:
        what = (
            f"{self.histograms} histograms" + (f", {self.trees} trees" if self.trees else "")
            if self.kind == "results"
            else f"{self.dataframes} dataframes ({self.trees} trees)"
        )
        text = f"merged {self.files} files into {self.output}: {what}"
        if self.renamed:
            text += f", {len(self.renamed)} dataframes renamed"
        if self.copied:
            text += f", {len(self.copied)} objects copied unmerged"
        if self.skipped:
            text += f", {len(self.skipped)} objects skipped"
        return text + f" ({self.output_bytes / 1e6:.2f} MB, {self.seconds:.2f} s)"


# ----------------------------------------------------------------------------- inputs


def _check_inputs(out_path: str | os.PathLike, inputs: Sequence[str | os.PathLike]) -> list[str]:
    if not inputs:
        raise MergeError("no input files given; expected at least one ROOT file to merge")
    paths = [os.fspath(p) for p in inputs]
    out = Path(out_path).resolve()
    for p in paths:
        if not os.path.isfile(p):
            raise MergeError(f"input file not found: {p}")
        if Path(p).resolve() == out:
            raise MergeError(f"output {out_path} is also an input; choose another output path")
    return paths


def _open(path: str) -> Any:
    try:
        return uproot.open(
            path, object_cache=None, array_cache=None, handler=uproot.source.file.MemmapSource
        )
    except Exception as exc:  # uproot raises many types for broken files
        raise MergeError(f"{path}: not a readable ROOT file ({_short(exc)})") from exc


def _short(exc: BaseException) -> str:
    """An exception as one line (uproot's messages span several)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def file_kind(path: str | os.PathLike) -> str:
    """``"ao2d"`` if the file has top-level ``DF_`` directories of TTrees, else ``"results"``."""
    with _open(os.fspath(path)) as f:
        try:
            top = f.classnames(recursive=False, cycle=False)
            for name, cls in top.items():
                if _DF_RE.match(name) and cls in ("TDirectory", "TDirectoryFile"):
                    inner = f[name].classnames(recursive=False, cycle=False).values()
                    if any(c in _TREE_CLASSES for c in inner):
                        return "ao2d"
        except MergeError:
            raise
        except Exception as exc:
            raise MergeError(f"{path}: corrupt ROOT file ({_short(exc)})") from exc
    return "results"


# ----------------------------------------------------------------------------- histograms


def _describe(axis_index: int, h: StoredHistogram) -> str:
    a = h.axes[axis_index]
    kind = "labels " + ",".join(a.labels) if a.labels else f"[{a.low:g}, {a.high:g}]"
    return f"axis {axis_index}: {a.nbins} bins {kind}"


def _family(h: StoredHistogram) -> tuple[str, int]:
    kind = "profile" if h.is_profile else "sparse" if h.is_sparse else "thn" if h.is_thn else "th"
    return kind, h.ndim


def _add_sparse(acc: StoredHistogram, new: StoredHistogram) -> None:
    """Union of filled bins: equal coordinates are summed. Coordinates become one linear
    bin number each (np.unique over int64 is ~10x faster than over coordinate rows; the
    order is the same, C order = rows sorted lexicographically)."""
    shape = tuple(a.nbins + 2 for a in acc.axes)
    if float(np.prod(shape, dtype=float)) < 2.0**62:
        keys = np.concatenate(
            [np.ravel_multi_index(acc.coords.T, shape), np.ravel_multi_index(new.coords.T, shape)]
        )
        linear, inverse = np.unique(keys, return_inverse=True)
        uniq = np.stack(np.unravel_index(linear, shape), axis=1).astype(acc.coords.dtype)
    else:  # too many bins for int64 bin numbers: unique rows
        coords = np.concatenate([acc.coords, new.coords])
        uniq, inverse = np.unique(coords, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if acc.sumw2 is not None or new.sumw2 is not None:
        w2 = np.concatenate([_with_sumw2(acc), _with_sumw2(new)])
        acc.sumw2 = np.bincount(inverse, weights=w2, minlength=len(uniq))
    values = np.concatenate([acc.contents, new.contents])
    acc.contents = np.bincount(inverse, weights=values, minlength=len(uniq))
    acc.coords = uniq


def _add_sparse_many(acc: StoredHistogram, news: list[StoredHistogram]) -> None:
    """Union of the filled bins of ``acc`` and several inputs in one pass (each bin summed in
    input order, as adding them one by one)."""
    if not news:
        return
    shape = tuple(a.nbins + 2 for a in acc.axes)
    parts = [acc, *news]
    if float(np.prod(shape, dtype=float)) >= 2.0**62:
        for new in news:
            _add_sparse(acc, new)
        return
    keys = np.concatenate([np.ravel_multi_index(h.coords.T, shape) for h in parts])
    linear, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.reshape(-1)
    if any(h.sumw2 is not None for h in parts):
        w2 = np.concatenate([_with_sumw2(h) for h in parts])
        acc.sumw2 = np.bincount(inverse, weights=w2, minlength=len(linear))
    values = np.concatenate([h.contents for h in parts])
    acc.contents = np.bincount(inverse, weights=values, minlength=len(linear))
    acc.coords = np.stack(np.unravel_index(linear, shape), axis=1).astype(np.int64)


def _with_sumw2(h: StoredHistogram) -> np.ndarray:
    return h.sumw2 if h.sumw2 is not None else h.contents


def add_into(acc: StoredHistogram, new: StoredHistogram, where: str, first_file: str) -> None:
    """Add ``new`` into the accumulator ``acc`` (in place); ROOT's TH1::Add for equal bins."""
    if _family(acc) != _family(new):
        raise MergeError(
            f"{where}: is a {new.classname} but {first_file} has a {acc.classname}; "
            "cannot add histograms of different kinds or dimensions"
        )
    for i, (a, b) in enumerate(zip(acc.axes, new.axes, strict=True)):
        if not a.same_binning(b):
            raise MergeError(
                f"{where}: bin structure differs from {first_file} "
                f"({_describe(i, new)} here, {_describe(i, acc)} there)"
            )
    if acc.is_sparse:
        _add_sparse(acc, new)
        _add_stats(acc, new)
        return
    else:
        if acc.sumw2 is not None or new.sumw2 is not None:
            acc.sumw2 = _with_sumw2(acc) + _with_sumw2(new)
        acc.contents += new.contents
    if acc.is_profile:
        if acc.bin_sumw2 is not None or new.bin_sumw2 is not None:
            a2 = acc.bin_sumw2 if acc.bin_sumw2 is not None else acc.bin_entries
            b2 = new.bin_sumw2 if new.bin_sumw2 is not None else new.bin_entries
            acc.bin_sumw2 = a2 + b2
        acc.bin_entries += new.bin_entries
    _add_stats(acc, new)


def _add_stats(acc: StoredHistogram, new: StoredHistogram) -> None:
    for key, value in new.stats.items():
        if acc.is_thn and key in ("fTsumw2", "fTsumwx", "fTsumwx2"):
            continue  # THnBase::Add keeps the first's fTsumwx, fTsumwx2 (so does hadd)
        acc.stats[key] = acc.stats[key] + value
    if acc.is_thn:
        # THn marks "no Sumw2" with fTsumw2 = -1; an input without errors counts sum w.
        both = (acc.stats["fTsumw2"], new.stats["fTsumw2"])
        if acc.sumw2 is None:
            acc.stats["fTsumw2"] = -1.0
        else:
            acc.stats["fTsumw2"] = sum(max(v, 0.0) for v in both)


def _own(h: StoredHistogram) -> StoredHistogram:
    """A private, writable copy of the arrays (uproot may hand out read-only views)."""
    h.contents = np.array(h.contents, dtype=np.float64)
    for attr in ("sumw2", "bin_entries", "bin_sumw2"):
        value = getattr(h, attr)
        if value is not None:
            setattr(h, attr, np.array(value, dtype=np.float64))
    h.stats = {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in h.stats.items()}
    return h


def merge_results(
    out_path: str | os.PathLike,
    inputs: Sequence[str | os.PathLike],
    *,
    compression: str = "zlib",
    level: int = 1,
    copy_unmergeable: bool = False,
) -> MergeReport:
    """Sum every object of several ``AnalysisResults.root`` files into ``out_path``, as ``hadd``.

    Histograms (TH1/TH2/TH3 C/S/I/F/D, TProfile/2D/3D, THnSparse) and TList/THashList of
    them, nested to any depth, are merged on their serialized bytes when every input holds
    the same layout (same names, classes, order, axes and labels; items of a list are matched
    by position, so same-named items stay apart): contents, Sumw2, bin entries, entries and
    statistics are summed in the class's storage type, in input order, and the first input's
    bytes carry everything else, with its class version and StreamerInfo; fills still in a
    histogram's buffer are emptied as hadd does. Histograms whose layouts differ between
    inputs (THnSparse with other filled bins) are summed from their arrays (:func:`add_into`),
    lists of them item by item. Directories, empty ones included, keep hadd's order; objects
    missing from some inputs are kept. TTrees are merged as hadd does, entries concatenated
    (:mod:`hyperloop.analysis.treemerge`): every input's baskets become baskets of the output
    and one TTree lists them all. Anything else (a TObjString, trees whose branches differ,
    lists whose items differ in number, names or kinds, statistics ROOT would recompute) raises
    MergeError naming it, unless ``copy_unmergeable``: then the first input's object is copied
    unchanged (``report.copied``; trees are left out, ``report.skipped``). Truncated or corrupt
    inputs raise MergeError.
    """
    start = time.perf_counter()
    paths = _check_inputs(out_path, inputs)
    report = MergeReport(output=Path(out_path), kind="results", files=len(paths))
    order: dict[tuple[str, str | None], None] = {}  # directories and objects, as first seen
    entries: dict[tuple[str, str], _Entry] = {}
    streamers: dict[tuple[str, int], Any] = {}
    seen_streamers: set[bytes] = set()
    codec = make_codec(compression, level)
    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        for path in paths:
            with _open(path) as f:
                _check_complete(path, f)
                _collect_streamers(f, streamers, seen_streamers)
                try:
                    items = list(_walk_keys(f))
                except Exception as exc:
                    raise MergeError(
                        f"{path}: corrupt directory structure ({_short(exc)})"
                    ) from exc
                objects = []
                for dname, name, cls, d in items:
                    order.setdefault((dname, name))
                    if name is not None:
                        entry = entries.get((dname, name))
                        if entry is None or entry.copy is None:
                            objects.append((dname, name, cls, d))
                payloads = _payloads(path, f, objects, pool)
                for (dname, name, cls, d), (key, data) in zip(objects, payloads, strict=True):
                    _merge_key(entries, (dname, name), cls, d, key, data, path, copy_unmergeable)
        with atomic_output(out_path) as tmp, uproot.recreate(tmp, compression=codec) as out:
            _write_entries(out, order, entries, codec, pool, report)
            out._file._cascading.streamers.update_streamers(
                out._file.sink, list(streamers.values())
            )
    report.histograms = sum(e.histograms for e in entries.values())
    report.seconds = time.perf_counter() - start
    report.output_bytes = os.path.getsize(out_path)
    return report


def _collect_streamers(f: Any, streamers: dict, seen: set[bytes]) -> None:
    """Add a file's StreamerInfo records (parsed only when its record is new: job outputs of
    one train carry the same bytes)."""
    seek, nbytes = int(f.file.fSeekInfo), int(f.file.fNbytesInfo)
    record = f.file.source.chunk(seek, seek + nbytes).raw_data.tobytes()
    keylen = int.from_bytes(record[14:16], "big") if len(record) >= 16 else 0
    payload = record[keylen:]
    if payload in seen:
        return
    seen.add(payload)
    for name, versions in f.file.streamers.items():
        for version, info in versions.items():
            streamers.setdefault((name, version), info)


def _check_complete(path: str, f: Any) -> None:
    """Refuse a truncated file (shorter than its header's fEND)."""
    size = os.path.getsize(path)
    end = int(f.file.fEND)
    if size < end:
        raise MergeError(
            f"{path}: truncated ROOT file ({size} bytes, its header says {end}); refusing to merge it"
        )


def _walk_keys(directory: Any, prefix: str = "") -> Iterator[tuple[str, str | None, str, Any]]:
    """(directory path, key name, class, directory) for every key, in key order; a
    directory itself is yielded as (its path, None, "TDirectory", it) so empty ones are kept."""
    for name, cls in directory.classnames(recursive=False, cycle=False).items():
        if cls in ("TDirectory", "TDirectoryFile"):
            path = f"{prefix}{name}"
            sub = directory[name]
            yield path, None, cls, sub
            yield from _walk_keys(sub, f"{path}/")
        else:
            yield prefix.rstrip("/"), name, cls, directory


def _threads() -> int:
    """Threads for (de)compression: the cores this process may use (the job's cores)."""
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:  # not on Linux
        return max(1, min(8, os.cpu_count() or 1))


def _payloads(path: str, f: Any, objects: list, pool: Any) -> list[tuple[Any, bytes]]:
    """(key, object bytes) of each object of one input, decompressed on the pool's threads."""
    keys, raws = [], []
    for dname, name, _, d in objects:
        key = d.key(name)
        start = key.data_cursor.index
        try:
            raw = f.file.source.chunk(start, start + key.data_compressed_bytes).raw_data
        except Exception as exc:
            full = f"{dname}/{name}" if dname else name
            raise MergeError(f"{path}: {full}: cannot read its bytes ({_short(exc)})") from exc
        keys.append(key)
        raws.append((raw.tobytes(), key.data_uncompressed_bytes))
    try:
        datas = rawmerge.decompress_many(raws, pool)
    except rawmerge.Unsupported:  # an old compression algorithm: let uproot do all of them
        datas = []
        for key in keys:
            try:
                datas.append(key.get_uncompressed_chunk_cursor()[0].raw_data.tobytes())
            except Exception as exc:
                datas.append(exc)
    out = []
    for (dname, name, _, _), key, data in zip(objects, keys, datas, strict=True):
        if isinstance(data, Exception):
            full = f"{dname}/{name}" if dname else name
            raise MergeError(f"{path}: {full}: corrupt object ({_short(data)})")
        out.append((key, data))
    return out


def _write_entries(
    out: Any, order: dict, entries: dict, codec: Any, pool: Any, report: Any
) -> None:
    """Write directories and merged objects in the order first seen (hadd's: the first file's
    keys, then those only later files have); payloads compressed in batches on the pool."""
    batch: list[tuple[tuple[str, str], _Entry, bytes]] = []
    folders = {"": out}
    size = 0

    def flush() -> None:
        datas = [data for _, _, data in batch]
        packed = rawmerge.compress_many(datas, rawmerge.fast_codec(codec), pool)
        for ((dname, name), entry, data), raw in zip(batch, packed, strict=True):
            folder = folders[dname]
            written = folder._cascading.add_object(
                folder._file.sink, entry.cls, name, entry.title, raw, len(data)
            )
            if written.big:  # a longer key header would shift the object's class references
                raise MergeError(
                    f"{dname}/{name}: the merged file passes 2 GB, where object keys grow; "
                    "merge fewer files at a time"
                )
        batch.clear()

    for dname, name in order:
        if name is None:  # a directory (kept even when empty)
            if batch:
                flush()
                size = 0
            folders[dname] = get_directory(out, dname)
            continue
        entry = entries[(dname, name)]
        if entry.acc is not None:
            data = entry.acc.result()
            entry.acc = None  # its memory goes once written
            batch.append(((dname, name), entry, data))
            size += len(data)
            if size > 256_000_000:
                flush()
                size = 0
            continue
        if batch:
            flush()
            size = 0
        entry.write(folders[dname], name, codec, report, pool)
    if batch:
        flush()


def _small_keylen(classname: str, name: str, title: str) -> int:
    size = uproot.reading._key_format_small.size
    for text in (classname, name, title):
        n = len(text.encode(errors="surrogateescape"))
        size += n + (1 if n < 255 else 5)
    return size


class _Entry:
    """One object of the output: summed on bytes (fast), via uproot (slow) or copied."""

    def __init__(self, cls: str, path: str) -> None:
        self.cls = cls
        self.origin = path
        self.paths = [path]
        self.acc: rawmerge.Accumulator | None = None
        self.title = ""
        self.hist: StoredHistogram | None = None
        self.copy: tuple[str, str, str] | None = None  # (path, dname, name)
        self.histograms = 0
        self.sparse_head = b""  # THnSparse: name, title and axes every input must share
        self.pending: list[StoredHistogram] = []  # THnSparse inputs not yet united
        self.pending_bins = 0
        self.tree: _ListNode | None = None  # a list summed item by item via uproot
        # a TTree: each input's path and leaf extremes (its bytes are read again when written)
        self.ttrees: list[tuple[str, list]] = []
        self.ttree_layout = b""  # the first input's TTree without baskets and counters

    def settle(self) -> None:
        """Unite the pending THnSparse inputs with the sum."""
        _add_sparse_many(self.hist, self.pending)
        self.pending, self.pending_bins = [], 0

    def write(
        self, folder: Any, name: str, codec: Any, report: MergeReport, pool: Any = None
    ) -> None:
        if self.pending:
            self.settle()
        if self.ttrees:
            _write_ttree(folder, name, self, codec, pool)
            report.trees += 1
        elif self.hist is not None:
            write_histogram(folder, name, self.hist)
        elif self.tree is not None:
            folder[name] = _tree_writable(self.tree)
        elif self.copy is not None and self.cls in _TREE_CLASSES:
            # a raw copy would point at baskets of the input file: left out, loudly
            label = f"{self.copy[1]}/{name}" if self.copy[1] else name
            report.skipped.append(f"{label} ({self.cls}: trees are not merged in results files)")
        elif self.copy is not None:
            path, dname, _ = self.copy
            with _open(path) as f:
                source = f[dname] if dname else f
                _raw_copy(folder, source, name)
            report.copied.append(
                f"{dname}/{name} ({self.cls})" if dname else f"{name} ({self.cls})"
            )


def _merge_key(
    entries: dict,
    key: tuple[str, str],
    cls: str,
    d: Any,
    src_key: Any,
    data: bytes,
    path: str,
    copy_unmergeable: bool,
) -> None:
    dname, name = key
    full = f"{dname}/{name}" if dname else name
    where = f"{path}: {full}"
    entry = entries.get(key)
    if entry is not None and entry.copy is not None:
        return  # copied from the first file having it
    histograms = is_histogram_class(cls) and entry is not None and is_histogram_class(entry.cls)
    if entry is not None and entry.cls != cls and not histograms:
        raise MergeError(f"{where}: is a {cls} but {entry.origin} has a {entry.cls}")
    if cls in _TREE_CLASSES:
        _merge_ttree(entries, key, entry, cls, src_key, data, where, path, copy_unmergeable)
        return
    if entry is None:
        entry = entries[key] = _Entry(cls, path)
        entry.title = src_key.fTitle
        try:
            if src_key.fKeylen != _small_keylen(cls, name, entry.title):
                raise rawmerge.Unsupported("its key header has another size")
            skeleton = rawmerge.parse(cls, data, src_key.fKeylen)
        except rawmerge.Unsupported as exc:
            _start_slow(entry, key, cls, d, path, str(exc), copy_unmergeable)
            return
        entry.acc = rawmerge.Accumulator(data, skeleton)
        entry.histograms = len(skeleton.items)
        return
    entry.paths.append(path)
    if entry.sparse_head and _add_sparse_bytes(entry, cls, data, src_key.fKeylen):
        return
    if entry.tree is not None:
        _add_list_or_refuse(entry, key, d[name], where, copy_unmergeable)
        return
    if entry.acc is not None:
        if entry.cls == cls and entry.acc.same_layout(data):
            entry.acc.add(data)
            return
        if cls in LIST_CLASSES and entry.cls == cls:
            # other layouts in a list (e.g. a THnSparse with other filled bins): read them all
            entry.acc = None
            for previous in entry.paths[:-1]:
                with _open(previous) as f:
                    obj = f[dname][name] if dname else f[name]
                    ok = _add_list_or_refuse(
                        entry, key, obj, f"{previous}: {full}", copy_unmergeable
                    )
                    if not ok:
                        return
            _add_list_or_refuse(entry, key, d[name], where, copy_unmergeable)
            return
        if not is_histogram_class(cls):
            reason = f"its contents differ from {entry.origin} (names, classes, order or binning)"
            _unmergeable(entry, key, where, reason, copy_unmergeable)
            return
        layout = entry.acc.skeleton.sparse
        if entry.cls == cls and layout is not None and entry.acc.skeleton.items == [("", cls)]:
            _start_sparse(entry, key, layout)
            if _add_sparse_bytes(entry, cls, data, src_key.fKeylen):
                return
        # another layout and binning: read with uproot, add_into says what differs
        entry.acc = entry.hist = None
        entry.pending = []
        for previous in entry.paths[:-1]:
            with _open(previous) as f:
                _add_slow(entry, f[dname][name] if dname else f[name], f"{previous}: {full}")
    _add_slow(entry, d[name], where)


def _merge_ttree(
    entries: dict,
    key: tuple[str, str],
    entry: _Entry | None,
    cls: str,
    src_key: Any,
    data: bytes,
    where: str,
    path: str,
    copy: bool,
) -> None:
    """Add one input's TTree (parsed; its baskets are copied when the output is written)."""
    dname, name = key
    first = entry is None
    if first:
        entry = entries[key] = _Entry(cls, path)
        entry.title = src_key.fTitle
    else:
        entry.paths.append(path)
    try:
        tree = treemerge.parse(data, src_key.fKeylen)
        layout = treemerge.normalized(tree)
    except rawmerge.Unsupported as exc:
        _unmergeable(entry, key, where, f"a tree: {exc}", copy)
        return
    if first:
        entry.ttree_layout = layout
    elif layout != entry.ttree_layout or src_key.fTitle != entry.title:
        reason = f"its branches, leaves or options differ from the tree in {entry.origin}"
        _unmergeable(entry, key, where, reason, copy)
        entry.ttrees = []
        return
    entry.ttrees.append((path, tree.extreme_values()))


def _reread_ttree(path: str, dname: str, name: str, layout: bytes) -> treemerge.Tree:
    """An input's TTree parsed again (only one input's tree is held at a time)."""
    with _open(path) as f:
        key = (f[dname] if dname else f).key(name)
        try:
            data = key.get_uncompressed_chunk_cursor()[0].raw_data.tobytes()
            tree = treemerge.parse(data, key.fKeylen)
        except Exception as exc:
            raise MergeError(
                f"{path}: {dname}/{name}: cannot read the tree ({_short(exc)})"
            ) from exc
    if treemerge.normalized(tree) != layout:
        raise MergeError(f"{path}: {dname}/{name}: the tree changed while being merged")
    return tree


def _copy_baskets(
    folder: Any,
    name: str,
    entry: _Entry,
    first: treemerge.Tree,
    totals: list,
    counters: list[int],
    fast: Any,
    pool: Any,
) -> None:
    """Write every input's baskets of one tree into the output (inputs one at a time),
    filling ``totals`` (each branch's baskets and sums) and the tree's ``counters``."""
    sink, cascading = folder._file.sink, folder._cascading
    pdir = cascading._key.location
    dname = "/".join(folder.path) if getattr(folder, "path", None) else ""
    offset = 0

    def place(raw_key: bytes) -> int:
        return cascading._freesegments.allocate(len(raw_key), dry_run=False)

    for i, (path, _) in enumerate(entry.ttrees):
        tree = first if i == 0 else _reread_ttree(path, dname, name, entry.ttree_layout)
        label = f"{path}: {entry_path(folder, name)}"
        with _open(path) as f:
            source = f.file.source
            for br, tot in zip(tree.branches, totals, strict=True):
                for j in range(br.write_basket):
                    seek, size = int(br.seek[j]), int(br.bytes_[j])
                    try:
                        raw = source.chunk(seek, seek + size).raw_data.tobytes()
                    except Exception as exc:
                        raise MergeError(
                            f"{label}: basket {j} of branch {br.name} cannot be read ({_short(exc)})"
                        ) from exc
                    if len(raw) != size or int.from_bytes(raw[:4], "big") != size:
                        raise MergeError(f"{label}: basket {j} of branch {br.name} is corrupt")
                    at = place(raw)
                    sink.write(at, treemerge.moved_key(raw, at, pdir))
                    tot.seek.append(at)
                    tot.bytes_.append(size)
                    tot.first.append(int(br.first[j]) + offset)
                for e in br.embedded:
                    if e.entries == 0:
                        continue
                    packed = rawmerge.compress_many([e.payload], fast, pool)[0]
                    size = len(e.header) + len(packed)
                    at = cascading._freesegments.allocate(size, dry_run=False)
                    sink.write(at, treemerge.embedded_key(e, packed, at, pdir))
                    tot.seek.append(at)
                    tot.bytes_.append(size)
                    tot.first.append(int(br.first[br.write_basket]) + offset)
                    tot.tot_bytes += len(e.header) + len(e.payload)
                    tot.zip_bytes += size
                    counters[1] += len(e.header) + len(e.payload)
                    counters[2] += size
                    counters[3] += size
                tot.entries += br.entries
                tot.tot_bytes += br.tot_bytes
                tot.zip_bytes += br.zip_bytes
        for k in range(5):
            counters[k] += tree.counter(k)
        offset += tree.counter(0)


def _write_ttree(folder: Any, name: str, entry: _Entry, codec: Any, pool: Any) -> None:
    """Write a merged TTree as hadd does: every input's baskets become TBasket keys of the
    output (copied compressed; those inside an input's TTree object written as new keys),
    then one TTree listing them all, with summed entries and byte counts."""
    dname = "/".join(folder.path) if getattr(folder, "path", None) else ""
    first = _reread_ttree(entry.origin, dname, name, entry.ttree_layout)
    totals = [treemerge.BranchTotals() for _ in first.branches]
    sink, cascading = folder._file.sink, folder._cascading
    fast = rawmerge.fast_codec(codec)
    counters = [0, 0, 0, 0, 0]  # fEntries fTotBytes fZipBytes fSavedBytes fFlushedBytes
    try:
        _copy_baskets(folder, name, entry, first, totals, counters, fast, pool)
    except rawmerge.Unsupported as exc:  # a basket key past 2 GB
        raise MergeError(
            f"{entry_path(folder, name)}: the merged file passes 2 GB, where basket keys grow "
            f"({exc}); merge fewer files at a time"
        ) from exc
    keylen = _small_keylen(entry.cls, name, entry.title)
    extremes = treemerge.combined_extremes(first, [values for _, values in entry.ttrees])
    data = treemerge.serialize(first, totals, tuple(counters), keylen, extremes)
    raw = rawmerge.compress_many([data], fast, pool)[0]
    written = cascading.add_object(sink, entry.cls, name, entry.title, raw, len(data))
    if written.big:
        raise MergeError(
            f"{name}: the merged file passes 2 GB, where object keys grow; "
            "merge fewer files at a time"
        )


def entry_path(folder: Any, name: str) -> str:
    path = "/".join(folder.path) if getattr(folder, "path", None) else ""
    return f"{path}/{name}" if path else name


class _Unfaithful(Exception):
    """An object inside a list that cannot be merged faithfully (the message says where)."""


@dataclass
class _ListNode:
    """A TList/THashList read with uproot: its items by position (lists or named sums)."""

    cls: str
    name: str
    items: list[Any]  # _ListNode | tuple[str, StoredHistogram]


def _item_name(obj: Any, i: int) -> str:
    return str(obj.member("fName")) if obj.has_member("fName") else f"#{i}"


def _read_tree(obj: Any, where: str) -> Any:
    cls = obj.classname
    if cls in LIST_CLASSES:
        items = []
        for i, item in enumerate(obj):
            if item is None:
                raise _Unfaithful(f"{where}: entry {i} is empty")
            items.append(_read_tree(item, f"{where}/{_item_name(item, i)}"))
        return _ListNode(cls, _item_name(obj, 0), items)
    if not is_histogram_class(cls):
        raise _Unfaithful(f"{where}: a {cls} (nothing to sum) inside a list")
    try:
        h = from_uproot(obj)
    except Exception as exc:
        raise MergeError(f"{where}: cannot read {cls} ({_short(exc)})") from exc
    reason = _unfaithful_reason(obj, h)
    if reason:
        raise _Unfaithful(f"{where}: {reason}")
    return (_item_name(obj, 0), _own(h))


def _add_tree(acc: Any, new: Any, where: str, origin: str) -> None:
    if isinstance(acc, _ListNode):
        if not isinstance(new, _ListNode) or acc.cls != new.cls:
            raise _Unfaithful(f"{where}: not the same kind of list as in {origin}")
        if len(acc.items) != len(new.items):
            raise _Unfaithful(f"{where}: {len(new.items)} items here, {len(acc.items)} in {origin}")
        for i, (a, b) in enumerate(zip(acc.items, new.items, strict=True)):
            an = a.name if isinstance(a, _ListNode) else a[0]
            bn = b.name if isinstance(b, _ListNode) else b[0]
            if an != bn:
                raise _Unfaithful(f"{where}: item {i} is {bn} here, {an} in {origin}")
            _add_tree(a, b, f"{where}/{an}", origin)
        return
    if isinstance(new, _ListNode):
        raise _Unfaithful(f"{where}: a list here, a histogram in {origin}")
    add_into(acc[1], new[1], where, origin)


def _tree_writable(node: _ListNode) -> Any:
    """An uproot-writable TList/THashList (current class versions, their StreamerInfos)."""
    models = [
        _tree_writable(item) if isinstance(item, _ListNode) else to_writable(item[1], item[0])
        for item in node.items
    ]
    return list_of_models(models, node.name, node.cls)


def _add_list_or_refuse(entry: _Entry, key: tuple, obj: Any, where: str, copy: bool) -> bool:
    """Add one input's list to the entry's item-by-item sum; False if it was refused (or
    copied instead, with ``copy``)."""
    full = where.split(": ", 1)[-1]
    try:
        tree = _read_tree(obj, full)
        if entry.tree is None:
            entry.tree = tree
        else:
            _add_tree(entry.tree, tree, full, entry.origin)
    except _Unfaithful as exc:
        _unmergeable(entry, key, where.split(": ", 1)[0] + ": " + str(exc), "", copy)
        return False
    return True


def _start_sparse(entry: _Entry, key: tuple, layout: rawmerge.SparseLayout) -> None:
    """From summing THnSparse bytes in place (same filled bins so far) to uniting bins."""
    dname, name = key
    data = bytes(entry.acc.result())
    with _open(entry.origin) as f:
        base = from_uproot(f[dname][name] if dname else f[name])  # axes, title, options
    arrays = rawmerge.sparse_arrays(data, layout, base.ndim)
    base.coords = unpack_coordinates(arrays["coords"], [a.nbins for a in base.axes])
    base.contents = arrays["contents"]
    base.sumw2 = arrays["sumw2"] if arrays["stats"]["fTsumw2"] >= 0 else None
    base.stats = arrays["stats"]
    entry.hist, entry.acc = _own(base), None
    entry.sparse_head = data[layout.named : layout.stats]


def _add_sparse_bytes(entry: _Entry, cls: str, data: bytes, keylen: int) -> bool:
    """Add a THnSparse input read from its bytes; False if its name, title or axes differ
    (or it is not a THnSparse as expected)."""
    if cls != entry.cls:
        return False
    try:
        layout = rawmerge.parse(cls, data, keylen).sparse
    except rawmerge.Unsupported:
        return False
    if layout is None or data[layout.named : layout.stats] != entry.sparse_head:
        return False
    acc = entry.hist
    arrays = rawmerge.sparse_arrays(data, layout, acc.ndim)
    new = StoredHistogram(
        classname=cls,
        title=acc.title,
        axes=acc.axes,
        contents=arrays["contents"],
        sumw2=arrays["sumw2"] if arrays["stats"]["fTsumw2"] >= 0 else None,
        stats=arrays["stats"],
        coords=unpack_coordinates(arrays["coords"], [a.nbins for a in acc.axes]),
    )
    entry.pending.append(new)
    for k in ("fEntries", "fTsumw"):
        acc.stats[k] = acc.stats[k] + new.stats[k]
    errors = acc.sumw2 is not None or any(h.sumw2 is not None for h in entry.pending)
    both = max(acc.stats["fTsumw2"], 0.0) + max(new.stats["fTsumw2"], 0.0)
    acc.stats["fTsumw2"] = both if errors else -1.0  # as add_into
    entry.pending_bins += len(new.contents)
    if entry.pending_bins > 4 * max(len(acc.contents), 1_000_000):
        entry.settle()
    return True


def _start_slow(
    entry: _Entry, key: tuple, cls: str, d: Any, path: str, reason: str, copy: bool
) -> None:
    dname, name = key
    where = f"{path}: {dname}/{name}" if dname else f"{path}: {name}"
    if not is_histogram_class(cls):
        _unmergeable(entry, key, where, reason, copy)
        return
    _add_slow(entry, d[name], where)


def _unmergeable(entry: _Entry, key: tuple, where: str, reason: str, copy: bool) -> None:
    if not copy:
        raise MergeError(
            f"{where}: cannot be merged faithfully{f' ({reason})' if reason else ''}; "
            "use --copy-unmergeable to copy it from the first file instead"
        )
    entry.acc = entry.hist = entry.tree = None
    entry.ttrees = []
    entry.copy = (entry.origin, *key)


def _unfaithful_reason(obj: Any, h: StoredHistogram) -> str | None:
    """Why summing the stored numbers of ``h`` would not give what hadd writes, if so."""
    buffer = obj.member("fBuffer") if obj.has_member("fBuffer") else None
    if buffer is not None and len(buffer) and buffer[0] != 0:
        return "fills still in the histogram's buffer"
    if h.is_thn:
        return None
    for c in "XYZ"[: h.ndim]:
        if int(obj.member(f"f{c}axis").member("@fBits")) & rawmerge.AXIS_RANGE:
            return "an axis with a restricted range (ROOT recomputes the statistics)"
    if h.stats["fTsumw"] == 0 and (h.entries != 0 or h.is_profile):
        filled = h.bin_entries if h.is_profile else h.contents
        if np.any(h._cut(h._shaped(filled), flow=False) != 0):
            return "statistics ROOT would recompute (fTsumw 0, bins filled)"
    return None


def _add_slow(entry: _Entry, obj: Any, where: str) -> None:
    """Read one input's histogram with uproot and add it to the entry's sum."""
    try:
        hist = from_uproot(obj)
    except Exception as exc:
        raise MergeError(f"{where}: cannot read {obj.classname} ({_short(exc)})") from exc
    reason = _unfaithful_reason(obj, hist)
    if reason:
        raise MergeError(f"{where}: cannot be merged faithfully ({reason})")
    if entry.hist is None:
        entry.hist = _own(hist)
        entry.histograms = 1
    else:
        add_into(entry.hist, hist, where, entry.origin)


def _copy_object(
    out: Any, source: Any, dname: str, name: str, cls: str, report: MergeReport
) -> None:
    """Copy an object this module cannot sum (e.g. a TTree-less TNamed, a TList of other
    objects) raw from ``source``, the input directory holding it, into ``out/dname``."""
    label = f"{dname}/{name}" if dname else name
    if cls in _TREE_CLASSES:
        report.skipped.append(f"{label} ({cls}: trees are not merged in results files)")
        return
    try:
        _raw_copy(get_directory(out, dname), source, name)
    except Exception as exc:
        report.skipped.append(f"{label} ({cls}: cannot copy: {exc})")
        return
    report.copied.append(f"{label} ({cls})")


def _raw_copy(target: Any, source: Any, name: str) -> None:
    """Copy one object's compressed bytes and its StreamerInfos, without interpreting it.

    Like uproot's ``copy_from`` for a single key, minus its spurious ``mkdir("")`` for
    objects in the directory itself (uproot 5.7 internals: pinned to <5.8).
    """
    key = source.key(name)
    start = key.data_cursor.index
    raw = source.file.source.chunk(start, start + key.data_compressed_bytes).raw_data.tobytes()
    pairs: list = []
    for streamer in source.file.streamers_named(key.fClassName):
        streamer._dependencies(source.file.streamers, pairs)
    streamers = [source.file.streamer_named(c, v) for c, v in set(pairs)]
    sink = target._file.sink
    target._file._cascading.streamers.update_streamers(sink, streamers)
    target._cascading.add_object(
        sink, key.fClassName, name, key.fTitle, raw, key.data_uncompressed_bytes
    )


# ----------------------------------------------------------------------------- AO2D


def _dataframes(path: str) -> tuple[list[str], list[tuple[str, str]]]:
    """DF_ directory names and the other top-level (name, class) of an AO2D file."""
    with _open(path) as f:
        try:
            top = f.classnames(recursive=False, cycle=False)
        except Exception as exc:
            raise MergeError(f"{path}: corrupt ROOT file ({_short(exc)})") from exc
    dfs = [
        n for n, c in top.items() if c in ("TDirectory", "TDirectoryFile") and n.startswith("DF_")
    ]
    others = [(n, c) for n, c in top.items() if n not in dfs]
    return dfs, others


def _read_dataframe(ao2d: Any, df: str, path: str) -> dict[str, dict[str, np.ndarray]]:
    """Every table of one dataframe with every column, as stored (one dataframe in memory)."""
    from hyperloop.analysis.ao2d import AO2DError

    tables = {}
    for table in ao2d.trees(df):
        where = f"{path}: {df}/{table}"
        try:
            names = ao2d.columns(df, table)
            # the count branch of a std::vector column is rewritten with the column
            names = [c for c in names if not (c.endswith("_size") and c[:-5] in names)]
            columns = ao2d.read(df, table, names)
        except AO2DError as exc:
            raise MergeError(f"{where}: {exc}") from exc
        except Exception as exc:
            raise MergeError(f"{where}: cannot read tree ({_short(exc)})") from exc
        tables[table] = columns  # std::vector columns (object arrays) are written back jagged
    return tables


def _open_ao2d(path: str) -> Any:
    from hyperloop.analysis.ao2d import AO2DError, open_ao2d

    try:
        return open_ao2d(path)
    except AO2DError as exc:
        raise MergeError(str(exc)) from exc


def merge_ao2d(
    out_path: str | os.PathLike,
    inputs: Sequence[str | os.PathLike],
    *,
    compression: str = "zstd",
    level: int = 5,
) -> MergeReport:
    """Concatenate derived AO2D files keeping every dataframe distinct.

    A ``DF_<id>`` name already taken by an earlier input gets a new id (one above the
    largest id of all inputs, counting up in input order), so index columns stay valid —
    unlike ``hadd``, which fuses same-named dataframes. Trees are copied with their columns
    and dtypes unchanged; ``parentFiles`` maps are united (renamed dataframes follow).
    """
    from hyperloop.analysis.ao2d import write_parent_files

    start = time.perf_counter()
    paths = _check_inputs(out_path, inputs)
    listing = {p: _dataframes(p) for p in paths}  # validates every input before writing
    ids = [int(m.group(1)) for dfs, _ in listing.values() for d in dfs if (m := _DF_RE.match(d))]
    next_id = max(ids, default=0) + 1
    report = MergeReport(output=Path(out_path), kind="ao2d", files=len(paths))
    taken: set[str] = set()
    parents: dict[str, str] = {}
    copied_top: set[str] = set()
    with (
        atomic_output(out_path) as tmp,
        AO2DWriter(tmp, compression=compression, level=level) as writer,
    ):
        for path in paths:
            dfs, others = listing[path]
            renames: dict[str, str] = {}
            with _open_ao2d(path) as ao2d:
                for df in dfs:
                    new = df
                    if new in taken:
                        new = f"DF_{next_id}"
                        next_id += 1
                        renames[df] = new
                        report.renamed[f"{path}:{df}"] = new
                    tables = _read_dataframe(ao2d, df, path)
                    writer.write_dataframe(new, tables)
                    taken.add(new)
                    report.trees += len(tables)
                if any(n == "parentFiles" for n, _ in others):
                    try:
                        mapping = ao2d.parent_files() or {}
                    except Exception as exc:
                        raise MergeError(f"{path}: cannot read parentFiles ({exc})") from exc
                    for k, v in mapping.items():
                        parents[renames.get(k, k)] = v
            rest = [(n, c) for n, c in others if n != "parentFiles" and n not in copied_top]
            if rest:
                with _open(path) as f:
                    for name, cls in rest:
                        _copy_object(writer.file, f, "", name, cls, report)
                        copied_top.add(name)
        if parents:
            write_parent_files(writer.file, parents)
    report.dataframes = len(taken)
    report.seconds = time.perf_counter() - start
    report.output_bytes = os.path.getsize(out_path)
    return report


def merge_any(
    out_path: str | os.PathLike, inputs: Sequence[str | os.PathLike], **options: Any
) -> MergeReport:
    """Merge results or derived AO2D files, detected from their content (all of one kind)."""
    paths = _check_inputs(out_path, inputs)
    kinds = {p: file_kind(p) for p in paths}
    if len(set(kinds.values())) > 1:
        first = paths[0]
        odd = next(p for p in paths if kinds[p] != kinds[first])
        raise MergeError(
            f"cannot merge different kinds of files: {first} is {kinds[first]}, {odd} is {kinds[odd]}"
        )
    if kinds[paths[0]] == "ao2d":
        options.pop("copy_unmergeable", None)  # AO2D files copy their other objects anyway
        return merge_ao2d(out_path, paths, **options)
    return merge_results(out_path, paths, **options)


def benchmark_merge(inputs: Iterable[str | os.PathLike], out_path: str | os.PathLike) -> dict:
    """Merge once and return measured figures (for a later benchmark script).

    Returns seconds, input/output MB, MB/s over the inputs and the growth of this process's peak RSS.
    """
    import resource

    paths = [os.fspath(p) for p in inputs]
    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = merge_any(out_path, paths)
    peak1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    in_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    return {
        "kind": report.kind,
        "files": report.files,
        "seconds": report.seconds,
        "input_mb": in_mb,
        "output_mb": report.output_bytes / 1e6,
        "mb_per_s": in_mb / report.seconds if report.seconds else float("inf"),
        "peak_rss_growth_mb": (peak1 - peak0) / 1e3,  # ru_maxrss is in kB on Linux
    }
