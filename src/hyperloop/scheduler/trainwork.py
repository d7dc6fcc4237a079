"""The shell's part for submitted trains: split into jobs, submit attempts on the engine,
record verdicts, resubmit, reconcile, merge per run and finally, mark done.

Kept in this process: the validated attempt records and per-run merge records (what the
merges read). After a scheduler restart the records are read back from the attempt
folders (``record.json``) and runs are merged again. A job the database says runs but this
process never submitted is judged by its attempt folder (``reconcile``): a verdict there
(``record.json``) is adopted, done or failed, never run again; an attempt still alive (its
heartbeat is recent: a worker of an external cluster still runs it) is watched until its
verdict appears; no folder means the attempt was only queued in the engine and never began:
it goes back to the queue without using an attempt; a folder without verdict or heartbeat
is a lost attempt (counted, retried by the core). The target of each attempt is written to ``jobs.target``
in the transaction that submits it, so a restarted scheduler keeps a job on the target a
retry moved it to.

Side effects outside the database (engine submissions, merge records, flags) are queued in
``after_commit`` and run by ``committed()`` once the transaction that decided them has
committed; ``rolled_back()`` drops them. So a rolled-back transaction (one instruction of a
batch failed) leaves no attempt on the engine that the database does not know about.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hyperloop.analysis.spec import FullConfig
from hyperloop.core import datasets as datasets_service
from hyperloop.core import jobs as jobs_service
from hyperloop.core.full_config import build_full_config
from hyperloop.core.states import transition
from hyperloop.core.storage_roots import StorageRootError, StorageRoots
from hyperloop.core.story import Cause
from hyperloop.core.tags import code_folder
from hyperloop.db.models import DatasetFile, Job, PackageTag, Production, TrainMerge, TrainRun
from hyperloop.db.models import Target as DbTarget
from hyperloop.enums import JobState, TrainState
from hyperloop.grid import store
from hyperloop.grid.engine import Engine
from hyperloop.grid.execute import (
    STOP_FILE,
    AttemptRecord,
    attempt_alive,
    attempt_folder,
    read_record,
    signature_from_traceback,
)
from hyperloop.grid.merging import (
    MergeRecord,
    MergeStageError,
    Storage,
    merge_final_stages,
    merge_run,
)
from hyperloop.grid.partial import events_of, merge_partial, remove_partial
from hyperloop.grid.splitting import JobSpec, split_catalogue
from hyperloop.grid.staging import staged_path
from hyperloop.grid.targets import Target
from hyperloop.scheduler import decide

log = logging.getLogger(__name__)
_JOB_MOVES = (
    decide.SubmitJob,
    decide.FinishJob,
    decide.ResubmitJob,
    decide.MarkLost,
    decide.RequeueLost,
    decide.ReturnToQueue,
    decide.MarkStarted,
)
_BATCHABLE = (*_JOB_MOVES, decide.StartRunMerge, decide.MarkTrainDone, decide.FlagTrainWithIssues)


def batchable(ins: decide.Instruction) -> bool:
    """Whether ``TrainWork.perform`` may run ``ins`` with many others in one transaction:
    database writes only, side effects deferred to ``committed()`` (engine submissions,
    in-memory merge records). Lost tests are the shell's (they submit at once)."""
    if isinstance(ins, (decide.MarkLost, decide.RequeueLost)):
        return ins.kind == "job"
    return isinstance(ins, _BATCHABLE)


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
    storage_roots: StorageRoots | None = None  # None: catalogue paths not checked again
    # where job attempts and merges are stored: a folder or an fsspec URL (s3://...);
    # empty: work_dir (see hyperloop.grid.store)
    storage_url: str = ""
    futures: dict[int, Any] = field(default_factory=dict)  # job id -> future
    attempt_of: dict[int, int] = field(default_factory=dict)  # job id -> attempt of its future
    train_of: dict[int, int] = field(default_factory=dict)  # job id -> train of its future
    # attempts found alive in their folder with no future of this process (after a
    # restart): job id -> (train id, attempt), watched until their verdict is written
    orphans: dict[int, tuple[int, int]] = field(default_factory=dict)
    records: dict[int, AttemptRecord] = field(default_factory=dict)  # validated, per job
    run_merges: dict[int, dict[int, MergeRecord]] = field(default_factory=dict)
    flagged: set[int] = field(default_factory=set)
    flagged_at: dict[int, datetime] = field(default_factory=dict)  # when (see unflag_retried)
    pending: list[decide.Event] = field(default_factory=list)  # events produced synchronously
    # side effects of the open transaction, run by committed() (dropped by rolled_back())
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    # per train: (its typed spec, package folder), rebuilt every tick (forget_configs)
    configs: dict[int, tuple[FullConfig, str | None]] = field(default_factory=dict)
    moves: jobs_service.JobMoves | None = None  # the open batch's job moves (batch())
    # per train, rebuilt every tick: merge type, storage, and the jobs of the runs the open
    # batch merges (run -> [(job id, attempts)], read once per train)
    kinds: dict[int, str] = field(default_factory=dict)
    storages: dict[int, Storage] = field(default_factory=dict)
    merge_jobs: dict[int, dict[int, list[tuple[int, int]]]] = field(default_factory=dict)
    merge_runs: dict[int, set[int]] = field(default_factory=dict)
    scratch_cleaned: set[int] = field(default_factory=set)  # trains whose storage was cleaned
    # live partial results (grid.partial): seconds between two merges of a train (0: none),
    # per train the done jobs of its last partial merge and when, events per input file
    partial_every: float = 0.0
    partial_done: dict[int, frozenset[int]] = field(default_factory=dict)
    partial_at: dict[int, float] = field(default_factory=dict)
    events_cache: dict[str, int] = field(default_factory=dict)
    # per train and run: the done jobs of its partial per-run merge, and that merge
    partial_runs: dict[int, dict[int, tuple[frozenset[int], MergeRecord]]] = field(
        default_factory=dict
    )
    partial_closed: set[int] = field(default_factory=set)  # final merge done: no more
    # per train: runs whose merge failed in this process (not tried again until a restart;
    # the train is flagged once, the error recorded in its merge row)
    failed_runs: dict[int, dict[int, str]] = field(default_factory=dict)
    # per train (with the configs): the content hash of its tag, checked where the job runs
    # when the tag is fetched from a remote storage
    digests: dict[int, str] = field(default_factory=dict)
    publish_failed: set[str] = field(default_factory=set)  # tags whose upload failed (logged)

    def _train_store(self, train_id: int, *parts: str) -> str:
        """``<storage>/trains/<id>/<parts>``: a path or a URL."""
        return store.join(self.storage_url or self.work_dir, "trains", str(train_id), *parts)

    def engine_keys(self) -> set[tuple[str, int]]:
        return {("job", j) for j in (*self.futures, *self.orphans)}

    def collect(self) -> list[decide.Event]:
        events, self.pending = self.pending, []
        started = getattr(self.engine, "started_attempts", None)
        for msg in started() if started is not None else ():
            job_id = _job_number(msg.get("job_id", ""))
            if job_id is not None and self.attempt_of.get(job_id) == msg.get("attempt"):
                events.append(decide.JobStarted(job_id, str(msg.get("host", ""))[:128]))
        for job_id in [j for j, f in self.futures.items() if f.done()]:
            future = self.futures.pop(job_id)
            attempt = self.attempt_of.pop(job_id, 0)
            self.train_of.pop(job_id, None)
            try:
                rec: AttemptRecord = future.result()
            except Exception as exc:  # the attempt raised (disk full), or its worker died
                tb = None
                with contextlib.suppress(Exception):  # the worker's traceback, when sent
                    tb = future.traceback()
                events.append(_raised(job_id, attempt, exc, tb))
                continue
            events.append(self._finished(job_id, rec))
        for job_id, (train_id, attempt) in list(self.orphans.items()):
            folder = self._attempt_dir(train_id, job_id, attempt)
            rec = read_record(folder)
            if rec is not None:
                del self.orphans[job_id]
                events.append(self._finished(job_id, rec))
            elif not attempt_alive(folder):
                del self.orphans[job_id]
                events.append(_interrupted(job_id, attempt, folder))
        return events

    def _finished(self, job_id: int, rec: AttemptRecord) -> decide.JobFinished:
        if rec.ok:
            missing = [p for p in rec.outputs.values() if not store.exists(p)]
            if missing:  # e.g. written on a worker's own disk: never done, retried elsewhere
                message = (
                    f"attempt {rec.attempt} on {rec.host or 'a worker'} validated but "
                    f"{len(missing)} of its {len(rec.outputs)} outputs cannot be found from the "
                    f"scheduler (first: {missing[0]}); is the storage shared with the workers?"
                )
                return decide.JobFinished(
                    job_id, rec.attempt, "system", message, "OutputNotFound", site=rec.host
                )
            self.records[job_id] = rec
        return decide.JobFinished(
            job_id,
            attempt=rec.attempt,
            error_kind=rec.error_kind if not rec.ok else "",
            message=rec.message,
            signature=rec.signature,
            cpu_s=rec.cpu_s,
            wall_s=rec.wall_s,
            site=rec.host,
            bytes_read=rec.bytes_read,
        )

    def _attempt_dir(self, train_id: int, job_id: int, attempt: int) -> Path | str:
        return attempt_folder(self._train_store(train_id, "jobs"), f"job-{job_id}", attempt)

    def stop_others(self, scheduled: Iterable[int]) -> list[int]:
        """Stop the attempts of trains no longer scheduled (killed, closed): a stop file in
        each attempt folder makes the attempt kill its processes (on whatever worker); the
        futures and watched orphans are forgotten. Returns the jobs stopped."""
        keep = set(scheduled)
        stopped = []
        running = [(j, self.train_of.get(j), self.attempt_of.get(j)) for j in self.futures]
        running += [(j, t, a) for j, (t, a) in self.orphans.items()]
        for job_id, train_id, attempt in running:
            if train_id is None or attempt is None or train_id in keep:
                continue
            folder = self._attempt_dir(train_id, job_id, attempt)
            with contextlib.suppress(OSError):  # not begun: cancelling the future suffices
                if store.exists(folder):
                    why = f"train {train_id} is no longer scheduled\n"
                    store.write_bytes(store.join(folder, STOP_FILE), why.encode())
            future = self.futures.pop(job_id, None)
            if future is not None:
                future.cancel()
            self.orphans.pop(job_id, None)
            self.attempt_of.pop(job_id, None)
            self.train_of.pop(job_id, None)
            stopped.append(job_id)
        return stopped

    def reconcile(self, trains: Iterable[decide.TrainView]) -> list[decide.Event]:
        """Judge, by its attempt folder, each job the database says runs and this process
        neither submitted nor watches (see the module doc); the alive ones become orphans."""
        events: list[decide.Event] = []
        for train in trains:
            for job in train.jobs:
                if (
                    job.state is not JobState.RUNNING
                    or job.id in self.futures
                    or job.id in self.orphans
                ):
                    continue
                folder = self._attempt_dir(train.id, job.id, job.attempts)
                rec = read_record(folder)
                if rec is not None:  # finished while no scheduler listened: adopted
                    events.append(self._finished(job.id, rec))
                elif not store.exists(folder):
                    why = (
                        f"job {job.id}: attempt {job.attempts} was queued in an engine that is "
                        "gone and never began: queued again, no attempt used"
                    )
                    events.append(decide.JobNotStarted(job.id, why))
                elif attempt_alive(folder):
                    self.orphans[job.id] = (train.id, job.attempts)
                    events.append(decide.JobStarted(job.id, _host_of(folder)))
                else:
                    events.append(_interrupted(job.id, job.attempts, folder))
        return events

    def committed(self) -> None:
        """Run the side effects of the instructions whose transaction just committed."""
        actions, self.after_commit = self.after_commit, []
        for action in actions:
            action()

    def rolled_back(self) -> None:
        """Forget the side effects of a transaction that was rolled back."""
        self.after_commit = []

    def forget_configs(self) -> None:
        """Drop the cached specs (once per tick: a tag's artifact may appear)."""
        self.configs.clear()
        self.digests.clear()
        self.kinds.clear()
        self.storages.clear()

    @contextmanager
    def batch(self, s: Session, instructions: Iterable[decide.Instruction]) -> Iterator[None]:
        """Perform the job moves of the instructions inside through ``JobMoves``: their
        jobs are read in a few queries, moved in memory and written at the end (and before
        any other instruction, which may read them)."""
        instructions = list(instructions)
        moves = jobs_service.JobMoves(s)
        ids = [_job_id(i) for i in instructions if isinstance(i, _JOB_MOVES)]
        submits = [
            i.job_id for i in instructions if isinstance(i, decide.SubmitJob | decide.ResubmitJob)
        ]
        moves.load(ids, files=submits)
        self.moves = moves
        for i in instructions:
            if isinstance(i, decide.StartRunMerge):
                self.merge_runs.setdefault(i.train_id, set()).add(i.run)
        try:
            yield
            moves.flush()
        finally:
            self.moves = None
            self.merge_runs.clear()
            self.merge_jobs.clear()

    def _move(
        self, s: Session, job_id: int, to: JobState, cause: Cause, **fields: Any
    ) -> Job | jobs_service.JobRow:
        if self.moves is not None:
            return self.moves.move(job_id, to, cause=cause, **fields)
        return jobs_service.set_job_state(s, job_id, to, cause=cause, **fields)

    def perform(self, s: Session, ins: decide.Instruction, cause: Cause) -> bool:
        """Perform ``ins`` (its moves recorded with ``cause``); False: not a train's."""
        if self.moves is not None and not isinstance(ins, _JOB_MOVES):
            self.moves.flush()  # what follows may read jobs
        match ins:
            case decide.SplitTrain(train_id):
                self._split(s, train_id, cause)
            case decide.SubmitJob(job_id, target):
                self._submit(s, job_id, target, "first attempt", cause)
            case decide.FinishJob(
                job_id, state, message, signature, cpu_s, wall_s, site, bytes_read
            ):
                fields: dict[str, Any] = {
                    "cpu_s": cpu_s,
                    "wall_s": wall_s,
                    "site": site[:128],
                    "bytes_read": int(bytes_read),
                }
                if state is JobState.DONE:  # an earlier attempt's error is no longer the job's
                    fields.update(error_signature=None, error_message=None)
                else:
                    fields.update(
                        error_signature=(signature or state.value)[:64],
                        error_message=message or f"attempt ended {state.value}",
                    )
                self._move(s, job_id, state, cause, **fields)
            case decide.ResubmitJob(job_id, target, reason):
                self._move(s, job_id, JobState.WAITING, cause)
                self._submit(s, job_id, target, reason, cause)
            case decide.MarkLost("job", job_id, reason):
                self._move(
                    s,
                    job_id,
                    JobState.LOST,
                    cause,
                    error_signature="LostWorker",
                    error_message=reason,
                )
            case decide.ReturnToQueue(job_id, _reason):
                self._move(s, job_id, JobState.WAITING, cause)
            case decide.MarkStarted(job_id, site):
                if self.moves is not None:
                    self.moves.set_fields(job_id, site=site)
                else:
                    jobs_service.set_job_fields(s, job_id, site=site)
            case decide.RequeueLost("job", job_id, _reason, _target):
                self._move(s, job_id, JobState.WAITING, cause)
            case decide.StartRunMerge(train_id, run):
                self._merge_run(s, train_id, run)
            case decide.StartFinalMerge(train_id, runs, missing):
                self._final_merge(s, train_id, runs, missing, cause)
            case decide.MarkTrainDone(train_id):
                train = s.get(TrainRun, train_id)
                if train is None:
                    raise MergeStageError(f"train run {train_id} to mark done does not exist")
                transition(train, TrainState.DONE, actor=None, cause=cause)
            case decide.FlagTrainWithIssues(train_id, _why):
                self.after_commit.append(lambda: self._flag(train_id))
            case _:
                return False
        return True

    def _split(self, s: Session, train_id: int, cause: Cause) -> None:
        train = s.get(TrainRun, train_id)
        catalogue: dict[int, list[tuple[str, int]]] = {}
        stmt = (
            select(DatasetFile.run_number, DatasetFile.path, DatasetFile.size, Production.id)
            .join(Production, Production.id == DatasetFile.production_id)
            .where(Production.dataset_id == train.dataset_id)
            .order_by(DatasetFile.run_number, DatasetFile.path)
        )
        if train.increment_runs is not None:  # an incremental train: its new runs only
            stmt = stmt.where(DatasetFile.run_number.in_([int(r) for r in train.increment_runs]))
        # a production's excluded runs are not the dataset's (``core.datasets.runs_of``)
        excluded = {
            pid: {int(r) for r in runs or []}
            for pid, runs in s.execute(
                select(Production.id, Production.excluded_runs).where(
                    Production.dataset_id == train.dataset_id
                )
            )
        }
        for run, path, size, production_id in s.execute(stmt):
            if run not in excluded.get(production_id, ()):
                catalogue.setdefault(run, []).append((path, int(size)))
        if self.storage_roots is not None:
            try:
                for files in catalogue.values():
                    for path, _ in files:
                        # a catalogue entry from before the roots were checked (or a root
                        # removed since): the train is not split; the error names the file
                        self.storage_roots.check(path)
            except StorageRootError as exc:  # once, as a record: the train is flagged
                event = decide.SplitFailed(train_id, str(exc))
                self.after_commit.append(lambda: self.pending.append(event))
                return
        # a dataset staged to the facility of the train's target: its jobs read the copies
        db_target = s.get(DbTarget, train.target_id) if train.target_id is not None else None
        staged = (
            datasets_service.staged_copy(s, train.dataset_id, db_target.name)
            if db_target is not None
            else None
        )
        if staged is not None:
            catalogue = {
                run: [(staged_path(staged, run, path), size) for path, size in files]
                for run, files in catalogue.items()
            }
        masters = split_catalogue(catalogue, max_files=self.max_files_per_job)
        specs = [jobs_service.JobSpec(j.run, j.files) for m in masters for j in m.jobs]
        if train.state is TrainState.SUBMITTED:
            transition(train, TrainState.RUNNING, actor=None, cause=cause)
        why = f"train run {train_id} split into jobs"
        if staged is not None:
            why += f" reading the copy staged to {db_target.name} ({staged})"
        created = Cause(cause.stimulus, "split", why)
        jobs_service.add_jobs(s, train_id, specs, cause=created)

    def _storage(self, train_id: int) -> Storage:
        if train_id not in self.storages:
            storage = Storage(self._train_store(train_id, "merged"))
            if train_id not in self.scratch_cleaned:  # first merge of the train here
                removed = storage.clean_scratch()
                if removed:
                    log.info("train %s: removed what killed merges left: %s", train_id, removed)
                self.scratch_cleaned.add(train_id)
            self.storages[train_id] = storage
        return self.storages[train_id]

    def _kind(self, s: Session, train_id: int) -> str:
        if train_id not in self.kinds:
            train = s.get(TrainRun, train_id)
            if train is None:
                raise MergeStageError(f"train run {train_id} to merge does not exist")
            self.kinds[train_id] = _merge_kind(train)
        return self.kinds[train_id]

    def _run_jobs(self, s: Session, train_id: int, run: int) -> list[tuple[int, JobState, int]]:
        """(job id, state, attempts) of a run's jobs. In a batch, the runs of every merge of
        the train are read at its first merge (done jobs are final: they do not move)."""
        runs = self.merge_runs.get(train_id, set())
        cols = (Job.run_number, Job.id, Job.state, Job.attempts)
        if run not in runs:
            stmt = select(*cols).where(Job.train_run_id == train_id, Job.run_number == run)
            return [(job_id, state, n) for _, job_id, state, n in s.execute(stmt)]
        if train_id not in self.merge_jobs:
            found: dict[int, list[tuple[int, JobState, int]]] = {r: [] for r in runs}
            stmt = select(*cols).where(
                Job.train_run_id == train_id, Job.run_number.in_(sorted(runs))
            )
            for number, job_id, state, n in s.execute(stmt):
                found[number].append((job_id, state, n))
            self.merge_jobs[train_id] = found
        return self.merge_jobs[train_id][run]

    def _config(self, s: Session, train_id: int) -> tuple[FullConfig, str | None]:
        """(typed spec, package folder or None) of a train, built once per tick."""
        if train_id not in self.configs:
            train = s.get(TrainRun, train_id)
            tag = s.get(PackageTag, train.tag_id)
            package, digest = self.tag_package(tag)
            if digest:
                self.digests[train_id] = digest
            self.configs[train_id] = (build_full_config(train, tag), package)
        return self.configs[train_id]

    def tag_package(self, tag: PackageTag) -> tuple[str | None, str]:
        """(package, content hash to check where it runs) of a tag's attempts (a train's
        jobs, a wagon or train test): its artifact folder and "" on a local storage (None:
        the installed package; a folder missing where the attempt runs fails it, naming
        the folder); with a remote storage the URL of the tag published there and its
        hash, which the worker checks after fetching it."""
        package = code_folder(tag.artifact)
        if package and Path(package).is_dir() and store.is_remote(self.storage_url):
            return self._published(package, tag.digest)
        return package, ""

    def _published(self, folder: str, digest: str | None) -> tuple[str, str]:
        """(URL, content hash) of a tag folder published to the remote storage (uploaded
        once). An upload that fails is logged once; the URL is given anyway: the attempts
        fail fetching it (a grouped ``TagFetchError``), are retried and the train flagged."""
        from hyperloop.analysis.tags import tree_digest

        digest = digest or tree_digest(Path(folder))
        try:
            return store.publish_tag(folder, digest, self.storage_url), digest
        except Exception as exc:
            if digest not in self.publish_failed:
                self.publish_failed.add(digest)
                log.warning(
                    "package tag %s could not be published to %s: %r", folder, self.storage_url, exc
                )
            return store.join(self.storage_url, "tags", digest), digest

    def _submit(self, s: Session, job_id: int, target_name: str, reason: str, cause: Cause) -> None:
        """RUNNING (attempt counter + 1) and the job's target in this transaction; the
        attempt goes to the engine once it committed (``committed()``)."""
        target = self.targets[target_name]
        # no site until the attempt begins on a worker (JobStarted): queued, not running
        job = self._move(s, job_id, JobState.RUNNING, cause, site=None)
        if self.moves is not None:
            job = self.moves.get(job_id, files=True)
            self.moves.set_target(job_id, target_name)
        else:
            job.target = target_name  # same transaction as RUNNING: read back after a restart
        full_config, package = self._config(s, job.train_run_id)
        digest = self.digests.get(job.train_run_id, "") if package else ""
        spec = JobSpec(f"job-{job.id}", job.run_number, 0, tuple(job.files))
        train_dir = self._train_store(job.train_run_id, "jobs")
        attempt = job.attempts  # one folder per attempt: the counter grew with RUNNING

        def submit() -> None:
            self.orphans.pop(job_id, None)
            try:
                self.attempt_of[job_id] = attempt
                self.train_of[job_id] = job.train_run_id
                self.futures[job_id] = self.engine.submit(
                    spec,
                    full_config,
                    target,
                    train_dir,
                    attempt,
                    package_dir=package or self.package_dir,
                    reason=reason,
                    **({"package_digest": digest} if digest else {}),
                )
            except Exception as exc:  # refused (e.g. no worker has the cores): a lost attempt
                self.attempt_of.pop(job_id, None)
                log.warning("job %s attempt %s: the engine refused it: %r", job_id, attempt, exc)
                message = f"the engine refused attempt {attempt}: {exc!r}"
                self.pending.append(decide.JobFinished(job_id, attempt, "lost", message))

        self.after_commit.append(submit)

    def _record(self, job_id: int, train_id: int, attempts: int) -> AttemptRecord:
        """The validated attempt of a done job; after a restart, read from its folder."""
        if job_id in self.records:
            return self.records[job_id]
        jobs_dir = self._train_store(train_id, "jobs")
        for n in range(attempts, 0, -1):
            rec = read_record(attempt_folder(jobs_dir, f"job-{job_id}", n))
            if rec is not None and rec.ok:
                self.records[job_id] = rec
                return rec
        raise MergeStageError(f"job {job_id} is done but no validated attempt is in {jobs_dir}")

    def _merge_run(self, s: Session, train_id: int, run: int) -> None:
        """Merge a run whose jobs the database records done (a validated attempt counts
        only once recorded: a job moved elsewhere since the decision stops the merge)."""
        jobs = self._run_jobs(s, train_id, run)
        undone = [
            f"{job_id} ({state.value})" for job_id, state, _ in jobs if state is not JobState.DONE
        ]
        if undone:
            raise MergeStageError(
                f"train {train_id} run {run}: not merged, jobs not done: {', '.join(undone)}"
            )
        kind = self._kind(s, train_id)
        full_config, _package = self._config(s, train_id)
        try:
            records = [self._record(job_id, train_id, attempts) for job_id, _, attempts in jobs]
            rec = merge_run(
                run,
                records,
                self._storage(train_id),
                train_type=kind,
                max_file_bytes=int(full_config.max_derived_file_size or 0),
            )
        except Exception as exc:  # once, as a record: not tried again, the train flagged
            error = f"{type(exc).__name__}: {exc}"
            if len(error) > 500:
                error = error[:500] + "..."
            log.warning("train %s run %s: merge failed: %s", train_id, run, error)
            failed = MergeRecord(stage="run", name=str(run), runs_missing=[run])
            _record_merges(s, train_id, ("run",), [failed], error=error)
            event = decide.RunMergeFailed(train_id, run, error)

            def failed_once() -> None:
                self.failed_runs.setdefault(train_id, {})[run] = error
                self.pending.append(event)

            self.after_commit.append(failed_once)
            return
        _record_merges(s, train_id, ("run",), [rec])

        def keep() -> None:
            self.run_merges.setdefault(train_id, {})[run] = rec
            for job_id, _, _ in jobs:  # merged: the attempt records are no longer needed
                self.records.pop(job_id, None)

        self.after_commit.append(keep)

    def _final_merge(
        self,
        s: Session,
        train_id: int,
        runs: tuple[int, ...],
        missing: tuple[int, ...],
        cause: Cause,
    ) -> None:
        """Merge the per-run outputs of ``runs``; ``missing`` runs are listed in the merge
        record (an operator's final merge). On an operator's request the train's jobs still
        running are stopped and recorded lost: their runs are not in the merge."""
        train = s.get(TrainRun, train_id)
        requested = train.final_merge_requested_at is not None
        if train.state is not TrainState.MERGING:  # MERGING: redone after a restart
            why = cause.text
            if requested:
                why = (
                    f"final merge requested by an operator: runs {_runs_text(runs)} merged, "
                    f"runs {_runs_text(missing)} missing"
                )
            merging = Cause(cause.stimulus, cause.kind, why)
            transition(train, TrainState.MERGING, actor=None, cause=merging)
        if requested:
            self._stop_unfinished(s, train_id, cause)
        merges = self.run_merges.get(train_id, {})
        inherited: dict[int, MergeRecord] = {}
        if train.increment_of_id is not None:  # the lineage's per-run outputs, then its own
            inherited = _lineage_merges(s, train)
            merges = {**inherited, **merges}
        dataset = train.dataset_snapshot or {}
        later = ("mergelist", "final_mergelist", "final")
        try:
            recs = merge_final_stages(
                merges,
                self._storage(train_id),
                (*runs, *missing, *inherited),
                mergelists=dataset.get("mergelists") or [],
                final_mergelists=dataset.get("final_mergelists") or [],
                all_runs=bool(dataset.get("final_merge_all_runs", True)),
                train_type=_merge_kind(train),
            )
        except Exception as exc:  # a failure is a record: the train is flagged
            error = f"{type(exc).__name__}: {exc}"
            failed = MergeRecord(stage="final", name="final", runs_missing=[*runs, *missing])
            _record_merges(s, train_id, later, [failed], error=error)
            event = decide.FinalMerged(train_id, error=error)
            self.after_commit.append(lambda: self.pending.append(event))
            return
        _record_merges(s, train_id, later, recs)
        # the train's result: the final merge, else its first final mergelist or mergelist
        last = sorted(recs, key=lambda r: ("final", "final_mergelist", "mergelist").index(r.stage))
        found = [r.outputs["AnalysisResults"] for r in last if "AnalysisResults" in r.outputs]
        train.output_dir = found[0] if found else str(self._storage(train_id).url)
        self.after_commit.append(lambda: self.pending.append(decide.FinalMerged(train_id)))
        self.after_commit.append(lambda: self._drop_partial(train_id))

    def _drop_partial(self, train_id: int) -> None:
        """The final merge is done: the partial results are no longer shown, nor kept."""
        try:
            remove_partial(self.partial_folder(train_id))
        except OSError as exc:  # a remote storage that failed: the files stay, not shown
            log.warning("train %s: its partial results were not removed: %s", train_id, exc)
        self.partial_closed.add(train_id)
        self.partial_done.pop(train_id, None)
        self.partial_at.pop(train_id, None)
        self.partial_runs.pop(train_id, None)

    def partial_folder(self, train_id: int) -> str:
        """``<storage>/trains/<id>/partial``: a folder or a URL of the remote storage."""
        return self._train_store(train_id, "partial")

    def refresh_partials(self, s: Session, trains: Iterable[decide.TrainView]) -> list[int]:
        """Merge the outputs of the jobs finished so far of each running train whose done
        jobs changed since its last partial merge (at most every ``partial_every`` s) into
        its partial folder (``grid.partial``); the trains refreshed."""
        if self.partial_every <= 0:
            return []
        now = time.monotonic()
        out = []
        for train in trains:
            closed = train.id in self.partial_closed  # its final merge in this very tick
            if train.state is not TrainState.RUNNING or train.final_merge_started or closed:
                continue
            done = frozenset(j.id for j in train.jobs if j.state is JobState.DONE)
            if not done or done == self.partial_done.get(train.id):
                continue
            if now - self.partial_at.get(train.id, -1e18) < self.partial_every:
                continue
            self.partial_at[train.id] = now  # a failure is tried again after partial_every
            self._partial(s, train.id)
            self.partial_done[train.id] = done
            self.partial_at[train.id] = time.monotonic()
            out.append(train.id)
        return out

    def _partial(self, s: Session, train_id: int) -> None:
        rows = s.execute(
            select(Job.id, Job.run_number, Job.state, Job.attempts, Job.files).where(
                Job.train_run_id == train_id
            )
        ).all()
        jobs: dict[int, int] = {}
        files_done: dict[int, list[str]] = {}
        done: dict[int, list[tuple[int, int]]] = {}  # run -> (job id, attempts) of done jobs
        every: list[str] = []
        merged = self.run_merges.get(train_id, {})
        for job_id, run, state, attempts, files in rows:
            jobs[run] = jobs.get(run, 0) + 1
            every += list(files or [])
            if state is JobState.DONE:
                files_done.setdefault(run, []).extend(files or [])
                done.setdefault(run, []).append((job_id, attempts))
        before = self.partial_runs.get(train_id, {})
        reuse, records = {}, {}
        for run, ids in done.items():
            key = frozenset(j for j, _ in ids)
            if run in merged:
                continue
            if run in before and before[run][0] == key:  # unchanged: not merged again
                reuse[run] = before[run][1]
            else:
                records[run] = [self._record(j, train_id, n) for j, n in ids]
        events_done = {run: events_of(f, self.events_cache) for run, f in files_done.items()}
        _, per_run = merge_partial(
            self.partial_folder(train_id),
            records,
            {run: rec for run, rec in merged.items() if run in files_done},
            jobs=jobs,
            events_done=events_done,
            events_total=events_of(every, self.events_cache),
            reuse=reuse,
        )
        self.partial_runs[train_id] = {
            run: (frozenset(j for j, _ in done[run]), rec)
            for run, rec in per_run.items()
            if run not in merged
        }

    def _flag(self, train_id: int) -> None:
        self.flagged.add(train_id)
        self.flagged_at[train_id] = datetime.now(UTC)

    def unflag_retried(self, train_id: int, requested_at: datetime | None) -> None:
        """An operator asked for the final merge after the train was flagged (e.g. its final
        merge failed and the cause is fixed): the scheduler tries again."""
        at = self.flagged_at.get(train_id)
        if requested_at is not None and at is not None and requested_at > at:
            self.flagged.discard(train_id)
            self.flagged_at.pop(train_id, None)

    def merge_failed_runs(self, train_id: int) -> frozenset[int]:
        return frozenset(self.failed_runs.get(train_id, {}))

    def merged_runs(self, train_id: int) -> frozenset[int]:
        return frozenset(self.run_merges.get(train_id, {}))

    def _stop_unfinished(self, s: Session, train_id: int, cause: Cause) -> None:
        """Cancel the engine futures of the train's running jobs and record them lost (the
        operator's final merge went ahead without them); waiting jobs stay waiting."""
        running = s.scalars(
            select(Job).where(Job.train_run_id == train_id, Job.state == JobState.RUNNING)
        )
        stopped = []
        for job in running:
            stopped.append(job.id)
            why = "not merged: the operator's final merge went ahead without this job"
            stop = Cause(cause.stimulus, "final-merge", why)
            jobs_service.set_job_state(s, job.id, JobState.LOST, cause=stop, error_message=why)

        def cancel() -> None:
            for job_id in stopped:
                future = self.futures.pop(job_id, None)
                self.attempt_of.pop(job_id, None)
                self.train_of.pop(job_id, None)
                if future is not None:
                    future.cancel()

        self.after_commit.append(cancel)


