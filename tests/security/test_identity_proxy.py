"""Reverse-proxy identity: only the socket's peer decides whether forwarded headers and the
certificate header are believed; a local client cannot pose as the proxy, and a proxy on the
same host keeps its address.  The server is started by `hyperloop serve` itself."""

from __future__ import annotations

from contextlib import closing

from tests.security.conftest import ServeFactory

DN = "X-SSL-Client-S-DN"


def test_a_local_client_cannot_pose_as_a_remote_trusted_proxy(serve_command: ServeFactory) -> None:
    with serve_command(proxy_auth_enabled=True, trusted_proxies=["10.11.12.13"]) as served:
        headers = {"X-Forwarded-For": "10.11.12.13", DN: "/DC=ch/DC=cern/OU=Users/CN=ada"}
        with served.client(headers=headers) as attacker:
            response = attacker.get("/api/auth/session")
            assert response.status_code == 401, response.text
            assert "untrusted" in response.json()["message"]
            refused = attacker.post("/api/notifications/dismiss-all")
            assert refused.status_code == 401


def test_a_proxy_on_the_same_host_is_trusted_for_its_clients(serve_command: ServeFactory) -> None:
    with serve_command(proxy_auth_enabled=True, trusted_proxies=["127.0.0.1"]) as served:
        headers = {"X-Forwarded-For": "203.0.113.7", DN: "/DC=ch/DC=cern/OU=Users/CN=alice"}
        with served.client(headers=headers) as proxied:
            response = proxied.get("/api/auth/session")
            assert response.status_code == 200, response.text
            assert response.json()["user"]["username"] == "alice"


def test_a_certificate_without_an_account_is_refused_and_no_account_is_made(
    serve_command: ServeFactory,
) -> None:
    """Certificate users are created beforehand by an admin (the operator guide's decision):
    a certificate whose CN names no account is refused at every request, naming the user."""
    with serve_command(proxy_auth_enabled=True, trusted_proxies=["127.0.0.1"]) as served:
        headers = {DN: "/DC=ch/DC=cern/OU=Users/CN=newcomer/CN=654321/CN=New Comer"}
        with served.client(headers=headers) as proxied:
            for _ in range(2):  # the first request made no account for the second
                response = proxied.get("/api/users/me")
                assert response.status_code == 401, response.text
                assert response.json()["message"] == (
                    "certificate user 'newcomer': unknown or deactivated account"
                )


def test_the_certificate_header_is_ignored_from_an_untrusted_peer(
    serve_command: ServeFactory,
) -> None:
    with serve_command(proxy_auth_enabled=True, trusted_proxies=["10.11.12.0/24"]) as served:
        # a logged-in user adding a certificate header stays who they are
        with closing(served.login("analyzer")) as alice:
            response = alice.get("/api/auth/session", headers={DN: "/CN=ada"})
        assert response.status_code == 200
        assert response.json()["user"]["username"] == "alice"
