"""Frames: dynamic columns, once-per-frame caching, pruning, joins, selections, groupings."""

from __future__ import annotations

from math import comb
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from hyperloop.analysis.ao2d import MissingTableError, open_ao2d
from hyperloop.analysis.frame import (
    ColumnNotDeclaredError,
    Frame,
    JoinError,
    ProduceError,
    reindex,
)
from hyperloop.analysis.schema import SchemaError, TableSchema, default_registry

N_TRACKS = 2000


def _tracks(rng: np.random.Generator, n: int, n_coll: int) -> dict[str, np.ndarray]:
    return {
        "fIndexCollisions": rng.integers(0, n_coll, n).astype(np.int32),
        "fTrackType": np.zeros(n, dtype=np.uint8),
        "fX": rng.normal(0, 1, n).astype(np.float32),
        "fAlpha": rng.uniform(-np.pi, np.pi, n).astype(np.float32),
        "fY": rng.normal(0, 1, n).astype(np.float32),
        "fZ": rng.normal(0, 5, n).astype(np.float32),
        "fSnp": rng.uniform(-0.9, 0.9, n).astype(np.float32),
        "fTgl": rng.uniform(-1.5, 1.5, n).astype(np.float32),
        "fSigned1Pt": (rng.choice([-1, 1], n) / rng.uniform(0.15, 10, n)).astype(np.float32),
    }


def _collisions(n: int) -> dict[str, np.ndarray]:
    registry = default_registry()
    return {c: np.zeros(n, dtype=d) for c, d in registry.get("Collisions").columns.items()}


@pytest.fixture
def tracks_file(tmp_ao2d) -> Path:
    rng = np.random.default_rng(42)
    return tmp_ao2d(
        {
            1: {"O2collision": _collisions(50), "O2track": _tracks(rng, N_TRACKS, 50)},
            2: {"O2collision": _collisions(3), "O2track": _tracks(rng, 7, 3)},
        }
    )


@pytest.fixture(scope="module")
def ud_path(realdata: Path) -> Path:
    return realdata / "AO2D_ud_rho_run3.root"


def _frame(path, needed, df=None):
    f = open_ao2d(path)
    return f, Frame.from_file(f, df or f.dataframes()[0], default_registry(), needed)


# ---------------------------------------------------------------------------------------
# dynamic columns


