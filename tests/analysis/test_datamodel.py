"""The O2 data model: versioned tables from datamodel/ao2d_tables.toml, trees found by their
O2 names, tasks bound to the current version, older versions read when their columns
suffice, and every column of every table read exactly as uproot reads it."""

from __future__ import annotations

import numpy as np
import pytest
import uproot

from hyperloop.analysis.ao2d import MissingTableError, TableVersionError, open_ao2d
from hyperloop.analysis.frame import Frame
from hyperloop.analysis.schema import (
    DATA_MODEL_FILE,
    STORED_AO2D_TABLES,
    TableSchema,
    default_registry,
)


def _random_column(schema: TableSchema, col: str, n: int, rng: np.random.Generator):
    if schema.is_vector(col):
        elem = np.dtype(schema.columns[col][len("vector<") : -1])
        out = np.empty(n, dtype=object)
        for i in range(n):
            k = int(rng.integers(0, 5))
            out[i] = (rng.normal(size=k) * 100).astype(elem)
        return out
    dt = schema.dtype(col)
    shape = (n, *dt.shape)
    base = dt.base
    if base.kind == "f":
        return rng.normal(size=shape).astype(base)
    if base.kind == "b":
        return rng.random(shape) < 0.5
    info = np.iinfo(base)
    return rng.integers(max(info.min, -1000), min(info.max, 1000), size=shape).astype(base)


