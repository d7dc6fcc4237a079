"""The scheduler's thin effectful shell: read a snapshot from the database, turn finished
engine futures into events, ask the pure core (:func:`hyperloop.scheduler.decide.decide`)
and perform its instructions through the core services and the grid engine.

One ``tick()`` is one step; ``run()`` loops while this process holds the lease. Performed
here: wagon tests (start on the engine, finish from the assessment, requeue when lost),
stale-test cleaning; submitted trains (auto-submit, split, jobs, retries, reconciliation,
merges, done) in ``trainwork``; train tests like wagon tests, on the train's target;
automatic composition, pull-request tags, long-train decisions, notifications and e-mail
delivery (``readers`` build their views, ``notices`` the notifications and e-mails);
staging transfers in threads of ``staging.StagingWork``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hyperloop.analysis.spec import FullConfig
from hyperloop.core import derived, enabling, mail, sharing, story, trains
from hyperloop.core.assessment import DatasetSize, SampleFacts
from hyperloop.core.catalogue import included_files
from hyperloop.core.errors import DomainError
from hyperloop.core.full_config import build_full_config
from hyperloop.core.states import transition
from hyperloop.core.storage_roots import StorageRootError, StorageRoots
from hyperloop.core.story import Cause
from hyperloop.db.models import (
    Dataset,
    DatasetFile,
    HistoryEntry,
    PackageTag,
    TrainRun,
    WagonDataset,
    WagonTest,
)
from hyperloop.db.models import Target as DbTarget
from hyperloop.enums import NotificationKind, TestStatus, TrainState, TrainType
from hyperloop.grid import store
from hyperloop.grid.engine import Engine
from hyperloop.grid.execute import AttemptRecord
from hyperloop.grid.splitting import JobSpec
from hyperloop.grid.targets import Target
from hyperloop.scheduler import causes, decide, readers
from hyperloop.scheduler.lease import Lease
from hyperloop.scheduler.notices import notified_kinds, perform_notify
from hyperloop.scheduler.staging import StagingWork
from hyperloop.scheduler.trainwork import TrainWork, batchable

log = logging.getLogger(__name__)
#: one line per decision of the scheduler (``causes.decision_line``); silence it with
#: ``logging.getLogger("hyperloop.scheduler.decisions").setLevel(logging.WARNING)``
decisions_log = logging.getLogger("hyperloop.scheduler.decisions")
_TEST_KIND: dict[str, decide.TestKind] = {"wagon_test": "wagon", "train_test": "train"}
_SCHEDULED_TRAIN_STATES = (
    TrainState.COMPOSED,
    TrainState.TESTING,
    TrainState.TEST_DONE,
    TrainState.SUBMITTED,
    TrainState.RUNNING,
    TrainState.MERGING,
)


#: outputs of an attempt that are its measurements, not what the analysis wrote
METRICS_OUTPUTS = frozenset({"performanceMetrics", "metrics_summary"})


@dataclass
class ShellConfig:
    """Where work goes and with what: targets by name, the one wagon tests run on, and how
    many catalogue files form a test sample."""

    work_dir: Path
    targets: Mapping[str, Target]
    test_target: str
    test_files: int = 2
    package_dir: str | None = None  # None: the installed package
    core: decide.SchedulerConfig = field(default_factory=decide.SchedulerConfig)
    compose_target: str | None = None  # database target of automatic trains (None: test_target)
    compose_every: timedelta = timedelta(seconds=30)  # how often composition is looked at
    mail_dir: Path | None = None  # .eml files of the default sender (None: work_dir / "mail")
    mail_from: str = mail.DEFAULT_FROM
    # prefix of the links in e-mails (settings.server_url; the default is the server's
    # default address, so that a link is never relative)
    public_url: str = "http://127.0.0.1:8000"
    max_files_per_job: int = 10  # splitting of submitted trains (files of one run per job)
    batch: int = 1000  # job instructions performed per database transaction (1: one each)
    slim_retention: timedelta = timedelta(days=30)  # slim derived outputs deleted after
    dashboard_warm_s: float = 0.5  # per tick, filling the dashboard's closed days (0: never)
    partial_every: float = 0.0  # seconds between two partial merges of a running train (0: none)
    # where input files may lie (settings.storage_roots); None: not checked again here (the
    # catalogue import checked them), for shells built without settings
    storage_roots: StorageRoots | None = None
    # jobs read incrementally (changes since the last tick, readers.JobViews) with a full
    # read every ``jobs_full_every``; False: every job of the scheduled trains each tick
    incremental_jobs: bool = True
    jobs_full_every: timedelta = timedelta(minutes=10)
    # facility storage of staged datasets (settings.staging_root); None: no staging here
    staging_root: str | None = None
    # train jobs and merges (settings.storage_url): a folder or fsspec URL; "": work_dir
    storage_url: str = ""
    # stories of jobs and wagon tests kept this long after their train or test ended
    # (settings.story_keep_days; None: forever), pruned a batch per tick (core.story.prune)
    # while there are more, else looked at again every ``story_prune_every``
    story_keep: timedelta | None = None
    story_prune_batch: int = 5000
    story_prune_every: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.test_target not in self.targets:
            raise ValueError(
                f"scheduler: test target {self.test_target!r} is not among the targets "
                f"({', '.join(sorted(self.targets)) or 'none'})"
            )


class WarmReadModels(Protocol):
    """Stores some of the read models' missing precomputed days within ``budget_s``; returns
    how many it stored (0: none missing). The process that builds the scheduler gives it
    (``hyperloop.readmodels.dashboard.warm``): the scheduler does not import read models."""

    def __call__(self, bind: Session, now: datetime, *, budget_s: float) -> int: ...


@dataclass
class Tick:
    """What one step decided and what it performed; ``failed`` holds each instruction that
    raised (rolled back, the others still performed) with its error."""

    held_lease: bool
    instructions: list[decide.Instruction] = field(default_factory=list)
    unperformed: list[decide.Instruction] = field(default_factory=list)
    failed: list[tuple[decide.Instruction, str]] = field(default_factory=list)


#: the derived type of a train's test (SPEC §4 warnings 7 to 9); analysis trains: None
_DERIVED_TYPE: dict[TrainType, str | None] = {
    TrainType.ANALYSIS: None,
    TrainType.STANDARD_DERIVED: "standard",
    TrainType.LINKED_DERIVED: "linked",
    TrainType.SLIM_DERIVED: "slim",
}


def _wagon_test_derived_type(test: WagonTest) -> str | None:
    """A wagon test writes derived data when the wagon saves tables: ``slim`` when the
    wagon is ready for slim derived data (its output is then merged into one file), else
    ``standard``; None without derived tables."""
    wagon = (test.config_snapshot or {}).get("wagon") or {}
    if not wagon.get("derived_tables"):
        return None
    return "slim" if wagon.get("slim_ready") else "standard"


def _read_report(location: Path | str) -> dict[str, Any]:
    """``run_report.json`` of an attempt, at a path or URL ({} when missing or unreadable)."""
    try:
        report = json.loads(store.read_bytes(location))
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


class _OutputNotFound(Exception):
    """A validated test attempt whose files the scheduler cannot read (the message names
    the file and the step)."""


def _summary_location(rec: AttemptRecord) -> Path | str:
    """Where a validated attempt's ``metrics_summary.json`` is: as its record names it, else
    in its folder (searched below a local folder, for records that do not name it)."""
    named = rec.outputs.get("metrics_summary")
    if named:
        return named
    location = store.join(rec.folder, "metrics_summary.json")
    if not store.is_remote(location) and not Path(location).exists():
        found = sorted(Path(rec.folder).rglob("metrics_summary.json"))
        return found[0] if found else location
    return location


def _attempt_files(rec: AttemptRecord) -> tuple[dict[str, Any], dict[str, Any], int, int]:
    """(metrics summary, run report, bytes of the outputs, bytes of the console log) of a
    validated test attempt, read through the storage (``grid.store``: its folder is a local
    path or a URL). Raises ``_OutputNotFound`` when the summary or an output is missing."""
    where = f" (attempt {rec.attempt} on {rec.host or 'a worker'})"
    summary_at = _summary_location(rec)
    try:
        raw = store.read_bytes(summary_at)
    except OSError as exc:
        raise _OutputNotFound(
            f"OutputNotFound: no metrics summary: {summary_at} cannot be read "
            f"(reading metrics_summary.json){where}: {exc}"
        ) from None
    try:
        summary = json.loads(raw)
    except ValueError as exc:
        raise _OutputNotFound(f"no metrics summary: {summary_at} is not JSON: {exc}") from None
    output_bytes = 0  # the analysis's files (results, derived AO2D), not the metrics files
    for kind, path in rec.outputs.items():
        try:
            size = store.size(path)
            output_bytes += size if kind not in METRICS_OUTPUTS else 0
        except OSError as exc:  # e.g. written on a worker's own disk: never done
            raise _OutputNotFound(
                f"OutputNotFound: the output {path} cannot be found (reading the outputs' "
                f"sizes){where}; is the storage shared with the workers? {exc}"
            ) from None
    try:
        log_bytes = store.size(store.join(rec.folder, "console.log"))
    except OSError:
        log_bytes = 0
    remote = store.is_remote(summary_at)
    beside = str(summary_at).rsplit("/", 1)[0] if remote else Path(summary_at).parent
    return summary, _read_report(store.join(beside, "run_report.json")), output_bytes, log_bytes


@dataclass
class _Running:
    future: Any
    facts: SampleFacts
    dataset: DatasetSize


class SchedulerShell:
    """Performs the core's decisions; the only place with side effects."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        engine: Engine,
        config: ShellConfig,
        lease: Lease | None = None,
        *,
        mailer: mail.MailSender | None = None,
        warm_read_models: WarmReadModels | None = None,
    ) -> None:
        self.sessions = sessions
        self.engine = engine
        self.config = config
        self.lease = lease
        self.mailer: mail.MailSender = mailer or mail.FolderSender(
            config.mail_dir or config.work_dir / "mail"
        )
        self.running: dict[tuple[str, int], _Running] = {}
        self.last_stale_clean: datetime | None = None
        self.warm_read_models = warm_read_models  # None: pages fill their days when read
        self.dashboard_days_missing = True  # closed days to store (at start, then daily)
        self.story_prune_due: datetime | None = None  # None: at the first tick
        self.notices: deque[decide.Notify] = deque(maxlen=1000)  # the latest, for logs and tests
        self.mail_errors: list[str] = []
        self.compose_refused: dict[int, str] = {}  # dataset id -> why the last try failed
        self.last_compose_read: datetime | None = None
        self.job_views = readers.JobViews(config.jobs_full_every)
        self.train_work = TrainWork(
            engine,
            config.targets,
            config.work_dir,
            config.package_dir,
            max_files_per_job=config.max_files_per_job,
            storage_roots=config.storage_roots,
            storage_url=config.storage_url,
            partial_every=config.partial_every,
        )
        self.staging = StagingWork(sessions, config.staging_root) if config.staging_root else None

    # ------------------------------------------------------------------ reading

    def snapshot(self, s: Session, now: datetime) -> decide.Snapshot:
        tests = readers.wagon_test_views(s)
        horizon = 2 * self.config.core.long_train_expiry
        return decide.Snapshot(
            now=now,
            tests=tests,
            trains=self._trains(s, now),
            targets=self.config.targets,
            engine_keys=frozenset(self.running) | self.train_work.engine_keys(),
            last_stale_clean=self.last_stale_clean,
            compose=self._compose_views(s, now),
            long_trains=readers.long_train_views(s, now, horizon),
            pr_tags=readers.pr_tags(s, (t.pull_request for t in tests)),
            unsent_mail=mail.unsent_count(s),
        )

    def _compose_views(self, s: Session, now: datetime) -> tuple[decide.ComposeView, ...]:
        """Datasets with automatic composition, read at most every ``compose_every`` (the
        candidate queries are the heaviest part of a snapshot); empty in between."""
        last = self.last_compose_read
        if last is not None and timedelta(0) <= now - last < self.config.compose_every:
            return ()
        self.last_compose_read = now
        return readers.compose_views(s, now, self._compose_target(s))

    def _compose_target(self, s: Session) -> DbTarget | None:
        """The database target automatic trains run on: ``compose_target``, else the test
        target's name, else the first target."""
        name = self.config.compose_target or self.config.test_target
        target = s.scalars(select(DbTarget).where(DbTarget.name == name)).first()
        if target is None and self.config.compose_target is None:
            target = s.scalars(select(DbTarget).order_by(DbTarget.id)).first()
        return target

    def _trains(self, s: Session, now: datetime) -> tuple[decide.TrainView, ...]:
        """Trains the core may advance, with their jobs: the trains read whole, their jobs
        only where changed since the last tick (``readers.JobViews``; every job each tick
        with ``incremental_jobs`` off). Per-run merges live in this process only
        (``TrainWork``); each job's target is its ``jobs.target`` (the train's target when
        unset or no longer configured).

        ``flagged`` of a merging train means its final merge failed in this process: a
        restarted scheduler redoes the final merge once even if the train was flagged with
        issues before (e.g. an operator's final merge of a train with failed jobs)."""
        rows = s.execute(
            select(
                TrainRun.id,
                TrainRun.state,
                TrainRun.auto_submit,
                TrainRun.slow,
                TrainRun.final_merge_requested_at,
                DbTarget.name,
            )
            .join(DbTarget, DbTarget.id == TrainRun.target_id)
            .where(TrainRun.state.in_(_SCHEDULED_TRAIN_STATES))
            .order_by(TrainRun.id)
        ).all()
        targets = {r.id: r.name for r in rows}
        known = frozenset(self.config.targets)  # names, once per snapshot (not per job)
        if self.config.incremental_jobs:
            jobs = self.job_views.read(s, targets, known, now)
        else:
            jobs = readers.full_job_views(s, targets, known)
        issues = notified_kinds(s, "train_run", list(targets), [NotificationKind.TRAIN_ISSUES])
        for r in rows:
            self.train_work.unflag_retried(r.id, r.final_merge_requested_at)
        return tuple(
            decide.TrainView(
                id=r.id,
                state=r.state,
                target=r.name,
                auto_submit=r.auto_submit,
                slow=r.slow,
                jobs=tuple(jobs.get(r.id, ())),
                split=r.id in jobs,
                runs_merged=self.train_work.merged_runs(r.id),
                runs_merge_failed=self.train_work.merge_failed_runs(r.id),
                flagged=r.id in self.train_work.flagged
                or (r.id in issues and r.state is not TrainState.MERGING),
                final_merge_requested=r.final_merge_requested_at is not None,
            )
            for r in rows
        )

    def collect(self) -> list[decide.Event]:
        """Events of every finished engine future (removed from ``running``)."""
        events: list[decide.Event] = self.train_work.collect()
        for key in [k for k, r in self.running.items() if r.future.done()]:
            item = self.running.pop(key)
            kind, obj_id = key
            try:
                rec: AttemptRecord = item.future.result()
            except Exception as exc:  # the engine lost it (worker died) or refused it
                events.append(
                    decide.TestFinished(_TEST_KIND[kind], obj_id, error=f"engine: {exc!r}")
                )
                continue
            events.append(self._test_event(_TEST_KIND[kind], obj_id, rec, item))
        return events

    def _test_event(
        self, kind: decide.TestKind, test_id: int, rec: AttemptRecord, item: _Running
    ) -> decide.TestFinished:
        if not rec.ok:
            where = f" ({rec.signature})" if rec.signature else ""
            return decide.TestFinished(
                kind, test_id, error=f"{rec.error_kind}{where}: {rec.message}"
            )
        try:
            summary, report, outputs, log_bytes = _attempt_files(rec)
        except _OutputNotFound as exc:
            return decide.TestFinished(kind, test_id, error=str(exc))
        facts = replace(
            item.facts,
            # file sizes of the sample, like the dataset's size (bytes_read counts baskets only)
            input_bytes=float(item.facts.input_bytes or rec.bytes_read),
            output_bytes=float(outputs),
            log_bytes=float(log_bytes),
            conditions_calls=int(summary.get("__full_train__", {}).get("conditions-calls", 0) or 0),
            saved_tables=(
                report.get("plan", {}).get("derived_indices", {})
                if item.facts.derived_type is not None
                else {}
            ),
        )
        return decide.TestFinished(
            kind, test_id, summary=summary, facts=facts, dataset=item.dataset
        )

    # ------------------------------------------------------------------ the loop

    def tick(self, now: datetime | None = None) -> Tick:
        """One step: collect, decide, perform (only while holding the lease)."""
        now = now or datetime.now(UTC)
        if self.lease is not None and not self.lease.acquire(now):
            return Tick(held_lease=False)
        forget = getattr(self.engine, "forget_resources", None)
        if forget is not None:  # the workers' resources are asked once per tick
            forget()
        self.train_work.forget_configs()
        events = self.collect()
        with self.sessions() as s, s.begin():
            snap = self.snapshot(s, now)
        stopped = self.train_work.stop_others(t.id for t in snap.trains)
        if stopped:
            log.info("attempts of jobs %s stopped: their train is no longer scheduled", stopped)
        # running jobs this process did not submit (a restart): judged by their folders
        reconciled = self.train_work.reconcile(snap.trains)
        if reconciled or self.train_work.orphans:
            events += reconciled
            keys = snap.engine_keys | self.train_work.engine_keys()
            snap = replace(snap, engine_keys=frozenset(keys))
        instructions = decide.decide(snap, events, self.config.core)
        if decisions_log.isEnabledFor(logging.INFO):  # one line per decision, with its ids
            for ins in instructions:
                decisions_log.info(causes.decision_line(ins, causes.cause_of(ins, now)))
        out = Tick(held_lease=True, instructions=instructions)
        self.perform_all(instructions, now, out)
        try:  # live partial results of running trains (never read by the real merges)
            with self.sessions() as s:
                self.train_work.refresh_partials(s, snap.trains)
        except Exception:  # shown again at the next change; the trains go on
            log.exception("merging the partial results failed")
        if self.staging is not None:
            try:
                self.staging.tick()
            except Exception:  # the transfers are retried next tick; trains go on
                log.exception("starting staging transfers failed")
        self._warm_dashboard(now)
        self._prune_stories(now)
        return out

    def _prune_stories(self, now: datetime) -> None:
        """Delete a batch of the stories older than ``story_keep`` (``core.story.prune``);
        the next batch at the next tick while a full one was deleted."""
        keep = self.config.story_keep
        if keep is None or (self.story_prune_due is not None and now < self.story_prune_due):
            return
        batch = max(1, self.config.story_prune_batch)
        try:
            with self.sessions() as s, s.begin():
                pruned = story.prune(s, now - keep, batch)
        except Exception:  # tried again at the next look; the scheduler goes on
            log.exception("pruning old stories failed")
            pruned = 0
        if pruned:
            log.info("stories pruned: %d transitions older than %s", pruned, keep)
        self.story_prune_due = None if pruned >= batch else now + self.config.story_prune_every

    def _warm_dashboard(self, now: datetime) -> None:
        """Store a few of the dashboard's missing closed days per tick (a small time budget)
        until none is missing, so that its first visitor of a long interval does not wait."""
        warm = self.warm_read_models
        if warm is None or not self.dashboard_days_missing or self.config.dashboard_warm_s <= 0:
            return
        try:
            with self.sessions() as s:
                filled = warm(s, now, budget_s=self.config.dashboard_warm_s)
        except Exception:  # the dashboard counts live meanwhile; the scheduler goes on
            log.exception("storing the dashboard's closed days failed")
            filled = 0
        self.dashboard_days_missing = filled > 0

    def perform_all(self, instructions: list[decide.Instruction], now: datetime, out: Tick) -> None:
        """Perform ``instructions`` in order. Runs of job instructions (``batchable``) share
        one transaction per ``config.batch`` (``TrainWork.batch``); when a batch raises it
        is rolled back and its instructions are performed again one transaction each, so
        only the instruction that fails is lost. Every other instruction has its own
        transaction. A failing instruction is rolled back, logged and listed in
        ``out.failed``; the following ones still run. Engine submissions and in-memory
        records happen only after their transaction committed."""
        size = max(1, self.config.batch)
        batch: list[decide.Instruction] = []
        for ins in instructions:
            if size > 1 and batchable(ins):
                batch.append(ins)
                if len(batch) >= size:
                    self._perform_batch(batch, now, out)
                    batch = []
                continue
            if batch:
                self._perform_batch(batch, now, out)
                batch = []
            self._perform_one(ins, now, out)
        if batch:
            self._perform_batch(batch, now, out)

    def _perform_batch(self, batch: list[decide.Instruction], now: datetime, out: Tick) -> None:
        if len(batch) == 1:
            self._perform_one(batch[0], now, out)
            return
        unperformed: list[decide.Instruction] = []
        try:
            with self.sessions() as s, s.begin(), self.train_work.batch(s, batch):
                for ins in batch:
                    if not self.perform(s, ins, now):
                        unperformed.append(ins)
        except Exception as exc:
            self.train_work.rolled_back()
            why = f"{type(exc).__name__}: {exc}"
        else:
            self.train_work.committed()
            out.unperformed += unperformed
            return
        log.warning("a batch of %d instructions failed (%s): one by one now", len(batch), why)
        for ins in batch:
            self._perform_one(ins, now, out)

    def _perform_one(self, ins: decide.Instruction, now: datetime, out: Tick) -> None:
        """One instruction in its own transaction; an error rolls back this one only."""
        try:
            with self.sessions() as s, s.begin():
                performed = self.perform(s, ins, now)
        except Exception as exc:
            self.train_work.rolled_back()
            log.exception("scheduler instruction %r failed", ins)
            out.failed.append((ins, f"{type(exc).__name__}: {exc}"))
            return
        self.train_work.committed()
        if not performed:
            out.unperformed.append(ins)

    def run(self, stop: Callable[[], bool], interval: float = 1.0) -> None:
        """Tick until ``stop()``; releases the lease on the way out."""
        try:
            while not stop():
                self.tick()
                time.sleep(interval)
        finally:
            if self.lease is not None:
                self.lease.release()

    # ------------------------------------------------------------------ performing

    def perform(self, s: Session, ins: decide.Instruction, now: datetime) -> bool:
        """Carry out one instruction; False when this shell does not perform that kind."""
        cause = causes.cause_of(ins, now)  # what its moves are recorded with
        match ins:
            case decide.StartWagonTest(test_id):
                self._start_wagon_test(s, test_id, cause)
            case decide.FinishWagonTest(test_id, status, warnings, expected, error):
                metrics: dict[str, Any] = {"error": error} if error else {}
                if expected is not None:
                    metrics["expected"] = expected.to_json()
                enabling.finish_test(
                    s,
                    test_id,
                    status,
                    metrics=metrics,
                    warnings=list(warnings),
                    public_url=self.config.public_url,
                    cause=cause,
                )
            case decide.RequeueLost("wagon_test", test_id, _reason):
                test = s.get(WagonTest, test_id)
                if test is not None and test.status is TestStatus.RUNNING:
                    transition(test, TestStatus.QUEUED, actor=None, cause=cause)
            case decide.StartTrainTest(train_id):
                self._start_train_test(s, train_id, cause)
            case decide.FinishTrainTest(train_id, status, warnings, expected, error):
                metrics = {"error": error} if error else {}
                if expected is not None:
                    metrics["expected"] = expected.to_json()
                if ins.devices:  # what sharing saved (core.sharing), on the test sample
                    metrics["devices"] = dict(ins.devices)
                    train = s.get(TrainRun, train_id)
                    if train is not None:
                        metrics["sharing"] = sharing.sample_savings(
                            ins.devices, train.wagons_snapshot or []
                        )
                # a done test of an auto-submit train is submitted by finish_test itself
                trains.finish_test(
                    s, train_id, status, metrics=metrics, warnings=list(warnings), cause=cause
                )
            case decide.RequeueLost("train_test", train_id, _reason):
                self._start_train_test(s, train_id, cause, again=True)
            case decide.AutoSubmit(train_id):
                train = s.get(TrainRun, train_id)
                if train is not None and train.state is TrainState.TEST_DONE:
                    trains.auto_submit_train(s, train, cause=cause)
            case decide.CleanStaleTests(when):
                enabling.clean_stale_tests(s, when)
                expired = derived.expire_slim_outputs(s, when, self.config.slim_retention)
                if expired:
                    log.info("slim derived outputs expired: train runs %s", expired)
                self.last_stale_clean = now
                self.dashboard_days_missing = True  # yesterday closed
            case decide.Notify():
                self.notices.append(ins)
                log.info("scheduler notice %s: %s", ins.kind, ins.message)
                perform_notify(s, ins, public_url=self.config.public_url)
            case decide.ComposeTrain():
                self._compose(s, ins, now)
            case decide.SubmitRequested(train_id, why):
                trains.submit_requested_train(s, train_id, why, cause=cause)
            case decide.RecordComposeSlot(dataset_id, at, note):
                s.add(
                    HistoryEntry(
                        object_type=readers.COMPOSE_RECORD,
                        object_id=dataset_id,
                        action="slot",
                        at=at,
                        snapshot={"note": note},
                        reason=note,
                    )
                )
            case decide.AssignTestTag(test_id, tag_id, _pr):
                test = s.get(WagonTest, test_id)
                if test is not None and test.status is TestStatus.QUEUED and test.tag_id is None:
                    test.tag_id = tag_id
            case decide.ExpireLongTrain(train_id, why):
                trains.expire_long_train(s, train_id, why, cause=cause)
            case decide.DeliverMail():
                result = mail.deliver_outbox(
                    s, self.mailer, from_address=self.config.mail_from, now=now
                )
                self.mail_errors = list(result.errors)
            case _:
                return self.train_work.perform(s, ins, cause)
        return True

    def _compose(self, s: Session, ins: decide.ComposeTrain, now: datetime) -> None:
        """Compose an automatic train and tell its analyses; a refusal (slots, conflicts)
        is logged once per reason instead of stopping the loop (tried again next time)."""
        target = self._compose_target(s)
        if target is None:
            name = self.config.compose_target or self.config.test_target
            log.warning("automatic composition: no database target named %r", name)
            return
        try:  # compose_train validates everything before it writes
            train = trains.compose_train(
                s,
                None,
                ins.dataset_id,
                ins.wagon_ids,
                target_id=target.id,
                train_type=ins.train_type,
                slow=ins.slow,
                auto_submit=ins.auto_submit,
            )
        except DomainError as exc:
            note = f"automatic {ins.train_type.value} train not composed: {exc}"
            if self.compose_refused.get(ins.dataset_id) != note:  # log each reason once
                log.warning("dataset %s: %s", ins.dataset_id, note)
            self.compose_refused[ins.dataset_id] = note
            return
        self.compose_refused.pop(ins.dataset_id, None)
        for row in s.scalars(
            select(WagonDataset).where(
                WagonDataset.dataset_id == ins.dataset_id,
                WagonDataset.wagon_id.in_(ins.wagon_ids),
                WagonDataset.scheduled.is_(True),
            )
        ):
            row.scheduled, row.scheduled_by_id = False, None  # the slot took it
            row.scheduled_type, row.scheduled_slow, row.scheduled_auto_submit = None, False, False
        s.flush()
        message = f"train {train.id} composed automatically ({ins.why})"
        perform_notify(
            s,
            decide.Notify(NotificationKind.TRAIN_COMPOSED.value, message, "train_run", train.id),
            public_url=self.config.public_url,
        )

    def _sample(self, s: Session, dataset_id: int) -> tuple[list[DatasetFile], DatasetSize]:
        """The first ``test_files`` files of the catalogue and the whole dataset's size
        (counted and summed by the database, not by loading every file row)."""
        of_dataset = included_files(s, dataset_id)  # excluded runs are never read
        n, total = s.execute(
            of_dataset.with_only_columns(
                func.count(),
                func.coalesce(func.sum(DatasetFile.size), 0),
                maintain_column_froms=True,
            )
        ).one()
        per_run = (
            of_dataset.with_only_columns(func.count().label("n"), maintain_column_froms=True)
            .group_by(DatasetFile.run_number)
            .subquery()
        )
        run_files = tuple(int(n) for n in s.scalars(select(per_run.c.n)))
        first = of_dataset.order_by(DatasetFile.run_number, DatasetFile.path)
        files = list(s.scalars(first.limit(self.config.test_files)))
        dataset = s.get(Dataset, dataset_id)
        return files, DatasetSize(
            bytes=float(total),
            files=int(n),
            cpu_limit_hours=dataset.cpu_limit_hours if dataset is not None else None,
            files_per_job=self.config.max_files_per_job,
            largest_run_files=max(run_files, default=0),
            run_files=run_files,
        )

    def _outside_roots(self, sample: list[DatasetFile]) -> str | None:
        """Why a sample may not be read: a file outside the storage roots (None: fine)."""
        if self.config.storage_roots is None:
            return None
        for f in sample:
            try:
                self.config.storage_roots.check(f.path)
            except StorageRootError as exc:
                return exc.message
        return None

    def _start_wagon_test(self, s: Session, test_id: int, cause: Cause) -> None:
        test = s.get(WagonTest, test_id)
        if test is None or test.status is not TestStatus.QUEUED:
            return
        sample, size = self._sample(s, test.dataset_id)
        transition(test, TestStatus.RUNNING, actor=None, cause=cause)
        tag = s.get(PackageTag, test.tag_id) if test.tag_id is not None else None
        error = (
            (None if sample else f"dataset {test.dataset_id} has no files to test on")
            or self._outside_roots(sample)
            # the core holds tagless tests; a race with a tag change ends here
            or (None if tag is not None else "no package tag to test with")
        )
        if error is not None:
            failed = Cause(cause.stimulus, "test-failed", error)
            enabling.finish_test(
                s, test.id, TestStatus.FAILED, metrics={"error": error}, cause=failed
            )
            return
        folder = self._test_folder(f"wagon-test-{test.id}")
        test.output_dir = os.fspath(folder)
        target = self.config.targets[self.config.test_target]
        facts = SampleFacts(kind="wagon", derived_type=_wagon_test_derived_type(test))
        error = self._submit_test(
            ("wagon_test", test.id),
            build_full_config(test, tag),
            tag,
            target,
            folder,
            sample,
            size,
            facts,
        )
        if error is not None:
            failed = Cause(cause.stimulus, "test-failed", error)
            enabling.finish_test(
                s, test.id, TestStatus.FAILED, metrics={"error": error}, cause=failed
            )
            return
        s.flush()

    def _start_train_test(
        self, s: Session, train_id: int, cause: Cause, *, again: bool = False
    ) -> None:
        train = s.get(TrainRun, train_id)
        if train is None:
            return
        if not again:
            trains.start_test(s, train_id, cause=cause)
        sample, size = self._sample(s, train.dataset_id)
        refused = self._outside_roots(sample)
        if not sample or refused is not None:
            error = refused or f"dataset {train.dataset_id} has no files to test on"
            self._fail_train_test(s, train.id, error, cause)
            return
        tag = s.get(PackageTag, train.tag_id)
        db_target = s.get(DbTarget, train.target_id)
        target = (
            self.config.targets.get(db_target.name) or self.config.targets[self.config.test_target]
        )
        folder = self._test_folder(f"train-test-{train.id}")
        facts = SampleFacts(
            kind="train",
            target_memory_limit=float(target.memory_limit_bytes),
            derived_type=_DERIVED_TYPE.get(train.train_type),
        )
        error = self._submit_test(
            ("train_test", train.id),
            build_full_config(train, tag),
            tag,
            target,
            folder,
            sample,
            size,
            facts,
        )
        if error is not None:
            self._fail_train_test(s, train.id, error, cause)

    def _fail_train_test(self, s: Session, train_id: int, error: str, cause: Cause) -> None:
        """A train test that cannot start ends failed with ``error``, its analysts told."""
        failed = Cause(cause.stimulus, "test-failed", error)
        trains.finish_test(s, train_id, TestStatus.FAILED, metrics={"error": error}, cause=failed)
        message = f"train {train_id}: train test failed: {error}"
        kind = NotificationKind.TRAIN_TEST_FAILED.value
        notice = decide.Notify(kind, message, "train_run", train_id)
        self.notices.append(notice)
        perform_notify(s, notice, public_url=self.config.public_url)

    def _test_folder(self, name: str) -> Path | str:
        """Where a test's attempts are stored: ``<storage_url>/tests/<name>`` when the
        storage is remote (the workers upload them there), else ``work_dir/tests/<name>``
        (also when ``storage_url`` is a local folder)."""
        if store.is_remote(self.config.storage_url):
            return store.join(self.config.storage_url, "tests", name)
        return self.config.work_dir / "tests" / name

    def _submit_test(
        self,
        key: tuple[str, int],
        full_config: FullConfig,
        tag: PackageTag,
        target: Target,
        folder: Path | str,
        sample: list[DatasetFile],
        size: DatasetSize,
        facts: SampleFacts,
    ) -> str | None:
        """Run a test sample as one attempt on the engine (a new folder per attempt, counted
        from what the storage holds); why it could not be submitted, or None."""
        job = JobSpec(
            job_id="sample",
            run=sample[0].run_number,
            index=0,
            files=tuple(f.path for f in sample),
            sizes=tuple(int(f.size) for f in sample),
        )
        try:  # a folder left by a lost attempt is never reused
            taken = store.names(store.join(folder, job.job_id))
        except OSError as exc:
            return f"the test's attempts cannot be listed in {folder}: {exc}"
        numbers = [int(n[8:]) for n in taken if n.startswith("attempt-") and n[8:].isdigit()]
        attempt = max(numbers, default=0) + 1
        # the tag's folder, or with a remote storage the tag published there (the worker
        # fetches it and checks its content hash); missing: the test fails naming it
        package, digest = self.train_work.tag_package(tag)
        future = self.engine.submit(
            job,
            full_config,
            target,
            folder,
            attempt,
            package_dir=package or self.config.package_dir,
            reason=f"{key[0].replace('_', ' ')} {key[1]}",
            profile=True,  # tests keep a speedscope profile (SPEC §4)
            # every device in its own process, as O2 runs them: each wagon's PSS is its own
            mode="processes",
            **({"package_digest": digest} if digest else {}),
        )
        facts = replace(facts, input_bytes=float(job.bytes))
        self.running[key] = _Running(future, facts, size)
        return None
