"""The dashboard's job figures over an interval: finished jobs per (train, UTC day) with
done / failed counts, CPU seconds and jobs per site, and the CPU per analysis.

Closed UTC days are read from the per-day tables (filled on first use or ahead of time by
:func:`warm`): ``dashboard_days`` holds each day's sums over all trains,
``dashboard_analysis_days`` its CPU per analysis, ``dashboard_job_days`` one row per train
and day (from which the trains not active in the interval are taken out again, and the
trains of the top analyses counted). The open parts of the interval (the partial first day,
today) are counted live from ``jobs``. Triggers on ``jobs`` drop a day's marker whenever a
job row enters or leaves that day (resubmission, late write, delete), so a marked day always
equals the live count. Without the triggers (a SQLite batch rebuild of ``jobs`` drops them)
everything is counted live. A train's wagons (``train_run_wagons``) are written once at
composition: the stored CPU per analysis relies on that.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic as _clock
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    delete,
    func,
    insert,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hyperloop.core.states import JOB_ERRORS
from hyperloop.db.models import (
    DashboardAnalysisDay,
    DashboardDay,
    DashboardJobDay,
    Job,
    TrainRun,
    train_run_wagons,
)
from hyperloop.db.models.dashboard import dashboard_triggers_present
from hyperloop.enums import JobState

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


def utc_day(dialect: str, col: Any = Job.updated_at) -> ColumnElement[Any]:
    """The UTC calendar day of ``col`` (default ``jobs.updated_at``; PostgreSQL: not the
    session time zone)."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", col))
    return func.date(col)


