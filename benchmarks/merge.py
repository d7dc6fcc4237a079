"""Merging job outputs: ours (hyperloop.analysis.merge) vs ROOT's ``hadd`` on the same files.

Two shapes, measured in one run:

* **many files with big histograms**: generates N ``AnalysisResults.root`` files (default
  500) shaped like our physics workflows' outputs, each from its own random fills: event
  selection (labelled cut flow, vertex z, multiplicity), track selection (variable-binned
  pT, eta-phi TH2D), spectra (pT x eta x centrality TH3D, <pT> TProfile), two-particle
  correlations (TH2D same/mixed event and a 5-dimensional THnD), strangeness (a THnSparseD
  of mass x pT x centrality);
* **few files with many small objects**: ``--real-copies`` copies (default 3) of a real
  Run 2 results file (default ``tests/data/realdata/results/run2_duplicate_names.root``: one
  TList of 693 TProfile/TH1D/TH2D/TH3D/TH1I written by ROOT 5.34).

Each is merged with ours (in this process) and with ``hadd -f`` (PyPI ``root``); the two
outputs must be the same object by object (:mod:`benchmarks.hadd_compare`: paths, classes,
order, axes, labels, contents, Sumw2, entries, statistics). Prints times, ratios and the
load average.

    .venv/bin/python benchmarks/merge.py [--files 500] [--fills 20000] [--keep DIR]
        [--real FILE] [--real-copies 3] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hyperloop.analysis.histograms import HistogramRegistry
from hyperloop.analysis.merge import benchmark_merge
from hyperloop.analysis.results import HistogramOutput, StoredHistogram, read_results, write_results

HADD = Path(sys.executable).parent.parent / "lib/python3.11/site-packages/ROOT/bin/hadd"
REAL = Path(__file__).parent.parent / "tests/data/realdata/results/run2_duplicate_names.root"
PT_EDGES = [0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0]
PT_EDGES += [6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0]
CUTS = ["all", "sel8", "|z|<10", "INEL>0", "good ITS layers"]


def _registries() -> dict[str, HistogramRegistry]:
    """The task instances and histograms of one job output (declared as the workflows do)."""
    ev = HistogramRegistry("event-selection")
    ev.add("hCutFlow", "event selection;cut;collisions", [], categories=CUTS)
    ev.add("hVertexZ", "all collisions;z_{vtx} (cm);collisions", [(80, -20.0, 20.0)])
    ev.add("hMultEta08", "N_{trk}(|#eta|<0.8);N_{trk};collisions", [(200, -0.5, 199.5)])
    tr = HistogramRegistry("track-selection")
    tr.add("hPtAll", "all tracks;p_{T} (GeV/c);tracks", [PT_EDGES])
    tr.add("hPtGlobal", "global tracks;p_{T} (GeV/c);tracks", [PT_EDGES])
    tr.add("hEtaPhi", "global tracks;#eta;#varphi (rad)", [(40, -1.0, 1.0), (72, 0, 2 * np.pi)])
    sp = HistogramRegistry("spectra-charged")
    sp.add(
        "hPtEtaCent",
        "charged particles;p_{T} (GeV/c);#eta;centrality (%)",
        [PT_EDGES, (16, -0.8, 0.8), [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]],
    )
    sp.add("hDcaXY", "global tracks;p_{T} (GeV/c);DCA_{xy} (cm)", [PT_EDGES, (200, -0.5, 0.5)])
    sp.add("hMeanPt", "mean pT;N_{trk};<p_{T}> (GeV/c)", [(50, -0.5, 199.5)], weighted=True)
    co = HistogramRegistry("two-particle-correlations")
    dphi = (36, -0.5 * np.pi, 1.5 * np.pi)
    co.add("hSameEvent", "same-event pairs;#Delta#eta;#Delta#varphi (rad)", [(32, -1.6, 1.6), dphi])
    co.add(
        "hMixedEvent", "mixed-event pairs;#Delta#eta;#Delta#varphi (rad)", [(32, -1.6, 1.6), dphi]
    )
    co.add(
        "hSameEventND",
        "pairs;#Delta#eta;#Delta#varphi;p_{T}^{trig};p_{T}^{assoc};z_{vtx}",
        [(32, -1.6, 1.6), dphi, [2.0, 3.0, 4.0, 6.0, 8.0], [1.0, 1.5, 2.0, 3.0, 4.0], (6, -10, 10)],
    )
    st = HistogramRegistry("strangeness")
    st.add(
        "hMassK0Short",
        "K^{0}_{S};m_{#pi#pi} (GeV/c^{2});p_{T} (GeV/c);centrality (%)",
        [(200, 0.4, 0.6), (50, 0.0, 10.0), (10, 0.0, 100.0)],
    )
    return {"event-selection": ev, "track-selection": tr, "spectra-charged": sp,
            "two-particle-correlations": co, "strangeness": st}  # fmt: skip


def make_file(path: Path, seed: int, fills: int) -> None:
    """One job's ``AnalysisResults.root`` from ``fills`` random tracks/pairs per histogram."""
    rng = np.random.default_rng(seed)
    regs = _registries()
    n = fills
    ev = regs["event-selection"]
    ev.fill("hCutFlow", rng.choice(CUTS, size=n // 10, p=[0.4, 0.25, 0.15, 0.12, 0.08]))
    ev.fill("hVertexZ", rng.normal(0, 6, n // 10))
    ev.fill("hMultEta08", rng.poisson(25, n // 10))
    tr = regs["track-selection"]
    pt = rng.exponential(0.7, n) + 0.15
    eta, phi = rng.uniform(-0.9, 0.9, n), rng.uniform(0, 2 * np.pi, n)
    tr.fill("hPtAll", pt)
    tr.fill("hPtGlobal", pt[: int(0.8 * n)])
    tr.fill("hEtaPhi", eta, phi)
    sp = regs["spectra-charged"]
    sp.fill("hPtEtaCent", pt, eta, rng.uniform(0, 100, n))
    sp.fill("hDcaXY", pt, rng.normal(0, 0.05, n))
    sp.fill("hMeanPt", rng.poisson(25, n // 10), weight=rng.exponential(0.7, n // 10))
    co = regs["two-particle-correlations"]
    deta, dph = rng.normal(0, 0.6, n), rng.uniform(-0.5 * np.pi, 1.5 * np.pi, n)
    co.fill("hSameEvent", deta, dph)
    co.fill(
        "hMixedEvent", rng.triangular(-1.6, 0, 1.6, n), rng.uniform(-0.5 * np.pi, 1.5 * np.pi, n)
    )
    co.fill(
        "hSameEventND",
        deta,
        dph,
        rng.uniform(2, 8, n),
        rng.uniform(1, 4, n),
        rng.normal(0, 5, n),
    )
    st = regs["strangeness"]
    mass = np.where(
        rng.random(n // 4) < 0.3, rng.normal(0.4976, 0.005, n // 4), rng.uniform(0.4, 0.6, n // 4)
    )
    st.fill("hMassK0Short", mass, rng.exponential(1.5, n // 4), rng.uniform(0, 100, n // 4))
    dirs: dict[str, dict[str, object]] = {}
    for task, reg in regs.items():
        dirs[task] = {
            h.name: HistogramOutput(
                h.hist, entries=h.entries, title=h.title, sparse=h.name == "hMassK0Short"
            )
            for h in reg
        }
    write_results(path, dirs)


def compare(ours: Path, theirs: Path) -> list[str]:
    """Differences between two results files (empty: same objects, bins, variances, entries)."""
    a, b = read_results(ours), read_results(theirs)
    problems: list[str] = []
    if sorted(a) != sorted(b):
        return [f"directories differ: {sorted(a)} vs {sorted(b)}"]
    for d in sorted(a):
        if sorted(a[d]) != sorted(b[d]):
            problems.append(f"{d}: histograms differ: {sorted(a[d])} vs {sorted(b[d])}")
            continue
        for name, x in a[d].items():
            problems += [f"{d}/{name}: {p}" for p in _compare_one(x, b[d][name])]
    return problems


def _compare_one(x: StoredHistogram, y: StoredHistogram) -> list[str]:
    out = []
    if x.classname != y.classname:
        out.append(f"class {x.classname} vs {y.classname}")
    if x.entries != y.entries:
        out.append(f"entries {x.entries} vs {y.entries}")
    pairs = [("contents", x._shaped(x.contents), y._shaped(y.contents))]
    if x.is_profile:
        pairs.append(("bin entries", x._shaped(x.bin_entries), y._shaped(y.bin_entries)))
    elif x.sumw2 is not None or y.sumw2 is not None:
        pairs.append(("variances", x.variances(flow=True), y.variances(flow=True)))
    for what, u, v in pairs:
        if u.shape != v.shape or not np.allclose(u, v, rtol=1e-9, atol=0):
            out.append(
                f"{what} differ (max |diff| {np.max(np.abs(u - v)) if u.shape == v.shape else 'shape'})"
            )
    return out


def _compare_with_hadd(ours: Path, theirs: Path) -> list[str]:
    try:
        from benchmarks.hadd_compare import compare_with_hadd
    except ImportError:  # run as a script: the repository root is not on the path
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from benchmarks.hadd_compare import compare_with_hadd
    return compare_with_hadd(ours, theirs)


def _race(inputs: list[Path], work: Path, repeat: int) -> tuple[list[float], list[float], dict]:
    """Merge ``inputs`` with ours and with hadd ``repeat`` times each (alternating)."""
    ours_s, hadd_s, figures = [], [], {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        figures = benchmark_merge(inputs, work / "ours.root")
        ours_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        done = subprocess.run(
            [os.fspath(HADD), "-f", os.fspath(work / "hadd.root"), *map(os.fspath, inputs)],
            capture_output=True,
            text=True,
        )
        hadd_s.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(f"hadd failed ({done.returncode}): {done.stderr[-2000:]}")
    return ours_s, hadd_s, figures


def _report(label: str, inputs: list[Path], work: Path, repeat: int) -> list[str]:
    in_mb = sum(p.stat().st_size for p in inputs) / 1e6
    ours_s, hadd_s, figures = _race(inputs, work, repeat)
    ours, theirs = min(ours_s), min(hadd_s)
    print(f"[{label}] load average {os.getloadavg()[0]:.2f} (1 min)")
    print(
        f"[{label}] ours: {ours:.3f} s ({in_mb / ours:.0f} MB/s, peak RSS growth "
        f"{figures['peak_rss_growth_mb']:.0f} MB, output "
        f"{(work / 'ours.root').stat().st_size / 1e6:.2f} MB)"
        + (f"; all runs {', '.join(f'{t:.3f}' for t in ours_s)}" if repeat > 1 else "")
    )
    print(
        f"[{label}] hadd: {theirs:.3f} s ({in_mb / theirs:.0f} MB/s, output "
        f"{(work / 'hadd.root').stat().st_size / 1e6:.2f} MB)"
        + (f"; all runs {', '.join(f'{t:.3f}' for t in hadd_s)}" if repeat > 1 else "")
    )
    print(
        f"[{label}] speed-up over hadd: {theirs / ours:.2f}x (ratio ours/hadd {ours / theirs:.3f})"
    )
    problems = _compare_with_hadd(work / "ours.root", work / "hadd.root")
    print(f"[{label}] same outputs as hadd: {'yes' if not problems else f'NO ({len(problems)})'}")
    return [f"[{label}] {p}" for p in problems]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--fills", type=int, default=20_000, help="fills per histogram per file")
    ap.add_argument("--keep", default=None, help="generate into (and reuse) this folder")
    ap.add_argument("--real", default=os.fspath(REAL), help="real results file (second shape)")
    ap.add_argument("--real-copies", type=int, default=3, help="0 skips the second shape")
    ap.add_argument("--repeat", type=int, default=1, help="runs per shape (best one shown)")
    args = ap.parse_args(argv)
    if not HADD.exists():
        raise SystemExit(f"hadd not found at {HADD} (pip install root)")
    work = Path(tempfile.mkdtemp(prefix="hyperloop-bench-merge-"))
    data = Path(args.keep) if args.keep else work / "inputs"
    data.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        inputs = []
        for i in range(args.files):
            path = data / f"job{i:04d}" / "AnalysisResults.root"
            if not path.exists():
                path.parent.mkdir(exist_ok=True)
                make_file(path, seed=1000 + i, fills=args.fills)
            inputs.append(path)
        gen_s = time.perf_counter() - t0
        in_mb = sum(p.stat().st_size for p in inputs) / 1e6
        first = read_results(inputs[0])
        n_hist = sum(len(h) for h in first.values())
        n_bins = sum(h.contents.size for hs in first.values() for h in hs.values())
        print(
            f"[big] inputs: {len(inputs)} files, {in_mb:.1f} MB, {n_hist} histograms and "
            f"{n_bins:,} stored bins per file (generated in {gen_s:.1f} s)"
        )
        t0 = time.perf_counter()  # ROOT's start-up and library loading, for reference
        subprocess.run(
            [os.fspath(HADD), "-f", os.fspath(work / "one.root"), os.fspath(inputs[0])],
            capture_output=True,
            check=True,
        )
        print(f"hadd of one file (its start-up): {time.perf_counter() - t0:.2f} s")
        problems = _report("big", inputs, work, args.repeat)
        if args.real_copies > 0:
            real = Path(args.real)
            print(
                f"[small] inputs: {args.real_copies} copies of {real.name} "
                f"({real.stat().st_size / 1e6:.2f} MB each)"
            )
            problems += _report("small", [real] * args.real_copies, work, args.repeat)
        if problems:
            for p in problems[:20]:
                print(f"  {p}")
            return 1
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
