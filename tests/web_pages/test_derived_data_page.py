"""Issue 18 item 12, the Derived data page as the original has it: grouped by dataset,
analysis or PWG, expand / collapse all, the total size of all derived data (whatever the
filters), an active/inactive filter on the datasets that use an output, and deleting an
output allowed when only inactive datasets use it (page and JSON API)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from tests.web_pages.seed_datasets import MAIN_DATASET, Site, done_derived_train

from hyperloop.core import datasets, derived, history
from hyperloop.core.actor import Actor
from hyperloop.db.models import Dataset, User
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import ProductionKind

INACTIVE = "LHC22a00_PbPb"  # one of the seeded extra datasets, never activated


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site.create(tmp_path_factory.mktemp("derived"), tmp_path_factory.getbasetemp())
    yield s
    s.close()


@pytest.fixture(scope="module")
def outputs(site: Site, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Two done derived outputs (2 kB each): one a production of an inactive dataset, one
    of the active main dataset."""
    folder = tmp_path_factory.mktemp("old-output")
    old = done_derived_train(site.url, site.ids["derived_train"], folder)
    kept = done_derived_train(site.url, site.ids["derived_train"], tmp_path_factory.mktemp("b"))
    engine = make_engine(site.url)
    with make_sessionmaker(engine).begin() as s:
        op = Actor(s.query(User).filter_by(username="operator").one())
        inactive = s.query(Dataset).filter_by(name=INACTIVE).one()
        main = s.query(Dataset).filter_by(name=MAIN_DATASET).one()
        assert not inactive.active and main.active
        kind = ProductionKind.DERIVED_TRAIN
        datasets.add_production(s, op, inactive.id, "skims", kind=kind, train_run_id=old)
        datasets.add_production(s, op, main.id, "skims", kind=kind, train_run_id=kept)
    engine.dispose()
    return {"inactive": old, "active": kept, "folder": folder}


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def ids_of(body: dict) -> list[int]:
    return [d["train_run_id"] for d in body["items"]]


def test_filter_by_active_or_inactive_datasets_and_the_total_size(site, outputs) -> None:
    c = site.client("analyzer")
    every = c.get("/api/datasets/derived-data").json()
    assert {outputs["inactive"], outputs["active"]} <= set(ids_of(every))
    assert every["total_bytes"] == 2 * 2048  # the composed train has no output yet
    active = c.get("/api/datasets/derived-data", params={"used_by": "active"}).json()
    assert ids_of(active) == [outputs["active"]]
    assert active["total_bytes"] == 2 * 2048  # the total ignores the filters
    inactive = c.get("/api/datasets/derived-data", params={"used_by": "inactive"}).json()
    assert ids_of(inactive) == [outputs["inactive"]]
    [user] = inactive["items"][0]["dependent_datasets"]
    assert (user["dataset_name"], user["active"]) == (INACTIVE, False)
    assert inactive["items"][0]["deletable"] is True
    assert active["items"][0]["deletable"] is False
    unused = ids_of(c.get("/api/datasets/derived-data", params={"used_by": "unused"}).json())
    assert site.ids["derived_train"] in unused
    assert outputs["inactive"] not in unused and outputs["active"] not in unused
    bad = c.get("/api/datasets/derived-data", params={"used_by": "sometimes"})
    assert bad.status_code == 422
    page = c.get("/derived-data", params={"used_by": "inactive"}).text
    assert '<option value="inactive" selected>only inactive datasets</option>' in page
    assert f'href="/train-run/{outputs["inactive"]}"' in page
    assert f'href="/train-run/{outputs["active"]}"' not in page
    assert "Total size of all derived data: 4.1 kB" in text_of(page)
    wrong = c.get("/derived-data", params={"used_by": "sometimes"})
    assert (
        wrong.status_code == 422 and "used_by must be one of active, inactive, unused" in wrong.text
    )


def test_group_by_dataset_analysis_or_pwg(site, outputs) -> None:
    c = site.client("analyzer")
    by_dataset = c.get("/api/datasets/derived-data").json()["groups"]
    assert [(g["name"], g["id"]) for g in by_dataset] == [(MAIN_DATASET, site.ids["dataset"])]
    assert by_dataset[0]["size_bytes"] == 2 * 2048
    by_analysis = c.get("/api/datasets/derived-data", params={"group": "analysis"}).json()
    [lf] = by_analysis["groups"]
    assert (lf["name"], lf["id"]) == ("LF-spectra", site.ids["lf"])
    assert {outputs["inactive"], outputs["active"]} <= set(lf["train_run_ids"])
    by_pwg = c.get("/api/datasets/derived-data", params={"group": "pwg"}).json()["groups"]
    assert [g["name"] for g in by_pwg] == ["PWG-LF"]
    assert c.get("/api/datasets/derived-data", params={"group": "run"}).status_code == 422
    page = c.get("/derived-data", params={"group": "analysis", "used_by": "active"}).text
    assert f'Analysis <a href="/analysis/{site.ids["lf"]}">LF-spectra</a>' in page
    # the switch keeps the filters; the current grouping is marked
    assert 'href="/derived-data?used_by=active&amp;group=pwg"' in page
    assert 'href="/derived-data?used_by=active&amp;group=analysis" aria-current="page"' in page
    assert 'data-action="expand-all"' in page and 'data-action="collapse-all"' in page
    assert '<details class="derived-group" id="group-1" open>' in page
    assert "PWG PWG-LF" in text_of(c.get("/derived-data?group=pwg").text)
    assert c.get("/derived-data?group=run").status_code == 422


def test_an_output_only_inactive_datasets_use_may_be_deleted(site, outputs) -> None:
    op = site.client("operator")
    page = op.get("/derived-data").text
    old = page.split(f'href="/train-run/{outputs["inactive"]}"')[1].split("</tr>")[0]
    assert 'data-method="DELETE"' in old and "Delete output" in old
    assert '<span class="pill pill-off">inactive</span>' in old
    kept = page.split(f'href="/train-run/{outputs["active"]}"')[1].split("</tr>")[0]
    assert 'data-method="DELETE"' not in kept
    assert '<span class="pill pill-on">active</span>' in kept
    refused = op.delete(f"/api/datasets/derived-data/{outputs['active']}")
    assert refused.status_code == 409
    assert (
        f"used by the active dataset {MAIN_DATASET} (skims): deactivate it"
        in refused.json()["message"]
    )
    done = op.delete(f"/api/datasets/derived-data/{outputs['inactive']}")
    assert done.status_code == 200, done.text
    assert done.json()["bytes_freed"] == 2048
    assert not (outputs["folder"] / "merged").exists()
    after = op.get("/api/datasets/derived-data", params={"used_by": "inactive"}).json()
    assert after["items"][0]["output_deleted_at"] is not None
    assert after["total_bytes"] == 2048
    engine = make_engine(site.url)  # the deletion's record says why it was allowed
    with make_sessionmaker(engine)() as s:
        entry = history.entries(s, derived.OBJECT, outputs["inactive"])[-1]
        assert (
            entry.reason
            == f"derived output used only by inactive datasets deleted: {INACTIVE} (skims)"
        )
    engine.dispose()
