"""A running Hyperloop for end-to-end tests: every part a real process on a temporary folder.

``hyperloop serve --no-scheduler`` (the web server and API), ``hyperloop scheduler``, an
external Dask scheduler and two Dask workers (one core each), on SQLite — or PostgreSQL when
``HYPERLOOP_TEST_DATABASE_URL`` is set. The database is seeded with what an installation has
before its users act (accounts, a package tag of the grid test workflows, a dataset of small
AO2D files over three runs, an analysis, targets); everything a test checks is then done
through the API, as users do, while the test may stop, kill and restart any part.

Tests assert on the API and the pages; ``System.sessions`` is for reading what the API does
not show (job attempts, folders)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from tests.factories import seed_installation
from tests.served import REPO_ROOT, free_port

from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.db.testing import ENV, private_postgres_database

BIN = Path(sys.executable).parent
COMPONENTS = ("dask-scheduler", "worker-0", "worker-1", "scheduler", "server")
_databases = itertools.count()


def wait_until(
    what: str,
    check: Callable[[], Any],
    tails: Callable[[], str],
    timeout: float = 300,
    every: float = 0.3,
) -> Any:
    """Wait until ``check()`` is truthy and return it; fail naming ``what`` with the
    processes' logs (``tails()``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{tails()}")
        time.sleep(every)


