"""The API's contract: structured errors with the right codes, pagination and filters on
lists, and an OpenAPI document with tags, summaries and response models."""

from __future__ import annotations

import pytest
from tests.factories import ApiWorld


def test_health_is_anonymous(client) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "sqlite"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/no-such-thing", 404, "not_found"),
        ("GET", "/api/wagons/999999", 404, "not_found"),
        ("GET", "/api/wagons/not-a-number", 422, "validation_error"),
        ("PUT", "/api/health", 405, "method_not_allowed"),
        ("GET", "/api/wagons?limit=0", 422, "validation_error"),
        ("GET", "/api/wagons?limit=100000", 422, "validation_error"),
    ],
)
def test_errors_are_structured(as_role, method, path, status, code) -> None:
    response = as_role("user").request(method, path)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == code
    assert body["message"]


def test_body_validation_error_names_the_field(as_role, world: ApiWorld) -> None:
    response = as_role("analyzer").post(
        "/api/wagons",
        json={"analysis_id": world.ids["analysis"], "name": "has space", "workflow": "spectra"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["message"].startswith("body.name")
    assert body["details"]["errors"][0]["location"] == ["body", "name"]


def test_domain_validation_is_422_and_conflicts_are_409(as_role, world: ApiWorld) -> None:
    alice = as_role("analyzer")
    unknown = alice.post(
        "/api/wagons",
        json={"analysis_id": world.ids["analysis"], "name": "x1", "workflow": "no-such-wf"},
    )
    assert unknown.status_code == 422 and "no-such-wf" in unknown.json()["message"]
    duplicate = alice.post(
        "/api/wagons",
        json={"analysis_id": world.ids["analysis"], "name": "spare", "workflow": "spectra"},
    )
    assert duplicate.status_code == 409
    illegal = as_role("operator").post(f"/api/train-runs/{world.ids['train']}/kill")
    assert illegal.status_code == 409
    assert illegal.json()["error"] == "illegal_transition"


def test_lists_are_paginated(as_role) -> None:
    alice = as_role("analyzer")
    first = alice.get("/api/wagons", params={"limit": 2, "offset": 0}).json()
    assert first["limit"] == 2 and first["offset"] == 0 and first["total"] == 5
    second = alice.get("/api/wagons", params={"limit": 2, "offset": 2}).json()
    rest = alice.get("/api/wagons", params={"limit": 2, "offset": 4}).json()
    ids = [w["id"] for page in (first, second, rest) for w in page["items"]]
    assert len(ids) == 5 == len(set(ids))
    assert alice.get("/api/wagons", params={"offset": 50}).json()["items"] == []


def test_list_filters(as_role, world: ApiWorld) -> None:
    alice = as_role("analyzer")
    mine = alice.get("/api/wagons", params={"analysis_id": world.ids["analysis"]}).json()
    assert {w["name"] for w in mine["items"]} == {"spectra_pp", "spare", "strange", "skim"}
    enabled = alice.get("/api/wagons", params={"enabled_on": world.ids["dataset"]}).json()
    assert {w["name"] for w in enabled["items"]} == {"spectra_pp", "spare", "skim"}
    trains = alice.get("/api/train-runs", params={"state": ["done", "submitted"]}).json()
    assert {t["state"] for t in trains["items"]} == {"done", "submitted"}
    active = alice.get("/api/datasets", params={"active": True}).json()
    assert "LHC22o_spare" not in {d["name"] for d in active["items"]}
    shorts = alice.get("/api/datasets", params={"parent_id": world.ids["big_dataset"]}).json()
    assert [d["name"] for d in shorts["items"]] == ["LHC23_big_short"]
    jobs = alice.get("/api/jobs", params={"train_run_id": world.ids["train"], "state": "done"})
    assert jobs.json()["total"] == 1


def test_notifications_dismiss_one_and_all(as_role, world: ApiWorld) -> None:
    alice = as_role("analyzer")
    assert alice.get("/api/notifications/count").json()["unread"] >= 1
    own = world.notification_ids["analyzer"]
    assert alice.post(f"/api/notifications/{own}/dismiss").status_code == 200
    other = world.notification_ids["operator"]
    assert alice.post(f"/api/notifications/{other}/dismiss").status_code == 404
    alice.post("/api/notifications/dismiss-all")
    assert alice.get("/api/notifications/count").json()["unread"] == 0
    assert alice.get("/api/notifications", params={"read": False}).json()["total"] == 0


def test_staged_submission_flow(as_role, world: ApiWorld) -> None:
    alice, connie = as_role("analyzer"), as_role("pwg_convener")
    requested = alice.post(f"/api/train-runs/{world.ids['short_train']}/long-train")
    assert requested.status_code == 201
    train = requested.json()
    assert train["state"] == "long_train_requested"
    assert train["dataset_id"] == world.ids["big_dataset"]
    approved = connie.post(f"/api/train-runs/{train['id']}/approve")
    assert approved.status_code == 200
    assert approved.json()["approved_by_id"] == world.user_ids["pwg_convener"]


def test_compose_then_submit(as_role, world: ApiWorld) -> None:
    oscar = as_role("operator")
    composed = oscar.post(
        "/api/train-runs",
        json={
            "dataset_id": world.ids["dataset"],
            "wagon_ids": [world.ids["spare_wagon"]],
            "target_id": world.ids["target"],
        },
    )
    assert composed.status_code == 201, composed.text
    train = composed.json()
    assert train["state"] == "composed"
    assert [w["wagon_id"] for w in train["wagons_snapshot"]] == [world.ids["spare_wagon"]]
    refused = oscar.post(f"/api/train-runs/{train['id']}/submit")
    assert refused.status_code == 409  # the train test has not run yet
    slots = oscar.get(
        "/api/slots",
        params={"analysis_id": world.ids["analysis"], "dataset_id": world.ids["dataset"]},
    ).json()
    assert slots["used"] >= 1 and slots["allowed"] == 4


def test_openapi_documents_every_operation(shared_app) -> None:
    schema = shared_app.openapi()
    tags = {t["name"] for t in schema["tags"]}
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), f"{where} has no summary"
            assert op.get("tags") and set(op["tags"]) <= tags, f"{where} has no known tag"
            ok = [s for s in op["responses"] if s.startswith("2")]
            assert ok, f"{where} documents no success response"
            if ok[0] != "204" and path != "/api/wagons/{wagon_id}/configuration":
                content = op["responses"][ok[0]].get("content", {})
                # JSON, or a declared file type (downloads) with its schema
                assert any("schema" in media for media in content.values()), where
            if path != "/api/health":
                assert "401" in op["responses"] or path.startswith("/api/auth/"), where


def test_my_analyses_grid(as_role, world: ApiWorld) -> None:
    data = as_role("analyzer").get("/api/my-analyses").json()
    assert [(a["name"], a["member"]) for a in data] == [
        ("core-services", False),
        ("lf-spectra", True),
    ]
    lf = data[1]
    assert lf["dataset_ids"] == sorted([world.ids["dataset"], world.ids["short_dataset"]])
    cells = {
        (w["name"], c["dataset_id"]): (c["enabled"], c["test_status"])
        for w in lf["wagons"]
        for c in w["cells"]
    }
    assert cells[("spectra_pp", world.ids["dataset"])] == (True, "done")
    # submitted in a train: disabled on that dataset afterwards (SPEC §5)
    assert cells[("spectra_pp", world.ids["short_dataset"])][0] is False
    assert cells[("strange", world.ids["dataset"])][0] is False
    assert as_role("user").get("/api/my-analyses", params={"with_service": False}).json() == []


def test_train_detail_counts_jobs(as_role, world: ApiWorld) -> None:
    detail = as_role("user").get(f"/api/train-runs/{world.ids['train']}").json()
    assert detail["job_counts"] == {"done": 1}
    assert detail["wagons_snapshot"][0]["wagon_id"] == world.ids["wagon"]


def test_times_without_zone_are_refused(as_role) -> None:
    alice = as_role("analyzer")
    naive = alice.post(
        "/api/users/me/tokens", json={"name": "t", "expires_at": "2030-01-01T00:00:00"}
    )
    assert naive.status_code == 422
    aware = alice.post(
        "/api/users/me/tokens", json={"name": "t", "expires_at": "2030-01-01T00:00:00Z"}
    )
    assert aware.status_code == 201
    assert alice.get("/api/train-runs", params={"composed_after": "2020-01-01"}).status_code == 422


def test_compare_wagon_with_its_past(as_role, world: ApiWorld) -> None:
    alice = as_role("analyzer")
    wid = world.ids["wagon"]
    created_at = alice.get(f"/api/wagons/{wid}/history").json()["items"][0]["at"]
    edit = alice.patch(
        f"/api/wagons/{wid}",
        json={"expected_version": 1, "base_config": {"spectra-task": {"useTOF": "true"}}},
    )
    assert edit.status_code == 200
    compared = alice.get(f"/api/wagons/{wid}/compare", params={"at": created_at}).json()
    assert compared["changes"] == [
        {"path": "base_config.spectra-task.useTOF", "old": "false", "new": "true"}
    ]
    neither = alice.get(f"/api/wagons/{wid}/compare")
    assert neither.status_code == 422
    updates = alice.get(f"/api/wagons/{wid}/history", params={"action": "update"}).json()
    assert [e["action"] for e in updates["items"]] == ["update"]
