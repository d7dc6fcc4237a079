"""Dataset, derived-data, staging and runlist pages: content, permissions per role, errors.

The site is seeded through the core services (tests/web_pages/seed_datasets.py); actions are
sent to the JSON API exactly as the pages' forms send them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from tests.factories import staging_copied
from tests.web_pages.seed_datasets import EXTRA_DATASETS, MAIN_DATASET, Site, done_derived_train

from hyperloop.db.session import make_engine, make_sessionmaker


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site.create(tmp_path_factory.mktemp("datasets"), tmp_path_factory.getbasetemp())
    yield s
    s.close()


def text_of(html: str) -> str:
    """Visible text (tags removed, whitespace collapsed) for content assertions."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize(
    "path",
    [
        "/datasets",
        "/dataset/1",
        "/dataset/1/edit",
        "/derived-data",
        "/staging-status",
        "/runlists",
        "/runlist/1",
    ],
)
def test_anonymous_visitors_are_sent_to_the_login_page(site: Site, path: str) -> None:
    r = site.client("anonymous").get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")


def test_dataset_list_filters_and_paginates(site: Site) -> None:
    c = site.client("analyzer")
    page = c.get("/datasets")
    assert page.status_code == 200
    assert "<title>Datasets · Hyperloop</title>" in page.text
    total = EXTRA_DATASETS + 2  # the main dataset and its short dataset
    assert f"1–25 of {total} datasets" in text_of(page.text)
    assert 'rel="next"' in page.text and 'rel="prev"' not in page.text
    second = c.get("/datasets?offset=25")
    assert f"26–{total} of {total} datasets" in text_of(second.text)
    assert 'rel="prev"' in second.text
    mine = c.get("/datasets", params={"name": "pp_pass4"})
    assert f'href="/dataset/{site.ids["dataset"]}">{MAIN_DATASET}<' in mine.text
    assert "LHC22" not in text_of(mine.text).split("Short dataset of")[1]
    mc = text_of(c.get("/datasets", params={"data_type": "mc", "limit": 100}).text)
    n_mc = sum(1 for i in range(EXTRA_DATASETS) if i % 3 == 0)
    assert f"1–{n_mc} of {n_mc} datasets" in mc
    inactive = c.get("/datasets", params={"active": "no", "name": "pass4"}).text
    assert "LHC23_pp_pass4_short" in inactive and f">{MAIN_DATASET}<" not in inactive


