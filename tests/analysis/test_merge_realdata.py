"""Merging the real results files gives exactly what ROOT's ``hadd`` writes (``root`` marker).

Every real layout of ``tests/data/realdata`` (Run 3 TDirectories, Run 2 TLists nested
several levels, same-named objects in one list, ROOT 5/6.16 class versions) is merged as
2 and 3 copies and mixed with the other files, compared object by object with hadd's
output (:mod:`benchmarks.hadd_compare`), and must open in ROOT without a warning. TTrees are
merged as hadd does (entries concatenated): their baskets are compared with those of hadd
``-fk`` (which copies baskets, as we do, instead of filling the tree again).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.hadd_compare import (
    HADD,
    compare_with_hadd,
    hadd,
    root_open_errors,
    root_read_tree,
    tree_baskets,
)

from hyperloop.analysis.merge import merge_results

pytestmark = pytest.mark.root

MERGEABLE = [
    "AnalysisResults_o2_twopartcorr.root",
    "results/o2_onia_th3.root",
    "results/run2_duplicate_names.root",
    "results/run2_nested_lists_zdc.root",
    "results/run2_buffered_histogram.root",
]
TREE_FILE = "results/run3_list_with_ttree.root"  # a TList beside a TTree of TClonesArrays


@pytest.fixture(autouse=True)
def _needs_hadd():
    if not HADD.exists():
        pytest.fail(f"ROOT's hadd not found at {HADD}: these tests need CERN ROOT (pip root)")


def _same_as_hadd(tmp_path: Path, inputs: list[Path]) -> None:
    ours, theirs = tmp_path / "ours.root", tmp_path / "hadd.root"
    merge_results(ours, inputs)
    hadd(theirs, inputs)
    assert compare_with_hadd(ours, theirs) == []
    assert root_open_errors(ours) == ""


@pytest.mark.parametrize("copies", [2, 3])
@pytest.mark.parametrize("name", MERGEABLE)
def test_copies_merge_like_hadd(realdata, tmp_path, name, copies):
    _same_as_hadd(tmp_path, [realdata / name] * copies)


def test_mixed_files_merge_like_hadd(realdata, tmp_path):
    small = [n for n in MERGEABLE if "zdc" not in n]  # the 330 MB list is covered above
    _same_as_hadd(tmp_path, [realdata / n for n in small] + [realdata / small[-1]])


def test_buffered_fills_are_emptied_into_a_real_axis(realdata, tmp_path):
    import uproot

    src = realdata / "results/run2_buffered_histogram.root"
    merge_results(tmp_path / "out.root", [src, src, src])
    with uproot.open(tmp_path / "out.root") as f:
        h = next(o for o in f["MyTask/SingleMuonTriggerMatch"] if o.member("fName") == "fEtaMuonH")
        axis = h.member("fXaxis")
        assert (axis.member("fXmin"), axis.member("fXmax")) == (-4.140000000000001, -2.36)
        assert h.member("fEntries") == 3 * 982 and h.values().sum() == 3 * 982


def test_duplicate_names_are_kept_and_merged_by_position(realdata, tmp_path):
    import uproot

    src = realdata / "results/run2_duplicate_names.root"
    merge_results(tmp_path / "out.root", [src, src])
    with uproot.open(src) as f, uproot.open(tmp_path / "out.root") as g:
        before = [h for h in f["output"] if h.member("fName") == "hPsiRDM"]
        after = [h for h in g["output"] if h.member("fName") == "hPsiRDM"]
        assert len(before) == len(after) == 2
        for a, b in zip(before, after, strict=True):
            assert a.member("fZaxis").member("fXmax") == b.member("fZaxis").member("fXmax")
            assert b.member("fEntries") == 2 * a.member("fEntries")


@pytest.mark.parametrize("copies", [2, 3])
def test_tree_beside_a_list_is_merged_like_hadd(realdata, tmp_path, copies):
    """The real Run 3 tree (TClonesArray branches, 76 baskets still inside the TTree object):
    entries concatenated, every basket's bytes and ROOT's reading of every entry as hadd's."""
    import uproot

    inputs = [realdata / TREE_FILE] * copies
    _same_as_hadd(tmp_path, inputs)  # the list's 542 objects, the tree's entries, ROOT's opening
    ours, fast = tmp_path / "ours.root", tmp_path / "hadd_fk.root"
    hadd(fast, inputs, keep_compression=True)
    with uproot.open(ours) as f:
        assert f["Tree_AS_Event"].num_entries == 12 * copies
    assert tree_baskets(ours, "Tree_AS_Event") == tree_baskets(fast, "Tree_AS_Event")
    read = root_read_tree(ours, "Tree_AS_Event")
    assert read == root_read_tree(fast, "Tree_AS_Event")
    assert read[0].split()[0] == str(12 * copies) and read[1] == ""


