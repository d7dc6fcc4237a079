"""Comparisons shared by the grid, scheduler and end-to-end tests: the configuration of a\nlocal reference run, the run itself, and histograms of results files (inputs and worlds are\nin ``tests/factories.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import uproot


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
