"""Helpers shared by the grid tests: test package, catalogue, reference runs, comparisons."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import uproot
from tests.factories import random_dataframe

from hyperloop.analysis.ao2d_writer import AO2DWriter

HERE = Path(__file__).resolve().parent
RUNS = (523308, 523309, 523310)


def make_package(root: Path) -> Path:
    """A package tag folder as ``pip install --target`` leaves it: module + dist-info."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "gridtest_wagons.py", root / "gridtest_wagons.py")
    info = root / "gridtest_wagons-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gridtest-wagons\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[hyperloop.workflows]\ngridtest = gridtest_wagons:WORKFLOWS\n"
    )
    return root


def make_catalogue(root: Path, files_per_run: int = 3, dfs: int = 2, seed: int = 3):
    """``{run: [(path, size)]}`` of small AO2D files, distinct DF ids per file."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cat: dict[int, list[tuple[str, int]]] = {}
    for run in RUNS:
        for i in range(files_per_run):
            path = root / f"{run}" / f"AO2D_{i:03d}.root"
            path.parent.mkdir(exist_ok=True)
            with AO2DWriter(path) as w:
                for d in range(dfs):
                    w.write_dataframe(1000 * i + d, random_dataframe(rng, 30, 12, run=run))
            cat.setdefault(run, []).append((str(path), path.stat().st_size))
    return cat


def config(*workflows, **extra) -> dict:
    """A full_config.json dict with ``(name, {task: {param: value}})`` or plain names."""
    entries = []
    for i, wf in enumerate(workflows):
        name, conf = (wf, {}) if isinstance(wf, str) else wf
        entries.append(
            {"workflow_name": name, "suffix": "", "wagon_id": i + 1, "configuration": conf}
        )
    return {"package_tag": "gridtest-1.0", "workflows": entries, **extra}


def reference_run(config: dict, files: list[str], out: Path, package_dir: Path) -> Path:
    """One plain ``hyperloop run-train`` over all files: the result a train must reproduce."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "cfg.json").write_text(json.dumps(config))
    (out / "in.txt").write_text("\n".join(files) + "\n")
    cmd = [sys.executable, "-m", "hyperloop", "run-train", str(out / "cfg.json")]
    cmd += ["--input", str(out / "in.txt"), "--out", str(out / "o"), "--cores", "1"]
    cmd += ["--package", str(package_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return out / "o" / "AnalysisResults.root"


def histograms(path: str | Path) -> dict[str, tuple[np.ndarray, float]]:
    """Every histogram of a results file: values (with flow) and number of entries."""
    out = {}
    with uproot.open(path) as f:
        for key, cls in f.classnames(cycle=False).items():
            if cls.startswith("TH"):
                h = f[key]
                out[key] = (h.values(flow=True), float(h.member("fEntries")))
    return out


def assert_same_histograms(a: str | Path, b: str | Path) -> None:
    ha, hb = histograms(a), histograms(b)
    assert set(ha) == set(hb)
    for key in ha:
        np.testing.assert_array_equal(ha[key][0], hb[key][0], err_msg=key)
        assert ha[key][1] == hb[key][1], key
