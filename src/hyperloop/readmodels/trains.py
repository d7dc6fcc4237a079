"""Read models of the train views (SPEC §6): dashboard, train run list, train run result
tabs, jobs, merging, outputs, train test, compare and train submission.

Each function is the one data source of a web page *and* its JSON endpoint. Database reads
only (bounded queries on indexed columns, fast on the 10,000-train benchmark database) plus
the files the scheduler leaves under the outputs root: ``trains/<id>/jobs/job-<job id>/
attempt-<n>/`` (attempt.json, record.json, console.log), ``trains/<id>/merged/{runs/<run>,
mergelists/<name>,final}/`` and ``tests/train-test-<id>/sample/attempt-<n>/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, defer

from hyperloop.core import jobs, permissions
from hyperloop.core.actor import Actor
from hyperloop.core.assessment import blocking_warning
from hyperloop.core.co2 import co2_kg_from_seconds, flights_text
from hyperloop.core.permissions import Action
from hyperloop.core.states import JOB_ERRORS, TRAIN_FINAL, TRAIN_TRANSITIONS, can_transition
from hyperloop.core.trains import (
    FINAL_MERGE_REQUEST,
    FINAL_MERGE_REQUESTABLE,
    INCREMENT_TYPES,
    lineage,
)
from hyperloop.db.models import (
    Analysis,
    Dataset,
    HistoryEntry,
    Job,
    PackageTag,
    Target,
    TrainRun,
    User,
    WagonDataset,
    WagonTest,
    train_run_wagons,
)
from hyperloop.enums import JobState, TestStatus, TrainState, TrainType
from hyperloop.grid import store
from hyperloop.readmodels import train_forms
from hyperloop.readmodels.dashboard import (
    analysis_shares,
    job_figures,
    seconds_between,
    utc_day,
)

TOP_N = 10
TRAIN_RUNNING = (TrainState.SUBMITTED, TrainState.RUNNING, TrainState.MERGING)
TRAIN_TO_SUBMIT = (TrainState.TEST_DONE, TrainState.TEST_WARNING, TrainState.LONG_TRAIN_APPROVED)
TRAIN_TESTING = (TrainState.COMPOSED, TrainState.TESTING)
INTERVALS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}
# The dashboard's work grows with the days of its interval: a custom one spans at most ten
# years (an interval of centuries kept a server busy for minutes).
MAX_CUSTOM_DAYS = 3660
# train state -> the status icon key of the layout (STATUS_ICONS)
TRAIN_ICON = {
    TrainState.COMPOSED: "queued",
    TrainState.TESTING: "running",
    TrainState.TEST_DONE: "done",
    TrainState.TEST_WARNING: "warning",
    TrainState.TEST_FAILED: "failed",
    TrainState.LONG_TRAIN_REQUESTED: "queued",
    TrainState.LONG_TRAIN_APPROVED: "queued",
    TrainState.SUBMITTED: "queued",
    TrainState.RUNNING: "running",
    TrainState.MERGING: "running",
    TrainState.DONE: "done",
    TrainState.KILLED: "failed",
    TrainState.CLOSED: "warning",
    TrainState.DECOMPOSED: "warning",
}
JOB_ICON = {JobState.WAITING: "queued", JobState.RUNNING: "running", JobState.DONE: "done"}


def icon_of(state: TrainState | JobState | str) -> str:
    """Status-icon key (queued/running/done/warning/failed) of a train or job state."""
    if isinstance(state, TrainState):
        return TRAIN_ICON[state]
    if isinstance(state, JobState):
        return JOB_ICON.get(state, "failed")
    return str(state)


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# =========================================================================== files


@dataclass(frozen=True)
class FileRoots:
    """Where the scheduler's files are (``work``: ``trains/<id>/``, ``tests/``) and the
    outputs root the pages link into (``root``: paths shown are relative to it). With a
    remote ``storage_url`` both are the web server's local mirror of the storage
    (``mirror``), brought up to date folder by folder as pages ask for them."""

    root: Path
    work: Path
    mirror: store.Mirror | None = None


def storage_mirror(settings: Any) -> store.Mirror | None:
    """The server's read-through copy of a remote ``storage_url`` in
    ``<cache_dir>/storage-mirror/`` (``cache_dir`` unset: ``<data_dir>/cache``); None when
    the storage is a local folder (read in place)."""
    url = getattr(settings, "storage_url", None) or ""
    if not store.is_remote(url):
        return None
    cache = getattr(settings, "cache_dir", None) or Path(settings.data_dir) / "cache"
    return store.Mirror.under(url, cache)


def file_roots(settings: Any) -> FileRoots:
    """The roots of the server settings: ``outputs_root`` (default ``data_dir``) and the
    scheduler's ``work_dir`` (default ``<data_dir>/work``); with a remote storage, its
    mirror (``storage_mirror``) for both."""
    mirror = storage_mirror(settings)
    if mirror is not None:
        return FileRoots(mirror.local, mirror.local, mirror)
    data = Path(settings.data_dir)
    root = Path(settings.outputs_root or data)
    work = Path(getattr(settings, "work_dir", None) or data / "work")
    return FileRoots(root, work)


def owner_folder(roots: FileRoots | None, kind: str, name: str, *within: str) -> Path | None:
    """An owner's folder of the work folder (``trains/<id>``, ``tests/train-test-<id>``),
    if it exists; with a remote storage, its part ``within`` (all of it when empty) is
    brought up to date in the mirror first (``store.StorageUnreachable`` when the storage
    cannot be read)."""
    if roots is None:
        return None
    folder = roots.work / kind / name
    if roots.mirror is not None:
        roots.mirror.sync("/".join((kind, name, *within)))
    return folder if folder.is_dir() else None


def train_folder(roots: FileRoots | None, train_id: int, *within: str) -> Path | None:
    """The scheduler's folder of a submitted train (jobs and merges), if it exists; with a
    remote storage, its part ``within`` (``jobs/job-<id>``, ``merged``) up to date."""
    return owner_folder(roots, "trains", str(train_id), *within)


def local_path(roots: FileRoots | None, location: str | Path) -> Path:
    """A file the scheduler recorded (a path, or a URL of the remote storage) as a path
    the read models can read: a URL of the storage maps to its mirror."""
    text = str(location)
    if roots is not None and roots.mirror is not None and store.is_remote(text):
        return roots.mirror.local_of(text) or Path(text)
    return Path(text)


def _rel(roots: FileRoots | None, path: Path) -> str | None:
    """``path`` relative to the outputs root (None: outside it, not linkable)."""
    if roots is None:
        return None
    try:
        return path.resolve().relative_to(roots.root.resolve()).as_posix()
    except ValueError:
        return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _file_entry(roots: FileRoots | None, path: Path, label: str = "") -> dict[str, Any] | None:
    rel = _rel(roots, path)
    if rel is None or not path.is_file():
        return None
    return {"label": label or path.name, "path": rel, "size": path.stat().st_size}


# =========================================================================== dashboard


@dataclass(frozen=True)
class Interval:
    """The dashboard's time window ``[start, end)`` and how it was chosen."""

    name: str
    start: datetime
    end: datetime


