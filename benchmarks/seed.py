"""Seed a realistic Hyperloop database for load benchmarks (bulk SQLAlchemy Core inserts).

At scale 1.0: 200 analyses, 2,000 wagons, 100 datasets, 10,000 train runs over one year and
1,000,000 jobs rows, plus users, tags, memberships, enablings, wagon tests, train-wagon links
and comments.  Deterministic (fixed RNG seed) and resumable: the small tables are written in
one transaction, jobs in chunks of train runs, each chunk committed with its progress mark in
the table ``bench_seed`` (outside the Alembic schema), so an interrupted seed continues where
it stopped and a finished one is reused when scale and schema match.

    python benchmarks/seed.py sqlite:///var/bench/x.db --scale 0.01
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Column, Engine, MetaData, String, Table, Text, func, select, text
from sqlalchemy.engine import make_url

from hyperloop.db import models as m
from hyperloop.db.migrate import upgrade
from hyperloop.db.session import make_engine

SEED_VERSION = 3
RNG_SEED = 20261129
BATCH = 20_000
JOB_CHUNK_TRAINS = 250
# "now" of the seeded world: fixed so the data (and cache key) do not depend on the day
NOW = datetime(2026, 11, 1, tzinfo=UTC)
YEAR_S = 365 * 24 * 3600

FULL = {
    "analyses": 200,
    "wagons": 2_000,
    "datasets": 100,
    "train_runs": 10_000,
    "jobs": 1_000_000,
    "users": 400,
    "tags": 60,
}
PWGS = ("CF", "DQ", "EM", "HF", "JE", "LF", "UD")
WORKFLOWS = (
    "spectra-tpctof",
    "two-particle-correlations",
    "strangeness-v0-cascades",
    "ud-rho-photoproduction",
    "track-selection-qa",
    "pid-tpc-full",
    "event-selection-qa",
    "jet-finder-charged",
    "hf-candidate-creator-2prong",
    "femto-dream-producer",
    "dilepton-ee",
    "multiplicity-table",
)
_SITE_NAMES = (
    "CERN::EOS FZK::SE GSI::SE2 Torino::SE Bari::SE CNAF::CEPH KISTI_GSDC::SE LBL_HPCS::EOS "
    "ORNL::EOS Subatech::EOS IHEP::SE Prague::SE NIHAM::EOS Catania::SE SARA::DCACHE "
    "Kosice::EOS Legnaro::SE RRC-KI::EOS UPB::EOS JINR::EOS"
)
SITES = tuple(f"ALICE::{site}" for site in _SITE_NAMES.split())
ERRORS = (
    ("a1f0c3", "std::bad_alloc in lambdakzero-builder", "execution_error"),
    ("b7e210", "SIGSEGV in cascade-builder::process", "execution_error"),
    ("c90d11", "TTree::GetEntry: read error on AO2D.root", "execution_error"),
    ("d4411a", "output validation: histogram hPt missing", "validation_error"),
    ("e0071f", "output validation: AnalysisResults.root truncated", "validation_error"),
    ("f3a9b2", "job exceeded TTL of 36000 s", "expired"),
    ("0c5d7e", "worker node lost contact", "lost"),
    ("1e22aa", "PSS above memory limit (4000 MB)", "execution_error"),
)
TRAIN_FINAL_MIX = {  # state of trains older than a week
    "done": 0.68,
    "decomposed": 0.09,
    "test_failed": 0.07,
    "killed": 0.05,
    "closed": 0.05,
    "test_done": 0.03,
    "test_warning": 0.03,
}
TRAIN_RECENT_MIX = {  # state of trains of the last week
    "composed": 0.06,
    "testing": 0.08,
    "test_done": 0.12,
    "test_warning": 0.05,
    "test_failed": 0.07,
    "long_train_requested": 0.03,
    "long_train_approved": 0.02,
    "submitted": 0.05,
    "running": 0.17,
    "merging": 0.05,
    "done": 0.25,
    "killed": 0.03,
    "decomposed": 0.03,
}
WITH_JOBS = {"submitted", "running", "merging", "done", "killed", "closed"}
SUBMITTED_STATES = WITH_JOBS
FINISHED_STATES = {"done", "killed", "closed"}
JOB_MIX = {  # job state distribution per train state
    "done": {"done": 0.985, "execution_error": 0.008, "validation_error": 0.003, "expired": 0.004},
    "closed": {"done": 0.95, "execution_error": 0.03, "expired": 0.02},
    "killed": {"done": 0.40, "execution_error": 0.25, "waiting": 0.20, "lost": 0.15},
    "merging": {"done": 0.97, "execution_error": 0.02, "validation_error": 0.01},
    "running": {
        "done": 0.55,
        "running": 0.25,
        "waiting": 0.12,
        "execution_error": 0.05,
        "expired": 0.02,
        "lost": 0.01,
    },
    "submitted": {"waiting": 0.85, "running": 0.15},
}
STATUS_MIX = {"done": 0.58, "warning": 0.12, "failed": 0.1, "running": 0.05, "queued": 0.15}

meta = MetaData()
bench_seed = Table(
    "bench_seed",
    meta,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


@dataclass(frozen=True)
class Counts:
    """Row counts of the main objects at a given scale (at least a tiny consistent world)."""

    analyses: int
    wagons: int
    datasets: int
    train_runs: int
    jobs: int
    users: int
    tags: int

    @classmethod
    def at(cls, scale: float) -> Counts:
        if not 0 < scale <= 10:
            raise ValueError(f"scale must be in (0, 10], got {scale}")
        minimum = {"analyses": 4, "wagons": 12, "datasets": 4, "train_runs": 20, "jobs": 200}
        minimum |= {"users": 20, "tags": 3}
        return cls(**{k: max(minimum[k], round(v * scale)) for k, v in FULL.items()})


@dataclass
class SeedReport:
    """What the seeder did: rows per table, seconds per phase, whether the cache was used."""

    url: str
    scale: float
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    reused: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": make_url(self.url).render_as_string(hide_password=True),
            "scale": self.scale,
            "counts": self.counts,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "reused": self.reused,
        }


# ------------------------------------------------------------------------------ helpers


def _choice(rng: np.random.Generator, mix: dict[str, float], n: int) -> np.ndarray:
    keys = list(mix)
    p = np.array([mix[k] for k in keys], dtype=float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=n, p=p / p.sum())]


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(float(seconds), UTC)


def _insert(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), BATCH):
        conn.execute(table.insert(), rows[i : i + BATCH])


def _table(model: Any) -> Table:
    return model.__table__ if hasattr(model, "__table__") else model


def schema_fingerprint() -> str:
    """A hash of every table and column of the ORM metadata (reseed when the schema changes)."""
    parts = sorted(
        f"{t.name}.{c.name}:{c.type!r}" for t in m.Base.metadata.tables.values() for c in t.columns
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _params(scale: float) -> str:
    return json.dumps(
        {"scale": scale, "seed": RNG_SEED, "version": SEED_VERSION, "schema": schema_fingerprint()},
        sort_keys=True,
    )


def _config_pool() -> list[tuple[str, dict[str, str]]]:
    """Task sections of a real O2 configuration (tests/data/realdata) to build wagon configs."""
    real = Path(__file__).resolve().parents[1] / "tests" / "data" / "realdata"
    path = real / "dpl-config_strangeness.json"
    if path.is_file():
        data = json.loads(path.read_text())
        pool = [(k, v) for k, v in data.items() if isinstance(v, dict) and len(v) >= 3]
        if pool:
            return pool
    return [
        (f"task-{i}", {f"param{j}": str(j * 0.5) for j in range(8 + i)}) for i in range(8)
    ]  # fallback of similar size


# ------------------------------------------------------------------------------ cache state


def _meta_get(engine: Engine, key: str) -> str | None:
    with engine.connect() as conn:
        meta.create_all(conn)
        conn.commit()
        return conn.scalar(select(bench_seed.c.value).where(bench_seed.c.key == key))


def _meta_set(conn: Any, key: str, value: str) -> None:
    conn.execute(bench_seed.delete().where(bench_seed.c.key == key))
    conn.execute(bench_seed.insert().values(key=key, value=value))


def wipe(url: str) -> None:
    """Remove every table of the database (SQLite: the file; PostgreSQL: the public schema)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        base = Path(parsed.database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{base}{suffix}").unlink(missing_ok=True)
        return
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def _state(url: str) -> tuple[str | None, str | None]:
    """(params, phase) recorded in the database, or (None, None) for a fresh one."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        return None, None
    engine = make_engine(url)
    try:
        return _meta_get(engine, "params"), _meta_get(engine, "phase")
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------ base world


def _base_rows(c: Counts, rng: np.random.Generator) -> dict[str, list[dict[str, Any]]]:
    """Every row except jobs, with explicit ids, in foreign-key order."""
    now = NOW.timestamp()
    rows: dict[str, list[dict[str, Any]]] = {}
    pool = _config_pool()

    # users: the first 16 are the benchmark's heavy users (members of several analyses)
    rows["users"] = [
        {
            "id": i,
            "username": "bench" if i == 1 else f"user{i:04d}",
            "display_name": f"User {i}",
            "email": f"user{i}@example.org",
            "password_hash": None,
            "roles": ["admin"] if i == c.users else (["operator"] if i == c.users - 1 else []),
            "convener_pwgs": [],
            "active": True,
            "created_at": _ts(now - YEAR_S - rng.uniform(0, YEAR_S)),
        }
        for i in range(1, c.users + 1)
    ]
    tag_times = np.sort(now - rng.uniform(0, YEAR_S, c.tags))
    rows["package_tags"] = [
        {
            "id": i + 1,
            "name": "hyperloop-physics",
            "version": f"daily-{_ts(t):%Y%m%d-%H%M}",
            "artifact": f"/cvmfs/hyperloop/tags/daily-{_ts(t):%Y%m%d}.whl",
            "introspection": {"package": "hyperloop-physics", "workflows": []},
            "pull_requests": [f"#{1000 + 3 * i + k}" for k in range(3)],
            "available": True,
            "released_at": _ts(t),
        }
        for i, t in enumerate(tag_times)
    ]
    rows["targets"] = [
        {"id": 1, "name": "grid-1core", "cores": 1, "memory_limit_mb": 2000, "engine": "grid"},
        {"id": 2, "name": "grid-8core", "cores": 8, "memory_limit_mb": 16000, "engine": "grid"},
        {"id": 3, "name": "local", "cores": 4, "memory_limit_mb": 8000, "engine": "local"},
    ]

    # datasets: ~10 % short datasets pointing at a bigger one
    ds_runs: dict[int, list[int]] = {}
    rows["datasets"] = []
    for i in range(1, c.datasets + 1):
        period = f"LHC{22 + i % 4}{chr(97 + i % 26)}{chr(97 + (i * 7) % 26)}"
        kind = ("data", "data", "mc", "derived")[i % 4]
        parent = int(rng.integers(1, i)) if i > 3 and rng.random() < 0.1 else None
        n_runs = int(rng.integers(20, 200))
        first = int(rng.integers(520000, 560000))
        ds_runs[i] = sorted((first + rng.choice(4000, n_runs, replace=False)).tolist())
        rows["datasets"].append(
            {
                "id": i,
                "name": f"{period}_{kind}_{'short_' if parent else ''}{i:03d}",
                "description": f"{kind} {period} pass{1 + i % 3}",
                "active": bool(rng.random() < 0.8),
                "data_type": kind,
                "collision_system": ("pp", "PbPb", "pPb")[i % 3],
                "anchor": period,
                "period": period,
                "parent_id": parent,
                "size_class": ("small", "medium", "large")[i % 3],
                "cpu_limit_hours": float(rng.choice([5e3, 2e4, 1e5])),
                "slots_per_week": 4,
                "auto_compose": bool(i % 5 == 0),
                "auto_compose_days": [0, 3] if i % 5 == 0 else [],
                "auto_compose_times": ["08:00"] if i % 5 == 0 else [],
                "version": 1,
                "created_at": _ts(now - YEAR_S - rng.uniform(0, YEAR_S)),
            }
        )

    # analyses, membership, datasets of analyses
    n_service = max(1, c.analyses // 20)
    rows["analyses"] = [
        {
            "id": a,
            "name": f"{PWGS[a % len(PWGS)]}-{'service' if a <= n_service else 'analysis'}-{a:03d}",
            "pwg": PWGS[a % len(PWGS)],
            "is_service": a <= n_service,
            "email_policy": ("all", "enabler", "none")[a % 3],
            "description": f"Analysis {a}",
            "created_at": _ts(now - YEAR_S - rng.uniform(0, YEAR_S)),
        }
        for a in range(1, c.analyses + 1)
    ]
    members: dict[int, set[int]] = {
        a: set(
            rng.choice(
                np.arange(17, c.users + 1),
                min(c.users - 16, int(rng.integers(2, 12))),
                replace=False,
            ).tolist()
        )
        if c.users > 16
        else set()
        for a in range(1, c.analyses + 1)
    }
    heavy = list(range(1, min(16, c.users) + 1))
    for u in heavy:  # the benchmark users: 4..12 analyses each
        k = min(c.analyses, int(rng.integers(4, 13)))
        for a in rng.choice(np.arange(1, c.analyses + 1), k, replace=False).tolist():
            members[a].add(u)
    rows["analysis_members"] = [
        {"analysis_id": a, "user_id": u, "display_order": o, "collapsed": bool(o % 7 == 6)}
        for a in range(1, c.analyses + 1)
        for o, u in enumerate(sorted(members[a]))
    ]
    an_ds: dict[int, list[int]] = {}
    for a in range(1, c.analyses + 1):
        k = min(c.datasets, int(rng.integers(2, 9)))
        an_ds[a] = sorted(rng.choice(np.arange(1, c.datasets + 1), k, replace=False).tolist())
    rows["analysis_datasets"] = [
        {"analysis_id": a, "dataset_id": d, "added_at": _ts(now - rng.uniform(0, YEAR_S))}
        for a, ds in an_ds.items()
        for d in ds
    ]

    # wagons: every analysis at least one, the rest proportional to a lognormal weight
    weights = rng.lognormal(0, 0.8, c.analyses)
    extra = rng.multinomial(c.wagons - c.analyses, weights / weights.sum())
    wagon_an = np.repeat(np.arange(1, c.analyses + 1), 1 + extra)
    rows["wagons"] = []
    for wid, a in enumerate(wagon_an.tolist(), start=1):
        tasks = rng.choice(len(pool), int(rng.integers(1, 5)), replace=False)
        base = {pool[t][0]: dict(pool[t][1]) for t in tasks}
        subwagons = {}
        if rng.random() < 0.3:
            task, params = pool[tasks[0]]
            key = next(iter(params))
            subwagons = {f"var{k}": {task: {key: str(k)}} for k in range(int(rng.integers(1, 4)))}
        created = now - rng.uniform(0, YEAR_S)
        rows["wagons"].append(
            {
                "id": wid,
                "analysis_id": a,
                "name": f"{WORKFLOWS[wid % len(WORKFLOWS)].replace('-', '_')}_{wid}",
                "workflow": WORKFLOWS[wid % len(WORKFLOWS)],
                "tag_id": int(rng.integers(1, c.tags + 1)),
                "base_config": base,
                "subwagons": subwagons,
                "derived_tables": ["O2v0core", "O2cascore"] if wid % 15 == 0 else [],
                "slim_ready": wid % 30 == 0,
                "disabled_reason": None,
                "version": int(rng.integers(1, 12)),
                "created_by_id": int(rng.choice(sorted(members[a]) or [1])),
                "created_at": _ts(created),
                "updated_at": _ts(created + rng.uniform(0, now - created)),
            }
        )
    service_wagons = np.flatnonzero(wagon_an <= n_service) + 1
    rows["wagon_dependencies"] = []
    if len(service_wagons):
        for wid, a in enumerate(wagon_an.tolist(), start=1):
            if a > n_service and rng.random() < 0.2:
                rows["wagon_dependencies"].append(
                    {"wagon_id": wid, "depends_on_id": int(rng.choice(service_wagons))}
                )

    # enabling + wagon tests (the last test of a (wagon, dataset) is the current one)
    rows["wagon_datasets"], rows["wagon_tests"] = [], []
    enabled_on: dict[int, list[tuple[int, int]]] = {d: [] for d in range(1, c.datasets + 1)}
    test_id = 0
    for wid, a in enumerate(wagon_an.tolist(), start=1):
        choices = an_ds[a]
        k = min(len(choices), int(rng.integers(1, 5)))
        for d in rng.choice(choices, k, replace=False).tolist():
            enabled = bool(rng.random() < 0.7)
            t_en = now - rng.uniform(0, 60 * 86400)
            policy = str(_choice(rng, {"latest": 0.8, "fixed": 0.15, "pull_request": 0.05}, 1)[0])
            rows["wagon_datasets"].append(
                {
                    "wagon_id": wid,
                    "dataset_id": d,
                    "tag_policy": policy,
                    "tag_id": int(rng.integers(1, c.tags + 1)) if policy == "fixed" else None,
                    "pull_request": "#1234" if policy == "pull_request" else None,
                    "enabled": enabled,
                    "enabled_by_id": int(rng.choice(sorted(members[a]) or [1])),
                    "enabled_at": _ts(t_en),
                    "disabled_reason": None if enabled else "disabled by user",
                    "scheduled": False,
                }
            )
            enabled_on[d].append((wid, a))
            n_tests = int(rng.integers(1, 5))
            statuses = _choice(rng, STATUS_MIX, n_tests)
            for k_test in range(n_tests):
                test_id += 1
                last = k_test == n_tests - 1
                status = str(statuses[k_test]) if last else "done"
                t0 = t_en - (n_tests - 1 - k_test) * 86400 * rng.uniform(1, 20)
                finished = status in ("done", "warning", "failed")
                rows["wagon_tests"].append(
                    {
                        "id": test_id,
                        "wagon_id": wid,
                        "dataset_id": d,
                        "tag_id": int(rng.integers(1, c.tags + 1)),
                        "status": status,
                        "config_snapshot": {},
                        "metrics": {
                            "pss_avg_bytes": float(rng.lognormal(21, 0.5)),
                            "cpu_s": float(rng.lognormal(6, 1)),
                            "wall_s": float(rng.lognormal(6.2, 1)),
                            "output_bytes": int(rng.lognormal(17, 1.5)),
                        }
                        if finished
                        else {},
                        "warnings": [{"code": "memory", "message": "PSS above 2 GB"}]
                        if status == "warning"
                        else [],
                        "superseded": not last,
                        "created_at": _ts(t0),
                        "started_at": _ts(t0 + 60) if status != "queued" else None,
                        "finished_at": _ts(t0 + 1800) if finished else None,
                    }
                )

    rows |= _train_rows(c, rng, rows, enabled_on, ds_runs, wagon_an, members)
    return rows


def _train_rows(
    c: Counts,
    rng: np.random.Generator,
    rows: dict[str, list[dict[str, Any]]],
    enabled_on: dict[int, list[tuple[int, int]]],
    ds_runs: dict[int, list[int]],
    wagon_an: np.ndarray,
    members: dict[int, set[int]],
) -> dict[str, list[dict[str, Any]]]:
    """Train runs over one year (ids in composition order), their wagon links and comments."""
    now = NOW.timestamp()
    wagons = rows["wagons"]
    analyses = rows["analyses"]
    datasets = rows["datasets"]
    tag_times = np.array([t["released_at"].timestamp() for t in rows["package_tags"]])
    # more trains lately: mixture of uniform over the year and the last month
    t = np.where(
        rng.random(c.train_runs) < 0.8,
        now - rng.uniform(0, YEAR_S, c.train_runs),
        now - rng.uniform(0, 30 * 86400, c.train_runs),
    )
    t = np.sort(t)
    ds_weight = rng.zipf(1.6, c.datasets).astype(float)
    ds_weight = np.minimum(ds_weight, 50)
    ds_of = rng.choice(np.arange(1, c.datasets + 1), c.train_runs, p=ds_weight / ds_weight.sum())
    recent = t > now - 7 * 86400
    states = np.where(
        recent,
        _choice(rng, TRAIN_RECENT_MIX, c.train_runs),
        _choice(rng, TRAIN_FINAL_MIX, c.train_runs),
    )
    n_wagons = np.minimum(1 + rng.geometric(1 / 8, c.train_runs), 60)
    train_types = _choice(
        rng,
        {"analysis": 0.85, "standard_derived": 0.1, "linked_derived": 0.03, "slim_derived": 0.02},
        c.train_runs,
    )
    ds_snapshot_cache: dict[int, dict[str, Any]] = {}
    out: dict[str, list[dict[str, Any]]] = {"train_runs": [], "train_run_wagons": []}
    out["train_comments"] = []
    for i in range(c.train_runs):
        tid, d, state = i + 1, int(ds_of[i]), str(states[i])
        pool = enabled_on[d] or [(w["id"], w["analysis_id"]) for w in wagons[:50]]
        k = min(len(pool), int(n_wagons[i]))
        picked = [pool[j] for j in rng.choice(len(pool), k, replace=False)]
        tag = int(np.searchsorted(tag_times, t[i])) or 1
        snapshot = []
        for wid, a in picked:
            w = wagons[wid - 1]
            heavy = bool(rng.random() < 0.05)
            snapshot.append(
                {
                    "wagon_id": wid,
                    "version": w["version"],
                    "name": w["name"],
                    "workflow": w["workflow"],
                    "tag_id": w["tag_id"],
                    "base_config": w["base_config"],
                    "subwagons": w["subwagons"],
                    "derived_tables": w["derived_tables"],
                    "slim_ready": w["slim_ready"],
                    "max_df_size": None,
                    "max_derived_file_size": None,
                    "analysis_id": a,
                    "dependencies": [],
                    "pwg": analyses[a - 1]["pwg"],
                    "analysis_name": analyses[a - 1]["name"],
                    "test_id": None,
                    "test_status": "done",
                    "test_warnings": [],
                    "heavy": heavy,
                    "dependency_snapshots": [],
                }
            )
            out["train_run_wagons"].append(
                {"train_run_id": tid, "wagon_id": wid, "analysis_id": a, "heavy": heavy}
            )
        if d not in ds_snapshot_cache:
            ds = datasets[d - 1]
            ds_snapshot_cache[d] = {
                "id": d,
                "version": 1,
                "name": ds["name"],
                "data_type": ds["data_type"],
                "period": ds["period"],
                "active": ds["active"],
                "parent_id": ds["parent_id"],
                "productions": [{"id": d, "name": f"prod{d}", "kind": "runlist"}],
                "mergelists": [],
                "final_mergelists": [],
                "runs": ds_runs[d],
            }
        composer = next(iter(members[picked[0][1]]), 1) if picked else 1
        submitted = state in SUBMITTED_STATES
        t_sub = t[i] + rng.uniform(3600, 12 * 3600)
        finished = state in FINISHED_STATES
        out["train_runs"].append(
            {
                "id": tid,
                "dataset_id": d,
                "tag_id": min(tag, c.tags),
                "target_id": int(rng.choice([1, 1, 1, 2, 3])),
                "train_type": str(train_types[i]),
                "auto_submit": bool(rng.random() < 0.3),
                "slow": bool(rng.random() < 0.1),
                "state": state,
                "wagons_snapshot": snapshot,
                "dataset_snapshot": ds_snapshot_cache[d],
                "parent_id": None,
                "composed_by_id": composer,
                "composed_at": _ts(t[i]),
                "submitted_at": _ts(t_sub) if submitted else None,
                "finished_at": _ts(t_sub + rng.uniform(3600, 3 * 86400)) if finished else None,
                "test_metrics": {
                    "cpu_s": float(rng.lognormal(7, 1)),
                    "pss_avg_bytes": float(rng.lognormal(21, 0.5)),
                }
                if state not in ("composed", "testing")
                else {},
                "test_warnings": [],
                "output_dir": f"/alice/cern.ch/user/a/alihyperloop/outputs/{tid}"
                if submitted
                else None,
            }
        )
        if rng.random() < 0.05:
            for k_c in range(int(rng.integers(1, 4))):
                out["train_comments"].append(
                    {
                        "train_run_id": tid,
                        "user_id": composer,
                        "text": f"comment {k_c} on train {tid}",
                        "created_at": _ts(t[i] + 600 * (k_c + 1)),
                    }
                )
    return out


# ------------------------------------------------------------------------------ jobs


def _job_rows(
    rng: np.random.Generator,
    trains: list[tuple[int, str, int, datetime]],
    counts: np.ndarray,
    ds_runs: dict[int, list[int]],
    first_id: int,
) -> list[dict[str, Any]]:
    """Jobs of a chunk of trains: ``counts[i]`` jobs for ``trains[i]``, vectorised per train."""
    out: list[dict[str, Any]] = []
    jid = first_id
    for (tid, state, d, t_sub), n in zip(trains, counts.tolist(), strict=True):
        if n == 0:
            continue
        runs = ds_runs.get(d) or [500000]
        run_of = np.array(runs)[rng.integers(0, len(runs), n)]
        states = _choice(rng, JOB_MIX[state], n)
        n_files = rng.integers(1, 11, n)
        cpu = rng.lognormal(7.5, 0.7, n)
        wall = cpu * rng.uniform(1.05, 1.6, n)
        read = (n_files * rng.lognormal(20.5, 0.5, n)).astype(np.int64)
        attempts = 1 + rng.binomial(2, 0.05, n)
        sites = rng.integers(0, len(SITES), n)
        created = t_sub.timestamp() + rng.uniform(0, 1800, n)
        err_idx = rng.integers(0, len(ERRORS), n)
        file_base = rng.integers(0, 900, n)
        for j in range(n):
            s = str(states[j])
            running_or_done = s not in ("waiting",)
            err = ERRORS[err_idx[j]] if s not in ("done", "waiting", "running") else None
            run = int(run_of[j])
            out.append(
                {
                    "id": jid,
                    "train_run_id": tid,
                    "run_number": run,
                    "files": [
                        f"/alice/data/2025/{run}/AO2D_{file_base[j] + k:03d}.root"
                        for k in range(int(n_files[j]))
                    ],
                    "n_files": int(n_files[j]),
                    "state": s,
                    "attempts": int(attempts[j]),
                    "site": SITES[sites[j]] if running_or_done else None,
                    "cpu_s": float(cpu[j]) if s != "waiting" else 0.0,
                    "wall_s": float(wall[j]) if s != "waiting" else 0.0,
                    "bytes_read": int(read[j]) if s != "waiting" else 0,
                    "error_signature": err[0] if err else None,
                    "error_message": err[1] if err else None,
                    "created_at": _ts(created[j]),
                    "updated_at": _ts(created[j] + (wall[j] if running_or_done else 0)),
                }
            )
            jid += 1
    return out


def _seed_jobs(engine: Engine, c: Counts, log: Callable[[str], None], report: SeedReport) -> None:
    """Insert the jobs chunk by chunk (committed with a progress mark: resumable)."""
    with engine.connect() as conn:
        trains = [
            (r.id, r.state.value, r.dataset_id, r.submitted_at)
            for r in conn.execute(
                select(
                    m.TrainRun.id, m.TrainRun.state, m.TrainRun.dataset_id, m.TrainRun.submitted_at
                ).order_by(m.TrainRun.id)
            )
        ]
        first_of = select(func.min(m.TrainRun.id)).group_by(m.TrainRun.dataset_id).scalar_subquery()
        ds_runs = {
            int(d): snap["runs"]
            for d, snap in conn.execute(
                select(m.TrainRun.dataset_id, m.TrainRun.dataset_snapshot).where(
                    m.TrainRun.id.in_(first_of)
                )
            )
        }
    with_jobs = [tr for tr in trains if tr[1] in WITH_JOBS]
    rng = np.random.default_rng(RNG_SEED + 1)
    sizes = rng.lognormal(0, 1.0, len(with_jobs))
    per_train = rng.multinomial(c.jobs, sizes / sizes.sum()) if with_jobs else np.zeros(0, int)
    done_upto = int(_meta_get(engine, "jobs_done_upto") or 0)
    first_id = 1 + int(per_train[:done_upto].sum())
    start = time.perf_counter()
    job_table = _table(m.Job)
    for lo in range(done_upto, len(with_jobs), JOB_CHUNK_TRAINS):
        hi = min(len(with_jobs), lo + JOB_CHUNK_TRAINS)
        chunk_rng = np.random.default_rng([RNG_SEED, lo])
        rows = _job_rows(chunk_rng, with_jobs[lo:hi], per_train[lo:hi], ds_runs, first_id)
        with engine.begin() as conn:
            _insert(conn, job_table, rows)
            _meta_set(conn, "jobs_done_upto", str(hi))
        first_id += len(rows)
        if hi == len(with_jobs) or (lo // JOB_CHUNK_TRAINS) % 8 == 0:
            rate = (first_id - 1 - int(per_train[:done_upto].sum())) / (time.perf_counter() - start)
            log(f"  jobs: {first_id - 1:,}/{c.jobs:,} rows ({rate:,.0f} rows/s)")
    report.seconds["jobs"] = time.perf_counter() - start


def _fix_sequences(engine: Engine) -> None:
    """PostgreSQL: move identity sequences past the explicit ids the seeder wrote."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in m.Base.metadata.sorted_tables:
            if "id" in table.c and table.c.id.primary_key:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                    )
                )


