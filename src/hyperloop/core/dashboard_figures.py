"""The dashboard's job figures over an interval: finished jobs per (train, UTC day) with
done / failed counts, CPU seconds and jobs per site.

Closed UTC days are read from ``dashboard_job_days`` (filled here on first use, one row per
train and day); the open parts of the interval (the partial first day, today) are counted
live from ``jobs``. Triggers on ``jobs`` drop a day's marker whenever a job row enters or
leaves that day (resubmission, late write, delete), so a marked day always equals the live
count. Without the triggers (a SQLite batch rebuild of ``jobs`` drops them) everything is
counted live.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Float,
    Integer,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hyperloop.core.enums import JobState
from hyperloop.core.states import JOB_ERRORS
from hyperloop.db.models import DashboardDay, DashboardJobDay, Job, TrainRun, train_run_wagons
from hyperloop.db.models.dashboard import dashboard_triggers_present

log = logging.getLogger(__name__)

JOB_FINAL = frozenset({JobState.DONE} | JOB_ERRORS)
# a day counts as closed this long after its end (stragglers of the last minutes land first)
CLOSE_GRACE = timedelta(minutes=10)
FILL_CHUNK_DAYS = 31  # days filled per transaction (bounds the time job writers may wait)
FILL_LOCK_TIMEOUT_S = 3  # give up filling (and count live) rather than wait longer


@dataclass(frozen=True)
class JobFigure:
    """Finished jobs of one train last updated on one UTC day (``day``: ISO date)."""

    train_run_id: int
    day: str
    n_done: int
    n_failed: int
    cpu_s: float
    sites: dict[str, int]


def _day_str(value: Any) -> str:
    return value.isoformat()[:10] if isinstance(value, date | datetime) else str(value)[:10]


def utc_day(dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of ``jobs.updated_at`` (PostgreSQL: not the session time zone)."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", Job.updated_at))
    return func.date(Job.updated_at)


def active_trains(lo: datetime, hi: datetime) -> list[ColumnElement[bool]]:
    """Trains that ran during ``[lo, hi)`` (submitted before its end, not finished before
    its start): the dashboard counts only their jobs."""
    return [
        TrainRun.submitted_at.is_not(None),
        TrainRun.submitted_at < hi,
        or_(TrainRun.finished_at.is_(None), TrainRun.finished_at >= lo),
    ]


def live_figures(
    s: Session, a: datetime, b: datetime, lo: datetime, hi: datetime
) -> list[JobFigure]:
    """Count from ``jobs``: final jobs last updated in ``[a, b)`` of trains active in the
    interval ``[lo, hi)``."""
    day = utc_day(s.get_bind().dialect.name)
    site = func.coalesce(Job.site, "unknown")
    active = select(TrainRun.id).where(*active_trains(lo, hi))
    stmt = (
        select(Job.train_run_id, day, Job.state, site, func.count(), func.sum(Job.cpu_s))
        .where(
            Job.train_run_id.in_(active),
            Job.updated_at >= a,
            Job.updated_at < b,
            Job.state.in_(JOB_FINAL),
        )
        .group_by(Job.train_run_id, day, Job.state, site)
    )
    return [
        JobFigure(
            int(tid),
            _day_str(d),
            int(n) if st is JobState.DONE else 0,
            0 if st is JobState.DONE else int(n),
            float(cpu or 0.0),
            {str(where): int(n)},
        )
        for tid, d, st, where, n, cpu in s.execute(stmt)
    ]


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(), UTC)


def closed_days(lo: datetime, hi: datetime, now: datetime) -> list[date]:
    """Whole UTC days inside ``[lo, hi)`` that ended (plus the grace) before ``now``."""
    d = lo.date() if _midnight(lo.date()) == lo else lo.date() + timedelta(days=1)
    out = []
    while _midnight(d + timedelta(days=1)) <= hi and _midnight(d + timedelta(days=1)) <= (
        now - CLOSE_GRACE
    ):
        out.append(d)
        d += timedelta(days=1)
    return out


@dataclass
class Figures:
    """``rows``: live figures per train and day, and stored ones per day (train id 0);
    ``stored_days``: the closed days read from the table (their trains are not listed)."""

    rows: list[JobFigure]
    stored_days: list[date]


def job_figures(
    s: Session,
    lo: datetime,
    hi: datetime,
    *,
    daily: bool = True,
    now: datetime | None = None,
) -> Figures:
    """Finished jobs of ``[lo, hi)`` per day; ``daily`` False counts all live."""
    now = now or datetime.now(UTC)
    closed = closed_days(lo, hi, now) if daily else []
    if closed and not _triggers_ok(s):
        log.warning("dashboard: invalidation triggers on jobs missing; counting live")
        closed = []
    marked = _ensure_filled(s, closed) if closed else set()
    out: list[JobFigure] = []
    for a, b in _live_ranges(lo, hi, marked):
        out.extend(live_figures(s, a, b, lo, hi))
    days = sorted(marked)
    if days:
        out.extend(_stored_figures(s, days, lo, hi))
    return Figures(out, days)


def _live_ranges(lo: datetime, hi: datetime, marked: set[date]) -> list[tuple[datetime, datetime]]:
    """``[lo, hi)`` minus the marked days, as half-open ranges."""
    out: list[tuple[datetime, datetime]] = []
    start = lo
    for d in sorted(marked):
        a, b = _midnight(d), _midnight(d + timedelta(days=1))
        if a > start:
            out.append((start, a))
        start = max(start, b)
    if start < hi:
        out.append((start, hi))
    return out


def _stored_where(days: list[date], lo: datetime, hi: datetime) -> list[ColumnElement[bool]]:
    t = DashboardJobDay
    if days[-1] - days[0] == timedelta(days=len(days) - 1):  # contiguous (the usual case)
        span = [t.day >= days[0], t.day <= days[-1]]
    else:
        span = [t.day.in_(days)]
    # IN (not a join): the active trains come from a covering index on train_runs
    return [*span, t.train_run_id.in_(select(TrainRun.id).where(*active_trains(lo, hi)))]


def _stored_figures(s: Session, days: list[date], lo: datetime, hi: datetime) -> list[JobFigure]:
    """The stored days summed in the database: one figure per day (train id 0)."""
    t = DashboardJobDay
    where = _stored_where(days, lo, hi)
    totals = s.execute(
        select(t.day, func.sum(t.n_done), func.sum(t.n_failed), func.sum(t.cpu_s))
        .where(*where)
        .group_by(t.day)
    ).all()
    if s.get_bind().dialect.name == "postgresql":
        each = func.jsonb_each_text(t.sites).table_valued("key", "value").lateral("e")
    else:
        each = func.json_each(t.sites).table_valued("key", "value").alias("e")
    sites: dict[str, dict[str, int]] = {}
    for d, key, n in s.execute(
        select(t.day, each.c.key, func.sum(cast(each.c.value, Integer)))
        .select_from(t)
        .join(each, true())
        .where(*where)
        .group_by(t.day, each.c.key)
    ):
        sites.setdefault(_day_str(d), {})[str(key)] = int(n)
    return [
        JobFigure(0, _day_str(d), int(nd), int(nf), float(cpu or 0.0), sites.get(_day_str(d), {}))
        for d, nd, nf, cpu in totals
    ]


def analysis_shares(
    s: Session, figures: Figures, lo: datetime, hi: datetime
) -> tuple[dict[int, float], dict[int, int]]:
    """CPU seconds per analysis (a train's CPU shared in proportion to its wagons) and the
    number of trains per analysis: the stored days summed in the database, the live
    figures' trains added here."""
    share: dict[int, float] = {}
    trains_of: dict[int, int] = {}
    live_cpu: dict[int, float] = {}
    for f in figures.rows:
        if f.train_run_id:
            live_cpu[f.train_run_id] = live_cpu.get(f.train_run_id, 0.0) + f.cpu_s
    stored_trains: set[int] = set()
    if figures.stored_days:
        t, link = DashboardJobDay, train_run_wagons.c
        where = _stored_where(figures.stored_days, lo, hi)
        tc = (
            select(t.train_run_id.label("tid"), func.sum(t.cpu_s).label("cpu"))
            .where(*where)
            .group_by(t.train_run_id)
            .cte("tc")
        )
        lw = (
            select(link.train_run_id.label("tid"), link.analysis_id.label("aid"))
            .add_columns(func.count().label("n"))
            .join(tc, tc.c.tid == link.train_run_id)
            .group_by(link.train_run_id, link.analysis_id)
            .cte("lw")
        )
        tot = select(lw.c.tid, func.sum(lw.c.n).label("total")).group_by(lw.c.tid).cte("tot")
        stmt = (
            select(
                lw.c.aid,
                func.sum(tc.c.cpu * lw.c.n / cast(tot.c.total, Float)),
                func.count(),
            )
            .select_from(lw.join(tc, tc.c.tid == lw.c.tid).join(tot, tot.c.tid == lw.c.tid))
            .group_by(lw.c.aid)
        )
        for aid, cpu, n in s.execute(stmt):
            share[int(aid)] = float(cpu or 0.0)
            trains_of[int(aid)] = int(n)
        if live_cpu:
            stored_trains = set(
                s.scalars(
                    select(t.train_run_id)
                    .distinct()
                    .where(*where, t.train_run_id.in_(list(live_cpu)))
                )
            )
    if live_cpu:
        for tid, parts in _compositions(s, live_cpu, lo, hi).items():
            total = sum(n for _, n in parts)
            for aid, n in parts:
                share[aid] = share.get(aid, 0.0) + live_cpu[tid] * n / total
                if tid not in stored_trains:
                    trains_of[aid] = trains_of.get(aid, 0) + 1
    return share, trains_of


def _compositions(
    s: Session, cpu: dict[int, float], lo: datetime, hi: datetime
) -> dict[int, list[tuple[int, int]]]:
    """Train id -> [(analysis id, wagons)] of the trains in ``cpu``."""
    link = train_run_wagons.c
    if len(cpu) <= 900:
        which = link.train_run_id.in_(list(cpu))
    else:  # the interval's active trains (a superset): one query, not many IN lists
        which = link.train_run_id.in_(select(TrainRun.id).where(*active_trains(lo, hi)))
    out: dict[int, list[tuple[int, int]]] = {}
    for tid, aid, n in s.execute(
        select(link.train_run_id, link.analysis_id, func.count())
        .where(which)
        .group_by(link.train_run_id, link.analysis_id)
    ):
        if tid in cpu:
            out.setdefault(tid, []).append((aid, n))
    return out


def _triggers_ok(s: Session) -> bool:
    try:
        return dashboard_triggers_present(s.connection())
    except DBAPIError:
        return False


def _ensure_filled(s: Session, days: list[date]) -> set[date]:
    """The days of ``days`` that are marked after filling the missing ones."""
    have = set(
        s.scalars(
            select(DashboardDay.day).where(
                DashboardDay.day >= days[0], DashboardDay.day <= days[-1]
            )
        )
    )
    missing = [d for d in days if d not in have]
    bind = s.get_bind()
    if not missing or not isinstance(bind, Engine):
        return have & set(days)
    for chunk in _chunks(missing):
        try:
            have |= fill_days(bind, chunk)
        except DBAPIError as exc:  # busy writer, lock timeout, concurrent fill: count live
            log.info("dashboard: filling %s..%s skipped (%s)", chunk[0], chunk[-1], exc)
            break
    return have & set(days)


def _chunks(days: list[date]) -> Iterable[list[date]]:
    """Runs of consecutive days, at most FILL_CHUNK_DAYS long."""
    run: list[date] = []
    for d in days:
        if run and (d - run[-1] != timedelta(days=1) or len(run) >= FILL_CHUNK_DAYS):
            yield run
            run = []
        run.append(d)
    if run:
        yield run


def fill_days(engine: Engine, days: list[date]) -> set[date]:
    """Compute and store the figures of consecutive closed ``days`` in one transaction.

    No job write may commit between reading ``jobs`` and marking the days: PostgreSQL locks
    ``dashboard_days`` against the triggers' deletes (writers wait for this transaction,
    then invalidate); SQLite takes its single write lock before reading."""
    first, last = days[0], days[-1]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SET LOCAL lock_timeout = '{FILL_LOCK_TIMEOUT_S}s'"))
            conn.execute(text("LOCK TABLE dashboard_days IN SHARE ROW EXCLUSIVE MODE"))
        else:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={FILL_LOCK_TIMEOUT_S * 1000}")
            try:  # a write statement first: SQLite's write lock before the reads below
                conn.execute(delete(DashboardDay).where(DashboardDay.day < date(1, 1, 2)))
            finally:
                conn.exec_driver_sql("PRAGMA busy_timeout=30000")
        done = set(
            conn.scalars(
                select(DashboardDay.day).where(DashboardDay.day >= first, DashboardDay.day <= last)
            )
        )
        todo = [d for d in days if d not in done]
        if not todo:
            return set(days)
        conn.execute(delete(DashboardJobDay).where(DashboardJobDay.day.in_(todo)))
        rows = _fold(conn, _midnight(todo[0]), _midnight(todo[-1] + timedelta(days=1)), set(todo))
        if rows:
            conn.execute(insert(DashboardJobDay), rows)
        now = datetime.now(UTC)
        conn.execute(insert(DashboardDay), [{"day": d, "filled_at": now} for d in todo])
    return set(days)


def _fold(conn: Any, a: datetime, b: datetime, days: set[date]) -> list[dict[str, Any]]:
    """Rows of ``dashboard_job_days`` for the final jobs last updated in ``[a, b)``."""
    day = utc_day(conn.dialect.name)
    site = func.coalesce(Job.site, "unknown")
    stmt = (
        select(Job.train_run_id, day, Job.state, site, func.count(), func.sum(Job.cpu_s))
        .where(Job.updated_at >= a, Job.updated_at < b, Job.state.in_(JOB_FINAL))
        .group_by(Job.train_run_id, day, Job.state, site)
    )
    acc: dict[tuple[int, str], dict[str, Any]] = {}
    for tid, d, st, where, n, cpu in conn.execute(stmt):
        key = (int(tid), _day_str(d))
        row = acc.get(key)
        if row is None:
            row = acc[key] = {
                "train_run_id": key[0],
                "day": date.fromisoformat(key[1]),
                "n_done": 0,
                "n_failed": 0,
                "cpu_s": 0.0,
                "sites": {},
            }
        if st is JobState.DONE:
            row["n_done"] += int(n)
        else:
            row["n_failed"] += int(n)
        row["cpu_s"] += float(cpu or 0.0)
        row["sites"][str(where)] = row["sites"].get(str(where), 0) + int(n)
    return [r for r in acc.values() if r["day"] in days]
