"""Merging results (histograms summed) and derived AO2D files (dataframes kept distinct)."""

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

from hyperloop.analysis.ao2d import open_ao2d, write_parent_files
from hyperloop.analysis.ao2d_writer import AO2DWriter
from hyperloop.analysis.merge import (
    MergeError,
    file_kind,
    merge_any,
    merge_ao2d,
    merge_results,
)
from hyperloop.analysis.results import (
    HistogramOutput,
    from_hist,
    list_writable,
    read_results,
    write_results,
)

REAL_RESULTS = "AnalysisResults_o2_twopartcorr.root"
HADD = Path(sys.executable).parent.parent / "lib/python3.11/site-packages/ROOT/bin/hadd"


def _h1(values: list[float], *, weighted: bool = False) -> hist.Hist:
    h = hist.Hist(
        hist.axis.Regular(len(values), 0, len(values)),
        storage=hist.storage.Weight() if weighted else hist.storage.Double(),
    )
    centers = np.arange(len(values)) + 0.5
    if weighted:
        h.fill(centers, weight=np.asarray(values, dtype=float))
    else:
        h.fill(np.repeat(centers, np.asarray(values, dtype=int)))
    return h


# ----------------------------------------------------------------------------- real file


@pytest.mark.parametrize("copies", [1, 3])
def test_real_file_n_copies_give_n_times_everything(realdata, tmp_path, copies):
    src = realdata / REAL_RESULTS
    report = merge_results(tmp_path / "merged.root", [src] * copies)
    assert report.files == copies and report.histograms == 8
    one = read_results(src)["twoparcorcombexample"]
    merged = read_results(tmp_path / "merged.root")["twoparcorcombexample"]
    assert set(merged) == set(one)
    for name, h in one.items():
        m = merged[name]
        assert m.classname == h.classname  # TH1F stays TH1F, TH2F stays TH2F
        np.testing.assert_array_equal(m.values(flow=True), copies * h.values(flow=True))
        np.testing.assert_array_equal(m.variances(flow=True), copies * h.variances(flow=True))
        assert m.entries == copies * h.entries
        for stat in ("fTsumw", "fTsumw2", "fTsumwx", "fTsumwx2"):
            assert m.stats[stat] == pytest.approx(copies * h.stats[stat])


# ----------------------------------------------------------------------------- synthetic


@pytest.fixture
def three_results(tmp_path: Path) -> list[Path]:
    paths = []
    for i in range(3):
        hists = {
            "hA": HistogramOutput(_h1([1 + i, 2, 3]), entries=6 + i, title="A;x"),
            "hW": HistogramOutput(_h1([0.5, 1.5], weighted=True), entries=2),
        }
        dirs = {"task": hists, "task/nested": {"deep": _h1([i, 1])}}
        if i == 1:
            dirs["only-in-second"] = {"extra": _h1([4])}
        paths.append(write_results(tmp_path / f"in{i}.root", dirs))
    return paths


def test_sums_nested_and_keeps_histograms_present_in_some_files(three_results, tmp_path):
    out = tmp_path / "out.root"
    report = merge_results(out, three_results)
    assert report.histograms == 4
    back = read_results(out)
    assert back["task"]["hA"].values().tolist() == [6, 6, 9]
    assert back["task"]["hA"].entries == 6 + 7 + 8
    assert back["task"]["hA"].title == "A"
    assert back["task"]["hW"].values().tolist() == [1.5, 4.5]
    assert back["task"]["hW"].variances().tolist() == pytest.approx([3 * 0.25, 3 * 2.25])
    assert back["task/nested"]["deep"].values().tolist() == [3, 3]
    assert back["only-in-second"]["extra"].values().tolist() == [4]


def test_first_files_class_is_kept(tmp_path):
    paths = []
    for i, cls in enumerate(["TH1I", "TH1D"]):
        h = from_hist(_h1([1, 2]), entries=3)
        h.classname = cls
        paths.append(write_results(tmp_path / f"{i}.root", {"t": {"h": h}}))
    merge_results(tmp_path / "out.root", paths)
    with uproot.open(tmp_path / "out.root") as f:
        assert f.classnames()["t/h;1"] == "TH1I"
        assert f["t/h"].values().tolist() == [2, 4]


