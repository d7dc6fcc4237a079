"""A complete demo system on the embedded defaults (``hyperloop serve --demo``,
``hyperloop demo-site``): database, demo data, package tags, accounts and content.

:func:`prepare_demo` is idempotent: the demo AO2D data and the package tags are made once
and cached in the data folder, the database is migrated, and the content (accounts,
analyses with wagons, a DPG runlist, a dataset with its production, file catalogue and
mergelists, targets) is seeded only when it is not there yet. Account passwords are
generated when the accounts are created and printed that once: only their hashes are
stored (in the database), nowhere a server could serve them. Later starts print the
usernames and how to set a new password (``hyperloop user password NAME``).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from hyperloop.settings import Settings

Report = Callable[[str], None]

DEMO_RUNS = (523308, 523309, 523310)
DATASET = "LHC26a_pp_demo"
RUNLIST = "LHC26a_demo_pass1"
MARKER_ANALYSIS = "LF-spectra"
# Older demos kept the plain passwords in this file of the data folder; it is deleted.
OLD_ACCOUNTS_FILE = "demo-accounts.json"
PASSWORD_HINT = "hyperloop user password NAME"
# seconds between metric samples in the demo (a demo test device works ~0.1-0.3 s)
DEMO_SAMPLE_INTERVAL = 0.02
# (role shown to the user, username, global roles)
ACCOUNTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("admin", "admin", ("admin",)),
    ("operator", "operator", ("operator",)),
    ("analyzer", "alice", ()),
    ("analyzer", "bob", ()),
    ("service-wagon expert", "svc", ()),
    ("DPG expert", "dpg", ("dpg_expert",)),
    ("PWG convener", "convener", ("pwg_convener",)),
)
SERVICE_WAGONS = {  # service wagon name -> workflow
    "prop": "track-propagation",
    "evsel": "event-selection",
    "trksel": "track-selection",
    "mult": "multiplicity",
    "pid": "pid",
}


@dataclass
class DemoSite:
    """What :func:`prepare_demo` set up (accounts are ``(role, username, password)``; the
    password is None when the account existed before: it was printed when it was made)."""

    accounts: list[tuple[str, str, str | None]]
    database_url: str
    data_dir: Path
    demo_data: Path = Path()
    tags: list[str] = field(default_factory=list)
    seeded: bool = False  # content was created by this call (False: it was there)

    def serve_settings(self, settings: Settings) -> Settings:
        """``settings`` with the demo data folder among the storage roots (so wagon tests,
        trains and the catalogue download accept the demo's files) and, unless set to another
        value than the default, metrics sampled every ``DEMO_SAMPLE_INTERVAL`` s: a demo test reads a small sample (each
        device works for a fraction of a second), and its graphs should still draw curves."""
        roots = list(settings.storage_roots)
        if str(self.demo_data) not in roots:
            roots.append(str(self.demo_data))
        update: dict[str, Any] = {"storage_roots": roots}
        default = Settings.model_fields["metrics_sample_interval"].default
        if settings.metrics_sample_interval == default:  # an operator's other value is kept
            update["metrics_sample_interval"] = DEMO_SAMPLE_INTERVAL
        return settings.model_copy(update=update)

    def describe(self, url: str | None = None) -> str:
        """A few lines for the terminal: where things are and how to log in."""
        lines = []
        if url:
            lines.append(f"Hyperloop demo: {url}")
        lines.append(f"  database   {make_url(self.database_url).render_as_string()}")
        lines.append(f"  data       {self.data_dir}")
        lines.append(f"  demo data  {self.demo_data}")
        lines.append(f"  tags       {', '.join(self.tags)}")
        lines.append("  accounts (role, username, password):")
        width = max(len(r) for r, _, _ in self.accounts)
        for role, user, password in self.accounts:
            shown = password if password is not None else "(printed when it was created)"
            lines.append(f"    {role:<{width}}  {user:<9} {shown}")
        if any(p is not None for _, _, p in self.accounts):
            lines.append(
                "  These passwords are shown only now (only their hashes are stored); "
                f"a forgotten one is replaced with `{PASSWORD_HINT}`."
            )
        else:
            lines.append(
                "  Passwords were printed when the demo was first prepared (only their hashes "
                f"are stored); set a new one with `{PASSWORD_HINT}` (e.g. "
                "`hyperloop user password alice --generate`)."
            )
        lines.append(
            "  Log in as alice to enable a wagon on My Analyses and watch its test; as "
            "operator to compose, test and submit a train (Train Submission)."
        )
        return "\n".join(lines)


def _say(report: Report | None, text: str) -> None:
    if report is not None:
        report(text)


# ----------------------------------------------------------------------------- files


def _repo_physics() -> Path | None:
    """The physics package source beside this installation (editable/src checkout)."""
    import hyperloop

    for parent in Path(hyperloop.__file__).resolve().parents:
        candidate = parent / "physics"
        if (candidate / "pyproject.toml").is_file():
            return candidate
    return None


def _old_tag_ref(physics: Path) -> str | None:
    """The commit that released hyperloop-physics 0.1.0 (as scripts/demo.sh finds it)."""
    try:
        proc = subprocess.run(
            [
                "git",
                "-C",
                str(physics),
                "log",
                "--format=%H",
                "-1",
                "--grep",
                "hyperloop-physics 0.1.0",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    ref = proc.stdout.strip()
    return ref or None


# events per demo run: a wagon test reads one run (two files, the scheduler_test_files
# default): 10,000 events are one to two seconds of work, test graphs of 10-20 samples
# (generated once, ~20 s per run; 1,000 events gave graphs of two samples)
DEMO_EVENTS_PER_RUN = 10_000


def ensure_demo_data(
    folder: Path,
    *,
    runs: tuple[int, ...] = DEMO_RUNS,
    events_per_run: int = DEMO_EVENTS_PER_RUN,
    pool_size: int = 500,
    report: Report | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """PYTHIA 8 demo data (MC, fast mode) in ``folder``, generated once (manifest present =
    done); PYTHIA's tables and the event pool are kept in ``cache_dir`` (the setting of that
    name; None: ``demo.events.default_cache_dir()``)."""
    if (folder / "manifest.json").is_file():
        return folder
    from hyperloop.demo import generate_dataset

    _say(report, f"generating demo data once (PYTHIA 8, {len(runs)} runs) in {folder} ...")
    manifest = generate_dataset(
        folder,
        list(runs),
        events_per_run,
        mc=True,
        seed=1,
        fast=True,
        pool_size=pool_size,
        dfs_per_file=2,
        events_per_df=max(1, events_per_run // 4),
        cache_dir=cache_dir,
    )
    _say(report, f"  {manifest.totals['files']} files, {manifest.totals['events']} events")
    return folder


def ensure_tags(tags_dir: Path, report: Report | None = None) -> list[dict[str, Any]]:
    """Build physics-0.1.0 (from git history, when there is one) and physics-0.2.0 (from the
    tree) into ``tags_dir`` once; returns their tag.json contents. Without the physics
    source (a plain installation) the installed package is described instead."""
    from hyperloop.analysis.tags import build_tag, read_tag

    physics = _repo_physics()
    out = []
    if physics is None:
        from hyperloop.analysis.workflows import load_package

        described = load_package().describe()
        described["tag"] = f"physics-{described['package']['version']}"
        described["location"] = "installed"
        return [described]
    plan = [("physics-0.1.0", _old_tag_ref(physics), []), ("physics-0.2.0", None, ["101"])]
    for name, ref, prs in plan:
        folder = tags_dir / name
        if not folder.is_dir():
            if name == "physics-0.1.0" and ref is None:
                _say(report, "no git history: only the current package tag is built")
                continue
            _say(report, f"building package tag {name} ...")
            build_tag(physics, name, tags_dir, pull_requests=prs, git_ref=ref)
        out.append(read_tag(folder))
    return out


def _old_passwords(data_dir: Path) -> dict[str, str]:
    """The plain passwords an older demo kept in the data folder (the file is deleted)."""
    path = data_dir / OLD_ACCOUNTS_FILE
    if not path.is_file():
        return {}
    try:
        known = {str(a["username"]): str(a["password"]) for a in json.loads(path.read_text())}
    except (ValueError, KeyError, TypeError, OSError):
        known = {}
    path.unlink()
    return known


def _accounts(s: Session, data_dir: Path) -> list[tuple[str, str, str | None]]:
    """Create the demo users that do not exist yet, each with a new random password, and
    return (role, username, password) for each; the password is None for an account that
    existed (only its hash is stored). The passwords file of an older demo is printed a
    last time (those still valid) and deleted."""
    from hyperloop.core import users

    old = _old_passwords(data_dir)
    out: list[tuple[str, str, str | None]] = []
    for role, username, roles in ACCOUNTS:
        user = users.find_user(s, username)
        password: str | None = None
        if user is None:
            password = secrets.token_urlsafe(12)
            users.create_user(
                s,
                username,
                roles=roles,
                password=password,
                email=f"{username}@demo.invalid",
                convener_pwgs=["PWG-LF"] if "pwg_convener" in roles else [],
            )
        elif username in old and users.verify_password(user.password_hash, old[username]):
            password = old[username]
        out.append((role, username, password))
    return out


# ----------------------------------------------------------------------------- content


def _register_tags(s: Session, infos: list[dict[str, Any]]) -> None:
    from hyperloop.core import tags
    from hyperloop.db.base import utcnow
    from hyperloop.db.models import PackageTag

    now = utcnow()
    for i, info in enumerate(infos):
        name, version = info["package"]["name"], info["package"]["version"]
        exists = s.scalars(
            select(PackageTag.id).where(PackageTag.name == name, PackageTag.version == version)
        ).first()
        if exists is None:
            tags.register_tag(
                s,
                None,
                info,
                artifact=info.get("location", "installed"),
                version=version,
                released_at=now - timedelta(days=7 * (len(infos) - 1 - i)),
            )


def _machine_target() -> tuple[int, int]:
    """(cores, memory MB) of a target that fits this machine: up to 2 cores, half the RAM."""
    import psutil

    cores = max(1, min(2, os.cpu_count() or 1))
    memory = int(psutil.virtual_memory().total / 1e6 * 0.5)
    return cores, max(1000, min(8000, memory))


def _seed_content(s: Session, settings: Settings, demo_data: Path) -> None:
    """Analyses, wagons, runlist, dataset, catalogue, mergelists and targets (once)."""
    from hyperloop.core import analyses, datasets, enabling, runlists, trains, users, wagons
    from hyperloop.core.actor import Actor
    from hyperloop.core.storage_roots import StorageRoots
    from hyperloop.enums import DataType

    def actor(name: str) -> Actor:
        return Actor(users.get_user(s, name))

    admin, operator, dpg = actor("admin"), actor("operator"), actor("dpg")
    alice, bob, svc = actor("alice"), actor("bob"), actor("svc")

    # where trains and tests run: the scheduler's test target and one fitting this machine
    cores, memory = _machine_target()
    test_target = getattr(settings, "scheduler_test_target", "test")
    trains.create_target(
        s, admin, name=test_target, cores=1, memory_limit_mb=min(3600, memory),
        description="wagon tests (1 core)",
    )  # fmt: skip
    trains.create_target(
        s, admin, name=f"local-{cores}core", cores=cores, memory_limit_mb=memory,
        description=f"this machine: {cores} cores per job, {memory} MB",
    )  # fmt: skip

    runs = [int(p.name) for p in sorted(demo_data.iterdir()) if p.is_dir() and p.name.isdigit()]
    runlist = runlists.create_runlist(
        s, dpg, RUNLIST, runs, data_type=DataType.MC, anchor="LHC26a", tag="pass1",
        production="LHC26a_demo", description="demo runs (PYTHIA 8 pp 13.6 TeV, demo detector)",
    )  # fmt: skip
    ds = datasets.create_dataset(
        s, operator, DATASET, description="PYTHIA 8 pp 13.6 TeV demo data with MC truth",
        data_type=DataType.MC, collision_system="pp", anchor="LHC26a", period="LHC26a",
    )  # fmt: skip
    prod = datasets.add_production(s, operator, ds.id, "pass1", runlist_id=runlist.id)
    roots = StorageRoots.parse([*settings.storage_roots, demo_data])
    datasets.import_directory(s, operator, prod.id, demo_data, roots=roots)
    if len(runs) >= 2:
        datasets.set_mergelist(s, operator, ds.id, "early", runs[:-1])
        datasets.set_mergelist(s, operator, ds.id, "late", runs[-1:])
        datasets.set_final_mergelist(s, operator, ds.id, "all_runs", ["early", "late"])
    datasets.set_active(s, operator, ds.id, True)

    service = analyses.create_analysis(
        s, admin, "Core-services", "DPG", service=True, description="event and track selection"
    )
    lf = analyses.create_analysis(
        s, admin, MARKER_ANALYSIS, "PWG-LF", description="charged-particle and V0 spectra"
    )
    cf = analyses.create_analysis(
        s, admin, "CF-correlations", "PWG-CF", description="two-particle correlations"
    )
    for analysis, members in ((service, [svc]), (lf, [alice, bob]), (cf, [bob])):
        for member in members:
            analyses.add_member(s, admin, analysis.id, member.user.id)
        analyses.add_dataset(s, admin, analysis.id, ds.id)

    svc_ids: dict[str, int] = {}
    for name, workflow in SERVICE_WAGONS.items():
        # tracks are stored at their innermost point: what reads Tracks needs the propagation
        deps = {
            "multiplicity": [svc_ids.get("trksel")],
            "track-selection": [svc_ids.get("prop")],
            "pid": [svc_ids.get("prop")],
        }.get(workflow, [])
        svc_ids[name] = wagons.create_wagon(
            s, svc, service.id, name=name, workflow=workflow, dependencies=deps
        ).id
    core3 = [svc_ids["evsel"], svc_ids["trksel"], svc_ids["mult"]]
    # a wagon with subwagons (variants of the base configuration)
    wagons.create_wagon(
        s, alice, lf.id, name="spectra", workflow="spectra-charged", dependencies=core3,
        subwagons={
            "eta05": {"spectra-charged": {"etaMax": "0.5"}},
            "eta03": {"spectra-charged": {"etaMax": "0.3"}},
        },
    )  # fmt: skip
    strange = wagons.create_wagon(
        s, alice, lf.id, name="strangeness", workflow="strangeness",
        dependencies=[svc_ids["evsel"], svc_ids["pid"]],
    )  # fmt: skip
    wagons.create_wagon(
        s, alice, lf.id, name="mcclosure", workflow="mc-spectra",
        dependencies=[svc_ids["evsel"], svc_ids["trksel"]],
    )  # fmt: skip
    # a user-defined dependency: spectra on skimmed tables made by another wagon
    skim = wagons.create_wagon(
        s, bob, lf.id, name="skim", workflow="skim-tracks", dependencies=core3,
        derived_tables=["SkimCollisions", "SkimTracks"],
    )  # fmt: skip
    wagons.create_wagon(
        s, bob, lf.id, name="spectra_skimmed", workflow="spectra-skimmed",
        dependencies=[skim.id],
    )  # fmt: skip
    corr = wagons.create_wagon(
        s, bob, cf.id, name="correlations", workflow="two-particle-correlations",
        dependencies=core3, base_config={"two-particle-correlations": {"nMixEvents": "3"}},
    )  # fmt: skip
    # overlap detection: bob's strangeness in CF repeats alice's (same workflow, defaults,
    # dependencies); enabling it, bob is told to share or depend on hers instead
    wagons.create_wagon(
        s, bob, cf.id, name="strangeness_cf", workflow="strangeness",
        dependencies=[svc_ids["evsel"], svc_ids["pid"]],
    )  # fmt: skip
    # two wagons already enabled: their tests run as soon as the scheduler starts, so the
    # operator has something to compose; alice's "spectra" is left for the newcomer
    enabling.enable_wagon(s, alice, strange.id, ds.id)
    enabling.enable_wagon(s, bob, corr.id, ds.id)


def _seeded(s: Session) -> bool:
    from hyperloop.db.models import Analysis

    return (
        s.scalars(select(Analysis.id).where(Analysis.name == MARKER_ANALYSIS)).first() is not None
    )


def prepare_demo(
    settings: Settings,
    *,
    report: Report | None = None,
    events_per_run: int = DEMO_EVENTS_PER_RUN,
    pool_size: int = 500,
    runs: tuple[int, ...] = DEMO_RUNS,
) -> DemoSite:
    """Set up (or find) the complete demo system of ``settings`` (see the module doc)."""
    from hyperloop.db.migrate import upgrade
    from hyperloop.db.session import make_engine, make_sessionmaker

    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).resolve().parent.mkdir(parents=True, exist_ok=True)
    _say(report, "migrating the database ...")
    upgrade(settings.database_url)
    demo_data = ensure_demo_data(
        data_dir / "demo-data",
        runs=runs,
        events_per_run=events_per_run,
        pool_size=pool_size,
        report=report,
        cache_dir=settings.cache_dir,
    )
    infos = ensure_tags(data_dir / "tags", report)
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine).begin() as s:
            _register_tags(s, infos)
            accounts = _accounts(s, data_dir)
            seeded = not _seeded(s)
            if seeded:
                _say(report, "creating demo analyses, wagons, datasets and runlists ...")
                _seed_content(s, settings, demo_data)
    finally:
        engine.dispose()
    return DemoSite(
        accounts=accounts,
        database_url=settings.database_url,
        data_dir=data_dir,
        demo_data=demo_data,
        tags=[f"{i['package']['name']}-{i['package']['version']}" for i in infos],
        seeded=seeded,
    )
