"""``hyperloop serve``: migrates the database, serves the API; refuses unsafe settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
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
        [str(Path(sys.executable).parent / "hyperloop"), "serve"],
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


def test_serve_refuses_the_development_secret_in_production(tmp_path: Path) -> None:
    env = _env(
        HYPERLOOP_ENVIRONMENT="production", HYPERLOOP_DATABASE_URL=f"sqlite:///{tmp_path}/x.db"
    )
    result = CliRunner().invoke(cli_app, ["serve"], env=env)
    assert result.exit_code == 2
    assert "development secret is refused" in result.output
    assert not (tmp_path / "x.db").exists()


def test_settings_command_lists_every_setting() -> None:
    from hyperloop.settings import Settings

    result = CliRunner().invoke(cli_app, ["settings"])
    assert result.exit_code == 0
    for name in Settings.model_fields:
        assert f"HYPERLOOP_{name.upper()}" in result.output
