"""``POST /api/train-runs/{id}/resubmit``: an operator's resubmission recovers every failed
job, also those that used up their automatic attempts (issue 17: it did nothing for them)."""

from __future__ import annotations

from sqlalchemy import select

from hyperloop.db import models as m
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import JobState


def test_operator_resubmit_recovers_jobs_that_used_up_their_attempts(as_role, world) -> None:
    engine = make_engine(world.url)
    sessions = make_sessionmaker(engine)
    tid = world.ids["kill_train"]
    try:
        with sessions.begin() as s:
            for i, st in enumerate((JobState.EXECUTION_ERROR, JobState.LOST, JobState.DONE)):
                s.add(m.Job(train_run_id=tid, run_number=2000 + i, state=st, attempts=3))
        r = as_role("operator").post(f"/api/train-runs/{tid}/resubmit")
        assert r.status_code == 200, r.text
        assert r.json() == {"resubmitted": 2}
        with sessions() as s:
            states = s.execute(
                select(m.Job.run_number, m.Job.state, m.Job.attempts)
                .where(m.Job.train_run_id == tid)
                .order_by(m.Job.run_number)
            ).all()
        assert [tuple(x) for x in states] == [
            (2000, JobState.WAITING, 3),  # the scheduler runs a 4th attempt
            (2001, JobState.WAITING, 3),
            (2002, JobState.DONE, 3),
        ]
        assert as_role("user").post(f"/api/train-runs/{tid}/resubmit").status_code == 403
    finally:
        engine.dispose()
