"""A world for the train pages, made through the core services: accounts per role, an
analysis with wagons, a dataset with runs, mergelists and a short dataset, trains in many
states (done with merged outputs, running with failed jobs, composed, a long-train request),
jobs with attempt folders, and real ROOT outputs laid out as the scheduler leaves them
(``<work>/trains/<id>/jobs|merged``, ``<work>/tests/train-test-<id>/sample/attempt-1``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import hist
import numpy as np
from sqlalchemy import select
from tests.factories import introspection
from tests.story_cause import BY_TEST
from tests.web_pages.accounts import PASSWORD
from tests.web_pages.sample_outputs import _ours_metrics, _profile

from hyperloop.analysis.results import HistogramOutput, write_results
from hyperloop.core import analyses, datasets, enabling, jobs, runlists, tags, trains, users, wagons
from hyperloop.core.actor import Actor
from hyperloop.core.states import transition
from hyperloop.core.story import Cause
from hyperloop.db.models import AnalysisDataset, Base, Job
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import JobState, TagPolicy, TestStatus, TrainState

RUNS = (544013, 544028, 544032)
FAILED = Cause(
    "tick-1796580000",
    "job-failed",
    "attempt 1 failed on node-b (execution): ZeroDivisionError: division by zero",
)
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/opt/physics/spectra.py", line 42, in process\n'
    "    ratio = tracks.pt / n\n"
    "ZeroDivisionError: division by zero\n"
)
USERS = {
    "analyzer": ("alice", []),
    "operator": ("oscar", ["operator"]),
    "admin": ("ada", ["admin"]),
    "convener": ("connie", ["pwg_convener"]),
    "user": ("ursula", []),
}


@dataclass
class TrainWorld:
    ids: dict[str, int] = field(default_factory=dict)


def _spectrum(path: Path, n: int, seed: int, scale: float = 1.5) -> None:
    rng = np.random.default_rng(seed)
    pt = hist.Hist(
        hist.axis.Regular(40, 0, 10, label="p_{T} (GeV/c)"), storage=hist.storage.Weight()
    )
    pt.fill(rng.exponential(scale, n))
    eta = hist.Hist(hist.axis.Regular(20, -1, 1, label="#eta"), storage=hist.storage.Weight())
    eta.fill(rng.uniform(-1, 1, n))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_results(
        path,
        {
            "spectra-charged": {
                "hPt": HistogramOutput(pt, entries=n, title="charged p_{T}"),
                "hEta": HistogramOutput(eta, entries=n, title="#eta"),
            }
        },
    )


def _attempt(root: Path, train_id: int, job_id: int, n: int, record: dict) -> None:
    folder = root / "trains" / str(train_id) / "jobs" / f"job-{job_id}" / f"attempt-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    reason = record.get("reason", "first attempt")
    (folder / "attempt.json").write_text(json.dumps({"target": "grid", "reason": reason}))
    (folder / "record.json").write_text(json.dumps(record))
    (folder / "console.log").write_text(f"[job {job_id}] attempt {n}\nprocessing...\n")


def _train_test_files(root: Path, train_id: int) -> None:
    folder = root / "tests" / f"train-test-{train_id}" / "sample" / "attempt-1"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "performanceMetrics.json").write_text(json.dumps(_ours_metrics()))
    (folder / "profile.speedscope.json").write_text(json.dumps(_profile()))
    (folder / "full_config.json").write_text(json.dumps({"workflows": []}))
    (folder / "console.log").write_text("train test ok\n")
    summary = {
        "spectra-charged": {
            "cpu": 3.5,
            "wall": 4.0,
            "proportionalSetSize_summary": {"avg": 120_000, "max": 150_000},
        },
        "__full_train__": {
            "cpu": 5.0,
            "wall": 4.2,
            "proportionalSetSize_summary": {"avg": 300_000, "max": 420_000},
            "aod-bytes-read-compressed": 2_000_000,
        },
    }
    (folder / "metrics_summary.json").write_text(json.dumps(summary))


EXPECTED = {
    "scale": 100.0,
    "cpu_seconds": 36_000.0,
    "wall_seconds": 40_000.0,
    "output_bytes": 2.0e8,
    "jobs": 12,
    "co2_kg": 0.06,
    "memory_class": "single-core",
}


def seed(url: str, root: Path) -> TrainWorld:
    """Create the schema and the world at ``url``; files under ``root``, the scheduler's
    work folder (inside the outputs root, like the default ``<data_dir>/work``)."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    world = TrainWorld()
    with make_sessionmaker(engine).begin() as s:
        people = {}
        for role, (name, roles) in USERS.items():
            pwgs = ["PWG-LF"] if role == "convener" else []
            people[role] = users.create_user(
                s, name, roles=roles, convener_pwgs=pwgs, email=f"{name}@example.org"
            )
        pw = users.hash_password(PASSWORD)
        for p in people.values():
            p.password_hash = pw
        admin, op = Actor(people["admin"]), Actor(people["operator"])
        alice = Actor(people["analyzer"])
        lf = analyses.create_analysis(s, admin, "LF-spectra", "PWG-LF")
        analyses.add_member(s, admin, lf.id, people["analyzer"].id)
        tag = tags.register_tag(s, admin, introspection(), artifact="/tags/t1")
        rl = runlists.create_runlist(s, admin, "LHC23zzh_pass4", list(RUNS))
        ds = datasets.create_dataset(s, op, "LHC23_pp_pass4", slots_per_week=50)
        datasets.add_production(s, op, ds.id, "pass4", runlist_id=rl.id)
        datasets.set_mergelist(s, op, ds.id, "first-two", list(RUNS[:2]))
        datasets.set_active(s, op, ds.id, True)
        analyses.add_dataset(s, admin, lf.id, ds.id)
        short = datasets.add_short_dataset(s, op, ds.id, "LHC23_pp_pass4_short")
        # adding a short dataset takes its parent out of the analyses (staged submission);
        # these pages also show trains and wagons on the parent itself: put it back as a
        # dataset used before the short one existed
        s.add(AnalysisDataset(analysis_id=lf.id, dataset_id=ds.id))
        s.flush()
        datasets.set_active(s, op, short.id, True)
        analyses.add_dataset(s, admin, lf.id, short.id)
        target = trains.create_target(s, admin, name="grid-1core", cores=1)
        made = {}
        for name, eta in (("spectra", "0.8"), ("spectra_wide", "0.9"), ("spectra_new", "0.7")):
            w = wagons.create_wagon(
                s,
                alice,
                lf.id,
                name=name,
                workflow="spectra-charged",
                tag_id=tag.id,
                base_config={"spectra-charged": {"etaMax": eta}},
            )
            made[name] = w
        for w in made.values():
            for d in (ds, short):
                enabling.enable_wagon(s, alice, w.id, d.id, policy=TagPolicy.LATEST)
                enabling.finish_test(s, enabling.current_test(s, w.id, d.id).id, TestStatus.DONE)

        def tested(wagon_ids: list[int], dataset_id: int, status=TestStatus.DONE):
            t = trains.compose_train(s, op, dataset_id, wagon_ids, target_id=target.id)
            trains.start_test(s, t.id)
            warnings = (
                [{"code": "memory-growth", "message": "max PSS 40% above average"}]
                if status is TestStatus.WARNING
                else []
            )
            return trains.finish_test(
                s, t.id, status, metrics={"expected": EXPECTED}, warnings=warnings
            )

        def run_jobs(train, outcomes: list[tuple[int, str]]) -> list[int]:
            trains.submit_train(s, op, train.id)
            transition(train, TrainState.RUNNING, actor=None, cause=BY_TEST)
            jobs.add_jobs(
                s,
                train.id,
                [
                    jobs.JobSpec(run, (f"/alice/data/{run}/AO2D_{i}.root",))
                    for i, (run, _) in enumerate(outcomes)
                ],
                cause=BY_TEST,
            )
            s.flush()
            ids = list(
                s.scalars(select(Job.id).where(Job.train_run_id == train.id).order_by(Job.id))
            )
            for job_id, (_run, outcome) in zip(ids, outcomes, strict=True):
                jobs.set_job_state(s, job_id, JobState.RUNNING, cause=BY_TEST)
                if outcome == "done":
                    jobs.set_job_state(
                        s,
                        job_id,
                        JobState.DONE,
                        site="node-a",
                        cpu_s=120.0,
                        wall_s=150.0,
                        cause=BY_TEST,
                    )
                    _attempt(
                        root,
                        train.id,
                        job_id,
                        1,
                        {"state": "done", "cpu_s": 120.0, "reason": "first attempt"},
                    )
                else:
                    jobs.set_job_state(
                        s,
                        job_id,
                        JobState.EXECUTION_ERROR,
                        site="node-b",
                        cpu_s=3.0,
                        wall_s=4.0,
                        error_signature="ZeroDivisionError at spectra.py:process",
                        error_message="ZeroDivisionError: division by zero",
                        cause=FAILED,
                    )
                    _attempt(
                        root,
                        train.id,
                        job_id,
                        1,
                        {
                            "state": "error",
                            "error_kind": "execution",
                            "message": "ZeroDivisionError: division by zero",
                            "signature": "ZeroDivisionError at spectra.py:process",
                            "traceback": TRACEBACK,
                            "reason": "first attempt",
                        },
                    )
            return ids

        # two done trains with merged outputs (compare), one running with issues
        done = tested([made["spectra"].id], ds.id)
        _train_test_files(root, done.id)
        run_jobs(
            done, [(RUNS[0], "done"), (RUNS[0], "done"), (RUNS[1], "done"), (RUNS[2], "failed")]
        )
        base = root / "trains" / str(done.id) / "merged"
        for run in RUNS[:2]:
            _spectrum(base / "runs" / str(run) / "AnalysisResults.root", 2000, run)
        _spectrum(base / "mergelists" / "first-two" / "AnalysisResults.root", 4000, 1)
        _spectrum(base / "final" / "AnalysisResults.root", 4000, 1)
        transition(done, TrainState.MERGING, actor=None, cause=BY_TEST)
        transition(done, TrainState.DONE, actor=None, cause=BY_TEST)
        done.output_dir = str(base / "final" / "AnalysisResults.root")

        other = tested([made["spectra_wide"].id], ds.id)
        run_jobs(other, [(RUNS[0], "done"), (RUNS[1], "done"), (RUNS[2], "done")])
        obase = root / "trains" / str(other.id) / "merged"
        _spectrum(obase / "final" / "AnalysisResults.root", 4000, 1, scale=2.5)
        transition(other, TrainState.MERGING, actor=None, cause=BY_TEST)
        transition(other, TrainState.DONE, actor=None, cause=BY_TEST)

        issues = tested([made["spectra_new"].id], ds.id, TestStatus.WARNING)
        failing = run_jobs(issues, [(RUNS[0], "done"), (RUNS[1], "failed"), (RUNS[2], "failed")])

        composed = trains.compose_train(
            s, op, short.id, [made["spectra"].id, made["spectra_wide"].id], target_id=target.id
        )
        short_done = tested([made["spectra_new"].id], short.id)
        trains.submit_train(s, op, short_done.id)
        for st in (TrainState.RUNNING, TrainState.DONE):
            transition(short_done, st, actor=None, cause=BY_TEST)
        long_train = trains.request_long_train(s, alice, short_done.id)
        trains.add_comment(s, alice, done.id, "Looks good, thanks!")
        s.flush()
        world.ids.update(
            analysis=lf.id,
            dataset=ds.id,
            short_dataset=short.id,
            target=target.id,
            done=done.id,
            other=other.id,
            issues=issues.id,
            failed_job=failing[1],
            composed=composed.id,
            short_done=short_done.id,
            long_train=long_train.id,
            wagon=made["spectra"].id,
        )
    engine.dispose()
    return world
