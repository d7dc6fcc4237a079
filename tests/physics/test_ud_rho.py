"""The ultra-peripheral rho0 analysis on the real Run 3 UD derived file."""

from __future__ import annotations

import numpy as np
import pytest

MASS_PDG_RHO = 0.77526


def _rebinned(h, factor):
    values = h.values()
    edges = h.axes[0].all_edges()
    n = len(values) // factor * factor
    return values[:n].reshape(-1, factor).sum(axis=1), edges[: n + 1 : factor]


def test_rho0_peak_in_the_real_ud_file(train, ud_file):
    run = train(["ud-rho"], [ud_file])
    h = run.histos["ud-rho"]
    counts, edges = _rebinned(h["hMass"], 5)  # 100 MeV bins
    peak = int(np.argmax(counts))
    assert edges[peak] >= 0.6 and edges[peak + 1] <= 0.9, (counts, edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    window = (centres > 0.5) & (centres < 1.1)
    mean = float((counts[window] * centres[window]).sum() / counts[window].sum())
    assert abs(mean - MASS_PDG_RHO) < 0.1
    # exclusive production: most rho0 candidates are coherent (low pair pT)
    assert h["hMassCoherent"].values().sum() > 0.5 * h["hMass"].values().sum()
    steps = dict(zip(h["hSelection"].axes[0].labels, h["hSelection"].values(), strict=True))
    assert steps["UD collisions"] == 225  # every collision of the 43 dataframes was read
    assert steps["UD collisions"] >= steps["two tracks"] >= steps["charge"] >= steps["pion PID"]
    assert (
        steps["pion PID"] == h["hMass"].values().sum() + h["hMass"].values(flow=True)[[0, -1]].sum()
    )


@pytest.mark.slow
def test_tighter_pion_pid_keeps_fewer_candidates(train, ud_file):
    default = train(["ud-rho"], [ud_file]).histos["ud-rho"]["hMass"].values().sum()
    pid = {
        "labels_rows": ["Pi", "El", "Ka", "Pr"],
        "labels_cols": ["TPC", "TOF"],
        "values": [["1.0", "-1"], ["0", "-1"], ["0", "-1"], ["0", "-1"]],
    }
    tight = train(["ud-rho"], [ud_file], configuration={"ud-rho": {"ud-rho": {"pidCuts": pid}}})
    assert 0 < tight.histos["ud-rho"]["hMass"].values().sum() < default
