"""Reading AO2D files: the real UD file, fsspec URLs, parentFiles, pruning and bad files."""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import fsspec
import numpy as np
import pytest
import uproot

from hyperloop.analysis.ao2d import (
    AO2DError,
    AO2DFileNotFoundError,
    CorruptFileError,
    MissingColumnError,
    MissingDataframeError,
    MissingTableError,
    NotAO2DError,
    TruncatedFileError,
    open_ao2d,
    write_parent_files,
)
from hyperloop.analysis.ao2d_writer import AO2DWriter
from hyperloop.analysis.schema import default_registry

UD_TREES = {"O2udcollision", "O2udtrack", "O2udtrackextra", "O2udtrackpid"}
N_UD_COLLISIONS = 225
N_UD_TRACKS = 551
PARENT_AO2D = (
    "/home/alitrain/train-workdir/testdata/LFN/alice/data/2022/LHC22s/529399/apass1/1730/AOD/001/"
    "AO2D.root"
)


@pytest.fixture(scope="module")
def ud_file(realdata: Path) -> Path:
    return realdata / "AO2D_ud_rho_run3.root"


def _import_root():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the PyPI ROOT warns that it is an alpha release
        import ROOT

    return ROOT


# ---------------------------------------------------------------------------------------
# the real derived file


def test_real_file_lists_43_dataframes_with_the_four_ud_trees(ud_file):
    with open_ao2d(ud_file) as f:
        dfs = f.dataframes()
        assert len(dfs) == 43
        assert len(set(dfs)) == 43
        assert all(re.fullmatch(r"DF_\d+", df) for df in dfs)
        sizes = [f.trees(df) for df in dfs]
        assert all(set(trees) == UD_TREES for trees in sizes)
        # extension tables are row-aligned with the UD tracks
        assert all(t["O2udtrackextra"] == t["O2udtrack"] == t["O2udtrackpid"] for t in sizes)
        # one dataframe (the fifth) is empty: its trees exist with zero rows
        assert [i for i, t in enumerate(sizes) if t["O2udtrack"] == 0] == [4]
        assert sum(t["O2udcollision"] for t in sizes) == N_UD_COLLISIONS
        assert sum(t["O2udtrack"] for t in sizes) == N_UD_TRACKS


def test_real_file_dtypes_match_the_schema(ud_file):
    registry = default_registry()
    with open_ao2d(ud_file) as f:
        df = f.dataframes()[0]
        for o2name in UD_TREES:
            schema = registry.get(o2name)
            assert f.columns(df, o2name) == list(schema.columns)
            arrays = f.read(df, o2name, schema.columns)
            for column, values in arrays.items():
                assert values.dtype == schema.dtype(column), (o2name, column)
                assert values.dtype.isnative


def test_real_file_track_indices_point_into_the_same_dataframes_collisions(ud_file):
    with open_ao2d(ud_file) as f:
        total_tracks = 0
        for df in f.dataframes():
            n_coll = f.trees(df)["O2udcollision"]
            idx = f.read(df, "O2udtrack", ["fIndexUDCollisions"])["fIndexUDCollisions"]
            assert np.all((idx >= 0) & (idx < n_coll))
            total_tracks += len(idx)
        assert f.stats.rows_read == total_tracks
        assert f.stats.dataframes_read == 43


def test_real_file_parent_files_map_every_dataframe_to_its_parent_ao2d(ud_file):
    with open_ao2d(ud_file) as f:
        parents = f.parent_files()
        assert parents is not None
        # one entry per dataframe of this file, all pointing to the same parent AO2D
        assert set(parents) == set(f.dataframes())
        assert set(parents.values()) == {PARENT_AO2D}


@pytest.mark.root
@pytest.mark.slow
def test_root_reads_the_same_parent_files(ud_file):
    ROOT = _import_root()
    rf = ROOT.TFile.Open(str(ud_file))
    tmap = rf.Get("parentFiles")
    from_root = {str(k.GetName()): str(tmap.GetValue(k).GetName()) for k in tmap}
    rf.Close()
    with open_ao2d(ud_file) as f:
        assert f.parent_files() == from_root
    assert len(from_root) == 43


