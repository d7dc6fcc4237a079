"""Overlap detection on the running system: enabling a wagon whose workflow and configuration
another analysis already runs on the dataset answers with a notice (identical, or
near-identical with the differing parameters), a duplicate skim with a warning before it
is produced; the wagon page shows them."""

from __future__ import annotations

import html
from typing import Any

import pytest
from tests.e2e.system import System

pytestmark = pytest.mark.slow


def _other_analysis(system: System) -> int:
    """A second analysis (the admin's) on the seeded dataset."""
    with system.client("admin") as c:
        r = c.post("/api/analyses", json={"name": "e2e-flow", "pwg": "PWGCF"})
        assert r.status_code == 201, r.text
        analysis = r.json()["id"]
        r = c.post(f"/api/analyses/{analysis}/datasets", json={"dataset_id": system.dataset_id})
        assert r.status_code == 201, r.text
    return analysis


def _enable(
    system: System, analysis: int, name: str, workflow: str, config: dict, derived=()
) -> tuple[int, dict[str, Any]]:
    """The admin's wagon in ``analysis``, enabled on the dataset: its id and the answer."""
    with system.client("admin") as c:
        body = {
            "analysis_id": analysis,
            "name": name,
            "workflow": workflow,
            "tag_id": system.tag_id,
            "base_config": config,
            "derived_tables": list(derived),
        }
        r = c.post("/api/wagons", json=body)
        assert r.status_code == 201, r.text
        wagon = r.json()["id"]
        r = c.put(
            f"/api/wagons/{wagon}/datasets/{system.dataset_id}",
            json={"policy": "fixed", "tag_id": system.tag_id},
        )
        assert r.status_code == 200, r.text
    return wagon, r.json()


def test_enabling_an_overlapping_wagon_suggests_sharing_and_warns_of_a_duplicate_skim(
    system: System,
):
    slow = {"gt-pt": {"sleepPerDf": "0.01"}}
    mine = system.wagon("gt-pt", slow, name="pt_alice")
    skim = system.wagon("gt-skim", derived_tables=["GtSkimTracks"], name="skim_alice")
    other = _other_analysis(system)

    # nothing like it in the other analysis yet: no overlap
    _, answer = _enable(system, other, "vz_only", "gt-weighted", {})
    assert answer["overlaps"] == []

    same, answer = _enable(system, other, "pt_same", "gt-pt", slow)
    (o,) = answer["overlaps"]
    assert (o["wagon_id"], o["kind"], o["level"], o["analysis"]) == (
        mine,
        "identical",
        "notice",
        "e2e-spectra",
    )
    assert "its histograms would be identical" in o["message"]

    _, answer = _enable(system, other, "pt_near", "gt-pt", {"gt-pt": {"sleepPerDf": "0.02"}})
    near = [x for x in answer["overlaps"] if x["analysis"] == "e2e-spectra"]
    assert [(x["wagon_id"], x["kind"]) for x in near] == [(mine, "near-identical")]
    assert near[0]["differences"] == [
        {"task": "gt-pt", "parameter": "sleepPerDf", "this": "0.02", "other": "0.01"}
    ]

    dup, answer = _enable(system, other, "skim_dup", "gt-skim", {}, derived=["GtSkimTracks"])
    (o,) = answer["overlaps"]
    assert (o["wagon_id"], o["level"]) == (skim, "warning")
    assert o["message"].startswith(
        "duplicate skim: wagon 'skim_alice' of analysis 'e2e-spectra' produces the same "
        "derived tables (GtSkimTracks)"
    )

    # the same on the wagon's page and through the overlaps endpoint
    with system.client("admin") as c:
        page = html.unescape(c.get(f"/wagon/{dup}").text)
        listed = c.get(f"/api/wagons/{same}/datasets/{system.dataset_id}/overlaps").json()
        missing = c.get(f"/api/wagons/{same}/datasets/999999/overlaps")
    assert "Overlap with other analyses" in page and o["message"] in page
    assert [x["wagon_id"] for x in listed if x["kind"] == "identical"] == [mine]
    assert missing.status_code == 404 and "dataset 999999" in missing.text
