"""Database reads the shell turns into the snapshot's views: the jobs of the scheduled
trains (read incrementally, :class:`JobViews`) and the slower life cycles: automatic
composition, wagon tests waiting for a pull request, long-train requests."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from hyperloop.core.autocompose import auto_candidates, train_full
from hyperloop.core.enabling import current_test
from hyperloop.core.trains import compatible_wagons, expected_cpu_hours_of
from hyperloop.db.models import (
    Dataset,
    HistoryEntry,
    Job,
    PackageTag,
    Target,
    TrainRun,
    Wagon,
    WagonDataset,
    WagonTest,
)
from hyperloop.db.models.changes import job_counters, job_triggers_present, job_watermark
from hyperloop.enums import (
    AutoComposeType,
    NotificationKind,
    TagPolicy,
    TestStatus,
    TrainState,
    TrainType,
)
from hyperloop.scheduler import decide
from hyperloop.scheduler.cycles import ComposeView, DerivedBatch, LongTrainView
from hyperloop.scheduler.notices import notified_kinds

log = logging.getLogger(__name__)

#: ``HistoryEntry.object_type`` of the record "this dataset's composition slot was handled"
COMPOSE_RECORD = "auto_compose"
_LONG_KINDS = [
    NotificationKind.LONG_TRAIN_APPROVED,
    NotificationKind.LONG_TRAIN_REJECTED,
    NotificationKind.LONG_TRAIN_EXPIRED,
]


def wagon_test_views(s: Session) -> tuple[decide.TestView, ...]:
    """Queued and running wagon tests; a queued one without a tag says which pull request
    it waits for (its enabling's future-tag policy)."""
    rows = s.execute(
        select(
            WagonTest.id,
            WagonTest.status,
            WagonTest.tag_id,
            WagonDataset.tag_policy,
            WagonDataset.pull_request,
        )
        .outerjoin(
            WagonDataset,
            and_(
                WagonDataset.wagon_id == WagonTest.wagon_id,
                WagonDataset.dataset_id == WagonTest.dataset_id,
            ),
        )
        .where(
            WagonTest.status.in_((TestStatus.QUEUED, TestStatus.RUNNING)),
            WagonTest.superseded.is_(False),
        )
    )
    out = []
    for test_id, status, tag_id, policy, pr in rows:
        tagless = tag_id is None and status is TestStatus.QUEUED
        waits = pr if tagless and policy is TagPolicy.PULL_REQUEST and pr else ""
        out.append(decide.TestView(test_id, status, pull_request=str(waits), tagless=tagless))
    return tuple(out)


def pr_tags(s: Session, pull_requests: Iterable[str]) -> dict[str, int]:
    """The first released, available tag containing each awaited pull request."""
    wanted = {str(p) for p in pull_requests if p}
    if not wanted:
        return {}
    out: dict[str, int] = {}
    stmt = select(PackageTag.id, PackageTag.pull_requests).where(PackageTag.available)
    for tag_id, prs in s.execute(stmt.order_by(PackageTag.released_at, PackageTag.id)):
        for pr in wanted & {str(p) for p in prs or []}:
            out.setdefault(pr, tag_id)
    return out


def _compatible(s: Session, dataset_id: int, ids: list[int]) -> tuple[int, ...]:
    """The first wagon and those compatible with it (a common tag, same dependencies)."""
    if not ids:
        return ()
    report = compatible_wagons(s, dataset_id, ids[:1])
    ok = set(report.compatible_ids())
    return tuple(i for i in ids if i in ok or i == ids[0])


def derived_batches(s: Session, dataset_id: int, ids: list[int]) -> tuple[DerivedBatch, ...]:
    """The scheduled derived-data wagons grouped into trains by their scheduling settings
    (type, slow, automatic submission): compatible standard or slim ones share a train, each
    linked one has its own (SPEC §5: linked derived-data wagons run alone)."""
    if not ids:
        return ()
    rows = s.scalars(
        select(WagonDataset)
        .where(WagonDataset.dataset_id == dataset_id, WagonDataset.wagon_id.in_(ids))
        .order_by(WagonDataset.wagon_id)
    )
    groups: dict[tuple[TrainType, bool, bool, int], list[int]] = {}
    for row in rows:
        kind = row.scheduled_type or TrainType.STANDARD_DERIVED
        alone = row.wagon_id if kind is TrainType.LINKED_DERIVED else 0
        key = (kind, bool(row.scheduled_slow), bool(row.scheduled_auto_submit), alone)
        groups.setdefault(key, []).append(row.wagon_id)
    return tuple(
        DerivedBatch(_compatible(s, dataset_id, wagon_ids), kind, slow, auto)
        for (kind, slow, auto, _), wagon_ids in sorted(
            groups.items(), key=lambda kv: (kv[1][0], kv[0][0].value)
        )
    )


def last_compose_runs(s: Session) -> dict[int, datetime]:
    rows = s.execute(
        select(HistoryEntry.object_id, func.max(HistoryEntry.at))
        .where(HistoryEntry.object_type == COMPOSE_RECORD, HistoryEntry.action == "slot")
        .group_by(HistoryEntry.object_id)
    )
    return {oid: at for oid, at in rows}


def compose_views(s: Session, now: datetime, target: Target | None) -> tuple[ComposeView, ...]:
    """Active datasets with automatic composition on, their last handled slot and the
    wagons that could be composed now (clean analysis wagons; scheduled derived ones)."""
    datasets = s.scalars(
        select(Dataset)
        .where(Dataset.auto_compose.is_(True), Dataset.active.is_(True))
        .order_by(Dataset.id)
    ).all()
    if not datasets:
        return ()
    last = last_compose_runs(s)
    requested = _submit_requests(s, [ds.id for ds in datasets])
    out = []
    for ds in datasets:
        ids = auto_candidates(s, ds.id, now)
        derived_ids = {
            w.id for w in s.scalars(select(Wagon).where(Wagon.id.in_(ids))) if w.derived_tables
        }
        plain = _compatible(s, ds.id, [i for i in ids if i not in derived_ids])
        cpu = {}
        for wid in plain:
            test = current_test(s, wid, ds.id)
            hours = expected_cpu_hours_of(test.metrics or {}) if test is not None else None
            if hours is not None:
                cpu[wid] = hours
        derived = derived_batches(s, ds.id, [i for i in ids if i in derived_ids])
        kind = AutoComposeType(ds.auto_compose_type)
        full = bool(
            plain
            and target is not None
            and kind is not AutoComposeType.SCHEDULED
            and train_full(s, ds.id, list(plain), target)
        )
        out.append(
            ComposeView(
                dataset_id=ds.id,
                kind=kind,
                days=tuple(int(d) for d in ds.auto_compose_days or ()),
                times=tuple(str(t) for t in ds.auto_compose_times or ()),
                last_run=last.get(ds.id),
                wagons=plain,
                derived=derived,
                full=full,
                max_cpu_hours=ds.auto_compose_max_cpu_hours,
                cpu_hours=cpu,
                requested=requested.get(ds.id, ()),
                auto_left=_auto_left(s, ds, now),
            )
        )
    return tuple(out)


def _submit_requests(s: Session, dataset_ids: list[int]) -> dict[int, tuple[int, ...]]:
    """Trains operators submitted on these datasets, waiting for an automatic submission time
    (policy: datasets over 50 TB)."""
    rows = s.execute(
        select(TrainRun.dataset_id, TrainRun.id)
        .where(
            TrainRun.dataset_id.in_(dataset_ids),
            TrainRun.submit_requested_at.is_not(None),
            TrainRun.state.in_(
                (TrainState.TEST_DONE, TrainState.TEST_WARNING, TrainState.LONG_TRAIN_APPROVED)
            ),
        )
        .order_by(TrainRun.id)
    )
    out: dict[int, list[int]] = {}
    for did, tid in rows:
        out.setdefault(did, []).append(tid)
    return {did: tuple(ids) for did, ids in out.items()}


def _auto_left(s: Session, ds: Dataset, now: datetime) -> int | None:
    """Automatic trains the dataset's size class still allows in the rolling week (None: the
    dataset has no size class, no limit)."""
    if not ds.size_class:
        return None
    used = s.scalar(
        select(func.count(TrainRun.id)).where(
            TrainRun.dataset_id == ds.id,
            TrainRun.composed_by_id.is_(None),
            TrainRun.requested_by_id.is_(None),
            TrainRun.auto_submit.is_(True),
            TrainRun.composed_at >= now - timedelta(days=7),
            TrainRun.state != TrainState.DECOMPOSED,
        )
    )
    return max(0, int(ds.auto_submission_slots or 0) - int(used or 0))


def long_train_views(s: Session, now: datetime, horizon: timedelta) -> tuple[LongTrainView, ...]:
    """Long-train requests of the last ``horizon`` whose decision was not told yet."""
    trains = s.scalars(
        select(TrainRun)
        .where(TrainRun.requested_by_id.is_not(None), TrainRun.composed_at >= now - horizon)
        .order_by(TrainRun.id)
    ).all()
    if not trains:
        return ()
    told = notified_kinds(s, "train_run", [t.id for t in trains], _LONG_KINDS)
    out = []
    for t in trains:
        reason = ""
        if t.finished_at is not None:
            last = s.scalars(
                select(HistoryEntry.reason)
                .where(
                    HistoryEntry.object_type == "train_run",
                    HistoryEntry.object_id == t.id,
                    HistoryEntry.action == "transition",
                )
                .order_by(HistoryEntry.id.desc())
                .limit(1)
            ).first()
            reason = last or ""
        out.append(
            LongTrainView(
                id=t.id,
                state=t.state,
                requested_at=t.composed_at,
                approved=t.approved_by_id is not None,
                notified=told.get(t.id, frozenset()),
                reason=reason,
            )
        )
    return tuple(out)


# ---------------------------------------------------------------------- jobs of the trains

_JOB_COLUMNS = (Job.id, Job.train_run_id, Job.run_number, Job.state, Job.attempts, Job.target)
#: (run, state, attempts, target as stored) of one job
_Row = tuple[int, Any, int, str | None]


def _view(job_id: int, row: _Row, train_target: str, known: frozenset[str]) -> decide.JobView:
    """A job's target is ``jobs.target``, the train's target when unset or unknown."""
    run, state, attempts, target = row
    if not target or target not in known:
        target = train_target
    return decide.JobView(job_id, run, state, attempts, target)


def full_job_views(
    s: Session, trains: Mapping[int, str], known: frozenset[str]
) -> dict[int, tuple[decide.JobView, ...]]:
    """Every job of ``trains`` (id -> the train's target), by train, in id order: what a
    snapshot reads without :class:`JobViews` (and what a :class:`JobViews` must equal)."""
    out: dict[int, list[decide.JobView]] = {}
    if trains:
        stmt = select(*_JOB_COLUMNS).where(Job.train_run_id.in_(list(trains))).order_by(Job.id)
        for job_id, train_id, run, state, attempts, target in s.execute(stmt):
            view = _view(job_id, (run, state, attempts, target), trains[train_id], known)
            out.setdefault(train_id, []).append(view)
    return {t: tuple(v) for t, v in out.items()}


class JobViews:
    """The jobs of the scheduled trains, kept between ticks: each ``read`` takes only the
    jobs changed since the previous one, so a tick costs what changed, not the size of
    the ``jobs`` table or of the running trains.

    Change detection lives in the database (``hyperloop.db.models.changes``): triggers
    stamp ``jobs.change_seq`` on every insert and every update of a column read here,
    whoever writes (this scheduler, the API, another scheduler, a script), and count
    deletes. A read takes the watermark first, then the rows stamped at or above the
    previous watermark or by a transaction then in progress (``ix_jobs_change_seq``), so
    a change committed while reading is read next time, never skipped. The jobs of a train that enters the
    scheduled set are read whole; a train that leaves it is dropped.

    Everything is read again (``full``) on the first read, after any job was deleted
    (a deleted train's jobs; SQLite may reuse its ids), when the database was replaced
    (another counter epoch), every ``full_every`` as a safety net, and on every read while
    the triggers are missing (a SQLite rebuild of ``jobs`` drops them): then this is the
    full read of every tick, logged once. A restarted scheduler starts empty, so the
    database stays the only truth.
    """

    def __init__(self, full_every: timedelta = timedelta(minutes=10)) -> None:
        self.full_every = full_every
        self.rows: dict[int, dict[int, _Row]] = {}  # train -> job -> row
        self._train_of: dict[int, int] = {}  # job -> train
        self._views: dict[int, tuple[tuple[decide.JobView, ...], str, frozenset[str]]] = {}
        self._mark: tuple[int, tuple[int, ...]] | None = None  # of the previous read
        self._deletes: tuple[str, int] | None = None  # (epoch, n) of the delete counter
        self._full_at: datetime | None = None
        self._warned = False
        self.full_reads = 0
        self.changed_rows = 0  # rows read as changes (for benchmarks and logs)

    def read(
        self, s: Session, trains: Mapping[int, str], known: frozenset[str], now: datetime
    ) -> dict[int, tuple[decide.JobView, ...]]:
        """The jobs of ``trains`` (id -> the train's target) as :func:`full_job_views`."""
        conn = s.connection()
        if not job_triggers_present(conn):
            if not self._warned:
                log.warning("jobs change triggers missing: the scheduler reads every job")
                self._warned = True
            self._mark = None
            return full_job_views(s, trains, known)
        # a read that raises half-way leaves the next one to read everything again
        previous, self._mark = self._mark, None
        deletes = job_counters(conn)
        if deletes is None:  # the counter rows were missing (now created): read whole
            previous, deletes = None, job_counters(conn)
        mark = job_watermark(conn)  # before the rows
        due = self._full_at is None or not timedelta(0) <= now - self._full_at < self.full_every
        if previous is None or deletes != self._deletes or due:
            self._load(s, list(trains), clear=True)
            self._full_at = now
            self.full_reads += 1
        else:
            for gone in set(self.rows) - set(trains):
                self._drop(gone)
            new = [t for t in trains if t not in self.rows]
            if new:
                self._load(s, new, clear=False)
            self._changes(s, previous, trains)
        self._mark, self._deletes = mark, deletes
        return {t: self._train_views(t, trains[t], known) for t in trains if self.rows.get(t)}

    def _load(self, s: Session, train_ids: list[int], *, clear: bool) -> None:
        if clear:
            self.rows, self._train_of, self._views = {}, {}, {}
        for t in train_ids:
            self.rows[t] = {}
            self._views.pop(t, None)
        if not train_ids:
            return
        stmt = select(*_JOB_COLUMNS).where(Job.train_run_id.in_(train_ids))
        for job_id, train_id, run, state, attempts, target in s.execute(stmt):
            self.rows[train_id][job_id] = (run, state, attempts, target)
            self._train_of[job_id] = train_id

    def _changes(
        self, s: Session, since: tuple[int, tuple[int, ...]], trains: Mapping[int, str]
    ) -> None:
        mark, pending = since
        changed = Job.change_seq >= mark
        if pending:  # transactions in progress at the previous read (PostgreSQL)
            changed = or_(changed, Job.change_seq.in_(pending))
        stmt = select(*_JOB_COLUMNS).where(changed)
        for job_id, train_id, run, state, attempts, target in s.execute(stmt):
            self.changed_rows += 1
            before = self._train_of.get(job_id)
            if before is not None and before != train_id:  # moved to another train
                self.rows.get(before, {}).pop(job_id, None)
                self._views.pop(before, None)
                del self._train_of[job_id]
            if train_id not in trains:
                continue  # not scheduled: read whole if it ever enters the set
            self.rows[train_id][job_id] = (run, state, attempts, target)
            self._train_of[job_id] = train_id
            self._views.pop(train_id, None)

    def _drop(self, train_id: int) -> None:
        for job_id in self.rows.pop(train_id, {}):
            self._train_of.pop(job_id, None)
        self._views.pop(train_id, None)

    def _train_views(
        self, train_id: int, target: str, known: frozenset[str]
    ) -> tuple[decide.JobView, ...]:
        cached = self._views.get(train_id)
        if cached is not None and cached[1] == target and cached[2] == known:
            return cached[0]
        rows = self.rows[train_id]
        views = tuple(_view(j, rows[j], target, known) for j in sorted(rows))
        self._views[train_id] = (views, target, known)
        return views
