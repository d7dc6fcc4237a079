"""API load benchmark (issue 4): the real server under concurrent clients on loopback.

Seeds (or reuses) a realistic database (benchmarks/seed.py: 200 analyses, 2,000 wagons,
100 datasets, 10,000 train runs, 1,000,000 jobs at --scale 1.0) on SQLite (file, WAL) and/or
PostgreSQL, starts ``uvicorn hyperloop.web.app:create_app`` in a subprocess on 127.0.0.1
(free port), authenticates with personal API tokens of 16 users, and drives these endpoints
with N concurrent httpx clients (bounded by a request count and a time budget):

  my_analyses   GET /api/my-analyses                      (wagon x dataset grid, test status)
  train_list    GET /api/train-runs?limit=50&...          (pages and filters)
  train_detail  GET /api/train-runs/{id}                  (snapshot, comments, job counts)
  train_jobs    GET /api/jobs?train_run_id={id}&limit=50  (the jobs table of a detail page)
  whoami        GET /api/auth/session                     (baseline: framework + auth only)

Prints p50/p95/p99 latency, requests/s and p95 / goal (goal: p95 < 50 ms) per endpoint and
backend, seeding time, server CPU; writes var/bench/api_load_results.json.

    .venv/bin/python benchmarks/api_load.py [--scale 1.0] [--backend sqlite|postgresql|both]
        [--concurrency 1 16] [--requests 1500] [--seconds 30] [--workers 1] [--no-keep]
        [--think 0] [--api-threads N] [--write-interval 0]

Reading the figures: with ``--think 0`` (default) each client sends its next request as soon
as the previous one is answered, so N > 1 clients measure the saturated server: by Little's
law the mean latency is N / (requests/s), whatever the endpoint (16 clients at 60 req/s wait
~270 ms). ``--concurrency 1`` gives the service time; ``--think S`` lets each client pause an
exponentially distributed S seconds between requests (users reading a page), which measures
the latency of N concurrent users below saturation. ``--write-interval S`` adds a write
every S seconds that invalidates every cached My Analyses grid (the server caches it per
user until the database's change counter moves), so its rebuild cost shows too.

A cached database of an older schema is migrated (Alembic) rather than reseeded when only
the schema changed.

PostgreSQL: ``source scripts/services.sh && start_postgres`` exports
HYPERLOOP_TEST_DATABASE_URL; the benchmark uses a separate database ``hyperloop_bench`` on
that server (created if missing) or --pg-url.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from sqlalchemy import delete, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.seed import (  # noqa: E402
    NOW,
    Counts,
    _meta_set,
    _params,
    _state,
    seed,
    wipe,
)

from hyperloop.core import users  # noqa: E402
from hyperloop.db import models as m  # noqa: E402
from hyperloop.db.migrate import upgrade  # noqa: E402
from hyperloop.db.session import make_engine, make_sessionmaker  # noqa: E402

GOAL_P95_MS = 50.0
TOKEN_NAME = "api-load-benchmark"
PASSWORD = "api-load-benchmark-password"
ENDPOINTS = ("whoami", "my_analyses", "train_list", "train_detail", "train_jobs")


@dataclass
class EndpointResult:
    """Latency figures of one endpoint on one backend."""

    endpoint: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_kb: float
    server_cpu_s: float
    statuses: dict[str, int] = field(default_factory=dict)
    grid_writes: int = 0  # writes invalidating the My Analyses cache during the run

    @property
    def goal_ratio(self) -> float:
        return self.p95_ms / GOAL_P95_MS


def _log(message: str) -> None:
    print(message, flush=True)


# ------------------------------------------------------------------------------ databases


def sqlite_url(folder: Path, scale: float) -> str:
    return f"sqlite:///{folder / f'api_load_scale{scale:g}.db'}"


def postgres_url(explicit: str | None) -> str:
    """The benchmark database on the test server (``hyperloop_bench``, created if missing)."""
    if explicit:
        return explicit
    base = os.environ.get("HYPERLOOP_BENCH_DATABASE_URL") or os.environ.get(
        "HYPERLOOP_TEST_DATABASE_URL"
    )
    if not base:
        raise SystemExit(
            "PostgreSQL: set HYPERLOOP_TEST_DATABASE_URL (source scripts/services.sh && "
            "start_postgres) or pass --pg-url"
        )
    url = make_url(base)
    if os.environ.get("HYPERLOOP_BENCH_DATABASE_URL"):
        return base
    bench = url.set(database="hyperloop_bench")
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            exists = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = 'hyperloop_bench'")
            )
            if not exists:
                conn.execute(text("CREATE DATABASE hyperloop_bench"))
    finally:
        engine.dispose()
    return bench.render_as_string(hide_password=False)


def migrate_cached(url: str, scale: float) -> bool:
    """Bring a cached benchmark database of an older schema to the newest one with the
    migrations (as a deployment would) instead of reseeding it; True when it did. Only when
    nothing but the schema changed and the migrated tables then match the models."""
    params, phase = _state(url)
    if params is None or phase != "done" or params == _params(scale):
        return False
    old, new = json.loads(params), json.loads(_params(scale))
    if {k: v for k, v in old.items() if k != "schema"} != {
        k: v for k, v in new.items() if k != "schema"
    }:
        return False
    upgrade(url)
    engine = make_engine(url)
    try:
        found = sa_inspect(engine)
        for table in m.Base.metadata.tables.values():
            if not found.has_table(table.name):
                return False
            if {c["name"] for c in found.get_columns(table.name)} != set(table.columns.keys()):
                return False
        with engine.begin() as conn:
            _meta_set(conn, "params", _params(scale))
    finally:
        engine.dispose()
    return True


def make_tokens(url: str, n: int, *, passwords: bool = False) -> list[tuple[str, str]]:
    """(username, API token) of the users 1..n (the seeded heavy users), replacing earlier
    tokens; with ``passwords`` their password is set to PASSWORD (session logins)."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as s:
            s.execute(delete(m.ApiToken).where(m.ApiToken.name == TOKEN_NAME))
            people = s.scalars(select(m.User).where(m.User.id <= n).order_by(m.User.id)).all()
            if passwords:
                for p in people:
                    if not users.verify_password(p.password_hash, PASSWORD):
                        users.set_password(s, p, PASSWORD)
            return [(p.username, users.create_api_token(s, p, TOKEN_NAME)[1]) for p in people]
    finally:
        engine.dispose()


