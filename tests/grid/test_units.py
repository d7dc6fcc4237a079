"""Targets, splitting, error signatures and grouping, attempt folders: fast checks."""

from __future__ import annotations

import pytest

from hyperloop.grid.execute import AttemptRecord, execute_attempt, signature_from_traceback
from hyperloop.grid.splitting import SplitError, split_catalogue, split_run
from hyperloop.grid.targets import (
    Target,
    TargetError,
    load_targets,
    pick_target_with_more_memory,
)


def test_targets_load_from_settings_and_pick_more_memory():
    targets = load_targets(
        {
            "single-core": {"cores": 1, "memory": "2GB", "wall_time": 3600},
            "2-core": {"cores": 2, "memory": "4GB"},
            "8-core": {"cores": 8, "memory_limit_bytes": 16_000_000_000},
            "af": {"cores": 2, "memory": "8GB", "engine": "tcp://10.0.0.5:8786"},
        }
    )
    assert targets["2-core"].memory_limit_bytes == 4_000_000_000
    assert targets["single-core"].wall_time_limit_s == 3600
    bigger = pick_target_with_more_memory(targets, targets["single-core"])
    assert bigger.name == "2-core"  # least memory above 2 GB, same engine
    assert pick_target_with_more_memory(targets, targets["8-core"]) is None
    assert pick_target_with_more_memory(targets, targets["af"]) is None  # other engine


def test_target_errors_name_the_target_and_field():
    with pytest.raises(TargetError, match="target x: memory: expected a size"):
        load_targets({"x": {"memory": "lots"}})
    with pytest.raises(TargetError, match="unknown field.*memroy"):
        load_targets([{"name": "y", "memroy": "2GB"}])
    with pytest.raises(TargetError, match="cores must be >= 1"):
        Target("z", cores=0)


def test_split_groups_per_run_by_files_and_bytes_with_stable_ids():
    cat = {
        2: [("/d/2/c.root", 10), ("/d/2/a.root", 10), ("/d/2/b.root", 10)],
        1: [("/d/1/big.root", 500), ("/d/1/x.root", 40), ("/d/1/y.root", 40)],
    }
    masters = split_catalogue(cat, max_files=2, max_bytes=100)
    assert [m.run for m in masters] == [1, 2]
    assert [j.files for j in masters[0].jobs] == [
        ("/d/1/big.root",),
        ("/d/1/x.root", "/d/1/y.root"),
    ]
    assert [j.files for j in masters[1].jobs] == [("/d/2/a.root", "/d/2/b.root"), ("/d/2/c.root",)]
    again = split_catalogue(
        {str(k): list(reversed(v)) for k, v in cat.items()}, max_files=2, max_bytes=100
    )
    assert [j.job_id for m in again for j in m.jobs] == [j.job_id for m in masters for j in m.jobs]
    assert masters[0].jobs[0].job_id.startswith("1-0000-")
    assert split_catalogue(cat, excluded_runs=[1])[0].run == 2
    with pytest.raises(SplitError, match="listed twice.*a.root"):
        split_run(3, [("/a.root", 1), ("/a.root", 1)])


def test_signature_is_exception_type_and_innermost_place():
    tb = (
        "Traceback (most recent call last):\n"
        '  File "/x/runner.py", line 10, in _run_inprocess\n    inst.task.run_dataframe(frame)\n'
        '  File "/pkg/wagons.py", line 5, in check\n    raise KeyError("k")\n'
        "KeyError: 'k'\n"
    )
    assert signature_from_traceback(tb) == "KeyError at wagons.py:check"


def _failed(job: str, sig: str, kind: str = "execution", tb: str = "") -> AttemptRecord:
    return AttemptRecord(job, 1, 1, "t", "error", kind, "m", sig, tb)


def test_an_attempt_whose_folder_exists_is_lost_and_runs_nothing(tmp_path):
    (job,) = split_run(1, [("/nowhere/AO2D.root", 1)])
    folder = tmp_path / job.job_id / "attempt-1"
    folder.mkdir(parents=True)
    (folder / "partial.root").write_bytes(b"half")
    rec = execute_attempt(job, {"workflows": []}, Target("t"), tmp_path, 1)
    assert rec.error_kind == "lost" and "already exists" in rec.message
    assert sorted(p.name for p in folder.iterdir()) == ["partial.root"]  # untouched


def test_unreachable_scheduler_is_named_in_the_error():
    from hyperloop.grid.engine import Engine, EngineError

    with pytest.raises(
        EngineError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
    ):
        Engine.connect("tcp://127.0.0.1:9", timeout=1)
