"""Files in the real Run 3 layout (versioned tree names) run through the services; a file
holding only tracks at the innermost update point asks for track-propagation by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.factories import random_dataframe

from hyperloop.analysis.runner import run_train

from .conftest import make_spec


def test_services_run_on_versioned_trees(train, tmp_ao2d):
    rng = np.random.default_rng(3)
    tables = random_dataframe(rng, 40, 10)
    assert {"O2bc_001", "O2collision_001", "O2trackextra_002"} <= set(tables)
    path = tmp_ao2d({1: tables, 2: random_dataframe(rng, 30, 10)})
    run = train(["event-selection", "track-selection"], [path])
    cutflow = run.histos["event-selection"]["hCutFlow"]
    assert cutflow.values()[0] == 70  # every collision of both dataframes was read


def test_tracks_at_the_innermost_point_only_name_the_propagation_service(
    physics, tmp_ao2d, tmp_path
):
    from hyperloop.analysis.plan import build_plan

    rng = np.random.default_rng(4)
    tables = random_dataframe(rng, 10, 5)
    tables["O2track_iu"] = tables.pop("O2track")
    path = tmp_ao2d({1: tables})
    plan = build_plan(make_spec(["event-selection", "track-selection"]), physics)
    result = run_train(plan, [str(path)], tmp_path / "out")
    assert result.exit_code == 1
    (failed,) = result.failed_files
    assert failed.error_type == "MissingTableError"
    assert "has no table O2track (Tracks" in failed.message
    assert "produced by the helper task track-propagation" in failed.message


@pytest.mark.parametrize("tree", ["O2collision", "O2collision_001"])
def test_event_selection_reads_either_collisions_version(train, tmp_ao2d, tree):
    rng = np.random.default_rng(5)
    tables = random_dataframe(rng, 20, 3)
    tables[tree] = tables.pop("O2collision_001")
    run = train(["event-selection"], [tmp_ao2d({1: tables})])
    assert run.histos["event-selection"]["hCutFlow"].values()[0] == 20


def test_derived_data_keeps_the_metadata_of_its_input(train, tmp_path):
    from hyperloop.analysis.ao2d import open_ao2d
    from hyperloop.demo import generate_dataset

    data = generate_dataset(tmp_path / "in", [7], 40, seed=2, events_per_df=20)
    run = train(
        [
            *("track-propagation", "event-selection", "track-selection", "multiplicity"),
            "skim-tracks",
        ],
        data.paths(),
        derived_tables=("O2skimcollision", "O2skimtrack"),
    )
    with open_ao2d(run.derived) as out, open_ao2d(data.paths()[0]) as src:
        assert out.metadata() == src.metadata()
        assert out.metadata()["DataType"] == "RAW"


@pytest.mark.parametrize("covariance", [False, True])
def test_track_propagation_finds_the_tracks_at_their_vertex(train, tmp_ao2d, covariance):
    import uproot
    from tests.factories import run3_dataframe

    rng = np.random.default_rng(6)
    # run 523309 has the negative field in the conditions, 523308 the positive one
    (a, exp_a), (b, exp_b) = run3_dataframe(rng, 30, 8, 523308), run3_dataframe(rng, 20, 8, 523309)
    path = tmp_ao2d({1: a, 2: b})
    switches = {"processStandard": "false", "processCovariance": "true"} if covariance else {}
    run = train(
        ["track-propagation", "event-selection", "track-selection"],
        [path],
        configuration={"track-propagation": {"track-propagation": switches}},
        derived_tables=("O2track", "O2trackdca", *(("O2trackcov",) if covariance else ())),
    )
    with uproot.open(run.derived) as f:
        for df, expected in (("DF_1", exp_a), ("DF_2", exp_b)):
            trk = f[f"{df}/O2track"].arrays(library="np")
            dca = f[f"{df}/O2trackdca"].arrays(library="np")
            assert np.all(trk["fTrackType"] == 0)  # propagated: TrackTypeEnum::Track
            for col in ("fZ", "fTgl", "fSigned1Pt"):
                np.testing.assert_allclose(trk[col], expected[col], atol=2e-4, err_msg=col)

            def glob(t):  # the track point in the global frame (the local frame may differ)
                ca, sa = np.cos(t["fAlpha"]), np.sin(t["fAlpha"])
                return t["fX"] * ca - t["fY"] * sa, t["fX"] * sa + t["fY"] * ca

            for got, want in zip(glob(trk), glob(expected), strict=True):
                np.testing.assert_allclose(got, want, atol=2e-4)
            phi = trk["fAlpha"] + np.arcsin(trk["fSnp"])
            phi_exp = expected["fAlpha"] + np.arcsin(expected["fSnp"])
            assert np.abs(np.angle(np.exp(1j * (phi - phi_exp)))).max() < 1e-4
            np.testing.assert_allclose(dca["fDcaXY"], expected["fDcaXY"], atol=2e-5)
            np.testing.assert_allclose(dca["fDcaZ"], expected["fDcaZ"], atol=2e-5)
            if covariance:
                cov = f[f"{df}/O2trackcov"].arrays(library="np")
                # back at the vertex, the transported y uncertainty is about the original one:
                # O2's rotation of the covariance is an approximation (it ignores the change
                # of x), and the stored correlations are rounded to 1/128
                assert np.median(cov["fSigmaY"]) == pytest.approx(0.005, rel=0.05)
                assert np.all((cov["fSigmaY"] > 0.0025) & (cov["fSigmaY"] < 0.01))
                np.testing.assert_allclose(cov["fSigma1Pt"], 0.02, rtol=1e-3)
    assert run.histos["track-selection"]  # the selection ran on the propagated tracks


def test_track_propagation_with_the_wrong_field_misses_the_vertex(train, tmp_ao2d):
    import uproot
    from tests.factories import run3_dataframe

    rng = np.random.default_rng(7)
    tables, expected = run3_dataframe(rng, 20, 8, 523308)
    run = train(
        ["track-propagation", "event-selection"],
        [tmp_ao2d({1: tables})],
        configuration={"track-propagation": {"track-propagation": {"bz": "-5.0"}}},
        derived_tables=("O2trackdca",),
    )
    with uproot.open(run.derived) as f:
        dca = f["DF_1/O2trackdca"].arrays(library="np")
    assert np.median(np.abs(dca["fDcaXY"] - expected["fDcaXY"])) > 0.01


def test_track_propagation_refuses_both_or_no_process_switch(train, tmp_ao2d):
    from tests.factories import run3_dataframe

    rng = np.random.default_rng(8)
    tables, _ = run3_dataframe(rng, 5, 3)
    from hyperloop.analysis.configurables import ConfigurationError

    with pytest.raises(ConfigurationError, match="enable exactly one of processStandard"):
        train(
            ["track-propagation", "event-selection"],
            [tmp_ao2d({1: tables})],
            configuration={
                "track-propagation": {"track-propagation": {"processCovariance": "true"}}
            },
        )


def test_every_physics_workflow_runs_on_a_file_with_every_stored_table(train, mc_dataset):
    import uproot

    from hyperloop.demo.generator import MC_TABLES, REAL_TABLES

    with uproot.open(mc_dataset[0]) as f:
        df = next(k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_"))
        assert sorted(f[df].keys(cycle=False)) == sorted((*REAL_TABLES, *MC_TABLES))
    workflows = [
        "track-propagation",
        "event-selection",
        "track-selection",
        "multiplicity",
        "pid",
        "spectra-charged",
        "mc-spectra",
        "two-particle-correlations",
        "strangeness",
        "skim-tracks",
    ]
    run = train(workflows, mc_dataset[:1], derived_tables=("O2skimcollision", "O2skimtrack"))
    for wf in workflows[1:]:
        assert run.histos[wf], wf
    assert run.histos["spectra-charged"]["hPt"].values().sum() > 1000


def test_timestamp_dates_every_bunch_crossing_from_the_conditions(train, tmp_path):
    import uproot

    from hyperloop.analysis.conditions import LHC_BUNCH_SPACING_NS, orbit_reset_ms
    from hyperloop.demo import generate_dataset

    data = generate_dataset(tmp_path / "in", [523309], 30, seed=3, events_per_df=15)
    run = train(["timestamp", "event-selection"], data.paths(), derived_tables=("O2timestamp",))
    with uproot.open(run.derived) as out, uproot.open(data.paths()[0]) as src:
        for df in (k for k in src.keys(recursive=False, cycle=False) if k.startswith("DF_")):
            ts = out[f"{df}/O2timestamp"]["fTimestamp"].array(library="np")
            gbc = src[f"{df}/O2bc_001"]["fGlobalBC"].array(library="np")
            expected = orbit_reset_ms(523309) + np.floor(gbc * LHC_BUNCH_SPACING_NS * 1e-6)
            np.testing.assert_array_equal(ts, expected.astype(np.uint64))
            assert np.all(np.diff(ts.astype(np.int64)) >= 0)  # BCs are in time order


def test_track_propagation_reads_the_field_from_the_conditions_service(
    train, tmp_ao2d, tmp_path, monkeypatch
):
    """The field comes from the conditions service (one call per run and job, counted in the
    metrics): a service that gives run 523308 the wrong sign makes the tracks miss."""
    import json

    import uproot
    from tests.factories import run3_dataframe

    from hyperloop.analysis import ccdb
    from hyperloop.analysis.ccdb import export_objects
    from hyperloop.analysis.ccdb_service import serve_in_thread
    from hyperloop.analysis.conditions import MAG_FIELD_PATH

    folder = tmp_path / "ccdb"
    export_objects(folder)
    wrong = folder / MAG_FIELD_PATH / "0_9223372036854775807_run523308-523308.json"
    wrong.write_text(json.dumps({"bz_kg": -5.0}))
    server, url = serve_in_thread(folder)
    monkeypatch.setenv(ccdb.CONDITIONS_URL_ENV, url)
    try:
        rng = np.random.default_rng(7)
        tables, expected = run3_dataframe(rng, 20, 8, 523308)
        more, _ = run3_dataframe(rng, 20, 8, 523308)
        run = train(
            ["track-propagation", "event-selection"],
            [tmp_ao2d({1: tables, 2: more})],
            derived_tables=("O2trackdca",),
        )
    finally:
        server.shutdown()
        server.server_close()
        ccdb.reset()
    with uproot.open(run.derived) as f:
        dca = f["DF_1/O2trackdca"].arrays(library="np")
    assert np.median(np.abs(dca["fDcaXY"] - expected["fDcaXY"])) > 0.01
    summary = json.loads((Path(run.result.out_dir) / "metrics_summary.json").read_text())
    assert summary["track-propagation"]["conditions-calls"] == 1  # two DFs, one run: cached
    assert summary["__full_train__"]["conditions-calls"] == 1


@pytest.mark.parametrize("mode", ["dataframes", "processes"])
def test_conditions_calls_are_counted_on_two_cores(physics, tmp_ao2d, tmp_path, mode):
    """Calls made in dataframe workers or device processes reach the metrics too (each
    process has its own per-job cache: at most one call per process and run)."""
    import json

    from tests.factories import run3_dataframe

    from hyperloop.analysis.plan import build_plan

    rng = np.random.default_rng(8)
    frames = {k: run3_dataframe(rng, 20, 8, 523308)[0] for k in range(1, 5)}
    spec = make_spec(["track-propagation", "event-selection"])
    run_train(build_plan(spec, physics), [str(tmp_ao2d(frames))], tmp_path, cores=2, mode=mode)
    summary = json.loads((tmp_path / "metrics_summary.json").read_text())
    assert 1 <= summary["track-propagation"]["conditions-calls"] <= 2
    assert (
        summary["__full_train__"]["conditions-calls"]
        == summary["track-propagation"]["conditions-calls"]
    )
    assert not list(tmp_path.glob(".conditions-calls.*"))  # collected and removed