def resolve_interval(
    name: str = "week",
    start: date | None = None,
    end: date | None = None,
    now: datetime | None = None,
) -> Interval:
    """``day``/``week``/``month`` back from now, or ``custom`` whole days start..end."""
    now = _aware(now) or datetime.now(UTC)
    if name == "custom":
        if start is None:
            raise ValueError("a custom interval needs a start date")
        end = end or now.date()
        if end < start:
            raise ValueError(f"interval end {end} is before its start {start}")
        if (end - start).days >= MAX_CUSTOM_DAYS:
            raise ValueError(
                f"custom interval {start}..{end} spans {(end - start).days + 1} days; "
                f"at most {MAX_CUSTOM_DAYS}"
            )
        lo = datetime.combine(start, time(), UTC)
        return Interval("custom", lo, datetime.combine(end + timedelta(days=1), time(), UTC))
    if name not in INTERVALS:
        raise ValueError(f"interval {name!r}: expected day, week, month or custom")
    return Interval(name, now - INTERVALS[name], now)


def _day(value: Any) -> str:
    return value.isoformat()[:10] if isinstance(value, date | datetime) else str(value)[:10]


def dashboard_data(
    s: Session, interval: Interval, *, daily: bool = True, now: datetime | None = None
) -> dict[str, Any]:
    """Now: wagons waiting, tests running, trains to submit, running trains and jobs, trains
    per state. Over the interval: trains finished, average completion, jobs done/failed,
    CPU, wagons tested, top analyses by CPU, and per-day series (jobs, CPU, sites).

    Job figures of closed days come from the per-day table (``daily``; False counts every
    job live, the reference the tests compare with); ``now`` decides which days are closed."""
    lo, hi = interval.start, interval.end
    per_state = {st.value: 0 for st in TrainState}
    for st, n in s.execute(select(TrainRun.state, func.count()).group_by(TrainRun.state)):
        per_state[st.value] = int(n)
    current = {
        "wagons_waiting": s.scalar(
            select(func.count()).select_from(WagonDataset).where(WagonDataset.enabled.is_(True))
        )
        or 0,
        "tests_running": s.scalar(
            select(func.count())
            .select_from(WagonTest)
            .where(WagonTest.status.in_((TestStatus.QUEUED, TestStatus.RUNNING)))
        )
        or 0,
        "trains_testing": sum(per_state[t.value] for t in TRAIN_TESTING),
        "trains_to_submit": sum(per_state[t.value] for t in TRAIN_TO_SUBMIT),
        "trains_running": sum(per_state[t.value] for t in TRAIN_RUNNING),
        # begun on a worker; jobs only queued in the engine are not running (issue 17)
        "jobs_running": jobs.running_split(s)[1],
    }
    # trains finished in the interval, summed in the database (a year: thousands of trains)
    dialect = s.get_bind().dialect.name
    in_interval = (TrainRun.finished_at >= lo, TrainRun.finished_at < hi)
    finished_per_state = {
        st: int(n)
        for st, n in s.execute(
            select(TrainRun.state, func.count()).where(*in_interval).group_by(TrainRun.state)
        )
    }
    done_trains = (*in_interval, TrainRun.state == TrainState.DONE)
    n_timed, sum_s = s.execute(
        select(
            func.count(),
            func.sum(seconds_between(dialect, TrainRun.submitted_at, TrainRun.finished_at)),
        ).where(*done_trains, TrainRun.submitted_at.is_not(None))
    ).one()
    finish_day = utc_day(dialect, TrainRun.finished_at)
    trains_done_per_day = s.execute(
        select(finish_day, func.count()).where(*done_trains).group_by(finish_day)
    ).all()
    figures = job_figures(s, lo, hi, daily=daily, now=now)
    tests = s.execute(
        select(WagonTest.status, func.count())
        .where(WagonTest.finished_at >= lo, WagonTest.finished_at < hi)
        .group_by(WagonTest.status)
    ).all()
    days = _days(lo, hi)
    index = {d: i for i, d in enumerate(days)}
    done_s, failed_s, cpu_s = [0] * len(days), [0] * len(days), [0.0] * len(days)
    jobs_done = jobs_failed = 0
    cpu_total = 0.0
    sites: dict[str, list[int]] = {}
    for f in figures.rows:
        cpu_total += f.cpu_s
        jobs_done += f.n_done
        jobs_failed += f.n_failed
        i = index.get(f.day)
        if i is None:
            continue
        done_s[i] += f.n_done
        failed_s[i] += f.n_failed
        cpu_s[i] += f.cpu_s / 3600.0
        for where, n in f.sites.items():
            per_day = sites.get(where)
            if per_day is None:
                per_day = sites[where] = [0] * len(days)
            per_day[i] += n
    top_sites = sorted(sites, key=lambda k: (-sum(sites[k]), k))[:TOP_N]
    trains_done_s = [0] * len(days)
    for d, n in trains_done_per_day:
        i = index.get(_day(d))
        if i is not None:
            trains_done_s[i] += int(n)
    return {
        "interval": {"name": interval.name, "start": lo, "end": hi},
        "now": current,
        "trains_per_state": per_state,
        "period": {
            "trains_finished": sum(finished_per_state.values()),
            "trains_done": finished_per_state.get(TrainState.DONE, 0),
            "trains_killed": finished_per_state.get(TrainState.KILLED, 0),
            "avg_completion_hours": (float(sum_s) / n_timed / 3600.0) if n_timed else None,
            "jobs_done": jobs_done,
            "jobs_failed": jobs_failed,
            "cpu_hours": cpu_total / 3600.0,
            "co2_kg": co2_kg_from_seconds(cpu_total),
            "wagons_tested": sum(int(n) for _, n in tests),
            "tests_per_status": {st.value: int(n) for st, n in tests},
        },
        "top_analyses": _top_analyses(s, *analysis_shares(s, figures, lo, hi, TOP_N)),
        "series": {
            "days": [datetime.fromisoformat(d).replace(tzinfo=UTC).timestamp() for d in days],
            "labels": days,
            "jobs_done": done_s,
            "jobs_failed": failed_s,
            "cpu_hours": [round(v, 3) for v in cpu_s],
            "trains_done": trains_done_s,
            "sites": {k: sites[k] for k in top_sites},
        },
    }


