"""The dashboard's stored per-day job figures give exactly what counting every job live gives:
across several days, at the day boundary, for today (open, live), after a job lands late on a
closed day, after a failed job of a closed day is resubmitted, and after a train is deleted;
the stored per-day and per-analysis sums leave out trains outside the interval; the warm-up
fills the closed days newest first in chunks. Also: the trains-with-issues view follows the
rules of ``jobs.trains_with_issues``."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from hyperloop.core import analyses, datasets, jobs, tags, users
from hyperloop.core.actor import Actor
from hyperloop.db.models import (
    DashboardAnalysisDay,
    DashboardDay,
    DashboardJobDay,
    Job,
    Target,
    TrainRun,
)
from hyperloop.db.models import train_run_wagons as links
from hyperloop.enums import JobState, Role, TrainState
from hyperloop.readmodels import dashboard as dashboard_figures
from hyperloop.readmodels import train_submission as views_train_submission
from hyperloop.readmodels.trains import dashboard_data, resolve_interval

# well in the past: every day here is closed whatever the real clock says
D0 = datetime(2026, 3, 10, tzinfo=UTC)


def _world(s: Session) -> dict[str, int]:
    admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
    intro = {"package": {"name": "p", "version": "1"}, "workflows": []}
    tag = tags.register_tag(s, None, intro, artifact="")
    ds = datasets.create_dataset(s, admin, "LHC26_dash", collision_system="pp")
    lf = analyses.create_analysis(s, None, "LF-spectra", "PWG-LF")
    hf = analyses.create_analysis(s, None, "HF-charm", "PWG-HF")
    target = Target(name="t", cores=1, memory_limit_mb=2000)
    s.add(target)
    s.flush()
    ids: dict[str, int] = {"ds": ds.id, "tag": tag.id, "target": target.id}
    # train a: days 0..2, finished on day 2; b: day 1..3, still running; c: finished before
    # the interval while one of its jobs was written later (excluded by the train filter)
    spans = {
        "a": (D0 - timedelta(hours=3), D0 + timedelta(days=2, hours=5), TrainState.DONE),
        "b": (D0 + timedelta(days=1), None, TrainState.RUNNING),
        "c": (D0 - timedelta(days=9), D0 - timedelta(days=8), TrainState.DONE),
    }
    for name, (sub, fin, st) in spans.items():
        t = TrainRun(
            dataset_id=ds.id,
            tag_id=tag.id,
            target_id=target.id,
            state=st,
            submitted_at=sub,
            finished_at=fin,
        )
        s.add(t)
        s.flush()
        ids[name] = t.id
    s.execute(
        insert(links),
        [
            {"train_run_id": ids["a"], "analysis_id": lf.id, "heavy": False},
            {"train_run_id": ids["a"], "analysis_id": hf.id, "heavy": False},
            {"train_run_id": ids["a"], "analysis_id": hf.id, "heavy": False},
            {"train_run_id": ids["b"], "analysis_id": lf.id, "heavy": False},
            {"train_run_id": ids["c"], "analysis_id": hf.id, "heavy": False},
        ],
    )
    ids["lf"], ids["hf"] = lf.id, hf.id
    return ids


def _job(train: int, at: datetime, state: JobState, site: str | None, cpu: float) -> Job:
    return Job(
        train_run_id=train,
        run_number=1,
        state=state,
        site=site,
        cpu_s=cpu,
        created_at=at - timedelta(hours=1),
        updated_at=at,
    )


def _seed_jobs(s: Session, ids: dict[str, int]) -> None:
    a, b, c = ids["a"], ids["b"], ids["c"]
    midnight = D0 + timedelta(days=1)
    rows = [
        _job(a, D0 + timedelta(hours=2), JobState.DONE, "CERN", 3600.5),
        _job(a, D0 + timedelta(hours=9), JobState.EXECUTION_ERROR, "GSI", 120.25),
        _job(a, D0 + timedelta(hours=9), JobState.RUNNING, "GSI", 10.0),  # not final
        _job(a, midnight - timedelta(microseconds=1), JobState.DONE, None, 7.0),  # day 0
        _job(a, midnight, JobState.DONE, "CERN", 11.0),  # day 1, on the boundary
        _job(a, midnight + timedelta(hours=30), JobState.LOST, "CERN", 0.0),  # day 2
        _job(b, midnight + timedelta(hours=4), JobState.DONE, "KISTI", 5400.0),
        _job(b, midnight + timedelta(days=2, hours=1), JobState.EXPIRED, "KISTI", 60.0),
        _job(b, midnight + timedelta(days=2, hours=2), JobState.DONE, "CERN", 1.5),
        _job(c, D0 + timedelta(hours=1), JobState.DONE, "CERN", 99.0),
    ]
    s.add_all(rows)
    s.commit()


def _norm(d: dict) -> dict:
    """JSON form with sums of floats rounded (the order of additions differs)."""
    d = json.loads(json.dumps(d, default=str))
    for k in ("cpu_hours", "co2_kg"):
        d["period"][k] = round(d["period"][k], 9)
    for row in d["top_analyses"]:
        row["cpu_hours"] = round(row["cpu_hours"], 9)
    return d


def _same(s: Session, interval, now: datetime | None = None) -> dict:
    stored = dashboard_data(s, interval, now=now)
    live = dashboard_data(s, interval, daily=False, now=now)
    assert _norm(stored) == _norm(live)
    return stored


def _marked(s: Session) -> set[date]:
    s.rollback()  # a fresh snapshot of what the fill committed
    return set(s.scalars(select(DashboardDay.day)))


def test_stored_days_equal_live_counts_across_days_and_the_boundary(session):
    ids = _world(session)
    _seed_jobs(session, ids)
    custom = resolve_interval("custom", (D0 - timedelta(days=2)).date(), (D0 + timedelta(3)).date())
    d = _same(session, custom)
    assert _marked(session) == {(D0 + timedelta(days=i)).date() for i in range(-2, 4)}
    # what a user reads: per-day done/failed jobs, the boundary job on day 1, sites, CPU
    labels = d["series"]["labels"]
    day = {lab: i for i, lab in enumerate(labels)}
    assert d["series"]["jobs_done"][day["2026-03-10"]] == 2  # 02:00 and 23:59:59.999999
    assert d["series"]["jobs_done"][day["2026-03-11"]] == 2  # 00:00:00 and KISTI 04:00
    assert d["series"]["jobs_failed"][day["2026-03-12"]] == 1  # the lost job
    assert d["period"]["jobs_done"] == 5 and d["period"]["jobs_failed"] == 3
    assert d["series"]["sites"]["unknown"][day["2026-03-10"]] == 1
    top = {r["name"]: r for r in d["top_analyses"]}
    assert top["LF-spectra"]["trains"] == 2 and top["HF-charm"]["trains"] == 1
    # a second call reads the stored days (same answer, no refill)
    filled = session.scalar(select(func.count()).select_from(DashboardJobDay))
    _same(session, custom)
    assert session.scalar(select(func.count()).select_from(DashboardJobDay)) == filled
    # named intervals start mid-day: the partial first day is counted live
    for name in ("day", "week", "month"):
        iv = resolve_interval(name, now=D0 + timedelta(days=2, hours=12))
        _same(session, iv)


def test_a_job_landing_late_or_resubmitted_invalidates_its_closed_day(session):
    ids = _world(session)
    _seed_jobs(session, ids)
    custom = resolve_interval("custom", D0.date(), (D0 + timedelta(days=3)).date())
    before = _same(session, custom)
    day1 = (D0 + timedelta(days=1)).date()
    assert day1 in _marked(session)
    # a job written late with a finish time on closed day 1
    session.add(_job(ids["b"], D0 + timedelta(days=1, hours=8), JobState.DONE, "GSI", 30.0))
    session.commit()
    assert day1 not in _marked(session)
    after = _same(session, custom)
    assert after["period"]["jobs_done"] == before["period"]["jobs_done"] + 1
    # the failed job of day 0 is resubmitted: it leaves day 0 (its update is now)
    day0 = D0.date()
    assert day0 in _marked(session)
    session.execute(
        update(Job)
        .where(Job.train_run_id == ids["a"], Job.state == JobState.EXECUTION_ERROR)
        .values(state=JobState.WAITING)
    )
    session.commit()
    assert day0 not in _marked(session)
    again = _same(session, custom)
    assert again["period"]["jobs_failed"] == after["period"]["jobs_failed"] - 1
    # a deleted train's jobs disappear from the figures
    session.execute(delete(Job).where(Job.train_run_id == ids["b"]))
    session.execute(delete(TrainRun).where(TrainRun.id == ids["b"]))
    session.commit()
    gone = _same(session, custom)
    assert "KISTI" not in gone["series"]["sites"]


def test_today_is_counted_live_and_never_stored(session):
    ids = _world(session)
    now = datetime.now(UTC)
    train = session.get(TrainRun, ids["b"])
    train.submitted_at = now - timedelta(days=3)
    session.add(_job(ids["b"], now - timedelta(seconds=5), JobState.DONE, "CERN", 2.0))
    session.commit()
    week = resolve_interval("week", now=now + timedelta(seconds=1))
    d = _same(session, week)
    assert d["period"]["jobs_done"] == 1
    assert now.date() not in _marked(session)


def test_trains_with_issues_view_follows_the_jobs_rules(session):
    ids = _world(session)
    t0 = D0 + timedelta(hours=1)
    many_failed = [_job(ids["b"], t0, JobState.EXECUTION_ERROR, "CERN", 1.0) for _ in range(2)]
    many_failed.append(_job(ids["b"], t0, JobState.DONE, "CERN", 1.0))
    session.add_all(many_failed)
    stuck = TrainRun(
        dataset_id=ids["ds"],
        tag_id=ids["tag"],
        target_id=ids["target"],
        state=TrainState.RUNNING,
        submitted_at=D0,
    )
    fine = TrainRun(
        dataset_id=ids["ds"],
        tag_id=ids["tag"],
        target_id=ids["target"],
        state=TrainState.RUNNING,
        submitted_at=D0,
    )
    session.add_all([stuck, fine])
    session.flush()
    session.add_all([_job(stuck.id, t0, JobState.DONE, "CERN", 1.0) for _ in range(3)])
    session.add_all([_job(fine.id, t0, JobState.RUNNING, "CERN", 1.0) for _ in range(3)])
    session.commit()
    rows = views_train_submission.trains_with_issues_view(session)
    expected = {(t.id, why) for t, why in jobs.trains_with_issues(session)}
    assert {(r["id"], r["issue"]) for r in rows} == expected
    by_id = {r["id"]: r for r in rows}
    assert by_id[ids["b"]]["issue"] == "2 of 3 jobs failed"
    assert (by_id[ids["b"]]["failed"], by_id[ids["b"]]["done"]) == (2, 1)
    assert by_id[stuck.id]["issue"] == "all analysis jobs are final but no merge started"
    assert fine.id not in by_id


def test_day_sums_leave_out_trains_outside_the_interval(session):
    """Closed days are read from the per-day and per-analysis sums; a train that finished
    before the interval (its job written later) is taken out, and an analysis only it had
    is not listed at all, as when counting live."""
    ids = _world(session)
    _seed_jobs(session, ids)
    only_c = analyses.create_analysis(session, None, "UD-only-old", "PWG-UD")
    session.execute(
        insert(links), [{"train_run_id": ids["c"], "analysis_id": only_c.id, "heavy": False}]
    )
    # a heavy CPU job of train c inside the interval: it would top the list if counted
    session.add(_job(ids["c"], D0 + timedelta(hours=3), JobState.DONE, "OLD", 99999.0))
    session.commit()
    # train c finished on day -8: not active from day -7 on
    after_c = resolve_interval(
        "custom", (D0 - timedelta(days=7)).date(), (D0 + timedelta(3)).date()
    )
    d = _same(session, after_c)
    names = [r["name"] for r in d["top_analyses"]]
    assert sorted(names) == ["HF-charm", "LF-spectra"]
    assert "OLD" not in d["series"]["sites"]
    assert d["period"]["jobs_done"] == 5
    # what was stored: one total per day and CPU per analysis and day (train c included,
    # taken out when read)
    day0 = session.get(DashboardDay, D0.date())
    assert (day0.n_done, day0.n_failed) == (4, 1)
    assert day0.sites == {"CERN": 2, "GSI": 1, "unknown": 1, "OLD": 1}
    stored = dict(
        session.execute(
            select(DashboardAnalysisDay.analysis_id, DashboardAnalysisDay.cpu_s).where(
                DashboardAnalysisDay.day == D0.date()
            )
        ).all()
    )
    assert stored[only_c.id] > 99999.0 / 3  # c: one HF wagon, one UD wagon
    # an interval where train c was active counts it (from the same stored days)
    back = resolve_interval("custom", (D0 - timedelta(days=9)).date(), D0.date())
    assert "UD-only-old" in [r["name"] for r in _same(session, back)["top_analyses"]]


def test_warm_fills_closed_days_newest_first_in_chunks(session):
    ids = _world(session)
    _seed_jobs(session, ids)
    now = D0 + timedelta(days=4, hours=12)
    # the first call spends its (zero) budget on one chunk: the three most recent closed days
    n = dashboard_figures.warm(session, now, days=10, budget_s=0.0, chunk_days=3)
    expected = {(D0 + timedelta(days=i)).date() for i in (1, 2, 3)}
    assert n == 3 and _marked(session) == expected
    # the rest of the ten days comes with a budget; today (day 4) is open: never stored
    assert dashboard_figures.warm(session.get_bind(), now, days=10, budget_s=60.0) == 7
    assert len(_marked(session)) == 10 and now.date() not in _marked(session)
    assert dashboard_figures.warm(session, now, days=10) == 0
    # what the first visitor then reads equals the live count
    ten = resolve_interval("custom", (D0 - timedelta(days=6)).date(), now.date(), now=now)
    d = _same(session, ten, now=now)
    assert d["period"]["jobs_done"] == 5
