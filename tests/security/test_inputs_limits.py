"""Unbounded input: request bodies, histogram binnings, integers and configurable values
beyond their declared range are refused with a 4xx naming the limit, before anything is
saved; no input gives a 500."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
from tests.factories import tag_artifact

pytestmark = pytest.mark.slow


def _raw_request(base: str, head: str, body: bytes) -> str:
    """Send ``head`` and ``body`` over a plain socket; return the status line and headers the
    server answers (it must answer without waiting for the rest of a longer body)."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer.decode("latin-1")


def _wagon(client, served) -> dict:
    return client.get(f"/api/wagons/{served.world.ids['wagon']}").json()


def test_a_body_declared_larger_than_the_limit_is_refused_before_it_is_sent(server):
    token = server.world.tokens["analyzer"]
    head = (
        "POST /api/wagons HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {50 * 2**20}\r\n"
    )
    # only 1 kB of the announced 50 MB is ever sent: the answer cannot wait for the rest
    answer = _raw_request(server.base, head, b"{" + b" " * 1023)
    assert answer.startswith("HTTP/1.1 413"), answer


def test_a_streamed_body_is_cut_at_the_limit(serve):
    with serve(max_request_body_bytes=64 * 1024) as served:
        token = served.world.tokens["analyzer"]
        head = (
            "POST /api/wagons HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n"
        )
        chunk = b" " * (100 * 1024)
        answer = _raw_request(served.base, head, b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        assert answer.startswith("HTTP/1.1 413"), answer

        # a real JSON body above the (lowered) limit: 413 naming the setting, nothing saved
        with served.bearer("analyzer") as client:
            before = client.get("/api/wagons", params={"limit": 500}).json()["total"]
            config = {"spectra-task": {"label": "x" * 100_000}}
            r = client.post(
                "/api/wagons",
                json={
                    "analysis_id": served.world.ids["analysis"],
                    "name": "huge",
                    "workflow": "spectra",
                    "base_config": config,
                },
            )
            assert r.status_code == 413
            assert r.json()["error"] == "too_large"
            assert "max_request_body_bytes" in r.json()["message"]
            assert client.get("/api/wagons", params={"limit": 500}).json()["total"] == before


def test_a_file_upload_above_its_limit_is_refused(serve):
    with serve(max_upload_bytes=64 * 1024) as served, served.bearer("analyzer") as client:
        r = client.post(
            "/api/performance-graphs",
            files={"file": ("performanceMetrics.json", b" " * (200 * 1024), "application/json")},
        )
        assert r.status_code == 413
        assert "max_upload_bytes" in r.json()["message"]


@pytest.fixture(scope="module")
def rooted(serve):
    """A server whose storage roots hold the file lists' paths (``/alice``, ``/d``)."""
    with serve(storage_roots=["/alice", "/d"]) as served:
        yield served


def test_a_file_list_of_600k_lines_is_refused_and_nothing_imported(rooted):
    server = rooted
    ids = server.world.ids
    files_url = f"/api/datasets/{ids['dataset']}/files"
    import_url = f"/api/datasets/{ids['dataset']}/productions/{ids['production']}/files"
    with server.bearer("operator") as client:
        before = client.get(files_url).json()["total"]
        lines = [f"/alice/526641/{i:06d}/AO2D.root 1000" for i in range(600_000)]
        r = client.post(import_url, json={"lines": lines})  # 22 MB of JSON
        assert r.status_code == 413, r.text[:300]
        r = client.post(import_url, json={"lines": lines[:100_001]})  # small, but too many
        assert r.status_code == 422, r.text[:300]
        assert "100000" in r.json()["message"]
        assert client.get(files_url).json()["total"] == before
        r = client.post(import_url, json={"lines": lines[:3]})  # the same lines, fewer: fine
        assert r.status_code == 200 and r.json()["imported"] == 3


def test_a_file_size_beyond_64_bits_names_the_line(rooted):
    server = rooted
    with server.bearer("operator") as client:
        ids = server.world.ids
        r = client.post(
            f"/api/datasets/{ids['dataset']}/productions/{ids['production']}/files",
            json={"lines": ["/d/1/AO2D.root 10", f"/d/2/AO2D.root {2**64}"]},
        )
        assert r.status_code == 422
        assert "file list line 2" in r.json()["message"]


def test_a_binning_of_10_to_the_11_bins_is_refused_when_saved(server):
    with server.bearer("analyzer") as client:
        wagon = _wagon(client, server)
        r = client.patch(
            f"/api/wagons/{wagon['id']}",
            json={
                "expected_version": wagon["version"],
                "base_config": {
                    "spectra-task": {"ptBins": {"values": ["100000000000", "0", "10"]}}
                },
            },
        )
        assert r.status_code == 422, r.text[:300]
        message = r.json()["message"]
        assert "'ptBins'" in message and "max_histogram_bins" in message
        assert "100000000000 bins" in message
        after = client.get(f"/api/wagons/{wagon['id']}").json()
        assert (
            after["base_config"]["spectra-task"]["ptBins"]
            == (wagon["base_config"]["spectra-task"]["ptBins"])
        )
        with server.client() as anonymous:  # the server lives on
            assert anonymous.get("/api/health").status_code == 200


def test_the_bin_limit_is_a_setting(serve):
    with serve(max_histogram_bins=1000) as served, served.bearer("analyzer") as client:
        wagon = _wagon(client, served)
        r = client.patch(
            f"/api/wagons/{wagon['id']}",
            json={
                "expected_version": wagon["version"],
                "base_config": {"spectra-task": {"ptBins": {"values": ["2000", "0", "10"]}}},
            },
        )
        assert r.status_code == 422
        assert "at most 1000 bins (setting max_histogram_bins)" in r.json()["message"]
        # a variable binning too, counted by its edges
        edges = ["0", *[str(i) for i in range(1, 1003)]]
        r = client.patch(
            f"/api/wagons/{wagon['id']}",
            json={
                "expected_version": wagon["version"],
                "base_config": {"spectra-task": {"ptBins": {"values": edges}}},
            },
        )
        assert r.status_code == 422 and "1001 bins" in r.json()["message"]


RANGED_TAG = {
    "package": {"name": "physics", "version": "ranged-1"},
    "workflows": [
        {
            "name": "ranged",
            "doc": "configurables with declared ranges and choices",
            "tasks": [
                {
                    "name": "ranged-task",
                    "configurables": [
                        {"name": "nMix", "kind": "int", "default": "5", "min": 1, "max": 100},
                        {
                            "name": "system",
                            "kind": "string",
                            "default": "pp",
                            "choices": ["pp", "PbPb"],
                        },
                        {
                            "name": "ptCuts",
                            "kind": "variable-array",
                            "dtype": "float",
                            "default": {"values": ["0.1", "0.5"]},
                            "min": 0,
                        },
                    ],
                    "consumes": {"Tracks": ["fPt"]},
                    "produces": [],
                }
            ],
        }
    ],
}


def test_values_outside_the_declared_range_or_choices_are_refused_when_saved(serve):
    with (
        serve() as served,
        served.bearer("admin") as admin,
        served.bearer("analyzer") as client,
    ):
        tag = admin.post(
            "/api/tags",
            json={"introspection": RANGED_TAG, "artifact": tag_artifact("ranged-1")},
        )
        assert tag.status_code == 201, tag.text

        def create(params: dict) -> object:
            return client.post(
                "/api/wagons",
                json={
                    "analysis_id": served.world.ids["analysis"],
                    "name": "ranged",
                    "workflow": "ranged",
                    "tag_id": tag.json()["id"],
                    "base_config": {"ranged-task": params},
                },
            )

        for params, named, expected in [
            ({"nMix": "1000"}, "nMix", "a value <= 100"),
            ({"nMix": "0"}, "nMix", "a value >= 1"),
            ({"nMix": str(2**63)}, "nMix", "a 64-bit int"),
            ({"system": "XeXe"}, "system", "one of 'pp', 'PbPb'"),
            ({"ptCuts": {"values": ["0.1", "-3"]}}, "ptCuts", "a value >= 0 at index 1"),
        ]:
            r = create(params)
            assert r.status_code == 422, (params, r.text[:300])
            message = r.json()["message"]
            assert f"'{named}'" in message and expected in message, message
        assert client.get("/api/wagons", params={"name": "ranged"}).json()["total"] == 0
        ok = create({"nMix": "100", "system": "PbPb", "ptCuts": {"values": ["0", "2"]}})
        assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/api/targets?min_cores=9223372036854775808", None),
        ("GET", "/api/wagons?limit=100000000000000000000", None),
        ("GET", "/api/wagons?offset=9223372036854775808", None),
        ("GET", "/api/jobs?limit=0", None),
        ("GET", "/dataset/99999999999999999999", None),
        ("GET", "/train-run/99999999999999999999", None),
        ("GET", "/job/99999999999999999999", None),
        ("GET", "/runlist/99999999999999999999", None),
        ("GET", "/api/wagons/99999999999999999999", None),
        ("POST", "/api/wagons", {"analysis_id": 2**63, "name": "w", "workflow": "spectra"}),
        ("POST", "/api/wagons", {"analysis_id": 1e308, "name": "w", "workflow": "spectra"}),
    ],
)
def test_integers_out_of_range_are_a_client_error(server, method, path, body):
    with server.bearer("admin") as client:
        r = client.request(method, path, json=body, headers={"Accept": "application/json"})
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:300])
        html = client.request(method, path, json=body, headers={"Accept": "text/html"})
        assert 400 <= html.status_code < 500, (path, html.status_code)


def test_an_integer_beyond_64_bits_in_a_wagon_patch_is_refused(server):
    with server.bearer("analyzer") as client:
        wagon = _wagon(client, server)
        for field in ("max_df_size", "max_derived_file_size"):
            r = client.patch(
                f"/api/wagons/{wagon['id']}",
                json={"expected_version": wagon["version"], field: 2**63},
            )
            assert r.status_code == 422, r.text[:300]
            assert field in r.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"analysis_id": ' + b"9" * 5000 + b"}",
        b'{"analysis_id": NaN, "name": "w", "workflow": "spectra"}',
        b'{"analysis_id": 1, "name": "w", "workflow": "spectra", "base_config": '
        + json.dumps({"spectra-task": {"nBins": "1" + "0" * 40}}).encode()
        + b"}",
        b"\xff\xfe not utf-8",
    ],
)
def test_malformed_json_bodies_are_a_client_error(server, body):
    with server.bearer("analyzer") as client:
        r = client.post("/api/wagons", content=body, headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, r.text[:300]
        assert {"error", "message"} <= set(r.json())
