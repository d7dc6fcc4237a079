"""Parameters added by hand to a wagon (task, name, value) that its tag does not declare:
validated, version-checked, in the history, restarting the enabled tests, in the full
configuration of the next test with the base and every subwagon, removable, and moved into
the configuration by a sync to a tag that declares them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from tests.factories import ApiWorld, api_introspection

from hyperloop.core import tags
from hyperloop.core.full_config import build_full_config
from hyperloop.db import models as m
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import TestStatus


def _wagon(client, wagon_id: int) -> dict[str, Any]:
    response = client.get(f"/api/wagons/{wagon_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _add(client, wagon_id: int, version: int, task: str, name: str, value: Any):
    body = {"expected_version": version, "task": task, "name": name, "value": value}
    return client.post(f"/api/wagons/{wagon_id}/parameters", json=body)


def _queued_full_config(world: ApiWorld, wagon_id: int) -> dict[str, Any]:
    """The full configuration the wagon's newest queued test runs."""
    engine = make_engine(world.url)
    try:
        with make_sessionmaker(engine).begin() as s:
            test = s.scalars(
                select(m.WagonTest)
                .where(m.WagonTest.wagon_id == wagon_id, m.WagonTest.status == TestStatus.QUEUED)
                .order_by(m.WagonTest.id.desc())
            ).first()
            assert test is not None, "no test was queued"
            return build_full_config(test, s.get(m.PackageTag, test.tag_id)).to_json()
    finally:
        engine.dispose()


def test_an_added_parameter_reaches_the_full_configuration_and_the_history(
    as_role, world: ApiWorld
) -> None:
    alice = as_role("analyzer")
    wid = world.ids["wagon"]
    before = _wagon(alice, wid)
    assert before["added_parameters"] == {}

    added = _add(alice, wid, before["version"], "spectra-task", "minNCrossedRows", 70)
    assert added.status_code == 200, added.text
    wagon = added.json()
    assert wagon["added_parameters"] == {"spectra-task": {"minNCrossedRows": 70}}
    assert wagon["version"] == before["version"] + 1
    assert "minNCrossedRows" not in wagon["base_config"]["spectra-task"]

    # the wagon is enabled: its test restarted with the parameter, in base and subwagon
    spec = _queued_full_config(world, wid)
    mine = [w for w in spec["workflows"] if w["wagon_id"] == wid]
    assert {w["suffix"] for w in mine} == {"", "tight"}
    for entry in mine:
        assert entry["configuration"]["spectra-task"]["minNCrossedRows"] == 70
        assert entry["added_parameters"] == {"spectra-task": ["minNCrossedRows"]}
    tight = next(w for w in mine if w["suffix"] == "tight")
    assert tight["configuration"]["spectra-task"]["cutZ"] == "5"  # the override stays
    others = [w for w in spec["workflows"] if w["wagon_id"] != wid]
    assert others and all("added_parameters" not in w for w in others)  # the dependency

    history = alice.get(f"/api/wagons/{wid}/history").json()["items"]
    last = history[-1]
    assert last["reason"] == "parameter spectra-task.minNCrossedRows added by hand"
    assert last["changes"] == {"added_parameters.spectra-task.minNCrossedRows": [None, 70]}

    # a text value that is not JSON is kept as text; changing a value replaces it
    again = _add(alice, wid, wagon["version"], "spectra-task", "mode", "fast")
    assert again.json()["added_parameters"]["spectra-task"]["mode"] == "fast"

    removed = alice.delete(
        f"/api/wagons/{wid}/parameters/spectra-task/minNCrossedRows",
        params={"expected_version": again.json()["version"]},
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["added_parameters"] == {"spectra-task": {"mode": "fast"}}
    changes = alice.get(f"/api/wagons/{wid}/history").json()["items"][-1]["changes"]
    assert changes == {"added_parameters.spectra-task.minNCrossedRows": [70, None]}
    view = alice.get(f"/api/wagons/{wid}/view").json()
    assert view["added_parameters"] == [
        {"task": "spectra-task", "name": "mode", "value": "fast", "json": '"fast"'}
    ]


def test_a_bad_added_parameter_is_refused_with_one_clear_error(as_role, world: ApiWorld) -> None:
    alice = as_role("analyzer")
    wid = world.ids["wagon"]
    version = _wagon(alice, wid)["version"]

    no_task = _add(alice, wid, version, "no-such-task", "x", 1)
    assert no_task.status_code == 422
    assert "has no task 'no-such-task'" in no_task.json()["message"]
    assert "spectra-task" in no_task.json()["message"]  # the tasks it has

    declared = _add(alice, wid, version, "spectra-task", "cutZ", 3)
    assert declared.status_code == 422
    assert "already declares 'cutZ'" in declared.json()["message"]

    bad_name = _add(alice, wid, version, "spectra-task", "two words", 1)
    assert bad_name.status_code == 422
    assert "parameter name 'two words'" in bad_name.json()["message"]

    null = _add(alice, wid, version, "spectra-task", "x", None)
    assert null.status_code == 422 and "a value is required" in null.json()["message"]

    stale = _add(alice, wid, version + 5, "spectra-task", "x", 1)
    assert stale.status_code == 409 and "was changed since you loaded it" in stale.json()["message"]

    missing = alice.delete(
        f"/api/wagons/{wid}/parameters/spectra-task/nothere", params={"expected_version": version}
    )
    assert missing.status_code == 404
    assert "no parameter spectra-task.nothere added by hand" in missing.json()["message"]

    assert _add(as_role("user"), wid, version, "spectra-task", "x", 1).status_code == 403
    assert _wagon(alice, wid)["version"] == version  # nothing was saved


def test_a_sync_to_a_tag_that_declares_it_moves_it_into_the_configuration(
    as_role, world: ApiWorld
) -> None:
    alice = as_role("analyzer")
    wid = world.ids["spare_wagon"]
    version = _wagon(alice, wid)["version"]
    version = _add(alice, wid, version, "spectra-task", "minPt", "0.3").json()["version"]
    version = _add(alice, wid, version, "spectra-task", "stillExtra", 1).json()["version"]

    newer = api_introspection("v2")
    task = next(t for w in newer["workflows"] for t in w["tasks"] if t["name"] == "spectra-task")
    task["configurables"].append({"name": "minPt", "kind": "float", "default": "0.1", "help": ""})
    engine = make_engine(world.url)
    try:
        with make_sessionmaker(engine).begin() as s:
            tag_id = tags.register_tag(s, None, newer, artifact="/tags/physics-v2").id
    finally:
        engine.dispose()

    synced = alice.post(
        f"/api/wagons/{wid}/sync", json={"tag_id": tag_id, "expected_version": version}
    )
    assert synced.status_code == 200, synced.text
    wagon = synced.json()["wagon"]
    assert wagon["base_config"]["spectra-task"]["minPt"] == "0.3"
    assert wagon["added_parameters"] == {"spectra-task": {"stillExtra": 1}}
    assert "spectra-task.minPt" in synced.json()["report"]["kept"]
