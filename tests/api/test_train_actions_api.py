"""Train actions with choices through the JSON API (SPEC §5 "Clone train", operators'
submission to another target): what the train run overview offers, what the actions do, and
the clear 4xx when a choice does not fit."""

from __future__ import annotations

from tests.factories import ApiWorld


def _second_target(as_role) -> int:
    made = as_role("admin").post(
        "/api/targets", json={"name": "grid-8core", "cores": 8, "memory_limit_mb": 16000}
    )
    assert made.status_code == 201, made.text
    return made.json()["id"]


def test_the_overview_offers_the_clone_form_and_submit_targets_to_operators_only(
    as_role, world: ApiWorld
) -> None:
    eight = _second_target(as_role)
    train = world.ids["train"]
    view = as_role("operator").get(f"/api/train-runs/{train}/overview").json()
    clone = view["forms"]["clone"]
    assert clone["url"] == f"/api/train-runs/{train}/clone"
    assert {t["id"] for t in clone["targets"]} == {world.ids["target"], eight}
    assert world.ids["tag"] in {t["id"] for t in clone["tags"]}
    assert clone["current"] == {
        "tag_id": world.ids["tag"],
        "target_id": world.ids["target"],
        "train_type": "analysis",
        "slow": False,
        "auto_submit": False,
    }
    submit = next(a for a in view["actions"] if a["name"] == "submit")
    assert submit["field"] == "target_id" and submit["selected"] == world.ids["target"]
    assert {o["id"] for o in submit["options"]} == {world.ids["target"], eight}
    analyzer = as_role("analyzer").get(f"/api/train-runs/{train}/overview").json()
    assert analyzer["forms"]["clone"] is None


def test_operators_submit_a_tested_train_to_another_target(as_role, world: ApiWorld) -> None:
    eight = _second_target(as_role)
    oscar = as_role("operator")
    train = world.ids["train"]
    missing = oscar.post(f"/api/train-runs/{train}/submit", json={"target_id": 99999})
    assert missing.status_code == 404 and "target 99999" in missing.json()["message"]
    assert oscar.get(f"/api/train-runs/{train}").json()["state"] == "test_done"
    done = oscar.post(f"/api/train-runs/{train}/submit", json={"target_id": eight})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "submitted" and done.json()["target_id"] == eight
    history = oscar.get(f"/api/train-runs/{train}/overview").json()["history"]
    assert history[-1]["reason"] == "submitted to target grid-8core (tested for grid-1core)"


def test_clone_takes_the_chosen_settings_and_refuses_a_type_its_wagons_cannot_run(
    as_role, world: ApiWorld
) -> None:
    eight = _second_target(as_role)
    oscar = as_role("operator")
    train = world.ids["train"]
    bad = oscar.post(f"/api/train-runs/{train}/clone", json={"train_type": "linked_derived"})
    assert bad.status_code == 422
    assert "needs wagons with derived data" in bad.json()["message"]
    made = oscar.post(
        f"/api/train-runs/{train}/clone",
        json={"target_id": eight, "slow": True, "auto_submit": True, "tag_id": world.ids["tag"]},
    )
    assert made.status_code == 201, made.text
    clone = made.json()
    assert (clone["target_id"], clone["slow"], clone["auto_submit"]) == (eight, True, True)
    assert clone["parent_id"] == train and clone["state"] == "composed"
    assert as_role("analyzer").post(f"/api/train-runs/{train}/clone", json={}).status_code == 403


