"""``hyperloop conditions``: export the built-in objects, serve a folder; a missing folder
is one clear error and exit 2."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from hyperloop.analysis import ccdb
from hyperloop.analysis.conditions import MAG_FIELD_PATH
from hyperloop.cli import app as cli_app


def test_export_writes_the_objects_the_client_reads(tmp_path):
    result = CliRunner().invoke(cli_app, ["conditions", "export", str(tmp_path / "objs")])
    assert result.exit_code == 0, result.output
    assert f"{MAG_FIELD_PATH}/0_9223372036854775807_run523309-523309.json" in result.output
    client = ccdb.ConditionsClient(ccdb.source_from(str(tmp_path / "objs")))
    assert client.get(MAG_FIELD_PATH, 1, run=523309) == {"bz_kg": -5.0}
    assert client.get(MAG_FIELD_PATH, 1, run=523310) == {"bz_kg": 5.0}
    calib = json.loads(
        (tmp_path / "objs/TPC/Calib/BetheBloch/0_9223372036854775807.json").read_text()
    )
    assert len(calib["params"]) == 5 and calib["mip"] == 50.0


def test_serve_refuses_a_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    result = CliRunner().invoke(cli_app, ["conditions", "serve", "--folder", str(missing)])
    assert result.exit_code == 2
    assert f"error: conditions folder not found: {missing}" in result.output
    assert "Traceback" not in result.output
