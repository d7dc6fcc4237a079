"""``GET /api/train-runs/with-issues`` gives the rows of the Trains with issues page: the same
data function feeds both, paginated."""

from __future__ import annotations

from hyperloop.db import models as m
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import JobState
from hyperloop.readmodels import train_submission as views_train_submission


def test_the_endpoint_lists_what_the_page_lists(as_role, world) -> None:
    engine = make_engine(world.url)
    try:
        with make_sessionmaker(engine).begin() as s:  # the submitted train: 2 of 3 jobs failed
            tid = world.ids["kill_train"]
            for i, st in enumerate((JobState.EXECUTION_ERROR, JobState.LOST, JobState.DONE)):
                s.add(m.Job(train_run_id=tid, run_number=1000 + i, state=st, site="local"))
        with make_sessionmaker(engine)() as s:
            page_rows = views_train_submission.trains_with_issues_view(s)
    finally:
        engine.dispose()
    r = as_role("user").get("/api/train-runs/with-issues")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(page_rows) == 1
    (row,) = body["items"]
    assert row["id"] == world.ids["kill_train"]
    assert row["issue"] == "2 of 3 jobs failed"
    assert (row["jobs"], row["failed"], row["done"]) == (3, 2, 1)
    assert row["dataset"] == page_rows[0]["dataset"] and row["state"] == page_rows[0]["state"]
    empty = as_role("user").get("/api/train-runs/with-issues", params={"offset": 1})
    assert empty.status_code == 200 and empty.json()["items"] == []
