"""The user guide's steps through the REST API: create a wagon, upload a JSON configuration
(preview, then confirm), enable the wagon on a dataset and look at its test.

Run:  HYPERLOOP_TOKEN=hlt_... python docs/examples/api_walkthrough.py \
          https://hyperloop.example.org ANALYSIS_ID DATASET_ID docs/examples/wagon_ud_rho.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx


def check(response: httpx.Response) -> Any:
    """The JSON body, or an exception with the API's error message."""
    if response.status_code >= 400:
        body = response.json()
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {body.get('message')} {body.get('details') or ''}"
        )
    return response.json()


def walkthrough(client: httpx.Client, analysis_id: int, dataset_id: int, upload: Path) -> dict:
    """Each step of the user guide; returns the wagon and its tests."""
    # --8<-- [start:create]
    wagon = check(
        client.post(
            "/api/wagons",
            json={
                "analysis_id": analysis_id,
                "name": "rho_photoproduction",
                "workflow": "ud-rho",  # the newest package tag is used when tag_id is omitted
                "subwagons": {
                    "tightpid": {"ud-rho": {"maxTrackEta": "0.8"}},
                    "coherent": {"ud-rho": {"maxPairPtCoherent": "0.1"}},
                },
            },
        )
    )
    # --8<-- [end:create]
    # --8<-- [start:upload]
    uploaded = json.loads(upload.read_text())
    preview = check(
        client.post(
            f"/api/wagons/{wagon['id']}/configuration/preview", json={"configuration": uploaded}
        )
    )
    for row in preview["overview"]:
        if row["status"] != "unchanged":
            print(
                f"{row['scope']:>10} {row['task']}.{row['parameter']}: "
                f"{row['current']} -> {row['uploaded']} ({row['status']})"
            )
    if not preview["ok"]:
        raise RuntimeError("upload refused: " + "; ".join(preview["errors"]))
    wagon = check(
        client.put(
            f"/api/wagons/{wagon['id']}/configuration",
            # the version you previewed against: a concurrent edit gives 409, nothing is lost
            json={"configuration": uploaded, "expected_version": wagon["version"]},
        )
    )
    # --8<-- [end:upload]
    # --8<-- [start:enable]
    enabling = check(
        client.put(f"/api/wagons/{wagon['id']}/datasets/{dataset_id}", json={"policy": "latest"})
    )
    tests = check(client.get(f"/api/wagons/{wagon['id']}/tests"))
    # --8<-- [end:enable]
    return {"wagon": wagon, "enabling": enabling, "tests": tests}


def main(url: str, analysis_id: str, dataset_id: str, upload: str) -> int:
    token = os.environ["HYPERLOOP_TOKEN"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        out = walkthrough(client, int(analysis_id), int(dataset_id), Path(upload))
    print(json.dumps(out["tests"], indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
