"""Derived data: skim-tracks writes a self-contained AO2D that a second train analyses to
the same histograms as the analysis of the parent data."""

from __future__ import annotations

import numpy as np
import pytest
import uproot

pytestmark = pytest.mark.slow

SERVICES = ("track-propagation", "event-selection", "track-selection", "multiplicity")


@pytest.fixture(scope="module")
def parent(session_train, mc_dataset):
    return session_train(
        (*SERVICES, "spectra-charged", "skim-tracks"),
        mc_dataset,
        derived_tables=("O2skimcollision", "O2skimtrack"),
    )


def test_skimmed_file_holds_the_selected_collisions_and_remapped_track_indices(parent):
    sel8 = dict(
        zip(
            parent.histos["event-selection"]["hCutFlow"].axes[0].labels,
            parent.histos["event-selection"]["hCutFlow"].values(),
            strict=True,
        )
    )["sel8"]
    n_coll = n_trk = 0
    with uproot.open(parent.derived) as f:
        dfs = [k.split(";")[0] for k in f.keys(recursive=False) if k.startswith("DF_")]
        assert len(dfs) == 8
        for df in dfs:
            assert sorted(f[df].keys(cycle=False)) == ["O2skimcollision", "O2skimtrack"]
            coll = f[df]["O2skimcollision"].arrays(library="np")
            trk = f[df]["O2skimtrack"].arrays(library="np")
            idx = trk["fIndexSkimCollisions"]
            assert idx.dtype == np.int32
            assert idx.min() >= 0 and idx.max() < len(coll["fPosZ"])
            assert np.all(np.diff(idx) >= 0)
            # each skimmed collision keeps exactly the global tracks its multiplicity counted
            central = np.abs(trk["fEta"]) < 0.8
            counted = np.bincount(idx[central], minlength=len(coll["fPosZ"]))
            np.testing.assert_array_equal(counted, coll["fMultNTracksEta08"])
            n_coll += len(coll["fPosZ"])
            n_trk += len(idx)
    assert n_coll == sel8
    assert n_trk > 5 * n_coll


def test_a_second_train_on_the_skim_gives_the_parent_histograms(parent, session_train):
    from hyperloop_physics.tables import derived_registry

    child = session_train(("spectra-skimmed",), [parent.derived], registry=derived_registry())
    mine, theirs = child.histos["spectra-skimmed"], parent.histos["spectra-charged"]
    assert set(mine) == set(theirs)
    for name, h in theirs.items():
        assert h.values().sum() > 0, name
        np.testing.assert_array_equal(
            mine[name].values(flow=True), h.values(flow=True), err_msg=name
        )
        assert mine[name].entries == h.entries, name
