"""The real application under uvicorn on a free loopback port, for tests that drive it over
HTTP (browser tests, ``hyperloop reproduce``): one place that starts, waits and stops it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def uvicorn_app(
    settings: Mapping[str, str], folder: Path, *, ready: str = "/api/health", timeout: float = 90
) -> Iterator[str]:
    """Serve ``create_app`` with ``settings`` (HYPERLOOP_* variables) and yield its base URL
    once ``ready`` answers; the server's log is ``folder/uvicorn.log`` (shown if it fails)."""
    port = free_port()
    log_path = folder / "uvicorn.log"
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "hyperloop.web.app:create_app"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    cmd += ["--no-proxy-headers"]  # as `hyperloop serve`: the app alone reads forwarded headers
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd,
            env=os.environ | dict(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(base + ready, timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    proc.wait(timeout=10)
                    pytest.fail(f"uvicorn did not start: {log_path.read_text()}")
                time.sleep(0.1)
        try:
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=10)
