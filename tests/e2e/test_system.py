"""The harness itself, as a user sees it: a wagon created and enabled through the API is
tested, a train of it composed, tested, submitted, run as jobs on the Dask workers and merged,
and its merged histograms equal one plain local run over the same files."""

from __future__ import annotations

import pytest
from tests.e2e.system import System
from tests.grid.helpers import assert_same_histograms, config, reference_run

from hyperloop.db.models import TrainRun


@pytest.mark.slow
def test_a_train_through_the_api_gives_the_result_of_a_local_run(system: System, tmp_path):
    wagon = system.wagon("gt-pt")
    train = system.train([wagon])
    assert system.wait_train(train) == "done"
    jobs = system.get(f"/api/jobs?train_run_id={train}")["items"]
    assert jobs and all(j["state"] == "done" for j in jobs), jobs
    with system.sessions() as s:
        merged = s.get(TrainRun, train).output_dir
    reference = reference_run(config("gt-pt"), system.files, tmp_path / "ref", system.package)
    assert_same_histograms(merged, reference)
