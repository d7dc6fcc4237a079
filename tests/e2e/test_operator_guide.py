"""The operator guide's walk-through (``docs/operator-guide/deploy.md``) executed as written.

The page's fenced blocks are read in order; the HTML comment before each says what it is:
``<!-- guide: placeholders -->`` (the names of the first step: the test gives them values of
its own: free ports, folders of the test, its PostgreSQL database and S3 server),
``<!-- guide: run NAME -->`` (run with bash, must exit 0), ``<!-- guide: service NAME
[per=VAR] -->`` (a long-running service, started in the background in a process group of
its own, once per value of VAR), ``<!-- guide: manual NAME -->`` (not run here: listed in
NOT_RUN with the reason) and ``<!-- guide: deployed -->`` (the system is up: the test uses it
as the guide's users would). The blocks run in one shell session, as an operator types them:
each starts with the exported environment the blocks before it left.

Deployed so: PostgreSQL, an external Dask scheduler with two workers in folders of their own,
S3 storage (moto's server), the conditions service, two web servers and the scheduler as
processes of their own. Then, through the API as the accounts the guide created (the admin's
token; jdoe through the certificate header sent from the trusted proxy address): a dataset,
a wagon of the tag the guide released, a train on the guide's target; one worker killed while
it runs an attempt; the merged result, read through either web server, equal bin for bin to
one ``hyperloop run-train`` of the same tag over the same files. Then monitoring, backups and
upgrades as the guide says."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from tests.e2e.system import wait_until
from tests.factories import GRIDTEST_WAGONS, RUNS, make_catalogue
from tests.grid.helpers import assert_same_histograms, config, reference_run
from tests.s3server import BUCKET, s3_server
from tests.served import REPO_ROOT, free_port

from hyperloop.db.session import make_engine
from hyperloop.db.testing import ENV, private_postgres_database

GUIDE = REPO_ROOT / "docs" / "operator-guide" / "deploy.md"
BIN = Path(sys.executable).parent

# Blocks the test does not run, and why. A manual block of the guide missing here fails the
# test (so does a name here the guide no longer has): a new command needs a test or a reason.
NOT_RUN = {
    "install": "installs from the public package index; the test runs in the project's own "
    "virtualenv, whose bin folder is first on PATH (as /opt/hyperloop/bin in the guide)",
    "database": "creating a PostgreSQL role needs the server's superuser; the test creates "
    "its private database on the suite's server instead (private_postgres_database)",
    "jobqueue": "needs Slurm or HTCondor; tests/docs/test_examples.py runs the script "
    "without a batch system (it stops at once, naming the missing submit command)",
    "nginx": "the proxy itself; the test plays it: requests from 127.0.0.1 (the guide's "
    "trusted proxy) carrying the certificate DN header",
    "sqlite-backup": "the deployment is on PostgreSQL; the SQLite backup is the one-machine "
    "setup's",
    "upgrade-install": "installs from the public package index (there is no newer version)",
}

# Settings the test adds to the environment for speed and size, none the guide depends on:
# a quick scheduler step, one input file per job (six jobs: several attempts to lose one of),
# no reduction-factor verdict on a tiny test dataset.
TEST_SETTINGS = {
    "HYPERLOOP_SCHEDULER_INTERVAL_S": "0.3",
    "HYPERLOOP_SCHEDULER_MAX_FILES_PER_JOB": "1",
    "HYPERLOOP_SCHEDULER_JOB_WALL_TIME_S": "120",
    "HYPERLOOP_SCHEDULER_THRESHOLDS": json.dumps({"min_reduction_factor": 1}),
}

MARKER = re.compile(r"^<!-- guide: (?P<kind>\w+)(?: (?P<name>[\w-]+))?(?: per=(?P<per>\w+))? -->$")
DN = "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe/CN=123456/CN=John Doe"


@dataclass
class Block:
    kind: str  # placeholders, run, service, manual, deployed
    name: str
    per: str | None
    text: str
    line: int


def guide_blocks(path: Path = GUIDE) -> list[Block]:
    """Every fenced block and checkpoint of the guide, in order; a fenced block without its
    marker is an error naming its line."""
    blocks: list[Block] = []
    lines = path.read_text().splitlines()
    marker: re.Match | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("<!-- guide:"):
            marker = MARKER.match(line)
            assert marker, f"{path.name}:{i + 1}: malformed guide marker {line!r}"
            if marker["kind"] == "deployed":
                blocks.append(Block("deployed", "deployed", None, "", i + 1))
                marker = None
        elif line.startswith("```"):
            start = i
            i += 1
            body = []
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            if line.strip() != "```text":  # diagrams need no marker
                assert marker, f"{path.name}:{start + 1}: a block without a guide marker"
                blocks.append(
                    Block(
                        marker["kind"],
                        marker["name"] or marker["kind"],
                        marker["per"],
                        "\n".join(body),
                        start + 1,
                    )
                )
            marker = None
        elif line.strip() and marker is not None:
            raise AssertionError(f"{path.name}:{i + 1}: a guide marker not before a block")
        i += 1
    return blocks


def test_every_block_of_the_guide_is_run_or_listed_with_a_reason():
    blocks = guide_blocks()
    kinds = {b.kind for b in blocks}
    assert kinds <= {"placeholders", "run", "service", "manual", "deployed"}, kinds
    assert blocks[0].kind == "placeholders"
    manual = {b.name for b in blocks if b.kind == "manual"}
    assert manual == set(NOT_RUN), (manual ^ set(NOT_RUN), "list each manual block in NOT_RUN")
    names = [b.name for b in blocks]
    assert len(names) == len(set(names)), names
    assert [b.name for b in blocks if b.kind == "deployed"] == ["deployed"]


# The command blocks of the reference page (deployment.md) by their first line: each is the
# walk-through's (run above) or tested elsewhere; a new block there needs its line here.
DEPLOYMENT_BLOCKS = {
    "python3.11 -m venv /opt/hyperloop && /opt/hyperloop/bin/pip install 'hyperloop[docs]' "
    "hyperloop-physics": "one machine: installs from the public index; `hyperloop serve` "
    "with its scheduler and local cluster is what tests/web/test_serve.py starts",
    '--8<-- "examples/jobqueue_cluster.py:cluster"': "tests/docs/test_examples.py",
    "hyperloop conditions export /srv/hyperloop/conditions     # the built-in objects, as a "
    "start": "the walk-through's step 6 (conditions-objects, conditions)",
    '--8<-- "examples/storage_s3.sh:setup"': "tests/docs/test_storage_guide.py",
    "HYPERLOOP_OIDC_ENABLED=true": "needs an OpenID provider: tests/api/test_oidc_flow.py "
    "plays one",
    "server {": "nginx: the walk-through's proxy, played by this test",
    "HYPERLOOP_PROXY_AUTH_ENABLED=true": "the walk-through's step 9 (proxy-settings)",
}


def test_every_block_of_the_deployment_page_is_the_walk_throughs_or_tested_elsewhere():
    lines = (GUIDE.parent / "deployment.md").read_text().splitlines()
    fences = [i for i, line in enumerate(lines) if line.startswith("```")]
    firsts = [lines[i + 1] for i in fences[0::2] if lines[i].strip() != "```text"]
    assert set(firsts) == set(DEPLOYMENT_BLOCKS), set(firsts) ^ set(DEPLOYMENT_BLOCKS)


# --- running the guide -----------------------------------------------------------------------


class Operator:
    """One shell session typing the guide's blocks: the exported environment goes from one
    block to the next (``state``); services run in process groups of their own."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home = home
        self.state = home / ".guide-state.sh"
        self.state.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
        self.services: dict[str, tuple[subprocess.Popen, str]] = {}
        self.outputs: dict[str, str] = {}

    def env(self) -> dict[str, str]:
        """The session's exported environment now."""
        proc = subprocess.run(
            ["bash", "-c", f"source {self.state} && env -0"], capture_output=True, env={}
        )
        pairs = (item.split("=", 1) for item in proc.stdout.decode().split("\0") if "=" in item)
        return dict(pairs)

    def run(self, block: Block, timeout: float = 600) -> str:
        script = (
            f"source {self.state}\nset -euo pipefail\n{block.text}\nexport -p > {self.state}.next\n"
        )
        proc = subprocess.run(
            ["bash", "-c", script],
            cwd=self.home,
            env={},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0, (
            f"guide block {block.name!r} (deploy.md:{block.line}) exited {proc.returncode}\n"
            f"{block.text}\n---- stdout\n{proc.stdout}\n---- stderr\n{proc.stderr}\n"
            f"{self.tails()}"
        )
        Path(f"{self.state}.next").replace(self.state)
        self.outputs[block.name] = proc.stdout
        return proc.stdout

    def start(self, name: str, block: Block, extra: dict[str, str]) -> subprocess.Popen:
        sets = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in extra.items())
        script = f"source {self.state}\n{sets}set -euo pipefail\n{block.text}\n"
        log = self.home / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                ["bash", "-c", script],
                cwd=self.home,
                env={},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.services[name] = (proc, script)
        return proc

    def alive(self, name: str) -> None:
        proc, _ = self.services[name]
        if proc.poll() is not None:
            pytest.fail(f"service {name} exited with {proc.returncode}\n{self.tails()}")

    def kill(self, name: str) -> None:
        proc, _ = self.services.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for name in reversed(list(self.services)):
            proc, _ = self.services[name]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for name in reversed(list(self.services)):
            proc, _ = self.services.pop(name)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tails(self, chars: int = 2500) -> str:
        names = sorted(p.stem for p in self.home.glob("*.log"))
        return "\n".join(f"---- {n}\n{self.log(n)[-chars:]}" for n in names)


