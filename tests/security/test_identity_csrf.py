"""Cross-site request forgery: a state-changing request sent with a credential the browser
adds by itself (session cookie, client certificate through the proxy) needs the CSRF token of
that very session or a same-origin browser header; API tokens are exempt."""

from __future__ import annotations

from contextlib import closing

import httpx
from tests.factories import USERNAMES
from tests.security.conftest import Served, ServeFactory

DN = "X-SSL-Client-S-DN"
PROXY = {"proxy_auth_enabled": True, "trusted_proxies": ["127.0.0.1"]}


def _certificate(role: str) -> dict[str, str]:
    return {DN: f"/DC=ch/DC=cern/OU=Users/CN={USERNAMES[role]}"}


def _state(served: Served, train_id: int) -> str:
    with closing(served.bearer("admin")) as admin:
        return admin.get(f"/api/train-runs/{train_id}").json()["state"]


def test_a_cross_site_page_cannot_kill_a_train_with_the_operators_certificate(
    serve: ServeFactory,
) -> None:
    with serve(**PROXY) as served:
        train = served.world.ids["kill_train"]
        before = _state(served, train)
        with served.client(headers=_certificate("operator")) as browser:
            for forged in (
                {"Origin": "https://evil.example"},
                {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
                {},  # a form post from an old browser: neither header
            ):
                response = browser.post(f"/api/train-runs/{train}/kill", headers=forged)
                assert response.status_code == 403, response.text
                assert response.json()["error"] == "csrf_failed"
            assert _state(served, train) == before
            # from the server's own pages the same request goes through
            own = browser.post(f"/api/train-runs/{train}/kill", headers={"Origin": served.base})
            assert own.status_code == 200, own.text
            assert _state(served, train) != before


def test_certificate_users_get_a_csrf_token_from_the_pages(serve: ServeFactory) -> None:
    with serve(**PROXY) as served, served.client(headers=_certificate("user")) as browser:
        page = browser.get("/")
        assert page.status_code == 200
        token = browser.cookies.get("hyperloop_csrf")
        assert token
        ok = browser.post("/api/notifications/dismiss-all", headers={"X-CSRF-Token": token})
        assert ok.status_code == 200, ok.text
        same_origin = browser.post(
            "/api/notifications/dismiss-all", headers={"Sec-Fetch-Site": "same-origin"}
        )
        assert same_origin.status_code == 200
        # the token of one certificate user is not another's
        with served.client(headers=_certificate("analyzer")) as other:
            refused = other.post("/api/notifications/dismiss-all", headers={"X-CSRF-Token": token})
            assert refused.status_code == 403


def test_a_planted_csrf_cookie_does_not_pass_for_the_session(server: Served) -> None:
    with closing(server.login("user")) as victim:
        session = victim.cookies["hyperloop_session"]
        # an attacker who can set a cookie for the site (a sibling subdomain, plain http)
        # repeats its own value: double-submit alone would accept it
        planted = httpx.Cookies({"hyperloop_session": session, "hyperloop_csrf": "planted"})
        with server.client(cookies=planted) as forged:
            response = forged.post(
                "/api/notifications/dismiss-all", headers={"X-CSRF-Token": "planted"}
            )
            assert response.status_code == 403
            assert response.json()["error"] == "csrf_failed"
        token = victim.cookies["hyperloop_csrf"]
        ok = victim.post("/api/notifications/dismiss-all", headers={"X-CSRF-Token": token})
        assert ok.status_code == 200


def test_the_csrf_token_of_another_session_is_refused(server: Served) -> None:
    with closing(server.login("user")) as victim, closing(server.login("user")) as attacker:
        theirs = attacker.cookies["hyperloop_csrf"]
        assert theirs != victim.cookies["hyperloop_csrf"]
        victim.cookies.set("hyperloop_csrf", theirs)
        response = victim.post("/api/notifications/dismiss-all", headers={"X-CSRF-Token": theirs})
        assert response.status_code == 403


def test_a_cross_site_session_request_is_refused_and_a_same_origin_one_accepted(
    server: Served,
) -> None:
    with closing(server.login("user")) as browser:
        cross = browser.post(
            "/api/notifications/dismiss-all", headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403
        same = browser.post("/api/notifications/dismiss-all", headers={"Origin": server.base})
        assert same.status_code == 200


def test_api_tokens_need_no_csrf_token(server: Served) -> None:
    with closing(server.bearer("user")) as script:
        response = script.post(
            "/api/notifications/dismiss-all", headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 200