def test_unweighted_plus_weighted_gets_sumw2(tmp_path):
    a = write_results(tmp_path / "a.root", {"t": {"h": _h1([2, 3])}})
    b = write_results(tmp_path / "b.root", {"t": {"h": _h1([0.5, 0.5], weighted=True)}})
    merge_results(tmp_path / "out.root", [a, b])
    h = read_results(tmp_path / "out.root")["t"]["h"]
    assert h.variances().tolist() == [2 + 0.25, 3 + 0.25]


def test_thn_is_summed(tmp_path):
    rng = np.random.default_rng(3)
    paths = []
    for i in range(2):
        h = hist.Hist(*[hist.axis.Regular(n, 0, 1) for n in (2, 3, 2, 2)])
        h.fill(*rng.random((4, 100)))
        paths.append(write_results(tmp_path / f"{i}.root", {"t": {"nd": HistogramOutput(h, 100)}}))
    merge_results(tmp_path / "out.root", paths)
    one = [read_results(p)["t"]["nd"] for p in paths]
    m = read_results(tmp_path / "out.root")["t"]["nd"]
    assert m.classname == "THnT<double>" and m.entries == 200
    np.testing.assert_array_equal(m.values(flow=True), one[0].values(True) + one[1].values(True))
    assert m.sumw2 is None  # unweighted stays without Sumw2 (ROOT: fTsumw2 = -1)


def test_thnsparse_is_summed_over_the_union_of_filled_bins(tmp_path):
    rng = np.random.default_rng(4)
    paths, dense = [], []
    for i in range(3):
        h = hist.Hist(
            *[hist.axis.Regular(n, 0, 1) for n in (30, 30, 30)], storage=hist.storage.Weight()
        )
        h.fill(*rng.random((3, 50)), weight=rng.uniform(0.5, 2, 50))
        dense.append(h)
        out = HistogramOutput(h, entries=50, sparse=True)
        paths.append(write_results(tmp_path / f"{i}.root", {"t": {"sp": out}}))
    merge_results(tmp_path / "out.root", paths)
    m = read_results(tmp_path / "out.root")["t"]["sp"]
    assert m.classname == "THnSparseT<TArrayD>" and m.entries == 150
    total = sum(d.values(flow=True) for d in dense)
    assert len(m.coords) == np.count_nonzero(total)  # each filled bin stored once
    np.testing.assert_allclose(m.values(flow=True), total)
    np.testing.assert_allclose(m.variances(flow=True), sum(d.variances(flow=True) for d in dense))


def _list_files(tmp_path, extra_in_second: bool) -> list:
    paths = []
    for i in range(2):
        items = {"hA": from_hist(_h1([1, i]), entries=1 + i)}
        if i == 1 and extra_in_second:
            items["hB"] = from_hist(_h1([5]), entries=5)
        p = tmp_path / f"{i}.root"
        with uproot.recreate(p) as f:
            f.mkdir("task")["outputList"] = list_writable(items, "outputList")
        paths.append(p)
    return paths


def test_tlist_of_histograms_is_summed_element_by_element(tmp_path):
    report = merge_results(tmp_path / "out.root", _list_files(tmp_path, False))
    assert report.histograms == 1 and not report.copied
    with uproot.open(tmp_path / "out.root") as f:
        assert f.classnames()["task/outputList;1"] == "TList"
    merged = read_results(tmp_path / "out.root")["task/outputList"]
    assert merged["hA"].values().tolist() == [2, 1] and merged["hA"].entries == 3


def test_lists_with_different_contents_are_refused_not_half_merged(tmp_path):
    paths = _list_files(tmp_path, True)
    with pytest.raises(MergeError) as err:
        merge_results(tmp_path / "out.root", paths)
    assert "task/outputList" in str(err.value) and "--copy-unmergeable" in str(err.value)
    assert not (tmp_path / "out.root").exists()
    report = merge_results(tmp_path / "out.root", paths, copy_unmergeable=True)
    assert report.copied == ["task/outputList (TList)"]
    merged = read_results(tmp_path / "out.root")["task/outputList"]
    assert merged["hA"].values().tolist() == [1, 0]  # the first file's list, as it was