def _days(lo: datetime, hi: datetime) -> list[str]:
    out, d = [], lo.date()
    last = (hi - timedelta(microseconds=1)).date()
    while d <= last and len(out) < 400:
        out.append(d.isoformat())
        d += timedelta(days=1)
    return out


def _top_analyses(
    s: Session, share: dict[int, float], trains_of: dict[int, int]
) -> list[dict[str, Any]]:
    """The TOP_N analyses by CPU share, largest first, with names and PWGs."""
    if not share:
        return []
    top = sorted(share, key=lambda a: (-share[a], a))[:TOP_N]
    found = s.execute(select(Analysis.id, Analysis.name, Analysis.pwg).where(Analysis.id.in_(top)))
    names, pwgs = {}, {}
    for aid, name, pwg in found:
        names[aid], pwgs[aid] = name, pwg
    return [
        {
            "analysis_id": a,
            "name": names.get(a, f"analysis {a}"),
            "pwg": pwgs.get(a, ""),
            "cpu_hours": share[a] / 3600.0,
            "trains": trains_of[a],
        }
        for a in top
    ]


# =========================================================================== train run list


@dataclass
class TrainFilters:
    """Filters of the train run list (every one optional)."""

    dataset_id: int | None = None
    states: Sequence[TrainState] = ()
    train_type: TrainType | None = None
    analysis_id: int | None = None
    tag_id: int | None = None
    composed_after: datetime | None = None
    composed_before: datetime | None = None