def wait_for(what: str, check: Callable[[], Any], op: Operator, timeout: float = 300) -> Any:
    return wait_until(what, check, op.tails, timeout)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def guide_database() -> Iterator[str]:
    """A private PostgreSQL database (its libpq URL, as the guide's PG_URL), and the
    guide's scratch restore database dropped at the end too."""
    with private_postgres_database(f"guide{os.getpid()}") as url:
        pg = make_url(url).set(drivername="postgresql")
        try:
            yield pg.render_as_string(hide_password=False)
        finally:
            admin = make_engine(os.environ[ENV], isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg.database}_restore" WITH (FORCE)'))
            admin.dispose()


def gridtest_source(folder: Path) -> Path:
    """The physics package the guide releases: the grid test workflows as a source folder."""
    folder.mkdir(parents=True)
    (folder / "gridtest_wagons.py").write_text(GRIDTEST_WAGONS.read_text())
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "gridtest-wagons"\nversion = "1.0"\n\n'
        '[tool.setuptools]\npy-modules = ["gridtest_wagons"]\n\n'
        '[project.entry-points."hyperloop.workflows"]\ngridtest = "gridtest_wagons:WORKFLOWS"\n'
    )
    return folder


@pytest.fixture
def s3(tmp_path):
    with s3_server(tmp_path / "moto.log") as env:
        yield env


