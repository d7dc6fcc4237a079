"""The cookbook recipes (docs/examples/cookbook_*.py) run on the real UD file, and their
results agree with the same quantities computed straight from the file with uproot."""

from __future__ import annotations

import numpy as np
import uproot
from tests.docs.conftest import UD_FILE
from tests.docs.test_examples import load_example


def _ud_tracks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pT of every track, its collision's track count, and each collision's z, from uproot."""
    pts, mults, zs = [], [], []
    with uproot.open(UD_FILE) as f:
        for df in (k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_")):
            tracks = f[df]["O2udtrack"].arrays(["fPx", "fPy", "fIndexUDCollisions"], library="np")
            z = f[df]["O2udcollision"]["fPosZ"].array(library="np")
            idx = tracks["fIndexUDCollisions"].astype(np.int64)
            counts = np.bincount(idx, minlength=len(z))
            pts.append(np.hypot(tracks["fPx"], tracks["fPy"]))
            mults.append(counts[idx])
            zs.append(np.column_stack([z, counts]))
    return np.concatenate(pts), np.concatenate(mults), np.concatenate(zs)


def test_histogram_kinds_recipe_writes_profiles_labels_sparse_and_clones(tmp_path):
    recipe = load_example("cookbook_histograms")
    result = recipe.run(str(UD_FILE), str(tmp_path / "out"))
    assert result.exit_code == 0
    pt, mult, events = _ud_tracks()
    with uproot.open(result.outputs["AnalysisResults"]) as f:
        d = f["mean-pt-vs-mult"]
        profile = d["data/pMeanPt"]
        assert profile.classname == "TProfile"
        means, counts = profile.values(), profile.counts(flow=False)
        for n in (2, 3, 4):  # <pT> of tracks in collisions with n tracks
            sel = mult == n
            assert counts[n] == sel.sum()
            assert np.isclose(means[n], pt[sel].mean(), rtol=1e-5)
        assert d["data/pMeanPtEta"].classname == "TProfile2D"
        weighted = d["data/hPtWeighted"]
        in_range = pt < 5.0
        assert np.isclose(weighted.values().sum(), (1.0 / pt[in_range]).sum(), rtol=1e-5)
        assert np.isclose(weighted.variances().sum(), (1.0 / pt[in_range] ** 2).sum(), rtol=1e-5)
        assert d["data/hSparse"].classname.startswith("THnSparse")
        cuts = d["hCutFlow"]
        assert cuts.axis().labels() == ["all", "|z| < 10 cm", "2 tracks"]
        z_ok = np.abs(events[:, 0]) < 10
        assert cuts.values().tolist() == [
            len(events),
            z_ok.sum(),
            (z_ok & (events[:, 1] == 2)).sum(),
        ]
        clone = d["opposite-sign/pMeanPt"]  # addClone: same binning, its own fills
        assert clone.classname == "TProfile" and 0 < clone.counts().sum() < counts.sum()


def test_navigation_recipe_matches_tracks_to_particles_and_mothers(tmp_path):
    recipe = load_example("cookbook_navigation")
    tables = recipe.write_mc_file(tmp_path / "AO2D_mc.root")
    result = recipe.run(str(tmp_path / "AO2D_mc.root"), str(tmp_path / "out"))
    assert result.exit_code == 0
    pdg, mothers, z_of_tracks, n_tracks = [], [], [], []
    for t in tables.values():
        labels = t["O2mctracklabel"]["fIndexMcParticles"]
        codes = t["O2mcparticle_001"]["fPdgCode"]
        moms = t["O2mcparticle_001"]["fIndexArray_Mothers"]
        pdg += [abs(codes[i]) for i in labels if i >= 0]
        mothers += [abs(codes[moms[i][0]]) for i in labels if i >= 0 and len(moms[i])]
        coll = t["O2track"]["fIndexCollisions"]
        z_of_tracks += [t["O2collision_001"]["fPosZ"][c] for c in coll if c >= 0]
        n_tracks += np.bincount(coll[coll >= 0], minlength=3).tolist()
    with uproot.open(result.outputs["AnalysisResults"]) as f:
        d = f["mc-matching"]
        assert d["hPdg"].values()[[211, 321]].tolist() == [pdg.count(211), pdg.count(321)]
        assert d["hPdg"].values().sum() == len(pdg) == 28
        assert d["hMotherPdg"].values()[113] == len(mothers) == 22  # every pion's rho0
        expected_z, _ = np.histogram(z_of_tracks, bins=20, range=(-10, 10))
        assert d["hTrackZ"].values().tolist() == expected_z.tolist()
        expected_n, _ = np.histogram(n_tracks, bins=10, range=(-0.5, 9.5))
        assert d["hNTracks"].values().tolist() == expected_n.tolist()
        res = d["hPtRes"]
        near = (res.axis().edges()[:-1] >= -1e-9) & (res.axis().edges()[1:] <= 0.02 + 1e-9)
        assert res.values()[near].sum() == res.values().sum() == 28  # every pT x 1.01
        assert d["hMaxPt"].values().sum() == sum(1 for n in n_tracks if n)


def test_filters_recipe_selects_collisions_and_tracks_and_skips_empty_dataframes(tmp_path):
    recipe = load_example("cookbook_filters")
    result = recipe.run(str(UD_FILE), str(tmp_path / "out"), z_max=2.0)
    assert result.exit_code == 0
    z_sel, pt, sign, passing_dfs = [], [], [], 0
    with uproot.open(UD_FILE) as f:
        for df in (k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_")):
            z = f[df]["O2udcollision"]["fPosZ"].array(library="np")
            t = f[df]["O2udtrack"].arrays(
                ["fPx", "fPy", "fPz", "fSign", "fIndexUDCollisions"], library="np"
            )
            good = np.abs(z) < 2.0
            passing_dfs += bool(good.any())
            z_sel.append(z[good])
            tpt = np.hypot(t["fPx"], t["fPy"])
            eta = np.arcsinh(t["fPz"] / tpt)
            keep = (np.abs(eta) < 0.9) & (tpt > 0.1) & good[t["fIndexUDCollisions"]]
            pt.append(tpt[keep])
            sign.append(t["fSign"][keep])
    pt, sign = np.concatenate(pt), np.concatenate(sign)
    assert 0 < passing_dfs < 43  # some dataframes have no collision within 2 cm
    with uproot.open(result.outputs["AnalysisResults"]) as f:
        d = f["filtered-spectra"]
        assert d["hCalls"].values().sum() == passing_dfs  # the others were skipped
        assert d["hZ"].values().sum() == len(np.concatenate(z_sel))
        expected, _ = np.histogram(pt, bins=50, range=(0, 5))
        assert d["hPt"].values().tolist() == expected.tolist()
        pos, _ = np.histogram(pt[sign > 0], bins=50, range=(0, 5))
        neg, _ = np.histogram(pt[sign < 0], bins=50, range=(0, 5))
        assert d["hPtPos"].values().tolist() == pos.tolist()
        assert d["hPtNeg"].values().tolist() == neg.tolist()
        assert pos.sum() + neg.sum() == len(pt) > 0


def test_conditions_recipe_reads_the_field_of_each_run_once_per_run(tmp_path):
    recipe = load_example("cookbook_conditions")
    tables = recipe.write_file(tmp_path / "AO2D_runs.root")
    result = recipe.run(str(tmp_path / "AO2D_runs.root"), str(tmp_path / "out"))
    assert result.exit_code == 0
    runs = np.concatenate(
        [t["O2bc_001"]["fRunNumber"][t["O2collision_001"]["fIndexBCs"]] for t in tables.values()]
    )
    field = np.where(runs == 523309, -5.0, 5.0)  # the built-in conditions of these runs
    expected, _ = np.histogram(field, bins=20, range=(-10, 10))
    with uproot.open(result.outputs["AnalysisResults"]) as f:
        d = f["field-per-run"]
        assert d["hBz"].values().tolist() == expected.tolist()
        assert (runs == 523309).any() and (runs != 523309).any()
        assert d["hMip"].values()[50] == len(tables)  # the calibration's MIP signal, 50
    calls = {d.name: d.conditions_calls for d in result.devices}
    # two dataframes of two runs: the field once per run, the calibration once, the rest cached
    assert calls["field-per-run"] == 3