def train_runs_query(f: TrainFilters) -> Select[Any]:
    """Newest first; the big JSON columns are not loaded (the list shows none of them)."""
    stmt = (
        select(TrainRun)
        .options(
            defer(TrainRun.wagons_snapshot),
            defer(TrainRun.dataset_snapshot),
            defer(TrainRun.test_metrics),
            defer(TrainRun.test_warnings),
        )
        .order_by(TrainRun.id.desc())
    )
    if f.dataset_id is not None:
        stmt = stmt.where(TrainRun.dataset_id == f.dataset_id)
    if f.states:
        stmt = stmt.where(TrainRun.state.in_(list(f.states)))
    if f.train_type is not None:
        stmt = stmt.where(TrainRun.train_type == f.train_type)
    if f.tag_id is not None:
        stmt = stmt.where(TrainRun.tag_id == f.tag_id)
    if f.composed_after is not None:
        stmt = stmt.where(TrainRun.composed_at >= f.composed_after)
    if f.composed_before is not None:
        stmt = stmt.where(TrainRun.composed_at < f.composed_before)
    if f.analysis_id is not None:
        members = select(train_run_wagons.c.train_run_id).where(
            train_run_wagons.c.analysis_id == f.analysis_id
        )
        stmt = stmt.where(TrainRun.id.in_(members))
    return stmt


@dataclass
class TrainRow:
    train: TrainRun
    dataset: str
    target: str
    n_wagons: int
    analyses: list[str]
    job_counts: dict[str, int] = field(default_factory=dict)


