"""Event mixing of the two-particle correlations, counted on a hand-made AO2D: only events
of the same (z_vtx, multiplicity) pool mix, each with at most nMixEvents earlier events,
and the pools carry over from one dataframe to the next."""

from __future__ import annotations

import numpy as np
import pytest

from hyperloop.analysis.schema import default_registry

SERVICES = ("event-selection", "track-selection", "multiplicity")


def _dataframe(vertex_z):
    """Collisions at the given z, each with one trigger (pT 3) and two associated (pT 1.5)."""
    reg = default_registry()
    n = len(vertex_z)

    def table(o2, size, **values):
        cols = {c: np.zeros(size, dtype=dt) for c, dt in reg.get(o2).columns.items()}
        for c, v in values.items():
            cols[c] = np.asarray(v, dtype=cols[c].dtype)
        return cols

    ntrk = 3 * n
    coll = np.repeat(np.arange(n), 3)
    pt = np.tile([3.0, 1.5, 1.5], n)
    phi = np.tile([0.1, 0.3, 2.0], n)
    return {
        "O2bc_001": table("O2bc_001", n),
        "O2collision_001": table("O2collision_001", n, fPosZ=vertex_z, fNumContrib=np.full(n, 10)),
        "O2track": table(
            "O2track", ntrk, fIndexCollisions=coll, fSigned1Pt=1 / pt, fAlpha=phi,
            fTgl=np.tile([0.0, 0.2, -0.3], n),
        ),
        "O2trackextra_002": table(
            "O2trackextra_002", ntrk, fITSClusterSizes=np.full(ntrk, 0x1111111),
            fTPCNClsFindable=np.full(ntrk, 150), fTPCChi2NCl=np.ones(ntrk),
            fITSChi2NCl=np.ones(ntrk), fTPCSignal=np.full(ntrk, 50.0),
        ),
        "O2trackdca": table("O2trackdca", ntrk),
    }  # fmt: skip


@pytest.mark.parametrize(("n_mix", "expected_mixed"), [(5, 22), (2, 16), (1, 10)])
def test_mixing_pairs_only_within_pools_and_across_dataframes(
    train, tmp_ao2d, n_mix, expected_mixed
):
    # pool A: z = 1 cm; pool B: z = -7 cm (multiplicity 3 puts all in the first class)
    path = tmp_ao2d({1: _dataframe([1.0, 1.2, 0.8, -7.0]), 2: _dataframe([1.1, 0.9, -7.5])})
    run = train(
        (*SERVICES, "two-particle-correlations"),
        [path],
        configuration={
            "two-particle-correlations": {"two-particle-correlations": {"nMixEvents": str(n_mix)}}
        },
    )
    h = run.histos["two-particle-correlations"]
    assert h["hTriggerPt"].values().sum() == 7
    assert h["hSameEvent"].values().sum() == 14  # 7 collisions x 1 trigger x 2 associated
    assert h["hMixedEvent"].values().sum() == expected_mixed
    # same event: delta phi of the trigger (0.1) and the associated (0.3, 2.0), wrapped
    # into [-pi/2, 3pi/2): -0.2 and 2pi - 1.9
    dphi = h["hSameEvent"].values().sum(axis=0)
    edges = h["hSameEvent"].axes[1].all_edges()
    expected = np.searchsorted(edges, [-0.2, 2 * np.pi - 1.9]) - 1
    assert dphi[expected].tolist() == [7, 7]
    assert dphi.sum() == 14