@pytest.mark.slow
def test_the_operator_guide_deploys_a_system_that_survives_a_lost_worker(s3, tmp_path):
    if not os.environ.get(ENV):
        pytest.fail(f"the guide deploys on PostgreSQL: export {ENV} (the suite's server)")
    home = tmp_path / "operator"  # where the operator types the commands
    home.mkdir()
    web_ports = [free_port(), free_port()]
    nodes = [str(tmp_path / "node-1"), str(tmp_path / "node-2")]  # no folder in common
    data = tmp_path / "data"
    catalogue = make_catalogue(data, files_per_run=2)
    files = [p for run in sorted(catalogue) for p, _ in catalogue[run]]
    with guide_database() as pg_url:
        values = {
            "HEAD": "127.0.0.1",
            "DASK_PORT": str(free_port()),
            "DASK_DASHBOARD_PORT": str(free_port()),
            "CONDITIONS_PORT": str(free_port()),
            "WEB_PORT": str(web_ports[0]),
            "HYPERLOOP_URL": f"http://127.0.0.1:{web_ports[0]}",
            "PG_URL": pg_url,
            "HYPERLOOP_DATA_DIR": str(tmp_path / "srv"),
            "DATA_ROOT": str(data),
            "NODE_SCRATCH": nodes[0],
            "S3_ENDPOINT": s3["FSSPEC_S3_ENDPOINT_URL"],
            "S3_BUCKET": BUCKET,
            "AWS_ACCESS_KEY_ID": s3["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": s3["AWS_SECRET_ACCESS_KEY"],
            "PHYSICS_SOURCE": str(gridtest_source(tmp_path / "physics-src")),
            "ADMIN_PASSWORD": "guide-admin-pw-1",
        }
        per = {"NODE_SCRATCH": nodes, "WEB_PORT": [str(p) for p in web_ports]}
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("HYPERLOOP_", "AWS_", "FSSPEC_", "PG"))
        }
        base.pop("PYTHONPATH", None)  # the installed package, as on the guide's machines
        base |= {"PATH": f"{BIN}:{base['PATH']}", "HOME": str(home)}
        base |= {"AWS_DEFAULT_REGION": s3["AWS_DEFAULT_REGION"], **TEST_SETTINGS}
        op = Operator(home, base)
        try:
            _follow_the_guide(op, values, per, files, tmp_path)
        finally:
            op.stop_all()


