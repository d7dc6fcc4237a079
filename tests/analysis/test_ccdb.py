"""The conditions-database client and the local conditions service: objects by path,
timestamp and run over HTTP, a per-job cache, calls counted, clear errors."""

from __future__ import annotations

import json
import urllib.request

import pytest

from hyperloop.analysis import ccdb
from hyperloop.analysis.ccdb import export_objects
from hyperloop.analysis.ccdb_service import serve_in_thread
from hyperloop.analysis.conditions import MAG_FIELD_PATH


@pytest.fixture
def service(tmp_path):
    folder = tmp_path / "ccdb"
    export_objects(folder)
    calib = folder / "TEST" / "Calib"
    calib.mkdir(parents=True)
    (calib / "1000_2000.json").write_text(json.dumps({"gain": 1.5}))
    (calib / "2000_3000.json").write_text(json.dumps({"gain": 2.5}))
    server, url = serve_in_thread(folder)
    yield folder, url
    server.shutdown()
    server.server_close()


def test_objects_by_path_timestamp_and_run_over_http(service):
    _folder, url = service
    client = ccdb.ConditionsClient(ccdb.HttpSource(url))
    # run 523309 has its own field object; other runs the default
    assert client.get(MAG_FIELD_PATH, 5, run=523309) == {"bz_kg": -5.0}
    assert client.get(MAG_FIELD_PATH, 5, run=523308) == {"bz_kg": 5.0}
    assert client.get("TEST/Calib", 1500) == {"gain": 1.5}
    assert client.get("TEST/Calib", 2000) == {"gain": 2.5}  # valid_until is exclusive
    assert sum(client.calls.values()) == 4


def test_the_cache_answers_inside_the_validity_and_only_there(service):
    _folder, url = service
    client = ccdb.ConditionsClient(ccdb.HttpSource(url))
    with ccdb.device("wagon-a"):
        for ts in range(1000, 2000, 10):  # 100 requests inside one validity interval
            client.get("TEST/Calib", ts)
        client.get("TEST/Calib", 2500)  # another interval: a second call
    with ccdb.device("wagon-b"):
        for _ in range(5):
            client.get("TEST/Calib", 1200, cache=False)  # no cache: every request calls
    assert client.calls == {"wagon-a": 2, "wagon-b": 5}


def test_missing_objects_and_bad_requests_are_named(service):
    _folder, url = service
    client = ccdb.ConditionsClient(ccdb.HttpSource(url))
    with pytest.raises(ccdb.ConditionsError, match=r"no conditions object TEST/Calib valid at"):
        client.get("TEST/Calib", 5000)
    with pytest.raises(ccdb.ConditionsError, match="invalid conditions path"):
        client.get("../etc", 1)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{url}/TEST/Calib/notanumber")
    assert err.value.code == 400
    err.value.close()
    down = ccdb.ConditionsClient(ccdb.HttpSource("http://127.0.0.1:9", timeout=2))
    with pytest.raises(ccdb.ConditionsError, match="unreachable"):
        down.get("TEST/Calib", 1500)


def test_the_source_comes_from_the_environment(service, monkeypatch, tmp_path):
    folder, url = service
    monkeypatch.setenv(ccdb.CONDITIONS_URL_ENV, url)
    ccdb.reset()
    assert isinstance(ccdb.client().source, ccdb.HttpSource)
    monkeypatch.setenv(ccdb.CONDITIONS_URL_ENV, str(folder))
    ccdb.reset()
    assert ccdb.get("TEST/Calib", 2100) == {"gain": 2.5}  # a folder works without a service
    monkeypatch.setenv(ccdb.CONDITIONS_URL_ENV, str(tmp_path / "nowhere"))
    ccdb.reset()
    with pytest.raises(ccdb.ConditionsError, match="neither a URL nor a folder"):
        ccdb.get("TEST/Calib", 2100)
    monkeypatch.delenv(ccdb.CONDITIONS_URL_ENV)
    ccdb.reset()
    assert ccdb.get(MAG_FIELD_PATH, 1, run=523309) == {"bz_kg": -5.0}  # built-in objects
    ccdb.reset()
