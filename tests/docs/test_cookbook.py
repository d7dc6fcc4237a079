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
