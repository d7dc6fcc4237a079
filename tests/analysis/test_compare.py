"""Histogram comparison of two results files: identical / compatible / different / missing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import hist
import numpy as np
import pytest

from hyperloop.analysis.compare import compare_files
from hyperloop.analysis.results import HistogramOutput, read_results, write_results

REAL = "AnalysisResults_o2_twopartcorr.root"


def _fluctuated(h, rng: np.random.Generator, shift: int = 0):
    """A statistically independent-looking copy: Poisson-fluctuated contents (optionally
    shifted by ``shift`` bins along the flattened inner bins)."""
    values = rng.poisson(np.clip(h.values(flow=True), 0, None)).astype(np.float64)
    if shift:
        inner = tuple(slice(1, -1) for _ in h.axes)
        values[inner] = np.roll(values[inner], shift, axis=0)
    flat = values.reshape(-1) if h.is_thn else values.T.reshape(-1)
    return dataclasses.replace(h, contents=flat, sumw2=None if h.sumw2 is None else flat.copy())


def _rewrite(src: Path, dest: Path, seed: int, shift: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    dirs = read_results(src)
    write_results(
        dest,
        {d: {n: _fluctuated(h, rng, shift) for n, h in hs.items()} for d, hs in dirs.items()},
    )
    return dest


def test_real_file_is_identical_to_itself(realdata: Path):
    result = compare_files(realdata / REAL, realdata / REAL)
    assert len(result) == 8
    assert {r.verdict for r in result} == {"identical"}
    assert all(r.path.startswith("twoparcorcombexample/") and r.test == "" for r in result)


def test_fluctuated_copy_of_real_file_is_compatible(realdata: Path, tmp_path: Path):
    copy = _rewrite(realdata / REAL, tmp_path / "fluct.root", seed=1)
    result = {r.path: r for r in compare_files(realdata / REAL, copy)}
    assert {r.verdict for r in result.values()} == {"compatible"}, result
    pt = result["twoparcorcombexample/hChargedPt"]
    assert pt.test == "chi2" and pt.p_value is not None and pt.p_value >= 0.01
    assert "chi2/ndf" in pt.detail
    # 2D histogram flattened
    assert result["twoparcorcombexample/hDeltaEtaDeltaPhi"].verdict == "compatible"


def test_shifted_copy_of_real_file_is_different(realdata: Path, tmp_path: Path):
    copy = _rewrite(realdata / REAL, tmp_path / "shift.root", seed=2, shift=5)
    result = {r.path: r for r in compare_files(realdata / REAL, copy)}
    for path in ("twoparcorcombexample/hChargedPt", "twoparcorcombexample/hZvertex"):
        assert result[path].verdict == "different", result[path]
        assert result[path].p_value < 0.01


def _spectrum(rng: np.random.Generator, n: int, scale: float = 2.0, bins=None) -> hist.Hist:
    axis = bins or hist.axis.Regular(40, 0, 10)
    h = hist.Hist(axis, storage=hist.storage.Weight())
    x = rng.exponential(scale, n)
    h.fill(x, weight=rng.uniform(0.5, 1.5, n))
    return h


def _profile(rng: np.random.Generator, n: int, slope: float) -> hist.Hist:
    p = hist.Hist(hist.axis.Regular(10, 0, 10), storage=hist.storage.Mean())
    x = rng.uniform(0, 10, n)
    p.fill(x, sample=slope * x + rng.normal(0, 1, n))
    return p


def _sparse(rng: np.random.Generator, n: int, offset: float) -> HistogramOutput:
    h = hist.Hist(*[hist.axis.Regular(20, 0, 1) for _ in range(4)])
    h.fill(*np.clip(rng.normal(0.5 + offset, 0.1, (4, n)), 0, 0.999))
    return HistogramOutput(h, entries=n, sparse=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Results files written by hyperloop.analysis.results: two independent samples of the
    same physics (a, b), and c with a harder spectrum, a shifted profile and sparse peak."""
    root = tmp_path_factory.mktemp("compare")
    out = {}
    for name, seed, scale, slope, offset in (
        ("a", 1, 2.0, 1.0, 0.0),
        ("b", 2, 2.0, 1.0, 0.0),
        ("c", 3, 2.6, 1.3, 0.2),
    ):
        rng = np.random.default_rng(seed)
        hists = {
            "hPt": _spectrum(rng, 20000, scale),
            "hProf": _profile(rng, 5000, slope),
            "hSparse": _sparse(rng, 3000, offset),
            "hCounts": hist.Hist(hist.axis.Regular(10, 0, 1)).fill(rng.random(4000)),
        }
        dirs = {"spectra": hists}
        if name == "a":
            dirs["spectra_only_a"] = {"hX": hist.Hist(hist.axis.Regular(4, 0, 1))}
        if name == "b":
            dirs["spectra_only_b"] = {"hY": hist.Hist(hist.axis.Regular(4, 0, 1))}
        if name == "c":
            hists["hCounts"] = hist.Hist(hist.axis.Regular(20, 0, 1)).fill(rng.random(4000))
        out[name] = write_results(root / f"{name}.root", dirs)
    return out


