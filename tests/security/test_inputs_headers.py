"""Response headers and what anonymous callers see: every response carries a
Content-Security-Policy (pages: only the server's own scripts), X-Frame-Options,
Referrer-Policy and X-Content-Type-Options; a wrong method gets a complete ``Allow``; the API
description needs a login while the user documentation stays public; the OpenAPI document
bounds every integer it accepts."""

from __future__ import annotations

import re
from contextlib import closing

import pytest

pytestmark = pytest.mark.slow

SECURITY_HEADERS = {
    "x-frame-options": "SAMEORIGIN",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}


def _csp(response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {
        part.split()[0]: part.partition(" ")[2]
        for part in (p.strip() for p in policy.split(";"))
        if part
    }


@pytest.mark.parametrize(
    "path, accept",
    [
        ("/login", "text/html"),
        ("/api/health", "application/json"),
        ("/static/css/hyperloop.css", "*/*"),
        ("/no-such-page", "text/html"),
        ("/api/no-such-thing", "application/json"),
    ],
)
def test_every_response_carries_the_security_headers(server, path, accept):
    with server.client() as client:
        r = client.get(path, headers={"Accept": accept})
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, (path, name)
    csp = _csp(r)
    assert csp["script-src"].split() == ["'self'", "'wasm-unsafe-eval'"]
    assert csp["object-src"] == "'none'"
    assert csp["frame-ancestors"] == "'self'"
    assert csp["base-uri"] == "'self'" and csp["form-action"] == "'self'"


PAGES = [
    "/",
    "/login",
    "/all-analyses",
    "/dashboard",
    "/train-submission",
    "/train-runs",
    "/datasets",
    "/runlists",
    "/notifications",
    "/performance-graphs",
    "/outputs/browse",
    "/profile-viewer",
    "/profile",
]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=|javascript:", re.I)


def test_pages_hold_no_script_the_policy_would_block(server):
    ids = server.world.ids
    pages = [
        *PAGES,
        f"/analysis/{ids['analysis']}",
        f"/wagon/{ids['wagon']}",
        f"/dataset/{ids['dataset']}",
        f"/train-run/{ids['train']}",
        f"/runlist/{ids['runlist']}",
        f"/job/{ids['job']}",
    ]
    with closing(server.login("analyzer")) as client:
        for path in pages:
            r = client.get(path, headers={"Accept": "text/html"})
            assert r.status_code == 200, path
            assert not INLINE_SCRIPT.search(r.text), (path, INLINE_SCRIPT.search(r.text))
            assert not INLINE_HANDLER.search(r.text), (path, INLINE_HANDLER.search(r.text))


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("DELETE", "/api/wagons", {"GET", "HEAD", "POST"}),
        ("PUT", "/api/health", {"GET", "HEAD"}),
        ("POST", "/api/notifications/read-all", None),
        ("PATCH", "/login", {"GET", "HEAD"}),
    ],
)
def test_a_wrong_method_is_answered_with_every_allowed_one(server, method, path, allowed):
    with server.bearer("analyzer") as client:
        r = client.request(method, path)
    if allowed is None:  # a path whose method is right must not be 405
        assert r.status_code != 405
        return
    assert r.status_code == 405
    assert set(r.headers["allow"].replace(" ", "").split(",")) == allowed
    assert r.json()["error"] == "method_not_allowed"


def test_the_api_description_needs_a_login(server):
    with server.client() as anonymous:
        r = anonymous.get("/openapi.json")
        assert r.status_code == 401 and r.json()["error"] == "not_authenticated"
        for path in ("/docs", "/redoc"):
            r = anonymous.get(path, headers={"Accept": "text/html"})
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    with server.bearer("user") as client:
        r = client.get("/openapi.json")
        assert r.status_code == 200 and "/api/wagons" in r.json()["paths"]
    with closing(server.login("user")) as client:
        r = client.get("/docs")
        assert r.status_code == 200 and "/openapi.json" in r.text


def test_the_api_description_can_be_made_public(serve):
    with serve(api_description_public=True) as served, served.client() as anonymous:
        assert anonymous.get("/openapi.json").status_code == 200


def test_the_user_documentation_stays_public(server):
    """The manual (not built on this server: it says how to build it) needs no login."""
    with server.client() as anonymous:
        r = anonymous.get("/documentation/", headers={"Accept": "text/html"})
    assert r.status_code == 503 and "hyperloop docs build" in r.text
    # its own built scripts are inline (MkDocs), but nothing else is allowed
    assert "'unsafe-inline'" in _csp(r)["script-src"]
    assert _csp(r)["connect-src"] == "'self'"


def _integer_schemas(schema, where, components):
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in where:
            yield from _integer_schemas(components[name], f"{where}->{name}", components)
        return
    if schema.get("type") == "integer":
        yield where, schema
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _integer_schemas(sub, where, components)
    for name, sub in schema.get("properties", {}).items():
        yield from _integer_schemas(sub, f"{where}.{name}", components)
    if "items" in schema:
        yield from _integer_schemas(schema["items"], f"{where}[]", components)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _integer_schemas(schema["additionalProperties"], f"{where}{{}}", components)


def test_every_integer_the_api_accepts_is_bounded_in_its_description(server):
    with server.bearer("user") as client:
        doc = client.get("/openapi.json").json()
    components = doc["components"]["schemas"]
    unbounded, paging = [], 0
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            found = [
                (f"{method.upper()} {path} ?{p['name']}", s)
                for p in op.get("parameters", [])
                for _, s in _integer_schemas(p["schema"], p["name"], components)
            ]
            for content in op.get("requestBody", {}).get("content", {}).values():
                found += [
                    (f"{method.upper()} {path} body {w}", s)
                    for w, s in _integer_schemas(content.get("schema", {}), "", components)
                ]
            for where, schema in found:
                paging += where.endswith(("?limit", "?offset"))
                if "maximum" not in schema or not {"minimum", "exclusiveMinimum"} & set(schema):
                    unbounded.append(where)
                elif schema["maximum"] > 2**63 - 1:
                    unbounded.append(f"{where} (maximum beyond 64 bits)")
    assert paging > 40  # every list's limit and offset were looked at
    assert unbounded == []
