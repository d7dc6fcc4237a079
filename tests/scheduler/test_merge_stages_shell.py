"""Merge stages through the scheduler shell on a real Dask LocalCluster (SPEC §3): per run,
then each mergelist, then each final mergelist; with "final merge over all runs" off there
is no whole-dataset merge. Each output equals one plain run over its runs' files."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import select
from tests.factories import (
    GRIDTEST_INTROSPECTION,
    RUNS,
    files_dataset,
    make_catalogue,
    make_package,
)
from tests.grid.helpers import config, histograms, reference_run

from hyperloop.core import tags, users
from hyperloop.core.actor import Actor
from hyperloop.db.models import Target as DbTarget
from hyperloop.db.models import TrainMerge, TrainRun
from hyperloop.enums import Role, TrainState
from hyperloop.grid.engine import Engine
from hyperloop.grid.targets import Target
from hyperloop.readmodels.train_results import merging_view, outputs_view
from hyperloop.readmodels.trains import FileRoots
from hyperloop.scheduler.shell import SchedulerShell, ShellConfig

GiB = 1024**3
A, B, C = RUNS


def _same(got_path, files, tmp_path, package, name) -> None:
    want = histograms(reference_run(config("gt-pt"), files, tmp_path / name, package))
    got = histograms(got_path)
    assert got.keys() == want.keys() and got
    for key, (values, entries) in want.items():
        np.testing.assert_array_equal(got[key][0], values)
        assert got[key][1] == entries


@pytest.mark.slow
def test_mergelists_and_final_mergelists_are_merged_after_the_runs(db_sessionmaker, tmp_path):
    package = make_package(tmp_path / "tag")
    catalogue = make_catalogue(tmp_path / "data", files_per_run=1)
    files = {run: [p for p, _ in catalogue[run]] for run in catalogue}
    with db_sessionmaker.begin() as s:
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        tag = tags.register_tag(s, None, GRIDTEST_INTROSPECTION, artifact=str(package))
        ds = files_dataset(s, admin, "LHC26_ml", tmp_path / "data", catalogue, active=False)
        target = DbTarget(name="small", cores=1, memory_limit_mb=2000)
        s.add(target)
        s.flush()
        wagon = {"workflow": "gt-pt", "wagon_id": 1, "base_config": {}, "subwagons": {}}
        snapshot = {
            "runs": list(RUNS),
            "final_merge_all_runs": False,
            "mergelists": [
                {"name": "low", "runs": [A, B], "active": True},
                {"name": "high", "runs": [B, C], "active": True},
                {"name": "off", "runs": [A], "active": False},
            ],
            "final_mergelists": [{"name": "all", "mergelists": ["low", "high"]}],
        }
        train = TrainRun(
            dataset_id=ds.id,
            tag_id=tag.id,
            target_id=target.id,
            state=TrainState.SUBMITTED,
            slow=True,
            wagons_snapshot=[wagon],
            dataset_snapshot=snapshot,
        )
        s.add(train)
        s.flush()
        train_id = train.id
    targets = {"small": Target("small", memory_limit_bytes=2 * GiB, wall_time_limit_s=120)}
    work = tmp_path / "work"
    cfg = ShellConfig(work_dir=work, targets=targets, test_target="small")
    with Engine.local(n_workers=2) as engine:
        shell = SchedulerShell(db_sessionmaker, engine, cfg)
        shell.last_stale_clean = datetime.now(UTC)
        deadline = time.monotonic() + 240
        state = TrainState.SUBMITTED
        while state is not TrainState.DONE and time.monotonic() < deadline:
            tick = shell.tick()
            assert tick.failed == []
            with db_sessionmaker() as s:
                state = s.get(TrainRun, train_id).state
            time.sleep(0.3)
    assert state is TrainState.DONE
    merged = work / "trains" / str(train_id) / "merged"
    assert sorted(p.name for p in (merged / "mergelists").iterdir()) == ["high", "low"]
    assert not (merged / "final").exists()  # final merge over all runs is off
    _same(
        merged / "mergelists" / "low" / "AnalysisResults.root",
        files[A] + files[B],
        tmp_path,
        package,
        "low",
    )
    _same(
        merged / "mergelists" / "high" / "AnalysisResults.root",
        files[B] + files[C],
        tmp_path,
        package,
        "high",
    )
    # run B is in both mergelists and counted once in the final mergelist
    final_ml = merged / "final_mergelists" / "all" / "AnalysisResults.root"
    _same(final_ml, files[A] + files[B] + files[C], tmp_path, package, "all")
    with db_sessionmaker() as s:
        rows = {
            (m.stage, m.name): (m.state, m.runs_merged, m.runs_missing)
            for m in s.scalars(select(TrainMerge).where(TrainMerge.train_run_id == train_id))
        }
        assert rows == {
            **{("run", str(r)): ("done", [r], []) for r in RUNS},
            ("mergelist", "low"): ("done", [A, B], []),
            ("mergelist", "high"): ("done", [B, C], []),
            ("final_mergelist", "all"): ("done", [A, B, C], []),
        }
        train = s.get(TrainRun, train_id)
        assert train.output_dir == str(final_ml)
        roots = FileRoots(root=tmp_path, work=work)
        view = merging_view(s, train, roots)
        assert [(m["name"], m["runs_merged"]) for m in view["final_mergelists"]] == [
            ("all", [A, B, C])
        ]
        assert view["final_mergelists"][0]["file"] is not None
        stages = [r["stage"] for r in outputs_view(s, train, roots)["results"]]
        assert stages == ["final", "final_mergelist", "mergelist", "mergelist", "run", "run", "run"]
