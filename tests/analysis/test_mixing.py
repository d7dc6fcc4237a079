"""Event mixing: binning policy, mixing depth, no collision with itself, pairs as a naive
loop over collisions finds them, no state kept between dataframes."""

from __future__ import annotations

import numpy as np
import pytest

from hyperloop.analysis.configurables import ConfigurableAxis, Variable
from hyperloop.analysis.frame import Frame
from hyperloop.analysis.plan import pipeline_blocker
from hyperloop.analysis.schema import default_registry
from hyperloop.analysis.task import BinningPolicy, Pair, SameKindPair, Task, process

Z_EDGES = [-10.0, -5.0, 0.0, 5.0, 10.0]
N_EDGES = [0, 10, 30, 100]


def _frame(seed: int = 5, n_coll: int = 60, n_tracks: int = 400) -> Frame:
    rng = np.random.default_rng(seed)
    z = rng.uniform(-12, 12, n_coll).astype(np.float32)  # some outside the edges
    contrib = rng.integers(0, 120, n_coll).astype(np.uint16)
    index = rng.integers(-1, n_coll, n_tracks).astype(np.int32)  # unsorted, some -1
    columns = {
        ("Collisions", "fPosZ"): z,
        ("Collisions", "fNumContrib"): contrib,
        ("Tracks", "fIndexCollisions"): index,
        ("Tracks", "fSigned1Pt"): rng.choice([-1.0, 1.0], n_tracks).astype(np.float32),
    }
    sizes = {"Collisions": n_coll, "Tracks": n_tracks}
    return Frame("DF_1", "mem.root", default_registry(), sizes, columns)


def _naive_bin(z: float, n: float) -> int:
    zb = next((i for i in range(4) if Z_EDGES[i] <= z < Z_EDGES[i + 1]), None)
    nb = next((i for i in range(3) if N_EDGES[i] <= n < N_EDGES[i + 1]), None)
    return -1 if zb is None or nb is None else zb * 3 + nb


def _naive_pairs(bins: list[int], depth: int) -> list[tuple[int, int]]:
    """O2's block strictly-upper policy by hand: each collision with the next ``depth``
    collisions of its bin."""
    out = []
    for b in sorted(set(bins) - {-1}):
        members = [i for i, x in enumerate(bins) if x == b]
        for k, c1 in enumerate(members):
            out += [(c1, c2) for c2 in members[k + 1 : k + 1 + depth]]
    return out


def test_binning_policy_bins_like_a_loop_and_ignores_overflows():
    frame = _frame()
    coll = frame.table("Collisions")
    binning = BinningPolicy(fPosZ=Z_EDGES, fNumContrib=N_EDGES)
    assert binning.shape == (4, 3) and binning.nbins == 12
    bins = binning.bin(coll)
    expected = [_naive_bin(z, n) for z, n in zip(coll["fPosZ"], coll["fNumContrib"], strict=True)]
    assert bins.tolist() == expected
    assert -1 in expected and len(set(expected)) > 6
    # a value on the upper edge is outside, on the lower edge inside (as a histogram)
    edge = BinningPolicy(fPosZ=[0.0, 1.0])
    view = Frame(
        "DF_2", "mem.root", default_registry(), {"Collisions": 3},
        {("Collisions", "fPosZ"): np.array([0.0, 1.0, np.nan], np.float32)},
    ).table("Collisions")  # fmt: skip
    assert edge.bin(view).tolist() == [0, -1, -1]


def test_configurable_axes_give_the_edges():
    fixed = ConfigurableAxis((4, -10.0, 10.0), "z").validate((4, -10.0, 10.0), task="t")
    variable = ConfigurableAxis(Variable([0, 10, 30, 100]), "mult")
    variable = variable.validate(variable.default, task="t")
    binning = BinningPolicy(fPosZ=fixed, fNumContrib=variable)
    assert binning.axes["fPosZ"].tolist() == Z_EDGES
    assert binning.axes["fNumContrib"].tolist() == N_EDGES


