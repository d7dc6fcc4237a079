"""The demo AO2D layout: files by run, DF directories, schema trees/columns/dtypes, indices."""

from __future__ import annotations

import json

import numpy as np
import pytest
import uproot

from hyperloop.analysis.schema import default_registry
from hyperloop.demo import Manifest, generate_dataset
from hyperloop.demo.generator import MC_TABLES, REAL_TABLES

from .conftest import RUNS, first_mother, read_dataframes


def test_files_are_organised_by_run_with_several_dataframes(small_mc: Manifest) -> None:
    out = small_mc.paths()[0].parents[1]
    assert sorted(p.name for p in out.iterdir()) == ["523308", "523309", "manifest.json"]
    for run in RUNS:
        files = sorted((out / str(run)).glob("*.root"))
        assert [f.name for f in files] == ["AO2D_001.root", "AO2D_002.root"]
        with uproot.open(files[0]) as f:
            keys = f.keys(recursive=False, cycle=False)
            assert sorted(keys)[-1] == "metaData"
            assert len([k for k in keys if k.startswith("DF_")]) == len(keys) - 1 == 2
    ids = [df for entry in small_mc.files for df in entry.dataframes]
    assert len(ids) == len(set(ids)) == 8  # 50 events / 15 per DF = 4 DFs per run


def test_manifest_on_disk_describes_the_files(small_mc: Manifest) -> None:
    out = small_mc.paths()[0].parents[1]
    data = json.loads((out / "manifest.json").read_text())
    assert data["runs"] == list(RUNS)
    assert data["settings"]["seed"] == 42 and data["settings"]["mc"] is True
    again = Manifest.read(out)
    assert again.totals["events"] == 100
    for entry, path in zip(again.files, again.paths(), strict=True):
        assert entry.size_bytes == path.stat().st_size
        dfs = read_dataframes([path])
        assert entry.events == sum(len(df["O2bc_001"]["fRunNumber"]) for df in dfs)
        assert entry.tracks == sum(len(df["O2track_iu"]["fX"]) for df in dfs)
        assert {int(df["_name"][3:]) for df in dfs} == set(entry.dataframes)
        assert all((df["O2bc_001"]["fRunNumber"] == entry.run).all() for df in dfs)


def test_trees_columns_and_dtypes_are_exactly_the_schema(small_mc: Manifest) -> None:
    registry = default_registry()
    for path in small_mc.paths():
        with uproot.open(path) as f:
            assert f.file.compression.__class__.__name__ == "ZSTD"
            for df in f.keys(recursive=False, cycle=False, filter_classname="TDirectory"):
                trees = f[df].keys(cycle=False)
                assert sorted(trees) == sorted(REAL_TABLES + MC_TABLES)
                for tree_name in trees:
                    tree = f[df][tree_name]
                    assert tree.classname == "TTree"
                    schema = registry.get(tree_name)
                    # std::vector columns come with their count branch, as O2 writes them
                    expected = [
                        b
                        for c in schema.columns
                        for b in ((f"{c}_size", c) if schema.is_vector(c) else (c,))
                    ]
                    assert list(tree.keys()) == expected
                    for col in schema.columns:
                        if schema.is_vector(col):
                            continue
                        got = tree[col].interpretation.to_dtype
                        want = schema.dtype(col)
                        assert got.newbyteorder("=") == want, (tree_name, col, got)


def test_index_columns_point_inside_their_dataframe(small_mc_frames) -> None:
    for df in small_mc_frames:
        n_bc = len(df["O2bc_001"]["fGlobalBC"])
        coll, trk, v0 = df["O2collision_001"], df["O2track_iu"], df["O2v0_002"]
        n_coll, n_trk = len(coll["fPosZ"]), len(trk["fX"])
        assert n_coll > 0 and n_trk > 0
        assert np.all(np.diff(df["O2bc_001"]["fGlobalBC"].astype(np.int64)) > 0)
        assert np.all((coll["fIndexBCs"] >= 0) & (coll["fIndexBCs"] < n_bc))
        assert np.all(np.diff(coll["fIndexBCs"]) > 0)
        for idx in (trk["fIndexCollisions"], v0["fIndexCollisions"]):
            assert np.all((idx >= 0) & (idx < n_coll)) and np.all(np.diff(idx) >= 0)
        sign = np.sign(trk["fSigned1Pt"])
        for col, expected in (("fIndexTracks_Pos", 1), ("fIndexTracks_Neg", -1)):
            assert np.all((v0[col] >= 0) & (v0[col] < n_trk))
            assert np.all(sign[v0[col]] == expected)
            # both daughters belong to the V0's collision
            assert np.array_equal(trk["fIndexCollisions"][v0[col]], v0["fIndexCollisions"])
        for extension in ("O2trackextra_002", "O2trackcov_iu", "O2mctracklabel"):
            assert all(len(a) == n_trk for a in df[extension].values())
        # every collision contributes and reports its contributors
        counts = np.bincount(trk["fIndexCollisions"], minlength=n_coll)
        assert np.all(coll["fNumContrib"] >= 1) and np.all(counts >= coll["fNumContrib"])


