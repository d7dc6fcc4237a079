"""Histogram fills: the fast paths (C++ fill, labelled run counting) give hist's own result;
merging copies adds contents and entries; the sampler always records PSS at start and end."""

from __future__ import annotations

import os
import time

import hist
import numpy as np
import pytest

from hyperloop.analysis.histograms import HistogramError, HistogramRegistry
from hyperloop.analysis.metrics import DeviceMetrics, Sampler

CUTS = ("all", "pt", "eta", "TPC rows", "global")


def _reference(h) -> hist.Hist:
    return hist.Hist(*h.hist.axes, storage=h.hist.storage_type())


@pytest.mark.parametrize(
    "values",
    [
        np.repeat(np.array(CUTS), [500, 400, 300, 200, 100]),  # a cut flow: long runs
        np.repeat(np.array([*CUTS, "unknown"]), [5, 4, 3, 2, 1, 7]),  # -> overflow bin
        np.random.default_rng(1).choice(np.array(CUTS), 3000),  # no runs: hist's own fill
        np.repeat(np.array(CUTS).astype("S"), [3, 0, 2, 9, 1]),  # bytes labels
        np.array([], dtype="U4"),
    ],
)
def test_labelled_fill_counts_like_hist(values):
    h = HistogramRegistry("t").add("hCuts", "cuts;;n", [], categories=CUTS)
    h.fill(values)
    h.fill(values[::-1])
    ref = _reference(h)
    as_str = values.astype(str)
    ref.fill(as_str)
    ref.fill(as_str[::-1])
    np.testing.assert_array_equal(h.hist.view(flow=True), ref.view(flow=True))
    assert h.entries == 2 * values.size


def test_numeric_fills_of_any_dtype_and_weights_match_hist():
    rng = np.random.default_rng(2)
    x = rng.normal(0, 2, 5000).astype(np.float32)
    cls = rng.integers(-2, 8, 5000).astype(np.int8)
    w = rng.random(5000)
    reg = HistogramRegistry("t")
    h2 = reg.add("h2", "pt;x;class", [[-3.0, -1.0, 0.0, 0.5, 2.0, 3.0], (8, -1.5, 6.5)])
    hw = reg.add("hw", "w;x", [(20, -4.0, 4.0)], weighted=True)
    hb = reg.add("hb", "b;flag", [(2, -0.5, 1.5)])
    h2.fill(x, cls)
    h2.fill(x, cls, weight=w)
    hw.fill(x, weight=w)
    hw.fill(x, weight=2.5)
    hb.fill(x > 0)
    refs = {name: _reference(reg[name]) for name in ("h2", "hw", "hb")}
    # the unweighted fills, plus the weighted ones summed apart (see histograms' module doc)
    weighted = {name: _reference(reg[name]) for name in ("h2", "hw")}
    refs["h2"].fill(x, cls)
    weighted["h2"].fill(x, cls, weight=w)
    weighted["hw"].fill(x, weight=w)
    weighted["hw"].fill(x, weight=2.5)
    refs["hb"].fill((x > 0).astype(float))
    for name, part in weighted.items():
        refs[name] += part
    reg.settle()  # weighted fills are whole once settled (the runtime does it before finalize)
    for name, ref in refs.items():
        np.testing.assert_array_equal(reg[name].hist.view(flow=True), ref.view(flow=True))
    assert (h2.entries, hw.entries, hb.entries) == (10000, 10000, 5000)


def test_merging_adds_contents_and_entries_and_refuses_other_binning():
    a = HistogramRegistry("a").add("h", "h;x", [(10, 0.0, 1.0)], weighted=True)
    b = HistogramRegistry("b").add("h", "h;x", [(10, 0.0, 1.0)], weighted=True)
    a.fill(np.array([0.15, 0.25]), weight=np.array([1.0, 2.0]))
    b.fill(np.array([0.15, 0.95]), weight=np.array([3.0, 4.0]))
    a.merge(b)
    a.settle()  # the weighted parts added (the runtime does it before finalize)
    assert a.entries == 4
    assert a.hist.values()[1] == 4.0 and a.hist.variances()[1] == 10.0
    other = HistogramRegistry("c").add("h", "h;x", [(20, 0.0, 1.0)])
    with pytest.raises(HistogramError, match="different axes"):
        a.merge(other)