def test_independent_samples_compatible_harder_spectrum_different(files):
    same = {r.path: r for r in compare_files(files["a"], files["b"])}
    for path in ("spectra/hPt", "spectra/hProf", "spectra/hSparse", "spectra/hCounts"):
        assert same[path].verdict == "compatible", same[path]
        assert same[path].test == "chi2"
    assert "weighted" in same["spectra/hPt"].detail
    assert "unweighted" in same["spectra/hCounts"].detail
    assert same["spectra_only_a/hX"].verdict == "only_a"
    assert same["spectra_only_b/hY"].verdict == "only_b"
    assert [r.path for r in compare_files(files["a"], files["b"])][-1] == "spectra_only_b/hY"

    other = {r.path: r for r in compare_files(files["a"], files["c"])}
    for path in ("spectra/hPt", "spectra/hProf", "spectra/hSparse"):
        assert other[path].verdict == "different", other[path]
    counts = other["spectra/hCounts"]
    assert counts.verdict == "different" and counts.test == "" and counts.p_value is None
    assert "binning of axis 0 differs: 10 regular bins [0, 1] vs 20 regular bins" in counts.detail


def test_threshold_normalisation_and_kolmogorov(files, tmp_path: Path):
    strict = {r.path: r for r in compare_files(files["a"], files["b"], min_p=1.0)}
    assert strict["spectra/hPt"].verdict == "different"  # p < 1 always
    ks = {r.path: r for r in compare_files(files["a"], files["c"], method="ks")}
    assert ks["spectra/hPt"].test == "ks" and ks["spectra/hPt"].verdict == "different"
    assert ks["spectra/hSparse"].test == "chi2"  # KS only for 1D
    assert {r.path: r for r in compare_files(files["a"], files["b"], method="ks")}[
        "spectra/hPt"
    ].verdict == "compatible"

    # twice the statistics of the same distribution: different in absolute terms,
    # compatible in shape
    rng = np.random.default_rng(9)
    write_results(tmp_path / "x.root", {"s": {"h": _spectrum(rng, 10000)}})
    write_results(tmp_path / "y.root", {"s": {"h": _spectrum(rng, 20000)}})
    absolute = compare_files(tmp_path / "x.root", tmp_path / "y.root")[0]
    shape = compare_files(tmp_path / "x.root", tmp_path / "y.root", normalize=True)[0]
    assert absolute.verdict == "different" and "integrals" in absolute.detail
    assert shape.verdict == "compatible" and "shapes" in shape.detail


def test_rewritten_file_is_identical(files, tmp_path: Path):
    dirs = read_results(files["a"])
    write_results(tmp_path / "again.root", dirs)
    assert {r.verdict for r in compare_files(files["a"], tmp_path / "again.root")} == {"identical"}
