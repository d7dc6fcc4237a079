"""Derived-data trains through the scheduler shell keep their AO2D as SPEC §5 says: standard
merged per run (not across runs), linked per job, slim merged over the whole dataset."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import uproot
from sqlalchemy import select
from tests.factories import make_catalogue, make_package
from tests.grid.gridtest_wagons import SKIM_BOUND, SKIM_EVENTS

from hyperloop.core import datasets, runlists, tags, users
from hyperloop.core.actor import Actor
from hyperloop.core.assessment import Thresholds
from hyperloop.core.storage_roots import StorageRoots
from hyperloop.db.models import Job, TrainRun
from hyperloop.db.models import Target as DbTarget
from hyperloop.enums import Role, TrainState, TrainType
from hyperloop.grid.engine import Engine
from hyperloop.grid.targets import Target
from hyperloop.scheduler import decide
from hyperloop.scheduler.shell import SchedulerShell, ShellConfig

GiB = 1024**3
FINAL = (TrainState.DONE, TrainState.TEST_WARNING, TrainState.TEST_FAILED)
TYPES = (TrainType.STANDARD_DERIVED, TrainType.LINKED_DERIVED, TrainType.SLIM_DERIVED)


def _dataframes(path: str) -> int:
    with uproot.open(path) as f:
        return len([k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_")])


@pytest.mark.slow
def test_derived_trains_keep_their_ao2d_per_train_type(db_sessionmaker, tmp_path):
    package = make_package(tmp_path / "tag")
    catalogue = make_catalogue(tmp_path / "data", files_per_run=2, dfs=2)
    runs = sorted(catalogue)
    with db_sessionmaker.begin() as s:
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        intro = {"package": {"name": "gridtest-wagons", "version": "1.0"}, "workflows": []}
        tag = tags.register_tag(s, None, intro, artifact=str(package))
        ds = datasets.create_dataset(s, admin, "LHC26_derived", collision_system="pp")
        rl = runlists.create_runlist(s, admin, "LHC26_derived_pass1", runs)
        prod = datasets.add_production(s, admin, ds.id, "p1", runlist_id=rl.id)
        datasets.import_directory(
            s, admin, prod.id, tmp_path / "data", roots=StorageRoots.parse([tmp_path / "data"])
        )
        target = DbTarget(name="small", cores=1, memory_limit_mb=2000)
        s.add(target)
        s.flush()
        wagon = {
            "workflow": "gt-skim-bound",
            "wagon_id": 1,
            "base_config": {},
            "subwagons": {},
            # both tables: the tracks' index is bound (no SPEC §4 warning 8)
            "derived_tables": [SKIM_EVENTS.logical, SKIM_BOUND.logical],
        }
        ids = {}
        for kind in TYPES:
            train = TrainRun(
                dataset_id=ds.id,
                tag_id=tag.id,
                target_id=target.id,
                train_type=kind,
                state=TrainState.COMPOSED,
                auto_submit=True,
                slow=True,
                wagons_snapshot=[wagon],
            )
            s.add(train)
            s.flush()
            ids[kind] = train.id
    cfg = ShellConfig(
        work_dir=tmp_path / "work",
        targets={"small": Target("small", memory_limit_bytes=2 * GiB, wall_time_limit_s=120)},
        test_target="small",
        # a skim of a few kB cannot pass the production thresholds: allow it, as an operator may
        core=decide.SchedulerConfig(
            thresholds=Thresholds(min_reduction_factor=0.0, max_linked_inputs_per_output=1000)
        ),
    )
    with Engine.local(n_workers=2) as engine:
        shell = SchedulerShell(db_sessionmaker, engine, cfg)
        shell.last_stale_clean = datetime.now(UTC)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            shell.tick()
            with db_sessionmaker() as s:
                states = {k: s.get(TrainRun, i).state for k, i in ids.items()}
            if all(st in FINAL for st in states.values()):
                break
            time.sleep(0.3)
        merges = {
            k: shell.train_work.run_merges[i]
            for k, i in ids.items()
            if i in shell.train_work.run_merges
        }
    assert states == dict.fromkeys(TYPES, TrainState.DONE), states
    standard = merges[TrainType.STANDARD_DERIVED]
    # standard: one AO2D per run holding both jobs' dataframes, kept; none across runs
    for run in runs:
        assert len(standard[run].derived_files) == 1
        assert _dataframes(standard[run].derived_files[0]) == 2 * 2
    linked = merges[TrainType.LINKED_DERIVED]
    # linked: each job's file stays as it is (its parentFiles links stay valid)
    with db_sessionmaker() as s:
        jobs = s.scalars(
            select(Job.run_number).where(Job.train_run_id == ids[TrainType.LINKED_DERIVED])
        ).all()
    for run in runs:
        assert len(linked[run].derived_files) == jobs.count(run) >= 1
        assert sum(_dataframes(f) for f in linked[run].derived_files) == 2 * 2
    slim = merges[TrainType.SLIM_DERIVED]
    assert all(slim[run].derived_files == [] for run in runs)
    # slim: one AO2D over the whole dataset; standard and linked have none across runs
    trains = tmp_path / "work" / "trains"
    final = {k: trains / str(i) / "merged" / "final" / "AO2D.root" for k, i in ids.items()}
    assert _dataframes(str(final[TrainType.SLIM_DERIVED])) == len(runs) * 2 * 2
    assert not final[TrainType.STANDARD_DERIVED].exists()
    assert not final[TrainType.LINKED_DERIVED].exists()