def test_track_kinematics_from_the_parametrisation(tracks_file):
    f, frame = _frame(tracks_file, {"Tracks": {"pt", "eta", "phi", "px", "pz", "sign"}})
    t = frame.table("O2track")  # O2 name and logical name both work
    assert t.name == "Tracks" and len(t) == N_TRACKS
    raw = f.read("DF_1", "O2track", ["fSigned1Pt", "fTgl", "fSnp", "fAlpha"])
    s1pt, tgl, snp, alpha = (raw[k].astype(np.float64) for k in raw)
    pt = 1 / np.abs(s1pt)
    theta = np.pi / 2 - np.arctan(tgl)  # polar angle from the dip angle tan(lambda) = tgl
    eta = -np.log(np.tan(theta / 2))
    phi = (np.arcsin(snp) + alpha) % (2 * np.pi)
    np.testing.assert_allclose(t["pt"], pt, rtol=1e-6)
    np.testing.assert_allclose(t["eta"], eta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t["phi"], phi, rtol=1e-5, atol=1e-5)
    assert t["phi"].min() >= 0 and t["phi"].max() < 2 * np.pi
    np.testing.assert_allclose(t["px"], pt * np.cos(phi), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(t["pz"], pt * tgl, rtol=1e-5)
    np.testing.assert_array_equal(t["sign"], np.sign(s1pt))


def test_ud_track_kinematics_on_the_real_file(ud_path):
    f, frame = _frame(ud_path, {"UDTracks": {"pt", "eta", "phi", "fPz"}})
    t = frame.table("UDTracks")
    px, py, pz = (
        f.read(frame.name, "O2udtrack", [c])[c].astype(np.float64) for c in ("fPx", "fPy", "fPz")
    )
    p = np.sqrt(px**2 + py**2 + pz**2)
    np.testing.assert_allclose(t["pt"], np.sqrt(px**2 + py**2), rtol=1e-6)
    np.testing.assert_allclose(t["eta"], 0.5 * np.log((p + pz) / (p - pz)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.cos(t["phi"]), px / np.sqrt(px**2 + py**2), atol=1e-5)


def test_dynamic_columns_are_computed_once_per_frame_and_shared_by_tasks(tracks_file):
    _, frame = _frame(tracks_file, {"Tracks": {"pt", "phi", "px"}})
    frame.current_task, frame.declared = "task-a", {"Tracks": {"pt", "px"}}
    pt_a = frame.table("Tracks")["pt"]
    frame.table("Tracks")["px"]  # needs pt (cached) and phi (computed now)
    frame.current_task, frame.declared = "task-b", {"Tracks": {"pt", "phi", "px"}}
    t = frame.table("Tracks")
    assert t["pt"] is pt_a  # the very same array, not a recomputation
    t["phi"], t["px"]
    assert frame.stats.dynamic_computed == 3
    with pytest.raises(ValueError, match="read-only"):
        t["pt"] *= 2  # shared columns cannot be changed behind other tasks' backs
    assert sorted(frame.stats.computed) == [("Tracks", "phi"), ("Tracks", "pt"), ("Tracks", "px")]


def test_dynamic_columns_computed_upstream_are_not_recomputed(tracks_file):
    _, first = _frame(tracks_file, {"Tracks": {"pt"}})
    pt = first.table("Tracks")["pt"]
    shared = {("Tracks", c): v for c, v in first.arrays("Tracks").items()}
    shared.update(first.dynamic_columns())  # what a reader device would pass on
    second = Frame(first.name, first.file, first.registry, first.sizes, shared)
    assert np.shares_memory(second.table("Tracks")["pt"], pt)
    assert second.stats.dynamic_computed == 0


# ---------------------------------------------------------------------------------------
# pruning and declarations


def test_only_branches_needed_by_the_declared_columns_are_read(ud_path):
    f, frame = _frame(ud_path, {"UDTracks": {"pt", "fIndexUDCollisions"}, "UDCollisions": set()})
    # pt needs fPx and fPy; the other 6 UD track branches and all other trees stay unread
    assert f.stats.branches_read == 3
    assert frame.arrays("UDTracks").keys() == {"fPx", "fPy", "fIndexUDCollisions"}
    assert frame.sizes["UDCollisions"] == f.trees(frame.name)["O2udcollision"]
    with pytest.raises(ColumnNotDeclaredError) as err:
        frame.table("UDTracks")["fPz"]
    msg = str(err.value)
    assert "column 'fPz' of table UDTracks" in msg
    assert "it was not read from" in msg and "@process" in msg


def test_undeclared_column_names_task_table_and_column(tracks_file):
    _, frame = _frame(tracks_file, {"Tracks": {"pt", "eta"}})
    frame.current_task = "my-analysis"
    frame.declared = {"O2track": {"pt"}}  # O2 names are accepted in declarations
    t = frame.table("Tracks")
    assert t["pt"].shape == (N_TRACKS,)
    with pytest.raises(ColumnNotDeclaredError) as err:
        t["eta"]
    assert str(err.value) == (
        "task my-analysis reads column 'eta' of table Tracks without declaring it "
        "(declared for Tracks: pt); declare it in the task's @process(...) inputs, "
        "e.g. Tracks=['eta']"
    )
    with pytest.raises(SchemaError, match="has no column 'etaa'"):
        t["etaa"]


def test_missing_table_in_frame_names_file_and_dataframe(ud_path):
    f, frame = _frame(ud_path, {"UDTracks": {"fPx"}})
    with pytest.raises(MissingTableError) as err:
        frame.table("Tracks")
    assert str(err.value).startswith(f"{ud_path}: dataframe {frame.name} has no table O2track")
    assert not frame.has_table("Tracks") and frame.has_table("O2udtrack")
    with pytest.raises(MissingTableError, match="has no table O2track"):
        Frame.from_file(f, frame.name, default_registry(), {"Tracks": {"pt"}})


# ---------------------------------------------------------------------------------------
# groupings


def test_tracks_grouped_by_collision_on_every_real_dataframe(ud_path):
    registry = default_registry()
    with open_ao2d(ud_path) as f:
        n_pairs = 0
        for df in f.dataframes():
            frame = Frame.from_file(f, df, registry, {"UDTracks": {"fIndexUDCollisions", "fSign"}})
            tracks = frame.table("UDTracks")
            g = tracks.grouped_by("UDCollisions")
            idx = tracks["fIndexUDCollisions"]
            assert len(g.counts) == frame.sizes["UDCollisions"]
            assert g.counts.sum() == len(tracks)
            np.testing.assert_array_equal(g.counts, np.bincount(idx, minlength=len(g.counts)))
            assert g.offsets[0] == 0 and g.offsets[-1] == len(tracks)
            sign = g.jagged("fSign")
            assert ak.to_list(ak.num(sign)) == g.counts.tolist()
            for c in range(len(g.counts)):
                assert ak.to_list(sign[c]) == tracks["fSign"][idx == c].tolist()
            i, j, coll = g.combinations(2, return_group=True)
            assert np.all(idx[i] == coll) and np.all(idx[j] == coll) and np.all(i < j)
            n_pairs += len(i)
        # the file is dominated by two-track events: rho candidates
        assert n_pairs == sum(comb(int(c), 2) for c in _all_counts(f))


def _all_counts(f):
    for df in f.dataframes():
        idx = f.read(df, "O2udtrack", ["fIndexUDCollisions"])["fIndexUDCollisions"]
        yield from np.bincount(idx, minlength=f.trees(df)["O2udcollision"])


def _manual_frame(index, n_parent=3, extra_rows=None):
    registry = default_registry()
    n = len(index)
    values = np.arange(n, dtype=np.float32) * 10
    sizes = {"UDCollisions": n_parent, "UDTracks": n, "UDTracksPID": extra_rows or n}
    columns = {
        ("UDTracks", "fIndexUDCollisions"): np.asarray(index, dtype=np.int32),
        ("UDTracks", "fPx"): values,
        ("UDTracksPID", "fTPCNSigmaPi"): np.ones(extra_rows or n, dtype=np.float32),
    }
    return Frame("DF_9", "mem.root", registry, sizes, columns)


def test_unsorted_index_and_unassigned_rows():
    frame = _manual_frame([2, 0, -1, 2, 1, 0, -1])
    tracks = frame.table("UDTracks")
    g = tracks.grouped_by("UDCollisions")
    assert g.counts.tolist() == [2, 1, 2]  # the two -1 rows belong to no collision
    assert g.offsets.tolist() == [0, 2, 3, 5]
    assert g.order.tolist() == [1, 5, 4, 0, 3]
    assert ak.to_list(g.jagged("fPx")) == [[10.0, 50.0], [40.0], [0.0, 30.0]]
    i, j = g.combinations()
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 3), (1, 5)]