@pytest.mark.parametrize("depth", [1, 2, 5, 100])
def test_same_kind_pairs_equal_a_naive_loop(depth):
    frame = _frame()
    coll, tracks = frame.table("Collisions"), frame.table("Tracks")
    binning = BinningPolicy(fPosZ=Z_EDGES, fNumContrib=N_EDGES)
    mixed = SameKindPair(binning, depth=depth).mix(coll, tracks)
    bins = binning.bin(coll).tolist()
    pairs = list(zip(mixed.collision1.tolist(), mixed.collision2.tolist(), strict=True))
    assert pairs == _naive_pairs(bins, depth)  # same pairs, same order
    assert all(c1 < c2 for c1, c2 in pairs)  # never a collision with itself, each pair once
    assert mixed.bin.tolist() == [bins[c] for c, _ in pairs]
    # depth: no collision is mixed with more than ``depth`` later ones
    assert max(np.bincount(mixed.collision1).tolist() or [0]) <= depth
    # tracks: every track of c1 with every track of c2, pair by pair
    index = tracks["fIndexCollisions"].tolist()
    expected = [
        (a, b, p)
        for p, (c1, c2) in enumerate(pairs)
        for a in range(len(index))
        if index[a] == c1
        for b in range(len(index))
        if index[b] == c2
    ]
    got = list(zip(mixed.first.tolist(), mixed.second.tolist(), mixed.pair.tolist(), strict=True))
    assert sorted(got) == sorted(expected) and len(got) == len(expected) > 0


def test_depth_limits_the_partners_in_a_full_bin():
    frame = _frame()
    coll = frame.table("Collisions")
    one_bin = BinningPolicy(fPosZ=[-100.0, 100.0])
    for depth in (1, 3):
        mixed = SameKindPair(one_bin, depth=depth).mix(coll, frame.table("Tracks"))
        n = len(coll)
        assert len(mixed) == sum(min(depth, n - 1 - i) for i in range(n))
        assert (mixed.collision2 - mixed.collision1).max() == depth


def test_pair_of_two_kinds_and_selected_collisions():
    frame = _frame(seed=9)
    coll = frame.table("Collisions")
    selected = coll.select(coll["fNumContrib"] > 5)  # rows of the view are mixed
    tracks = frame.table("Tracks")
    positive = tracks.select(tracks["fSigned1Pt"] > 0)
    negative = tracks.select(tracks["fSigned1Pt"] < 0)
    mixed = Pair(BinningPolicy(fPosZ=Z_EDGES), depth=3).mix(selected, positive, negative)
    original = selected.rows
    pos_coll = positive["fIndexCollisions"]
    neg_coll = negative["fIndexCollisions"]
    assert len(mixed.first) > 0
    assert (pos_coll[mixed.first] == original[mixed.collision1[mixed.pair]]).all()
    assert (neg_coll[mixed.second] == original[mixed.collision2[mixed.pair]]).all()
    # the loop form (O2's range-for over the pair) gives the same tracks
    for n, (c1, tracks1, c2, tracks2) in enumerate(mixed):
        assert (tracks1["fIndexCollisions"] == original[c1]).all()
        assert (tracks2["fIndexCollisions"] == original[c2]).all()
        assert len(tracks1) * len(tracks2) == int((mixed.pair == n).sum())


def test_mixing_depends_only_on_the_dataframe_no_state_between_calls():
    frame = _frame()
    binning = BinningPolicy(fPosZ=Z_EDGES, fNumContrib=N_EDGES)
    coll, tracks = frame.table("Collisions"), frame.table("Tracks")
    a = SameKindPair(binning, depth=4).mix(coll, tracks)
    b = SameKindPair(binning, depth=4).mix(coll, tracks)
    assert a.collision1.tolist() == b.collision1.tolist()
    assert a.first.tolist() == b.first.tolist() and a.second.tolist() == b.second.tolist()


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({}, "at least one column"),
        ({"fPosZ": [1.0]}, "at least two finite edges"),
        ({"fPosZ": [0.0, 0.0, 1.0]}, "increase strictly"),
        ({"fPosZ": ["a", "b"]}, "must be numbers"),
    ],
)
def test_bad_binning_is_refused_with_the_column_named(axes, message):
    with pytest.raises(ValueError, match=message):
        BinningPolicy(**axes)


@pytest.mark.parametrize("depth", [0, -1, 1.5, True])
def test_bad_depth_is_refused(depth):
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        SameKindPair(BinningPolicy(fPosZ=Z_EDGES), depth=depth)


def test_a_task_holding_a_mixing_policy_may_run_as_copies_over_dataframes():
    """Mixing keeps no state between dataframes, so the plan does not make such a task
    serial (a task keeping an event pool across dataframes stays serial)."""

    class Mixer(Task):
        def init(self) -> None:
            self.mixing = SameKindPair(BinningPolicy(fPosZ=Z_EDGES), depth=2)

        @process(Collisions=["fPosZ"])
        def process(self, df) -> None:
            pass

    class Pool(Mixer):
        def init(self) -> None:
            super().init()
            self.pool = []

    assert pipeline_blocker(Mixer()) is None
    assert "'pool'" in pipeline_blocker(Pool())
    binning = BinningPolicy(fPosZ=Z_EDGES)
    with pytest.raises(ValueError, match="read-only"):
        binning.axes["fPosZ"][0] = 3.0