def test_file_without_parent_files_gives_none(tmp_ao2d):
    path = tmp_ao2d({1: {"O2bc": {"fRunNumber": np.array([1], dtype=np.int32)}}})
    with open_ao2d(path) as f:
        assert f.parent_files() is None


def _write_linked(path: Path, mapping: dict[str, str]) -> None:
    with AO2DWriter(path) as writer:
        for df in mapping:
            writer.write_dataframe(df, {"O2bc": {"fRunNumber": np.array([7], dtype=np.int32)}})
        write_parent_files(writer.file, mapping)


LINKS = {
    "DF_1": "/data/parent/AO2D.root",
    "DF_22": "alien:///alice/data/2022/LHC22s/529399/apass1/AOD/002/AO2D.root",
    "DF_333": "x" * 300 + "/AO2D.root",  # long strings use the 5-byte length form
}


def test_written_parent_files_read_back(tmp_path):
    path = tmp_path / "linked.root"
    _write_linked(path, LINKS)
    with open_ao2d(path) as f:
        assert f.dataframes() == list(LINKS)
        assert f.parent_files() == LINKS


@pytest.mark.root
@pytest.mark.slow
def test_root_reads_written_parent_files(tmp_path):
    path = tmp_path / "linked.root"
    _write_linked(path, LINKS)
    ROOT = _import_root()
    rf = ROOT.TFile.Open(str(path))
    tmap = rf.Get("parentFiles")
    assert tmap.ClassName() == "TMap"
    from_root = {str(k.GetName()): str(tmap.GetValue(k).GetName()) for k in tmap}
    rf.Close()
    assert from_root == LINKS


# ---------------------------------------------------------------------------------------
# pruning and statistics


def test_read_touches_only_requested_branches_and_counts_bytes(ud_file):
    with open_ao2d(ud_file) as f:
        df = f.dataframes()[5]
        tree = uproot.open(ud_file)[df]["O2udtrack"]
        out = f.read(df, "O2udtrack", ["fPx", "fPy"])
        assert set(out) == {"fPx", "fPy"}
        np.testing.assert_array_equal(out["fPx"], tree["fPx"].array(library="np"))
        assert f.stats.branches_read == 2
        assert (
            f.stats.bytes_compressed == tree["fPx"].compressed_bytes + tree["fPy"].compressed_bytes
        )
        assert (
            f.stats.bytes_uncompressed
            == tree["fPx"].uncompressed_bytes + tree["fPy"].uncompressed_bytes
        )
        assert f.stats.rows_read == tree.num_entries
        # a second read of the same table adds branches and bytes, not rows
        f.read(df, "O2udtrack", ["fSign"])
        assert f.stats.branches_read == 3
        assert f.stats.rows_read == tree.num_entries
        assert f.stats.files[str(ud_file)].branches_read == 3


def test_stats_merge_across_files(ud_file, tmp_ao2d):
    small = tmp_ao2d({3: {"O2bc": {"fRunNumber": np.arange(10, dtype=np.int32)}}})
    with open_ao2d(ud_file) as a, open_ao2d(small) as b:
        a.read(a.dataframes()[0], "O2udtrack", ["fPx"])
        b.read("DF_3", "O2bc", ["fRunNumber"])
        total = a.stats
        total.merge(b.stats)
        assert total.branches_read == 2
        assert set(total.files) == {str(ud_file), str(small)}
        assert total.rows_read == a.trees(a.dataframes()[0])["O2udtrack"] + 10


@pytest.mark.parametrize("compression", ["zstd", "lz4", "zlib", "none"])
def test_reads_files_written_with_each_compression(tmp_ao2d, compression):
    px = np.linspace(-1, 1, 1000, dtype=np.float32)
    path = tmp_ao2d({7: {"O2udtrack": {"fPx": px}}}, compression=compression)
    with open_ao2d(path) as f:
        np.testing.assert_array_equal(f.read("DF_7", "O2udtrack", ["fPx"])["fPx"], px)


# ---------------------------------------------------------------------------------------
# fsspec URLs