@dataclass
class System:
    """A running Hyperloop (see the module's docstring)."""

    root: Path
    url: str
    sessions: sessionmaker[Session]
    package: Path
    files: list[str]
    tag_id: int
    dataset_id: int
    analysis_id: int
    target_ids: dict[str, int]
    tokens: dict[str, str]
    env: dict[str, str]
    dask_port: int
    server_port: int
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    # further web servers ("server-2", ...) on ports of their own, same database and secret
    extra_ports: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def base_of(self, name: str) -> str:
        """The URL of web server ``name`` ("server" or a further one, e.g. "server-2")."""
        return self.base if name == "server" else f"http://127.0.0.1:{self.extra_ports[name]}"

    # --- processes ------------------------------------------------------------------------

    def command(self, name: str) -> list[str]:
        dask = [str(BIN / "dask")]
        address = f"tcp://127.0.0.1:{self.dask_port}"
        if name == "dask-scheduler":
            # its HTTP server (health, metrics) binds :8787 even without the dashboard:
            # any free port instead, so that systems and other clusters never collide
            return [*dask, "scheduler", "--host", "127.0.0.1", "--port", str(self.dask_port),
                    "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]  # fmt: skip
        if name.startswith("worker-"):
            return [*dask, "worker", address, "--name", name, "--nthreads", "1",
                    "--resources", "cores=1", "--no-dashboard", "--host", "127.0.0.1",
                    "--local-directory", str(self.root / name)]  # fmt: skip
        if name == "scheduler":
            return [str(BIN / "hyperloop"), "scheduler", "--no-migrate"]
        if name == "server":
            return [str(BIN / "hyperloop"), "serve", "--no-scheduler", "--no-migrate"]
        if name.startswith("server-"):  # another web server process, as behind a proxy
            port = self.extra_ports.setdefault(name, free_port())
            return [str(BIN / "hyperloop"), "serve", "--no-scheduler", "--no-migrate",
                    "--port", str(port)]  # fmt: skip
        raise ValueError(f"no component {name!r}: one of {COMPONENTS}")

    def start(self, name: str) -> None:
        """Start one part (its output appended to ``<root>/logs/<name>.log``)."""
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            raise RuntimeError(f"{name} is already running (pid {proc.pid})")
        log = self.root / "logs" / f"{name}.log"
        with log.open("ab") as out:
            out.write(f"\n==== start {time.strftime('%H:%M:%S')}\n".encode())
            out.flush()
            self.procs[name] = subprocess.Popen(
                self.command(name),
                env=self.env,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if name.startswith("server"):
            self.wait_for(f"{name} to answer", lambda: self._server_up(name), timeout=90)
        if name == "dask-scheduler":
            self.wait_for("the Dask scheduler to listen", self._dask_up, timeout=60)

    def stop(self, name: str, timeout: float = 60) -> int:
        """Graceful stop (SIGTERM to the process, as systemd does); its exit code."""
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} did not stop within {timeout} s\n{self.tails()}")
        self._end_group(proc)
        return proc.returncode

    def kill(self, name: str) -> None:
        """SIGKILL of the part's whole process group (no chance to clean up)."""
        proc = self.procs[name]
        self._end_group(proc)

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start(name)

    def shutdown(self) -> None:
        for name in [*self.extra_ports, *reversed(COMPONENTS)]:
            proc = self.procs.get(name)
            if proc is None:
                continue
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=20)
            self._end_group(proc)

    @staticmethod
    def _end_group(proc: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def _server_up(self, name: str = "server") -> bool:
        if self.procs[name].poll() is not None:
            pytest.fail(f"{name} exited\n{self.tails()}")
        try:
            with urllib.request.urlopen(self.base_of(name) + "/api/health", timeout=1):
                return True
        except OSError:
            return False

    def _dask_up(self) -> bool:
        import socket

        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.dask_port)) == 0

    # --- waiting and logs ----------------------------------------------------------------

    def log(self, name: str) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tails(self, chars: int = 3000) -> str:
        return "\n".join(f"---- {n}\n{self.log(n)[-chars:]}" for n in COMPONENTS)

    def wait_for(
        self, what: str, check: Callable[[], Any], timeout: float = 300, every: float = 0.3
    ) -> Any:
        """Wait until ``check()`` is truthy and return it; fail naming ``what`` with the logs."""
        return wait_until(what, check, self.tails, timeout, every)

    # --- users' actions through the API --------------------------------------------------

    def client(self, user: str = "admin", server: str = "server") -> httpx.Client:
        """An HTTP client of a running web server holding ``user``'s API token."""
        return httpx.Client(
            base_url=self.base_of(server),
            timeout=60,
            headers={"Authorization": f"Bearer {self.tokens[user]}"},
        )

    def wagon(
        self,
        workflow: str,
        config: Mapping[str, Any] | None = None,
        name: str | None = None,
        *,
        tag_id: int | None = None,
        dependencies: Sequence[int] = (),
        derived_tables: Sequence[str] = (),
        fields: Mapping[str, Any] | None = None,
    ) -> int:
        """A wagon of ``workflow`` created by alice and enabled on the dataset (its test
        starts); of the seeded tag unless ``tag_id`` names another (e.g. one registered by
        the test), depending on the wagons ``dependencies``, saving ``derived_tables``;
        ``fields`` (e.g. ``slim_ready``, ``max_df_size``) are set by an edit before enabling."""
        tag_id = self.tag_id if tag_id is None else tag_id
        with self.client("alice") as c:
            body = {
                "analysis_id": self.analysis_id,
                "name": name or f"{workflow.replace('-', '_')}_{next(_databases)}",
                "workflow": workflow,
                "tag_id": tag_id,
                "base_config": dict(config or {}),
                "dependencies": list(dependencies),
                "derived_tables": list(derived_tables),
            }
            r = c.post("/api/wagons", json=body)
            assert r.status_code == 201, r.text
            wagon_id, version = r.json()["id"], r.json()["version"]
            if fields:
                edit = {**fields, "expected_version": version}
                r = c.patch(f"/api/wagons/{wagon_id}", json=edit)
                assert r.status_code == 200, r.text
            r = c.put(
                f"/api/wagons/{wagon_id}/datasets/{self.dataset_id}",
                json={"policy": "fixed", "tag_id": tag_id},
            )
            assert r.status_code == 200, r.text
        return wagon_id

    def wagon_test(self, wagon_id: int, timeout: float = 300) -> dict[str, Any]:
        """The wagon's latest test once it has finished (done, warning or failed)."""

        def finished() -> dict[str, Any] | None:
            with self.client("alice") as c:
                r = c.get(f"/api/wagons/{wagon_id}/tests")
                assert r.status_code == 200, r.text
                items = r.json()["items"]
            latest = max(items, key=lambda t: t["id"], default=None)
            if latest and latest["status"] in ("done", "warning", "failed"):
                return latest
            return None

        return self.wait_for(f"the test of wagon {wagon_id}", finished, timeout)

    def train(
        self,
        wagon_ids: Sequence[int],
        *,
        submit: bool = True,
        target: str = "small",
        slow: bool = True,
        timeout: float = 300,
    ) -> int:
        """Compose a train of the wagons as admin once their tests are done, wait for its
        test and (``submit``) submit it; the train run's id."""
        for wagon_id in wagon_ids:
            test = self.wagon_test(wagon_id, timeout)
            assert test["status"] in ("done", "warning"), test
        with self.client("admin") as c:
            body = {
                "dataset_id": self.dataset_id,
                "wagon_ids": list(wagon_ids),
                "target_id": self.target_ids[target],
                "slow": slow,
            }
            r = c.post("/api/train-runs", json=body)
            assert r.status_code == 201, r.text
            train_id = r.json()["id"]
        if submit:
            state = self.wait_train(train_id, ("test_done", "test_warning", "test_failed"))
            assert state != "test_failed", self.get(f"/api/train-runs/{train_id}")
            with self.client("admin") as c:
                r = c.post(f"/api/train-runs/{train_id}/submit")
                assert r.status_code == 200, r.text
        return train_id

    def wait_train(
        self, train_id: int, states: Sequence[str] = ("done",), timeout: float = 300
    ) -> str:
        """Wait until the train run is in one of ``states``; that state."""

        def state() -> str | None:
            current = self.get(f"/api/train-runs/{train_id}")["state"]
            return current if current in states else None

        return self.wait_for(f"train {train_id} to be {' or '.join(states)}", state, timeout)

    def get(self, path: str, user: str = "admin") -> Any:
        with self.client(user) as c:
            r = c.get(path)
            assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:500]}"
            return r.json()


