"""Compare a merged results file with what ROOT's ``hadd`` writes, object by object.

:func:`compare_with_hadd` walks both files (directories, TLists nested to any depth, by
position) and compares paths, names, classes, order, titles, axes (bins, edges, labels),
bin contents with flow, Sumw2, profile bin entries, entries and every statistic
(fTsumw, fTsumw2, fTsumwx, ...). :func:`root_open_errors` opens a file in a separate ROOT
process, reads every object and returns what ROOT printed on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import uproot

HADD = Path(sys.executable).parent.parent / "lib/python3.11/site-packages/ROOT/bin/hadd"
STATS = ("fEntries", "fTsumw", "fTsumw2", "fTsumwx", "fTsumwx2", "fTsumwy", "fTsumwy2")
STATS += ("fTsumwxy", "fTsumwz", "fTsumwz2", "fTsumwxz", "fTsumwyz", "fTsumwt", "fTsumwt2")
ARRAYS = ("fSumw2", "fBinEntries", "fBinSumw2")


def hadd(out: Path, inputs: list[Path], *, keep_compression: bool = False) -> None:
    """Run hadd; ``keep_compression`` (``-fk``): the first input's compression, so tree
    baskets are copied (fast cloning) instead of read and written again entry by entry."""
    done = subprocess.run(
        [os.fspath(HADD), "-fk" if keep_compression else "-f", os.fspath(out)]
        + list(map(os.fspath, inputs)),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def _objects(f) -> list[tuple[str, str, object]]:
    out: list[tuple[str, str, object]] = []

    def visit(obj, path):
        out.append((path, obj.classname, obj))
        if obj.classname in ("TList", "THashList"):
            for i, item in enumerate(obj):
                name = str(item.member("fName")) if item.has_member("fName") else "?"
                visit(item, f"{path}/{name}#{i}")

    def walk(d, prefix):
        for name, cls in d.classnames(recursive=False, cycle=False).items():
            if cls in ("TDirectory", "TDirectoryFile"):
                out.append((f"{prefix}{name}", cls, None))
                walk(d[name], f"{prefix}{name}/")
            elif cls in ("TTree", "TNtuple"):
                out.append((f"{prefix}{name}", cls, d[name]))
            else:
                visit(d[name], f"{prefix}{name}")

    walk(f, "")
    return out


def _axis(ax) -> tuple:
    labels = ax.member("fLabels")
    names = [str(x) for x in labels] if labels is not None else []
    return (
        int(ax.member("fNbins")),
        float(ax.member("fXmin")),
        float(ax.member("fXmax")),
        tuple(np.asarray(ax.member("fXbins"), dtype=float)),
        tuple(names),
        str(ax.member("fTitle")),
    )


def _array(x) -> np.ndarray | None:
    return None if x is None else np.asarray(x, dtype=np.float64)


def _compare_object(path: str, a, b) -> list[str]:
    out = []
    if a.has_member("fTitle") and str(a.member("fTitle")) != str(b.member("fTitle")):
        out.append(f"{path}: title {a.member('fTitle')!r} vs {b.member('fTitle')!r}")
    if a.classname.startswith(("TH1", "TH2", "TH3", "TProfile")):
        for c in "XYZ":
            if _axis(a.member(f"f{c}axis")) != _axis(b.member(f"f{c}axis")):
                out.append(f"{path}: {c} axis differs")
        for k in STATS:
            if a.has_member(k) and a.member(k) != b.member(k):
                out.append(f"{path}: {k} {a.member(k)!r} vs {b.member(k)!r}")
        if not np.array_equal(np.asarray(a.values(flow=True)), np.asarray(b.values(flow=True))):
            out.append(f"{path}: bin contents differ")
        for k in ARRAYS:
            if a.has_member(k):
                u, v = _array(a.member(k)), _array(b.member(k))
                if (u is None) != (v is None) or (u is not None and not np.array_equal(u, v)):
                    out.append(f"{path}: {k} differs")
    elif a.classname.startswith("THn"):
        from hyperloop.analysis.results import from_uproot

        x, y = from_uproot(a), from_uproot(b)
        if [(ax.nbins, ax.low, ax.high) for ax in x.axes] != [
            (ax.nbins, ax.low, ax.high) for ax in y.axes
        ]:
            out.append(f"{path}: axes differ")
        for k in ("fEntries", "fTsumw", "fTsumw2"):
            if x.stats[k] != y.stats[k]:
                out.append(f"{path}: {k} {x.stats[k]} vs {y.stats[k]}")
        for k in ("fTsumwx", "fTsumwx2"):
            if not np.array_equal(x.stats[k], y.stats[k]):
                out.append(f"{path}: {k} differs")
        for what, u, v in (("contents", x.contents, y.contents), ("sumw2", x.sumw2, y.sumw2)):
            if (u is None) != (v is None):
                out.append(f"{path}: {what} present in one only")
                continue
            if u is None:
                continue
            if x.coords is None:
                if not np.array_equal(u, v):
                    out.append(f"{path}: {what} differ")
                continue
            ou, ov = np.lexsort(x.coords.T), np.lexsort(y.coords.T)
            if not (np.array_equal(x.coords[ou], y.coords[ov]) and np.array_equal(u[ou], v[ov])):
                out.append(f"{path}: sparse {what} differ")
    elif a.classname in ("TTree", "TNtuple") and a.num_entries != b.num_entries:
        out.append(f"{path}: {a.num_entries} entries vs {b.num_entries}")
    return out


def compare_with_hadd(ours: Path, theirs: Path) -> list[str]:
    """Differences between our merged file and hadd's (empty list: the same)."""
    with uproot.open(ours) as fa, uproot.open(theirs) as fb:
        a, b = _objects(fa), _objects(fb)
        problems = []
        if [(p, c) for p, c, _ in a] != [(p, c) for p, c, _ in b]:
            pa, pb = [(p, c) for p, c, _ in a], [(p, c) for p, c, _ in b]
            first = next(
                (i for i, (x, y) in enumerate(zip(pa, pb, strict=False)) if x != y),
                min(len(pa), len(pb)),
            )
            return [
                f"objects differ ({len(pa)} vs {len(pb)}; first difference at #{first}: "
                f"{pa[first] if first < len(pa) else None} vs {pb[first] if first < len(pb) else None})"
            ]
        for (path, _, x), (_, _, y) in zip(a, b, strict=True):
            if x is not None:
                problems += _compare_object(path, x, y)
        return problems