def test_sorted_index_needs_no_permutation():
    g = _manual_frame([0, 0, 1, 2, 2, 2]).table("UDTracks").grouped_by("UDCollisions")
    assert g.order is None
    assert g.counts.tolist() == [2, 1, 3]
    i, j, k = g.combinations(3)
    assert (i.tolist(), j.tolist(), k.tolist()) == ([3], [4], [5])


def test_grouping_of_a_selection_and_of_a_selected_parent():
    frame = _manual_frame([0, 0, 1, 1, 2, 2, 2], n_parent=3)
    tracks = frame.table("UDTracks")
    fast = tracks.select(tracks["fPx"] >= 20)  # rows 2..6
    assert fast.rows.tolist() == [2, 3, 4, 5, 6]
    g = fast.grouped_by("UDCollisions")
    assert g.counts.tolist() == [0, 2, 3]
    assert ak.to_list(g.jagged("fPx")) == [[], [20.0, 30.0], [40.0, 50.0, 60.0]]
    i, j = g.combinations()
    assert fast.rows[i].tolist() == [2, 4, 4, 5] and fast.rows[j].tolist() == [3, 5, 6, 6]
    # only the collisions 0 and 2 (a selected parent view): tracks of collision 1 drop out
    colls = frame.table("UDCollisions").select(np.array([True, False, True]))
    g2 = tracks.grouped_by(colls)
    assert g2.counts.tolist() == [2, 3]
    assert ak.to_list(g2.jagged("fPx")) == [[0.0, 10.0], [40.0, 50.0, 60.0]]
    # a selection of a selection keeps the original row numbers
    assert fast.select(np.array([0, 4])).rows.tolist() == [2, 6]
    with pytest.raises(IndexError, match=r"row numbers must be in 0 \.\. 4, got -1 \.\. 0"):
        fast.select(np.array([-1, 0]))
    with pytest.raises(ValueError, match=r"mask on UDTracks has shape \(7,\), expected \(5,\)"):
        fast.select(np.ones(7, dtype=bool))


def test_pairs_between_two_selections_of_the_same_collisions():
    frame = _manual_frame([0, 1, 0, 1, 1], n_parent=2)
    t = frame.table("UDTracks")
    trig, assoc = t.select(np.array([0, 1])), t.select(np.array([2, 3, 4]))
    i, j, g = trig.grouped_by("UDCollisions").pairs(
        assoc.grouped_by("UDCollisions"), return_group=True
    )
    pairs = sorted(zip(trig.rows[i].tolist(), assoc.rows[j].tolist(), g.tolist(), strict=True))
    assert pairs == [(0, 2, 0), (1, 3, 1), (1, 4, 1)]