@contextlib.contextmanager
def _database(root: Path) -> Iterator[str]:
    """A fresh database: SQLite in ``root``, or a new PostgreSQL database (dropped after)."""
    if not os.environ.get(ENV):
        yield f"sqlite:///{root / 'hyperloop.db'}"
        return
    with private_postgres_database(f"e2e{os.getpid()}_{next(_databases)}") as url:
        yield url


def environment(root: Path, url: str, dask_port: int, server_port: int, **settings: Any) -> dict:
    """The ``HYPERLOOP_*`` environment every part runs with (no outside HYPERLOOP_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERLOOP_")}
    env |= {
        "HYPERLOOP_DATABASE_URL": url,
        "HYPERLOOP_DATA_DIR": str(root / "var"),
        "HYPERLOOP_HOST": "127.0.0.1",
        "HYPERLOOP_PORT": str(server_port),
        "HYPERLOOP_DASK_SCHEDULER_ADDRESS": f"tcp://127.0.0.1:{dask_port}",
        "HYPERLOOP_SCHEDULER_INTERVAL_S": "0.3",
        "HYPERLOOP_SCHEDULER_TEST_TARGET": "small",
        "HYPERLOOP_SCHEDULER_JOB_WALL_TIME_S": "120",
        "HYPERLOOP_SCHEDULER_THRESHOLDS": json.dumps({"min_reduction_factor": 1}),
        "HYPERLOOP_STORAGE_ROOTS": json.dumps([str(root / "data")]),
        "HYPERLOOP_RUN_MIGRATIONS_ON_START": "false",
        "PYTHONPATH": str(REPO_ROOT),
    }
    for key, value in settings.items():
        env[f"HYPERLOOP_{key.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


@contextlib.contextmanager
def running_system(
    root: Path, *, files_per_run: int = 2, start: Sequence[str] = COMPONENTS, **settings: Any
) -> Iterator[System]:
    """Seed a database in ``root`` and start the parts in ``start`` (all by default)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    with _database(root) as url:
        seeded = seed_installation(root, url, files_per_run=files_per_run)
        dask_port, server_port = free_port(), free_port()
        env = environment(root, url, dask_port, server_port, **settings)
        system = System(
            root=root,
            url=url,
            sessions=make_sessionmaker(make_engine(url)),
            env=env,
            dask_port=dask_port,
            server_port=server_port,
            **seeded,
        )
        try:
            for name in start:
                system.start(name)
            yield system
        finally:
            system.shutdown()
            system.sessions.kw["bind"].dispose()