_READ_ALL = r"""
import sys, ROOT
ROOT.gErrorIgnoreLevel = ROOT.kInfo
f = ROOT.TFile.Open(sys.argv[1])
def visit(obj):
    if obj.InheritsFrom("TCollection"):
        for item in obj:
            visit(item)
    elif obj.InheritsFrom("TH1"):
        obj.GetEntries(); obj.GetSumOfWeights()
def walk(d):
    for key in d.GetListOfKeys():
        obj = key.ReadObj()
        if obj.InheritsFrom("TDirectory"):
            walk(obj)
        elif obj.InheritsFrom("TTree"):
            obj.GetEntries()
        else:
            visit(obj)
walk(f)
f.Close()
"""


def root_open_errors(path: Path) -> str:
    """What ROOT prints on stderr while opening ``path`` and reading all its objects."""
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _READ_ALL, os.fspath(path)],
        capture_output=True,
        text=True,
    )
    return done.stderr.strip() + ("" if done.returncode == 0 else f" (exit {done.returncode})")


def tree_baskets(path: Path, name: str) -> list[tuple[str, list[tuple]]]:
    """Every branch of a tree (recursively, in order) with each basket's entry range,
    uncompressed data and entry offsets, read with uproot (TClonesArray branches included)."""
    out = []
    with uproot.open(path) as f:
        for branch in f[name].itervalues(recursive=True):
            baskets = []
            for i in range(branch.num_baskets):
                b = branch.basket(i)
                offsets = None if b.byte_offsets is None else np.asarray(b.byte_offsets).tolist()
                start, stop = branch.basket_entry_start_stop(i)
                baskets.append((int(start), int(stop), bytes(b.data), offsets))
            out.append((branch.name, baskets))
    return out


_READ_TREE = r"""
import sys, ROOT
ROOT.gErrorIgnoreLevel = ROOT.kInfo
f = ROOT.TFile.Open(sys.argv[1])
t = f.Get(sys.argv[2])
total = sum(t.GetEntry(i) for i in range(t.GetEntries()))
print(t.GetEntries(), total)
"""


def root_read_tree(path: Path, name: str) -> tuple[str, str]:
    """ROOT reads every entry of a tree: (entries and bytes read, what it printed on stderr).

    ROOT's notices that a class has no dictionary (a file's own classes, read emulated) are
    left out of stderr: they are printed for the inputs and for hadd's output alike.
    """
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _READ_TREE, os.fspath(path), name],
        capture_output=True,
        text=True,
    )
    err = [
        line
        for line in done.stderr.splitlines()
        if "RuntimeWarning: no dictionary for class" not in line
    ]
    return done.stdout.strip(), "\n".join(err) + ("" if done.returncode == 0 else " (failed)")