def test_open_from_fsspec_memory_and_file_urls(ud_file):
    mem = fsspec.filesystem("memory")
    url = "memory://hyperloop-test/AO2D_ud.root"
    with mem.open("/hyperloop-test/AO2D_ud.root", "wb") as out:
        out.write(ud_file.read_bytes())
    try:
        with open_ao2d(url) as remote, open_ao2d(f"file://{ud_file}") as local:
            assert remote.dataframes() == local.dataframes()
            df = remote.dataframes()[-1]
            a = remote.read(df, "O2udtrackpid", ["fTPCNSigmaPi"])["fTPCNSigmaPi"]
            b = local.read(df, "O2udtrackpid", ["fTPCNSigmaPi"])["fTPCNSigmaPi"]
            np.testing.assert_array_equal(a, b)
            assert remote.parent_files() == local.parent_files()
    finally:
        mem.rm("/hyperloop-test", recursive=True)


def test_missing_url_names_it():
    with pytest.raises(AO2DFileNotFoundError, match="memory://nowhere/AO2D.root: no such file"):
        open_ao2d("memory://nowhere/AO2D.root")


# ---------------------------------------------------------------------------------------
# bad files


def test_missing_file(tmp_path):
    path = tmp_path / "absent" / "AO2D.root"
    with pytest.raises(AO2DFileNotFoundError) as err:
        open_ao2d(path)
    assert str(path) in str(err.value)
    assert "expected an AO2D ROOT file" in str(err.value)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, AO2DError)


def test_truncated_file(ud_file, tmp_path):
    path = tmp_path / "truncated.root"
    data = ud_file.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedFileError) as err:
        open_ao2d(path)
    msg = str(err.value)
    assert str(path) in msg
    assert f"{len(data) // 2} bytes but its ROOT header says {len(data)}" in msg


def test_empty_and_tiny_files(tmp_path):
    empty = tmp_path / "empty.root"
    empty.write_bytes(b"")
    with pytest.raises(TruncatedFileError, match="empty.root: file is empty"):
        open_ao2d(empty)
    tiny = tmp_path / "tiny.root"
    tiny.write_bytes(b"root\x00\x00")
    with pytest.raises(AO2DError, match="tiny.root"):
        open_ao2d(tiny)


def test_random_bytes_are_not_a_root_file(tmp_path):
    path = tmp_path / "garbage.root"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(CorruptFileError) as err:
        open_ao2d(path)
    assert str(path) in str(err.value)
    assert "not a ROOT file" in str(err.value)


def test_overwritten_bytes_in_the_middle_are_reported_as_corrupt(ud_file, tmp_path):
    path = tmp_path / "corrupt.root"
    data = bytearray(ud_file.read_bytes())
    lo, hi = len(data) // 4, 3 * len(data) // 4
    data[lo:hi] = np.random.default_rng(2).integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError) as err, open_ao2d(path) as f:  # fails while reading
        for df in f.dataframes():
            for tree in f.trees(df):
                f.read(df, tree, f.columns(df, tree))
    msg = str(err.value)
    assert msg.startswith(f"{path}: cannot read")
    assert "dataframe DF_" in msg


