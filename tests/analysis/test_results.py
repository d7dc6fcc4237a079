"""AnalysisResults.root: hist histograms written as ROOT TH1/TH2/TH3/THnD, read back intact."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import hist
import numpy as np
import pytest
import uproot

from hyperloop.analysis.results import (
    HistogramOutput,
    ResultsError,
    from_uproot,
    read_results,
    write_results,
)


def _hists() -> dict[str, HistogramOutput]:
    rng = np.random.default_rng(7)
    pt = hist.Hist(hist.axis.Regular(20, 0, 10, label="p_{T}"), storage=hist.storage.Weight())
    x = rng.exponential(2.0, 5000)
    pt.fill(x, weight=rng.uniform(0.5, 1.5, x.size))
    eta_phi = hist.Hist(hist.axis.Regular(10, -1, 1), hist.axis.Variable([0, 1, 2, 4, 6.3]))
    eta_phi.fill(rng.uniform(-1.2, 1.2, 3000), rng.uniform(0, 6.3, 3000))
    cube = hist.Hist(*[hist.axis.Regular(n, 0, 1) for n in (3, 4, 5)])
    cube.fill(*rng.random((3, 1000)))
    cuts = hist.Hist(hist.axis.StrCategory(["all", "vertex", "selected"]))
    cuts.fill(["all"] * 10 + ["vertex"] * 7 + ["selected"] * 3)
    nd = hist.Hist(
        *[hist.axis.Regular(n, 0, 1) for n in (2, 3, 4, 5)], storage=hist.storage.Weight()
    )
    nd.fill(*rng.random((4, 400)), weight=np.full(400, 2.0))
    sparse = hist.Hist(*[hist.axis.Regular(n, 0, 1) for n in (50, 40, 30)])
    sparse.fill(*rng.random((3, 200)))
    return {
        "hSparse3": HistogramOutput(sparse, entries=200, title="sparse;u;v;w", sparse=True),
        "hPt": HistogramOutput(pt, entries=x.size, title="track p_{T};p_{T} (GeV/c);counts"),
        "hEtaPhi": HistogramOutput(eta_phi, entries=3000, title="eta vs phi;#eta;#varphi"),
        "hCube": HistogramOutput(cube, entries=1000),
        "hCuts": HistogramOutput(cuts, entries=20, title="event selection"),
        "hSparse4": HistogramOutput(nd, entries=400, title="four axes;a;b;c;d"),
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, HistogramOutput]]:
    hists = _hists()
    path = tmp_path_factory.mktemp("results") / "AnalysisResults.root"
    write_results(path, {"spectra-charged": hists, "spectra-charged_sub1": {"hPt": hists["hPt"]}})
    return path, hists


def test_one_directory_per_task_instance_with_root_classes(written):
    path, _ = written
    with uproot.open(path) as f:
        classes = f.classnames()
    assert classes["spectra-charged;1"] == "TDirectory"
    assert classes["spectra-charged_sub1;1"] == "TDirectory"
    assert classes["spectra-charged/hPt;1"] == "TH1D"
    assert classes["spectra-charged/hEtaPhi;1"] == "TH2D"
    assert classes["spectra-charged/hCube;1"] == "TH3D"
    assert classes["spectra-charged/hSparse4;1"] == "THnT<double>"
    assert classes["spectra-charged/hSparse3;1"] == "THnSparseT<TArrayD>"


def test_values_variances_entries_and_titles_survive(written):
    path, hists = written
    back = read_results(path)["spectra-charged"]
    for name, out in hists.items():
        h = back[name]
        np.testing.assert_allclose(h.values(), np.asarray(out.hist.values()), rtol=1e-12)
        np.testing.assert_allclose(h.variances(), np.asarray(out.hist.variances()), rtol=1e-12)
        assert h.entries == out.entries
    assert back["hPt"].title == "track p_{T}"
    assert [a.title for a in back["hPt"].axes] == ["p_{T} (GeV/c)"]
    assert [a.title for a in back["hSparse4"].axes] == ["a", "b", "c", "d"]
    assert back["hEtaPhi"].axes[1].edges.tolist() == [0, 1, 2, 4, 6.3]


def test_under_and_overflow_are_kept(written):
    path, hists = written
    h = read_results(path)["spectra-charged"]["hEtaPhi"]
    flow = h.values(flow=True)
    src = hists["hEtaPhi"].hist
    assert flow[0, :].sum() == src[hist.underflow, :].sum(flow=True)
    assert flow.sum() == 3000


def test_category_axis_becomes_labelled_bins(written):
    path, _ = written
    h = read_results(path)["spectra-charged"]["hCuts"]
    assert h.axes[0].labels == ["all", "vertex", "selected"]
    assert h.values().tolist() == [10, 7, 3]


def test_statistics_give_root_mean(written):
    path, hists = written
    with uproot.open(path) as f:
        th1 = f["spectra-charged/hPt"]
        mean = th1.member("fTsumwx") / th1.member("fTsumw")
    h = hists["hPt"].hist
    centers = h.axes[0].centers
    assert mean == pytest.approx((h.values() * centers).sum() / h.values().sum())
    # weighted: fTsumw2 is the sum of squared weights, not the sum of weights
    assert th1.member("fTsumw2") == pytest.approx(h.variances().sum())


def test_to_hist_round_trip(written):
    path, hists = written
    back = read_results(path)["spectra-charged"]["hPt"].to_hist()
    src = hists["hPt"].hist
    np.testing.assert_allclose(back.values(flow=True), src.values(flow=True))
    np.testing.assert_allclose(back.variances(flow=True), src.variances(flow=True))
    np.testing.assert_allclose(back.axes[0].edges, src.axes[0].edges)


def test_registry_like_objects_and_bare_hist_are_accepted(tmp_path):
    class Registered:  # what the task histogram registry hands over: .hist, .entries, .title
        def __init__(self, h, entries, title):
            self.hist, self.entries, self.title = h, entries, title

    h = hist.Hist(hist.axis.Regular(4, 0, 4, label="x"))
    h.fill([0.5, 1.5, 1.5])
    bare = hist.Hist(hist.axis.Regular(2, 0, 2), storage=hist.storage.Int64())
    bare.fill([0.5, 1.5, 5.0])
    path = write_results(
        tmp_path / "r.root", {"t": {"a": Registered(h, 3, "A;x label"), "b": bare}}
    )
    back = read_results(path)["t"]
    assert back["a"].entries == 3 and back["a"].title == "A"
    assert back["b"].entries == 3  # sum of contents incl. overflow for unweighted fills
    assert back["b"].values().tolist() == [1, 1]


def test_nested_directories(tmp_path):
    h = hist.Hist(hist.axis.Regular(2, 0, 2))
    path = write_results(tmp_path / "r.root", {"outer/inner": {"h": h}})
    assert set(read_results(path)) == {"outer/inner"}


def test_mean_storage_becomes_tprofile(tmp_path):
    rng = np.random.default_rng(1)
    x, y, w = rng.random(300), rng.normal(3, 1, 300), rng.uniform(0.5, 2, 300)
    plain = hist.Hist(hist.axis.Regular(4, 0, 1), storage=hist.storage.Mean())
    plain.fill(x, sample=y)
    weighted = hist.Hist(hist.axis.Regular(4, 0, 1), storage=hist.storage.WeightedMean())
    weighted.fill(x, sample=y, weight=w)
    two = hist.Hist(*[hist.axis.Regular(2, 0, 1)] * 2, storage=hist.storage.Mean())
    two.fill(x, x, sample=y)
    path = write_results(tmp_path / "r.root", {"t": {"p": plain, "pw": weighted, "p2": two}})
    back = read_results(path)["t"]
    assert [back[n].classname for n in ("p", "pw", "p2")] == ["TProfile", "TProfile", "TProfile2D"]
    np.testing.assert_allclose(back["p"].values(), plain.values())
    np.testing.assert_allclose(back["pw"].values(), weighted.values())
    np.testing.assert_allclose(back["p2"].values(), two.values())
    assert back["p"].entries == 300
    with uproot.open(path) as f:  # ROOT's profile mean of y over the whole histogram
        prof = f["t/p"]
        assert prof.member("fTsumwy") / prof.member("fTsumw") == pytest.approx(y.mean())


def test_bad_histograms_are_refused_with_a_clear_message(tmp_path):
    prof = hist.Hist(*[hist.axis.Regular(2, 0, 2)] * 4, storage=hist.storage.Mean())
    with pytest.raises(ResultsError, match=r"task/hProf: profiles .* 1-3 dimensions"):
        write_results(tmp_path / "r.root", {"task": {"hProf": prof}})
    assert not (tmp_path / "r.root").exists()  # nothing half-written
    with pytest.raises(ResultsError, match="empty directory name"):
        write_results(tmp_path / "r.root", {"": {"h": hist.Hist(hist.axis.Regular(1, 0, 1))}})


def test_real_results_file_reads(realdata):
    back = read_results(realdata / "AnalysisResults_o2_twopartcorr.root")
    hists = back["twoparcorcombexample"]
    assert {h.classname for h in hists.values()} == {"TH1F", "TH2F"}
    assert hists["hZvertex"].entries == 7640
    assert hists["hDeltaEtaDeltaPhi"].values().shape == (100, 100)


def test_unknown_objects_are_not_histograms(realdata):
    with uproot.open(realdata / "AO2D_ud_rho_run3.root") as f:
        assert from_uproot(f["parentFiles"]) is None


ROOT_READER = textwrap.dedent(
    """
    import json, sys, warnings, array
    warnings.simplefilter("ignore")
    import ROOT
    f = ROOT.TFile.Open(sys.argv[1])
    out = {}
    for name in ["hPt", "hEtaPhi", "hCube", "hCuts"]:
        h = f.Get("spectra-charged/" + name)
        out[name] = dict(cls=h.ClassName(), entries=h.GetEntries(), integral=h.Integral(),
                         title=h.GetTitle(), xtitle=h.GetXaxis().GetTitle(), mean=h.GetMean(),
                         err1=h.GetBinError(1),
                         labels=[h.GetXaxis().GetBinLabel(i) for i in range(1, 4)])
    n = f.Get("spectra-charged/hSparse4")
    idx = array.array("i", [1, 2, 3, 4])
    out["hSparse4"] = dict(cls=n.ClassName(), ndim=n.GetNdimensions(), entries=n.GetEntries(),
        nbins=[n.GetAxis(i).GetNbins() for i in range(4)],
        titles=[n.GetAxis(i).GetTitle() for i in range(4)],
        content=n.GetBinContent(idx), err=n.GetBinError(idx),
        integral=n.Projection(0).Integral())
    s = f.Get("spectra-charged/hSparse3")
    out["hSparse3"] = dict(cls=s.ClassName(), filled=s.GetNbins(), entries=s.GetEntries(),
        integral=s.Projection(0).Integral(), content=s.GetBinContent(array.array("i", [6, 9, 1])),
        titles=[s.GetAxis(i).GetTitle() for i in range(3)])
    print(json.dumps(out))
    """
)


@pytest.mark.root
@pytest.mark.slow
def test_root_reads_th1_th2_th3_and_thn(written):
    path, hists = written
    proc = subprocess.run(
        [sys.executable, "-c", ROOT_READER, str(path)], capture_output=True, text=True, check=True
    )
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    pt = hists["hPt"].hist
    assert got["hPt"]["cls"] == "TH1D"
    assert got["hPt"]["entries"] == 5000
    assert got["hPt"]["title"] == "track p_{T}" and got["hPt"]["xtitle"] == "p_{T} (GeV/c)"
    assert got["hPt"]["integral"] == pytest.approx(pt.values().sum())
    assert got["hPt"]["err1"] == pytest.approx(np.sqrt(pt.variances()[0]))
    assert got["hPt"]["mean"] == pytest.approx(
        (pt.values() * pt.axes[0].centers).sum() / pt.values().sum()
    )
    assert got["hEtaPhi"]["integral"] == pytest.approx(hists["hEtaPhi"].hist.values().sum())
    assert got["hCube"]["cls"] == "TH3D" and got["hCube"]["entries"] == 1000
    assert got["hCuts"]["labels"] == ["all", "vertex", "selected"]
    nd = hists["hSparse4"].hist
    assert got["hSparse4"]["cls"] == "THnT<double>"
    assert got["hSparse4"]["nbins"] == [2, 3, 4, 5]
    assert got["hSparse4"]["titles"] == ["a", "b", "c", "d"]
    assert got["hSparse4"]["entries"] == 400
    assert got["hSparse4"]["content"] == pytest.approx(nd.values()[0, 1, 2, 3])
    assert got["hSparse4"]["err"] == pytest.approx(np.sqrt(nd.variances()[0, 1, 2, 3]))
    assert got["hSparse4"]["integral"] == pytest.approx(nd.values().sum())
    sp = hists["hSparse3"].hist
    assert got["hSparse3"]["cls"] == "THnSparseT<TArrayD>"
    assert got["hSparse3"]["filled"] == np.count_nonzero(sp.values(flow=True))
    assert got["hSparse3"]["entries"] == 200 and got["hSparse3"]["integral"] == 200
    assert got["hSparse3"]["content"] == sp.values()[5, 8, 0]
    assert got["hSparse3"]["titles"] == ["u", "v", "w"]


def test_nested_lists_and_same_named_items_are_read(realdata):
    nested = read_results(realdata / "results" / "run2_duplicate_names.root")
    assert len(nested["output"]) == 692
    assert nested["output"]["hPsiRDM"].axes[2].high != nested["output"]["hPsiRDM (2)"].axes[2].high