def test_dataset_view_shows_productions_runs_catalogue_and_staging(site: Site) -> None:
    page = site.client("user").get(f"/dataset/{site.ids['dataset']}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert f"<title>Dataset {MAIN_DATASET} · Hyperloop</title>" in page.text
    # production from the DPG runlist, with its excluded run and catalogue
    assert f'href="/runlist/{site.ids["runlist"]}">LHC23zzh_pass4<' in page.text
    assert "Runs (2)" in text and "544013, 544028" in text
    assert "Excluded runs (1): 544032" in text
    # totals count the runs trains read: the 2 files of excluded run 544032 are left out
    assert "Files 4" in text
    assert "2 files" in text and "of excluded runs, not counted" in text
    assert "Mergelists" in text and "early" in text and "all-runs : early, late" in text
    assert 'href="/dataset/2">LHC23_pp_pass4_short<' in page.text
    # the transfers as the scheduler records them: files and bytes copied
    assert "af-gsi" in text and "33% 2/6 files, 4.5 MB of 13.5 MB" in text
    assert "af-cern" in text and "100% 6/6 files, 13.5 MB of 13.5 MB" in text
    assert "LF-spectra" in text and "HF-charm" in text
    assert "Train slots per analysis per week 4" in text
    # the page shows what the JSON endpoint returns
    api = site.client("user").get(f"/api/datasets/{site.ids['dataset']}/overview").json()
    assert api["runs"] == [544013, 544028]
    assert api["catalogue"]["files"] == 4
    assert api["catalogue"]["bytes"] == 2 * (1_500_000 + 3_000_000)
    [prod] = api["productions"]
    assert (prod["excluded_files"], prod["excluded_bytes"]) == (2, 4_500_000)
    assert [t["target"] for t in api["staging"]] == ["af-cern", "af-gsi"]


@pytest.mark.parametrize(
    ("role", "may_edit"),
    [
        ("operator", True),
        ("admin", True),
        ("analyzer", False),
        ("dpg_expert", False),
        ("user", False),
    ],
)
def test_edit_controls_only_for_operators_and_admins(site: Site, role: str, may_edit: bool) -> None:
    c = site.client(role)
    view = c.get(f"/dataset/{site.ids['dataset']}").text
    assert ("Edit dataset</a>" in view) is may_edit
    assert ("Deactivate</button>" in view) is may_edit
    assert ('data-api="/api/datasets"' in c.get("/datasets").text) is may_edit
    edit = c.get(f"/dataset/{site.ids['dataset']}/edit")
    if may_edit:
        assert edit.status_code == 200
        assert 'id="settings-form"' in edit.text
    else:
        assert edit.status_code == 403
        assert "may not edit datasets" in edit.text
        assert 'id="settings-form"' not in edit.text


def test_analyzer_may_add_an_active_dataset_to_an_analysis_without_it(site: Site) -> None:
    alice = site.client("analyzer")
    # alice's only analysis (LF) already has the main dataset: nothing to offer
    assert 'id="add-to-analysis"' not in alice.get(f"/dataset/{site.ids['dataset']}").text
    other = alice.get("/api/datasets", params={"name": "LHC22b01"}).json()["items"][0]["id"]
    assert 'id="add-to-analysis"' not in alice.get(f"/dataset/{other}").text  # inactive
    on = site.client("operator").put(f"/api/datasets/{other}/active", json={"active": True})
    assert on.status_code == 200
    page = alice.get(f"/dataset/{other}").text
    assert 'id="add-to-analysis"' in page and f'<option value="{site.ids["lf"]}">LF-spectra' in page
    assert 'id="add-to-analysis"' not in site.client("user").get(f"/dataset/{other}").text
    added = alice.post(f"/api/analyses/{site.ids['lf']}/datasets", json={"dataset_id": other})
    assert added.status_code in (200, 201), added.text
    page = alice.get(f"/dataset/{other}").text
    assert 'id="add-to-analysis"' not in page
    assert f'href="/analysis/{site.ids["lf"]}">LF-spectra<' in page


def test_edit_forms_post_what_the_api_accepts(site: Site) -> None:
    """The JSON the edit page's forms send (production, mergelist, final mergelist, short
    dataset, file list, staging) is accepted and shows on the dataset page."""
    op = site.client("operator")
    ds = op.get("/api/datasets", params={"name": "LHC22c02"}).json()["items"][0]["id"]
    base = f"/api/datasets/{ds}"
    prod = op.post(
        f"{base}/productions",
        json={"name": "pass4", "kind": "runlist", "runlist_id": site.ids["runlist"]},
    )
    assert prod.status_code == 201, prod.text
    files = op.post(
        f"{base}/productions/{prod.json()['id']}/files",
        json={"lines": ["/data/LHC22o/526641/AO2D_001.root 2048 3"]},
    )
    assert files.status_code == 200 and files.json()["imported"] == 1
    assert op.post(f"{base}/mergelists", json={"name": "m1", "runs": [526641], "active": True})
    final = op.post(f"{base}/final-mergelists", json={"name": "f1", "mergelists": ["m1"]})
    assert final.status_code == 201, final.text
    bad_final = op.post(f"{base}/final-mergelists", json={"name": "f2", "mergelists": ["nope"]})
    assert bad_final.status_code == 422 and "nope" in bad_final.json()["message"]
    short = op.post(f"{base}/short-datasets", json={"name": "LHC22c02_short", "description": ""})
    assert short.status_code == 201
    staged = op.post(f"{base}/staging", json={"target": "af-gsi", "action": "stage"})
    assert staged.status_code == 201
    text = text_of(op.get(f"/dataset/{ds}").text)
    assert "DPG runlist LHC23zzh_pass4" in text and "Files 1" in text
    assert "f1 : m1" in text and "LHC22c02_short" in text and "af-gsi" in text
    edit = op.get(f"/dataset/{ds}/edit").text
    assert 'id="add-final-mergelist"' in edit and 'value="m1" data-type="str-set"' in edit


def test_unknown_dataset_is_a_404_page(site: Site) -> None:
    c = site.client("operator")
    for path in ("/dataset/99999", "/dataset/99999/edit"):
        r = c.get(path)
        assert r.status_code == 404
        assert "text/html" in r.headers["content-type"]
        assert "dataset 99999 does not exist" in r.text


def test_edit_page_prefills_every_setting(site: Site) -> None:
    page = site.client("operator").get(f"/dataset/{site.ids['dataset']}/edit").text
    assert 'name="slots_per_week" type="number" min="0" value="4"' in page
    assert f'name="name" value="{MAIN_DATASET}"' in page
    assert 'value="544032"' in page  # excluded runs of the production
    assert 'name="expected_version" value="' in page
    assert "LHC22o_pass7" in page  # runlists offered for a new production
    assert 'option value="2core"' in page  # staging targets offered


def test_bad_setting_is_refused_with_a_clear_message_and_changes_nothing(site: Site) -> None:
    c = site.client("operator")
    ds = site.ids["dataset"]
    version = c.get(f"/api/datasets/{ds}").json()["version"]
    bad = c.patch(
        f"/api/datasets/{ds}",
        json={"expected_version": version, "slots_per_week": 9, "auto_compose_times": ["25:00"]},
    )
    assert bad.status_code == 422
    assert "auto_compose_times" in bad.json()["message"]
    after = c.get(f"/api/datasets/{ds}").json()
    assert after["version"] == version and after["slots_per_week"] == 4
    assert "Train slots per analysis per week 4" in text_of(c.get(f"/dataset/{ds}").text)
    bad_runs = c.put(
        f"/api/datasets/{ds}/productions/{site.ids['production']}/excluded-runs",
        json={"runs": [544032, "abc"]},
    )
    assert bad_runs.status_code == 422 and "runs" in bad_runs.json()["message"]
    assert "Excluded runs (1): 544032" in text_of(c.get(f"/dataset/{ds}").text)


def test_settings_edit_shows_on_the_page_and_stale_versions_conflict(site: Site) -> None:
    c = site.client("operator")
    ds = site.ids["dataset"]
    version = c.get(f"/api/datasets/{ds}").json()["version"]
    ok = c.patch(
        f"/api/datasets/{ds}",
        json={
            "expected_version": version,
            "auto_compose": True,
            "auto_compose_days": [0, 3],
            "auto_compose_times": ["08:00"],
        },
    )
    assert ok.status_code == 200, ok.text
    text = text_of(c.get(f"/dataset/{ds}").text)
    assert "Days Mon, Thu" in text and "Times (UTC) 08:00" in text
    stale = c.patch(f"/api/datasets/{ds}", json={"expected_version": version, "period": "x"})
    assert stale.status_code == 409
    assert "changed since you loaded it" in stale.json()["message"]
    page = c.get(f"/dataset/{ds}").text
    changes = text_of(page.split('id="recent-changes"')[1].split("</table>")[0])
    assert "operator update auto_compose, auto_compose_days, auto_compose_times" in changes


def test_changes_under_impersonation_show_both_names(site: Site) -> None:
    admin = site.client("admin")
    ds = admin.get("/api/datasets", params={"name": "LHC22d03"}).json()["items"][0]
    r = admin.patch(
        f"/api/datasets/{ds['id']}",
        json={"expected_version": ds["version"], "description": "checked"},
        headers={"X-Hyperloop-Impersonate": "operator"},
    )
    assert r.status_code == 200, r.text
    page = admin.get(f"/dataset/{ds['id']}").text
    changes = text_of(page.split('id="recent-changes"')[1].split("</table>")[0])
    assert "operator (by admin) update description" in changes


def test_derived_data_lists_outputs_and_registers_them_as_productions(site: Site) -> None:
    train = site.ids["derived_train"]
    user_page = site.client("user").get("/derived-data")
    assert user_page.status_code == 200
    text = text_of(user_page.text)
    assert f'href="/train-run/{train}">{train}<' in user_page.text
    assert "MyTracks" in text and "standard derived" in text and "LF-spectra" in text
    assert "unused" in text
    assert "register-form" not in user_page.text
    op = site.client("operator")
    assert "Registrable once the train is done." in op.get("/derived-data").text
    target = op.get("/api/datasets", params={"name": "LHC22a00"}).json()["items"][0]["id"]
    added = op.post(
        f"/api/datasets/{target}/productions",
        json={"name": "skims", "kind": "derived_train", "train_run_id": train},
    )
    assert added.status_code == 201, added.text
    page = op.get("/derived-data").text
    assert f'href="/dataset/{target}">LHC22a00_PbPb<' in page
    assert "No derived-data output matches" in op.get("/derived-data?unused=true").text
    assert f"derived data of train {train}" in text_of(op.get(f"/dataset/{target}").text)


def test_an_operator_deletes_an_unused_derived_output_from_the_page(site: Site, tmp_path) -> None:
    train = done_derived_train(site.url, site.ids["derived_train"], tmp_path)
    button = f'data-api="/api/datasets/derived-data/{train}" data-method="DELETE"'
    assert button not in site.client("analyzer").get("/derived-data").text
    page = site.client("operator").get("/derived-data?unused=true").text
    assert button in page and "Delete unused output" in page
    refused = site.client("analyzer").delete(f"/api/datasets/derived-data/{train}")
    assert refused.status_code == 403
    assert (tmp_path / "merged").is_dir()

    r = site.client("operator").delete(f"/api/datasets/derived-data/{train}")
    assert r.status_code == 200, r.text
    assert r.json()["bytes_freed"] == 2048
    assert not (tmp_path / "merged").exists()
    row = site.client("operator").get(
        f"/api/datasets/derived-data?dataset_id={site.ids['dataset']}"
    )
    item = next(i for i in row.json()["items"] if i["train_run_id"] == train)
    assert item["output_deleted_at"] and item["size_bytes"] is None and not item["deletable"]
    page = site.client("operator").get("/derived-data").text
    assert button not in page and "Output deleted: nothing to register." in page
    again = site.client("operator").delete(f"/api/datasets/derived-data/{train}")
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"
    assert "was already deleted at" in again.json()["message"]


def test_a_malformed_filter_in_a_page_address_is_an_error_page_for_a_browser(site: Site) -> None:
    op = site.client("operator")
    html = {"Accept": "text/html,application/xhtml+xml"}
    page = op.get("/derived-data?dataset_id=abc&limit=-3", headers=html)
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]
    text = text_of(page.text)
    assert "Invalid address" in text and "has 2 invalid options" in text
    assert "dataset_id : Input should be a valid integer" in text
    assert "limit : Input should be greater than or equal to 1" in text
    assert 'href="/derived-data">This page without its options' in page.text
    assert "operator" in text  # the header still shows who is logged in
    script = op.get("/derived-data?dataset_id=abc")  # no browser: the structured JSON error
    assert script.status_code == 422 and script.json()["error"] == "validation_error"
    api = op.get("/api/datasets?limit=abc", headers=html)  # the API always answers JSON
    assert api.status_code == 422 and api.json()["error"] == "validation_error"
    missing = op.get("/no-such-page", headers=html)
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert "not found: GET /no-such-page" in text_of(missing.text)


