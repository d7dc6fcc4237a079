"""The demo site (``hyperloop serve --demo`` / ``hyperloop demo-site``): prepared once,
idempotent, and usable through the real API with the printed accounts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hyperloop.core import enabling
from hyperloop.db import models as m
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.demo.site import DATASET, DemoSite, prepare_demo
from hyperloop.enums import TestStatus
from hyperloop.settings import load_settings

COUNTED = (m.User, m.Analysis, m.Wagon, m.Dataset, m.DatasetFile, m.PackageTag, m.WagonTest)


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as s:
            return {t.__name__: s.scalar(select(func.count()).select_from(t)) for t in COUNTED}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoSite, object]]:
    root = tmp_path_factory.mktemp("demo-site")
    settings = load_settings(
        data_dir=root / "var", database_url=f"sqlite:///{root / 'var' / 'hyperloop.db'}"
    )
    lines: list[str] = []
    site = prepare_demo(settings, report=lines.append, events_per_run=200, pool_size=100)
    assert any("generating demo data" in line for line in lines)
    yield site, settings


def _client(settings) -> TestClient:
    from hyperloop.web.app import create_app

    return TestClient(create_app(settings))


def _login(client: TestClient, site: DemoSite, username: str) -> dict[str, str]:
    password = next(p for _, u, p in site.accounts if u == username)
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"X-CSRF-Token": r.json()["csrf_token"]}


@pytest.mark.slow
def test_prepared_once_then_found_again(demo):
    site, settings = demo
    assert site.seeded
    roles = {role for role, _, _ in site.accounts}
    assert {"admin", "operator", "analyzer"} <= roles
    assert [u for r, u, _ in site.accounts if r == "analyzer"] == ["alice", "bob"]
    assert all(p is not None and len(p) >= 12 for _, _, p in site.accounts)
    assert "shown only now" in site.describe() and "hyperloop user password" in site.describe()
    files = sorted(site.demo_data.rglob("AO2D_*.root"))
    assert len({f.parent.name for f in files}) == 3  # several runs: per-run merging shows
    assert "hyperloop-physics-0.2.0" in site.tags
    before = _counts(site.database_url)
    assert before["DatasetFile"] == len(files) and before["Wagon"] >= 8

    again = prepare_demo(settings, events_per_run=200, pool_size=100)
    assert not again.seeded
    # the same accounts; their passwords were printed once and are not known any more
    assert [(r, u) for r, u, _ in again.accounts] == [(r, u) for r, u, _ in site.accounts]
    assert all(p is None for _, _, p in again.accounts)
    assert _counts(site.database_url) == before
    assert sorted(site.demo_data.rglob("AO2D_*.root")) == files
    text = again.describe("http://127.0.0.1:8000/")
    assert "http://127.0.0.1:8000/" in text and "alice" in text
    assert "hyperloop user password" in text


@pytest.mark.slow
def test_no_file_of_the_demo_holds_a_plain_password(demo):
    site, _settings = demo
    secrets = [p.encode() for _, _, p in site.accounts]
    for path in site.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(s in content for s in secrets), path


@pytest.mark.slow
def test_content_is_a_complete_system(demo):
    site, settings = demo
    client = _client(settings)
    _login(client, site, "alice")
    ds = client.get("/api/datasets", params={"name": DATASET}).json()["items"]
    dataset = next(d for d in ds if d["name"] == DATASET)
    detail = client.get(f"/api/datasets/{dataset['id']}").json()
    assert detail["active"] and detail["productions"]
    assert {ml["name"] for ml in detail["mergelists"]} == {"early", "late"}
    runlists = client.get("/api/runlists").json()["items"]
    assert len(runlists[0]["runs"]) == 3
    tags = client.get("/api/tags").json()["items"]
    assert any(t["version"] == "0.2.0" for t in tags)
    engine = make_engine(site.database_url)
    with make_sessionmaker(engine)() as s:
        spectra = s.scalars(select(m.Wagon).where(m.Wagon.name == "spectra")).one()
        assert set(spectra.subwagons) == {"eta05", "eta03"}
        skimmed = s.scalars(select(m.Wagon).where(m.Wagon.name == "spectra_skimmed")).one()
        assert [d.name for d in skimmed.dependencies] == ["skim"]  # a user-defined dependency
        assert not skimmed.dependencies[0].analysis.is_service
        targets = {t.name: t for t in s.scalars(select(m.Target))}
        assert "test" in targets and any(t.cores >= 1 for t in targets.values())
        tag = s.scalars(select(m.PackageTag).where(m.PackageTag.version == "0.2.0")).one()
        assert Path(tag.artifact, "tag.json").is_file()  # tests run this built tag
    engine.dispose()


@pytest.mark.slow
def test_analyzer_enables_a_wagon_and_operator_composes(demo):
    site, settings = demo
    client = _client(settings)
    engine = make_engine(site.database_url)
    sessions = make_sessionmaker(engine)
    with sessions() as s:
        spectra = s.scalars(select(m.Wagon).where(m.Wagon.name == "spectra")).one().id
        ds = s.scalars(select(m.Dataset).where(m.Dataset.name == DATASET)).one().id
        target = s.scalars(select(m.Target).where(m.Target.name != "test")).first().id

    csrf = _login(client, site, "alice")
    r = client.put(f"/api/wagons/{spectra}/datasets/{ds}", json={"policy": "latest"}, headers=csrf)
    assert r.status_code == 200, r.text
    tests = client.get(f"/api/wagons/{spectra}/tests").json()["items"]
    assert tests[0]["status"] == "queued"
    # the analyzer may not compose trains
    body = {"dataset_id": ds, "wagon_ids": [spectra], "target_id": target}
    assert client.post("/api/train-runs", json=body, headers=csrf).status_code == 403

    # the scheduler finishes the test (done here through the core service)...
    with sessions.begin() as s:
        test = enabling.current_test(s, spectra, ds)
        enabling.finish_test(s, test.id, TestStatus.DONE)
    # ... then the operator composes a train with it
    client.cookies.clear()
    csrf = _login(client, site, "operator")
    r = client.post("/api/train-runs", json=body, headers=csrf)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "composed"
    engine.dispose()


@pytest.mark.slow
def test_bob_enabling_his_strangeness_is_told_of_alices(demo):
    """The overlap the README points to: bob's strangeness_cf repeats alice's strangeness,
    enabled at start."""
    site, settings = demo
    client = _client(settings)
    engine = make_engine(site.database_url)
    with make_sessionmaker(engine)() as s:
        names = ("strangeness_cf", "strangeness")
        ids = {w.name: w.id for w in s.scalars(select(m.Wagon).where(m.Wagon.name.in_(names)))}
        ds = s.scalars(select(m.Dataset).where(m.Dataset.name == DATASET)).one().id
    engine.dispose()
    csrf = _login(client, site, "bob")
    r = client.put(
        f"/api/wagons/{ids['strangeness_cf']}/datasets/{ds}", json={"policy": "latest"},
        headers=csrf,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    (overlap,) = r.json()["overlaps"]
    assert (overlap["wagon_id"], overlap["kind"]) == (ids["strangeness"], "identical")
    page = client.get(f"/wagon/{ids['strangeness_cf']}").text
    assert "Overlap with other analyses" in page


def test_passwords_file_of_an_older_demo_is_printed_a_last_time_and_deleted(tmp_path: Path):
    """An older demo kept plain passwords in demo-accounts.json: the next start shows those
    still valid once more, deletes the file, and the start after shows none."""
    from hyperloop.core import users
    from hyperloop.db.migrate import upgrade
    from hyperloop.demo.site import _accounts

    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as s:
        first = _accounts(s, tmp_path)
        for _, name, password in first:
            assert users.verify_password(users.get_user(s, name).password_hash, password)
    old = tmp_path / "demo-accounts.json"
    old.write_text(json.dumps([{"role": r, "username": u, "password": p} for r, u, p in first]))
    with make_sessionmaker(engine).begin() as s:
        assert _accounts(s, tmp_path) == first
    assert not old.exists()
    with make_sessionmaker(engine).begin() as s:
        assert [p for _, _, p in _accounts(s, tmp_path)] == [None] * len(first)
    engine.dispose()


@pytest.mark.slow
def test_demo_site_command_prints_the_accounts(demo):
    import os
    import subprocess
    import sys

    site, _settings = demo
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERLOOP_")}
    done = subprocess.run(
        [sys.executable, "-m", "hyperloop", "demo-site", "--data-dir", str(site.data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for role, username, password in site.accounts:
        assert re.search(rf"{re.escape(role)}\s+{username}\s", done.stdout)
        assert password not in done.stdout  # printed once, when the account was made
    assert "hyperloop user password" in done.stdout
    assert f"HYPERLOOP_DATA_DIR={site.data_dir}" in done.stdout
    assert "hyperloop serve" in done.stdout
    assert "creating demo analyses" not in done.stdout  # found, not seeded again


def test_demo_samples_its_short_tests_often_unless_the_operator_chose(demo, monkeypatch):
    """A demo test device works a fraction of a second: the demo samples every 20 ms so that
    its test graphs draw curves; an operator's own value (other than the default) is kept."""
    from hyperloop.demo.site import DEMO_SAMPLE_INTERVAL
    from hyperloop.settings import SAMPLE_INTERVAL_ENV

    site, settings = demo
    monkeypatch.setenv(SAMPLE_INTERVAL_ENV, "0.1")  # load_settings below sets it: restored
    default = load_settings(data_dir=settings.data_dir, database_url=settings.database_url)
    assert default.metrics_sample_interval == 0.1
    assert site.serve_settings(default).metrics_sample_interval == DEMO_SAMPLE_INTERVAL == 0.02
    chosen = load_settings(
        data_dir=settings.data_dir, database_url=settings.database_url, metrics_sample_interval=0.5
    )
    assert site.serve_settings(chosen).metrics_sample_interval == 0.5