def _lineage_merges(s: Session, train: TrainRun) -> dict[int, MergeRecord]:
    """The per-run merges of the train runs an incremental train adds its runs to (from
    their recorded merges: nearest first), as the merge stages read them; the increment's
    final stages read these outputs unchanged (their jobs are not run again)."""
    out: dict[int, MergeRecord] = {}
    seen = {train.id}
    parent_id = train.increment_of_id
    while parent_id is not None and parent_id not in seen:
        seen.add(parent_id)
        rows = s.scalars(
            select(TrainMerge).where(
                TrainMerge.train_run_id == parent_id,
                TrainMerge.stage == "run",
                TrainMerge.state == "done",
            )
        )
        for row in rows:
            run = int(row.name)
            if run not in out and row.runs_merged:
                out[run] = MergeRecord(
                    stage="run",
                    name=row.name,
                    outputs=dict(row.outputs or {}),
                    runs_merged=[int(r) for r in row.runs_merged],
                )
        parent = s.get(TrainRun, parent_id)
        parent_id = parent.increment_of_id if parent is not None else None
    return out


def _record_merges(
    s: Session,
    train_id: int,
    stages: tuple[str, ...],
    recs: list[MergeRecord],
    *,
    error: str | None = None,
) -> None:
    """Replace the train's merge rows of ``stages`` (of the merged names only for per-run
    merges) by ``recs``: a merge redone after a restart overwrites its row."""
    stmt = delete(TrainMerge).where(
        TrainMerge.train_run_id == train_id, TrainMerge.stage.in_(stages)
    )
    if stages == ("run",):
        stmt = stmt.where(TrainMerge.name.in_([r.name for r in recs]))
    s.execute(stmt)
    for rec in recs:
        s.add(
            TrainMerge(
                train_run_id=train_id,
                stage=rec.stage,
                name=rec.name[:128],
                state="failed" if error else "done",
                error=error,
                outputs=dict(rec.outputs),
                runs_merged=list(rec.runs_merged),
                runs_missing=list(rec.runs_missing),
            )
        )