def test_staging_status_polls_while_a_transfer_runs(site: Site) -> None:
    c = site.client("analyzer")
    page = c.get("/staging-status")
    assert page.status_code == 200
    assert 'hx-get="/partials/datasets/staging"' in page.text
    assert 'hx-trigger="every 5s"' in page.text
    text = text_of(page.text)
    assert "af-gsi" in text and "33% 2/6 files" in text and "operator" in text
    assert "100% 6/6 files" in text  # af-cern, done
    only_running = text_of(c.get("/staging-status?running=true").text)
    assert "af-gsi" in only_running and "af-cern" not in only_running
    engine = make_engine(site.url)
    with make_sessionmaker(engine).begin() as s:
        for t in c.get("/api/datasets/staging-transfers").json()["items"]:
            staging_copied(s, t["id"], files=t["files_total"])  # all copied
    engine.dispose()
    partial = c.get("/partials/datasets/staging")
    assert partial.status_code == 200
    assert "<html" not in partial.text and 'id="staging-table"' in partial.text
    assert "hx-get" not in partial.text and "No transfer running" in partial.text


def test_runlists_list_and_view(site: Site) -> None:
    c = site.client("analyzer")
    page = c.get("/runlists")
    assert page.status_code == 200
    assert "<title>DPG runlists · Hyperloop</title>" in page.text
    assert f'href="/runlist/{site.ids["runlist"]}">LHC23zzh_pass4<' in page.text
    assert "LHC22o_pass7" in page.text
    view = c.get(f"/runlist/{site.ids['runlist']}")
    text = text_of(view.text)
    assert "Made by dpg" in text and "by dpg" in text.split("Last change")[1]
    assert f'href="/dataset/{site.ids["dataset"]}">{MAIN_DATASET}<' in view.text
    assert "544013, 544028, 544032" in text
    assert c.get("/runlist/99999").status_code == 404


