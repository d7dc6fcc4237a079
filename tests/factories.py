"""Every factory of the test suite, in one module: inputs (AO2D dataframes, package tags,
files), introspection documents, accounts, and the seeded worlds the suites start from.

Which world for which test:

- ``make_world(s)`` → ``DomainWorld``: objects in one session, for rules of the domain
  (``tests/core``): people of every role, three analyses, a tag, an active dataset, a target.
- ``seed_api_world(url)`` → ``ApiWorld``: a seeded database for the API, pages and security
  suites: one user per role with a password and an API token, wagons, datasets (one with a
  short dataset), train runs in several states, a job, notifications.
- ``seed_files_world(root)`` → ``FilesWorld``: a migrated SQLite file with a submitted train
  over real small AO2D files and the grid test package, for tests that run ``hyperloop
  scheduler`` as a process (``tests/scheduler``, ``tests/web``).
- ``seed_installation(root, url)``: what an installation holds before its users act, for the
  end-to-end suite (``tests/e2e/system.py`` starts the running system on it).

The worlds share the building blocks below (``make_package``, ``make_catalogue``,
``files_dataset``); comparisons of results (reference runs, histograms) are in
``tests/grid/helpers.py``."""

from __future__ import annotations

import atexit
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.story_cause import BY_TEST

from hyperloop.analysis.ao2d_writer import AO2DWriter
from hyperloop.analysis.schema import default_registry
from hyperloop.analysis.tags import introspect
from hyperloop.core import (
    analyses,
    datasets,
    enabling,
    pull_requests,
    runlists,
    tags,
    trains,
    users,
    wagons,
)
from hyperloop.core.actor import Actor
from hyperloop.core.states import transition
from hyperloop.core.storage_roots import StorageRoots
from hyperloop.db import models as m
from hyperloop.db.base import utcnow
from hyperloop.db.migrate import upgrade
from hyperloop.db.models import Analysis, Base, Dataset, PackageTag, Target, TrainRun, User
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import JobState, NotificationKind, Role, TagPolicy, TestStatus, TrainState
from hyperloop.scheduler.staging import location as staging_location

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
REALDATA = REPO_ROOT / "tests" / "data" / "realdata"
GRIDTEST_WAGONS = REPO_ROOT / "tests" / "grid" / "gridtest_wagons.py"
HYPERLOOP = str(Path(sys.executable).parent / "hyperloop")
RUNS = (523308, 523309, 523310)
GRIDTEST_INTROSPECTION = {"package": {"name": "gridtest-wagons", "version": "1.0"}, "workflows": []}

# --- AO2D dataframes -----------------------------------------------------------------------

REGISTRY = default_registry()


