"""Compare two ``AnalysisResults.root`` files histogram by histogram.

Each histogram path ("task/hist") gets a verdict: ``identical`` (bin contents and errors
exactly equal), ``compatible`` (a χ² test, or Kolmogorov-Smirnov on request, gives
p ≥ ``min_p``), ``different`` (p < ``min_p``, or the binning/class differs), ``only_a`` or
``only_b``. Used by the train comparison page and ``hyperloop compare``-style tools.

The χ² follows ROOT's ``TH1::Chi2Test``: unweighted histograms use the Poisson formula,
weighted ones the Gagunashvili formula with the sums of squared weights. By default the
*absolute* contents are compared (two runs of the same train on the same data should agree
bin by bin); ``normalize=True`` compares shapes only, as ROOT's default does. Under- and
overflow bins are left out of the test (as in ROOT) but count for "identical". 2D/nD
histograms are flattened; THnSparse bins are matched by their coordinates; profiles compare
the mean per bin with its error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps

from hyperloop.analysis.results import StoredHistogram, read_results

Verdict = Literal["identical", "compatible", "different", "only_a", "only_b"]


@dataclass(frozen=True)
class HistComparison:
    """The verdict for one histogram path present in either file."""

    path: str  # "task/hist"
    verdict: Verdict
    test: str  # "chi2", "ks" or "" (no test: identical, missing, or incomparable binning)
    p_value: float | None
    detail: str


def compare_files(
    a: str | os.PathLike,
    b: str | os.PathLike,
    *,
    min_p: float = 0.01,
    method: Literal["chi2", "ks"] = "chi2",
    normalize: bool = False,
) -> list[HistComparison]:
    """Compare every histogram of results file ``a`` with the same path in ``b``.

    Order: the histograms of ``a`` in file order, then those only in ``b``. ``method="ks"``
    uses a binned Kolmogorov-Smirnov test for 1D histograms (χ² for the others).
    """
    if not 0.0 <= min_p <= 1.0:
        raise ValueError(f"compare_files: min_p must be within [0, 1], got {min_p}")
    return compare_histograms(
        _flatten(read_results(a)),
        _flatten(read_results(b)),
        min_p=min_p,
        method=method,
        normalize=normalize,
    )


def compare_histograms(
    a: Mapping[str, StoredHistogram],
    b: Mapping[str, StoredHistogram],
    *,
    min_p: float = 0.01,
    method: Literal["chi2", "ks"] = "chi2",
    normalize: bool = False,
) -> list[HistComparison]:
    """Compare two ``{path: StoredHistogram}`` mappings (see :func:`compare_files`)."""
    out = []
    for path, ha in a.items():
        hb = b.get(path)
        if hb is None:
            out.append(HistComparison(path, "only_a", "", None, "missing in the second file"))
        else:
            out.append(compare_pair(path, ha, hb, min_p=min_p, method=method, normalize=normalize))
    for path in b:
        if path not in a:
            out.append(HistComparison(path, "only_b", "", None, "missing in the first file"))
    return out


def _flatten(dirs: Mapping[str, Mapping[str, StoredHistogram]]) -> dict[str, StoredHistogram]:
    return {
        f"{d}/{name}" if d else name: h for d, hists in dirs.items() for name, h in hists.items()
    }


# ----------------------------------------------------------------------------- one pair


def _binning_problem(ha: StoredHistogram, hb: StoredHistogram) -> str | None:
    """Why two histograms cannot be compared bin by bin, or None."""
    if ha.is_profile != hb.is_profile:
        return f"class {ha.classname} vs {hb.classname}"
    if ha.ndim != hb.ndim:
        return f"{ha.ndim} vs {hb.ndim} dimensions"
    for i, (x, y) in enumerate(zip(ha.axes, hb.axes, strict=True)):
        if not x.same_binning(y):
            return (
                f"binning of axis {i} differs: {_axis_text(x)} vs {_axis_text(y)}"
                if (x.labels or None) == (y.labels or None)
                else f"bin labels of axis {i} differ"
            )
    return None


def _axis_text(ax) -> str:  # noqa: ANN001 - results.Axis
    edges = ax.all_edges()
    kind = "variable" if ax.edges is not None else "regular"
    return f"{ax.nbins} {kind} bins [{edges[0]:g}, {edges[-1]:g}]"


def _same(x: np.ndarray | None, y: np.ndarray | None) -> bool:
    if x is None or y is None:
        return x is None and y is None
    return x.shape == y.shape and bool(np.array_equal(x, y))


def _identical(ha: StoredHistogram, hb: StoredHistogram) -> bool:
    """Same contents, errors (and profile sums) in every bin, flow bins included."""
    if ha.is_sparse or hb.is_sparse:
        if not (ha.is_sparse and hb.is_sparse):
            return False
        ka, kb = np.lexsort(ha.coords.T[::-1]), np.lexsort(hb.coords.T[::-1])
        if not np.array_equal(ha.coords[ka], hb.coords[kb]):
            return False
        wa = ha.sumw2 if ha.sumw2 is not None else ha.contents
        wb = hb.sumw2 if hb.sumw2 is not None else hb.contents
        return np.array_equal(ha.contents[ka], hb.contents[kb]) and np.array_equal(wa[ka], wb[kb])
    wa = ha.sumw2 if ha.sumw2 is not None else ha.contents
    wb = hb.sumw2 if hb.sumw2 is not None else hb.contents
    return (
        _same(ha.contents, hb.contents)
        and _same(wa, wb)
        and _same(ha.bin_entries, hb.bin_entries)
        and _same(ha.bin_sumw2, hb.bin_sumw2)
    )


def _inner(h: StoredHistogram) -> tuple[np.ndarray, np.ndarray, bool]:
    """Flattened inner-bin contents, variances, and whether the histogram is weighted."""
    weighted = h.sumw2 is not None and not np.array_equal(h.sumw2, h.contents)
    return h.values().ravel(), h.variances().ravel(), weighted


def _sparse_inner(ha: StoredHistogram, hb: StoredHistogram):  # noqa: ANN202
    """Contents and variances of two THnSparse on the union of their filled inner bins."""
    nbins = np.array([ax.nbins for ax in ha.axes])

    def inner(h: StoredHistogram) -> np.ndarray:
        c = h.coords
        return np.all((c >= 1) & (c <= nbins), axis=1)

    ia, ib = inner(ha), inner(hb)
    coords = np.concatenate([ha.coords[ia], hb.coords[ib]])
    if len(coords) == 0:
        z = np.zeros(0)
        return z, z, z, z, False
    _, index = np.unique(coords, axis=0, return_inverse=True)
    index = index.ravel()
    n = int(index.max()) + 1
    na = int(ia.sum())

    def scatter(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
        out = np.zeros(n)
        np.add.at(out, idx, values)
        return out

    va, vb = scatter(ha.contents[ia], index[:na]), scatter(hb.contents[ib], index[na:])
    wa_src = ha.sumw2 if ha.sumw2 is not None else ha.contents
    wb_src = hb.sumw2 if hb.sumw2 is not None else hb.contents
    wa, wb = scatter(wa_src[ia], index[:na]), scatter(wb_src[ib], index[na:])
    weighted = not (np.array_equal(va, wa) and np.array_equal(vb, wb))
    return va, wa, vb, wb, weighted


def compare_pair(
    path: str,
    ha: StoredHistogram,
    hb: StoredHistogram,
    *,
    min_p: float = 0.01,
    method: Literal["chi2", "ks"] = "chi2",
    normalize: bool = False,
) -> HistComparison:
    """The verdict for one pair of histograms with the same path."""
    problem = _binning_problem(ha, hb)
    if problem is not None:
        return HistComparison(path, "different", "", None, problem)
    if _identical(ha, hb):
        return HistComparison(path, "identical", "", None, "bin contents and errors are equal")
    if ha.is_profile:
        chi2, ndf, note = _profile_chi2(ha, hb)
        return _verdict(path, "chi2", chi2, ndf, min_p, note)
    if ha.is_sparse or hb.is_sparse:
        if not (ha.is_sparse and hb.is_sparse):
            return HistComparison(path, "different", "", None, f"{ha.classname} vs {hb.classname}")
        va, wa, vb, wb, weighted = _sparse_inner(ha, hb)
    else:
        va, wa, weighted_a = _inner(ha)
        vb, wb, weighted_b = _inner(hb)
        weighted = weighted_a or weighted_b
    totals = f"integrals {va.sum():.6g} vs {vb.sum():.6g}"
    if method == "ks" and ha.ndim == 1:
        return _ks(path, va, wa, vb, wb, min_p, totals)
    chi2, ndf, note = _chi2(va, wa, vb, wb, weighted=weighted, normalize=normalize)
    kind = ("weighted" if weighted else "unweighted") + (", shapes" if normalize else "")
    return _verdict(path, "chi2", chi2, ndf, min_p, f"{totals}; {kind}{note}")


def _verdict(
    path: str, test: str, chi2: float, ndf: int, min_p: float, note: str
) -> HistComparison:
    if ndf <= 0:
        return HistComparison(
            path, "different" if chi2 > 0 else "compatible", test, None, f"no bins to test; {note}"
        )
    p = float(sps.chi2.sf(chi2, ndf))
    verdict: Verdict = "compatible" if p >= min_p else "different"
    return HistComparison(path, verdict, test, p, f"chi2/ndf = {chi2:.4g}/{ndf}; {note}")


def _chi2(
    va: np.ndarray,
    wa: np.ndarray,
    vb: np.ndarray,
    wb: np.ndarray,
    *,
    weighted: bool,
    normalize: bool,
) -> tuple[float, int, str]:
    """χ² and degrees of freedom of two flattened histograms (ROOT's UU / WW tests)."""
    used = (wa + wb) > 0
    note = ""
    if not normalize:
        chi2 = float(np.sum((va[used] - vb[used]) ** 2 / (wa[used] + wb[used])))
        return chi2, int(used.sum()), note
    na, nb = float(va.sum()), float(vb.sum())
    if na <= 0 or nb <= 0:
        return (0.0 if na == nb else np.inf), 0, "; an empty histogram has no shape"
    x, y = va[used], vb[used]
    if weighted:  # Gagunashvili: (W1 w2 - W2 w1)^2 / (W1^2 s2^2 + W2^2 s1^2)
        chi2 = float(np.sum((na * y - nb * x) ** 2 / (na**2 * wb[used] + nb**2 * wa[used])))
    else:  # Poisson: (N2 n1 - N1 n2)^2 / (N1 N2 (n1 + n2))
        chi2 = float(np.sum((nb * x - na * y) ** 2 / (x + y)) / (na * nb))
    return chi2, int(used.sum()) - 1, note


def _profile_chi2(ha: StoredHistogram, hb: StoredHistogram) -> tuple[float, int, str]:
    """χ² of the per-bin means of two profiles with their errors (ROOT's error of the mean)."""

    def mean_err(h: StoredHistogram) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        def inner(flat: np.ndarray) -> np.ndarray:
            return h._cut(h._shaped(flat), False).ravel()

        n = inner(h.bin_entries)
        sw2 = inner(h.bin_sumw2) if h.bin_sumw2 is not None else n
        wy = inner(h.contents)
        wy2 = inner(h.sumw2) if h.sumw2 is not None else np.zeros_like(n)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(n != 0, wy / n, 0.0)
            var_y = np.where(n != 0, wy2 / n - mean**2, 0.0)
            neff = np.where(sw2 > 0, n**2 / sw2, 0.0)
            err2 = np.where(neff > 0, np.clip(var_y, 0.0, None) / neff, 0.0)
        return mean, err2, n

    ma, ea, na = mean_err(ha)
    mb, eb, nb = mean_err(hb)
    both = (na != 0) & (nb != 0)
    usable = both & ((ea + eb) > 0)
    untestable = int((both & ~usable & (ma != mb)).sum())
    one_sided = int(((na != 0) ^ (nb != 0)).sum())
    chi2 = float(np.sum((ma[usable] - mb[usable]) ** 2 / (ea[usable] + eb[usable])))
    note = "profile means"
    if untestable:
        note += f"; {untestable} bins differ but have zero spread (not tested)"
    if one_sided:
        note += f"; {one_sided} bins filled in only one file"
        chi2 = np.inf if not usable.any() else chi2
    return chi2, int(usable.sum()), note


def _ks(
    path: str,
    va: np.ndarray,
    wa: np.ndarray,
    vb: np.ndarray,
    wb: np.ndarray,
    min_p: float,
    totals: str,
) -> HistComparison:
    """Binned Kolmogorov-Smirnov test of two 1D histograms (effective entries, as ROOT)."""
    sa, sb = float(va.sum()), float(vb.sum())
    if sa <= 0 or sb <= 0:
        verdict: Verdict = "compatible" if sa == sb else "different"
        return HistComparison(path, verdict, "ks", None, f"an empty histogram; {totals}")
    d = float(np.max(np.abs(np.cumsum(va) / sa - np.cumsum(vb) / sb)))
    ea = sa**2 / float(wa.sum()) if wa.sum() > 0 else sa
    eb = sb**2 / float(wb.sum()) if wb.sum() > 0 else sb
    z = d * np.sqrt(ea * eb / (ea + eb))
    p = float(sps.kstwobign.sf(z))
    verdict = "compatible" if p >= min_p else "different"
    return HistComparison(path, verdict, "ks", p, f"D = {d:.4g}; {totals}")
