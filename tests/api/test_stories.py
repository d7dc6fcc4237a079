"""``GET /api/jobs/{id}/story``, ``/api/wagon-tests/{id}/story``, ``/api/train-runs/{id}/story``:
the recorded transitions with their causes, in order, for whoever may read the object's page
(every logged-in user, as the pages; anonymous callers are refused), 404 naming a missing
object."""

from __future__ import annotations

from sqlalchemy import select
from tests.factories import CALLER_USERNAMES

from hyperloop.core import jobs, story
from hyperloop.core.story import Cause
from hyperloop.db import models as m
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import JobState


def _jobs_of_killed_train(world) -> int:
    """Two jobs of the world's submitted "kill" train: one failed and was retried (bulk
    moves, as the scheduler does), one waits."""
    engine = make_engine(world.url)
    try:
        with make_sessionmaker(engine).begin() as s:
            train_id = world.ids["kill_train"]
            split = Cause("tick-1796579990", "split", f"train run {train_id} split into jobs")
            jobs.add_jobs(s, train_id, [jobs.JobSpec(544013, ("/data/a.root",))] * 2, cause=split)
            job_id = s.scalars(select(m.Job.id).where(m.Job.train_run_id == train_id)).first()
            moves = jobs.JobMoves(s)
            tick = "tick-1796580000"
            moves.move(job_id, JobState.RUNNING, cause=Cause(tick, "job-submitted", "attempt 1"))
            failed = Cause(tick, "job-failed", "attempt 1 failed (memory): MemoryError")
            moves.move(job_id, JobState.EXECUTION_ERROR, cause=failed)
            retry = Cause(tick, "retry", "automatic retry after memory in attempt 1")
            moves.move(job_id, JobState.WAITING, cause=retry)
            moves.flush()
            return job_id
    finally:
        engine.dispose()


def test_a_job_story_tells_each_move_with_its_cause(world, as_role):
    job_id = _jobs_of_killed_train(world)
    r = as_role("analyzer").get(f"/api/jobs/{job_id}/story")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["kind"], body["id"], body["state"]) == ("job", job_id, "waiting")
    assert [(s["from_state"], s["state"], s["cause"]) for s in body["steps"]] == [
        (None, "waiting", "split"),
        ("waiting", "running", "job-submitted"),
        ("running", "execution_error", "job-failed"),
        ("execution_error", "waiting", "retry"),
    ]
    assert body["steps"][2]["reason"] == "attempt 1 failed (memory): MemoryError"
    assert body["steps"][2]["stimulus"] == "tick-1796580000"


def test_a_train_story_names_the_operator_and_sums_up_its_jobs(world, as_role):
    _jobs_of_killed_train(world)
    train_id = world.ids["kill_train"]
    killed = as_role("operator").post(
        f"/api/train-runs/{train_id}/kill", json={"reason": "wrong dataset"}
    )
    assert killed.status_code == 200, killed.text
    r = as_role("analyzer").get(f"/api/train-runs/{train_id}/story")
    assert r.status_code == 200, r.text
    body = r.json()
    steps = [(s["from_state"], s["state"], s["stimulus"], s["cause"]) for s in body["steps"]]
    assert steps[0] == (None, "composed", "user", "compose")
    assert steps[-2:] == [
        ("test_done", "submitted", "user", "submit"),
        ("submitted", "killed", "user", "killed"),
    ]
    assert body["steps"][-1]["reason"] == "wrong dataset"
    assert body["steps"][-1]["actor"] == CALLER_USERNAMES["operator"]
    moves = {(j["from_state"], j["state"], j["cause"]): j["count"] for j in body["jobs"]}
    assert moves == {
        (None, "waiting", "split"): 2,
        ("waiting", "running", "job-submitted"): 1,
        ("running", "execution_error", "job-failed"): 1,
        ("execution_error", "waiting", "retry"): 1,
        ("waiting", "lost", "kill"): 2,  # the kill ends its jobs: none stays waiting
    }


def test_a_train_test_story_is_the_testing_phase_of_its_train(world, as_role):
    r = as_role("analyzer").get(f"/api/train-tests/{world.ids['train']}/story")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["kind"], body["state"]) == ("train_test", "test_done")
    assert [(s["from_state"], s["state"]) for s in body["steps"]] == [
        ("composed", "testing"),
        ("testing", "test_done"),
    ]
    assert body["steps"][1]["reason"] == "train test done"


def test_a_wagon_test_story_starts_with_the_enabling(world, as_role):
    r = as_role("service_expert").get("/api/wagon-tests/1/story")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "wagon_test" and body["steps"][0]["from_state"] is None
    assert body["steps"][0]["cause"] == "enable"
    assert body["steps"][0]["actor"] == CALLER_USERNAMES["analyzer"]
    assert [s["state"] for s in body["steps"]][-1] == body["state"]


def test_stories_need_a_login_and_name_what_is_missing(world, as_role, client):
    job_id = _jobs_of_killed_train(world)
    for url in (
        f"/api/jobs/{job_id}/story",
        "/api/wagon-tests/1/story",
        f"/api/train-runs/{world.ids['train']}/story",
        f"/api/train-tests/{world.ids['train']}/story",
    ):
        r = client.get(url)
        assert r.status_code == 401 and r.json()["error"] == "not_authenticated", url
    analyzer = as_role("analyzer")
    for url, noun in (
        ("/api/jobs/99999/story", "job 99999"),
        ("/api/wagon-tests/99999/story", "wagon test 99999"),
        ("/api/train-runs/99999/story", "train run 99999"),
        ("/api/train-tests/99999/story", "train run 99999"),
    ):
        r = analyzer.get(url)
        assert r.status_code == 404 and noun in r.json()["message"], (url, r.text)
    assert analyzer.get("/api/jobs/0/story").status_code == 422


def test_the_story_of_the_domain_equals_the_api(world, as_role):
    job_id = _jobs_of_killed_train(world)
    engine = make_engine(world.url)
    try:
        with make_sessionmaker(engine)() as s:
            told = [step.as_dict() for step in story.story(s, "job", job_id)]
    finally:
        engine.dispose()
    steps = as_role("admin").get(f"/api/jobs/{job_id}/story").json()["steps"]
    assert [(s["state"], s["reason"]) for s in steps] == [(s["state"], s["reason"]) for s in told]
