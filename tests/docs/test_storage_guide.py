"""The deployment guide's storage commands (``docs/examples/storage_s3.sh``, included in
``docs/operator-guide/deployment.md``) run against an S3-compatible server (moto's): the
exports and ``hyperloop storage check`` as written, the endpoint pointed at the test's
server. ``pip install s3fs`` is the test environment's own install; the ``dask worker``
line is what ``tests/e2e/test_s3_storage.py`` runs (workers with their own scratch
folder, the train's jobs and merges on S3)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import fsspec
import pytest
from tests.docs.conftest import DOCS, EXAMPLES
from tests.s3server import s3_server

BIN = Path(sys.executable).parent


def setup_lines() -> list[str]:
    text = (EXAMPLES / "storage_s3.sh").read_text()
    block = text.split("# --8<-- [start:setup]\n", 1)[1].split("# --8<-- [end:setup]", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def run(lines: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    script = "set -e\n" + "\n".join(lines) + "\n"
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def s3(tmp_path):
    with s3_server(tmp_path / "moto.log") as env:
        yield env


def test_the_guide_includes_the_storage_commands():
    guide = (DOCS / "operator-guide" / "deployment.md").read_text()
    assert '--8<-- "examples/storage_s3.sh:setup"' in guide
    lines = setup_lines()
    assert "hyperloop storage check" in lines
    assert any(line.startswith("export HYPERLOOP_STORAGE_URL=s3://") for line in lines)


def test_the_guides_storage_commands_check_an_s3_storage(s3, tmp_path):
    lines = setup_lines()
    url = next(line.split("=", 1)[1] for line in lines if "HYPERLOOP_STORAGE_URL=" in line)
    bucket = re.match(r"s3://([^/]+)", url).group(1)
    fsspec.filesystem("s3").mkdir(bucket)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPERLOOP_", "AWS_"))}
    env |= {"PATH": f"{BIN}:{env['PATH']}", "HYPERLOOP_DATA_DIR": str(tmp_path / "var")}
    runnable = [
        # the test's server instead of the example endpoint; the rest as written
        f"export FSSPEC_S3_ENDPOINT_URL={s3['FSSPEC_S3_ENDPOINT_URL']}"
        if line.startswith("export FSSPEC_S3_ENDPOINT_URL=")
        else line
        for line in lines
        if not line.startswith(("pip install", "HYPERLOOP_WORKER_SCRATCH="))
    ]
    proc = run(runnable, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"storage {url}: writable and readable" in proc.stdout
    assert not fsspec.filesystem("s3").find(bucket)  # the probe file was removed

    wrong = [*runnable[:-1], "hyperloop storage check --url s3://no-such-bucket/work"]
    proc = run(wrong, env)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: storage s3://no-such-bucket/work: ")
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
