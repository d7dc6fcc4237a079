"""``hyperloop config fmt``: canonical O2 output, --check, --write, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hyperloop.cli import app

runner = CliRunner()


@pytest.fixture
def compact_copy(realdata: Path, tmp_path: Path) -> Path:
    """The strangeness configuration rewritten on one line (valid, not canonical)."""
    doc = json.loads((realdata / "dpl-config_strangeness.json").read_text())
    path = tmp_path / "compact.json"
    path.write_text(json.dumps(doc, separators=(",", ":")))
    return path


@pytest.mark.parametrize("name", ["dpl-config_strangeness.json", "dpl-config_ud_rho.json"])
def test_fmt_prints_real_file_unchanged(realdata: Path, name: str):
    path = realdata / name
    result = runner.invoke(app, ["config", "fmt", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == path.read_text()


def test_fmt_canonicalises_a_hand_edited_file(realdata: Path, compact_copy: Path):
    result = runner.invoke(app, ["config", "fmt", str(compact_copy)])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(compact_copy.read_text())
    assert result.stdout == (realdata / "dpl-config_strangeness.json").read_text()


def test_check_passes_on_canonical_and_fails_on_other_layout(realdata: Path, compact_copy: Path):
    ok = runner.invoke(app, ["config", "fmt", "--check", str(realdata / "dpl-config_ud_rho.json")])
    assert ok.exit_code == 0 and ok.stdout == ""
    bad = runner.invoke(app, ["config", "fmt", "--check", str(compact_copy)])
    assert bad.exit_code == 1 and bad.stdout == ""
    assert f"{compact_copy}: not in canonical O2 format" in bad.stderr


def test_write_rewrites_in_place(realdata: Path, compact_copy: Path):
    result = runner.invoke(app, ["config", "fmt", "--write", str(compact_copy)])
    assert result.exit_code == 0
    assert compact_copy.read_text() == (realdata / "dpl-config_strangeness.json").read_text()
    again = runner.invoke(app, ["config", "fmt", "--check", str(compact_copy)])
    assert again.exit_code == 0


def test_malformed_file_gives_one_line_with_location(tmp_path: Path):
    path = tmp_path / "edited.json"
    path.write_text(
        '{\n    "track-selection": {\n        "ptMin": "0.1"\n        "etaMax": "0.8"\n'
    )
    result = runner.invoke(app, ["config", "fmt", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: {path}:4:9: invalid JSON: Expecting ',' delimiter"]


def test_missing_file_and_wrong_structure(tmp_path: Path):
    missing = runner.invoke(app, ["config", "fmt", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2
    assert "nope.json: file not found" in missing.stderr
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"task": ["a"]}')
    result = runner.invoke(app, ["config", "fmt", str(wrong)])
    assert result.exit_code == 2
    assert "task 'task': expected an object of parameters" in result.stderr


def test_real_subprocess(compact_copy: Path, tmp_path: Path):
    exe = Path(sys.executable).parent / "hyperloop"
    done = subprocess.run(
        [str(exe), "config", "fmt", str(compact_copy)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(compact_copy.read_text())
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    failed = subprocess.run(
        [str(exe), "config", "fmt", str(bad)], capture_output=True, text=True, check=False
    )
    assert failed.returncode == 2
    assert failed.stderr.startswith(f"error: {bad}:1:2: invalid JSON")
    assert failed.stdout == ""


def test_fmt_keeps_a_repeated_key_and_warns(realdata: Path, tmp_path: Path):
    path = realdata / "dpl-config_duplicate_key.json"
    result = runner.invoke(app, ["config", "fmt", str(path)])
    assert result.exit_code == 0, result.output
    assert "key 'internal-dpl-aod-index-builder' appears more than once" in result.stderr
    assert result.stdout.count('"internal-dpl-aod-index-builder"') == 2
    canonical = tmp_path / "canonical.json"
    canonical.write_text(result.stdout)
    result = runner.invoke(app, ["config", "fmt", "--check", str(canonical)])
    assert result.exit_code == 0, result.output
