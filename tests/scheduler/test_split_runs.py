"""Which runs a submitted train is split into: the dataset's runs (a production's excluded
runs are not among them), and for an incremental train only the runs it covers."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.factories import GRIDTEST_INTROSPECTION, RUNS, files_dataset, make_catalogue
from tests.story_cause import BY_TEST

from hyperloop.core import datasets, tags, users
from hyperloop.core.actor import Actor
from hyperloop.db.models import Job, TrainRun
from hyperloop.db.models import Target as DbTarget
from hyperloop.enums import Role, TrainState
from hyperloop.scheduler import decide
from hyperloop.scheduler.trainwork import TrainWork

A, B, C = RUNS


@pytest.mark.parametrize(
    ("excluded", "increment", "runs"),
    [([], None, [A, B, C]), ([C], None, [A, B]), ([], [B], [B]), ([C], [B, C], [B])],
)
def test_a_train_is_split_into_its_runs(db_sessionmaker, tmp_path, excluded, increment, runs):
    catalogue = make_catalogue(tmp_path / "data", files_per_run=1)
    with db_sessionmaker.begin() as s:
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        tag = tags.register_tag(s, None, GRIDTEST_INTROSPECTION, artifact=str(tmp_path))
        ds = files_dataset(s, admin, "LHC26_split", tmp_path / "data", catalogue)
        datasets.set_excluded_runs(s, admin, ds.productions[0].id, excluded)
        target = DbTarget(name="small", cores=1, memory_limit_mb=2000)
        s.add(target)
        s.flush()
        train = TrainRun(
            dataset_id=ds.id,
            tag_id=tag.id,
            target_id=target.id,
            state=TrainState.SUBMITTED,
            wagons_snapshot=[],
            increment_runs=increment,
        )
        s.add(train)
        s.flush()
        work = TrainWork(engine=None, targets={}, work_dir=tmp_path / "work")  # type: ignore[arg-type]
        assert work.perform(s, decide.SplitTrain(train.id), BY_TEST)
        found = s.scalars(select(Job.run_number).where(Job.train_run_id == train.id)).all()
    assert sorted(set(found)) == runs