def train_runs_page(
    s: Session, f: TrainFilters, limit: int, offset: int, *, details: bool = True
) -> tuple[list[TrainRow], int]:
    """One page of train runs and the total; ``details`` adds names, wagons and jobs."""
    stmt = train_runs_query(f)
    total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    # the snapshots and test results (tens of kB a train, parsed as JSON) are not listed
    lean = stmt.options(
        defer(TrainRun.wagons_snapshot),
        defer(TrainRun.dataset_snapshot),
        defer(TrainRun.test_metrics),
        defer(TrainRun.test_warnings),
    )
    page = list(s.scalars(lean.limit(limit).offset(offset)))
    if not details or not page:
        return [TrainRow(t, "", "", 0, []) for t in page], total
    ids = [t.id for t in page]
    ds_names = dict(
        s.execute(
            select(Dataset.id, Dataset.name).where(Dataset.id.in_({t.dataset_id for t in page}))
        ).all()
    )
    targets = dict(s.execute(select(Target.id, Target.name)).all())
    links = s.execute(
        select(train_run_wagons.c.train_run_id, train_run_wagons.c.analysis_id, func.count())
        .where(train_run_wagons.c.train_run_id.in_(ids))
        .group_by(train_run_wagons.c.train_run_id, train_run_wagons.c.analysis_id)
    ).all()
    a_names = dict(
        s.execute(
            select(Analysis.id, Analysis.name).where(Analysis.id.in_({a for _, a, _ in links}))
        ).all()
    )
    counts: dict[int, dict[str, int]] = {}
    for tid, st, n in s.execute(
        select(Job.train_run_id, Job.state, func.count())
        .where(Job.train_run_id.in_(ids))
        .group_by(Job.train_run_id, Job.state)
    ):
        counts.setdefault(tid, {})[st.value] = int(n)
    rows = []
    for t in page:
        mine = [(a, n) for tid, a, n in links if tid == t.id]
        rows.append(
            TrainRow(
                t,
                ds_names.get(t.dataset_id, str(t.dataset_id)),
                targets.get(t.target_id, str(t.target_id)),
                sum(n for _, n in mine),
                sorted(a_names.get(a, str(a)) for a, _ in mine),
                counts.get(t.id, {}),
            )
        )
    return rows, total


def filter_choices(s: Session) -> dict[str, Any]:
    """Options of the list filters: datasets, analyses, states, types."""
    return {
        "datasets": s.execute(select(Dataset.id, Dataset.name).order_by(Dataset.name)).all(),
        "analyses": s.execute(select(Analysis.id, Analysis.name).order_by(Analysis.name)).all(),
        "states": [st.value for st in TrainState],
        "types": [t.value for t in TrainType],
    }


# =========================================================================== one train run


@dataclass(frozen=True)
class TrainAction:
    """An operator/analyzer action shown as a button: POST ``url`` with ``body``."""

    name: str
    label: str
    url: str
    confirm: str = ""
    body: dict[str, Any] | None = None
    danger: bool = False
    # a choice sent with the action: ``body[field]`` = the chosen ``options`` id
    field: str = ""
    options: tuple[dict[str, Any], ...] = ()
    selected: int | None = None


