"""The pages over a remote storage (``storage_url`` a URL): the output browser, the file
server with HTTP ranges, the profile viewer, the performance graphs and the outputs tab read
the storage through the server's mirror in ``cache_dir``, with the same containment; a
storage that cannot be reached is named, never a 500. The storage is fsspec's in-memory
filesystem (the server runs in this process); S3 itself: ``tests/e2e/test_s3_browse.py``."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import pytest
from fastapi.testclient import TestClient
from tests.served import free_port
from tests.web_pages.accounts import ANALYZER, PASSWORD, seed_accounts
from tests.web_pages.sample_outputs import seed_train

from hyperloop.grid import store
from hyperloop.settings import load_settings
from hyperloop.web.app import create_app

OUTPUT = "trains/1/output"  # relative to the storage (and to the mirror)


def _login(app) -> TestClient:
    c = TestClient(app)
    c.__enter__()
    r = c.post("/api/auth/login", json={"username": ANALYZER, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def _app(tmp: Path, storage_url: str):
    url = f"sqlite:///{tmp / 'pages.db'}"
    seed_accounts(url)
    seed_train(url)
    settings = load_settings(
        database_url=url,
        data_dir=tmp / "data",
        cache_dir=tmp / "cache",
        storage_url=storage_url,
        scheduler_in_server=False,
    )
    return create_app(settings)


@pytest.fixture(scope="module")
def storage(outputs_dir: Path):
    """The sample outputs of train run 1 uploaded to a storage URL; (url, fs, root)."""
    url = f"memory://pages-{uuid.uuid4().hex}/work"
    fs, root = fsspec.core.url_to_fs(url)
    for path in sorted((outputs_dir / "work").rglob("*")):
        if path.is_file():
            fs.pipe_file(
                f"{root}/{path.relative_to(outputs_dir / 'work').as_posix()}", path.read_bytes()
            )
    results = outputs_dir / "work/trains/1/output/AnalysisResults.root"
    fs.pipe_file(f"{root}/trains/1/merged/final/AnalysisResults.root", results.read_bytes())
    yield url, fs, root
    fs.rm(root, recursive=True)


@pytest.fixture(scope="module")
def remote_client(storage, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("mirror-app")
    with pytest.MonkeyPatch.context() as mp:
        # every ROOT file counts as big here: fetched only when opened
        mp.setattr(store, "MIRROR_LAZY_BYTES", 0)
        c = _login(_app(tmp, storage[0]))
        c.tmp = tmp
        yield c
        c.__exit__(None, None, None)


def test_the_output_browser_lists_the_storage(remote_client):
    top = remote_client.get("/api/outputs/browse", params={"path": ""}).json()
    assert [e["name"] for e in top["entries"]] == ["trains"]
    trains = remote_client.get("/api/outputs/browse", params={"path": "trains"}).json()
    assert [e["name"] for e in trains["entries"]] == ["1"]
    folder = remote_client.get("/api/outputs/browse", params={"path": OUTPUT}).json()
    names = [e["name"] for e in folder["entries"]]
    assert "AnalysisResults.root" in names and "profile.speedscope.json" in names
    root_file = remote_client.get(
        "/api/outputs/browse", params={"path": f"{OUTPUT}/AnalysisResults.root"}
    ).json()
    assert [h["id"] for h in root_file["histograms"]] == [
        "spectra/hPt",
        "spectra/hEtaPhi",
        "spectra/sparse/hPtEtaCent",
    ]


def test_files_are_served_from_the_mirror_with_ranges(remote_client, storage):
    _, fs, root = storage
    path = f"{OUTPUT}/AnalysisResults.root"
    whole = remote_client.get("/outputs/file", params={"path": path})
    assert whole.status_code == 200
    assert whole.content == fs.cat_file(f"{root}/{path}")
    part = remote_client.get(
        "/outputs/file", params={"path": path}, headers={"Range": "bytes=4-19"}
    )
    assert part.status_code == 206 and part.content == whole.content[4:20]
    # the copy lies in the server's cache folder
    copies = list((remote_client.tmp / "cache" / "storage-mirror").rglob("AnalysisResults.root"))
    assert [c.read_bytes() for c in copies if "output" in c.parts] == [whole.content]


def test_a_root_file_is_fetched_when_first_opened(remote_client, storage):
    _, fs, root = storage
    outputs = remote_client.get("/api/train-runs/1/outputs").json()
    assert outputs["final"]["size"] == fs.size(f"{root}/trains/1/merged/final/AnalysisResults.root")
    copy = next(
        (remote_client.tmp / "cache" / "storage-mirror").rglob("merged/final/AnalysisResults.root")
    )
    assert not copy.read_bytes().strip(b"\0")  # listed with its size, not fetched yet
    got = remote_client.get("/outputs/file", params={"path": outputs["final"]["path"]})
    assert got.content == fs.cat_file(f"{root}/trains/1/merged/final/AnalysisResults.root")
    assert copy.read_bytes() == got.content


def test_profiles_graphs_and_the_outputs_tab_read_the_storage(remote_client):
    viewer = remote_client.get(
        "/profile-viewer", params={"path": f"{OUTPUT}/profile.speedscope.json"}
    )
    assert viewer.status_code == 200 and "profileURL" in viewer.text
    graphs = remote_client.get(
        "/performance-graphs", params={"path": f"{OUTPUT}/performanceMetrics.json"}
    )
    assert graphs.status_code == 200 and "task-12" in graphs.text
    outputs = remote_client.get("/api/train-runs/1/outputs").json()
    assert outputs["final"]["path"] == "trains/1/merged/final/AnalysisResults.root"
    assert outputs["folder"] == "trains/1"


@pytest.mark.parametrize(
    "path",
    [
        "../files.index/trains__1.json",
        "trains/1/../../files.index/trains__1.json",
        "/etc/passwd",
        "trains/2/a.txt",
        "trains",
    ],
)
def test_nothing_beside_the_outputs_is_served(remote_client, path: str):
    r = remote_client.get("/outputs/file", params={"path": path})
    assert r.status_code in (400, 404), (path, r.status_code)


def test_a_storage_that_cannot_be_reached_is_named(tmp_path: Path):
    url = f"ftp://127.0.0.1:{free_port()}/work"  # nothing listens there
    c = _login(_app(tmp_path, url))
    try:
        for api in ("/api/outputs/browse?path=trains/1", "/api/train-runs/1/outputs"):
            r = c.get(api)
            assert r.status_code == 503, (api, r.status_code, r.text)
            assert r.json()["message"].startswith(f"storage {url} cannot be read"), r.json()
        page = c.get("/outputs/browse?path=trains/1", headers={"Accept": "text/html"})
        assert page.status_code == 503 and f"storage {url} cannot be read" in page.text
    finally:
        c.__exit__(None, None, None)
