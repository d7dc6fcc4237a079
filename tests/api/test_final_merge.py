"""``POST /api/train-runs/{id}/final-merge``: operators ask for the final merge of what
succeeded; analyzers are refused, wrong states and repeated requests are conflicts; the
request is in the train's history. ``/api/jobs`` shows each job's target."""

from __future__ import annotations

from sqlalchemy import select
from tests.story_cause import BY_TEST

from hyperloop.core import trains
from hyperloop.core.actor import Actor
from hyperloop.core.states import transition
from hyperloop.db import models as m
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import TrainState


def _running_train_with_a_done_job(world) -> tuple[int, int]:
    """The world's tested train, submitted and running; its one done job ran on "big"."""
    engine = make_engine(world.url)
    try:
        with make_sessionmaker(engine).begin() as s:
            op = Actor(s.get(m.User, world.user_ids["operator"]))
            train = trains.submit_train(s, op, world.ids["train"])
            transition(train, TrainState.RUNNING, actor=None, cause=BY_TEST)
            job = s.scalars(select(m.Job).where(m.Job.train_run_id == train.id)).one()
            job.target = "big"
            return train.id, job.id
    finally:
        engine.dispose()


def test_an_operator_requests_the_final_merge_once_and_it_is_in_the_history(world, as_role):
    train_id, job_id = _running_train_with_a_done_job(world)
    url = f"/api/train-runs/{train_id}/final-merge"
    denied = as_role("analyzer").post(url)
    assert denied.status_code == 403 and denied.json()["error"] == "permission_denied"
    operator = as_role("operator")
    r = operator.post(url)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "running" and body["final_merge_requested_at"]
    assert body["final_merge_requested_by_id"] == world.user_ids["operator"]
    again = operator.post(url)
    assert again.status_code == 409 and "already requested" in again.json()["message"]
    history = operator.get(f"/api/train-runs/{train_id}/history").json()["items"]
    (entry,) = [h for h in history if h["action"] == "final_merge_request"]
    assert entry["user_id"] == world.user_ids["operator"]
    assert "missing" in entry["reason"]
    job = operator.get(f"/api/jobs/{job_id}").json()
    assert job["target"] == "big"
    listed = operator.get("/api/jobs", params={"train_run_id": train_id}).json()["items"]
    assert [j["target"] for j in listed] == ["big"]


def test_a_train_that_is_not_running_or_merging_cannot_be_final_merged(world, as_role):
    operator = as_role("operator")
    submitted = operator.post(f"/api/train-runs/{world.ids['kill_train']}/final-merge")
    assert submitted.status_code == 409
    assert "is submitted" in submitted.json()["message"]
    assert "running or merging" in submitted.json()["message"]
    tested = operator.post(f"/api/train-runs/{world.ids['train']}/final-merge")
    assert tested.status_code == 409 and "test_done" in tested.json()["message"]


def test_a_running_train_without_done_jobs_has_nothing_to_merge(world, as_role):
    engine = make_engine(world.url)
    try:
        with make_sessionmaker(engine).begin() as s:
            transition(
                s.get(m.TrainRun, world.ids["kill_train"]),
                TrainState.RUNNING,
                actor=None,
                cause=BY_TEST,
            )
    finally:
        engine.dispose()
    r = as_role("admin").post(f"/api/train-runs/{world.ids['kill_train']}/final-merge")
    assert r.status_code == 409 and "nothing to merge" in r.json()["message"]


def test_the_final_merge_route_documents_its_errors(shared_app):
    spec = shared_app.openapi()
    op = spec["paths"]["/api/train-runs/{train_id}/final-merge"]["post"]
    assert {"403", "404", "409"} <= set(op["responses"])
