"""A small outputs folder for page tests: the real O2 results file, one of ours with
TH1D/TH2D/THnD (written by our own writer), a performanceMetrics.json (ours, from
``performance_metrics``), an O2-style metrics file and a speedscope profile.

The output browser serves only the outputs of objects the user may read, so the files lie
in the work folder of train run 1 (``TRAIN``, ``RUN``), which ``seed_train`` creates; apps
over them set ``work_dir`` to ``<root>/work``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import hist
import numpy as np

from hyperloop.analysis.metrics import DeviceMetrics, performance_metrics
from hyperloop.analysis.results import HistogramOutput, write_results

N_DEVICES = 13
TRAIN = "work/trains/1"  # train run 1's folder, relative to the outputs root
RUN = f"{TRAIN}/output"


def _ours_results(path: Path) -> None:
    rng = np.random.default_rng(7)
    pt = hist.Hist(
        hist.axis.Regular(40, 0, 10, label="p_{T} (GeV/c)"), storage=hist.storage.Weight()
    )
    pt.fill(rng.exponential(1.5, 5000))
    etaphi = hist.Hist(
        hist.axis.Regular(20, -1, 1, label="#eta"), hist.axis.Regular(18, 0, 6.3, label="#varphi")
    )
    etaphi.fill(rng.uniform(-1, 1, 4000), rng.uniform(0, 6.3, 4000))
    thn = hist.Hist(
        hist.axis.Regular(10, 0, 10, label="p_{T}"),
        hist.axis.Regular(8, -0.8, 0.8, label="#eta"),
        hist.axis.Regular(5, 0, 100, label="centrality"),
        hist.axis.Regular(2, -2, 2, label="charge"),
    )
    thn.fill(
        rng.exponential(2, 3000),
        rng.uniform(-0.8, 0.8, 3000),
        rng.uniform(0, 100, 3000),
        rng.choice([-1.0, 1.0], 3000),
    )
    write_results(
        path,
        {
            "spectra": {
                "hPt": HistogramOutput(pt, entries=5000, title="charged p_{T}"),
                "hEtaPhi": HistogramOutput(etaphi, entries=4000, title="#eta vs #varphi"),
            },
            "spectra/sparse": {"hPtEtaCent": HistogramOutput(thn, entries=3000, title="THnD")},
        },
    )


def _ours_metrics() -> dict:
    devices = []
    t0 = 1_795_962_681_335
    for i in range(N_DEVICES):
        dev = DeviceMetrics(name=f"task-{i:02d}")
        for k in range(8):
            ts = t0 + 1000 * k
            dev.record("cpuUsedAbsolute", ts, (i + 1) * 1000 * k)
            dev.record("proportionalSetSize", ts, 10_000 * (i + 1) + 500 * k)
        devices.append(dev)
    reader = DeviceMetrics(name="internal-dpl-aod-reader")
    for k in range(8):
        ts = t0 + 1000 * k
        reader.record("proportionalSetSize", ts, 20_000)
        reader.record("aod-bytes-read-compressed", ts, 1_000_000 * k)
    reader.files_read = ["/data/AO2D.root"]
    return performance_metrics([*devices, reader], {"wall": 7.0})


def _o2_metrics() -> dict:
    """Layout of a real O2 file: string timestamps and values, a driver with series."""
    out = {}
    for name in ("internal-dpl-aod-reader", "track-selection", "my-task", "driver"):
        out[name] = {
            "cpuUsedAbsolute": [
                {"timestamp": str(1700000000000 + 500 * k), "value": str(2000 * k)}
                for k in range(6)
            ],
            "proportionalSetSize": [
                {"timestamp": str(1700000000000 + 500 * k), "value": str(150000 + 10 * k)}
                for k in range(6)
            ],
        }
    out["internal-dpl-aod-reader"]["aod-file-read-info"] = [
        {"timestamp": "1700000000000", "value": "file=AO2D.root,size=100"}
    ]
    return out


def _profile() -> dict:
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": [{"name": "process"}, {"name": "fill_histograms"}]},
        "profiles": [
            {
                "type": "evented",
                "name": "track-selection",
                "unit": "milliseconds",
                "startValue": 0,
                "endValue": 10,
                "events": [
                    {"type": "O", "frame": 0, "at": 0},
                    {"type": "O", "frame": 1, "at": 2},
                    {"type": "C", "frame": 1, "at": 8},
                    {"type": "C", "frame": 0, "at": 10},
                ],
            }
        ],
        "name": "track-selection profile",
        "exporter": "hyperloop tests",
    }


def make_outputs(root: Path, realdata: Path) -> Path:
    """Fill ``root`` with the sample outputs; return it."""
    train = root / TRAIN
    run = root / RUN
    run.mkdir(parents=True)
    shutil.copy(realdata / "AnalysisResults_o2_twopartcorr.root", train / "AnalysisResults_o2.root")
    _ours_results(run / "AnalysisResults.root")
    (run / "performanceMetrics.json").write_text(json.dumps(_ours_metrics()))
    (train / "performanceMetrics_o2.json").write_text(json.dumps(_o2_metrics()))
    (run / "profile.speedscope.json").write_text(json.dumps(_profile()))
    (run / "stdout.log").write_text("hello\n")
    return root


def seed_train(url: str) -> int:
    """Train run 1 (with the dataset, tag and target it needs) in the database at ``url``,
    the object the sample outputs belong to."""
    from hyperloop.db import models as m
    from hyperloop.db.session import make_engine, make_sessionmaker

    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as s:
        dataset = m.Dataset(name="LHC-sample-outputs")
        tag = m.PackageTag(name="physics", version="0.0.1", artifact="", introspection={})
        target = m.Target(name="sample-outputs")
        s.add_all([dataset, tag, target])
        s.flush()
        train = m.TrainRun(id=1, dataset_id=dataset.id, tag_id=tag.id, target_id=target.id)
        s.add(train)
    engine.dispose()
    return 1