@pytest.mark.parametrize(
    ("role", "may_edit"),
    [("dpg_expert", True), ("admin", True), ("operator", False), ("analyzer", False)],
)
def test_runlist_editing_only_for_dpg_experts(site: Site, role: str, may_edit: bool) -> None:
    c = site.client(role)
    assert ('id="create-runlist"' in c.get("/runlists").text) is may_edit
    assert ('id="edit-runlist"' in c.get(f"/runlist/{site.ids['runlist']}").text) is may_edit
    if not may_edit:
        r = c.post("/api/runlists", json={"name": f"sneaky-{role}", "runs": [1]})
        assert r.status_code == 403


def test_runlist_bad_runs_refused_and_unused_one_deletable(site: Site) -> None:
    c = site.client("dpg_expert")
    rl = c.get(f"/api/runlists/{site.ids['unused_runlist']}").json()
    bad = c.patch(
        f"/api/runlists/{rl['id']}", json={"expected_version": rl["version"], "runs": ["x1"]}
    )
    assert bad.status_code == 422 and "runs" in bad.json()["message"]
    assert "526641, 526712" in text_of(c.get(f"/runlist/{rl['id']}").text)
    view = c.get(f"/runlist/{rl['id']}").text
    assert "No dataset uses this runlist; it can be deleted" in view
    used = c.get(f"/runlist/{site.ids['runlist']}").text
    assert "cannot be deleted" in used
    assert re.search(r'<button[^>]*data-method="DELETE"[^>]*disabled', used)
    assert not re.search(r'<button[^>]*data-method="DELETE"[^>]*disabled', view)


