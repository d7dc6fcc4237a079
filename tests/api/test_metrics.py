"""GET /api/metrics: the operator's figures in the Prometheus text format — jobs and trains
of the scheduled trains by state, the merge backlog, the active scheduler's last step (stored
with its lease), and this server's request latency per route."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.factories import ApiWorld

from hyperloop.db.models import Job, SchedulerLease, TrainRun
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import TrainState
from hyperloop.scheduler.lease import Lease

LABEL = r'[a-z_]+="(?:[^"\\]|\\.)*"'  # a label value may hold any character but " and \
SAMPLE = re.compile(rf"^([a-z_]+)(\{{{LABEL}(?:,{LABEL})*\}})? (-?[0-9.e+-]+|\+Inf)$")


def samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample: {line!r}"
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def test_metrics_count_the_scheduled_jobs_and_the_requests(client, world: ApiWorld) -> None:
    client.get("/api/health")
    client.get("/api/health")
    response = client.get("/api/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = samples(response.text)

    engine = make_engine(world.url)
    try:
        with make_sessionmaker(engine)() as s:
            active = [TrainState.SUBMITTED, TrainState.RUNNING, TrainState.MERGING]
            ids = [t.id for t in s.query(TrainRun).filter(TrainRun.state.in_(active))]
            states = [j.state.value for j in s.query(Job).filter(Job.train_run_id.in_(ids))]
            running = sum(1 for t in s.query(TrainRun) if t.state is TrainState.RUNNING)
    finally:
        engine.dispose()
    for state in ("waiting", "running", "done"):
        assert got[f'hyperloop_jobs{{state="{state}"}}'] == states.count(state)
    assert got['hyperloop_trains{state="running"}'] == running
    assert got["hyperloop_merge_backlog_runs"] >= 0
    assert got["hyperloop_scheduler_up"] == 0
    assert "hyperloop_scheduler_tick_seconds" not in got  # no scheduler stepped yet
    health = 'method="GET",route="/api/health"'
    assert got[f"hyperloop_api_request_duration_seconds_count{{{health}}}"] >= 2
    assert got[f'hyperloop_api_request_duration_seconds_bucket{{{health},le="+Inf"}}'] >= 2


def test_the_schedulers_last_step_is_stored_with_its_lease(client, world: ApiWorld) -> None:
    engine = make_engine(world.url)
    try:
        lease = Lease(make_sessionmaker(engine), "node-a:1:abcd", ttl=timedelta(seconds=30))
        lease.last_tick = (0.25, datetime.now(UTC) - timedelta(seconds=2))
        assert lease.acquire()
        with make_sessionmaker(engine)() as s:
            assert s.get(SchedulerLease, "scheduler").last_tick_s == 0.25
    finally:
        engine.dispose()
    got = samples(client.get("/api/metrics").text)
    assert got["hyperloop_scheduler_up"] == 1
    assert got["hyperloop_scheduler_tick_seconds"] == 0.25
    assert 1 <= got["hyperloop_scheduler_tick_age_seconds"] < 600