_ROOT_TREE = """
import sys, ROOT
from array import array
f = ROOT.TFile(sys.argv[1], "RECREATE")
shift = float(sys.argv[2])
t = ROOT.TTree("events", "flat events")
x, n, v = array("f", [0.0]), array("i", [0]), array("f", [0.0] * 16)
t.Branch("x", x, "x/F")
t.Branch("n", n, "n/I")
t.Branch("v", v, "v[n]/F")
clones = ROOT.TClonesArray("TNamed", 16)
t.Branch("c", clones)
t.SetAutoFlush(100)
for i in range(1000):
    x[0] = i + shift
    n[0] = i % (5 + 4 * int(shift))  # each file its own longest array
    clones.Clear()
    for j in range(n[0]):
        v[j] = shift + i * j
        clones.ConstructedAt(j).SetName("a" * j)
    t.Fill()
h = ROOT.TH1F("h", "h", 10, 0, 10)
h.Fill(shift)
f.Write()
f.Close()
"""


def test_root_tree_with_flushed_baskets_is_merged_like_hadd(tmp_path):
    """Flat, variable-length and TClonesArray branches; each file with other array lengths
    (the merged leaves keep the largest, as hadd's) and other basket sizes (ROOT adapts them)."""
    import subprocess
    import sys

    import awkward as ak
    import uproot

    inputs = []
    for i in range(3):
        path = tmp_path / f"in{i}.root"
        subprocess.run(
            [sys.executable, "-W", "ignore", "-c", _ROOT_TREE, str(path), str(i)],
            check=True,
            capture_output=True,
        )
        inputs.append(path)
    _same_as_hadd(tmp_path, inputs)
    ours, theirs, fast = tmp_path / "ours.root", tmp_path / "hadd.root", tmp_path / "fk.root"
    with uproot.open(ours) as f, uproot.open(theirs) as g:
        a, b = f["events"].arrays(["x", "n", "v"]), g["events"].arrays(["x", "n", "v"])
        assert len(a) == 3000 and ak.to_list(a) == ak.to_list(b)
        assert f["events"]["c"].member("fMaximum") == g["events"]["c"].member("fMaximum") == 12
    hadd(fast, inputs, keep_compression=True)
    assert tree_baskets(ours, "events") == tree_baskets(fast, "events")
    read = root_read_tree(ours, "events")
    assert read == root_read_tree(theirs, "events") and read[1] == ""


_ROOT_LIMITS = """
import json, sys, warnings
warnings.simplefilter("ignore")
import ROOT
ROOT.TH1.AddDirectory(False)
out = []
for i, (a, b, n) in enumerate(json.loads(sys.stdin.read())):
    h = ROOT.TH1F(f"h{i}", "", n, 0.0, -1.0)
    h.SetBuffer(1000)
    h.Fill(a)
    h.Fill(b)
    h.BufferEmpty(1)
    out.append([h.GetXaxis().GetXmin(), h.GetXaxis().GetXmax()])
print(json.dumps(out))
"""


def test_buffer_axis_range_is_the_one_root_chooses():
    """find_good_limits against ROOT's own TH1::BufferEmpty on random fills."""
    import json
    import subprocess
    import sys

    import numpy as np

    from hyperloop.analysis.rawmerge import find_good_limits

    rng = np.random.default_rng(7)
    cases = []
    for i in range(400):
        a = float(rng.normal(0, 10 ** rng.uniform(-3, 5)))
        b = a if i % 10 == 0 else a + abs(float(rng.normal(0, 10 ** rng.uniform(-3, 5))))
        cases.append((a, b, int(rng.integers(1, 500))))
    done = subprocess.run(
        [sys.executable, "-c", _ROOT_LIMITS],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
    )
    for (a, b, n), root in zip(cases, json.loads(done.stdout), strict=True):
        assert list(find_good_limits(a, b, n)) == root, (a, b, n)


_ROOT_CLUSTERS = """
import sys, ROOT
from array import array
f = ROOT.TFile(sys.argv[1], "RECREATE")
t = ROOT.TTree("events", "events")
x = array("f", [0.0])
t.Branch("x", x, "x/F")
t.SetAutoFlush(100)
for i in range(1000):
    if i == 500:
        t.SetAutoFlush(200)  # a second cluster range
    x[0] = i
    t.Fill()
f.Write()
f.Close()
"""


def test_tree_of_a_layout_not_supported_is_refused_with_the_reason(tmp_path):
    import subprocess
    import sys

    from hyperloop.analysis.merge import MergeError

    src = tmp_path / "clusters.root"
    subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _ROOT_CLUSTERS, str(src)],
        check=True,
        capture_output=True,
    )
    with pytest.raises(MergeError) as err:
        merge_results(tmp_path / "out.root", [src, src])
    message = str(err.value)
    assert "events" in message and "cluster ranges" in message
    assert "--copy-unmergeable" in message and not (tmp_path / "out.root").exists()
