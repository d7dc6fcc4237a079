"""``hyperloop merge OUT.root IN.root...`` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import uproot
from typer.testing import CliRunner

from hyperloop.analysis.ao2d_writer import AO2DWriter
from hyperloop.analysis.results import read_results
from hyperloop.cli import app

REAL_RESULTS = "AnalysisResults_o2_twopartcorr.root"
runner = CliRunner()


def test_merge_results_prints_summary(realdata, tmp_path):
    src = realdata / REAL_RESULTS
    out = tmp_path / "merged.root"
    result = runner.invoke(app, ["merge", str(out), str(src), str(src)])
    assert result.exit_code == 0, result.output
    assert "merged 2 files" in result.output and "8 histograms" in result.output
    merged = read_results(out)["twoparcorcombexample"]["hZvertex"]
    assert merged.entries == 2 * 7640


def test_merge_ao2d_reports_dataframes_as_json(tmp_path):
    src = tmp_path / "AO2D_in.root"
    with AO2DWriter(src) as w:
        w.write_dataframe(1, {"O2collision": {"fPosZ": np.zeros(3, dtype=np.float32)}})
    out = tmp_path / "AO2D.root"
    result = runner.invoke(app, ["merge", "--json", str(out), str(src), str(src)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kind"] == "ao2d" and report["dataframes"] == 2
    assert report["renamed"] == {f"{src}:DF_1": "DF_2"}


def test_bad_input_exits_2_with_the_file_named(realdata, tmp_path):
    out = tmp_path / "merged.root"
    missing = tmp_path / "nope.root"
    result = runner.invoke(app, ["merge", str(out), str(realdata / REAL_RESULTS), str(missing)])
    assert result.exit_code == 2
    assert f"input file not found: {missing}" in result.output
    assert not out.exists()
    result = runner.invoke(app, ["merge", str(out)])
    assert result.exit_code == 2 and "no input files" in result.output
    garbage = tmp_path / "garbage.root"
    garbage.write_text("not root")
    result = runner.invoke(app, ["merge", str(out), str(garbage)])
    assert result.exit_code == 2
    assert "garbage.root: not a readable ROOT file" in result.output


def test_real_subprocess(realdata, tmp_path):
    exe = Path(sys.executable).parent / "hyperloop"
    out = tmp_path / "merged.root"
    src = realdata / REAL_RESULTS
    proc = subprocess.run(
        [str(exe), "merge", str(out), str(src), str(src), str(src)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "merged 3 files" in proc.stdout
    assert read_results(out)["twoparcorcombexample"]["hChargedPt"].entries == 3 * 15580


def test_results_with_a_tree_are_merged_tree_included(realdata, tmp_path):
    src = realdata / "results" / "run3_list_with_ttree.root"
    out = tmp_path / "merged.root"
    result = runner.invoke(app, ["merge", str(out), str(src), str(src)])
    assert result.exit_code == 0, result.output
    assert "542 histograms, 1 trees" in result.output
    with uproot.open(out) as f:
        assert f["Tree_AS_Event"].num_entries == 24
        assert len(f["TRD_Digits_output"]) == 542


def test_unmergeable_tree_fails_with_its_path_unless_copy_is_asked(tmp_path):
    paths = []
    for i, branch in enumerate(["x", "y"]):
        paths.append(tmp_path / f"{i}.root")
        with uproot.recreate(paths[-1]) as f:
            f.mktree("events", {branch: "f8"})
            f["events"].extend({branch: np.arange(3.0)})
    out = tmp_path / "merged.root"
    result = runner.invoke(app, ["merge", str(out), *map(str, paths)])
    assert result.exit_code == 2
    assert "events" in result.output and "--copy-unmergeable" in result.output
    assert not out.exists()
    result = runner.invoke(app, ["merge", "--copy-unmergeable", str(out), *map(str, paths)])
    assert result.exit_code == 0, result.output
    assert "not carried into the output: events (TTree" in result.output


def test_truncated_input_is_refused(realdata, tmp_path):
    src = realdata / REAL_RESULTS
    cut = tmp_path / "cut.root"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    result = runner.invoke(app, ["merge", str(tmp_path / "out.root"), str(src), str(cut)])
    assert result.exit_code == 2 and str(cut) in result.output
    assert not (tmp_path / "out.root").exists()


def test_results_lists_every_object_with_its_path(realdata):
    result = runner.invoke(
        app, ["results", str(realdata / "results" / "run2_duplicate_names.root")]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["output", "TList", "692"]
    assert len([ln for ln in lines if ln.startswith("output/hPsiRDM ")]) == 2
    assert len(lines) == 693
    result = runner.invoke(
        app, ["results", str(realdata / "results" / "run3_list_with_ttree.root")]
    )
    assert "Tree_AS_Event" in result.output and "12 entries" in result.output
    assert "TRD_Digits_output/h_ADC_vs_time_539" in result.output


def test_corrupt_input_is_refused(realdata, tmp_path):
    src = realdata / REAL_RESULTS
    bad = tmp_path / "bad.root"
    data = bytearray(src.read_bytes())
    with uproot.open(src) as f:
        key = f["twoparcorcombexample"].key("hChargedPt")
        start = key.data_cursor.index
    data[start + 20 : start + 60] = bytes(40)  # inside the compressed histogram
    bad.write_bytes(bytes(data))
    result = runner.invoke(app, ["merge", str(tmp_path / "out.root"), str(src), str(bad)])
    assert result.exit_code == 2, result.output
    assert str(bad) in result.output and "hChargedPt" in result.output
    assert not (tmp_path / "out.root").exists()
