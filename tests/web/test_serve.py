"""``hyperloop serve``: migrates the database, serves the API; refuses unsafe settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.factories import seed_files_world
from typer.testing import CliRunner

from hyperloop.cli import app as cli_app
from hyperloop.db.migrate import current


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERLOOP_")}
    env.update(extra)
    return env


@pytest.mark.slow
def test_serve_migrates_and_answers(tmp_path: Path) -> None:
    db = tmp_path / "serve.db"
    url = f"sqlite:///{db}"
    port = _free_port()
    env = _env(HYPERLOOP_DATABASE_URL=url, HYPERLOOP_PORT=str(port))
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "hyperloop"), "serve", "--no-scheduler"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, (tmp_path / "serve.log").read_text()
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert current(url) is not None  # migrations ran at start-up
        anonymous = httpx.get(f"http://127.0.0.1:{port}/api/wagons", timeout=5)
        assert anonymous.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_serve_refuses_production_without_a_configured_secret(tmp_path: Path) -> None:
    env = _env(
        HYPERLOOP_ENVIRONMENT="production", HYPERLOOP_DATABASE_URL=f"sqlite:///{tmp_path}/x.db"
    )
    result = CliRunner().invoke(cli_app, ["serve"], env=env)
    assert result.exit_code == 2
    assert "a configured secret is required" in result.output
    assert not (tmp_path / "x.db").exists()


def test_settings_command_lists_every_setting() -> None:
    from hyperloop.settings import Settings

    result = CliRunner().invoke(cli_app, ["settings"])
    assert result.exit_code == 0
    for name in Settings.model_fields:
        assert f"HYPERLOOP_{name.upper()}" in result.output


@pytest.mark.slow
def test_serve_runs_the_scheduler_a_composed_train_is_tested_run_and_merged(
    tmp_path: Path,
) -> None:
    """The one-process default: the served app's embedded scheduler and LocalCluster take a
    composed auto-submit train through its test, jobs and merges; the API shows it done.
    SIGTERM stops server and scheduler cleanly (lease released)."""
    from sqlalchemy import select

    from hyperloop.core import users
    from hyperloop.db.models import SchedulerLease, TrainRun, User
    from hyperloop.enums import TrainState

    world = seed_files_world(tmp_path, state=TrainState.COMPOSED, files_per_run=1, auto_submit=True)
    with world.sessions.begin() as s:
        admin = s.scalars(select(User).where(User.username == "admin")).one()
        _, token = users.create_api_token(s, admin, "serve-test")
    port = _free_port()
    env = world.env(tmp_path, HYPERLOOP_PORT=str(port))
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "hyperloop"), "serve"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    api = f"http://127.0.0.1:{port}/api/train-runs/{world.train_id}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        deadline = time.monotonic() + 240  # a safety net on a loaded machine
        train: dict = {}
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                reply = httpx.get(api, headers=headers, timeout=5)
            except httpx.TransportError:
                time.sleep(0.5)
                continue
            assert reply.status_code == 200, reply.text
            train = reply.json()
            if train["state"] in ("done", "test_warning", "test_failed"):
                break
            time.sleep(0.5)
        assert train.get("state") == "done", (train, log_path.read_text()[-3000:])
        assert train["job_counts"] == {"done": 3}
        with world.sessions() as s:
            assert Path(s.get(TrainRun, world.train_id).output_dir).is_file()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log_path.read_text()[-3000:]
        with world.sessions() as s:
            assert s.get(SchedulerLease, "scheduler").holder is None
        assert "scheduler active" in log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