def _placeholders(block: Block, values: dict[str, str]) -> Block:
    """The guide's first block with the test's values: each ``export NAME=...`` line."""
    lines, seen = [], set()
    for line in block.text.splitlines():
        m = re.match(r"^export (\w+)=", line)
        assert m, f"the placeholders block holds one export per line: {line!r}"
        name = m[1]
        assert name in values, f"the guide's placeholder {name} has no value in the test"
        seen.add(name)
        lines.append(f"export {name}={shlex.quote(values[name])}")
    assert seen == set(values), set(values) - seen
    return Block(block.kind, block.name, None, "\n".join(lines), block.line)


READY: dict[str, Callable[[dict[str, str]], bool]] = {
    "conditions": lambda env: listening(int(env["CONDITIONS_PORT"])),
    "dask-scheduler": lambda env: listening(int(env["DASK_PORT"])),
    "dask-worker": lambda env: True,  # the scheduler waits for workers itself
    "web": lambda env: answers(f"http://127.0.0.1:{env['WEB_PORT']}/api/health"),
    "scheduler": lambda env: httpx.get(f"{env['HYPERLOOP_URL']}/api/health", timeout=5).json()[
        "parts"
    ]["scheduler"]["alive"],
}


def _ready(op: Operator, name: str, ready: Callable, env: dict[str, str]) -> Callable[[], bool]:
    return lambda: op.alive(name) or ready(env)


def _follow_the_guide(
    op: Operator, values: dict[str, str], per: dict[str, list[str]], files: list[str], tmp: Path
) -> None:
    blocks = guide_blocks()
    starts: dict[str, tuple[Block, dict[str, str]]] = {}
    for block in blocks:
        if block.kind == "placeholders":
            op.run(_placeholders(block, values))
        elif block.kind == "run":
            op.run(block)
        elif block.kind == "manual":
            assert block.name in NOT_RUN
        elif block.kind == "service":
            instances = per[block.per] if block.per else [None]
            for n, value in enumerate(instances, 1):
                name = f"{block.name}-{n}" if block.per else block.name
                extra = {block.per: value} if block.per else {}
                op.start(name, block, extra)
                starts[name] = (block, extra)
                up = _ready(op, name, READY[block.name], op.env() | extra)
                wait_for(f"service {name}", up, op, 120)
        elif block.kind == "deployed":
            _use_the_deployed_system(op, starts, files, tmp)
    _check_what_the_guide_printed(op)


def _released(output: str) -> str:
    """The tag name in the release script's last line ("released PACKAGE TAG (id N, ...")."""
    m = re.search(r"^released gridtest-wagons (\S+) \(id \d+, sha256 [0-9a-f]{64}\)$", output, re.M)
    assert m, output
    return m[1]


