"""The whole OIDC login against a small real provider on loopback (authorization code flow
with PKCE): redirect, callback, code exchange, user info, account creation, session."""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Form, Header, HTTPException
from fastapi.responses import RedirectResponse
from fastapi.testclient import TestClient
from tests.factories import ApiWorld

from hyperloop.settings import load_settings
from hyperloop.web.app import create_app


def _provider(base: str) -> FastAPI:
    """A minimal OpenID provider: one user, codes bound to their PKCE challenge."""
    app = FastAPI()
    codes: dict[str, str] = {}
    tokens: set[str] = set()

    @app.get("/.well-known/openid-configuration")
    def metadata() -> dict:
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/auth",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
        }

    @app.get("/auth")
    def authorize(redirect_uri: str, state: str, code_challenge: str) -> RedirectResponse:
        code = secrets.token_urlsafe(8)
        codes[code] = code_challenge
        return RedirectResponse(f"{redirect_uri}?code={code}&state={state}", status_code=302)

    @app.post("/token")
    def token(code: str = Form(), code_verifier: str = Form()) -> dict:
        digest = hashlib.sha256(code_verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if codes.pop(code, None) != challenge:
            raise HTTPException(400, "bad code or verifier")
        access = secrets.token_urlsafe(8)
        tokens.add(access)
        return {"access_token": access, "token_type": "Bearer"}

    @app.get("/userinfo")
    def userinfo(authorization: str = Header()) -> dict:
        if authorization.removeprefix("Bearer ") not in tokens:
            raise HTTPException(401)
        return {"preferred_username": "olga", "email": "olga@example.org", "name": "Olga O."}

    return app


@pytest.fixture
def provider() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(_provider(base), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "provider did not start"
    yield base
    server.should_exit = True
    thread.join(timeout=10)


def test_oidc_login_creates_the_account_and_a_session(provider: str, world: ApiWorld) -> None:
    app = create_app(
        load_settings(
            database_url=world.url,
            oidc_enabled=True,
            oidc_metadata_url=f"{provider}/.well-known/openid-configuration",
            oidc_client_id="hyperloop",
            oidc_client_secret="secret",
            public_url="http://testserver",
        )
    )
    try:
        with TestClient(app, follow_redirects=False) as browser:
            start = browser.get("/auth/oidc/login")
            assert start.status_code == 302
            to_provider = start.headers["location"]
            assert to_provider.startswith(f"{provider}/auth?")
            # the browser visits the provider, which sends it back with a code
            back = httpx.get(to_provider, follow_redirects=False)
            callback = urlparse(back.headers["location"])
            assert callback.path == "/auth/oidc/callback"
            params = {k: v[0] for k, v in parse_qs(callback.query).items()}
            done = browser.get("/auth/oidc/callback", params=params)
            assert done.status_code == 302, done.text
            me = browser.get("/api/users/me")
            assert me.status_code == 200
            assert me.json()["username"] == "olga"
            assert me.json()["email"] == "olga@example.org"
            replay = browser.get("/auth/oidc/callback", params=params)
            assert replay.status_code == 400  # state cookie used up, code spent
    finally:
        app.state.engine.dispose()