def test_other_objects_are_refused_or_copied_from_the_first_file(tmp_path):
    paths = []
    for i in range(2):
        p = write_results(tmp_path / f"{i}.root", {"t": {"h": _h1([1])}})
        with uproot.update(p) as f:
            f["t/note"] = f"written by job {i}"
        paths.append(p)
    with pytest.raises(MergeError, match="t/note: cannot be merged faithfully"):
        merge_results(tmp_path / "out.root", paths)
    report = merge_results(tmp_path / "out.root", paths, copy_unmergeable=True)
    assert report.copied == ["t/note (TObjString)"]
    with uproot.open(tmp_path / "out.root") as f:
        assert str(f["t/note"]) == "written by job 0"
        assert f["t/h"].values().tolist() == [2]


def _tree_files(tmp_path: Path, branches: list[str]) -> list[Path]:
    """Results files with a histogram and a tree ``t/events`` (flat and jagged branches)
    written by uproot, each file's tree in three baskets per branch."""
    import awkward as ak

    paths = []
    for i, name in enumerate(branches):
        p = write_results(tmp_path / f"tree{i}.root", {"t": {"h": _h1([1, i])}})
        with uproot.update(p) as f:
            f.mktree("t/events", {"x": "f8", name: "var * int32"}, title="events")
            for k in range(3):
                f["t/events"].extend(
                    {"x": np.arange(4.0) + 10 * i + k, name: ak.Array([[i] * j for j in range(4)])}
                )
        paths.append(p)
    return paths


def test_trees_are_merged_entries_concatenated(tmp_path):
    paths = _tree_files(tmp_path, ["v", "v", "v"])
    report = merge_results(tmp_path / "out.root", paths)
    assert report.trees == 1 and not report.copied and not report.skipped
    assert "1 trees" in report.summary()
    with uproot.open(tmp_path / "out.root") as f:
        tree = f["t/events"]
        assert tree.num_entries == 36 and tree["x"].num_baskets == 9
        expected = [x for i in range(3) for k in range(3) for x in np.arange(4.0) + 10 * i + k]
        assert tree["x"].array(library="np").tolist() == expected
        assert tree["v"].array().tolist() == [
            [i] * j for i in range(3) for _ in range(3) for j in range(4)
        ]
        assert f["t/h"].values().tolist() == [3, 3]


def test_trees_with_other_branches_are_refused_naming_the_tree(tmp_path):
    paths = _tree_files(tmp_path, ["v", "w"])
    with pytest.raises(MergeError) as err:
        merge_results(tmp_path / "out.root", paths)
    message = str(err.value)
    assert "t/events" in message and "branches" in message and "--copy-unmergeable" in message
    assert not (tmp_path / "out.root").exists()
    report = merge_results(tmp_path / "out.root", paths, copy_unmergeable=True)
    assert report.skipped == ["t/events (TTree: trees are not merged in results files)"]


# ----------------------------------------------------------------------------- failures


def test_bin_mismatch_names_file_and_histogram(three_results, tmp_path):
    bad = write_results(tmp_path / "bad.root", {"task": {"hA": _h1([1, 2])}})
    out = tmp_path / "out.root"
    with pytest.raises(MergeError) as err:
        merge_results(out, [*three_results, bad])
    msg = str(err.value)
    assert str(bad) in msg and "task/hA" in msg and "bin structure differs" in msg
    assert "2 bins" in msg and "3 bins" in msg
    assert not out.exists()


def test_failed_merge_leaves_existing_output_and_no_temp_files(three_results, tmp_path):
    out = tmp_path / "out.root"
    out.write_bytes(b"previous output")
    with pytest.raises(MergeError, match="input file not found: .*missing.root"):
        merge_results(out, [*three_results, tmp_path / "missing.root"])
    garbage = tmp_path / "garbage.root"
    garbage.write_bytes(b"this is not a ROOT file" * 10)
    with pytest.raises(MergeError, match=r"garbage\.root: not a readable ROOT file"):
        merge_results(out, [*three_results, garbage])
    assert out.read_bytes() == b"previous output"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_truncated_real_file_is_named(realdata, tmp_path):
    cut = tmp_path / "cut.root"
    cut.write_bytes((realdata / REAL_RESULTS).read_bytes()[:4000])
    with pytest.raises(MergeError, match=r"cut\.root"):
        merge_any(tmp_path / "out.root", [realdata / REAL_RESULTS, cut])
    assert not (tmp_path / "out.root").exists()