def _tables(versions: str, n: int, rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
    """Every table of the data model (``current`` versions, or ``older`` ones)."""
    out = {}
    for table in STORED_AO2D_TABLES:
        chosen = [table] if versions == "current" else list(table.older)
        for schema in chosen:
            out[schema.o2name] = {c: _random_column(schema, c, n, rng) for c in schema.columns}
    return out


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype == object or b.dtype == object:
        return len(a) == len(b) and all(
            np.array_equal(x, y) and np.asarray(x).dtype == np.asarray(y).dtype
            for x, y in zip(a, b, strict=True)
        )
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def test_registry_holds_every_table_and_version_of_the_data_model():
    registry = default_registry()
    assert DATA_MODEL_FILE.name == "ao2d_tables.toml"
    assert "analysis-framework" in DATA_MODEL_FILE.read_text().splitlines()[3]
    current = {
        "BCs": "O2bc_001",
        "Collisions": "O2collision_001",
        "TracksIU": "O2track_iu",
        "TracksCovIU": "O2trackcov_iu",
        "TracksExtra": "O2trackextra_002",
        "FT0s": "O2ft0",
        "FV0As": "O2fv0a",
        "FDDs": "O2fdd_001",
        "Zdcs": "O2zdc_001",
        "V0s": "O2v0_002",
        "Cascades": "O2cascade_001",
        "McCollisions": "O2mccollision_001",
        "McParticles": "O2mcparticle_001",
        "McTrackLabels": "O2mctracklabel",
        "McCollisionLabels": "O2mccollisionlabel",
        "CaloTriggers": "O2calotrigger",
        "Origins": "O2origin",
    }
    for name, tree in current.items():
        assert registry.get(name).o2name == tree, name
        assert registry.get(tree).logical == name
    # versioned names: the current one is the table itself, older ones are tables too
    assert registry.get("Collisions_001") is registry.get("Collisions")
    old = registry.get("TracksExtra_000")
    assert (old.o2name, old.version) == ("O2trackextra", "000")
    assert "fITSClusterMap" in old.columns and "fITSClusterSizes" not in old.columns
    assert [t.version for t in registry.get("TracksExtra").older] == ["001", "000"]
    assert registry.get("O2collision").logical == "Collisions_000"
    # types as the documentation gives them
    assert registry.get("FDDs").dtype("fChargeA") == np.dtype(("int16", (8,)))
    assert registry.get("FT0s").is_vector("fAmplitudeA")
    assert registry.get("V0s").index_columns == {
        "fIndexCollisions": "Collisions",
        "fIndexTracks_Pos": "Tracks",
        "fIndexTracks_Neg": "Tracks",
    }
    # helper-task tables are known with their producer
    tracks = registry.get("Tracks")
    assert (tracks.o2name, tracks.stored, tracks.producer) == (
        "O2track",
        False,
        "track-propagation",
    )


@pytest.mark.parametrize("versions", ["current", "older"])
def test_every_column_of_every_table_reads_as_uproot_reads_it(tmp_ao2d, versions):
    rng = np.random.default_rng(15)
    tables = _tables(versions, 7, rng)
    path = tmp_ao2d({1: tables})
    registry = default_registry()
    with open_ao2d(path) as f, open_ao2d(path, fast=False) as f_slow, uproot.open(path) as ref:
        needed = {registry.get(tree).logical: set(cols) for tree, cols in tables.items()}
        frame = Frame.from_file(f, "DF_1", registry, needed)
        for tree, cols in tables.items():
            logical = registry.get(tree).logical
            arrays = frame.arrays(logical)
            expected = ref["DF_1"][tree].arrays(list(cols), library="np")
            assert set(arrays) == set(cols), tree
            for col in cols:
                assert _same(arrays[col], expected[col]), (tree, col)
                assert _same(arrays[col], tables[tree][col]), (tree, col)
                # the fast (basket) path and the uproot path agree
                slow = f_slow.read("DF_1", tree, [col])[col]
                assert _same(slow, expected[col]), (tree, col)
    n_older = sum(len(t.older) for t in STORED_AO2D_TABLES)
    assert len(tables) == (len(STORED_AO2D_TABLES) if versions == "current" else n_older)


def test_a_task_asking_for_the_current_version_reads_an_older_file_when_its_columns_suffice(
    tmp_ao2d,
):
    rng = np.random.default_rng(1)
    registry = default_registry()
    old = registry.get("Collisions_000")
    coll = {c: _random_column(old, c, 5, rng) for c in old.columns}
    path = tmp_ao2d({1: {"O2collision": coll}})
    with open_ao2d(path) as f:
        frame = Frame.from_file(f, "DF_1", registry, {"Collisions": {"fPosZ", "fNumContrib"}})
        np.testing.assert_array_equal(frame.table("Collisions")["fPosZ"], coll["fPosZ"])
        # a task may ask for a version explicitly
        frame = Frame.from_file(f, "DF_1", registry, {"Collisions_000": {"fCovXZ"}})
        np.testing.assert_array_equal(frame.table("Collisions_000")["fCovXZ"], coll["fCovXZ"])
        # the current version's name is the table itself (same binding, same fallback)
        frame = Frame.from_file(f, "DF_1", registry, {"Collisions_001": {"fPosZ"}})
        np.testing.assert_array_equal(frame.table("Collisions")["fPosZ"], coll["fPosZ"])
    # a file without any version of the table: the error names the versions looked for
    path = tmp_ao2d({1: {"O2bc_001": {"fRunNumber": np.zeros(2, np.int32)}}})
    with open_ao2d(path) as f, pytest.raises(MissingTableError) as err:
        Frame.from_file(f, "DF_1", registry, {"Collisions": {"fPosZ"}})
    assert "no table O2collision_001 (Collisions_001; older versions read too: O2collision)" in str(
        err.value
    )


def test_an_older_version_without_the_needed_columns_fails_naming_table_version_and_columns(
    tmp_ao2d,
):
    rng = np.random.default_rng(2)
    registry = default_registry()
    old = registry.get("TracksExtra_000")
    extra = {c: _random_column(old, c, 5, rng) for c in old.columns}
    path = tmp_ao2d({1: {"O2trackextra": extra}})
    with open_ao2d(path) as f:
        # itsNCls of the current version comes from fITSClusterSizes, which v000 lacks
        with pytest.raises(TableVersionError) as err:
            Frame.from_file(f, "DF_1", registry, {"TracksExtra": {"itsNCls", "fTPCSignal"}})
        msg = str(err.value)
        assert "holds TracksExtra in version 000 (O2trackextra)" in msg
        assert "lacks column(s) fITSClusterSizes" in msg
        assert "current version 002 (O2trackextra_002)" in msg
        # the columns v000 has are read
        frame = Frame.from_file(f, "DF_1", registry, {"TracksExtra": {"fTPCSignal"}})
        assert len(frame.table("TracksExtra")) == 5


def test_a_missing_helper_table_names_the_task_that_produces_it(tmp_ao2d):
    registry = default_registry()
    iu = registry.get("TracksIU")
    path = tmp_ao2d(
        {1: {"O2track_iu": {c: np.zeros(3, registry.get("TracksIU").dtype(c)) for c in iu.columns}}}
    )  # noqa: E501
    with open_ao2d(path) as f, pytest.raises(MissingTableError) as err:
        Frame.from_file(f, "DF_1", registry, {"Tracks": {"pt"}})
    assert "produced by the helper task track-propagation" in str(err.value)
    assert "it has: O2track_iu" in str(err.value)


def test_metadata_is_read_next_to_parent_files_and_given_to_tasks(tmp_ao2d):
    from hyperloop.analysis.ao2d import write_metadata, write_parent_files
    from hyperloop.analysis.ao2d_writer import AO2DWriter

    path = tmp_ao2d({}, name="empty.root")
    meta = {
        "DataType": "MC",
        "Run": "3",
        "RecoPassName": "apass4",
        "AnchorProduction": "LHC23zzh",
        "AnchorPassName": "apass4",
        "LPMProductionTag": "LHC24g3",
    }
    with AO2DWriter(path) as w:
        w.write_dataframe(1, {"O2bc_001": {"fRunNumber": np.array([544122], np.int32)}})
        write_metadata(w.file, meta)
        write_parent_files(w.file, {"DF_1": "/alice/parent/AO2D.root"})
    with open_ao2d(path) as f:
        assert f.metadata() == meta
        assert f.parent_files() == {"DF_1": "/alice/parent/AO2D.root"}
        frame = Frame.from_file(f, "DF_1", default_registry(), {"BCs": {"fRunNumber"}})
    assert frame.metadata == meta and frame.is_mc
    with uproot.open(path) as ref:
        assert ref.classname_of("metaData") == "TMap"
    # a file without metaData
    bare = tmp_ao2d({1: {"O2bc_001": {"fRunNumber": np.array([1], np.int32)}}})
    with open_ao2d(bare) as f:
        assert f.metadata() is None
        frame = Frame.from_file(f, "DF_1", default_registry(), {"BCs": {"fRunNumber"}})
    assert frame.metadata == {} and not frame.is_mc


def test_merging_keeps_vector_columns_and_metadata(tmp_ao2d, tmp_path):
    from hyperloop.analysis.ao2d import write_metadata
    from hyperloop.analysis.ao2d_writer import AO2DWriter
    from hyperloop.analysis.merge import merge_ao2d

    rng = np.random.default_rng(9)
    ft0 = default_registry().get("FT0s")
    paths = []
    for i in range(2):
        path = tmp_path / f"in{i}.root"
        with AO2DWriter(path) as w:
            w.write_dataframe(
                i + 1, {"O2ft0": {c: _random_column(ft0, c, 6, rng) for c in ft0.columns}}
            )
            write_metadata(w.file, {"DataType": "RAW", "Run": "3"})
        paths.append(path)
    out = tmp_path / "merged.root"
    merge_ao2d(out, paths)
    with open_ao2d(out) as m:
        assert m.metadata() == {"DataType": "RAW", "Run": "3"}
        for i, path in enumerate(paths):
            with open_ao2d(path) as src:
                df = f"DF_{i + 1}"
                cols = list(ft0.columns)
                got, want = m.read(df, "O2ft0", cols), src.read(df, "O2ft0", cols)
                for c in cols:
                    assert _same(got[c], want[c]), c


def test_a_task_on_tracks_at_the_innermost_point_needs_no_propagation(tmp_ao2d, tmp_path):
    from tests.factories import run3_dataframe

    from hyperloop.analysis.plan import build_plan
    from hyperloop.analysis.runner import run_train
    from hyperloop.analysis.spec import TrainSpec
    from hyperloop.analysis.task import Task
    from hyperloop.analysis.task import process as declare
    from hyperloop.analysis.workflows import Workflow, package_from_workflows

    class IUQA(Task):
        """Track quality at the innermost update point: pT and ITS clusters of TracksIU
        joined with TracksExtra (no track-propagation needed)."""

        name = "iu-qa"

        def init(self):
            self.histos.add("hNCls", "ITS clusters;n;tracks", [(8, -0.5, 7.5)])

        @declare(TracksIU=["pt"], TracksExtra=["itsNCls"])
        def process(self, df):
            t = df.table("TracksIU").join("TracksExtra")
            self.histos["hNCls"].fill(t["itsNCls"][t["pt"] > 0])

    tables, _ = run3_dataframe(np.random.default_rng(3), 10, 5)
    path = tmp_ao2d({1: tables})
    package = package_from_workflows([Workflow("iu-qa", (IUQA,))])
    spec = TrainSpec.from_json({"workflows": [{"workflow_name": "iu-qa"}]})
    result = run_train(build_plan(spec, package), [str(path)], tmp_path / "out")
    assert result.exit_code == 0, [f.message for f in result.failed_files]