def test_a_member_requests_a_long_train_with_choices_and_approval_honours_auto_submission(
    as_role, world: ApiWorld
) -> None:
    eight = _second_target(as_role)
    alice, connie = as_role("analyzer"), as_role("pwg_convener")
    short = world.ids["short_train"]
    form = alice.get(f"/api/train-runs/{short}/overview").json()["forms"]["long_train"]
    assert form["url"] == f"/api/train-runs/{short}/long-train"
    assert form["datasets"] == [{"id": world.ids["big_dataset"], "name": "LHC23_big"}]
    assert [w["wagon_id"] for w in form["wagons"]] == [world.ids["wagon"]]
    assert form["types"] == ["analysis"] and form["current"]["auto_submit"] is False
    # the operator (not a member) and a train on a big dataset get no form
    assert (
        as_role("operator").get(f"/api/train-runs/{short}/overview").json()["forms"]["long_train"]
        is None
    )
    train = world.ids["train"]
    assert alice.get(f"/api/train-runs/{train}/overview").json()["forms"]["long_train"] is None
    wrong = alice.post(
        f"/api/train-runs/{short}/long-train", json={"dataset_id": world.ids["dataset"]}
    )
    assert wrong.status_code == 422 and "is not the dataset of short dataset" in wrong.text
    none = alice.post(f"/api/train-runs/{short}/long-train", json={"wagon_ids": []})
    assert none.status_code == 422
    auto = alice.post(
        f"/api/train-runs/{short}/long-train",
        json={
            "dataset_id": world.ids["big_dataset"],
            "target_id": eight,
            "wagon_ids": [world.ids["wagon"]],
            "auto_submit": True,
        },
    )
    assert auto.status_code == 201, auto.text
    assert (auto.json()["target_id"], auto.json()["auto_submit"]) == (eight, True)
    approved = connie.post(f"/api/train-runs/{auto.json()['id']}/approve")
    assert approved.json()["state"] == "submitted"  # automatic submission after approval
    manual = alice.post(f"/api/train-runs/{short}/long-train", json={})
    assert manual.json()["auto_submit"] is False
    waits = connie.post(f"/api/train-runs/{manual.json()['id']}/approve")
    assert waits.json()["state"] == "long_train_approved"  # an operator submits it


def test_operators_schedule_derived_data_wagons_with_train_settings_from_train_submission(
    as_role, world: ApiWorld
) -> None:
    oscar, alice = as_role("operator"), as_role("analyzer")
    ds, skim = world.ids["dataset"], world.ids["skim_wagon"]
    view = oscar.get("/api/train-runs/submission", params={"dataset_id": ds}).json()
    sched = view["derived_schedule"]
    assert sched["can_schedule"] is True
    assert sched["types"] == ["standard_derived", "linked_derived", "slim_derived"]
    assert sched["composition"] == {"on": False, "when": None}
    (row,) = sched["wagons"]  # the one enabled wagon with derived data
    assert (row["wagon_id"], row["scheduled"], row["test_status"]) == (skim, False, "done")
    url = row["url"]
    assert url == f"/api/wagons/{skim}/datasets/{ds}/schedule"
    assert alice.put(url, json={}).status_code == 403
    analysis = oscar.put(url, json={"train_type": "analysis"})
    assert analysis.status_code == 422 and "not analysis" in analysis.json()["message"]
    slim = oscar.put(url, json={"train_type": "slim_derived"})
    assert slim.status_code == 422 and "not ready for slim" in slim.json()["message"]
    done = oscar.put(url, json={"train_type": "linked_derived", "slow": True, "auto_submit": True})
    assert done.status_code == 200, done.text
    got = done.json()
    assert (got["scheduled"], got["scheduled_type"], got["scheduled_slow"]) == (
        True,
        "linked_derived",
        True,
    )
    (row,) = alice.get("/api/train-runs/submission", params={"dataset_id": ds}).json()[
        "derived_schedule"
    ]["wagons"]
    assert (row["scheduled"], row["train_type"], row["slow"], row["auto_submit"]) == (
        True,
        "linked_derived",
        True,
        True,
    )
    assert row["scheduled_by"] == "oscar"
    off = oscar.put(url, json={"scheduled": False}).json()
    assert (off["scheduled"], off["scheduled_type"], off["scheduled_auto_submit"]) == (
        False,
        None,
        False,
    )
