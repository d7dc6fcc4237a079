"""Wagon edit, upload preview, history, compare and wagon test pages, per role."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.web_pages.accounts import ANALYZER, PASSWORD
from tests.web_pages.seed_analyses import READER, Seeded, seeded_copy

from hyperloop.settings import load_settings
from hyperloop.web.app import create_app

pytestmark = pytest.mark.slow  # seeding runs a real wagon test (run-train) once per process


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, realdata: Path) -> tuple[object, Seeded]:
    template = tmp_path_factory.getbasetemp() / "analyses-pages-template"
    url, outputs, seeded = seeded_copy(template, tmp_path_factory.mktemp("wagons"), realdata)
    return create_app(
        load_settings(database_url=url, outputs_root=outputs, work_dir=outputs)
    ), seeded


@pytest.fixture(scope="module")
def ids(world) -> dict[str, int]:
    return world[1].ids


def _login(app, username: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


@pytest.fixture(scope="module")
def alice(world) -> Iterator[TestClient]:
    with _login(world[0], ANALYZER) as c:
        yield c


@pytest.fixture(scope="module")
def reader(world) -> Iterator[TestClient]:
    with _login(world[0], READER) as c:
        yield c


def kinds(html: str) -> set[str]:
    return set(re.findall(r'class="cfg" data-kind="([a-z-]+)"', html))


def version_of(client: TestClient, wagon_id: int) -> int:
    return client.get(f"/api/wagons/{wagon_id}").json()["version"]


@pytest.mark.parametrize(
    "path", ["/wagon/{corr}", "/wagon/{corr}/history", "/wagon/{corr}/compare", "/wagon-test/1"]
)
def test_anonymous_visitors_are_sent_to_the_login_page(world, ids, path) -> None:
    with TestClient(world[0]) as anonymous:
        r = anonymous.get(path.format(**ids), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/wagon/999999", "Wagon 999999 does not exist"),
        ("/wagon/999999/history", "Wagon 999999 does not exist"),
        ("/wagon/999999/compare", "Wagon 999999 does not exist"),
        ("/wagon-test/999999", "Wagon test 999999 does not exist"),
    ],
)
def test_unknown_ids_are_404_pages(alice, path, what) -> None:
    r = alice.get(path)
    assert r.status_code == 404 and what in r.text


def test_the_editor_has_every_configurable_kind(alice, ids) -> None:
    seen: set[str] = set()
    for wagon in ("corr", "strange", "mult", "charm"):
        r = alice.get(f"/wagon/{ids[wagon]}")
        assert r.status_code == 200
        seen |= kinds(r.text)
    assert seen >= {
        "bool",
        "int",
        "float",
        "string",
        "fixed-array",
        "variable-array",
        "matrix",
        "labelled-matrix",
        "binning",
    }
    html = alice.get(f"/wagon/{ids['strange']}").text
    # labelled matrix: row and column labels around the values
    assert '<th scope="col">minCosPA</th>' in html and '<th scope="row">K0S</th>' in html
    # a variable binning keeps its edges; a fixed one its bins, min, max
    assert 'aria-label="strangeness.binsPt edge 1"' in html
    assert 'aria-label="strangeness.binsMassK0S number of bins"' in html


def test_the_workflow_drop_downs_describe_each_workflow(alice, ids) -> None:
    described = (
        '<option value="o2-strangeness" title="the real O2 strangeness tutorial tasks"'
        "{}>o2-strangeness — the real O2 strangeness tutorial tasks</option>"
    )
    html = alice.get(f"/wagon/{ids['strange']}").text
    assert described.format(" selected") in html or described.format("") in html
    analysis = re.search(r'href="/analysis/(\d+)"', html)
    assert analysis, "the wagon page links its analysis"
    page = alice.get(f"/analysis/{analysis[1]}").text
    new_wagon = page[page.index('id="new-workflow"') :]
    assert described.format("") in new_wagon[: new_wagon.index("</select>")]


def test_wagon_times_are_shown_to_the_second(alice, ids) -> None:
    html = alice.get(f"/wagon/{ids['corr']}").text
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert re.search(rf"</strong> on {stamp}</li>", html), "created at"
    assert re.search(rf"<li>Last change {stamp}</li>", html), "last change"


def test_subwagon_overrides_are_visible(alice, ids) -> None:
    html = alice.get(f"/wagon/{ids['corr']}").text
    assert "Subwagon narrow" in html and "1 override" in html
    panel = html[html.index('data-scope="narrow"') :]
    panel = panel[: panel.index('class="scope-panel"')] if 'class="scope-panel"' in panel else panel
    # etaMax is overridden (checked, editable); nMixEvents follows the base (disabled)
    assert re.search(
        r'Override two-particle-correlations\.etaMax in subwagon narrow" checked', panel
    )
    assert not re.search(
        r'Override two-particle-correlations\.nMixEvents in subwagon narrow" checked', panel
    )
    assert "inherit from base" in panel  # binnings of a subwagon may inherit
    # the base shows what differs from the tag default
    assert "default: 5" in html


def test_member_sees_edit_controls_and_reader_a_read_only_view(alice, reader, ids) -> None:
    mine = alice.get(f"/wagon/{ids['corr']}").text
    for control in (
        'data-action="save-base"',
        'data-action="save-subwagon"',
        'data-action="add-subwagon"',
        'id="upload-form"',
        'id="sync-form"',
        'data-action="delete-wagon"',
    ):
        assert control in mine, control
    assert "read-only view" not in mine
    theirs = reader.get(f"/wagon/{ids['corr']}").text
    assert theirs.count("read-only view") == 1
    for control in ('data-action="save-base"', 'id="upload-form"', 'data-action="delete-wagon"'):
        assert control not in theirs, control
    assert "Download JSON" in theirs  # reading and downloading stay possible
    assert "you are not a member of any" in theirs  # nowhere to clone into


def test_settings_derived_data_and_sync_choices(alice, ids) -> None:
    html = alice.get(f"/wagon/{ids['spectra']}").text
    assert re.search(r'value="\d+" checked>\s*evsel', html)  # the service dependency
    assert "hyperloop-physics 0.2.1 (newer)" in html and "0.2.0 (current)" in html
    skim = alice.get(f"/wagon/{ids['skim']}").text
    assert 'name="derived_tables" value="SkimTracks">' in skim  # produced, not saved yet
    assert "Ready for slim derived data" in skim


def test_upload_preview_shows_the_diff_and_saves_nothing(alice, realdata, ids) -> None:
    wid = ids["o2strange"]
    before = alice.get(f"/api/wagons/{wid}").json()
    data = (realdata / "dpl-config_strangeness.json").read_bytes()
    r = alice.post(
        f"/wagon/{wid}/configuration-preview",
        files={"file": ("dpl-config_strangeness.json", data, "application/json")},
    )
    assert r.status_code == 200, r.text[-2000:]
    html = r.text
    assert "Preview of dpl-config_strangeness.json — nothing is saved yet" in html
    assert "base_config.strangeness_tutorial.cutzvertex" in html
    assert "base_config.lambdakzero-builder.axisTopoVarV0Radius" in html
    assert re.search(r"\d+ values? changed", html)
    assert 'data-action="confirm-upload">' in html  # enabled: the upload is valid
    assert "internal-dpl" in html  # framework devices are listed as ignored
    assert alice.get(f"/api/wagons/{wid}").json() == before  # nothing saved
    # confirming goes through the API with the previewed JSON
    upload = json.loads(data)
    r = alice.put(
        f"/api/wagons/{wid}/configuration",
        json={"configuration": upload, "expected_version": before["version"]},
    )
    assert r.status_code == 200, r.text
    assert (
        r.json()["base_config"]["strangeness_tutorial"]["cutzvertex"]
        != before["base_config"]["strangeness_tutorial"]["cutzvertex"]
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not valid JSON"),
        (b"", "the file is empty"),
        (b"[1, 2]", "must be a JSON object"),
    ],
)
def test_a_bad_upload_is_refused_clearly_and_changes_nothing(alice, ids, content, message) -> None:
    wid = ids["corr"]
    before = alice.get(f"/api/wagons/{wid}").json()
    r = alice.post(
        f"/wagon/{wid}/configuration-preview",
        files={"file": ("broken.json", content, "application/json")},
    )
    assert r.status_code == 422
    assert message in r.text and 'id="upload-error"' in r.text
    assert "Nothing was saved; the wagon is unchanged." in r.text
    assert alice.get(f"/api/wagons/{wid}").json() == before


def test_a_wrongly_typed_value_is_named_and_cannot_be_saved(alice, ids) -> None:
    wid = ids["corr"]
    upload = {"two-particle-correlations": {"nMixEvents": "many", "etaMax": "0.7"}}
    r = alice.post(
        f"/wagon/{wid}/configuration-preview",
        files={"file": ("typo.json", json.dumps(upload).encode(), "application/json")},
    )
    assert r.status_code == 200
    assert "The upload cannot be saved" in r.text and "nMixEvents" in r.text
    assert 'data-action="confirm-upload" disabled' in r.text


def test_reader_cannot_preview_an_upload(reader, ids) -> None:
    r = reader.post(
        f"/wagon/{ids['corr']}/configuration-preview",
        files={"file": ("x.json", b"{}", "application/json")},
    )
    assert r.status_code == 403 and "may not edit" in r.text


def test_a_stale_edit_is_a_conflict_naming_what_changed(alice, ids) -> None:
    wid = ids["udrho"]
    v = version_of(alice, wid)
    first = alice.patch(
        f"/api/wagons/{wid}",
        json={"expected_version": v, "base_config": {"ud-rho": {"maxTrackEta": "0.8"}}},
    )
    assert first.status_code == 200
    stale = alice.patch(
        f"/api/wagons/{wid}",
        json={"expected_version": v, "base_config": {"ud-rho": {"maxTrackEta": "0.7"}}},
    )
    assert stale.status_code == 409
    paths = [c["path"] for c in stale.json()["details"]["changes"]]
    assert "base_config.ud-rho.maxTrackEta" in paths
    assert 'id="conflict"' in alice.get(f"/wagon/{wid}").text  # the page has the conflict box


def test_history_shows_who_when_what_and_impersonation(alice, ids) -> None:
    html = alice.get(f"/wagon/{ids['corr']}/history").text
    assert "<title>History of wagon corr · Hyperloop</title>" in html
    assert "by root-admin acting as alice" in html
    assert "base_config.two-particle-correlations.nMixEvents" in html
    assert "compare with now" in html
    data = alice.get(f"/api/wagons/{ids['corr']}/history-view").json()
    assert data[0]["impersonator"] == "root-admin" and data[0]["user"] == "alice"


def test_compare_with_an_earlier_version_and_another_wagon(alice, ids) -> None:
    html = alice.get(f"/wagon/{ids['corr']}/compare", params={"version": 1}).text
    assert "wagon" in html and 'id="compare-configuration"' in html
    row = re.search(
        r"nMixEvents</th><td class=\"diff-old\">5</td><td class=\"diff-new\">9</td>", html
    )
    assert row, html[html.find("compare-table") : html.find("compare-table") + 1500]
    other = alice.get(f"/wagon/{ids['corr']}/compare", params={"other_id": ids["spectra"]}).text
    assert "workflow" in other and "spectra-charged" in other
    missing = alice.get(f"/wagon/{ids['corr']}/compare", params={"version": 99})
    assert missing.status_code == 404 and "has no recorded version 99" in missing.text


def test_wagon_test_page_shows_the_real_result(alice, ids) -> None:
    tid = ids["test_done"]
    r = alice.get(f"/wagon-test/{tid}")
    assert r.status_code == 200
    html = r.text
    assert "Wagon test" in html and "udrho on LHC22_ud_pass4" in html
    assert re.search(r'aria-label="(done|warning)"', html)
    for device in ("ud-rho", "ud-rhotight", "reader", "writer"):
        assert f'<th scope="row" class="mono">{device}</th>' in html
    assert "Expected resources for the whole dataset" in html and "CO₂ equivalent" in html
    # the small sample's whole-dataset CPU and wall times (minutes) read in minutes, not "0.1 h"
    for label in ("CPU time", "Wall time"):
        shown = re.search(rf"<dt>{label}</dt><dd>([^<]*)</dd>", html)
        assert shown and re.fullmatch(r"\d+(\.\d)? s|\d+ min", shown[1]), shown
    assert "What to do:" in html or "None: the test can be composed" in html
    assert "stdout.log" in html and "defaults used for" in html  # log content
    folder = f"tests/wagon-test-{tid}/sample/attempt-1"
    assert f"/outputs/browse?path={folder}/AnalysisResults.root" in html
    assert f"/profile-viewer?path={folder}/profile.speedscope.json" in html
    assert f"hyperloop reproduce http://testserver/wagon-test/{tid}" in html
    assert 'id="perf-data"' in html  # time-series graphs of performanceMetrics.json
    full = alice.get(f"/api/wagons/{ids['udrho']}/tests/{tid}/full-config")
    assert full.status_code == 200 and full.json()["workflows"][1]["suffix"] == "tight"
    api = alice.get(f"/api/wagons/{ids['udrho']}/tests/{tid}").json()
    assert api["profile"] == f"{folder}/profile.speedscope.json" and api["graphs"] is None


def test_failed_and_queued_tests_say_why(alice, ids) -> None:
    failed = alice.get(f"/wagon-test/{ids['test_failed']}").text
    assert "execution_error: ZeroDivisionError" in failed and 'aria-label="failed"' in failed
    assert "can be composed" not in failed and "cannot be composed into a train" in failed
    queued = alice.get(f"/wagon-test/{ids['test_queued']}").text
    assert "waiting for the scheduler" in queued
    assert f'hx-get="/partials/wagons/test-status/{ids["test_queued"]}"' in queued
    done = alice.get(f"/partials/wagons/test-status/{ids['test_done']}")
    assert done.headers.get("HX-Refresh") == "true"
    assert (
        alice.get(f"/partials/wagons/test-status/{ids['test_queued']}").headers.get("HX-Refresh")
        is None
    )


def test_test_statistics_list_the_latest_test_per_dataset(alice, ids) -> None:
    html = alice.get(f"/wagon/{ids['udrho']}").text
    assert f'href="/wagon-test/{ids["test_done"]}">#{ids["test_done"]}</a>' in html
    view = alice.get(f"/api/wagons/{ids['udrho']}/view").json()
    done = next(r for r in view["tests"]["past"] if r["id"] == ids["test_done"])
    assert done["cpu_s"] > 0 and done["pss_max_bytes"] > 0 and done["output_bytes"] > 0
    assert {r["dataset_id"] for r in view["tests"]["latest"]} == {ids["dataset"]}
    assert view["permissions"] == {"edit": True, "delete": True, "enable": True, "clone": True}


def test_admin_sees_edit_controls_everywhere_and_operator_does_not(world, ids) -> None:
    from tests.web_pages.accounts import ADMIN
    from tests.web_pages.seed_analyses import OPERATOR

    with _login(world[0], ADMIN) as admin:
        html = admin.get(f"/wagon/{ids['corr']}").text
        assert 'data-action="save-base"' in html and "read-only view" not in html
    with _login(world[0], OPERATOR) as operator:
        html = operator.get(f"/wagon/{ids['corr']}").text
        assert 'data-action="save-base"' not in html and "read-only view" in html
        grid = operator.get("/").text
        assert 'data-action="toggle-enable"' not in grid


def test_sync_to_the_newer_tag_keeps_touched_values(alice, ids) -> None:
    wid = ids["corr"]
    view = alice.get(f"/api/wagons/{wid}/view").json()
    newer = next(t for t in view["tags"] if t["newer"])
    r = alice.post(
        f"/api/wagons/{wid}/sync",
        json={"tag_id": newer["id"], "expected_version": view["wagon"]["version"]},
    )
    assert r.status_code == 200, r.text
    assert "two-particle-correlations.nMixEvents" in r.json()["report"]["kept"]
    html = alice.get(f"/wagon/{wid}").text
    assert "hyperloop-physics 0.2.1 (current)" in html
    assert "default: 7" in html  # the new tag's default, the wagon keeps 9


def test_clone_targets_are_the_users_analyses(alice, reader, ids) -> None:
    html = alice.get(f"/wagon/{ids['evsel']}").text
    assert 'id="clone-form"' in html
    assert re.search(r'<option value="\d+"[^>]*>LF-spectra</option>', html)
    r = alice.post(f"/api/wagons/{ids['evsel']}/clone", json={"analysis_id": ids["lf"]})
    assert r.status_code == 201, r.text
    assert f'href="/wagon/{r.json()["id"]}">evsel</a>' in alice.get(f"/analysis/{ids['lf']}").text


def test_the_wagon_test_page_tells_its_story(alice, ids) -> None:
    page = re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", " ", alice.get(f"/wagon-test/{ids['test_failed']}").text)
    )
    assert "Story: every state change and its cause" in page
    assert re.search(r"created → queued user:enable wagon enabled on dataset \S+ \(by \w+\)", page)
    assert (
        "running → failed system:test-finished wagon test failed: execution_error: ZeroDivisionError"
        in page
    )


def test_each_device_opens_its_own_process_in_speedscope(world, alice, ids) -> None:
    """Devices that ran in processes of their own (``run_report.json`` names each one's pid)
    get a speedscope button each; it opens the profile of that process only."""
    tid = ids["test_done"]
    rel = f"tests/wagon-test-{tid}/sample/attempt-1"
    folder = Path(world[0].state.settings.outputs_root) / rel
    report_path, profile_path = folder / "run_report.json", folder / "profile.speedscope.json"
    saved = report_path.read_bytes(), profile_path.read_bytes()
    report = json.loads(saved[0])
    pids = {"ud-rho": 4101, "ud-rhotight": 4102, "internal-dpl-aod-reader": 4100}
    for name, pid in pids.items():
        report["devices"][name]["pid"] = pid
    frame = {"type": "O", "frame": 0, "at": 0}
    profile = {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": [{"name": "process"}]},
        "profiles": [
            {
                "type": "evented",
                "name": f'Process {pid} Thread {pid} "MainThread"',
                "unit": "milliseconds",
                "startValue": 0,
                "endValue": 1,
                "events": [frame],
            }
            for pid in (4100, 4101, 4102)
        ],
    }
    try:
        report_path.write_text(json.dumps(report))
        profile_path.write_text(json.dumps(profile))
        html = alice.get(f"/wagon-test/{tid}").text
        table = html[html.find('id="device-metrics"') :]
        table = table[: table.find("</table>")]
        for device, pid in (("ud-rho", 4101), ("ud-rhotight", 4102), ("reader", 4100)):
            row = re.search(rf'<th scope="row" class="mono">{device}</th>.*?</tr>', table, re.S)
            assert row and f"pid={pid}&amp;device={device}" in row[0], device
        viewer = alice.get(
            "/profile-viewer",
            params={"path": f"{rel}/profile.speedscope.json", "pid": 4102, "device": "ud-rhotight"},
        )
        assert viewer.status_code == 200 and "profile-viewer%2Fprocess" in viewer.text
        one = alice.get(
            "/profile-viewer/process",
            params={"path": f"{rel}/profile.speedscope.json", "pid": 4102},
        )
        assert one.status_code == 200
        assert [p["name"] for p in one.json()["profiles"]] == [
            'Process 4102 Thread 4102 "MainThread"'
        ]
        none = alice.get(
            "/profile-viewer/process", params={"path": f"{rel}/profile.speedscope.json", "pid": 9}
        )
        assert none.status_code == 404 and "no profile of process 9" in none.text
        outside = alice.get("/profile-viewer/process", params={"path": "../secret.json", "pid": 1})
        assert outside.status_code in (400, 404)  # refused: not under the outputs root
    finally:
        report_path.write_bytes(saved[0])
        profile_path.write_bytes(saved[1])
