"""Every workflow copes with dataframes that hold no collisions, tracks or V0s."""

from __future__ import annotations

import numpy as np

from hyperloop.analysis.schema import default_registry

ALL_DATA = (
    "event-selection",
    "track-selection",
    "multiplicity",
    "pid",
    "spectra-charged",
    "mc-spectra",
    "two-particle-correlations",
    "strangeness",
    "skim-tracks",
)


def _empty_tables(o2names):
    registry = default_registry()
    return {
        o2: {
            col: np.zeros(0, dtype=registry.get(o2).dtype(col)) for col in registry.get(o2).columns
        }
        for o2 in o2names
    }


def test_empty_dataframes_give_empty_histograms_and_an_empty_skim(train, tmp_ao2d):
    names = [
        "O2bc_001", "O2collision_001", "O2track", "O2trackextra_002", "O2trackdca", "O2v0_002",
        "O2demov0topo", "O2mccollision_001", "O2mcparticle_001", "O2mctracklabel",
        "O2mccollisionlabel",
    ]  # fmt: skip
    path = tmp_ao2d({1: _empty_tables(names), 2: _empty_tables(names)})
    run = train(ALL_DATA, [path], derived_tables=("O2skimcollision", "O2skimtrack"))
    assert run.result.files[0].dataframes == 2
    spectra = run.histos["spectra-charged"]
    assert spectra["hPt"].values().sum() == 0
    assert run.histos["two-particle-correlations"]["hMixedEvent"].values().sum() == 0


def test_ud_rho_on_an_empty_dataframe(train, tmp_ao2d):
    path = tmp_ao2d({7: _empty_tables(["O2udcollision", "O2udtrack", "O2udtrackpid"])})
    run = train(["ud-rho"], [path])
    assert run.histos["ud-rho"]["hMass"].values().sum() == 0
