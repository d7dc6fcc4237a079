"""The control-plane and merge benchmarks run end to end on a tiny size: every simulated job
and train reaches done through the real scheduler, the transition count adds up, and our
merge of job outputs equals ROOT's hadd (their speed is not checked here)."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks import control_plane
from benchmarks import merge as merge_bench


@pytest.mark.slow  # ~10-20 s: builds a database and ticks the scheduler until every train is done
def test_control_plane_drives_every_job_and_train_to_done(tmp_path, capsys):
    """Both snapshot modes (incremental, and the full read of every tick) drive their own
    trains to done over a database with finished jobs besides, with the same decisions."""
    out_json = tmp_path / "cp.json"
    args = ["--jobs", "200", "--history", "1500", "--backend", "sqlite"]
    code = control_plane.main(args + ["--floor-updates", "200", "--json", str(out_json)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    results = json.loads(out_json.read_text())
    assert [r["mode"] for r in results] == ["incremental", "full"]
    assert "history: 1,500 done jobs in 2 done trains" in printed
    for result in results:
        assert result["all_done"] and result["history"] == 1500
        jobs, trains = result["jobs"], result["trains"]
        assert jobs == 200 and trains == 2
        moves = result["transitions"]
        # composed -> testing -> test done -> submitted -> running -> merging -> done
        assert moves["train"] == 6 * trains
        attempts = result["attempts"]
        assert moves["job waiting->running"] == moves["job running->done/error"] == attempts
        assert moves["job error->waiting (resubmitted)"] == attempts - jobs > 0  # some failed
        instructions = result["instructions"]
        assert instructions["SubmitJob"] == jobs and instructions["ResubmitJob"] == attempts - jobs
        assert instructions["StartRunMerge"] == result["merges_run"] == jobs // 10
        assert instructions["MarkTrainDone"] == result["merges_final"] == trains
        assert result["total"] == sum(moves.values()) and result["floor_single_per_s"] > 0
        assert len(result["tick_s"]) == result["ticks"] == len(result["snap_s"])
    assert printed.count("every job and train done: yes") == 2
    rates = re.findall(r"([\d,]+) transitions/s", printed)
    assert len(rates) == 2 and all(float(r.replace(",", "")) > 0 for r in rates)
    assert "goal ratio" in printed and re.search(r"tick p50/p95/max +[\d.]+/ *[\d.]+/", printed)
    assert "load average" in printed and "snapshot p50 full / incremental" in printed


def test_simulated_engine_fails_some_first_attempts_and_no_third_one() -> None:
    engine = control_plane.SimulatedEngine()
    first = [engine.outcome(f"job-{i}", 1) for i in range(2000)]
    assert 100 < sum(1 for k in first if k) < 300  # ~9 % of first attempts fail
    assert {k for k in first if k} == {"execution", "memory", "expired", "validation", "lost"}
    assert all(engine.outcome(f"job-{i}", 3) == "" for i in range(2000))


@pytest.mark.root
@pytest.mark.slow  # ~5 s: generates 10 files and starts ROOT's hadd twice
def test_merge_benchmark_outputs_equal_hadd(tmp_path, capsys):
    if not merge_bench.HADD.exists():
        pytest.fail(
            f"ROOT's hadd not found at {merge_bench.HADD}: the merge comparison needs CERN ROOT "
            "from PyPI (`bash scripts/setup.sh --with-root`, which scripts/test.sh runs)"
        )
    code = merge_bench.main(
        ["--files", "10", "--fills", "2000", "--keep", str(tmp_path / "in"), "--real-copies", "2"]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "[big] same outputs as hadd: yes" in printed
    assert "[small] same outputs as hadd: yes" in printed
    assert re.search(r"\[big\] inputs: 10 files, [\d.]+ MB, 13 histograms", printed)
    assert "[small] inputs: 2 copies of run2_duplicate_names.root" in printed
    for shape in ("big", "small"):
        ours = float(re.search(rf"\[{shape}\] ours: ([\d.]+) s", printed).group(1))
        hadd = float(re.search(rf"\[{shape}\] hadd: ([\d.]+) s", printed).group(1))
        ratio = float(re.search(rf"\[{shape}\] .*ratio ours/hadd ([\d.]+)", printed).group(1))
        assert ours > 0 and hadd > 0 and ratio == pytest.approx(ours / hadd, rel=0.05, abs=0.01)


def test_merge_comparison_notices_a_changed_bin(tmp_path) -> None:
    """The same-outputs check is not vacuous: one extra fill in one file is reported."""
    a, b = tmp_path / "a.root", tmp_path / "b.root"
    merge_bench.make_file(a, seed=1, fills=500)
    merge_bench.make_file(b, seed=1, fills=500)
    assert merge_bench.compare(a, b) == []
    merge_bench.make_file(b, seed=2, fills=500)
    problems = merge_bench.compare(a, b)
    assert any("hVertexZ" in p and "contents differ" in p for p in problems)