def _analyze(engine: Engine) -> None:
    """Planner statistics (PostgreSQL autovacuum would do it; SQLite never does by itself)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in m.Base.metadata.sorted_tables
        }


def seed(
    url: str,
    scale: float = 1.0,
    *,
    fresh: bool = False,
    log: Callable[[str], None] = lambda msg: print(msg, flush=True),
) -> SeedReport:
    """Make ``url`` hold the benchmark world at ``scale``: reuse, resume or (re)build it."""
    c = Counts.at(scale)
    report = SeedReport(url=url, scale=scale)
    params, phase = (None, None) if fresh else _state(url)
    if params is not None and params != _params(scale):
        log("  cached database has other parameters or schema: rebuilding")
        params, phase = None, None
    if params is None:
        wipe(url)
        t0 = time.perf_counter()
        upgrade(url)
        report.seconds["migrate"] = time.perf_counter() - t0
    engine = make_engine(url)
    try:
        if phase == "done":
            report.reused = True
            report.counts = table_counts(engine)
            log("  reusing the seeded database (delete it or pass --fresh to rebuild)")
            return report
        if phase is None:
            t0 = time.perf_counter()
            rows = _base_rows(c, np.random.default_rng(RNG_SEED))
            report.seconds["generate_base"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            tables = {
                "users": m.User,
                "package_tags": m.PackageTag,
                "targets": m.Target,
                "datasets": m.Dataset,
                "analyses": m.Analysis,
                "analysis_members": m.AnalysisMember,
                "analysis_datasets": m.AnalysisDataset,
                "wagons": m.Wagon,
                "wagon_dependencies": m.wagon_dependencies,
                "wagon_datasets": m.WagonDataset,
                "wagon_tests": m.WagonTest,
                "train_runs": m.TrainRun,
                "train_run_wagons": m.train_run_wagons,
                "train_comments": m.TrainComment,
            }
            with engine.begin() as conn:
                meta.create_all(conn)
                for name, model in tables.items():
                    _insert(conn, _table(model), rows[name])
                _meta_set(conn, "params", _params(scale))
                _meta_set(conn, "phase", "base")
            report.seconds["insert_base"] = time.perf_counter() - t0
            log(
                f"  base world: {sum(len(r) for r in rows.values()):,} rows in "
                f"{report.seconds['insert_base']:.1f} s"
            )
            del rows
        else:
            log(f"  resuming an interrupted seed (phase {phase!r})")
        _seed_jobs(engine, c, log, report)
        t0 = time.perf_counter()
        _fix_sequences(engine)
        _analyze(engine)
        report.seconds["analyze"] = time.perf_counter() - t0
        with engine.begin() as conn:
            _meta_set(conn, "phase", "done")
        report.counts = table_counts(engine)
        return report
    finally:
        engine.dispose()


def _log(message: str) -> None:
    print(message, flush=True)


def _main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="database URL (sqlite:///file.db or postgresql+psycopg://)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--fresh", action="store_true", help="rebuild even when cached")
    args = parser.parse_args(list(argv) if argv is not None else None)
    t0 = time.perf_counter()
    report = seed(args.url, args.scale, fresh=args.fresh, log=_log)
    print(json.dumps(report.as_dict(), indent=2))
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    _main()