def _check_what_the_guide_printed(op: Operator) -> None:
    out = op.outputs
    assert "database at revision " in out["migrations"], out["migrations"]
    assert out["targets"].splitlines()[0] == "0", out["targets"]  # a fresh database has none
    assert '{"name":"grid-2cores","cores":2}' in out["targets"]
    first = _released(out["release-script"])  # daily-<date>, of the day the script ran
    assert re.fullmatch(r"daily-\d{4}-\d{2}-\d{2}", first), first
    assert _released(out["second-release"]) == f"{first}.2"  # the same day: no collision
    assert out["second-release"].split()[-2:] == [first, f"{first}.2"]  # ls of the tags
    health = dict(line.split(": ", 1) for line in out["monitoring"].splitlines() if ": " in line)
    for part in ("database", "scheduler", "engine", "storage"):
        assert health[part].startswith("true - "), out["monitoring"]
    assert 'hyperloop_jobs{state="done"}' in out["monitoring"], out["monitoring"]
    revision = out["migrations"].split()[-1]
    assert out["backup"].splitlines()[0] == revision, out["backup"]  # db current on the copy
    assert out["backup"].splitlines()[-1] == f"database at revision {revision}"
    assert out["upgrade"].splitlines()[:2] == [revision, f"database at revision {revision}"]


