"""Files in the real Run 3 layout (versioned tree names) run through the services; a file
holding only tracks at the innermost update point asks for track-propagation by name."""

from __future__ import annotations

import numpy as np
import pytest
from tests.factories import random_dataframe

from hyperloop.analysis.runner import run_train

from .conftest import make_spec


def test_services_run_on_versioned_trees(train, tmp_ao2d):
    rng = np.random.default_rng(3)
    tables = random_dataframe(rng, 40, 10)
    assert {"O2bc_001", "O2collision_001", "O2trackextra_002"} <= set(tables)
    path = tmp_ao2d({1: tables, 2: random_dataframe(rng, 30, 10)})
    run = train(["event-selection", "track-selection"], [path])
    cutflow = run.histos["event-selection"]["hCutFlow"]
    assert cutflow.values()[0] == 70  # every collision of both dataframes was read


def test_tracks_at_the_innermost_point_only_name_the_propagation_service(
    physics, tmp_ao2d, tmp_path
):
    from hyperloop.analysis.plan import build_plan

    rng = np.random.default_rng(4)
    tables = random_dataframe(rng, 10, 5)
    tables["O2track_iu"] = tables.pop("O2track")
    path = tmp_ao2d({1: tables})
    plan = build_plan(make_spec(["event-selection", "track-selection"]), physics)
    result = run_train(plan, [str(path)], tmp_path / "out")
    assert result.exit_code == 1
    (failed,) = result.failed_files
    assert failed.error_type == "MissingTableError"
    assert "has no table O2track (Tracks" in failed.message
    assert "produced by the helper task track-propagation" in failed.message


@pytest.mark.parametrize("tree", ["O2collision", "O2collision_001"])
def test_event_selection_reads_either_collisions_version(train, tmp_ao2d, tree):
    rng = np.random.default_rng(5)
    tables = random_dataframe(rng, 20, 3)
    tables[tree] = tables.pop("O2collision_001")
    run = train(["event-selection"], [tmp_ao2d({1: tables})])
    assert run.histos["event-selection"]["hCutFlow"].values()[0] == 20


def test_derived_data_keeps_the_metadata_of_its_input(train, tmp_path):
    from hyperloop.analysis.ao2d import open_ao2d
    from hyperloop.demo import generate_dataset

    data = generate_dataset(tmp_path / "in", [7], 40, seed=2, events_per_df=20)
    run = train(
        [*("event-selection", "track-selection", "multiplicity"), "skim-tracks"],
        data.paths(),
        derived_tables=("O2skimcollision", "O2skimtrack"),
    )
    with open_ao2d(run.derived) as out, open_ao2d(data.paths()[0]) as src:
        assert out.metadata() == src.metadata()
        assert out.metadata()["DataType"] == "RAW"