def test_empty_input_list_and_output_among_inputs(three_results, tmp_path):
    with pytest.raises(MergeError, match="no input files"):
        merge_any(tmp_path / "out.root", [])
    with pytest.raises(MergeError, match="also an input"):
        merge_results(three_results[0], three_results)


# ----------------------------------------------------------------------------- AO2D


def _tables(seed: int, ncoll: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    ntr = 4 * ncoll
    return {
        "O2collision": {
            "fPosZ": rng.normal(0, 5, ncoll).astype(np.float32),
            "fRunNumber": np.full(ncoll, 529399, dtype=np.int32),
        },
        "O2track": {
            "fIndexCollisions": np.repeat(np.arange(ncoll, dtype=np.int32), 4),
            "fPt": rng.exponential(1, ntr).astype(np.float32),
            "fFlags": rng.integers(0, 255, ntr).astype(np.uint8),
            "fGlobalBC": rng.integers(0, 2**40, ntr).astype(np.uint64),
        },
    }


def _ao2d(path: Path, dfs: dict[int, int], parents: dict[str, str] | None = None) -> Path:
    with AO2DWriter(path) as w:
        for df_id, seed in dfs.items():
            w.write_dataframe(df_id, _tables(seed))
        if parents is not None:
            write_parent_files(w.file, parents)
    return path


def test_ao2d_same_named_dataframes_stay_distinct(tmp_path):
    a = _ao2d(tmp_path / "a.root", {1: 11, 5: 12}, {"DF_1": "/p/a1.root", "DF_5": "/p/a5.root"})
    b = _ao2d(tmp_path / "b.root", {1: 21, 2: 22}, {"DF_1": "/p/b1.root", "DF_2": "/p/b2.root"})
    out = tmp_path / "AO2D.root"
    report = merge_ao2d(out, [a, b])
    assert report.dataframes == 4 and report.trees == 8
    assert report.renamed == {f"{b}:DF_1": "DF_6"}  # one above the largest id of all inputs
    with open_ao2d(out) as f:
        assert sorted(f.dataframes()) == ["DF_1", "DF_2", "DF_5", "DF_6"]
        assert f.parent_files() == {
            "DF_1": "/p/a1.root",
            "DF_5": "/p/a5.root",
            "DF_6": "/p/b1.root",
            "DF_2": "/p/b2.root",
        }
    with uproot.open(out) as f, uproot.open(b) as g:
        for table in ("O2collision", "O2track"):
            got = f[f"DF_6/{table}"].arrays(library="np")
            want = g[f"DF_1/{table}"].arrays(library="np")
            assert set(got) == set(want)
            for col in want:
                assert got[col].dtype == want[col].dtype
                np.testing.assert_array_equal(got[col], want[col])
        # the index column still points into its own dataframe's collisions
        assert f["DF_6/O2track"]["fIndexCollisions"].array(library="np").max() == 2


def test_truncated_ao2d_is_named_and_nothing_is_written(realdata, tmp_path):
    src = realdata / "AO2D_ud_rho_run3.root"
    cut = tmp_path / "AO2D_cut.root"
    cut.write_bytes(src.read_bytes()[:200_000])
    out = tmp_path / "AO2D.root"
    with pytest.raises(MergeError, match=r"AO2D_cut\.root"):
        merge_ao2d(out, [src, cut])
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["AO2D_cut.root"]


def test_merge_any_detects_kind_and_refuses_mixtures(tmp_path, three_results):
    a = _ao2d(tmp_path / "a.root", {1: 1})
    assert file_kind(a) == "ao2d" and file_kind(three_results[0]) == "results"
    assert merge_any(tmp_path / "o1.root", [a, a]).kind == "ao2d"
    assert merge_any(tmp_path / "o2.root", three_results).kind == "results"
    with pytest.raises(MergeError, match="different kinds"):
        merge_any(tmp_path / "o3.root", [a, three_results[0]])


@pytest.mark.slow
def test_real_derived_ao2d_two_copies(realdata, tmp_path):
    src = realdata / "AO2D_ud_rho_run3.root"
    out = tmp_path / "AO2D.root"
    report = merge_any(out, [src, src])
    assert report.kind == "ao2d" and report.dataframes == 86 and len(report.renamed) == 43
    with open_ao2d(src) as f:
        dfs, parents = f.dataframes(), f.parent_files()
        rows = {df: f.trees(df) for df in dfs}
    with open_ao2d(out) as g:
        assert len(g.dataframes()) == 86
        merged_parents = g.parent_files()
        for old_key, new in report.renamed.items():
            old = old_key.rsplit(":", 1)[1]
            assert g.trees(new) == rows[old]
            assert merged_parents[new] == parents[old]


# ----------------------------------------------------------------------------- ROOT cross-check

MAKE_ROOT_FILE = textwrap.dedent(
    """
    import sys, array, warnings
    warnings.simplefilter("ignore")
    import ROOT
    for seed, path in enumerate(sys.argv[1:], start=1):
      ROOT.gRandom.SetSeed(seed)
      f = ROOT.TFile(path, "RECREATE")
      d = f.mkdir("task-a"); d.cd()
      objs = []
      h = ROOT.TH1F("h1f", "float;x;n", 20, -2, 2); h.FillRandom("gaus", 500); objs.append(h)
      h = ROOT.TH1D("h1dw", "weighted", 10, 0, 1); h.Sumw2(); objs.append(h)
      for i in range(100): h.Fill(ROOT.gRandom.Rndm(), 0.5 + ROOT.gRandom.Rndm())
      h = ROOT.TH1I("h1i", "int", 5, 0, 5); objs.append(h)
      for i in range(50): h.Fill(ROOT.gRandom.Integer(5))
      h = ROOT.TH2F("h2", "2d", 8, 0, 1, 6, array.array("d", [0, .1, .2, .4, .6, .8, 1.])); objs.append(h)
      for i in range(300): h.Fill(ROOT.gRandom.Rndm(), ROOT.gRandom.Rndm())
      h = ROOT.TH3D("h3", "3d", 4, 0, 1, 3, 0, 1, 2, 0, 1); objs.append(h)
      for i in range(200): h.Fill(ROOT.gRandom.Rndm(), ROOT.gRandom.Rndm(), ROOT.gRandom.Rndm(), 2.)
      h = ROOT.TProfile("prof", "profile", 10, 0, 1); objs.append(h)
      for i in range(200): h.Fill(ROOT.gRandom.Rndm(), ROOT.gRandom.Gaus(3, 1))
      h = ROOT.TH1D("cutflow", "cuts", 3, 0, 3); objs.append(h)
      for i, t in enumerate(["all", "vtx", "sel"]): h.GetXaxis().SetBinLabel(i + 1, t)
      h.Fill("all", 10); h.Fill("vtx", 7); h.Fill("sel", 3)
      nb = array.array("i", [3, 4, 2, 5]); lo = array.array("d", [0] * 4); hi = array.array("d", [1] * 4)
      h = ROOT.THnF("hnf", "nd", 4, nb, lo, hi); h.Sumw2(); objs.append(h)
      for i in range(100): h.Fill(array.array("d", [ROOT.gRandom.Rndm() for _ in range(4)]), 1.5)
      nb = array.array("i", [10, 20, 5]); lo = array.array("d", [0] * 3); hi = array.array("d", [1] * 3)
      h = ROOT.THnSparseF("sparsef", "sparse;a;b;c", 3, nb, lo, hi); objs.append(h)
      for i in range(60): h.Fill(array.array("d", [ROOT.gRandom.Rndm() for _ in range(3)]), 2.0)
      h = ROOT.THnSparseD("sparsedw", "sparse weighted", 3, nb, lo, hi); h.Sumw2(); objs.append(h)
      for i in range(60): h.Fill(array.array("d", [ROOT.gRandom.Gaus(.5, .3) for _ in range(3)]), ROOT.gRandom.Rndm())
      for o in objs: o.Write()
      lst = ROOT.TList(); lst.SetName("outputList")
      h = ROOT.TH1D("inList", "in a list", 5, 0, 5); h.Fill(seed); lst.Add(h)
      h = ROOT.TH2F("inList2", "2d in a list", 3, 0, 3, 2, 0, 2); h.Fill(1, 1, 0.5); lst.Add(h)
      lst.Write("outputList", ROOT.TObject.kSingleKey)
      sub = d.mkdir("nested"); sub.cd()
      h = ROOT.TH1D("deep", "deep", 4, 0, 4); h.Fill(1.5); h.Write()
      f.Close()
    """
)

DUMP_WITH_ROOT = textwrap.dedent(
    """
    import sys, json, warnings, array, os
    warnings.simplefilter("ignore")
    import ROOT
    def dump(o):
        if o.InheritsFrom("THnSparse"):
            bins = {}
            idx = array.array("i", [0] * o.GetNdimensions())
            for i in range(o.GetNbins()):
                value = o.GetBinContent(i, idx)
                bins[str(list(idx))] = [value, o.GetBinError2(i)]
            return dict(cls=o.ClassName(), entries=o.GetEntries(), bins=bins,
                sumw=o.GetSumw(), sumw2=o.GetSumw2(),
                titles=[o.GetAxis(i).GetTitle() for i in range(o.GetNdimensions())])
        if o.InheritsFrom("THnBase"):
            n = o.GetNbins()
            return dict(cls=o.ClassName(), entries=o.GetEntries(),
                values=[o.GetBinContent(i, ROOT.nullptr) for i in range(n)],
                variances=[o.GetBinError2(i) for i in range(n)])
        n = o.GetNcells()
        st = ROOT.std.vector("double")(20); o.GetStats(st.data())
        item = dict(cls=o.ClassName(), entries=o.GetEntries(), stats=list(st),
            values=[o.GetBinContent(i) for i in range(n)],
            variances=[o.GetBinError(i) ** 2 for i in range(n)], title=o.GetTitle(),
            labels=[o.GetXaxis().GetBinLabel(i) for i in range(1, o.GetNbinsX() + 1)])
        if o.InheritsFrom("TProfile"):
            item["bin_entries"] = [o.GetBinEntries(i) for i in range(n)]
        return item
    def rec(d, pre, out):
        for k in d.GetListOfKeys():
            o = k.ReadObj(); name = pre + k.GetName()
            if o.InheritsFrom("TDirectory"):
                rec(o, name + "/", out)
            elif o.InheritsFrom("TCollection"):
                out[name] = dict(cls=o.ClassName(), entries=o.GetSize())
                for item in o:
                    out[name + "/" + item.GetName()] = dump(item)
            else:
                out[name] = dump(o)
    result = []
    for path in sys.argv[1:]:
        out = {}
        rec(ROOT.TFile.Open(path), "", out)
        result.append(out)
    print(json.dumps(result), flush=True)
    os._exit(0)
    """
)


def _run(script: str, *args: object) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.root
@pytest.mark.slow
def test_same_as_root_hadd(tmp_path, realdata):
    inputs = [tmp_path / f"in{i}.root" for i in range(3)]
    _run(MAKE_ROOT_FILE, *inputs)
    inputs.append(realdata / REAL_RESULTS)
    ours, theirs = tmp_path / "ours.root", tmp_path / "hadd.root"
    report = merge_results(ours, inputs)
    assert report.histograms == 13 + 8 and not report.copied and not report.skipped
    subprocess.run([HADD, "-f", theirs, *inputs], check=True, capture_output=True)
    # ROOT itself opens our output
    got, want = json.loads(_run(DUMP_WITH_ROOT, ours, theirs).splitlines()[-1])
    assert sorted(got) == sorted(want)
    for name, w in want.items():
        g = got[name]
        assert g["cls"] == w["cls"], name
        assert g["entries"] == w["entries"], name
        if g["cls"] == "TList":
            continue
        if "bins" in w:  # THnSparse: the same filled bins with the same contents and errors
            assert sorted(g["bins"]) == sorted(w["bins"]), name
            for coords, pair in w["bins"].items():
                np.testing.assert_allclose(g["bins"][coords], pair, rtol=1e-6, err_msg=name)
            assert g["titles"] == w["titles"]
            assert (g["sumw"], g["sumw2"]) == pytest.approx((w["sumw"], w["sumw2"]))
            continue
        np.testing.assert_allclose(g["values"], w["values"], rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(g["variances"], w["variances"], rtol=1e-6, err_msg=name)
        for key in ("stats", "bin_entries"):
            if key in w:
                np.testing.assert_allclose(g[key], w[key], rtol=1e-6, err_msg=f"{name} {key}")
        for key in ("title", "labels"):
            if key in w:
                assert g[key] == w[key], name


@pytest.mark.root
@pytest.mark.slow
def test_root_opens_merged_ao2d(tmp_path):
    a = _ao2d(tmp_path / "a.root", {1: 1, 2: 2}, {"DF_1": "x", "DF_2": "y"})
    out = tmp_path / "AO2D.root"
    merge_ao2d(out, [a, a])
    script = textwrap.dedent(
        """
        import sys, warnings
        warnings.simplefilter("ignore")
        import ROOT
        f = ROOT.TFile.Open(sys.argv[1])
        names = sorted(k.GetName() for k in f.GetListOfKeys())
        print(names, f.Get("DF_4/O2track").GetEntries(), f.Get("parentFiles").GetSize())
        """
    )
    assert _run(script, out).strip().splitlines()[-1] == (
        "['DF_1', 'DF_2', 'DF_3', 'DF_4', 'parentFiles'] 12 4"
    )


def test_empty_directories_are_kept_in_order(tmp_path):
    paths = []
    for i in range(2):
        p = write_results(tmp_path / f"{i}.root", {"a": {"h": _h1([1])}})
        with uproot.update(p) as f:
            f.mkdir("empty")
            f.mkdir("b/inner")
        paths.append(p)
    merge_results(tmp_path / "out.root", paths)
    with uproot.open(tmp_path / "out.root") as f:
        assert list(f.classnames(recursive=True, cycle=False)) == [
            "a", "a/h", "empty", "b", "b/inner"
        ]  # fmt: skip
        assert f["a/h"].values().tolist() == [2]


def _nested_sparse_file(path: Path, seed: int) -> Path:
    """A Run 2-style output: TList [TH1D, TList qa [THnSparseD, TH1D]], random sparse bins."""
    import uproot.writing.identify as ident

    from hyperloop.analysis.results import to_writable

    rng = np.random.default_rng(seed)
    sparse = hist.Hist(hist.axis.Regular(20, 0, 1), hist.axis.Regular(10, 0, 1))
    sparse.fill(rng.random(30), rng.random(30))
    qa = ident.to_TList(
        [
            to_writable(from_hist(sparse, sparse=True), "hSparse"),
            to_writable(from_hist(_h1([seed, 1, 2])), "hQA"),
        ],
        name="qa",
    )
    out = ident.to_TList([to_writable(from_hist(_h1([1, 2, seed])), "hMain"), qa], name="out")
    streamers: dict = {}
    for m in (out, qa, *qa, *out):
        for s in m.class_rawstreamers:
            streamers.setdefault((s[2], s[3]) if isinstance(s, tuple) else s.name, s)
    out.class_rawstreamers = tuple(streamers.values())
    with uproot.recreate(path) as f:
        f.mkdir("task")["out"] = out
    return path


@pytest.mark.root
def test_lists_with_other_sparse_bins_are_merged_item_by_item_like_hadd(tmp_path):
    from benchmarks.hadd_compare import HADD, compare_with_hadd, hadd

    if not HADD.exists():
        pytest.fail(f"ROOT's hadd not found at {HADD}")
    paths = [_nested_sparse_file(tmp_path / f"{i}.root", seed=i) for i in range(3)]
    report = merge_results(tmp_path / "out.root", paths)
    assert report.histograms == 3 and not report.copied
    hadd(tmp_path / "hadd.root", paths)
    assert compare_with_hadd(tmp_path / "out.root", tmp_path / "hadd.root") == []


def test_statistics_root_would_recompute_are_refused(tmp_path):
    h = from_hist(_h1([1, 2, 3]), entries=6)
    h.stats = {k: 0.0 if k != "fEntries" else 6.0 for k in h.stats}  # as SetBinContent leaves
    paths = [write_results(tmp_path / f"{i}.root", {"t": {"h": h}}) for i in range(2)]
    with pytest.raises(MergeError, match="t/h: cannot be merged faithfully .*recompute"):
        merge_results(tmp_path / "out.root", paths)
