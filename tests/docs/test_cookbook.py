"""The cookbook recipes (docs/examples/cookbook_*.py) run on the real UD file, and their
results agree with the same quantities computed straight from the file with uproot."""

from __future__ import annotations

import numpy as np
import pytest
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


def _naive_mixed_masses(depth: int) -> tuple[list[float], list[float], list[int]]:
    """Same-event and mixed-event opposite-sign pair masses of two-track UD collisions, by
    a plain loop over each dataframe's collisions (mixing never crosses dataframes)."""
    recipe = load_example("cookbook_mixing")
    z_edges, n_edges = [-15.0, -5.0, 0.0, 5.0, 15.0], [2, 3, 10]
    same, mixed, bins_of_pairs = [], [], []
    with uproot.open(UD_FILE) as f:
        for df in (k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_")):
            t = f[df]["O2udtrack"].arrays(
                ["fIndexUDCollisions", "fPx", "fPy", "fPz", "fSign"], library="np"
            )
            c = f[df]["O2udcollision"].arrays(["fPosZ", "fNumContrib"], library="np")
            tracks_of = [
                np.flatnonzero(t["fIndexUDCollisions"] == i) for i in range(len(c["fPosZ"]))
            ]

            def mass(i: int, j: int, t=t) -> float:
                rows = np.array([i]), np.array([j])
                return float(recipe.pair_mass(t, *rows)[0])

            bins = []
            for i, rows in enumerate(tracks_of):
                if len(rows) == 2 and t["fSign"][rows[0]] * t["fSign"][rows[1]] < 0:
                    same.append(mass(rows[0], rows[1]))
                z, n = c["fPosZ"][i], c["fNumContrib"][i]
                zb = [k for k in range(4) if z_edges[k] <= z < z_edges[k + 1]]
                nb = [k for k in range(2) if n_edges[k] <= n < n_edges[k + 1]]
                two = len(rows) == 2
                bins.append(zb[0] * 2 + nb[0] if zb and nb and two else -1)
            for b in sorted(set(bins) - {-1}):
                members = [i for i, x in enumerate(bins) if x == b]
                for k, c1 in enumerate(members):
                    for c2 in members[k + 1 : k + 1 + depth]:
                        bins_of_pairs.append(b)
                        for a in tracks_of[c1]:
                            for d in tracks_of[c2]:
                                if t["fSign"][a] * t["fSign"][d] < 0:
                                    mixed.append(mass(a, d))
    return same, mixed, bins_of_pairs


@pytest.mark.parametrize(("cores", "mode"), [(1, "inprocess"), (2, "dataframes")])
def test_mixing_recipe_gives_the_mixed_event_background_of_a_naive_loop(tmp_path, cores, mode):
    """Mixing stays within a dataframe: with the dataframes split over two worker
    processes the pairs are the same as in one process."""
    from hyperloop.analysis.plan import pipeline_blocker

    recipe = load_example("cookbook_mixing")
    assert pipeline_blocker(recipe.MixedMass()) is None  # not serial: every worker mixes
    result = recipe.run(str(UD_FILE), str(tmp_path / "out"), n_mix=2, cores=cores, mode=mode)
    assert result.exit_code == 0
    same, mixed, bins = _naive_mixed_masses(depth=2)
    with uproot.open(result.outputs["AnalysisResults"]) as f:
        d = f["mixed-mass"]
        expected_same, _ = np.histogram(same, bins=40, range=(0.0, 2.0))
        expected_mixed, _ = np.histogram(mixed, bins=40, range=(0.0, 2.0))
        assert d["hMassSame"].values().tolist() == expected_same.tolist()
        assert d["hMassMixed"].values().tolist() == expected_mixed.tolist()
        assert d["hMassMixed"].values().sum() > d["hMassSame"].values().sum() / 2 > 20
        assert d["hMixingBin"].values().tolist() == np.bincount(bins, minlength=8).tolist()


def _ud_frames():
    with uproot.open(UD_FILE) as f:
        for df in (k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_")):
            yield (
                f[df]["O2udcollision"].arrays(library="np"),
                f[df]["O2udtrack"].arrays(library="np"),
                f[df]["O2udtrackextra"].arrays(library="np"),
                f[df]["O2udtrackpid"].arrays(library="np"),
            )


def test_join_recipe_reads_columns_of_three_row_aligned_tables(tmp_path):
    recipe = load_example("cookbook_join")
    result = recipe.run(str(UD_FILE), str(tmp_path / "out"), min_tpc_ncls=60)
    assert result.exit_code == 0
    pt, signal, nsigma = [], [], []
    for _, track, extra, pid in _ud_frames():
        found = extra["fTPCNClsFindable"].astype(int) - extra["fTPCNClsFindableMinusFound"]
        keep = found >= 60
        pt.append(np.hypot(track["fPx"], track["fPy"])[keep])
        signal.append(extra["fTPCSignal"][keep])
        nsigma.append(pid["fTPCNSigmaPi"][keep])
    pt, signal, nsigma = map(np.concatenate, (pt, signal, nsigma))
    all_tracks = sum(len(t["fPx"]) for _, t, _, _ in _ud_frames())
    assert 0 < len(pt) < all_tracks  # the cut on a column of the joined table selects
    with uproot.open(result.outputs["AnalysisResults"]) as f:
        d = f["joined-tracks"]
        expected, _, _ = np.histogram2d(pt, signal, bins=(50, 100), range=((0, 2.5), (0, 200)))
        assert d["hTPCSignal"].values().tolist() == expected.tolist()
        expected, _ = np.histogram(nsigma, bins=40, range=(-10, 10))
        assert d["hNSigmaPi"].values().tolist() == expected.tolist()


def test_combinations_recipe_gives_the_pairs_and_triplets_of_a_naive_loop(tmp_path):
    from itertools import combinations, product

    recipe = load_example("cookbook_combinations")
    result = recipe.run(str(UD_FILE), str(tmp_path / "out"))
    assert result.exit_code == 0
    every, like, pos_neg, n_pairs, charge = [], [], [], [], []
    for coll, t, _, _ in _ud_frames():
        for i in range(len(coll["fPosZ"])):
            rows = np.flatnonzero(t["fIndexUDCollisions"] == i)
            pairs = list(combinations(rows, 2))
            n_pairs.append(len(pairs))
            for a, b in pairs:
                m = float(recipe.mass(t, np.array([a]), np.array([b]))[0])
                every.append(m)
                if t["fSign"][a] == t["fSign"][b]:
                    like.append(m)
            pos, neg = rows[t["fSign"][rows] > 0], rows[t["fSign"][rows] < 0]
            pos_neg += [
                float(recipe.mass(t, np.array([a]), np.array([b]))[0]) for a, b in product(pos, neg)
            ]
            charge += [int(t["fSign"][list(c)].sum()) for c in combinations(rows, 3)]
    assert len(charge) > 100 and len(like) > 100  # collisions with 3 to 6 tracks
    with uproot.open(result.outputs["AnalysisResults"]) as f:
        d = f["track-combinations"]
        for name, values in (
            ("hMassAll", every),
            ("hMassLikeSign", like),
            ("hMassPosNeg", pos_neg),
        ):
            expected, _ = np.histogram(values, bins=40, range=(0, 4))
            assert d[name].values().tolist() == expected.tolist(), name
        expected, _ = np.histogram(n_pairs, bins=16, range=(-0.5, 15.5))
        assert d["hPairsPerCollision"].values().tolist() == expected.tolist()
        expected, _ = np.histogram(charge, bins=7, range=(-3.5, 3.5))
        assert d["hTripletCharge"].values().tolist() == expected.tolist()


def test_derived_table_recipe_saves_the_selected_rows_with_their_index_remapped(tmp_path):
    recipe = load_example("derived_table")
    assert recipe.main(str(UD_FILE), str(tmp_path)) == 0
    z_kept, px_kept, tracks_of_event = [], [], []
    for coll, t, _, _ in _ud_frames():
        counts = np.bincount(t["fIndexUDCollisions"], minlength=len(coll["fPosZ"]))
        keep = (counts == 2) & (np.abs(coll["fPosZ"]) < 15.0)
        z_kept.append(coll["fPosZ"][keep])
        px_kept.append(t["fPx"][keep[t["fIndexUDCollisions"]]])
    z_kept, px_kept = np.concatenate(z_kept), np.concatenate(px_kept)
    z_saved, px_saved, z_of_track = [], [], []
    with uproot.open(tmp_path / "skim" / "AO2D.root") as f:
        for df in (k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_")):
            events = f[df]["O2twotrackevent"].arrays(library="np")
            tracks = f[df]["O2twotracktrack"].arrays(library="np")
            z_saved.append(events["fPosZ"])
            px_saved.append(tracks["fPx"])
            idx = tracks["fIndexTwoTrackEvents"]
            tracks_of_event.append(np.bincount(idx, minlength=len(events["fPosZ"])))
            z_of_track.append(events["fPosZ"][idx])  # the index points into the saved table
    assert np.concatenate(z_saved).tolist() == z_kept.tolist()
    assert np.concatenate(px_saved).tolist() == px_kept.tolist()
    assert set(np.concatenate(tracks_of_event).tolist()) == {2}
    assert np.repeat(z_kept, 2).tolist() == np.concatenate(z_of_track).tolist()
    assert 0 < len(z_kept) < sum(len(c["fPosZ"]) for c, _, _, _ in _ud_frames())