def train_actions(
    train: TrainRun,
    actor: Actor | None,
    failed_jobs: int,
    *,
    short_dataset: bool,
    done_jobs: int | None = None,
    targets: Sequence[dict[str, Any]] = (),
) -> list[TrainAction]:
    """The actions this actor may take on the train in its current state (SPEC §1, §3);
    ``done_jobs`` None: not counted (the final-merge button shows by state alone);
    ``targets``: offered with *Submit* (the train test's target preselected)."""
    user = actor.user if actor else None
    st = train.state
    base = f"/api/train-runs/{train.id}"
    out: list[TrainAction] = []
    if permissions.can(user, Action.TRAIN_OPERATE, train):
        if (
            can_transition(TRAIN_TRANSITIONS, st, TrainState.SUBMITTED)
            and st in TRAIN_TO_SUBMIT
            and blocking_warning(train.test_warnings) is None  # the page says why
        ):
            out.append(
                TrainAction(
                    "submit",
                    "Submit",
                    f"{base}/submit",
                    body={} if targets else None,
                    field="target_id" if targets else "",
                    options=tuple(targets),
                    selected=train.target_id if targets else None,
                )
            )
        if failed_jobs and st in TRAIN_RUNNING:
            out.append(
                TrainAction(
                    "resubmit",
                    f"Resubmit {failed_jobs} failed jobs",
                    f"{base}/resubmit",
                )
            )
        if (
            st in FINAL_MERGE_REQUESTABLE
            and train.final_merge_requested_at is None
            and done_jobs != 0
        ):
            out.append(
                TrainAction(
                    "final-merge",
                    "Final merge now",
                    f"{base}/final-merge",
                    f"Final merge of train run {train.id} now? Runs whose jobs are not all "
                    "done are left out and listed as missing; no job is retried any more.",
                    {},
                )
            )
        if can_transition(TRAIN_TRANSITIONS, st, TrainState.KILLED):
            kill_msg = f"Kill train run {train.id}? Every job is stopped."
            out.append(TrainAction("kill", "Kill", f"{base}/kill", kill_msg, {}, True))
        if can_transition(TRAIN_TRANSITIONS, st, TrainState.DECOMPOSED):
            out.append(
                TrainAction(
                    "decompose",
                    "Decompose",
                    f"{base}/decompose",
                    f"Decompose train run {train.id}? Its wagons become free for another train.",
                    danger=True,
                )
            )
        if can_transition(TRAIN_TRANSITIONS, st, TrainState.CLOSED):
            out.append(
                TrainAction(
                    "close",
                    "Close",
                    f"{base}/close",
                    f"Close train run {train.id}? Running jobs are left alone.",
                    {},
                    True,
                )
            )
        out.append(TrainAction("clone", "Clone", f"{base}/clone", body={}))
        if st is TrainState.DONE and train.train_type in INCREMENT_TYPES:
            out.append(
                TrainAction(
                    "increment",
                    "Run on new runs",
                    f"{base}/increment",
                    f"Run train run {train.id} again on the runs its dataset gained since, "
                    "and merge them with its output?",
                    {},
                )
            )
    if (
        st is TrainState.LONG_TRAIN_REQUESTED
        and user is not None
        and permissions.can(user, Action.APPROVE_LONG_TRAIN, train)
    ):
        out.append(TrainAction("approve", "Approve long train", f"{base}/approve", body={}))
    if (
        st is TrainState.DONE
        and short_dataset
        and permissions.can(user, Action.REQUEST_LONG_TRAIN, train)
    ):
        out.append(TrainAction("long-train", "Request long train", f"{base}/long-train"))
    return out


