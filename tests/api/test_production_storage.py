"""A runlist production fills its file catalogue by listing the storage of each of its runs
(a local folder here, through fsspec): no hand-typed list, excluded runs not listed, runs
without files named; the dataset's totals leave the excluded runs' files out."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from tests.factories import ApiWorld

from hyperloop.settings import load_settings
from hyperloop.web.app import create_app


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)


def test_a_runlist_production_lists_the_storage_of_its_runs(world: ApiWorld, tmp_path) -> None:
    storage = tmp_path / "alice" / "LHC23zzh" / "pass4"
    _write(storage / "544013" / "AO2D_001.root", 100)
    _write(storage / "544013" / "002" / "AO2D.root", 50)  # any depth below the run
    _write(storage / "544013" / "QC.root", 7)  # not an AO2D file
    _write(storage / "544028" / "AO2D_001.root", 30)
    _write(storage / "999999" / "AO2D_001.root", 5)  # not a run of the runlist
    app = create_app(load_settings(database_url=world.url, storage_roots=[str(tmp_path)]))
    ds, prod = world.ids["dataset"], world.ids["production"]
    url = f"/api/datasets/{ds}/productions/{prod}"
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {world.tokens['operator']}"
        before = client.get(f"/api/datasets/{ds}/overview").json()
        assert before["catalogue"]["files"] == 0

        excluded = client.put(f"{url}/excluded-runs", json={"runs": [544028]})
        assert excluded.status_code == 200, excluded.text
        listed = client.post(f"{url}/files/from-storage", json={"base": str(storage)})
        assert listed.status_code == 200, listed.text
        assert listed.json() == {
            "base": str(storage),
            "added": 2,
            "runs_listed": [544013],
            "runs_without_files": [],
            "excluded_runs": [544028],
        }
        client.put(f"{url}/excluded-runs", json={"runs": []})
        again = client.post(f"{url}/files/from-storage", json={"base": str(storage) + "/"})
        assert again.json()["added"] == 1  # the files already there are not added twice
        files = client.get(f"/api/datasets/{ds}/files").json()["items"]
        assert sorted((f["run_number"], f["size"]) for f in files) == [
            (544013, 50),
            (544013, 100),
            (544028, 30),
        ]

        client.put(f"{url}/excluded-runs", json={"runs": [544028]})
        overview = client.get(f"/api/datasets/{ds}/overview").json()
        assert overview["catalogue"] == {"files": 2, "bytes": 150, "runs": 1}
        [p] = [p for p in overview["productions"] if p["id"] == prod]
        assert (p["files"], p["bytes"], p["catalogue_runs"]) == (2, 150, 1)
        assert (p["excluded_files"], p["excluded_bytes"]) == (1, 30)

        # a run with no folder is named; a folder outside the storage roots is refused
        (storage / "544013").rename(tmp_path / "moved")
        client.put(f"{url}/excluded-runs", json={"runs": []})
        missing = client.post(f"{url}/files/from-storage", json={"base": str(storage)})
        assert missing.json()["runs_without_files"] == [544013]
        outside = client.post(f"{url}/files/from-storage", json={"base": "/etc"})
        assert outside.status_code in (400, 422)
        assert "storage root" in outside.json()["message"]
        nowhere = client.post(f"{url}/files/from-storage", json={"base": str(tmp_path / "no")})
        assert nowhere.status_code == 422 and "does not exist" in nowhere.json()["message"]
        analyzer = {"Authorization": f"Bearer {world.tokens['analyzer']}"}
        denied = client.post(
            f"{url}/files/from-storage", json={"base": str(storage)}, headers=analyzer
        )
        assert denied.status_code == 403