def test_mc_tables_link_tracks_collisions_and_mothers(small_mc_frames) -> None:
    for df in small_mc_frames:
        mcc, mcp = df["O2mccollision_001"], df["O2mcparticle_001"]
        n_mcc, n_p = len(mcc["fPosZ"]), len(mcp["fPdgCode"])
        assert n_mcc == len(df["O2bc_001"]["fGlobalBC"])
        assert np.all(np.diff(mcp["fIndexMcCollisions"]) >= 0)
        labels = df["O2mctracklabel"]["fIndexMcParticles"]
        assert np.all((labels >= 0) & (labels < n_p))
        coll_labels = df["O2mccollisionlabel"]["fIndexMcCollisions"]
        assert len(coll_labels) == len(df["O2collision_001"]["fPosZ"])
        assert np.array_equal(mcc["fIndexBCs"][coll_labels], df["O2collision_001"]["fIndexBCs"])
        # tracks are labelled with particles of their own collision
        track_mc_coll = coll_labels[df["O2track_iu"]["fIndexCollisions"]]
        assert np.array_equal(mcp["fIndexMcCollisions"][labels], track_mc_coll)
        mothers = first_mother(mcp)
        has_mother = mothers >= 0
        # the daughters slice [first, last] holds exactly the particle's daughters
        first, last = mcp["fIndexSlice_Daughters"][:, 0], mcp["fIndexSlice_Daughters"][:, 1]
        assert np.array_equal(first >= 0, np.isin(np.arange(n_p), mothers))
        for i in np.flatnonzero(first >= 0):
            assert np.array_equal(np.flatnonzero(mothers == i), np.arange(first[i], last[i] + 1))
        assert np.all(mothers < n_p)
        assert set(np.abs(mcp["fPdgCode"][mothers[has_mother]])) <= {310, 3122}
        primary = (mcp["fFlags"] & 0x2) != 0
        assert np.array_equal(primary, ~has_mother)
        # the reconstructed vertex is near the true one
        dz = df["O2collision_001"]["fPosZ"] - mcc["fPosZ"][coll_labels]
        assert np.all(np.abs(dz) < 0.1)


def test_without_mc_no_truth_tables_are_written(tmp_path) -> None:
    manifest = generate_dataset(tmp_path, [1], 15, seed=1, events_per_df=10)
    (df, *_) = read_dataframes(manifest.paths())
    assert sorted(k for k in df if k.startswith("O2")) == sorted(REAL_TABLES)
    assert manifest.totals["mc_particles"] == 0


def _all_arrays(manifest: Manifest) -> list[tuple[str, str, np.ndarray]]:
    return [
        # std::vector columns (one array per row) compared as their concatenated values
        (df["_name"], f"{tree}.{col}", np.concatenate([*arr, []]) if arr.dtype == object else arr)
        for df in read_dataframes(manifest.paths())
        for tree, cols in df.items()
        if tree != "_name"
        for col, arr in cols.items()
    ]


@pytest.mark.slow
def test_same_seed_gives_identical_arrays_other_seed_differs(tmp_path) -> None:
    kwargs = dict(mc=True, events_per_df=10, dfs_per_file=1)
    a = _all_arrays(generate_dataset(tmp_path / "a", [7], 20, seed=99, **kwargs))
    b = _all_arrays(generate_dataset(tmp_path / "b", [7], 20, seed=99, **kwargs))
    c = _all_arrays(generate_dataset(tmp_path / "c", [7], 20, seed=100, **kwargs))
    assert [(d, n) for d, n, _ in a] == [(d, n) for d, n, _ in b]
    for (_, name, x), (_, _, y) in zip(a, b, strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    track_a = [x for _, n, x in a if n == "O2track_iu.fSigned1Pt"]
    track_c = [x for _, n, x in c if n == "O2track_iu.fSigned1Pt"]
    assert not all(
        len(x) == len(y) and np.array_equal(x, y) for x, y in zip(track_a, track_c, strict=True)
    )


def test_bad_arguments_are_refused_with_the_parameter_name(tmp_path) -> None:
    with pytest.raises(ValueError, match="events_per_df"):
        generate_dataset(tmp_path, [1], 10, events_per_df=0)
    with pytest.raises(ValueError, match="duplicate run"):
        generate_dataset(tmp_path, [1, 1], 10)


@pytest.mark.root
@pytest.mark.slow
def test_root_reads_the_demo_trees_as_zstd(small_mc: Manifest) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import ROOT
    path = small_mc.paths()[0]
    rf = ROOT.TFile.Open(str(path))
    try:
        assert rf.GetCompressionAlgorithm() == ROOT.RCompressionSetting.EAlgorithm.kZSTD
        (df, *_) = read_dataframes([path])
        tree = rf.Get(f"{df['_name']}/O2track_iu")
        assert tree.GetEntries() == len(df["O2track_iu"]["fX"])
        assert tree.Draw("1./abs(fSigned1Pt)", "fIndexCollisions >= 0", "goff") == tree.GetEntries()
    finally:
        rf.Close()


def test_files_carry_the_run3_metadata(small_mc: Manifest, tmp_path) -> None:
    from hyperloop.analysis.ao2d import open_ao2d

    for path in small_mc.paths():
        with open_ao2d(path) as f:
            meta = f.metadata()
        assert meta is not None
        assert (meta["DataType"], meta["Run"]) == ("MC", "3")
        assert {"RecoPassName", "AnchorProduction", "LPMProductionTag"} <= set(meta)
    data = generate_dataset(tmp_path, [1], 10, seed=1, events_per_df=10)
    with open_ao2d(data.paths()[0]) as f:
        assert f.metadata()["DataType"] == "RAW"
