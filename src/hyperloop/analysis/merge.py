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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import uproot

from hyperloop.analysis.ao2d_writer import AO2DWriter
from hyperloop.analysis.results import (
    LIST_CLASSES,
    StoredHistogram,
    atomic_output,
    from_uproot,
    get_directory,
    is_histogram_class,
    list_writable,
    make_codec,
    read_list,
    walk,
    write_histogram,
)

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
            f"{self.histograms} histograms"
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
        return uproot.open(path, object_cache=None, array_cache=None)
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
    for key, value in new.stats.items():
        if acc.is_thn and key == "fTsumw2":
            continue
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
) -> MergeReport:
    """Sum every histogram of several ``AnalysisResults.root`` files into ``out_path``.

    TH1/TH2/TH3 (C/S/I/F/D; the first file's class is kept), TProfile/2D/3D, THnT and
    THnSparseT are summed with their Sumw2, entries and statistics, in nested directories and
    inside TLists (by element name). Histograms missing from some inputs are kept; other
    objects are copied from the first file having them (``report.copied``). Different binning
    raises MergeError naming both files.
    """
    start = time.perf_counter()
    paths = _check_inputs(out_path, inputs)
    report = MergeReport(output=Path(out_path), kind="results", files=len(paths))
    acc: dict[tuple[str, str], StoredHistogram] = {}
    lists: dict[tuple[str, str], tuple[str, dict[str, StoredHistogram]]] = {}
    origin: dict[tuple[str, str], str] = {}
    codec = make_codec(compression, level)
    with atomic_output(out_path) as tmp, uproot.recreate(tmp, compression=codec) as out:
        for path in paths:
            with _open(path) as f:
                try:
                    items = list(walk(f))
                except Exception as exc:
                    raise MergeError(
                        f"{path}: corrupt directory structure ({_short(exc)})"
                    ) from exc
                for dname, name, cls, d in items:
                    key = (dname, name)
                    full = f"{dname}/{name}" if dname else name
                    where = f"{path}: {full}"
                    if cls in LIST_CLASSES and _merge_list(
                        d, name, full, cls, key, path, lists, origin
                    ):
                        continue
                    if not is_histogram_class(cls):
                        if key in acc:
                            raise MergeError(
                                f"{where}: is a {cls}, not a histogram as in {origin[key]}"
                            )
                        if key not in origin:  # copied once, from the first file having it
                            _copy_object(out, d, dname, name, cls, report)
                            origin[key] = path
                        continue
                    try:
                        hist = from_uproot(d[name])
                    except Exception as exc:
                        raise MergeError(f"{where}: cannot read {cls} ({_short(exc)})") from exc
                    if key in acc:
                        add_into(acc[key], hist, where, origin[key])
                    elif key in origin:
                        raise MergeError(
                            f"{where}: is a {cls} but not a histogram in {origin[key]}"
                        )
                    else:
                        acc[key] = _own(hist)
                        origin[key] = path
        for (dname, name), h in acc.items():
            write_histogram(get_directory(out, dname), name, h)
        for (dname, name), (cls, items) in lists.items():
            get_directory(out, dname)[name] = list_writable(items, name, cls)
    report.histograms = len(acc) + sum(len(items) for _, items in lists.values())
    report.seconds = time.perf_counter() - start
    report.output_bytes = os.path.getsize(out_path)
    return report


def _merge_list(
    d: Any, name: str, full: str, cls: str, key: tuple, path: str, lists: dict, origin: dict
) -> bool:
    """Sum a TList of histograms element by element (by name); False if it is not one."""
    where = f"{path}: {full}"
    if key in origin and key not in lists:
        return False  # copied unmerged from an earlier file
    try:
        items = read_list(d[name])
    except Exception as exc:
        raise MergeError(f"{where}: cannot read {cls} ({_short(exc)})") from exc
    if items is None:
        if key in lists:
            raise MergeError(f"{where}: holds non-histogram objects, unlike {origin[key]}")
        return False
    if key not in lists:
        lists[key] = (cls, {n: _own(h) for n, h in items.items()})
        origin[key] = path
        return True
    merged = lists[key][1]
    for name, h in items.items():
        if name in merged:
            add_into(merged[name], h, f"{where}/{name}", origin[key])
        else:
            merged[name] = _own(h)
    return True


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
    merge = merge_ao2d if kinds[paths[0]] == "ao2d" else merge_results
    return merge(out_path, paths, **options)


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
