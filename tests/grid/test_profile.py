"""A test attempt keeps a speedscope profile of the whole job (SPEC §4), taken by py-spy
from outside the job: the job's results are those of an unprofiled run."""

from __future__ import annotations

import json

from tests.grid.helpers import assert_same_histograms, config

from hyperloop.grid.execute import PROFILE_FILE, attempt_folder, execute_attempt
from hyperloop.grid.splitting import JobSpec
from hyperloop.grid.targets import Target


def test_profiled_attempt_writes_a_speedscope_file_and_the_same_results(
    tmp_path, package_dir, catalogue
):
    run, files = sorted(catalogue.items())[0]
    job = JobSpec(
        job_id="sample",
        run=run,
        index=0,
        files=tuple(p for p, _ in files),
        sizes=tuple(n for _, n in files),
    )
    cfg = config(("gt-pt", {"gt-pt": {"sleepPerDf": "0.3"}}))
    target = Target("test", cores=1)
    profiled = execute_attempt(
        job, cfg, target, tmp_path / "a", 1, package_dir=package_dir, profile=True
    )
    plain = execute_attempt(job, cfg, target, tmp_path / "b", 1, package_dir=package_dir)
    assert profiled.ok and plain.ok, (profiled.message, plain.message)
    folder = attempt_folder(tmp_path / "a", "sample", 1)
    assert (folder / PROFILE_FILE).is_file(), (folder / "profile.log").read_text()
    doc = json.loads((folder / PROFILE_FILE).read_text())
    assert doc["$schema"].startswith("https://www.speedscope.app/")
    frames = [f["name"] for f in doc["shared"]["frames"]]
    # the samples reach into the job's own code, not only the supervisor
    assert "run_train" in frames and "Task.run_dataframe" in frames, frames[:50]
    assert sum(len(p["samples"]) for p in doc["profiles"]) > 10
    assert not (attempt_folder(tmp_path / "b", "sample", 1) / PROFILE_FILE).exists()
    assert_same_histograms(
        folder / "AnalysisResults.root",
        attempt_folder(tmp_path / "b", "sample", 1) / "AnalysisResults.root",
    )