def seconds_between(dialect: str, a: Any, b: Any) -> ColumnElement[Any]:
    """``b - a`` in seconds, computed in the database."""
    if dialect == "postgresql":
        return func.extract("epoch", b - a)
    return (func.julianday(b) - func.julianday(a)) * 86400.0


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
    ``stored_days``: the closed days read from the table (their trains are not listed);
    ``stored_shares``: CPU seconds per analysis of those days; ``doubtful``: analyses of the
    trains taken out of the stored sums (not active in the interval) that may have none left."""

    rows: list[JobFigure]
    stored_days: list[date]
    stored_shares: dict[int, float] = field(default_factory=dict)
    doubtful: set[int] = field(default_factory=set)


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
    if not days:
        return Figures(out, days)
    stored = _stored_figures(s, days, lo, hi)
    out.extend(stored.rows)
    return Figures(out, days, stored.stored_shares, stored.doubtful)


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


def _span(col: Any, days: list[date]) -> list[ColumnElement[bool]]:
    if days[-1] - days[0] == timedelta(days=len(days) - 1):  # contiguous (the usual case)
        return [col >= days[0], col <= days[-1]]
    return [col.in_(days)]


def _stored_figures(s: Session, days: list[date], lo: datetime, hi: datetime) -> Figures:
    """The stored days' totals (one figure per day, train id 0) minus the rows of trains not
    active in the interval (a job written after its train finished before ``lo``, ...)."""
    per_day: dict[str, dict[str, Any]] = {}
    shares: dict[int, float] = {}
    for d, nd, nf, cpu, sites in s.execute(
        select(
            DashboardDay.day,
            DashboardDay.n_done,
            DashboardDay.n_failed,
            DashboardDay.cpu_s,
            DashboardDay.sites,
        ).where(*_span(DashboardDay.day, days))
    ):
        per_day[_day_str(d)] = {"nd": nd, "nf": nf, "cpu": cpu, "sites": dict(sites or {})}
    ad = DashboardAnalysisDay
    for aid, v in s.execute(
        select(ad.analysis_id, func.sum(ad.cpu_s))
        .where(*_span(ad.day, days))
        .group_by(ad.analysis_id)
    ):
        shares[int(aid)] = float(v)
    t = DashboardJobDay
    inactive = s.execute(
        select(t.train_run_id, t.day, t.n_done, t.n_failed, t.cpu_s, t.sites)
        .join(TrainRun, TrainRun.id == t.train_run_id)
        .where(*_span(t.day, days), not_(and_(*active_trains(lo, hi))))
    ).all()
    cpu_of: dict[int, float] = {}
    for tid, d, nd, nf, cpu, sites in inactive:
        row = per_day.get(_day_str(d))
        if row is None:
            continue
        row["nd"] -= nd
        row["nf"] -= nf
        row["cpu"] -= cpu
        for where, n in (sites or {}).items():
            left = row["sites"].get(where, 0) - n
            if left > 0:
                row["sites"][where] = left
            else:
                row["sites"].pop(where, None)
        cpu_of[tid] = cpu_of.get(tid, 0.0) + cpu
    doubtful: set[int] = set()
    for tid, parts in _compositions(s, cpu_of, lo, hi).items():
        total = sum(n for _, n in parts)
        for aid, n in parts:
            shares[aid] = shares.get(aid, 0.0) - cpu_of[tid] * n / total
            doubtful.add(aid)
    rows = [
        JobFigure(0, d, int(r["nd"]), int(r["nf"]), float(r["cpu"]), r["sites"])
        for d, r in per_day.items()
    ]
    return Figures(rows, days, shares, doubtful)


def analysis_shares(
    s: Session, figures: Figures, lo: datetime, hi: datetime, top: int = 10
) -> tuple[dict[int, float], dict[int, int]]:
    """CPU seconds per analysis (a train's CPU shared in proportion to its wagons) and the
    number of trains of the ``top`` largest analyses: the stored days' sums plus the live
    figures' trains; trains are counted only for the analyses shown (one small query)."""
    share = dict(figures.stored_shares)
    live_cpu: dict[int, float] = {}
    for f in figures.rows:
        if f.train_run_id:
            live_cpu[f.train_run_id] = live_cpu.get(f.train_run_id, 0.0) + f.cpu_s
    members: dict[int, set[int]] = {}
    for tid, parts in _compositions(s, live_cpu, lo, hi).items():
        total = sum(n for _, n in parts)
        for aid, n in parts:
            share[aid] = share.get(aid, 0.0) + live_cpu[tid] * n / total
            members.setdefault(aid, set()).add(tid)
    if not figures.stored_days:
        return share, {a: len(m) for a, m in members.items()}
    # live trains already among the stored ones (counted there)
    both = _stored_among(s, figures.stored_days, list(live_cpu))
    extra = {a: len(m - both) for a, m in members.items()}
    trains_of: dict[int, int] = {}
    while True:  # the top analyses and the doubtful ones, until the top is settled
        ranked = sorted(share, key=lambda a: (-share[a], a))[:top]
        need = [a for a in ranked if a not in trains_of]
        need += [
            a for a in sorted(figures.doubtful - set(need)) if a in share and a not in trains_of
        ]
        if not need:
            break
        found = _stored_trains_of(s, figures.stored_days, lo, hi, need)
        for a in need:
            trains_of[a] = found.get(a, 0) + extra.get(a, 0)
            if not trains_of[a]:  # only trains outside the interval had it
                del share[a]
    return share, {a: n for a, n in trains_of.items() if a in share}


def _stored_among(s: Session, days: list[date], trains: list[int]) -> set[int]:
    """The ``trains`` with stored rows on ``days``."""
    if not trains:
        return set()
    t = DashboardJobDay
    return set(
        s.scalars(
            select(t.train_run_id).distinct().where(*_span(t.day, days), t.train_run_id.in_(trains))
        )
    )


def _stored_trains_of(
    s: Session, days: list[date], lo: datetime, hi: datetime, analyses: list[int]
) -> dict[int, int]:
    """Analysis id -> the number of its trains active in ``[lo, hi)`` with stored rows on
    ``days``."""
    link, t = train_run_wagons.c, DashboardJobDay
    has_rows = (
        select(t.train_run_id).where(t.train_run_id == link.train_run_id, *_span(t.day, days))
    ).exists()
    return {
        int(aid): int(n)
        for aid, n in s.execute(
            select(link.analysis_id, func.count(link.train_run_id.distinct()))
            .where(
                link.analysis_id.in_(analyses),
                link.train_run_id.in_(select(TrainRun.id).where(*active_trains(lo, hi))),
                has_rows,
            )
            .group_by(link.analysis_id)
        )
    }


def _compositions(
    s: Any, cpu: dict[int, float], lo: datetime | None = None, hi: datetime | None = None
) -> dict[int, list[tuple[int, int]]]:
    """Train id -> [(analysis id, wagons)] of the trains in ``cpu`` (``s``: a session or a
    connection; ``lo``/``hi``: the interval, whose active trains replace a long IN list)."""
    if not cpu:
        return {}
    link = train_run_wagons.c
    if len(cpu) <= 900 or lo is None or hi is None:
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
        conn.execute(delete(DashboardAnalysisDay).where(DashboardAnalysisDay.day.in_(todo)))
        rows = _fold(conn, _midnight(todo[0]), _midnight(todo[-1] + timedelta(days=1)), set(todo))
        # only trains that exist (the live count's train filter drops the others)
        tids = {r["train_run_id"] for r in rows}
        real = set(conn.scalars(select(TrainRun.id).where(TrainRun.id.in_(list(tids)))))
        rows = [r for r in rows if r["train_run_id"] in real]
        if rows:
            conn.execute(insert(DashboardJobDay), rows)
        totals, shares = _day_totals(conn, todo, rows)
        conn.execute(insert(DashboardDay), totals)
        if shares:
            conn.execute(insert(DashboardAnalysisDay), shares)
    return set(days)


def _day_totals(
    conn: Any, days: list[date], rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of ``dashboard_days`` (the sums of each day's train rows) and of
    ``dashboard_analysis_days`` (each train's CPU shared in proportion to its wagons)."""
    now = datetime.now(UTC)
    out = {
        d: {"day": d, "filled_at": now, "n_done": 0, "n_failed": 0, "cpu_s": 0.0, "sites": {}}
        for d in days
    }
    comps = _compositions(conn, {r["train_run_id"]: 1.0 for r in rows})
    shares: dict[tuple[date, int], float] = {}
    for r in rows:
        tot = out[r["day"]]
        tot["n_done"] += r["n_done"]
        tot["n_failed"] += r["n_failed"]
        tot["cpu_s"] += r["cpu_s"]
        for where, n in r["sites"].items():
            tot["sites"][where] = tot["sites"].get(where, 0) + n
        parts = comps.get(r["train_run_id"], [])
        total = sum(n for _, n in parts)
        for aid, n in parts:
            key = (r["day"], int(aid))
            shares[key] = shares.get(key, 0.0) + r["cpu_s"] * n / total
    per_analysis = [{"day": d, "analysis_id": a, "cpu_s": v} for (d, a), v in shares.items()]
    return list(out.values()), per_analysis


def warm(
    bind: Engine | Session,
    now: datetime | None = None,
    *,
    days: int = 366,
    budget_s: float = 20.0,
    chunk_days: int = 7,
) -> int:
    """Fill the missing closed days of the last ``days`` days, newest first, a few days per
    transaction, until ``budget_s`` is spent (at least one chunk; the scheduler's daily
    clean-up calls it, so the first visitor of a long interval finds the days stored).
    Returns the number of days filled."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    if not isinstance(engine, Engine):
        raise TypeError(f"dashboard warm: expected an Engine or a Session, got {bind!r}")
    now = now or datetime.now(UTC)
    start = datetime.combine(now.date() - timedelta(days=days), time(), UTC)
    closed = closed_days(start, now, now)
    if not closed:
        return 0
    with engine.connect() as conn:
        if not dashboard_triggers_present(conn):
            log.warning("dashboard warm: invalidation triggers on jobs missing; nothing stored")
            return 0
        have = set(
            conn.scalars(
                select(DashboardDay.day).where(
                    DashboardDay.day >= closed[0], DashboardDay.day <= closed[-1]
                )
            )
        )
    missing = [d for d in closed if d not in have]
    t0 = _clock()
    filled = 0
    for chunk in _chunks_newest_first(missing, chunk_days):
        if filled and _clock() - t0 >= budget_s:  # at least one chunk per call
            break
        try:
            fill_days(engine, chunk)
        except DBAPIError as exc:  # a busy writer: try again at the next clean-up
            log.info("dashboard warm: %s..%s skipped (%s)", chunk[0], chunk[-1], exc)
            continue
        filled += len(chunk)
    return filled


def _chunks_newest_first(days: list[date], size: int) -> list[list[date]]:
    """Runs of consecutive days of at most ``size``, the most recent run first."""
    out: list[list[date]] = []
    run: list[date] = []
    for d in reversed(days):
        if run and (run[-1] - d != timedelta(days=1) or len(run) >= size):
            out.append(sorted(run))
            run = []
        run.append(d)
    if run:
        out.append(sorted(run))
    return out


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
