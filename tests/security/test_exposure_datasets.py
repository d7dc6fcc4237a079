"""What a dataset catalogue can publish: files under the configured storage roots only
(normalised first), and the catalogue download serves only AO2D files under a local root —
never ``/etc/passwd``, the database or another server file, whatever an operator imports
and whatever the catalogue already holds."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert
from tests.factories import REALDATA
from tests.security.conftest import Served, ServeFactory

from hyperloop.db import models as m
from hyperloop.db.session import make_engine

AO2D = REALDATA / "AO2D_ud_rho_run3.root"
EOS = "root://eos.example.org//eos/alice/"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A storage root: a real AO2D file, a text file named like one, and a symlink out."""
    root = tmp_path_factory.mktemp("store")
    (root / "544013").mkdir()
    shutil.copy(AO2D, root / "544013" / "AO2D_001.root")
    (root / "544013" / "AO2D_fake.root").write_text("root:x:0:0:root:/root:/bin/bash\n")
    os.symlink("/etc/passwd", root / "544013" / "AO2D_link.root")
    return root


@pytest.fixture(scope="module")
def served(serve: ServeFactory, store: Path) -> Iterator[Served]:
    with serve(storage_roots=[str(store), EOS]) as s:
        yield s


def _files_url(served: Served) -> str:
    ids = served.world.ids
    return f"/api/datasets/{ids['dataset']}/productions/{ids['production']}/files"


def _import(served: Served, lines: list[str] | None = None, directory: str | None = None):
    body = {"lines": lines} if lines is not None else {"directory": directory}
    with closing(served.bearer("operator")) as c:
        return c.post(_files_url(served), json=body)


def _catalogue(served: Served) -> list[str]:
    ids = served.world.ids
    with closing(served.bearer("user")) as c:
        r = c.get(f"/api/datasets/{ids['dataset']}/files", params={"limit": 500})
    return [f["path"] for f in r.json()["items"]]


def _download(served: Served, path: str) -> httpx.Response:
    with closing(served.bearer("user")) as c:
        return c.get("/api/dataset-files/content", params={"path": path})


def test_an_import_outside_the_storage_roots_is_refused_whole(served: Served, store: Path):
    before = _catalogue(served)
    attacks = [
        "/etc/passwd",
        f"{served.data_dir}/../hyperloop.db",
        f"{store}/544013/../../../../etc/544013/passwd",
        f"{store}/../{store.name}-other/544013/AO2D.root",
        f"{store}/544013/AO2D_link.root",  # a symlink out of the root
        "relative/544013/AO2D.root",
        f"{EOS}../../etc/544013/AO2D.root",
        f"{EOS}%2e%2e/secret/544013/AO2D.root",
        "https://evil.example/544013/AO2D.root",
        "file:///etc/544013/passwd",
    ]
    for bad in attacks:
        r = _import(served, [f"{store}/544013/AO2D_001.root 100", f"{bad} 10"])
        assert r.status_code == 422, (bad, r.text)
        assert "line 2" in r.json()["message"], bad
    assert _catalogue(served) == before  # nothing of a refused list was imported
    outside = _import(served, directory="/etc")
    assert outside.status_code == 422 and "storage root" in outside.json()["message"]


def test_files_under_the_roots_are_imported_normalised_and_downloaded(served: Served, store: Path):
    real = f"{store}/544013/AO2D_001.root"
    r = _import(
        served,
        [f"{store}/./544013//AO2D_001.root {AO2D.stat().st_size}", f"{EOS}r/544013/AO2D.root 5"],
    )
    assert r.status_code == 200, r.text
    assert {real, f"{EOS}r/544013/AO2D.root"} <= set(_catalogue(served))
    got = _download(served, real)
    assert got.status_code == 200 and got.content == AO2D.read_bytes()
    remote = _download(served, f"{EOS}r/544013/AO2D.root")
    assert remote.status_code == 404 and "remote" in remote.json()["message"]


def test_the_download_serves_only_ao2d_files(served: Served, store: Path):
    fake = f"{store}/544013/AO2D_fake.root"
    assert _import(served, [f"{fake} 10"]).status_code == 200
    r = _download(served, fake)
    assert r.status_code == 404 and "root:x:0:0" not in r.text
    assert "not an AO2D file" in r.json()["message"]


def test_catalogue_entries_from_before_the_check_are_never_served(served: Served):
    """Entries an older server accepted (or a root removed since) stay unreadable."""
    (served.data_dir / "hyperloop.db").write_bytes(b"SQLite format 3\x00secret")
    engine = make_engine(served.world.url)
    with engine.begin() as conn:
        for path in ("/etc/passwd", f"{served.data_dir}/hyperloop.db"):
            conn.execute(
                insert(m.DatasetFile).values(
                    production_id=served.world.ids["production"],
                    run_number=544013,
                    path=path,
                    size=1,
                )
            )
    engine.dispose()
    for path in ("/etc/passwd", f"{served.data_dir}/hyperloop.db"):
        r = _download(served, path)
        assert r.status_code == 404, path
        assert "root:x:" not in r.text and "SQLite format" not in r.text
        assert "not under a storage root" in r.json()["message"]
    with closing(served.bearer("user")) as c:
        doc = c.get(f"/api/jobs/{served.world.ids['job']}/reproduce").json()
    assert not any("passwd" in p or "hyperloop.db" in p for p in doc["input_downloads"])


def test_without_storage_roots_no_dataset_file_is_accepted(serve: ServeFactory, store: Path):
    with serve() as plain:
        r = _import(plain, [f"{store}/544013/AO2D_001.root 100"])
        assert r.status_code == 422
        assert "storage_roots" in r.json()["message"] and "none configured" in r.json()["message"]
