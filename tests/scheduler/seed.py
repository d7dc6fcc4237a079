"""Seeding for tests that run the scheduler as a real process: a migrated SQLite file, a
package tag of the grid test workflows, small AO2D files and a train over them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from tests.grid.helpers import make_catalogue, make_package

from hyperloop.core import datasets, runlists, tags, users
from hyperloop.core.actor import Actor
from hyperloop.core.storage_roots import StorageRoots
from hyperloop.db.migrate import upgrade
from hyperloop.db.models import Target as DbTarget
from hyperloop.db.models import TrainRun
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import Role, TrainState

HYPERLOOP = str(Path(sys.executable).parent / "hyperloop")


def introspection() -> dict:
    return {"package": {"name": "gridtest-wagons", "version": "1.0"}, "workflows": []}


@dataclass
class World:
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


def seed_world(
    root: Path,
    *,
    state: TrainState = TrainState.SUBMITTED,
    files_per_run: int = 2,
    sleep_per_df: float = 0.0,
    auto_submit: bool = False,
) -> World:
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
        tag = tags.register_tag(s, None, introspection(), artifact=str(package))
        ds = datasets.create_dataset(s, admin, "LHC26_sched", collision_system="pp")
        rl = runlists.create_runlist(s, admin, "LHC26_sched_pass1", sorted(catalogue))
        prod = datasets.add_production(s, admin, ds.id, "p1", runlist_id=rl.id)
        assert datasets.import_directory(
            s, admin, prod.id, root / "data", roots=StorageRoots.parse([root / "data"])
        ) == len(files)
        target = DbTarget(name="small", cores=1, memory_limit_mb=2000)
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
    return World(url, sessions, package, files, train_id)


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
