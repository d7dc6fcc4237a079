"""Pull requests through the API: an admin registers one with the introspection of its
built source; users list open and merged ones with titles and workflows; an analyzer
creates and configures a wagon on a workflow only the pull request has, enables it with the
pull request, and its test says it waits for a tag containing it."""

from __future__ import annotations

from tests.factories import ApiWorld, api_introspection


def test_list_and_register_pull_requests(as_role, world: ApiWorld) -> None:
    listed = as_role("user").get("/api/pull-requests")
    assert listed.status_code == 200, listed.text
    [pr] = listed.json()
    assert (pr["number"], pr["title"], pr["state"]) == (77, "Add flow harmonics", "open")
    assert "flow-harmonics" in pr["workflows"] and pr["released_in"] is None

    admin = as_role("admin")
    body = {"number": 77, "title": "Add flow harmonics v2", "state": "merged"}
    updated = admin.post("/api/pull-requests", json={**body, "introspection": api_introspection()})
    assert updated.status_code == 200, updated.text
    assert updated.json()["id"] == pr["id"]  # the same pull request, rebuilt and merged
    merged = as_role("user").get("/api/pull-requests", params={"state": "merged"}).json()
    assert [(p["number"], p["title"]) for p in merged] == [(77, "Add flow harmonics v2")]
    assert as_role("user").get("/api/pull-requests", params={"state": "open"}).json() == []

    bad = admin.post("/api/pull-requests", json={**body, "introspection": {"workflows": []}})
    assert bad.status_code == 422 and "package.name" in bad.json()["message"]
    assert (
        as_role("analyzer")
        .post("/api/pull-requests", json={**body, "introspection": api_introspection()})
        .status_code
        == 403
    )


def test_a_wagon_on_a_pull_requests_workflow(as_role, world: ApiWorld) -> None:
    alice = as_role("analyzer")
    base = {"analysis_id": world.ids["analysis"], "name": "flow", "workflow": "flow-harmonics"}
    no_pr = alice.post("/api/wagons", json=base)
    assert no_pr.status_code == 422
    assert "does not exist in package tag" in no_pr.json()["message"]

    created = alice.post(
        "/api/wagons",
        json={
            **base,
            "pull_request_id": world.ids["pull_request"],
            "base_config": {"flow-task": {"harmonic": "3"}},
        },
    )
    assert created.status_code == 201, created.text
    wagon = created.json()
    assert wagon["pull_request_id"] == world.ids["pull_request"]
    assert wagon["base_config"] == {"flow-task": {"harmonic": "3", "etaGap": "0.4"}}

    bad = alice.patch(
        f"/api/wagons/{wagon['id']}",
        json={
            "expected_version": wagon["version"],
            "base_config": {"flow-task": {"harmonic": "x"}},
        },
    )
    assert bad.status_code == 422  # typed by the pull request's declaration
    view = alice.get(f"/api/wagons/{wagon['id']}/view").json()
    assert view["pull_request"]["number"] == 77 and view["workflow_exists"]
    assert [t["name"] for t in view["configuration"]["tasks"]] == ["flow-task"]

    url = f"/api/wagons/{wagon['id']}/datasets/{world.ids['dataset']}"
    latest = alice.put(url, json={"policy": "latest"})
    assert latest.status_code == 422
    assert "configured on pull request #77" in latest.json()["message"]
    enabled = alice.put(url, json={"policy": "pull_request", "pull_request": "77"})
    assert enabled.status_code == 200, enabled.text
    [test] = alice.get(f"/api/wagons/{wagon['id']}/tests").json()["items"]
    assert test["tag_id"] is None and test["status"] == "queued"
    shown = alice.get(f"/api/wagons/{wagon['id']}/tests/{test['id']}").json()
    assert shown["test"]["reason"] == (
        "waiting for a released package tag containing pull request #77"
    )