def test_pairs_match_awkward_combinations_and_cartesian_on_random_groups():
    rng = np.random.default_rng(3)
    index = rng.integers(-1, 40, 600)  # unsorted, with unassigned rows
    t = _manual_frame(index, n_parent=40).table("UDTracks")
    g = t.grouped_by("UDCollisions")
    i, j, grp = g.pairs(return_group=True)
    ref = ak.combinations(g.indices(), 2)
    np.testing.assert_array_equal(i, ak.to_numpy(ak.flatten(ref["0"])))
    np.testing.assert_array_equal(j, ak.to_numpy(ak.flatten(ref["1"])))
    assert np.all(index[i] == grp) and np.all(index[j] == grp)
    assert len(i) == sum(comb(int(c), 2) for c in g.counts)
    sub = t.select(t["fPx"] > 3000)
    h = sub.grouped_by("UDCollisions")
    a, b, grp2 = g.pairs(h, return_group=True)
    ref2 = ak.cartesian([g.indices(), h.indices()])
    np.testing.assert_array_equal(a, ak.to_numpy(ak.flatten(ref2["0"])))
    np.testing.assert_array_equal(b, ak.to_numpy(ak.flatten(ref2["1"])))
    assert np.all(index[a] == grp2) and np.all(index[sub.rows[b]] == grp2)


def test_index_beyond_the_parent_is_reported():
    frame = _manual_frame([0, 3], n_parent=3)
    with pytest.raises(
        Exception, match="mem.root: dataframe DF_9: index column fIndexUDCollisions"
    ):
        frame.table("UDTracks").grouped_by("UDCollisions")


# ---------------------------------------------------------------------------------------
# joins


def test_join_gives_columns_of_both_tables_and_keeps_selection(ud_path):
    f, frame = _frame(ud_path, {"UDTracks": {"fSign"}, "UDTracksPID": {"fTPCNSigmaPi"}})
    tracks = frame.table("UDTracks").join("UDTracksPID")
    assert tracks.joined == ["UDTracksPID"]
    pid = f.read(frame.name, "O2udtrackpid", ["fTPCNSigmaPi"])["fTPCNSigmaPi"]
    np.testing.assert_array_equal(tracks["fTPCNSigmaPi"], pid)
    positive = tracks.select(tracks["fSign"] > 0)
    np.testing.assert_array_equal(positive["fTPCNSigmaPi"], pid[tracks["fSign"] > 0])


def test_join_of_tables_with_different_lengths_is_an_error():
    frame = _manual_frame([0, 1, 2], extra_rows=2)
    with pytest.raises(JoinError) as err:
        frame.table("UDTracks").join("UDTracksPID")
    assert str(err.value) == (
        "DF_9 of mem.root: cannot join UDTracksPID (2 rows) onto UDTracks (3 rows); "
        "joined tables must be row-aligned"
    )


# ---------------------------------------------------------------------------------------
# produced tables

SELECTED = TableSchema(
    "SelectedUDCollisions",
    "O2seludcoll",
    {"fIndexUDCollisions": "int32", "fMass": "float32"},
    index_columns={"fIndexUDCollisions": "UDCollisions"},
)
FLAGS = TableSchema("UDTrackFlags", "O2udtrackflag", {"fIsPion": "bool"}, extends="UDTracks")


def test_produce_adds_a_table_later_tasks_can_read():
    frame = _manual_frame([0, 0, 1, 2], n_parent=3)
    frame.current_task = "rho-selector"
    frame.declared = {"UDTracks": {"fPx"}}
    sel = frame.produce(SELECTED, fIndexUDCollisions=np.array([0, 2]), fMass=[0.77, 0.75])
    assert len(sel) == 2 and sel["fMass"].dtype == np.float32  # producer reads it back
    assert frame.producers["SelectedUDCollisions"] == "rho-selector"
    assert "SelectedUDCollisions" in frame.registry
    frame.produce(FLAGS, fIsPion=np.array([True, False, True, True]))
    frame.current_task, frame.declared = "consumer", {"UDTrackFlags": {"fIsPion"}}
    flags = frame.table("UDTracks").join("UDTrackFlags")
    assert flags["fIsPion"].tolist() == [True, False, True, True]
    with pytest.raises(ColumnNotDeclaredError):
        frame.table("SelectedUDCollisions")["fMass"]


