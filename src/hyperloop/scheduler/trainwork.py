"""The shell's part for submitted trains: split into jobs, submit attempts on the engine,
record verdicts, resubmit, reconcile, merge per run and finally, mark done.

Kept in this process: the validated attempt records and per-run merge records (what the
merges read). After a scheduler restart the records are read back from the attempt
folders (``record.json``) and runs are merged again; jobs the engine lost are requeued by
the core (new attempt, new folder). The target of each attempt is written to ``jobs.target``
in the transaction that submits it, so a restarted scheduler keeps a job on the target a
retry moved it to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core import jobs as jobs_service
from hyperloop.core.configs import effective_subwagon
from hyperloop.core.enums import JobState, TrainState, TrainType
from hyperloop.core.states import transition
from hyperloop.db.models import DatasetFile, Job, PackageTag, Production, TrainRun
from hyperloop.grid.engine import Engine
from hyperloop.grid.execute import AttemptRecord, attempt_folder
from hyperloop.grid.merging import MergeRecord, MergeStageError, Storage, final_merge, merge_run
from hyperloop.grid.splitting import JobSpec, split_catalogue
from hyperloop.grid.targets import Target
from hyperloop.scheduler import core


def train_config(train: TrainRun, tag: PackageTag) -> dict[str, Any]:
    """``full_config.json`` of a train: every wagon's dependencies (once each), the wagons
    and their subwagons, as frozen at composition."""
    entries: list[dict[str, Any]] = []
    seen: set[int] = set()

    def add(w: Mapping[str, Any], suffix: str = "", conf: Mapping | None = None) -> None:
        entries.append(
            {
                "workflow_name": w["workflow"],
                "suffix": suffix,
                "wagon_id": w["wagon_id"],
                "configuration": dict(conf if conf is not None else w.get("base_config") or {}),
            }
        )

    for w in train.wagons_snapshot:
        for dep in w.get("dependency_snapshots", []):
            if dep["wagon_id"] not in seen:
                seen.add(dep["wagon_id"])
                add(dep)
    for w in train.wagons_snapshot:
        if w["wagon_id"] in seen:
            continue
        seen.add(w["wagon_id"])
        add(w)
        for name, overrides in sorted((w.get("subwagons") or {}).items()):
            add(w, name, effective_subwagon(w.get("base_config") or {}, overrides))
    config = {"package_tag": f"{tag.name}-{tag.version}", "workflows": entries}
    if train.train_type is not TrainType.ANALYSIS:  # derived trains write their tables
        config.update(
            derived_output(t for w in train.wagons_snapshot for t in w.get("derived_tables") or ())
        )
    return config


def derived_output(tables: Iterable[str]) -> dict[str, Any]:
    """The full_config keys that make a run write ``tables`` to a derived AO2D (none: {})."""
    names = list(dict.fromkeys(tables))
    if not names:
        return {}
    return {
        "derived_data": True,
        "OutputDirector": {"OutputDescriptors": [{"table": t} for t in names]},
    }


def _merge_kind(train: TrainRun) -> str:
    """The merge stages' train type: derived AO2D is kept per job (linked), merged per run
    (standard) or merged over the dataset (slim); analysis trains have none (SPEC §5)."""
    return str(train.train_type.value).removesuffix("_derived")


@dataclass
class TrainWork:
    """Engine futures and records of train jobs; ``perform`` returns False for others."""

    engine: Engine
    targets: Mapping[str, Target]
    work_dir: Path
    package_dir: str | None = None
    max_files_per_job: int = 10
    futures: dict[int, Any] = field(default_factory=dict)  # job id -> future
    records: dict[int, AttemptRecord] = field(default_factory=dict)  # validated, per job
    run_merges: dict[int, dict[int, MergeRecord]] = field(default_factory=dict)
    flagged: set[int] = field(default_factory=set)
    pending: list[core.Event] = field(default_factory=list)  # events produced synchronously

    def engine_keys(self) -> set[tuple[str, int]]:
        return {("job", j) for j in self.futures}

    def collect(self) -> list[core.Event]:
        events, self.pending = self.pending, []
        for job_id in [j for j, f in self.futures.items() if f.done()]:
            future = self.futures.pop(job_id)
            try:
                rec: AttemptRecord = future.result()
            except Exception as exc:  # the engine gave up on it (e.g. KilledWorker)
                events.append(
                    core.JobFinished(job_id, attempt=0, error_kind="lost", message=repr(exc))
                )
                continue
            if rec.ok:
                self.records[job_id] = rec
            events.append(
                core.JobFinished(
                    job_id,
                    attempt=rec.attempt,
                    error_kind=rec.error_kind if not rec.ok else "",
                    message=rec.message,
                    signature=rec.signature,
                    cpu_s=rec.cpu_s,
                    wall_s=rec.wall_s,
                    site=rec.host,
                )
            )
        return events

    def perform(self, s: Session, ins: core.Instruction) -> bool:
        match ins:
            case core.SplitTrain(train_id):
                self._split(s, train_id)
            case core.SubmitJob(job_id, target):
                self._submit(s, job_id, target, "first attempt")
            case core.FinishJob(job_id, state, message, signature, cpu_s, wall_s, site):
                fields: dict[str, Any] = {"cpu_s": cpu_s, "wall_s": wall_s, "site": site[:128]}
                if state is not JobState.DONE:
                    fields.update(error_signature=signature[:64], error_message=message)
                jobs_service.set_job_state(s, job_id, state, **fields)
            case core.ResubmitJob(job_id, target, reason):
                jobs_service.set_job_state(s, job_id, JobState.WAITING, reason=reason)
                self._submit(s, job_id, target, reason)
            case core.MarkLost("job", job_id, reason):
                jobs_service.set_job_state(s, job_id, JobState.LOST, reason=reason)
            case core.RequeueLost("job", job_id, reason, _target):
                jobs_service.set_job_state(s, job_id, JobState.WAITING, reason=reason)
            case core.StartRunMerge(train_id, run):
                self._merge_run(s, train_id, run)
            case core.StartFinalMerge(train_id, runs, missing):
                self._final_merge(s, train_id, runs, missing)
            case core.MarkTrainDone(train_id):
                transition(s.get(TrainRun, train_id), TrainState.DONE, actor=None)
            case core.FlagTrainWithIssues(train_id, _why):
                self.flagged.add(train_id)
            case _:
                return False
        return True

    def _split(self, s: Session, train_id: int) -> None:
        train = s.get(TrainRun, train_id)
        catalogue: dict[int, list[tuple[str, int]]] = {}
        for f in s.scalars(
            select(DatasetFile)
            .join(Production, Production.id == DatasetFile.production_id)
            .where(Production.dataset_id == train.dataset_id)
            .order_by(DatasetFile.run_number, DatasetFile.path)
        ):
            catalogue.setdefault(f.run_number, []).append((f.path, int(f.size)))
        masters = split_catalogue(catalogue, max_files=self.max_files_per_job)
        specs = [jobs_service.JobSpec(j.run, j.files) for m in masters for j in m.jobs]
        if train.state is TrainState.SUBMITTED:
            transition(train, TrainState.RUNNING, actor=None, reason="split into jobs")
        jobs_service.add_jobs(s, train_id, specs)

    def _storage(self, train_id: int) -> Storage:
        return Storage(self.work_dir / "trains" / str(train_id) / "merged")

    def _submit(self, s: Session, job_id: int, target_name: str, reason: str) -> None:
        job = jobs_service.set_job_state(s, job_id, JobState.RUNNING, reason=reason)
        train = s.get(TrainRun, job.train_run_id)
        tag = s.get(PackageTag, train.tag_id)
        package = tag.artifact if tag.artifact and Path(tag.artifact).is_dir() else None
        spec = JobSpec(f"job-{job.id}", job.run_number, 0, tuple(job.files))
        job.target = target_name  # same transaction as RUNNING: read back after a restart
        self.futures[job.id] = self.engine.submit(
            spec,
            train_config(train, tag),
            self.targets[target_name],
            self.work_dir / "trains" / str(train.id) / "jobs",
            job.attempts,  # one folder per attempt: the counter grew with RUNNING
            package_dir=package or self.package_dir,
            reason=reason,
        )

    def _record(self, job: Job) -> AttemptRecord:
        """The validated attempt of a done job; after a restart, read from its folder."""
        if job.id in self.records:
            return self.records[job.id]
        jobs_dir = self.work_dir / "trains" / str(job.train_run_id) / "jobs"
        for n in range(job.attempts, 0, -1):
            path = attempt_folder(jobs_dir, f"job-{job.id}", n) / "record.json"
            try:
                rec = AttemptRecord.from_dict(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue
            if rec.ok:
                self.records[job.id] = rec
                return rec
        raise MergeStageError(f"job {job.id} is done but no validated attempt is in {jobs_dir}")

    def _merge_run(self, s: Session, train_id: int, run: int) -> None:
        jobs = s.scalars(select(Job).where(Job.train_run_id == train_id, Job.run_number == run))
        records = [self._record(j) for j in jobs]
        kind = _merge_kind(s.get(TrainRun, train_id))
        rec = merge_run(run, records, self._storage(train_id), train_type=kind)
        self.run_merges.setdefault(train_id, {})[run] = rec

    def _final_merge(
        self, s: Session, train_id: int, runs: tuple[int, ...], missing: tuple[int, ...] = ()
    ) -> None:
        """Merge the per-run outputs of ``runs``; ``missing`` runs are listed in the merge
        record (an operator's final merge). On an operator's request the train's jobs still
        running are stopped and recorded lost: their runs are not in the merge."""
        train = s.get(TrainRun, train_id)
        requested = train.final_merge_requested_at is not None
        if train.state is not TrainState.MERGING:  # MERGING: redone after a restart
            reason = "final merge"
            if requested:
                reason = (
                    f"final merge requested by an operator: runs {_runs_text(runs)} merged, "
                    f"runs {_runs_text(missing)} missing"
                )
            transition(train, TrainState.MERGING, actor=None, reason=reason)
        if requested:
            self._stop_unfinished(s, train_id)
        merges = self.run_merges.get(train_id, {})
        try:
            rec = final_merge(
                merges,
                self._storage(train_id),
                runs=(*runs, *missing),
                train_type=_merge_kind(train),
            )
        except Exception as exc:  # a failure is a record: the train is flagged
            self.pending.append(core.FinalMerged(train_id, error=f"{type(exc).__name__}: {exc}"))
            return
        train.output_dir = rec.outputs.get("AnalysisResults") or str(self._storage(train_id).url)
        self.pending.append(core.FinalMerged(train_id))

    def merged_runs(self, train_id: int) -> frozenset[int]:
        return frozenset(self.run_merges.get(train_id, {}))

    def _stop_unfinished(self, s: Session, train_id: int) -> None:
        """Cancel the engine futures of the train's running jobs and record them lost (the
        operator's final merge went ahead without them); waiting jobs stay waiting."""
        running = s.scalars(
            select(Job).where(Job.train_run_id == train_id, Job.state == JobState.RUNNING)
        )
        for job in running:
            future = self.futures.pop(job.id, None)
            if future is not None:
                future.cancel()
            why = "not merged: the operator's final merge went ahead without this job"
            jobs_service.set_job_state(s, job.id, JobState.LOST, reason=why, error_message=why)


def _runs_text(runs: tuple[int, ...]) -> str:
    return ", ".join(str(r) for r in runs) if runs else "none"
