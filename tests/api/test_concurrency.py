"""Two users editing the same wagon: no lost update, the second gets 409 with what changed."""

from __future__ import annotations

import threading

from tests.factories import ApiWorld


def test_second_editor_gets_409_naming_the_changes(as_role, world: ApiWorld) -> None:
    alice, bob = as_role("analyzer"), as_role("bob")
    wid = world.ids["wagon"]
    seen_by_alice = alice.get(f"/api/wagons/{wid}").json()
    seen_by_bob = bob.get(f"/api/wagons/{wid}").json()
    assert seen_by_alice["version"] == seen_by_bob["version"]

    first = alice.patch(
        f"/api/wagons/{wid}",
        json={
            "expected_version": seen_by_alice["version"],
            "base_config": {"spectra-task": {"cutZ": "7"}},
        },
    )
    assert first.status_code == 200, first.text

    second = bob.patch(
        f"/api/wagons/{wid}",
        json={
            "expected_version": seen_by_bob["version"],
            "base_config": {"spectra-task": {"nBins": "200"}},
        },
    )
    assert second.status_code == 409
    error = second.json()
    assert error["error"] == "conflict"
    assert error["details"]["current_version"] == seen_by_alice["version"] + 1
    assert error["details"]["changed_by_user_id"] == world.user_ids["analyzer"]
    assert {"path": "base_config.spectra-task.cutZ", "old": "10", "new": "7"} in error["details"][
        "changes"
    ]

    now = alice.get(f"/api/wagons/{wid}").json()
    assert now["base_config"]["spectra-task"]["cutZ"] == "7"  # Alice's edit kept
    assert now["base_config"]["spectra-task"]["nBins"] == "100"  # Bob's not silently applied

    retry = bob.patch(
        f"/api/wagons/{wid}",
        json={
            "expected_version": now["version"],
            "base_config": {"spectra-task": {"nBins": "200"}},
        },
    )
    assert retry.status_code == 200
    assert retry.json()["base_config"]["spectra-task"] == {
        **now["base_config"]["spectra-task"],
        "nBins": "200",
    }


def test_simultaneous_edits_exactly_one_wins(as_role, world: ApiWorld) -> None:
    wid = world.ids["wagon"]
    clients = [as_role("analyzer"), as_role("bob")] * 3
    version = clients[0].get(f"/api/wagons/{wid}").json()["version"]
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def edit(i: int) -> None:
        barrier.wait()
        r = clients[i].patch(
            f"/api/wagons/{wid}",
            json={
                "expected_version": version,
                "base_config": {"spectra-task": {"cutZ": str(20 + i)}},
            },
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * (len(clients) - 1)
    final = clients[0].get(f"/api/wagons/{wid}").json()
    assert final["version"] == version + 1
    history = clients[0].get(f"/api/wagons/{wid}/history").json()
    assert [e["version"] for e in history["items"]].count(version + 1) == 1


def test_concurrent_dataset_edit_is_refused_too(as_role, world: ApiWorld) -> None:
    oscar, ada = as_role("operator"), as_role("admin")
    did = world.ids["spare_dataset"]
    version = oscar.get(f"/api/datasets/{did}").json()["version"]
    assert (
        oscar.patch(
            f"/api/datasets/{did}", json={"expected_version": version, "slots_per_week": 9}
        ).status_code
        == 200
    )
    late = ada.patch(f"/api/datasets/{did}", json={"expected_version": version, "description": "x"})
    assert late.status_code == 409
    assert late.json()["error"] == "conflict"