def test_sampler_records_pss_at_start_and_end_and_rss_every_time():
    dev = DeviceMetrics("probe", pid=os.getpid())
    sampler = Sampler([dev], interval=0.01).start()
    time.sleep(0.1)
    sampler.stop()
    pss = dev.series["proportionalSetSize"]
    rss = dev.series["residentSetSize"]
    assert len(pss) >= 2 and len(rss) >= len(pss)
    assert all(int(v) > 0 for _, v in pss + rss)
    assert len(dev.series["cpuUsedAbsolute"]) == len(rss)


def test_o2_histogram_kinds_check_their_axes_and_profiles_average():
    from hyperloop.analysis.histograms import HistType

    reg = HistogramRegistry("t")
    with pytest.raises(HistogramError, match="a TH1F has 1 axes, got 2"):
        reg.add("h", "", [(2, 0, 1), (2, 0, 1)], HistType.kTH1F)
    with pytest.raises(HistogramError, match="a TProfile2D has 2 axes, got 1"):
        reg.add("p", "", [(2, 0, 1)], "TProfile2D")
    with pytest.raises(HistogramError, match="unknown kind 'TH4D'"):
        reg.add("q", "", [(2, 0, 1)], "TH4D")
    assert reg.add("n", "", [(2, 0, 1)] * 5, HistType.kTHnF).kind == "THnD"
    assert reg.add("s", "", [(2, 0, 1)] * 2, HistType.kTHnSparseD).kind == "THnSparseD"
    p = reg.add("pm", "", [(2, 0.0, 2.0)], HistType.kTProfile)
    with pytest.raises(
        HistogramError, match="fill it with 1 arrays of positions and one of values"
    ):
        p.fill([0.5])
    p.fill([0.5, 0.5, 1.5], [1.0, 3.0, 10.0])
    p.settle()  # profile sums go through the dataframe parts (bit-identical on any cores)
    assert p.kind == "TProfile" and p.hist.values().tolist() == [2.0, 10.0]
    w = reg.add("pw", "", [(1, 0.0, 1.0)], HistType.kTProfile, weighted=True)
    w.fill([0.5, 0.5], [1.0, 4.0], weight=[3.0, 1.0])
    w.settle()
    assert w.hist.values().tolist() == [7.0 / 4.0]
    other = HistogramRegistry("t").add("pm", "", [(2, 0.0, 2.0)], HistType.kTProfile)
    other.fill([0.5], [6.0])
    p.merge(other)  # pipelined copies of a profile add up to the one-device profile
    p.settle()
    assert p.hist.values().tolist() == [10.0 / 3.0, 10.0] and p.entries == 4


def test_bin_labels_and_clones():
    reg = HistogramRegistry("t")
    h = reg.add("data/hCuts", "", [(3, 0.5, 3.5)])
    h.set_bin_label(1, "all")
    h.set_bin_labels(["all", "vz"])
    assert h.bin_labels == {0: ["all", "vz", ""]}
    with pytest.raises(HistogramError, match="bin 4 out of range 1..3"):
        h.set_bin_label(4, "x")
    h.fill([1.0, 2.0])
    (clone,) = reg.addClone("data/", "mc/")
    assert clone.name == "mc/hCuts" and clone.hist.values().sum() == 0
    assert clone.bin_labels == h.bin_labels and reg["data/hCuts"].hist.values().sum() == 2
    with pytest.raises(HistogramError, match="no histogram starts with 'gen/'"):
        reg.add_clone("gen/", "x/")