def auth_headers(base: str, accounts: list[tuple[str, str]], how: str) -> list[dict[str, str]]:
    """Request headers per client: ``Authorization: Bearer`` or a login-session cookie."""
    if how == "token":
        return [{"Authorization": f"Bearer {token}"} for _, token in accounts]
    out = []
    for username, _ in accounts:
        r = httpx.post(
            f"{base}/api/auth/login", json={"username": username, "password": PASSWORD}, timeout=60
        )
        if r.status_code != 200:
            raise SystemExit(f"login of {username} failed: {r.status_code} {r.text[:200]}")
        out.append({"Cookie": "; ".join(f"{k}={v}" for k, v in r.cookies.items())})
    return out


def drop_tokens(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(delete(m.ApiToken).where(m.ApiToken.name == TOKEN_NAME))
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------ server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(
    url: str, workers: int, log_file: Path, api_threads: int | None = None
) -> Iterator[tuple[str, psutil.Process]]:
    """uvicorn serving ``create_app`` on a free loopback port; yields (base URL, process).
    ``api_threads``: the server's ``api_threads`` setting (None: its default)."""
    port = free_port()
    env = os.environ | {
        "HYPERLOOP_DATABASE_URL": url,
        "HYPERLOOP_RUN_MIGRATIONS_ON_START": "false",
        "HYPERLOOP_ENVIRONMENT": "development",
    }
    if api_threads is not None:
        env["HYPERLOOP_API_THREADS"] = str(api_threads)
    factory = "hyperloop.web.app:create_app"
    cmd = [sys.executable, "-m", "uvicorn", factory, "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    cmd += ["--no-access-log", "--log-level", "warning", "--timeout-keep-alive", "120"]
    with log_file.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}; see {log_file}")
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"server did not answer /api/health within 90 s; see {log_file}")
            time.sleep(0.3)
        yield base, psutil.Process(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def grid_writer(url: str, interval: float) -> Iterator[list[int]]:
    """Every ``interval`` seconds (0: never) a write that changes the My Analyses grid, from
    another connection as another server or the scheduler would: every user's cached grid
    is invalidated, so the next request of each rebuilds it. Yields [writes done]."""
    done = [0]
    if interval <= 0:
        yield done
        return
    stop = threading.Event()
    engine = make_engine(url)

    def loop() -> None:
        while not stop.wait(interval):
            with engine.begin() as conn:  # a watched table: the triggers bump the counter
                conn.execute(text("UPDATE analyses SET description = description WHERE id = 1"))
            done[0] += 1

    thread = threading.Thread(target=loop, name="grid-writer", daemon=True)
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join()
        engine.dispose()


def server_cpu(proc: psutil.Process) -> float:
    """User+system CPU seconds of the server and its worker processes."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


# ------------------------------------------------------------------------------ requests


def request_plans(counts: Counts, seed_value: int = 7) -> dict[str, Callable[[], str]]:
    """Generators of request paths per endpoint (random pages, filters and train ids)."""
    rng = np.random.default_rng(seed_value)
    last = counts.train_runs
    month_ago = (NOW - timedelta(days=30)).isoformat().replace("+00:00", "Z")

    def train_list() -> str:
        kind = int(rng.integers(0, 6))
        limit = "limit=50"
        if kind == 0:
            return f"/api/train-runs?{limit}&offset={50 * int(rng.integers(0, 5))}"
        if kind == 1:
            return f"/api/train-runs?{limit}&dataset_id={int(rng.integers(1, counts.datasets + 1))}"
        if kind == 2:
            d = int(rng.integers(1, counts.datasets + 1))
            return f"/api/train-runs?{limit}&dataset_id={d}&state=done"
        if kind == 3:
            return f"/api/train-runs?{limit}&state=running&state=submitted&state=merging"
        if kind == 4:
            a = int(rng.integers(1, counts.analyses + 1))
            return f"/api/train-runs?{limit}&analysis_id={a}"
        return f"/api/train-runs?{limit}&composed_after={month_ago}"

    def train_id() -> int:
        if rng.random() < 0.5:  # recent trains are looked at most
            return int(rng.integers(max(1, last - 500), last + 1))
        return int(rng.integers(1, last + 1))

    return {
        "my_analyses": lambda: "/api/my-analyses",
        "train_list": train_list,
        "train_detail": lambda: f"/api/train-runs/{train_id()}",
        "train_jobs": lambda: f"/api/jobs?train_run_id={train_id()}&limit=50",
        "whoami": lambda: "/api/auth/session",
    }


async def drive(
    base: str,
    headers_of: list[dict[str, str]],
    next_path: Callable[[], str],
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    think: float = 0.0,
) -> tuple[list[float], dict[str, int], list[int], float]:
    """Run ``concurrency`` clients until ``max_requests`` or ``max_seconds``; latencies in s.
    With ``think`` > 0 each client pauses an exponential time of that mean between requests."""
    pauses = np.random.default_rng(11)
    latencies: list[float] = []
    sizes: list[int] = []
    statuses: dict[str, int] = {}
    issued = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        start = time.perf_counter()

        async def worker(i: int) -> None:
            nonlocal issued
            headers = headers_of[i % len(headers_of)]
            if think > 0:  # users arrive spread over one pause, not all at once
                await asyncio.sleep(float(pauses.uniform(0, think)))
            while issued < max_requests and time.perf_counter() - start < max_seconds:
                issued += 1
                path = next_path()
                t0 = time.perf_counter()
                try:
                    response = await client.get(path, headers=headers)
                    code = str(response.status_code)
                    sizes.append(len(response.content))
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                latencies.append(time.perf_counter() - t0)
                statuses[code] = statuses.get(code, 0) + 1
                if think > 0:
                    await asyncio.sleep(float(pauses.exponential(think)))

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - start
    return latencies, statuses, sizes, elapsed


def measure(
    base: str,
    proc: psutil.Process,
    headers_of: list[dict[str, str]],
    name: str,
    next_path: Callable[[], str],
    concurrency: int,
    args: argparse.Namespace,
) -> EndpointResult:
    users = len(headers_of)  # warm-up: connections, code paths, each user's cached grid
    asyncio.run(
        drive(
            base, headers_of, next_path, concurrency=users, max_requests=2 * users, max_seconds=20
        )
    )
    cpu0 = server_cpu(proc)
    lat, statuses, sizes, elapsed = asyncio.run(
        drive(
            base,
            headers_of,
            next_path,
            concurrency=concurrency,
            max_requests=args.requests if concurrency > 1 else max(50, args.requests // 8),
            max_seconds=args.seconds,
            think=args.think,
        )
    )
    cpu = server_cpu(proc) - cpu0
    ms = np.array(lat) * 1000
    errors = sum(n for code, n in statuses.items() if code != "200")
    return EndpointResult(
        endpoint=name,
        concurrency=concurrency,
        requests=len(lat),
        errors=errors,
        seconds=round(elapsed, 2),
        rps=round(len(lat) / elapsed, 1),
        p50_ms=round(float(np.percentile(ms, 50)), 1),
        p95_ms=round(float(np.percentile(ms, 95)), 1),
        p99_ms=round(float(np.percentile(ms, 99)), 1),
        max_ms=round(float(ms.max()), 1),
        mean_kb=round(float(np.mean(sizes)) / 1024, 1) if sizes else 0.0,
        server_cpu_s=round(cpu, 1),
        statuses=statuses,
    )


def check_shapes(base: str, headers: dict[str, str], counts: Counts) -> dict[str, Any]:
    """One request per endpoint: status and what the payload contains (for the report)."""
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as c:
        r = c.get("/api/my-analyses")
        body = r.json() if r.status_code == 200 else []
        out["my_analyses"] = {
            "status": r.status_code,
            "analyses": len(body),
            "wagons": sum(len(a.get("wagons", [])) for a in body),
            "cells": sum(len(w.get("cells", [])) for a in body for w in a.get("wagons", [])),
        }
        r = c.get(f"/api/train-runs/{counts.train_runs}")
        detail = r.json() if r.status_code == 200 else {}
        out["train_detail"] = {
            "status": r.status_code,
            "has_job_counts": any("job" in k for k in detail),
            "keys": sorted(detail),
        }
        r = c.get("/api/train-runs?limit=50")
        out["train_list"] = {"status": r.status_code, "total": r.json().get("total")}
    return out


# ------------------------------------------------------------------------------ main


def run_backend(backend: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    _log(f"\n=== {backend}: {make_url(url).render_as_string(hide_password=True)}")
    t0 = time.perf_counter()
    if not args.fresh and migrate_cached(url, args.scale):
        _log("  cached database migrated to the current schema (no reseed)")
    report = seed(url, args.scale, fresh=args.fresh, log=_log)
    seed_s = time.perf_counter() - t0
    _log(
        f"  database ready in {seed_s:.1f} s ({'cached' if report.reused else 'seeded'}): "
        + ", ".join(f"{k} {report.counts.get(k, 0):,}" for k in ("analyses", "wagons", "datasets"))
        + f", train_runs {report.counts.get('train_runs', 0):,}, jobs {report.counts.get('jobs', 0):,}"
    )
    counts = Counts.at(args.scale)
    accounts = make_tokens(url, 16, passwords=args.auth == "session")
    results: list[EndpointResult] = []
    log_file = Path(args.db_dir) / f"server_{backend}.log"
    try:
        with server(url, args.workers, log_file, args.api_threads) as (base, proc):
            headers_of = auth_headers(base, accounts, args.auth)
            shapes = check_shapes(base, headers_of[0], counts)
            _log(f"  payloads: {json.dumps(shapes)}")
            plans = request_plans(counts)
            for name in args.endpoints:
                for conc in args.concurrency:
                    with grid_writer(url, args.write_interval) as writes:
                        result = measure(base, proc, headers_of, name, plans[name], conc, args)
                    result.grid_writes = writes[0]
                    results.append(result)
                    _log(
                        f"  {name:13s} c={conc:2d} n={result.requests:5d} err={result.errors:3d} "
                        f"{result.rps:7.1f} req/s  p50 {result.p50_ms:7.1f}  p95 {result.p95_ms:7.1f}"
                        f"  p99 {result.p99_ms:7.1f} ms  ({result.mean_kb:.1f} kB, "
                        f"server CPU {result.server_cpu_s:.1f} s)"
                    )
    finally:
        drop_tokens(url)
    return {
        "backend": backend,
        "seed": report.as_dict() | {"wall_s": round(seed_s, 1)},
        "payloads": shapes,
        "results": [asdict(r) | {"goal_ratio": round(r.goal_ratio, 2)} for r in results],
    }


def print_table(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(
        f"\nAPI load, scale {args.scale:g}, concurrent clients {args.concurrency}, "
        f"{args.workers} uvicorn worker(s), api_threads {args.api_threads or 'default'}, "
        f"auth {args.auth}, think {args.think:g} s, grid write every "
        f"{args.write_interval:g} s"
        f", {os.cpu_count()} CPUs, load average "
        f"{load[0]:.1f} (shared machine)"
    )
    header = (
        f"{'backend':10s} {'endpoint':13s} {'conc':>4s} {'req':>6s} {'err':>4s} {'req/s':>7s} "
        f"{'p50 ms':>7s} {'p95 ms':>7s} {'p99 ms':>7s} {'p95/goal':>9s} {'CPU ms/req':>10s}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        for r in run["results"]:
            verdict = "ok" if r["goal_ratio"] <= 1 else "SLOW"
            print(
                f"{run['backend']:10s} {r['endpoint']:13s} {r['concurrency']:4d} {r['requests']:6d} {r['errors']:4d} "
                f"{r['rps']:7.1f} {r['p50_ms']:7.1f} {r['p95_ms']:7.1f} {r['p99_ms']:7.1f} "
                f"{r['goal_ratio']:8.2f}x {r['server_cpu_s'] * 1000 / max(1, r['requests']):10.1f}"
                f" {verdict}"
            )
    print(
        f"goal: p95 < {GOAL_P95_MS:.0f} ms (p95/goal <= 1). CPU ms/req: server CPU time per "
        "request (all server processes), less sensitive to other load on the machine"
    )
    for run in runs:
        s = run["seed"]
        if not s:
            print(f"{run['backend']}: FAILED ({run.get('error')})")
            continue
        print(
            f"seeding {run['backend']}: {s['wall_s']} s "
            f"({'reused cache' if s['reused'] else 'phases ' + json.dumps(s['seconds'])})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full world")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 16],
        help="concurrent clients; several values run one after the other (1 = service time)",
    )
    parser.add_argument("--requests", type=int, default=1500, help="max requests per endpoint")
    parser.add_argument("--seconds", type=float, default=30.0, help="max seconds per endpoint")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean pause of each client between requests, s (0: back to back = saturation)",
    )
    parser.add_argument(
        "--auth",
        choices=("token", "session"),
        default="token",
        help="personal API tokens (scripts, CLI) or login-session cookies (browser)",
    )
    parser.add_argument(
        "--write-interval",
        type=float,
        default=0.0,
        help="seconds between two writes that invalidate every cached My Analyses grid "
        "(0: none); models test results and edits arriving while users read",
    )
    parser.add_argument(
        "--api-threads",
        type=int,
        default=None,
        help="the server's api_threads setting (default: the setting's default)",
    )
    parser.add_argument("--endpoints", nargs="+", choices=ENDPOINTS, default=list(ENDPOINTS))
    parser.add_argument("--db-dir", default=str(REPO / "var" / "bench"))
    parser.add_argument("--pg-url", default=None, help="PostgreSQL database (default: bench db)")
    parser.add_argument(
        "--keep",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep the seeded databases as a cache for the next run (default)",
    )
    parser.add_argument("--fresh", action="store_true", help="reseed even when cached")
    parser.add_argument("--json", default=None, help="results file (default: db-dir/...json)")
    args = parser.parse_args(argv)
    Path(args.db_dir).mkdir(parents=True, exist_ok=True)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    runs = []
    for backend in backends:
        url = (
            sqlite_url(Path(args.db_dir), args.scale)
            if backend == "sqlite"
            else postgres_url(args.pg_url)
        )
        try:
            runs.append(run_backend(backend, url, args))
        except (Exception, SystemExit) as exc:  # report the other backend anyway
            _log(f"  {backend} FAILED: {exc}")
            runs.append({"backend": backend, "error": str(exc), "results": [], "seed": {}})
        finally:
            if not args.keep:
                wipe(url)
    print_table(runs, args)
    out = Path(args.json or Path(args.db_dir) / "api_load_results.json")
    out.write_text(json.dumps({"args": vars(args), "runs": runs}, indent=2, default=str))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