def test_root_file_without_dataframes_is_not_an_ao2d(tmp_path):
    path = tmp_path / "histos.root"
    with uproot.recreate(path) as f:
        f["note"] = "just a string"
        f.mkdir("results")
    with pytest.raises(NotAO2DError) as err:
        open_ao2d(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: not an AO2D file: no DF_<n> dataframe directories")
    assert "results" in msg and "note" in msg


def test_missing_dataframe_table_and_column(tmp_ao2d):
    path = tmp_ao2d({5: {"O2udtrack": {"fPx": np.zeros(3, dtype=np.float32)}}})
    with open_ao2d(path) as f:
        with pytest.raises(MissingDataframeError, match=r"no dataframe DF_6"):
            f.trees("DF_6")
        with pytest.raises(MissingTableError) as err:
            f.read("DF_5", "O2udcollision", ["fPosZ"])
        assert str(err.value) == (
            f"{path}: dataframe DF_5 has no table O2udcollision that a task needs "
            "(it has: O2udtrack)"
        )
        assert (err.value.df, err.value.table) == ("DF_5", "O2udcollision")
        with pytest.raises(MissingColumnError) as err2:
            f.read("DF_5", "O2udtrack", ["fPx", "fPz"])
        assert str(err2.value) == (
            f"{path}: table O2udtrack in dataframe DF_5 has no column fPz that a task needs "
            "(it has: fPx)"
        )
        assert f.stats.branches_read == 0  # nothing read when a column is missing


def test_copy_of_real_file_reads_identically(ud_file, tmp_path):
    copy = tmp_path / "copy.root"
    shutil.copyfile(ud_file, copy)
    with open_ao2d(copy) as a, open_ao2d(ud_file) as b:
        df = a.dataframes()[10]
        np.testing.assert_array_equal(
            a.read(df, "O2udcollision", ["fGlobalBC"])["fGlobalBC"],
            b.read(df, "O2udcollision", ["fGlobalBC"])["fGlobalBC"],
        )


# ---------------------------------------------------------------------------------------
# the basket fast path (ao2d_baskets) against uproot's own reading


def _assert_same_as_uproot(path: Path, *, every: int = 1) -> None:
    with open_ao2d(path) as fast, open_ao2d(path, fast=False) as ref:
        assert fast.dataframes() == ref.dataframes()
        for df in fast.dataframes()[::every]:
            assert fast.trees(df) == ref.trees(df)
            for tree in fast.trees(df):
                cols = fast.columns(df, tree)
                assert cols == ref.columns(df, tree)
                # no silent fallback: every branch has the simple layout
                flat = fast._flat_tree(df, tree)
                assert flat is not None and all(flat.branch(c) is not None for c in cols)
                a, b = fast.read(df, tree, cols), ref.read(df, tree, cols)
                for col in cols:
                    assert a[col].dtype == b[col].dtype, (df, tree, col)
                    np.testing.assert_array_equal(a[col], b[col])
        assert fast.stats.bytes_compressed == ref.stats.bytes_compressed
        assert fast.stats.bytes_uncompressed == ref.stats.bytes_uncompressed
        assert fast.stats.rows_read == ref.stats.rows_read


def test_fast_path_reads_the_real_file_like_uproot(ud_file):
    _assert_same_as_uproot(ud_file, every=4)  # 11 of the 43 dataframes, every tree and column


@pytest.mark.parametrize("compression", ["zstd", "lz4", "zlib", "none"])
def test_fast_path_multi_basket_and_array_columns(tmp_path, compression):
    path = tmp_path / f"{compression}.root"
    rng = np.random.default_rng(5)
    codec = {"zstd": uproot.ZSTD(3), "lz4": uproot.LZ4(1), "zlib": uproot.ZLIB(1), "none": None}
    with uproot.recreate(path, compression=codec[compression]) as f:
        types = {
            "fPx": "f4", "fIndexSlice_Tracks": np.dtype(("i4", (2,))), "fBC": "u8",
            "fFlag": "?", "fN": "i1", "fT": "f8", "fS": "u2",
        }  # fmt: skip
        tree = f.mkdir("DF_1").mktree("O2track", types)
        for n in (1000, 1, 2500):  # three baskets per branch
            tree.extend(
                {
                    "fPx": rng.normal(size=n).astype("f4"),
                    "fIndexSlice_Tracks": rng.integers(-1, 9, (n, 2)).astype("i4"),
                    "fBC": rng.integers(0, 2**63, n).astype("u8"),
                    "fFlag": rng.random(n) > 0.5,
                    "fN": rng.integers(-128, 127, n).astype("i1"),
                    "fT": rng.normal(size=n),
                    "fS": rng.integers(0, 65535, n).astype("u2"),
                }
            )
        f.mkdir("DF_2").mktree("O2track", types)  # an empty table
    _assert_same_as_uproot(path)


def test_fast_path_inflates_baskets_larger_than_one_compression_block(tmp_path):
    # ROOT splits compressed data into blocks of at most 16 MiB; 4.5 M floats are 18 MB
    values = np.random.default_rng(6).normal(size=4_500_000).astype(np.float32)
    path = tmp_path / "big.root"
    with AO2DWriter(path) as writer:
        writer.write_dataframe(1, {"O2track": {"fTgl": values}})
    with open_ao2d(path) as f:
        branch = f._flat_tree("DF_1", "O2track").branch("fTgl")
        assert branch.basket_bytes[0] < branch.tot_bytes and branch.tot_bytes > 2**24
        np.testing.assert_array_equal(f.read("DF_1", "O2track", ["fTgl"])["fTgl"], values)


def test_jagged_branches_fall_back_to_uproot(tmp_path):
    import awkward as ak

    path = tmp_path / "jagged.root"
    with uproot.recreate(path) as f:
        tree = f.mkdir("DF_1").mktree("O2x", {"fA": "f4", "fJ": "var * float32"})
        tree.extend({"fA": np.arange(3, dtype="f4"), "fJ": ak.Array([[1.0], [2.0, 3.0], []])})
    with open_ao2d(path) as f:
        flat = f._flat_tree("DF_1", "O2x")
        assert flat.branch("fA") is not None and flat.branch("fJ") is None
        out = f.read("DF_1", "O2x", ["fA", "fJ"])
        assert [list(x) for x in out["fJ"]] == [[1.0], [2.0, 3.0], []]


@pytest.mark.root
@pytest.mark.slow
def test_fast_path_reads_a_tree_written_by_root(tmp_path):
    ROOT = _import_root()
    path = tmp_path / "root_written.root"
    rf = ROOT.TFile(str(path), "RECREATE")
    rf.mkdir("DF_7").cd()
    tree = ROOT.TTree("O2udtrack", "O2udtrack")
    px = np.zeros(1, dtype=np.float32)
    idx = np.zeros(1, dtype=np.int32)
    bc = np.zeros(1, dtype=np.uint64)
    tree.Branch("fPx", px, "fPx/F")
    tree.Branch("fIndexUDCollisions", idx, "fIndexUDCollisions/I")
    tree.Branch("fGlobalBC", bc, "fGlobalBC/l")
    tree.SetBasketSize("*", 4000)  # several baskets
    for i in range(5000):
        px[0], idx[0], bc[0] = 0.5 * i, i // 3, 2**40 + i
        tree.Fill()
    tree.Write()
    rf.Close()
    _assert_same_as_uproot(path)
    with open_ao2d(path) as f:
        out = f.read("DF_7", "O2udtrack", ["fPx", "fIndexUDCollisions", "fGlobalBC"])
    np.testing.assert_array_equal(out["fPx"], 0.5 * np.arange(5000, dtype=np.float32))
    np.testing.assert_array_equal(out["fIndexUDCollisions"], np.arange(5000) // 3)
    assert out["fGlobalBC"].dtype == np.uint64 and out["fGlobalBC"][-1] == 2**40 + 4999


def test_columns_are_read_into_arrays_the_caller_provides(ud_file):
    # how the reader device inflates baskets straight into shared memory
    with open_ao2d(ud_file) as f:
        df = f.dataframes()[3]
        cols = ["fPx", "fSign", "fGlobalBC", "fTrackTime"]
        expected = f.read(df, "O2udtrack", cols)
        sizes = {c: f.column_nbytes(df, "O2udtrack", c) for c in cols}
        assert sizes == {c: a.nbytes for c, a in expected.items()}
        buffer = np.zeros(sum(sizes.values()), np.uint8)
        given: dict[str, np.ndarray] = {}
        offset = 0

        def alloc(col, dtype, shape):
            nonlocal offset
            if col == "fSign":
                return None  # the caller may decline: the reader allocates it
            n = int(np.prod(shape)) * np.dtype(dtype).itemsize
            given[col] = buffer[offset : offset + n].view(dtype).reshape(shape)
            offset += n
            return given[col]

        got = f.read(df, "O2udtrack", cols, alloc=alloc)
    for col in cols:
        assert got[col].dtype == expected[col].dtype
        np.testing.assert_array_equal(got[col], expected[col])
    assert set(given) == {"fPx", "fGlobalBC", "fTrackTime"}
    for col, arr in given.items():
        assert np.shares_memory(got[col], buffer) and got[col] is arr
    assert not np.shares_memory(got["fSign"], buffer)
