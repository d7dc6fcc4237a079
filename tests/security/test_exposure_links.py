"""Links the server makes: the profile viewer opens only paths of this server, reproduce
commands name the server as the user reaches it (or its configured public URL), and name
filters match names literally (``%`` and ``_`` are not wildcards)."""

from __future__ import annotations

from contextlib import closing
from urllib.parse import unquote

import pytest
from tests.security.conftest import Served, ServeFactory

EVIL = [
    "/%09/evil.example/p.json",
    "/%0a/evil.example/p.json",
    "/%0d/evil.example/p.json",
    "/%20/evil.example/p.json",
    "//evil.example/p.json",
    "/\\evil.example/p.json",
    "/%5Cevil.example/p.json",
    "https://evil.example/p.json",
    "javascript:alert(1)",
    " /evil.example",
]


@pytest.mark.parametrize("url", EVIL)
def test_the_profile_viewer_opens_no_other_site(server: Served, url: str):
    with closing(server.login("user")) as c:
        # the query string as an attacker's link carries it (already percent-encoded)
        r = c.get(f"/profile-viewer?url={url}")
    assert r.status_code == 400, url
    assert "profileURL" not in r.text
    assert "evil.example" not in unquote(unquote(r.text.split("speedscope-frame", 1)[1]))


def test_the_profile_viewer_opens_a_path_of_this_server(server: Served):
    with closing(server.login("user")) as c:
        r = c.get("/profile-viewer", params={"url": "/api/wagon-tests/1/profile?x=1"})
    assert r.status_code == 200 and "profileURL=%2Fapi%2Fwagon-tests%2F1%2Fprofile" in r.text


def _reproduce_command(served: Served) -> str:
    with closing(served.bearer("user")) as c:
        r = c.get(f"/api/jobs/{served.world.ids['job']}/reproduce")
    assert r.status_code == 200, r.text
    return r.json()["command"]


def test_reproduce_commands_name_the_server_the_user_reached(server: Served):
    job = server.world.ids["job"]
    assert _reproduce_command(server) == f"hyperloop reproduce {server.base}/job/{job}"
    train = server.world.ids["train"]
    with closing(server.login("user")) as c:
        page = c.get(f"/train-test/{train}").text
    assert f"hyperloop reproduce {server.base}/train-test/{train}" in page


def test_reproduce_commands_name_the_configured_public_url(serve: ServeFactory):
    with serve(public_url="https://hyperloop.example.org/") as served:
        job = served.world.ids["job"]
        command = _reproduce_command(served)
        assert command == f"hyperloop reproduce https://hyperloop.example.org/job/{job}"
        with closing(served.login("user")) as c:
            page = c.get(f"/train-test/{served.world.ids['train']}").text
        assert "hyperloop reproduce https://hyperloop.example.org/train-test/" in page


FILTERS = [
    ("/api/datasets", "name", "user"),
    ("/api/wagons", "name", "user"),
    ("/api/analyses", "name", "user"),
    ("/api/runlists", "name", "user"),
    ("/api/users", "q", "admin"),
]


@pytest.mark.parametrize(("endpoint", "param", "role"), FILTERS)
def test_name_filters_treat_wildcards_literally(server: Served, endpoint, param, role):
    key = "username" if endpoint == "/api/users" else "name"
    with closing(server.bearer(role)) as c:
        everything = [i[key] for i in c.get(endpoint, params={"limit": 500}).json()["items"]]
        assert everything, endpoint
        # "_" + the rest of a name: as a LIKE wildcard it matches that name
        pattern = "_" + everything[0][1:]
        percent = c.get(endpoint, params={param: "%", "limit": 500})
        underscore = c.get(endpoint, params={param: pattern, "limit": 500})
    assert percent.status_code == 200 and percent.json()["items"] == []
    expected = sorted(n for n in everything if pattern in n)
    assert sorted(i[key] for i in underscore.json()["items"]) == expected
    assert everything[0] not in expected
