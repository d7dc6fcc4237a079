"""The code examples the documentation includes run and do what the text says."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import uproot
from tests.docs.conftest import DOCS, EXAMPLES, UD_FILE

PYTHON = sys.executable


def load_example(name: str) -> ModuleType:
    """Import docs/examples/NAME.py without leaving __pycache__ in the docs folder."""
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    previous, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = previous
    return module


def run_example(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [PYTHON, *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=300
    )
    assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_my_workflow_finds_the_rho_peak_in_the_real_ud_file(tmp_path):
    proc = run_example(str(EXAMPLES / "my_workflow.py"), str(UD_FILE), str(tmp_path / "out"))
    pairs, peak = proc.stdout.split(" pairs, most populated bin at ")
    assert int(pairs) > 20
    assert 0.6 < float(peak.split()[0]) < 0.9  # rho0(770)
    for name in ("AnalysisResults.root", "performanceMetrics.json", "metrics_summary.json"):
        assert (tmp_path / "out" / name).is_file()


def test_configurables_tour_prints_every_type_and_refuses_bad_values():
    out = run_example(str(EXAMPLES / "configurables_tour.py")).stdout
    for kind in (
        "bool",
        "int",
        "float",
        "string",
        "fixed-array",
        "variable-array",
        "matrix",
        "labelled-matrix",
        "binning",
    ):
        assert f" {kind} " in out, kind
    assert out.count("refused:") == 3
    assert "did you mean 'ptMin'" in out
    assert "variable binning edges: [0.0, 0.5, 1.0, 2.0, 5.0]" in out


@pytest.mark.slow
def test_derived_table_example_writes_an_ao2d_a_second_train_reads(tmp_path):
    out = run_example(str(EXAMPLES / "derived_table.py"), str(UD_FILE), str(tmp_path)).stdout
    assert "all with 2 tracks" in out
    derived = tmp_path / "skim" / "AO2D.root"
    with uproot.open(derived) as f:
        frame = next(k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_"))
        assert {"O2twotrackevent", "O2twotracktrack"} <= {
            k.split(";")[0] for k in f[frame].keys(recursive=False)
        }


@pytest.mark.slow
def test_full_config_example_runs_with_hyperloop_run_train(tmp_path):
    inputs = tmp_path / "input_data.txt"
    inputs.write_text(f"{UD_FILE}\n")
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            PYTHON,
            "-m",
            "hyperloop",
            "run-train",
            str(EXAMPLES / "full_config_ud_rho.json"),
            "--input",
            str(inputs),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1/1 files ok" in proc.stdout
    with uproot.open(out / "AnalysisResults.root") as f:
        dirs = {k.split(";")[0] for k in f.keys(recursive=False)}
    assert {"ud-rho", "ud-rho_tightpid"} <= dirs  # the subwagon's suffix names its directory
    # the file-formats reference names every key and metric these files really have
    formats = (DOCS / "reference" / "file-formats.md").read_text()
    for key in json.loads((out / "full_config.json").read_text()):
        assert f"`{key}`" in formats, f"full_config.json key {key} undocumented"
    summary = json.loads((out / "metrics_summary.json").read_text())
    for key in [*summary["__full_train__"], *summary["ud-rho"]]:
        assert f'"{key}"' in formats, f"metrics_summary.json key {key} undocumented"
    metrics = json.loads((out / "performanceMetrics.json").read_text())
    for device, series in metrics.items():
        assert f"`{device}`" in formats or device in ("ud-rho", "ud-rho_tightpid")
        for name in series:
            assert f"`{name}`" in formats, f"performanceMetrics.json metric {name} undocumented"


@pytest.mark.slow
def test_api_walkthrough_creates_uploads_enables_and_starts_a_test(api_client, api_world):
    api_walkthrough = load_example("api_walkthrough")
    out = api_walkthrough.walkthrough(
        api_client, api_world.analysis_id, api_world.dataset_id, EXAMPLES / "wagon_ud_rho.json"
    )
    wagon = out["wagon"]
    uploaded = json.loads((EXAMPLES / "wagon_ud_rho.json").read_text())
    assert wagon["base_config"]["ud-rho"]["maxVertexZ"] == uploaded["base"]["ud-rho"]["maxVertexZ"]
    assert set(wagon["subwagons"]) == {"tightpid", "coherent"}
    assert out["enabling"]["enabled"] is True
    tests = out["tests"]
    items = tests["items"] if isinstance(tests, dict) else tests
    assert items, "enabling must start a wagon test"


def test_jobqueue_example_reserves_8_cores_once_and_shares_them_among_jobs():
    """The batch job asks for 8 CPUs exactly once, and its worker has a thread per core and
    offers them as the ``cores`` resource (8 one-core jobs or 4 two-core jobs at once)."""
    jobqueue_cluster = load_example("jobqueue_cluster")
    for kind, reserve in (("slurm", "#SBATCH --cpus-per-task=8"), ("htcondor", "Cores = 8")):
        cluster = jobqueue_cluster.make_cluster(kind, submit=False)
        try:
            script = cluster.job_script()
            assert cluster.scheduler_address.startswith("tcp://")
        finally:
            cluster.close()
        assert reserve in script
        directives = [ln for ln in script.splitlines() if "dask_worker" not in ln]
        asks = [ln for ln in directives if re.search(r"cpus|cores", ln, re.I)]
        assert len([ln for ln in asks if re.search(r"\d", ln)]) == 1, asks  # not 1 and 8
        assert "--nthreads 8" in script and "--resources cores=8" in script


def test_jobqueue_example_without_a_batch_system_stops_at_once_saying_why(tmp_path):
    """No ``sbatch`` on the node: exit non-zero with one sentence, no traceback, no wait."""
    script = EXAMPLES / "jobqueue_cluster.py"
    env = {**os.environ, "PATH": str(tmp_path)}  # a node without the batch system's tools
    proc = subprocess.run(
        [sys.executable, str(script), "slurm"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "sbatch not found on this node" in proc.stderr
    assert "Traceback" not in proc.stderr
