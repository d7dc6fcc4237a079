"""The command line given bad input, run as a user runs it (the real ``hyperloop`` command in
a subprocess): one clear error line, a non-zero exit, no traceback, and nothing left behind
that looks like a valid output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
REALDATA = REPO_ROOT / "tests" / "data" / "realdata"
RESULTS = REALDATA / "AnalysisResults_o2_twopartcorr.root"
AO2D = REALDATA / "AO2D_ud_rho_run3.root"


def hyperloop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hyperloop", *args],
        capture_output=True,
        text=True,
        env=os.environ | (env or {}),
        timeout=300,  # a hang (reading /dev/zero forever) fails instead of blocking the suite
        check=False,
    )


def assert_one_clear_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 2, one ``error:`` line on stderr naming ``words``, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


BAD_JSON = {
    "deep": ('{"t": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested more than"),
    "huge-int": ('{"t": {"a": ' + "9" * 5000 + "}}", "too large"),
    "nan": ('{"t": {"a": NaN}}', "NaN is not valid JSON"),
    "infinity": ('{"t": {"a": -Infinity}}', "-Infinity is not valid JSON"),
    "overflow": ('{"t": {"a": 1e999}}', "1e999 is out of range"),
}


@pytest.mark.parametrize("case", sorted(BAD_JSON))
def test_config_fmt_refuses_json_it_could_not_print_back(tmp_path, case):
    text, words = BAD_JSON[case]
    path = tmp_path / f"{case}.json"
    path.write_text(text)
    proc = hyperloop("config", "fmt", str(path))
    assert_one_clear_error(proc, path.name, words)
    assert proc.stdout == ""  # nothing that looks like a (broken) configuration
    proc = hyperloop("config", "fmt", "--write", str(path))
    assert_one_clear_error(proc, words)
    assert path.read_text() == text


def test_config_fmt_does_not_read_dev_zero_forever():
    proc = hyperloop("config", "fmt", "/dev/zero")
    assert_one_clear_error(proc, "/dev/zero", "more than 64 MB")


def full_config(**fields: object) -> dict:
    return {
        "package_tag": "hyperloop-physics-dev",
        "cpu_cores": 1,
        "workflows": [
            {
                "workflow_name": "ud-rho",
                "suffix": "",
                "wagon_id": 7,
                "configuration": {"ud-rho": {"maxTrackEta": "0.9"}},
            }
        ],
        **fields,
    }


@pytest.mark.parametrize(
    "case, text, words",
    [
        ("deep", '{"workflows": ' + "[" * 100_000 + "]" * 100_000 + "}", ["nested more than"]),
        ("huge-int", '{"cpu_cores": ' + "9" * 5000 + ', "workflows": []}', ["too large"]),
        ("nan", json.dumps(full_config(rate_limit=float("nan"))), ["NaN is not valid JSON"]),
        ("cores", json.dumps(full_config(cpu_cores=2**70)), ["'cpu_cores'", "0 to 1024"]),
        ("negative", json.dumps(full_config(tf_limit=-1)), ["'tf_limit'"]),
        (
            "binning",
            json.dumps(
                full_config(
                    workflows=[
                        {
                            "workflow_name": "ud-rho",
                            "configuration": {
                                "ud-rho": {"binsMass": {"values": ["100000000000", "0", "2"]}}
                            },
                        }
                    ]
                )
            ),
            ["'binsMass'", "max_histogram_bins"],
        ),
    ],
)
def test_run_train_refuses_a_bad_full_config(tmp_path, case, text, words):
    config = tmp_path / "full_config.json"
    config.write_text(text)
    inputs = tmp_path / "input_data.txt"
    inputs.write_text(f"{AO2D}\n")
    out = tmp_path / "out"
    proc = hyperloop("run-train", str(config), "--input", str(inputs), "--out", str(out))
    assert_one_clear_error(proc, *words)
    assert not (out / "AnalysisResults.root").exists()


def test_run_train_does_not_read_dev_zero_forever(tmp_path):
    config = tmp_path / "full_config.json"
    config.write_text(json.dumps(full_config()))
    out = tmp_path / "out"
    proc = hyperloop("run-train", "/dev/zero", "--input", str(config), "--out", str(out))
    assert_one_clear_error(proc, "/dev/zero", "more than 64 MB")
    proc = hyperloop("run-train", str(config), "--input", "/dev/zero", "--out", str(out))
    assert_one_clear_error(proc, "/dev/zero", "input list")
    assert not out.exists()


def test_run_train_refuses_to_book_a_histogram_above_the_bin_limit(tmp_path):
    config = tmp_path / "full_config.json"
    config.write_text(json.dumps(full_config()))
    inputs = tmp_path / "input_data.txt"
    inputs.write_text(f"{AO2D}\n")
    out = tmp_path / "out"
    proc = hyperloop(
        "run-train",
        str(config),
        "--input",
        str(inputs),
        "--out",
        str(out),
        env={"HYPERLOOP_MAX_HISTOGRAM_BINS": "50"},
    )
    assert_one_clear_error(proc, "histogram 'hMass'", "100 bins", "max_histogram_bins")
    assert not (out / "AnalysisResults.root").exists()


def test_run_train_leaves_no_results_file_when_every_input_failed(tmp_path):
    config = tmp_path / "full_config.json"
    config.write_text(json.dumps(full_config()))
    inputs = tmp_path / "input_data.txt"
    inputs.write_text(f"{tmp_path / 'missing-1.root'}\n{tmp_path / 'missing-2.root'}\n")
    out = tmp_path / "out"
    proc = hyperloop("run-train", str(config), "--input", str(inputs), "--out", str(out))
    assert proc.returncode != 0
    assert "none of the 2 input files could be read" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "AnalysisResults.root").exists()
    assert json.loads((out / "run_report.json").read_text())["exit_code"] != 0


def test_merge_refuses_a_truncated_results_file(tmp_path):
    data = RESULTS.read_bytes()
    truncated = tmp_path / "AnalysisResults_cut.root"
    truncated.write_bytes(data[:-4])  # the last record lost in a copy
    out = tmp_path / "merged.root"
    proc = hyperloop("merge", str(out), str(RESULTS), str(truncated))
    assert_one_clear_error(proc, truncated.name, "truncated")
    assert not out.exists()


def test_merge_refuses_a_file_whose_directory_is_damaged(tmp_path):
    data = bytearray(RESULTS.read_bytes())
    end = len(data)
    data[end - 600 : end - 100] = b"\0" * 500  # the keys list at the file's end
    damaged = tmp_path / "AnalysisResults_damaged.root"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "merged.root"
    proc = hyperloop("merge", str(out), str(RESULTS), str(damaged))
    assert_one_clear_error(proc, damaged.name)
    assert not out.exists()


def test_merge_creates_no_folders_for_a_bad_output_path(tmp_path):
    out = tmp_path / "no-such-folder" / "deeper" / "merged.root"
    proc = hyperloop("merge", str(out), str(RESULTS))
    assert_one_clear_error(proc, "does not exist")
    assert not (tmp_path / "no-such-folder").exists()
    proc = hyperloop("merge", str(tmp_path), str(RESULTS))  # a folder as output
    assert_one_clear_error(proc, "is a folder")