def test_dataset_page_shows_the_metadata_of_its_files(site: Site, tmp_path) -> None:
    import numpy as np

    from hyperloop.analysis.ao2d import write_metadata
    from hyperloop.analysis.ao2d_writer import AO2DWriter

    path = tmp_path / "544013" / "AO2D_001.root"
    path.parent.mkdir()
    with AO2DWriter(path) as w:
        w.write_dataframe(1, {"O2bc_001": {"fRunNumber": np.array([544013], np.int32)}})
        write_metadata(
            w.file,
            {
                "DataType": "MC",
                "Run": "3",
                "RecoPassName": "apass4",
                "AnchorProduction": "LHC23zzh",
            },
        )
    op = site.client("operator")
    ds = op.post("/api/datasets", json={"name": "LHC24g3_mc"})
    assert ds.status_code == 201, ds.text
    ds_id = ds.json()["id"]
    prod = op.post(
        f"/api/datasets/{ds_id}/productions",
        json={"name": "mc", "kind": "runlist", "runlist_id": site.ids["runlist"]},
    )
    assert prod.status_code == 201, prod.text
    imported = op.post(
        f"/api/datasets/{ds_id}/productions/{prod.json()['id']}/files",
        json={"lines": [f"{path} {path.stat().st_size} 1"]},
    )
    assert imported.status_code == 200, imported.text
    text = text_of(site.client("user").get(f"/dataset/{ds_id}").text)
    assert f"metaData mc, first file {path}" in text
    assert "DataType MC" in text and "RecoPassName apass4" in text
    assert "AnchorProduction LHC23zzh" in text
    # files the server cannot read (the main dataset's catalogue) say so
    main = text_of(site.client("user").get(f"/dataset/{site.ids['dataset']}").text)
    assert "not readable from the server" in main
