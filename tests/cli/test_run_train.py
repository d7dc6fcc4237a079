"""``hyperloop run-train``, ``workflows`` and ``package build`` as a user runs them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import uproot
from tests.conftest import REPO_ROOT

HYPERLOOP = [sys.executable, "-m", "hyperloop"]


def run(
    *args: str, cwd: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*HYPERLOOP, *args], capture_output=True, text=True, cwd=cwd, env=env, check=False
    )


def ud_rho_config(tmp_path: Path, realdata: Path) -> tuple[Path, Path]:
    config = {
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
    }
    full = tmp_path / "full_config.json"
    full.write_text(json.dumps(config))
    inputs = tmp_path / "input_data.txt"
    inputs.write_text(f"{realdata / 'AO2D_ud_rho_run3.root'}\n")
    return full, inputs


def test_run_train_on_the_real_ud_file_writes_every_output(tmp_path, realdata):
    full, inputs = ud_rho_config(tmp_path, realdata)
    out = tmp_path / "out"
    proc = run("run-train", str(full), "--input", str(inputs), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "1/1 files ok" in proc.stdout
    assert "defaults used for" in proc.stdout  # the run says which parameters it filled in
    for name in (
        "AnalysisResults.root",
        "performanceMetrics.json",
        "metrics_summary.json",
        "full_config.json",
        "stdout.log",
        "stderr.log",
        "run_report.json",
    ):
        assert (out / name).is_file(), name
    with uproot.open(out / "AnalysisResults.root") as f:
        assert "ud-rho" in f.keys(cycle=False, recursive=False)
    summary = json.loads((out / "metrics_summary.json").read_text())
    assert summary["ud-rho"]["wagon_id"] == 7
    # the same full_config.json reproduces the same histograms
    again = tmp_path / "again"
    assert (
        run(
            "run-train", str(out / "full_config.json"), "-i", str(inputs), "-o", str(again)
        ).returncode
        == 0
    )
    with (
        uproot.open(out / "AnalysisResults.root") as a,
        uproot.open(again / "AnalysisResults.root") as b,
    ):
        for key in a["ud-rho"].keys(cycle=False):
            assert (a["ud-rho"][key].values() == b["ud-rho"][key].values()).all()


def test_run_train_reports_bad_input_clearly(tmp_path, realdata):
    full, inputs = ud_rho_config(tmp_path, realdata)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n# nothing\n")
    proc = run("run-train", str(full), "--input", str(empty))
    assert proc.returncode == 2
    assert "input list is empty" in proc.stderr and "empty.txt" in proc.stderr

    bad = json.loads(full.read_text())
    bad["workflows"][0]["configuration"]["ud-rho"]["maxTrackEta"] = "wide"
    full.write_text(json.dumps(bad))
    proc = run("run-train", str(full), "--input", str(inputs))
    assert proc.returncode == 2
    assert "ud-rho" in proc.stderr and "maxTrackEta" in proc.stderr and "'wide'" in proc.stderr

    bad["workflows"][0]["workflow_name"] = "ud-roh"
    full.write_text(json.dumps(bad))
    proc = run("run-train", str(full), "--input", str(inputs))
    assert proc.returncode == 2 and "did you mean 'ud-rho'" in proc.stderr

    missing = tmp_path / "missing.txt"
    missing.write_text("/nonexistent/AO2D.root\n")
    bad["workflows"][0]["workflow_name"] = "ud-rho"
    bad["workflows"][0]["configuration"] = {}
    full.write_text(json.dumps(bad))
    proc = run("run-train", str(full), "--input", str(missing), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1
    assert "/nonexistent/AO2D.root" in proc.stderr


def test_dry_run_prints_the_plan_without_reading(tmp_path, realdata):
    full, _ = ud_rho_config(tmp_path, realdata)
    proc = run("run-train", str(full), "--input", "unused.txt", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["tasks"][0]["instance"] == "ud-rho"
    assert "O2udtrack" in plan["read"]


@pytest.mark.slow
def test_two_package_tags_coexist_and_a_run_uses_exactly_one(tmp_path):
    """Tags are built from git history: 0.1.0 lacks track-selection's maxDcaZ."""
    old_ref = subprocess.run(
        [
            "git",
            "-C",
            str(REPO_ROOT),
            "log",
            "--format=%H",
            "-1",
            "--grep",
            "hyperloop-physics 0.1.0",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert old_ref, "the repository history must hold the hyperloop-physics 0.1.0 commit"
    tags = tmp_path / "tags"
    physics = REPO_ROOT / "physics"
    built = run(
        "package",
        "build",
        str(physics),
        "--tag",
        "old",
        "--tags-dir",
        str(tags),
        "--git-ref",
        old_ref,
    )
    assert built.returncode == 0, built.stderr
    built = run(
        "package",
        "build",
        str(physics),
        "--tag",
        "new",
        "--tags-dir",
        str(tags),
        "--pull-requests",
        "12,15",
    )
    assert built.returncode == 0, built.stderr
    again = run("package", "build", str(physics), "--tag", "new", "--tags-dir", str(tags))
    assert again.returncode == 2 and "immutable" in again.stderr
    # a release job run twice the same day: the second build takes the next free name
    args = ("package", "build", str(physics), "--tag", "new", "--tags-dir", str(tags))
    second = run(*args, "--next-free")
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("tag new.2: ") and second.stdout.split()[-1] == str(
        tags / "new.2"
    )
    assert json.loads((tags / "new.2" / "tag.json").read_text())["tag"] == "new.2"
    assert run(*args, "--next-free").stdout.startswith("tag new.3: ")

    def configurables(tag: str) -> dict:
        proc = run("workflows", "--package", str(tags / tag), "--json")
        assert proc.returncode == 0, proc.stderr
        described = json.loads(proc.stdout)
        (wf,) = [w for w in described["workflows"] if w["name"] == "track-selection"]
        return described["package"]["version"], {
            c["name"]: c for c in wf["tasks"][0]["configurables"]
        }

    old_version, old = configurables("old")
    new_version, new = configurables("new")
    assert (old_version, new_version) == ("0.1.0", "0.2.0")
    assert "maxDcaZ" not in old and "maxDcaZ" in new
    assert old["maxDcaXY"]["default"] != new["maxDcaXY"]["default"]
    info = json.loads((tags / "new" / "tag.json").read_text())
    assert info["pull_requests"] == ["12", "15"] and info["package"]["version"] == "0.2.0"
    assert not os.access(tags / "new" / "tag.json", os.W_OK) or os.geteuid() == 0
    assert not (tags / "new" / "tag.json").stat().st_mode & 0o222  # read-only
    # readable by every account (workers may run as another user), writable by none
    modes = {
        p.relative_to(tags): stat.S_IMODE(p.stat().st_mode)
        for p in [tags / "new", *(tags / "new").rglob("*")]
        if not p.is_symlink()
    }
    assert modes[Path("new")] == 0o555
    assert modes[Path("new") / "tag.json"] == 0o444
    assert {m for p, m in modes.items() if (tags / p).is_dir()} == {0o555}
    assert {m for p, m in modes.items() if (tags / p).is_file()} <= {0o444, 0o555}

    # one process, one tag: loading a second tag of the same package is refused
    code = (
        "from hyperloop.analysis.workflows import load_package, WorkflowError\n"
        f"load_package({str(tags / 'old')!r})\n"
        "try:\n"
        f"    load_package({str(tags / 'new')!r})\n"
        "except WorkflowError as e:\n"
        "    print('refused:', e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert "refused:" in proc.stdout and "exactly one package tag" in proc.stdout, proc.stderr


def test_the_tags_setting_names_the_folder_a_run_takes_its_tag_from(tmp_path):
    """``tags`` is a setting (HYPERLOOP_TAGS, or the settings file): a configuration naming
    tag ``mytag`` runs ``<tags>/mytag``; here that folder holds no build, and the run says so."""
    (tmp_path / "tags" / "mytag").mkdir(parents=True)
    full = tmp_path / "full_config.json"
    full.write_text(
        json.dumps(
            {
                "package_tag": "mytag",
                "cpu_cores": 1,
                "workflows": [{"workflow_name": "ud-rho", "suffix": "", "configuration": {}}],
            }
        )
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("HYPERLOOP_")}
    settings_file = tmp_path / "hyperloop.toml"
    settings_file.write_text(f'tags = "{tmp_path / "tags"}"\n')
    for env in (
        {"HYPERLOOP_TAGS": str(tmp_path / "tags")},
        {"HYPERLOOP_SETTINGS_FILE": str(settings_file)},
    ):
        proc = run("run-train", str(full), "--input", "unused.txt", "--dry-run", env=base | env)
        assert proc.returncode == 2, proc.stdout
        assert f"{tmp_path / 'tags' / 'mytag'} holds no package" in proc.stderr
    proc = run(
        "run-train",
        str(full),
        "--input",
        "unused.txt",
        "--dry-run",
        env=base | {"HYPERLOOP_TAGS": str(tmp_path / "tags"), "HYPERLOOP_SCHEDULER_BATCH": "0"},
    )
    assert proc.returncode == 2 and "invalid Hyperloop settings: scheduler_batch" in proc.stderr


MC_TASK = """
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow


class VertexQa(Task):
    name = "vertex-qa"

    def init(self):
        self.histos.add("hZ", "vertex;z (cm)", [(10, -20, 20)])

    @process(UDCollisions=["fPosZ"])
    def process(self, df):
        self.histos["hZ"].fill(df.table("UDCollisions")["fPosZ"])

    @process(McCollisions=["fPosZ"], default=False)
    def processMc(self, df):
        pass


WORKFLOWS = [Workflow("vertex-qa", (VertexQa,))]
"""


def write_package(root: Path, name: str, version: str, module: str, source: str) -> Path:
    """A package laid out as `pip install --target` leaves it (modules plus dist-info)."""
    root.mkdir(parents=True)
    (root / f"{module}.py").write_text(source)
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[hyperloop.workflows]\nmain = {module}:WORKFLOWS\n")
    return root


def test_dry_run_names_task_and_switch_reading_mc_tables_on_real_data(tmp_path, realdata):
    package = write_package(tmp_path / "pkg", "my-vertex", "0.1", "my_vertex", MC_TASK)
    config = {
        "package_tag": "my-vertex-0.1",
        "workflows": [
            {"workflow_name": "vertex-qa", "configuration": {"vertex-qa": {"processMc": "true"}}}
        ],
    }
    full = tmp_path / "full_config.json"
    full.write_text(json.dumps(config))
    inputs = tmp_path / "input_data.txt"
    inputs.write_text(f"{realdata / 'AO2D_ud_rho_run3.root'}\n")
    args = ("run-train", str(full), "-i", str(inputs), "--package", str(package))
    proc = run(*args, "--dry-run")
    assert proc.returncode == 2, proc.stdout
    assert "task vertex-qa: process switch processMc" in proc.stderr
    assert "McCollisions" in proc.stderr and "is real data" in proc.stderr
    assert "Traceback" not in proc.stderr
    # the run itself refuses in the same words before reading any dataframe
    proc = run(*args, "-o", str(tmp_path / "out"))
    assert proc.returncode == 2 and "process switch processMc" in proc.stderr
    # with the switch off the plan is fine
    config["workflows"][0]["configuration"]["vertex-qa"]["processMc"] = "false"
    full.write_text(json.dumps(config))
    proc = run(*args, "--dry-run")
    assert proc.returncode == 0, proc.stderr


def test_a_pull_requests_source_is_built_into_the_body_that_registers_it(tmp_path):
    """``package pull-request`` builds the checkout in a temporary folder (nothing stays)
    and writes number, title, state and the introspection ``POST /api/pull-requests`` takes."""
    out = tmp_path / "pr.json"
    built = run(
        "package",
        "pull-request",
        str(REPO_ROOT / "physics"),
        "--number",
        "2041",
        "--title",
        "Add flow harmonics",
        "--out",
        str(out),
    )
    assert built.returncode == 0, built.stderr
    body = json.loads(out.read_text())
    assert (body["number"], body["title"], body["state"]) == (2041, "Add flow harmonics", "open")
    assert body["introspection"]["package"]["name"] == "hyperloop-physics"
    names = {wf["name"] for wf in body["introspection"]["workflows"]}
    assert {"ud-rho", "event-selection"} <= names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pr.json"]
    bad = run(
        "package",
        "pull-request",
        str(REPO_ROOT / "physics"),
        "--number",
        "1",
        "--title",
        "x",
        "--state",
        "closed",
    )
    assert bad.returncode == 2 and "choose open or merged" in bad.stderr