def test_produce_checks(ud_path):
    frame = _manual_frame([0, 0, 1, 2], n_parent=3)
    frame.current_task = "bad-task"
    with pytest.raises(ProduceError, match=r"missing: fMass, unknown: fMas$"):
        frame.produce(SELECTED, fIndexUDCollisions=[0], fMas=[1.0])
    with pytest.raises(
        ProduceError, match="extends UDTracks row by row, so it needs 4 rows, got 3"
    ):
        frame.produce(FLAGS, fIsPion=np.ones(3, dtype=bool))
    with pytest.raises(
        ProduceError, match=r"index column fIndexUDCollisions has values in \[0, 3\] but"
    ):
        frame.produce(SELECTED, fIndexUDCollisions=[0, 3], fMass=[1.0, 2.0])
    with pytest.raises(ProduceError, match="column fMass has dtype <U1, schema says float32"):
        frame.produce(SELECTED, fIndexUDCollisions=[0], fMass=["x"])
    with pytest.raises(ProduceError, match="columns have different lengths"):
        frame.produce(SELECTED, fIndexUDCollisions=[0, 1], fMass=[1.0])
    with pytest.raises(ProduceError, match=r"task bad-task producing UDTracks in DF_9: .*already"):
        frame.produce("UDTracks", fIndexUDCollisions=[0])
    frame.produce(SELECTED, fIndexUDCollisions=[-1, 2], fMass=[1.0, 2.0])
    with pytest.raises(ProduceError, match="already exists \\(produced by task bad-task\\)"):
        frame.produce(SELECTED, fIndexUDCollisions=[0], fMass=[1.0])


def test_fixed_size_array_columns_read_and_produce(tmp_ao2d):
    slices = TableSchema(
        "UDSlices", "O2udslice", {"fIndexSlice_Tracks": "(2,)int32", "fW": "float32"}
    )
    registry = default_registry()
    registry.register(slices)
    values = np.arange(8, dtype=np.int32).reshape(4, 2)
    path = tmp_ao2d({1: {"O2udslice": {"fIndexSlice_Tracks": values, "fW": np.ones(4, "f4")}}})
    with open_ao2d(path) as f:
        frame = Frame.from_file(f, "DF_1", registry, {"UDSlices": {"fIndexSlice_Tracks"}})
    np.testing.assert_array_equal(frame.table("UDSlices")["fIndexSlice_Tracks"], values)
    with pytest.raises(ProduceError, match=r"must be \(n, 2\), got shape \(3,\)"):
        frame.produce(
            slices.__class__("UDSlices2", "O2udslice2", slices.columns),
            fW=[1.0] * 3,
            fIndexSlice_Tracks=np.zeros(3, dtype=np.int32),
        )


def test_reindex_after_dropping_parent_rows():
    # collisions 0..4 of which 1 and 3 are kept: tracks of other collisions lose their link
    new = reindex(np.array([0, 1, 1, 3, -1, 4, 3]), kept_rows=np.array([1, 3]), parent_size=5)
    assert new.tolist() == [-1, 0, 0, 1, -1, -1, 1]
    assert new.dtype == np.int32


def test_follow_an_index_to_its_row_and_slice_by_parent():
    frame = _manual_frame([2, 0, -1, 2, 1], n_parent=3)
    frame._columns[("UDCollisions", "fPosZ")] = np.array([-1.0, 5.0, 7.0])
    tracks = frame.table("UDTracks")
    assert tracks.index("UDCollisions").tolist() == [2, 0, -1, 2, 1]
    assert tracks.has("UDCollisions").tolist() == [True, True, False, True, True]
    with pytest.raises(IndexError, match=r"1 of 5 rows of UDTracks point to no UDCollisions"):
        tracks.follow("UDCollisions")
    kept = tracks.select(tracks.has("UDCollisions"))
    assert kept.follow("UDCollisions")["fPosZ"].tolist() == [7.0, -1.0, 7.0, 5.0]
    with pytest.raises(SchemaError, match="UDTracks has no index column pointing to McParticles"):
        tracks.follow("McParticles")
    per = tracks.grouped_by("UDCollisions")
    assert per.slice(2)["fPx"].tolist() == [0.0, 30.0]  # rows 0 and 3, in row order
    assert per.sum("fPx").tolist() == [10.0, 40.0, 30.0]
    assert per.per_row(per.counts).tolist() == [2, 1, -1, 2, 1]
    with pytest.raises(IndexError, match="out of range"):
        per.slice(3)


def test_a_table_missing_from_the_frame_names_the_task_reading_it():
    frame = _manual_frame([0, 1])
    frame.current_task = "my-task"
    with pytest.raises(MissingTableError, match="no table O2track .*that task my-task needs"):
        frame.table("Tracks")
