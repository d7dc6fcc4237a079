"""What the output browser serves: the outputs of train runs, train tests, jobs and wagon
tests to the users who may read them, never the rest of the data folder (the database, its
WAL, the demo accounts, any file beside the outputs)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.factories import REALDATA
from tests.security.conftest import Served, ServeFactory

from hyperloop.db import models as m
from hyperloop.db.session import make_engine, make_sessionmaker

SECRET = "the-plain-password-of-admin"
RESULTS = REALDATA / "AnalysisResults_o2_twopartcorr.root"


def _first_wagon_test(served: Served) -> int:
    engine = make_engine(served.world.url)
    try:
        with make_sessionmaker(engine)() as s:
            return s.scalars(select(m.WagonTest.id).order_by(m.WagonTest.id)).first()
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def world_files(serve: ServeFactory) -> Iterator[Served]:
    """A server whose data folder holds what an installation holds: the database and its
    WAL, the demo accounts, a train run's merged results and job log, a wagon test's
    profile, a folder of a train run that does not exist, and symlinks out of an output."""
    with serve() as served:
        data = served.data_dir
        (data / "demo-accounts.json").write_text(
            f'[{{"username": "admin", "password": "{SECRET}"}}]'
        )
        (data / "hyperloop.db").write_bytes(b"SQLite format 3\x00" + SECRET.encode())
        (data / "hyperloop.db-wal").write_bytes(SECRET.encode())
        train = data / "work" / "trains" / str(served.world.ids["train"])
        (train / "merged" / "final").mkdir(parents=True)
        shutil.copy(RESULTS, train / "merged" / "final" / "AnalysisResults.root")
        job = train / "jobs" / f"job-{served.world.ids['job']}" / "attempt-1"
        job.mkdir(parents=True)
        (job / "console.log").write_text("job log\n")
        os.symlink(data / "hyperloop.db", job / "database.root")
        os.symlink(data, train / "everything")
        test = data / "work" / "tests" / f"wagon-test-{_first_wagon_test(served)}" / "sample"
        test.mkdir(parents=True)
        (test / "profile.speedscope.json").write_text('{"profiles": []}')
        ghost = data / "work" / "trains" / "999999"
        ghost.mkdir(parents=True)
        (ghost / "AnalysisResults.root").write_bytes(SECRET.encode())
        yield served


def _served_anywhere(text: str) -> bool:
    return SECRET in text


SECRET_PATHS = [
    "demo-accounts.json",
    "hyperloop.db",
    "hyperloop.db-wal",
    "work/trains/999999/AnalysisResults.root",
]


@pytest.mark.parametrize("path", SECRET_PATHS)
def test_no_user_downloads_the_database_or_the_demo_accounts(world_files: Served, path: str):
    for role in ("user", "admin"):
        with closing(world_files.login(role)) as c:
            r = c.get("/outputs/file", params={"path": path})
            page = c.get("/outputs/browse", params={"path": path})
            api = c.get("/api/outputs/browse", params={"path": path})
        assert r.status_code == 404, (role, path, r.status_code)
        assert not _served_anywhere(r.text)
        assert page.status_code == 404 and not _served_anywhere(page.text)
        assert api.status_code == 404 and "not served" in api.json()["message"]


def test_symlinks_out_of_an_output_folder_are_not_followed(world_files: Served):
    with closing(world_files.login("user")) as c:
        train = f"work/trains/{world_files.world.ids['train']}"
        job = f"{train}/jobs/job-{world_files.world.ids['job']}/attempt-1"
        for path in (f"{job}/database.root", f"{train}/everything/demo-accounts.json"):
            r = c.get("/outputs/file", params={"path": path})
            assert r.status_code == 404 and not _served_anywhere(r.text), path
        listing = c.get("/api/outputs/browse", params={"path": job}).json()
        assert [e["name"] for e in listing["entries"]] == ["console.log"]


def test_the_listing_shows_only_the_way_to_outputs_the_user_may_read(world_files: Served):
    with closing(world_files.login("user")) as c:
        top = c.get("/api/outputs/browse", params={"path": ""})
        assert top.status_code == 200
        assert [e["name"] for e in top.json()["entries"]] == ["work"]
        trains = c.get("/api/outputs/browse", params={"path": "work/trains"}).json()
        assert [e["name"] for e in trains["entries"]] == [str(world_files.world.ids["train"])]
        tests = c.get("/api/outputs/browse", params={"path": "work/tests"}).json()
        assert [e["name"] for e in tests["entries"]] == [
            f"wagon-test-{_first_wagon_test(world_files)}"
        ]
        html = c.get("/outputs/browse").text
        assert "demo-accounts.json" not in html and "hyperloop.db" not in html


def test_a_train_runs_outputs_are_served_to_its_readers_only(world_files: Served):
    path = f"work/trains/{world_files.world.ids['train']}/merged/final/AnalysisResults.root"
    with closing(world_files.login("user")) as c:
        got = c.get("/outputs/file", params={"path": path})
    assert got.status_code == 200 and got.content == RESULTS.read_bytes()
    with world_files.bearer("analyzer") as c:
        listing = c.get("/api/outputs/browse", params={"path": path})
    assert listing.status_code == 200 and listing.json()["kind"] == "root"
    with world_files.client() as c:
        anonymous = c.get("/outputs/file", params={"path": path})
    assert anonymous.status_code == 401


def test_profile_viewer_and_metrics_graphs_open_outputs_only(world_files: Served):
    with closing(world_files.login("user")) as c:
        profile = f"work/tests/wagon-test-{_first_wagon_test(world_files)}/sample"
        ok = c.get("/profile-viewer", params={"path": f"{profile}/profile.speedscope.json"})
        assert ok.status_code == 200
        for page in ("/profile-viewer", "/performance-graphs"):
            r = c.get(page, params={"path": "demo-accounts.json"})
            assert r.status_code == 404 and not _served_anywhere(r.text), page
            assert "not an output" in r.text


def test_nothing_outside_the_work_folder_is_reached_through_outputs_root(
    serve: ServeFactory, tmp_path: Path
):
    """An outputs root above the data folder still shows only the outputs under work_dir."""
    (tmp_path / "notes.txt").write_text(SECRET)
    settings = {"outputs_root": str(tmp_path), "work_dir": str(tmp_path / "work")}
    with serve(**settings) as served, closing(served.login("admin")) as c:
        assert c.get("/outputs/file", params={"path": "notes.txt"}).status_code == 404
        top = c.get("/api/outputs/browse", params={"path": ""}).json()
        assert top["entries"] == []