def _table(o2name: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    schema = REGISTRY.get(o2name)
    out = {}
    for col in schema.columns:
        dt = schema.dtype(col)
        if dt.kind == "f":
            out[col] = rng.normal(size=n).astype(dt)
        else:
            out[col] = rng.integers(0, 100, size=n).astype(dt)
    return out


def random_dataframe(
    rng: np.random.Generator, n_collisions: int = 50, mean_tracks: float = 20.0, run: int = 523308
) -> dict[str, dict[str, np.ndarray]]:
    """BCs, Collisions, Tracks (+ TracksExtra, TracksDCA) with valid, sorted index columns."""
    bcs = _table("O2bc_001", n_collisions, rng)
    bcs["fRunNumber"][:] = run
    coll = _table("O2collision_001", n_collisions, rng)
    coll["fIndexBCs"] = np.arange(n_collisions, dtype=np.int32)
    coll["fPosZ"] = rng.normal(0, 6, n_collisions).astype(np.float32)
    coll["fNumContrib"] = rng.integers(1, 60, n_collisions).astype(np.uint16)
    counts = rng.poisson(mean_tracks, n_collisions)
    n = int(counts.sum())
    tracks = _table("O2track", n, rng)
    tracks["fIndexCollisions"] = np.repeat(np.arange(n_collisions, dtype=np.int32), counts)
    pt = rng.exponential(0.6, n).astype(np.float32) + 0.1
    tracks["fSigned1Pt"] = (rng.choice([-1, 1], n) / pt).astype(np.float32)
    tracks["fTgl"] = np.sinh(rng.uniform(-1.0, 1.0, n)).astype(np.float32)
    phi = rng.uniform(0, 2 * np.pi, n)
    alpha = (np.floor(phi / (np.pi / 9)) + 0.5) * (np.pi / 9)
    tracks["fAlpha"] = alpha.astype(np.float32)
    tracks["fSnp"] = np.sin(phi - alpha).astype(np.float32)
    extra = _table("O2trackextra_002", n, rng)
    dca = _table("O2trackdca", n, rng)
    return {
        "O2bc_001": bcs,
        "O2collision_001": coll,
        "O2track": tracks,
        "O2trackextra_002": extra,
        "O2trackdca": dca,
    }


def run3_dataframe(
    rng: np.random.Generator, n_collisions: int = 50, mean_tracks: float = 20.0, run: int = 523308
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """A dataframe in the Run 3 layout: tracks stored at their innermost update point
    (``O2track_iu``, ``O2trackcov_iu``), made by propagating tracks known at their DCA to
    the vertex outwards in the run's field. Returns (tables, the tracks at the DCA: the
    ``O2track`` columns and ``fDcaXY``/``fDcaZ`` track-propagation should find)."""
    from hyperloop.analysis.conditions import magnetic_field
    from hyperloop.analysis.trackpar import TrackPar, cov_columns, propagate_to_x

    tables = random_dataframe(rng, n_collisions, mean_tracks, run)
    coll, trk = tables["O2collision_001"], tables.pop("O2track")
    tables.pop("O2trackdca")
    for c in ("fPosX", "fPosY"):
        coll[c] = rng.normal(0, 0.005, n_collisions).astype(np.float32)
    n = len(trk["fX"])
    ci = trk["fIndexCollisions"].astype(np.int64)
    q2pt = trk["fSigned1Pt"].astype(np.float64)
    phi = trk["fAlpha"] + np.arcsin(trk["fSnp"].astype(np.float64))
    dxy, dz = rng.normal(0, 0.01, n), rng.normal(0, 0.01, n)
    px = coll["fPosX"][ci] - np.sin(phi) * dxy
    py = coll["fPosY"][ci] + np.cos(phi) * dxy
    pz = coll["fPosZ"][ci] + dz
    alpha = trk["fAlpha"].astype(np.float64)
    ca, sa = np.cos(alpha), np.sin(alpha)
    at_dca = TrackPar(
        px * ca + py * sa,
        alpha.copy(),
        -px * sa + py * ca,
        pz.astype(np.float64),
        trk["fSnp"].astype(np.float64),
        trk["fTgl"].astype(np.float64),
        q2pt,
    )
    expected = {**at_dca.columns(), "fDcaXY": dxy, "fDcaZ": dz}
    cov = np.zeros((n, 5, 5))
    for i, s in enumerate((0.005, 0.005, 0.002, 0.002, 0.02)):
        cov[:, i, i] = s * s
    iu = at_dca.copy()
    iu.cov = cov
    ok = propagate_to_x(iu, iu.x + rng.choice([2.24, 3.01, 19.6], n), magnetic_field(run))
    assert ok.all()
    tables["O2track_iu"] = {
        "fIndexCollisions": trk["fIndexCollisions"],
        "fTrackType": np.ones(n, np.uint8),
        **iu.columns(),
    }
    tables["O2trackcov_iu"] = cov_columns(iu.cov)
    return tables, expected


# --- package tags and files ------------------------------------------------------------------


def make_package(root: Path) -> Path:
    """A package tag folder as ``pip install --target`` leaves it: module + dist-info."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(GRIDTEST_WAGONS, root / "gridtest_wagons.py")
    info = root / "gridtest_wagons-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gridtest-wagons\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[hyperloop.workflows]\ngridtest = gridtest_wagons:WORKFLOWS\n"
    )
    return root


def make_catalogue(root: Path, files_per_run: int = 3, dfs: int = 2, seed: int = 3):
    """``{run: [(path, size)]}`` of small AO2D files, distinct DF ids per file."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cat: dict[int, list[tuple[str, int]]] = {}
    for run in RUNS:
        for i in range(files_per_run):
            path = root / f"{run}" / f"AO2D_{i:03d}.root"
            path.parent.mkdir(exist_ok=True)
            with AO2DWriter(path) as w:
                for d in range(dfs):
                    w.write_dataframe(1000 * i + d, random_dataframe(rng, 30, 12, run=run))
            cat.setdefault(run, []).append((str(path), path.stat().st_size))
    return cat


_TAG_ROOT: Path | None = None


def tag_artifact(version: str, name: str = "physics") -> str:
    """An absolute tag folder holding package ``name`` ``version`` as ``hyperloop package
    build`` lays it out (a ``*.dist-info``): what ``POST /api/tags`` accepts as artifact."""
    global _TAG_ROOT
    if _TAG_ROOT is None:
        _TAG_ROOT = Path(tempfile.mkdtemp(prefix="hyperloop-test-tags-"))
        atexit.register(shutil.rmtree, _TAG_ROOT, True)
    folder = _TAG_ROOT / f"{name}-{version}"
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return str(folder)


def files_dataset(
    s: Session,
    actor: Actor,
    name: str,
    folder: Path,
    catalogue: dict[int, list[tuple[str, int]]],
    *,
    active: bool = True,
) -> Dataset:
    """A dataset whose one production (on a runlist of the catalogue's runs) holds the files
    of ``folder``, imported as an operator does (``folder`` is the storage root)."""
    runlist = runlists.create_runlist(s, actor, f"{name}_pass1", sorted(catalogue))
    ds = datasets.create_dataset(s, actor, name, collision_system="pp")
    prod = datasets.add_production(s, actor, ds.id, "p1", runlist_id=runlist.id)
    imported = datasets.import_directory(
        s, actor, prod.id, folder, roots=StorageRoots.parse([folder])
    )
    assert imported == sum(len(files) for files in catalogue.values()), imported
    if active:
        datasets.set_active(s, actor, ds.id, True)
    return ds


# --- introspection documents and people ---------------------------------------------------

SPECTRA_TASK = {
    "name": "spectra-charged",
    "doc": "charged-particle spectra",
    "configurables": [
        {"name": "etaMax", "kind": "float", "default": "0.8", "help": "max |eta|"},
        {"name": "nEvents", "kind": "int", "default": "100", "help": ""},
        {"name": "label", "kind": "string", "default": "pp", "help": ""},
        {
            "name": "ptAxis",
            "kind": "binning",
            "binning": "variable",
            "default": {"values": ["0", "0", "0.1", "0.5"]},
            "help": "",
        },
        {
            "name": "centClasses",
            "kind": "variable-array",
            "dtype": "float",
            "default": {"values": ["0", "10", "50"]},
            "help": "",
        },
        {
            "name": "pidCuts",
            "kind": "labelled-matrix",
            "dtype": "float",
            "rows": ["Pi", "Ka"],
            "cols": ["TPC", "TOF"],
            "default": {
                "labels_rows": ["Pi", "Ka"],
                "labels_cols": ["TPC", "TOF"],
                "values": [["3", "3"], ["3", "3"]],
            },
            "help": "",
        },
        {"name": "processData", "kind": "bool", "default": "true", "help": "process switch"},
    ],
    "consumes": {"Tracks": ["pt", "eta"], "EvSels": ["fSel8"]},
    "produces": [],
}
EVSEL_TASK = {
    "name": "event-selection",
    "doc": "event selection",
    "configurables": [{"name": "zMax", "kind": "float", "default": "10", "help": ""}],
    "consumes": {"Collisions": ["fPosZ"]},
    "produces": [
        {
            "logical": "EvSels",
            "o2name": "O2evsel",
            "columns": {"fSel8": "bool"},
            "index_columns": {},
            "extends": "Collisions",
        }
    ],
}
TREE_TASK = {
    "name": "tree-maker",
    "doc": "derived tracks",
    "configurables": [{"name": "ptMin", "kind": "float", "default": "0.15", "help": ""}],
    "consumes": {"Tracks": ["pt"]},
    "produces": [
        {
            "logical": "MyTracks",
            "o2name": "O2mytrack",
            "columns": {"fPt": "float32"},
            "index_columns": {},
            "extends": None,
        }
    ],
}


def introspection(
    version: str = "0.2.0", *, drop_label: bool = False, new_default_eta: str | None = None
) -> dict[str, Any]:
    """Tag introspection in the format of ``hyperloop workflows --json``."""
    spectra = copy.deepcopy(SPECTRA_TASK)
    if drop_label:
        spectra["configurables"] = [c for c in spectra["configurables"] if c["name"] != "label"]
    if new_default_eta is not None:
        for c in spectra["configurables"]:
            if c["name"] == "etaMax":
                c["default"] = new_default_eta
    return {
        "package": {"name": "hyperloop-physics", "version": version},
        "workflows": [
            {"name": "spectra-charged", "doc": "", "tasks": [spectra]},
            {"name": "event-selection", "doc": "", "tasks": [copy.deepcopy(EVSEL_TASK)]},
            {"name": "tree-maker", "doc": "", "tasks": [copy.deepcopy(TREE_TASK)]},
        ],
    }


FLOW_TASK = {
    "name": "flow-task",
    "configurables": [
        {"name": "harmonic", "kind": "int", "default": "2", "help": "the harmonic n of v_n"},
        {"name": "etaGap", "kind": "float", "default": "0.4", "help": "eta gap"},
    ],
    "consumes": {"Tracks": ["fPt"]},
    "produces": [],
}


def pr_introspection(version: str = "0.2.0") -> dict[str, Any]:
    """``introspection(version)`` with the workflow ``flow-harmonics`` a pull request adds."""
    doc = introspection(version)
    doc["workflows"].append(
        {"name": "flow-harmonics", "doc": "flow from a PR", "tasks": [copy.deepcopy(FLOW_TASK)]}
    )
    return doc


ROLES = (
    "anonymous",
    "user",
    "analyzer",
    "service_expert",
    "operator",
    "dpg_expert",
    "pwg_convener",
    "admin",
)
USERNAMES = {
    "user": "ursula",
    "analyzer": "alice",
    "service_expert": "sam",
    "operator": "oscar",
    "dpg_expert": "dora",
    "pwg_convener": "connie",
    "admin": "ada",
}
PASSWORD = "correct horse battery staple"
# Callers of the permission matrix besides one user per role: a role holder who is also a
# member of the analysis ``lf-spectra`` (the seeded role holders above are members of none,
# except the analyzer; the service expert is a member of the service analysis only).
MEMBER_CALLERS = {
    "operator_member": ("otto", ["operator"], []),
    "dpg_expert_member": ("dmitri", ["dpg_expert"], []),
    "pwg_convener_member": ("carla", ["pwg_convener"], ["PWGLF"]),
}
CALLERS = (*ROLES, *MEMBER_CALLERS)
CALLER_USERNAMES = USERNAMES | {caller: v[0] for caller, v in MEMBER_CALLERS.items()}


def _kind_of(name: str, value: Any) -> tuple[str, dict[str, Any]]:
    """Configurable kind of a real O2 value (for an introspection declaring real tasks)."""
    if isinstance(value, dict):
        if name.lower().startswith("axis") or name.lower().startswith("bins"):
            return "binning", {}
        return "variable-array", {"dtype": "float"}
    if value in ("true", "false"):
        return "bool", {}
    try:
        int(value)
        return "int", {}
    except ValueError:
        pass
    try:
        float(value)
        return "float", {}
    except ValueError:
        return "string", {}


def tasks_from_o2_config(path: Path, changed_defaults: dict[str, dict[str, Any]]) -> list[dict]:
    """Introspection tasks declaring every configurable of a real O2 configuration file.

    Defaults are the file's values except ``changed_defaults`` (so uploading the real file
    changes exactly those values)."""
    doc = json.loads(path.read_text())
    tasks = []
    for task, params in doc.items():
        if task.startswith("internal-dpl-") or not isinstance(params, dict):
            continue
        confs = []
        for name, value in params.items():
            kind, extra = _kind_of(name, value)
            default = changed_defaults.get(task, {}).get(name, value)
            confs.append({"name": name, "kind": kind, "default": default, "help": "", **extra})
        tasks.append({"name": task, "configurables": confs, "consumes": {}, "produces": []})
    return tasks


STRANGENESS_CHANGED = {
    "strangeness_tutorial": {"cutzvertex": "8", "nBins": "50", "processGenMC": "false"},
    "lambdakzero-builder": {"axisTopoVarV0Radius": {"values": ["100", "0", "100"]}},
}


def api_introspection(version: str = "v1") -> dict[str, Any]:
    spectra = {
        "name": "spectra-task",
        "configurables": [
            {"name": "cutZ", "kind": "float", "default": "10", "help": "vertex z cut"},
            {"name": "nBins", "kind": "int", "default": "100", "help": ""},
            {"name": "useTOF", "kind": "bool", "default": "false", "help": ""},
            {"name": "label", "kind": "string", "default": "pp", "help": ""},
            {"name": "ptBins", "kind": "binning", "default": {"values": ["20", "0", "10"]}},
            {
                "name": "etaEdges",
                "kind": "variable-array",
                "dtype": "float",
                "default": {"values": ["-0.8", "0", "0.8"]},
            },
        ],
        "consumes": {"Tracks": ["fPt"]},
        "produces": [],
    }
    evsel = {
        "name": "event-selection-task",
        "configurables": [{"name": "zMax", "kind": "float", "default": "10", "help": ""}],
        "consumes": {"Collisions": ["fPosZ"]},
        "produces": [],
    }
    maker = {
        "name": "track-skimmer",
        "configurables": [{"name": "ptMin", "kind": "float", "default": "0.15", "help": ""}],
        "consumes": {"Tracks": ["pt"]},
        "produces": [
            {
                "logical": "SkimTracks",
                "o2name": "O2skimtrack",
                "columns": {"fPt": "float32"},
                "index_columns": {},
                "extends": None,
            }
        ],
    }
    return {
        "package": {"name": "physics", "version": version},
        "workflows": [
            {"name": "skim", "doc": "derived data maker", "tasks": [maker]},
            {"name": "spectra", "doc": "charged spectra", "tasks": [spectra]},
            {"name": "event-selection", "doc": "service", "tasks": [evsel]},
            {
                "name": "strangeness",
                "doc": "real strangeness tasks",
                "tasks": tasks_from_o2_config(
                    REALDATA / "dpl-config_strangeness.json", STRANGENESS_CHANGED
                ),
            },
            {
                "name": "ud-rho",
                "doc": "real UD rho tasks",
                "tasks": tasks_from_o2_config(REALDATA / "dpl-config_ud_rho.json", {}),
            },
        ],
    }


# --- the worlds ---------------------------------------------------------------------------


@dataclass
class DomainWorld:
    s: Session
    admin: User
    operator: User
    alice: User  # member of lf
    bob: User  # member of hf
    carol: User  # member of lf and hf
    dpg: User
    convener: User  # convener of PWG-LF
    outsider: User
    service_expert: User
    lf: Analysis
    hf: Analysis
    service: Analysis
    tag: PackageTag
    dataset: Dataset
    target: Target

    def actor(self, user: User, impersonator: User | None = None) -> Actor:
        return Actor(user, impersonator)


def staging_copied(
    s: Session, transfer_id: int, files: int, *, root: str = "/staged"
) -> m.StagingTransfer:
    """A staging transfer whose first ``files`` catalogue files are copied: the record the
    scheduler's staging work (``scheduler.staging.StagingWork``) writes, for seeds whose
    catalogue is not on disk to copy. Files are copied in catalogue order (run, path); the
    bytes and the progress are those files' sizes; all of them: done (verified, finished)."""
    t = s.get(m.StagingTransfer, transfer_id)
    if t is None:
        raise ValueError(f"staging transfer {transfer_id} does not exist")
    sizes = [
        int(size)
        for size in s.scalars(
            select(m.DatasetFile.size)
            .join(m.Production, m.Production.id == m.DatasetFile.production_id)
            .where(m.Production.dataset_id == t.dataset_id)
            .order_by(m.DatasetFile.run_number, m.DatasetFile.path)
        )
    ]
    if not 0 <= files <= len(sizes):
        raise ValueError(f"transfer {transfer_id}: {files} files of {len(sizes)}")
    t.location = staging_location(root, t.target, t.dataset_id)
    t.files_total, t.bytes_total = len(sizes), sum(sizes)
    t.files_done, t.bytes_done = files, sum(sizes[:files])
    t.progress = t.bytes_done / t.bytes_total if t.bytes_total else 0.0
    t.state, t.error = "transferring", None
    if files == len(sizes):
        t.state, t.progress, t.finished_at = "done", 1.0, utcnow()
    s.flush()
    return t


def make_world(s: Session) -> DomainWorld:
    mk = users.create_user
    admin = mk(s, "admin", roles=[Role.ADMIN])
    operator = mk(s, "operator", roles=[Role.OPERATOR])
    alice = mk(s, "alice", email="alice@example.org")
    bob = mk(s, "bob", email="bob@example.org")
    carol = mk(s, "carol", email="carol@example.org")
    dpg = mk(s, "dpg", roles=[Role.DPG_EXPERT])
    convener = mk(s, "convener", roles=[Role.PWG_CONVENER], convener_pwgs=["PWG-LF"])
    outsider = mk(s, "outsider")
    service_expert = mk(s, "svc")
    lf = analyses.create_analysis(s, None, "LF-spectra", "PWG-LF")
    hf = analyses.create_analysis(s, None, "HF-charm", "PWG-HF")
    service = analyses.create_analysis(s, None, "Core-services", "DPG", service=True)
    for a, u in [(lf, alice), (hf, bob), (lf, carol), (hf, carol), (service, service_expert)]:
        analyses.add_member(s, None, a.id, u.id)
    tag = tags.register_tag(s, None, introspection(), artifact="/tags/t1")
    op = Actor(operator)
    rl = runlists.create_runlist(s, Actor(dpg), "LHC23zzh_pass4", [544013, 544028, 544032])
    ds = datasets.create_dataset(
        s, op, "LHC23_pp_pass4", collision_system="pp", period="LHC23zzh", slots_per_week=4
    )
    datasets.add_production(s, op, ds.id, "pass4", runlist_id=rl.id)
    datasets.set_active(s, op, ds.id, True)
    for a in (lf, hf, service):
        analyses.add_dataset(s, Actor(admin), a.id, ds.id)
    target = Target(name="2core", cores=2, memory_limit_mb=8000)
    s.add(target)
    s.flush()
    return DomainWorld(
        s,
        admin,
        operator,
        alice,
        bob,
        carol,
        dpg,
        convener,
        outsider,
        service_expert,
        lf,
        hf,
        service,
        tag,
        ds,
        target,
    )


@dataclass
class ApiWorld:
    """Ids and credentials of the seeded objects of the API world."""

    url: str
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    token_ids: dict[str, int] = field(default_factory=dict)
    notification_ids: dict[str, int] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)


def seed_api_world(url: str) -> ApiWorld:
    """The seeded world of the API and page tests: one user per role, analyses (one a service
    analysis), a package tag declaring real O2 tasks, wagons, datasets (with a short dataset),
    runlists, a target, train runs in several states, a job and notifications."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    world = ApiWorld(url=url)
    with make_sessionmaker(engine).begin() as s:
        people = {}
        for role, name in USERNAMES.items():
            roles = {
                "operator": ["operator"],
                "dpg_expert": ["dpg_expert"],
                "pwg_convener": ["pwg_convener"],
                "admin": ["admin"],
            }.get(role, [])
            pwgs = ["PWGLF"] if role == "pwg_convener" else []
            people[role] = users.create_user(
                s, name, roles=roles, convener_pwgs=pwgs, email=f"{name}@x"
            )
        bob = users.create_user(s, "bob")
        # One argon2 hash (salted, ~0.1-0.3 s to compute) shared by every seeded account.
        password_hash = users.hash_password(PASSWORD)
        for person in [*people.values(), bob]:
            person.password_hash = password_hash
        admin = Actor(people["admin"])
        a = analyses.create_analysis(s, admin, "lf-spectra", "PWGLF")
        service = analyses.create_analysis(s, admin, "core-services", "DPG", service=True)
        other = analyses.create_analysis(s, admin, "hf-other", "PWGHF")
        analyses.add_member(s, admin, a.id, people["analyzer"].id)
        analyses.add_member(s, admin, a.id, bob.id)
        analyses.add_member(s, admin, service.id, people["service_expert"].id)
        tag = tags.register_tag(s, admin, api_introspection(), artifact="/tags/physics-v1")
        s.flush()
        pr_doc = api_introspection()
        pr_doc["workflows"].append(
            {"name": "flow-harmonics", "doc": "flow from a PR", "tasks": [copy.deepcopy(FLOW_TASK)]}
        )
        pull_request = pull_requests.register_pull_request(
            s, admin, number=77, title="Add flow harmonics", state="open", introspection=pr_doc
        )
        analyzer = Actor(people["analyzer"])
        expert = Actor(people["service_expert"])
        service_wagon = wagons.create_wagon(
            s, expert, service.id, name="evsel", workflow="event-selection", tag_id=tag.id
        )
        wagon = wagons.create_wagon(
            s,
            analyzer,
            a.id,
            name="spectra_pp",
            workflow="spectra",
            tag_id=tag.id,
            subwagons={"tight": {"spectra-task": {"cutZ": "5"}}},
            dependencies=[service_wagon.id],
        )
        spare = wagons.create_wagon(
            s, analyzer, a.id, name="spare", workflow="spectra", tag_id=tag.id
        )
        strange = wagons.create_wagon(
            s, analyzer, a.id, name="strange", workflow="strangeness", tag_id=tag.id
        )
        skim = wagons.create_wagon(
            s,
            analyzer,
            a.id,
            name="skim",
            workflow="skim",
            tag_id=tag.id,
            derived_tables=["SkimTracks"],
        )
        operator = Actor(people["operator"])
        dpg = Actor(people["dpg_expert"])
        runlist = runlists.create_runlist(s, dpg, "LHC23zzh_pass4", [544013, 544028])
        dataset = datasets.create_dataset(s, operator, "LHC23zzh_pass4_test")
        production = datasets.add_production(
            s, operator, dataset.id, "pass4", kind="runlist", runlist_id=runlist.id
        )
        datasets.set_active(s, operator, dataset.id, True)
        spare_ds = datasets.create_dataset(s, operator, "LHC22o_spare")
        datasets.set_mergelist(s, operator, dataset.id, "all", [544013, 544028])
        spare_runlist = runlists.create_runlist(s, dpg, "LHC22o_unused", [520000])
        big = datasets.create_dataset(s, operator, "LHC23_big")
        short = datasets.add_short_dataset(s, operator, big.id, "LHC23_big_short")
        datasets.set_active(s, operator, big.id, True)
        datasets.set_active(s, operator, short.id, True)
        analyses.add_dataset(s, analyzer, a.id, dataset.id)
        analyses.add_dataset(s, analyzer, a.id, short.id)
        pairs = (
            (wagon, dataset),
            (spare, dataset),
            (strange, dataset),
            (wagon, short),
            (skim, dataset),
        )
        for w, d in pairs:
            enabling.enable_wagon(s, analyzer, w.id, d.id, policy=TagPolicy.LATEST)
            test = enabling.current_test(s, w.id, d.id)
            enabling.finish_test(s, test.id, TestStatus.DONE)
        target = trains.create_target(s, admin, name="grid-1core", cores=1)

        def tested_train(wagon_ids: list[int], dataset_id: int) -> m.TrainRun:
            t = trains.compose_train(s, operator, dataset_id, wagon_ids, target_id=target.id)
            trains.start_test(s, t.id)
            return trains.finish_test(s, t.id, TestStatus.DONE)

        train = tested_train([wagon.id], dataset.id)
        kill_train = tested_train([strange.id], dataset.id)
        trains.submit_train(s, operator, kill_train.id)
        short_train = tested_train([wagon.id], short.id)
        trains.submit_train(s, operator, short_train.id)
        for state in (TrainState.RUNNING, TrainState.DONE):
            transition(short_train, state, actor=None, cause=BY_TEST)
        long_train = trains.request_long_train(s, analyzer, short_train.id)
        s.flush()
        job = m.Job(train_run_id=train.id, run_number=544013, state=JobState.DONE, site="local")
        s.add(job)
        for role, person in people.items():
            token, plaintext = users.create_api_token(s, person, "tests")
            world.tokens[role] = plaintext
            world.token_ids[role] = token.id
            world.user_ids[role] = person.id
            note = m.Notification(
                user_id=person.id, kind=NotificationKind.DATASET_CHANGED, message="hello"
            )
            s.add(note)
            s.flush()
            world.notification_ids[role] = note.id
        bob_token, bob_plain = users.create_api_token(s, bob, "tests")
        world.tokens["bob"] = bob_plain
        s.flush()
        for caller, (name, roles, pwgs) in MEMBER_CALLERS.items():
            person = users.create_user(s, name, roles=roles, convener_pwgs=pwgs, email=f"{name}@x")
            person.password_hash = password_hash
            analyses.add_member(s, admin, a.id, person.id)
            token, plaintext = users.create_api_token(s, person, "tests")
            world.tokens[caller] = plaintext
            world.token_ids[caller] = token.id
            world.user_ids[caller] = person.id
            note = m.Notification(
                user_id=person.id, kind=NotificationKind.DATASET_CHANGED, message="hello"
            )
            s.add(note)
            s.flush()
            world.notification_ids[caller] = note.id
        world.ids.update(
            analysis=a.id,
            service_analysis=service.id,
            other_analysis=other.id,
            tag=tag.id,
            pull_request=pull_request.id,
            wagon=wagon.id,
            spare_wagon=spare.id,
            service_wagon=service_wagon.id,
            strange_wagon=strange.id,
            skim_wagon=skim.id,
            dataset=dataset.id,
            spare_dataset=spare_ds.id,
            production=production.id,
            runlist=runlist.id,
            target=target.id,
            train=train.id,
            kill_train=kill_train.id,
            short_train=short_train.id,
            long_train=long_train.id,
            big_dataset=big.id,
            short_dataset=short.id,
            spare_runlist=spare_runlist.id,
            job=job.id,
            bob=bob.id,
        )
    engine.dispose()
    return world


@dataclass
class FilesWorld:
    url: str
    sessions: sessionmaker[Session]
    package: Path
    files: list[str]
    train_id: int

    def env(self, root: Path, **extra: str) -> dict[str, str]:
        """Environment of a ``hyperloop`` process on this database (no outside HYPERLOOP_*)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERLOOP_")}
        env.update(
            HYPERLOOP_DATABASE_URL=self.url,
            HYPERLOOP_DATA_DIR=str(root / "var"),
            HYPERLOOP_DASK_WORKERS="2",
            HYPERLOOP_SCHEDULER_INTERVAL_S="0.3",
            HYPERLOOP_SCHEDULER_TEST_TARGET="small",
            HYPERLOOP_SCHEDULER_JOB_WALL_TIME_S="120",
            HYPERLOOP_SCHEDULER_THRESHOLDS='{"min_reduction_factor": 1}',
            HYPERLOOP_STORAGE_ROOTS=json.dumps([str(root / "data")]),  # the catalogue's folder
        )
        env.update(extra)
        return env


def seed_files_world(
    root: Path,
    *,
    state: TrainState = TrainState.SUBMITTED,
    files_per_run: int = 2,
    sleep_per_df: float = 0.0,
    auto_submit: bool = False,
) -> FilesWorld:
    """A migrated SQLite database with one slow train of the ``gt-pt`` wagon on a dataset of
    ``3 x files_per_run`` small AO2D files (two dataframes each)."""
    url = f"sqlite:///{root / 'hyperloop.db'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    package = make_package(root / "tag")
    catalogue = make_catalogue(root / "data", files_per_run=files_per_run)
    files = [p for run in sorted(catalogue) for p, _ in catalogue[run]]
    with sessions.begin() as s:
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        tag = tags.register_tag(s, None, GRIDTEST_INTROSPECTION, artifact=str(package))
        ds = files_dataset(s, admin, "LHC26_sched", root / "data", catalogue, active=False)
        target = Target(name="small", cores=1, memory_limit_mb=2000)
        s.add(target)
        s.flush()
        conf = {"gt-pt": {"sleepPerDf": str(sleep_per_df)}} if sleep_per_df else {}
        wagon = {"workflow": "gt-pt", "wagon_id": 1, "base_config": conf, "subwagons": {}}
        train = TrainRun(
            dataset_id=ds.id,
            tag_id=tag.id,
            target_id=target.id,
            state=state,
            auto_submit=auto_submit,
            slow=True,
            wagons_snapshot=[wagon],
        )
        s.add(train)
        s.flush()
        train_id = train.id
    return FilesWorld(url, sessions, package, files, train_id)


def seed_installation(root: Path, url: str, *, files_per_run: int = 2) -> dict[str, Any]:
    """What an installation holds before its users act (the end-to-end suite's start): a
    migrated database with accounts and API tokens ("admin": admin and operator; "alice": an
    analyzer), the grid test package registered as a tag, an active dataset of three runs of
    small AO2D files in ``root/data``, alice's analysis on it, targets "small" (1 core) and
    "double" (2 cores). Returns the ids, tokens, package folder and file list."""
    upgrade(url)
    engine = make_engine(url)
    package = make_package(root / "tags" / "gridtest-1.0")
    catalogue = make_catalogue(root / "data", files_per_run=files_per_run)
    files = [p for run in sorted(catalogue) for p, _ in catalogue[run]]
    with make_sessionmaker(engine).begin() as s:
        admin_user = users.create_user(s, "admin", roles=[Role.ADMIN, Role.OPERATOR])
        alice = users.create_user(s, "alice")  # an analyzer: no global role
        admin = Actor(admin_user)
        tokens = {
            "admin": users.create_api_token(s, admin_user, "e2e")[1],
            "alice": users.create_api_token(s, alice, "e2e")[1],
        }
        tag = tags.register_tag(s, admin, introspect(package), artifact=str(package))
        ds = files_dataset(s, admin, "LHC26_e2e", root / "data", catalogue)
        targets = {}
        for name, cores in (("small", 1), ("double", 2)):
            target = Target(name=name, cores=cores, memory_limit_mb=3000)
            s.add(target)
            s.flush()
            targets[name] = target.id
        analysis = analyses.create_analysis(s, admin, "e2e-spectra", "PWGLF")
        analyses.add_member(s, admin, analysis.id, alice.id)
        analyses.add_dataset(s, admin, analysis.id, ds.id)
        ids = {"tag_id": tag.id, "dataset_id": ds.id, "analysis_id": analysis.id}
    engine.dispose()
    return {"package": package, "files": files, "target_ids": targets, "tokens": tokens, **ids}


def gt_pt_config(sleep_per_df: float = 0.0) -> dict:
    conf = {"gt-pt": {"sleepPerDf": str(sleep_per_df)}} if sleep_per_df else {}
    entry = {"workflow_name": "gt-pt", "suffix": "", "wagon_id": 1, "configuration": conf}
    return {"package_tag": "gridtest-1.0", "workflows": [entry]}


def start(args: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    """A ``hyperloop`` process in its own session (so a test can end its whole group)."""
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [HYPERLOOP, *args],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