def _user_names(s: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(s.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def train_overview(s: Session, train: TrainRun, actor: Actor | None) -> dict[str, Any]:
    """The general tab: state, wagons, dataset, tag, target, times, progress, CO2, history,
    related trains, comments and the actions the actor may take."""
    counts = jobs.job_counts(s, train.id)
    total = sum(counts.values())
    done = counts.get(JobState.DONE.value, 0)
    failed = sum(counts.get(e.value, 0) for e in JOB_ERRORS)
    cpu = (
        s.scalar(
            select(func.coalesce(func.sum(Job.cpu_s), 0.0)).where(Job.train_run_id == train.id)
        )
        or 0.0
    )
    ds = s.get(Dataset, train.dataset_id)
    tag = s.get(PackageTag, train.tag_id)
    target = s.get(Target, train.target_id)
    entries = list(
        s.scalars(
            select(HistoryEntry)
            .where(HistoryEntry.object_type == "train_run", HistoryEntry.object_id == train.id)
            .order_by(HistoryEntry.id)
        )
    )
    names = _user_names(
        s,
        [e.user_id for e in entries]
        + [e.impersonator_id for e in entries]
        + [c.user_id for c in train.comments]
        + [train.composed_by_id, train.approved_by_id, train.requested_by_id],
    )
    events = [
        {
            "at": e.at,
            "action": e.action,
            "state": (e.snapshot or {}).get("state")
            if e.action in ("transition", FINAL_MERGE_REQUEST)
            else TrainState.COMPOSED.value,
            "previous": ((e.changes or {}).get("state") or [None])[0],
            "user": names.get(e.user_id) if e.user_id else "scheduler",
            "impersonator": names.get(e.impersonator_id) if e.impersonator_id else None,
            "reason": e.reason,
        }
        for e in entries
    ]
    related = s.execute(
        select(TrainRun.id, TrainRun.state, TrainRun.dataset_id)
        .where(TrainRun.parent_id == train.id)
        .order_by(TrainRun.id)
    ).all()
    wagons = [
        {
            "wagon_id": w.get("wagon_id"),
            "name": w.get("name"),
            "analysis_id": w.get("analysis_id"),
            "analysis": w.get("analysis_name"),
            "pwg": w.get("pwg"),
            "workflow": w.get("workflow"),
            "version": w.get("version"),
            "test_id": w.get("test_id"),
            "test_status": w.get("test_status"),
            "heavy": bool(w.get("heavy")),
            "subwagons": sorted((w.get("subwagons") or {}).keys()),
            "dependencies": [d.get("name") for d in w.get("dependency_snapshots", [])],
        }
        for w in train.wagons_snapshot or []
    ]
    short = ds is not None and ds.parent_id is not None
    targets = train_forms.target_choices(s)
    return {
        "id": train.id,
        "state": train.state.value,
        "icon": icon_of(train.state),
        "final": train.state in TRAIN_FINAL,
        "train_type": train.train_type.value,
        "slow": train.slow,
        "auto_submit": train.auto_submit,
        "dataset": {"id": train.dataset_id, "name": ds.name if ds else None, "short": short},
        "tag": {"id": train.tag_id, "name": f"{tag.name} {tag.version}" if tag else None},
        "target": {
            "id": train.target_id,
            "name": target.name if target else None,
            "cores": target.cores if target else None,
            "memory_limit_mb": target.memory_limit_mb if target else None,
        },
        "composed_at": train.composed_at,
        "submitted_at": train.submitted_at,
        "finished_at": train.finished_at,
        "composed_by": names.get(train.composed_by_id) if train.composed_by_id else None,
        "requested_by": names.get(train.requested_by_id) if train.requested_by_id else None,
        "approved_by": names.get(train.approved_by_id) if train.approved_by_id else None,
        "parent_id": train.parent_id,
        "children": [{"id": i, "state": st.value, "dataset_id": d} for i, st, d in related],
        "increment": increment_of(s, train),
        "wagons": wagons,
        "job_counts": counts,
        "progress": {"total": total, "done": done, "failed": failed},
        "cpu_hours": cpu / 3600.0,
        "co2_kg": co2_kg_from_seconds(cpu),
        "co2_flights": flights_text(co2_kg_from_seconds(cpu)),
        "output_dir": train.output_dir,
        "history": events,
        "comments": [
            {"user": names.get(c.user_id, "?"), "text": c.text, "at": c.created_at}
            for c in train.comments
        ],
        "actions": [
            a.__dict__
            for a in train_actions(
                train, actor, failed, short_dataset=short, done_jobs=done, targets=targets
            )
        ],
        "forms": {
            "clone": train_forms.clone_form(s, train, actor, targets),
            "long_train": train_forms.long_train_form(s, train, actor, targets),
        },
        "can_comment": permissions.can(actor.user if actor else None, Action.COMMENT, train),
    }


def increment_of(s: Session, train: TrainRun) -> dict[str, Any]:
    """The lineage of an incremental train (SPEC issue 21 item 5): the train run it adds
    runs to (``parent_id``), the runs it processes (``runs_covered``), the earlier train runs
    of its lineage (newest first) and its increments (train runs that add runs to it)."""
    later = [
        {"id": i, "state": st.value, "runs_covered": list(runs or [])}
        for i, st, runs in s.execute(
            select(TrainRun.id, TrainRun.state, TrainRun.increment_runs)
            .where(TrainRun.increment_of_id == train.id)
            .order_by(TrainRun.id)
        )
    ]
    chain = [t.id for t in lineage(s, train)[1:]]
    return {
        "incremental": train.increment_of_id is not None,
        "parent_id": train.increment_of_id,
        "runs_covered": list(train.increment_runs or []),
        "lineage": chain,
        "increments": later,
    }


def train_status(s: Session, train: TrainRun) -> dict[str, Any]:
    """What the live-status partial shows: state, icon, job progress, whether final."""
    counts = jobs.job_counts(s, train.id)
    failed = sum(counts.get(e.value, 0) for e in JOB_ERRORS)
    queued, running = jobs.running_split(s, train.id) if counts.get("running") else (0, 0)
    return {
        "id": train.id,
        "state": train.state.value,
        "icon": icon_of(train.state),
        "final": train.state in TRAIN_FINAL,
        "jobs": sum(counts.values()),
        "done": counts.get(JobState.DONE.value, 0),
        "failed": failed,
        "running": running,  # begun on a worker
        "queued": queued + counts.get(JobState.WAITING.value, 0),  # not begun yet
    }
