"""Train slots visible (issue 18 item 9): on the train's test tab the slots each analysis
uses and when the next one frees up, the per-wagon table with heavy wagons in red; on My
Analyses the slots per dataset with when they free up."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from tests.factories import ApiWorld

from hyperloop.db.models import WagonTest
from hyperloop.db.session import make_engine


def heavy_test(world: ApiWorld, wagon_id: int) -> None:
    """The wagon's test measured 3.5 GB average PSS: it needs the 2-core queue."""
    engine = make_engine(world.url)
    with engine.begin() as conn:
        conn.execute(
            update(WagonTest)
            .where(WagonTest.wagon_id == wagon_id)
            .values(metrics={"pss_avg_bytes": 3.5e9})
        )
    engine.dispose()


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_slots_and_heavy_wagons_on_the_test_tab_and_my_analyses(as_role, world: ApiWorld) -> None:
    oscar, alice = as_role("operator"), as_role("analyzer")
    heavy_test(world, world.ids["spare_wagon"])
    composed = oscar.post(
        "/api/train-runs",
        json={
            "dataset_id": world.ids["dataset"],
            "wagon_ids": [world.ids["spare_wagon"]],
            "target_id": world.ids["target"],
        },
    )
    assert composed.status_code == 201, composed.text
    train = composed.json()["id"]
    trains = oscar.get("/api/train-runs", params={"dataset_id": world.ids["dataset"]}).json()
    counted = [when(t["composed_at"]) for t in trains["items"] if t["state"] != "decomposed"]
    frees = min(counted) + timedelta(days=7)

    test = oscar.get(f"/api/train-runs/{train}/test").json()
    [wagon] = test["wagons"]
    assert (wagon["name"], wagon["heavy"], wagon["slots"]) == ("spare", True, 2)
    [usage] = test["slots"]
    assert usage["analysis_id"] == world.ids["analysis"]
    assert usage["train_slots"] == 1  # the heavy wagon's 2 slots, capped by the 1-core target
    slots = oscar.get(
        "/api/slots",
        params={"analysis_id": world.ids["analysis"], "dataset_id": world.ids["dataset"]},
    ).json()
    assert (usage["used"], usage["allowed"]) == (slots["used"], slots["allowed"])
    assert when(usage["frees_at"]) == frees

    page = oscar.get(f"/train-run/{train}?tab=test").text
    assert 'id="slots-per-analysis"' in page
    assert f"{usage['used']}/{usage['allowed']}" in page
    assert '<tr class="heavy-wagon">' in page and "counts double" in page
    overview = oscar.get(f"/train-run/{train}").text
    assert '<tr class="heavy-wagon">' in overview

    mine = alice.get("/api/my-analyses").json()
    [lf] = [a for a in mine if a["id"] == world.ids["analysis"]]
    [on_dataset] = [s for s in lf["slots"] if s["dataset_id"] == world.ids["dataset"]]
    assert on_dataset["used"] == usage["used"]
    assert when(on_dataset["frees_at"]) == frees
    home = alice.get("/").text
    assert f'data-frees-at="{on_dataset["frees_at"]}"' in home
    assert f"next free {on_dataset['frees_at'][:16].replace('T', ' ')}" in home
