"""The demo's passwords: printed once when the accounts are made, stored only as hashes, so
no logged-in user can read them from the server; a forgotten one is replaced with
``hyperloop user password``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.served import uvicorn_app

from hyperloop.demo.site import DemoSite, prepare_demo
from hyperloop.settings import Settings, load_settings

pytestmark = pytest.mark.slow


@dataclass
class Demo:
    site: DemoSite
    settings: Settings
    base: str

    def login(self, username: str, password: str) -> httpx.Response:
        with httpx.Client(base_url=self.base, timeout=30) as c:
            return c.post("/api/auth/login", json={"username": username, "password": password})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("demo") / "var"
    settings = load_settings(data_dir=root, database_url=f"sqlite:///{root / 'hyperloop.db'}")
    site = prepare_demo(settings, events_per_run=100, pool_size=50)
    served = site.serve_settings(settings)
    env = {
        "HYPERLOOP_DATABASE_URL": served.database_url,
        "HYPERLOOP_DATA_DIR": str(served.data_dir),
        "HYPERLOOP_STORAGE_ROOTS": json.dumps(served.storage_roots),
        "HYPERLOOP_SCHEDULER_IN_SERVER": "false",
    }
    with uvicorn_app(env, root) as base:
        yield Demo(site, settings, base)


def test_no_file_of_the_served_data_folder_holds_a_demo_password(demo: Demo):
    passwords = [p.encode() for _, _, p in demo.site.accounts]
    assert all(passwords)
    for path in Path(demo.site.data_dir).rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(p in content for p in passwords), path


def test_a_logged_in_user_reads_neither_accounts_nor_database(demo: Demo):
    password = next(p for _, u, p in demo.site.accounts if u == "alice")
    with httpx.Client(base_url=demo.base, timeout=30) as c:
        assert c.post(
            "/api/auth/login", json={"username": "alice", "password": password}
        ).is_success
        for path in ("demo-accounts.json", "hyperloop.db", "hyperloop.db-wal", "demo-data"):
            r = c.get("/outputs/file", params={"path": path})
            assert r.status_code == 404, path
        top = c.get("/api/outputs/browse", params={"path": ""}).json()
        names = {e["name"] for e in top["entries"]}
        assert not names & {"demo-accounts.json", "hyperloop.db", "hyperloop.db-wal", "tags"}
        sample = c.get("/api/datasets", params={"name": "LHC26a_pp_demo"}).json()["items"][0]["id"]
        files = c.get(f"/api/datasets/{sample}/files", params={"limit": 1}).json()["items"]
        got = c.get("/api/dataset-files/content", params={"path": files[0]["path"]})
        assert got.status_code == 200 and got.content[:4] == b"root"  # the demo's own data


def test_a_later_start_prints_no_password_and_says_how_to_set_one(demo: Demo):
    again = prepare_demo(demo.settings, events_per_run=100, pool_size=50)
    text = again.describe(demo.base)
    for _, username, password in demo.site.accounts:
        assert username in text and password not in text
    assert "hyperloop user password" in text


def test_a_forgotten_password_is_replaced_on_the_command_line(demo: Demo):
    old = next(p for _, u, p in demo.site.accounts if u == "bob")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERLOOP_")}
    env["HYPERLOOP_DATABASE_URL"] = demo.settings.database_url
    done = subprocess.run(
        [sys.executable, "-m", "hyperloop", "user", "password", "bob", "--generate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    new = done.stdout.strip().rsplit(": ", 1)[1]
    assert demo.login("bob", new).status_code == 200
    assert demo.login("bob", old).status_code == 401