def _use_the_deployed_system(
    op: Operator, starts: dict[str, tuple[Block, dict[str, str]]], files: list[str], tmp: Path
) -> None:
    env = op.env()
    servers = [f"http://127.0.0.1:{s['WEB_PORT']}" for _, s in (starts["web-1"], starts["web-2"])]
    admin = {"Authorization": f"Bearer {env['HYPERLOOP_TOKEN']}"}
    # jdoe's browser through the proxy: the DN header from the trusted address
    jdoe = {"X-SSL-Client-S-DN": DN, "Sec-Fetch-Site": "same-origin"}

    def call(method: str, path: str, headers: dict, server: int = 0, **kw) -> Any:
        r = httpx.request(method, servers[server] + path, headers=headers, timeout=60, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text[:500]}"
        return r.json() if r.content and "json" in r.headers.get("content-type", "") else r

    # certificate users are created beforehand: jdoe is known, a stranger is refused
    assert call("GET", "/api/users/me", jdoe, 1)["username"] == "jdoe"
    stranger = httpx.get(
        servers[1] + "/api/users/me", headers={"X-SSL-Client-S-DN": "/DC=ch/CN=nobody"}, timeout=30
    )
    assert stranger.status_code == 401, stranger.text
    assert "certificate user 'nobody': unknown or deactivated account" in stranger.text

    # an operator's first dataset (Datasets guide), through the API with the admin's token
    runlist = call("POST", "/api/runlists", admin, json={"name": "guide_pass1", "runs": RUNS})
    ds = call(
        "POST", "/api/datasets", admin, json={"name": "LHC26_guide", "collision_system": "pp"}
    )
    prod = call(
        "POST",
        f"/api/datasets/{ds['id']}/productions",
        admin,
        json={"name": "p1", "kind": "runlist", "runlist_id": runlist["id"]},
    )
    imported = call(
        "POST",
        f"/api/datasets/{ds['id']}/productions/{prod['id']}/files",
        admin,
        json={"directory": env["DATA_ROOT"]},
    )
    assert imported["imported"] == len(files), imported
    call("PUT", f"/api/datasets/{ds['id']}/active", admin, json={"active": True})
    (analysis,) = call("GET", "/api/analyses?name=lf-spectra", admin)["items"]
    call("POST", f"/api/analyses/{analysis['id']}/datasets", admin, json={"dataset_id": ds["id"]})

    # jdoe's wagon on the first tag the guide released
    released = _released(op.outputs["release-script"])
    tags = call("GET", "/api/tags?name=gridtest-wagons", jdoe, 1)["items"]
    (tag,) = [t for t in tags if t["tag"] == released]
    tag_dir = Path(env["HYPERLOOP_DATA_DIR"]) / "tags" / tag["tag"]
    wagon_conf = {"gt-pt": {"sleepPerDf": "2.5"}}  # jobs long enough to lose a worker in one
    body = {
        "analysis_id": analysis["id"],
        "name": "pt_spectrum",
        "workflow": "gt-pt",
        "tag_id": tag["id"],
        "base_config": wagon_conf,
    }
    wagon = call("POST", "/api/wagons", jdoe, 1, json=body)
    call(
        "PUT",
        f"/api/wagons/{wagon['id']}/datasets/{ds['id']}",
        jdoe,
        1,
        json={"policy": "fixed", "tag_id": tag["id"]},
    )

    def wagon_test() -> dict | None:
        items = call("GET", f"/api/wagons/{wagon['id']}/tests", jdoe, 1)["items"]
        latest = max(items, key=lambda t: t["id"], default=None)
        return latest if latest and latest["status"] in ("done", "warning", "failed") else None

    assert wait_for("jdoe's wagon test", wagon_test, op)["status"] in ("done", "warning")

    # the operator composes the train on the guide's target and submits it
    (grid,) = [t for t in call("GET", "/api/targets", admin)["items"] if t["name"] == "grid"]
    train = call(
        "POST",
        "/api/train-runs",
        admin,
        json={"dataset_id": ds["id"], "wagon_ids": [wagon["id"]], "target_id": grid["id"]},
    )["id"]

    def train_state(*states: str) -> Callable[[], str | None]:
        def state() -> str | None:
            current = call("GET", f"/api/train-runs/{train}", admin)["state"]
            return current if current in states else None

        return state

    state = wait_for("the train test", train_state("test_done", "test_warning", "test_failed"), op)
    assert state != "test_failed", call("GET", f"/api/train-runs/{train}", admin)
    call("POST", f"/api/train-runs/{train}/submit", admin)

    # a worker lost while it runs an attempt (its process group killed), then started again
    node_1 = starts["dask-worker-1"][1]["NODE_SCRATCH"]

    def attempt_on_node_1() -> bool:
        for p in psutil.process_iter(["cmdline", "cwd"]):
            if (p.info["cwd"] or "").startswith(node_1) and "run-train" in (
                p.info["cmdline"] or []
            ):
                return True
        current = call("GET", f"/api/train-runs/{train}", admin)["state"]
        return current not in ("submitted", "running")

    wait_for("an attempt running on the first worker node", attempt_on_node_1, op)
    assert call("GET", f"/api/train-runs/{train}", admin)["state"] == "running"
    op.kill("dask-worker-1")
    block, extra = starts["dask-worker-1"]
    op.start("dask-worker-1", block, extra)

    assert wait_for("the train to be done", train_state("done", "failed"), op, 300) == "done"
    jobs = call("GET", f"/api/jobs?train_run_id={train}&limit=100", admin)["items"]
    assert len(jobs) == len(files) and all(j["state"] == "done" for j in jobs), jobs
    assert any(j["attempts"] >= 2 for j in jobs), jobs  # the lost attempt ran again
    assert not (Path(env["HYPERLOOP_DATA_DIR"]) / "work" / "trains").exists()
    # the workers ran the tag they fetched from the storage, verified by its digest
    digest = op.outputs["release-script"].split("sha256 ")[-1].split(")")[0]
    assert digest == tag["digest"]
    nodes = [Path(extra["NODE_SCRATCH"]) for name, (_, extra) in starts.items() if "worker" in name]
    assert len(nodes) == 2 and all((n / "jobs" / "tags" / digest).is_dir() for n in nodes)

    # the result through either web server equals one run of the same tag on one machine
    cfg = config(("gt-pt", wagon_conf)) | {"package_tag": tag["tag"]}
    reference = reference_run(cfg, files, tmp / "single-machine", tag_dir)
    for n, headers in enumerate((admin, jdoe)):
        r = call("GET", f"/api/train-runs/{train}/result", headers, n)
        local = tmp / f"merged-{n}.root"
        local.write_bytes(r.content)
        assert_same_histograms(local, reference)
