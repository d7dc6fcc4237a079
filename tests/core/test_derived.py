"""Deleting unused derived-data outputs and expiring slim derived outputs (SPEC §2, §6)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from tests.factories import make_world

from hyperloop.core import datasets, derived, history
from hyperloop.core.actor import Actor
from hyperloop.core.errors import Conflict, PermissionDenied
from hyperloop.db.base import utcnow
from hyperloop.db.models import TrainRun
from hyperloop.enums import ProductionKind, TrainState, TrainType
from hyperloop.readmodels import datasets as views_datasets


@pytest.fixture
def world(session):
    w = make_world(session)
    session.commit()
    return w


def derived_train(
    w,
    tmp_path: Path,
    *,
    train_type=TrainType.STANDARD_DERIVED,
    state=None,
    finished_days_ago: float = 1.0,
    histograms: bool = True,
) -> TrainRun:
    """A finished derived train with merged files in storage like the scheduler leaves them:
    ``trains/<id>/merged/{runs/<run>/AO2D.root, final/AnalysisResults.root}`` and the
    attempt folders ``trains/<id>/jobs`` with a derived file and a log each."""
    train = TrainRun(
        dataset_id=w.dataset.id,
        tag_id=w.tag.id,
        target_id=w.target.id,
        train_type=train_type,
        state=state or TrainState.DONE,
        wagons_snapshot=[{"wagon_id": 1, "name": "skim", "derived_tables": ["MyTracks"]}],
        finished_at=utcnow() - timedelta(days=finished_days_ago),
    )
    w.s.add(train)
    w.s.flush()
    base = tmp_path / "trains" / str(train.id)
    merged = base / "merged"
    (merged / "runs" / "544013").mkdir(parents=True)
    (merged / "runs" / "544013" / "AO2D.root").write_bytes(b"x" * 3000)
    attempt = base / "jobs" / "job-1" / "attempt-1"
    attempt.mkdir(parents=True)
    (attempt / "AO2D.root").write_bytes(b"y" * 500)
    (attempt / "log.txt").write_text("job log\n")
    if histograms:
        (merged / "final").mkdir()
        (merged / "final" / "AnalysisResults.root").write_bytes(b"z" * 200)
        train.output_dir = str(merged / "final" / "AnalysisResults.root")
    else:
        train.output_dir = str(merged)
    w.s.flush()
    return train


def listed(w, train_id, **kw):
    items = views_datasets.derived_data(w.s, **kw)["items"]
    return next((d for d in items if d["train_run_id"] == train_id), None)


def test_an_operator_deletes_an_unused_output_and_the_train_and_logs_stay(world, tmp_path):
    train = derived_train(world, tmp_path)
    merged = tmp_path / "trains" / str(train.id) / "merged"
    attempt = tmp_path / "trains" / str(train.id) / "jobs" / "job-1" / "attempt-1"
    before = listed(world, train.id)
    assert before["size_bytes"] == 3200  # the whole merged folder, not the final file alone
    assert before["deletable"] and before["output_deleted_at"] is None
    assert listed(world, train.id, unused_only=True) is not None

    done = derived.delete_output(world.s, world.actor(world.operator), train.id)
    world.s.commit()

    assert done["bytes_freed"] == 3700
    assert not merged.exists()
    assert not (attempt / "AO2D.root").exists()
    assert (attempt / "log.txt").read_text() == "job log\n"  # the job page keeps its log
    after = listed(world, train.id)
    assert after["output_deleted_at"] is not None
    assert after["size_bytes"] is None and not after["deletable"]
    assert listed(world, train.id, unused_only=True) is None  # nothing left to delete
    entry = history.entries(world.s, derived.OBJECT, train.id)[-1]
    assert entry.action == derived.DELETE_OUTPUT and entry.user_id == world.operator.id


def test_an_output_a_production_uses_is_refused_naming_it_and_nothing_is_deleted(world, tmp_path):
    train = derived_train(world, tmp_path, histograms=False)
    datasets.add_production(
        world.s,
        world.actor(world.operator),
        world.dataset.id,
        "skimmed",
        kind=ProductionKind.DERIVED_TRAIN,
        train_run_id=train.id,
    )
    world.s.commit()
    assert not listed(world, train.id)["deletable"]
    with pytest.raises(
        Conflict, match=r"used by the active dataset LHC23_pp_pass4 \(skimmed\): deactivate it"
    ) as err:
        derived.delete_output(world.s, world.actor(world.operator), train.id)
    assert err.value.details["dependent_productions"][0]["production"] == "skimmed"
    world.s.rollback()
    assert (Path(train.output_dir) / "runs" / "544013" / "AO2D.root").stat().st_size == 3000
    assert world.s.get(TrainRun, train.id).output_deleted_at is None


@pytest.mark.parametrize(
    ("train_type", "state", "message"),
    [
        (TrainType.ANALYSIS, TrainState.DONE, "is an analysis train"),
        (TrainType.STANDARD_DERIVED, TrainState.RUNNING, "is running: its output can be"),
    ],
)
def test_analysis_trains_and_running_trains_are_refused(
    world, tmp_path, train_type, state, message
):
    train = derived_train(world, tmp_path, train_type=train_type, state=state)
    with pytest.raises(Conflict, match=message):
        derived.delete_output(world.s, world.actor(world.operator), train.id)
    assert (tmp_path / "trains" / str(train.id) / "merged" / "final").is_dir()


def test_a_second_delete_says_when_the_first_happened(world, tmp_path):
    train = derived_train(world, tmp_path)
    derived.delete_output(world.s, world.actor(world.operator), train.id)
    world.s.commit()
    with pytest.raises(Conflict, match="was already deleted at"):
        derived.delete_output(world.s, world.actor(world.operator), train.id)
    with pytest.raises(Conflict, match="cannot become a production"):
        datasets.add_production(
            world.s,
            world.actor(world.operator),
            world.dataset.id,
            "late",
            kind=ProductionKind.DERIVED_TRAIN,
            train_run_id=train.id,
        )


def test_analyzers_may_not_delete_derived_outputs(world, tmp_path):
    train = derived_train(world, tmp_path)
    with pytest.raises(PermissionDenied):
        derived.delete_output(world.s, world.actor(world.alice), train.id)
    assert (tmp_path / "trains" / str(train.id) / "merged" / "final").is_dir()


def test_slim_outputs_expire_after_the_retention_time_unless_a_production_uses_them(
    world, tmp_path
):
    old = derived_train(world, tmp_path, train_type=TrainType.SLIM_DERIVED, finished_days_ago=40)
    young = derived_train(world, tmp_path, train_type=TrainType.SLIM_DERIVED, finished_days_ago=10)
    used = derived_train(world, tmp_path, train_type=TrainType.SLIM_DERIVED, finished_days_ago=40)
    standard = derived_train(world, tmp_path, finished_days_ago=40)
    datasets.add_production(
        world.s,
        Actor(world.operator),
        world.dataset.id,
        "slim",
        kind=ProductionKind.DERIVED_TRAIN,
        train_run_id=used.id,
    )
    world.s.commit()

    expired = derived.expire_slim_outputs(world.s, utcnow(), timedelta(days=30))
    world.s.commit()

    assert expired == [old.id]
    for train, gone in [(old, True), (young, False), (used, False), (standard, False)]:
        merged = tmp_path / "trains" / str(train.id) / "merged"
        assert merged.exists() is not gone, train.id
    entry = history.entries(world.s, derived.OBJECT, old.id)[-1]
    assert entry.user_id is None and "expired after 30 days" in entry.reason
    assert derived.expire_slim_outputs(world.s, utcnow(), timedelta(days=30)) == []