def _raised(job_id: int, attempt: int, exc: BaseException, tb: Any = None) -> decide.JobFinished:
    """The event of an attempt whose future raised: its worker died (``KilledWorker``:
    lost) or the attempt itself raised (e.g. ``OSError`` disk full: a system error). It
    counts as attempt ``attempt``, so retries stop at the limit; its signature groups it."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return decide.JobFinished(
            job_id,
            attempt,
            "lost",
            f"attempt {attempt}: its worker died ({type(exc).__name__}: {exc})",
            "LostWorker",
        )
    text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    return decide.JobFinished(
        job_id,
        attempt,
        "system",
        f"attempt {attempt} could not run: {type(exc).__name__}: {exc}",
        signature_from_traceback(text, type(exc).__name__),
    )


def _interrupted(job_id: int, attempt: int, folder: Path | str) -> decide.JobFinished:
    """A started attempt that left no verdict and no recent heartbeat: lost."""
    message = (
        f"attempt {attempt} began in {folder} but ended without a verdict (its worker or "
        "scheduler went away): lost"
    )
    return decide.JobFinished(job_id, attempt, "lost", message, "LostWorker")


def _host_of(folder: Path | str) -> str:
    """The host an attempt runs on, from its ``attempt.json`` ("" when unreadable)."""
    try:
        raw = json.loads(store.read_bytes(store.join(folder, "attempt.json")))
        return str(raw.get("host", ""))[:128]
    except (OSError, ValueError, AttributeError):
        return ""


def _job_number(name: str) -> int | None:
    """The database id in an attempt's job name ``job-<id>``."""
    number = name.removeprefix("job-")
    return int(number) if number != name and number.isdigit() else None


def _job_id(ins: Any) -> int:
    return ins.id if isinstance(ins, decide.MarkLost | decide.RequeueLost) else ins.job_id


def _runs_text(runs: tuple[int, ...]) -> str:
    return ", ".join(str(r) for r in runs) if runs else "none"
