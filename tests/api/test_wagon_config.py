"""Wagon configuration download/upload through the API with the real O2 files:
preview (overview + diff, nothing saved), confirm (saved, version-checked), download."""

from __future__ import annotations

import json
from pathlib import Path

from tests.factories import STRANGENESS_CHANGED, ApiWorld


def _wagon(client, wagon_id: int) -> dict:
    response = client.get(f"/api/wagons/{wagon_id}")
    assert response.status_code == 200
    return response.json()


def test_real_strangeness_config_preview_then_confirm(
    as_role, world: ApiWorld, realdata: Path
) -> None:
    alice = as_role("analyzer")
    wid = world.ids["strange_wagon"]
    uploaded = json.loads((realdata / "dpl-config_strangeness.json").read_text())
    before = _wagon(alice, wid)

    preview = alice.post(
        f"/api/wagons/{wid}/configuration/preview", json={"configuration": uploaded}
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["ok"] and body["errors"] == []
    changed = {(d["path"], json.dumps(d["new"])) for d in body["diff"]}
    expected = {
        (f"base_config.{task}.{param}", json.dumps(uploaded[task][param]))
        for task, params in STRANGENESS_CHANGED.items()
        for param in params
    }
    assert changed == expected
    statuses = {(r["task"], r["parameter"]): r["status"] for r in body["overview"]}
    assert statuses[("strangeness_tutorial", "cutzvertex")] == "changed"
    assert statuses[("strangeness_tutorial", "NSigmaTPCPion")] == "unchanged"
    assert any("internal-dpl-aod-reader" in item for item in body["ignored"])
    assert _wagon(alice, wid) == before  # a preview saves nothing

    confirm = alice.put(
        f"/api/wagons/{wid}/configuration",
        json={"configuration": uploaded, "expected_version": before["version"]},
    )
    assert confirm.status_code == 200, confirm.text
    saved = confirm.json()
    assert saved["version"] == before["version"] + 1
    assert saved["base_config"]["strangeness_tutorial"]["cutzvertex"] == "10"
    axis = saved["base_config"]["lambdakzero-builder"]["axisTopoVarV0Radius"]
    assert axis == uploaded["lambdakzero-builder"]["axisTopoVarV0Radius"]

    download = alice.get(f"/api/wagons/{wid}/configuration")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="strange.json"'
    base = download.json()["base"]
    for task, params in base.items():
        for param, value in params.items():
            assert value == uploaded[task][param], (task, param)

    history = alice.get(f"/api/wagons/{wid}/history").json()
    assert history["items"][-1]["reason"] == "configuration upload"


def test_download_then_upload_is_a_no_op(as_role, world: ApiWorld) -> None:
    alice = as_role("analyzer")
    wid = world.ids["wagon"]
    downloaded = alice.get(f"/api/wagons/{wid}/configuration").json()
    preview = alice.post(
        f"/api/wagons/{wid}/configuration/preview", json={"configuration": downloaded}
    ).json()
    assert preview["ok"] and preview["diff"] == []


def test_upload_with_a_wrongly_typed_value_is_refused_with_its_location(
    as_role, world: ApiWorld
) -> None:
    alice = as_role("analyzer")
    wid = world.ids["wagon"]
    bad = {"spectra-task": {"nBins": "many"}}
    preview = alice.post(f"/api/wagons/{wid}/configuration/preview", json={"configuration": bad})
    assert preview.status_code == 200
    body = preview.json()
    assert not body["ok"]
    assert body["problems"][0]["task"] == "spectra-task"
    assert body["problems"][0]["parameter"] == "nBins"
    confirm = alice.put(
        f"/api/wagons/{wid}/configuration", json={"configuration": bad, "expected_version": 1}
    )
    assert confirm.status_code == 422
    assert confirm.json()["error"] == "validation_error"
    assert "nBins" in confirm.json()["message"]


def test_real_ud_rho_config_uploads_into_a_new_wagon(as_role, world: ApiWorld, realdata) -> None:
    alice = as_role("analyzer")
    created = alice.post(
        "/api/wagons",
        json={"analysis_id": world.ids["analysis"], "name": "rho", "workflow": "ud-rho"},
    )
    assert created.status_code == 201, created.text
    wagon = created.json()
    uploaded = json.loads((realdata / "dpl-config_ud_rho.json").read_text())
    uploaded["upc-central-barrel-simple"]["verboseInfo"] = "false"
    saved = alice.put(
        f"/api/wagons/{wagon['id']}/configuration",
        json={"configuration": uploaded, "expected_version": wagon["version"]},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["base_config"]["upc-central-barrel-simple"]["verboseInfo"] == "false"
