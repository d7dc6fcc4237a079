"""Session cookies, CSRF tokens, OIDC redirect building and proxy DN parsing (no server)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from hyperloop.settings import Settings, load_settings
from hyperloop.web.auth.oidc import (
    OIDCConfig,
    OIDCError,
    build_login_redirect,
    username_from_claims,
    validate_metadata,
)
from hyperloop.web.auth.proxy import forwarded_client, peer_is_trusted, username_from_dn
from hyperloop.web.auth.sessions import SessionCodec, csrf_valid, own_origins, same_origin

METADATA = {
    "issuer": "https://idp.example.org",
    "authorization_endpoint": "https://idp.example.org/auth",
    "token_endpoint": "https://idp.example.org/token",
    "userinfo_endpoint": "https://idp.example.org/userinfo",
}


def test_session_cookie_round_trip_and_tamper_detection() -> None:
    codec = SessionCodec("s" * 40, 3600)
    value = codec.dumps("session-key")
    assert codec.loads(value) == "session-key"
    assert codec.loads(value[:-2] + "xx") is None
    assert SessionCodec("t" * 40, 3600).loads(value) is None  # other secret
    assert codec.loads(None) is None


def test_csrf_token_belongs_to_one_session_and_one_secret() -> None:
    codec = SessionCodec("s" * 40, 3600)
    token = codec.csrf_token("key-1")
    assert csrf_valid(token, codec.csrf_token("key-1"))
    assert not csrf_valid(token, codec.csrf_token("key-2"))
    assert not csrf_valid(token, SessionCodec("t" * 40, 3600).csrf_token("key-1"))
    assert not csrf_valid(token, None)
    assert not csrf_valid(None, token)


def test_same_origin_from_the_browser_headers() -> None:
    own = own_origins("https://hyperloop.example.org", "http", "127.0.0.1:8000")
    assert same_origin("https://hyperloop.example.org", None, own)
    assert same_origin("https://HYPERLOOP.example.org:443", None, own)
    assert same_origin("http://127.0.0.1:8000", None, own)
    assert not same_origin("https://evil.example", None, own)
    assert not same_origin("null", None, own)
    assert not same_origin(None, None, own)
    assert same_origin(None, "same-origin", own)
    assert not same_origin("https://hyperloop.example.org", "cross-site", own)
    assert not same_origin(None, "same-site", own)


def _oidc_settings(**extra):
    return load_settings(
        oidc_enabled=True,
        oidc_metadata_url="https://idp.example.org/.well-known/openid-configuration",
        oidc_client_id="hyperloop",
        oidc_client_secret="very-secret",
        public_url="https://hyperloop.example.org/",
        **extra,
    )


def test_oidc_redirect_carries_client_state_nonce_and_pkce() -> None:
    config = OIDCConfig.from_settings(_oidc_settings())
    start = build_login_redirect(config, METADATA)
    url = urlparse(start.url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://idp.example.org/auth"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["client_id"] == "hyperloop"
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == "https://hyperloop.example.org/auth/oidc/callback"
    assert query["scope"] == "openid email profile"
    assert query["state"] == start.state and query["nonce"] == start.nonce
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] != start.code_verifier
    assert build_login_redirect(config, METADATA).state != start.state


def test_oidc_configuration_errors_are_explained() -> None:
    with pytest.raises(OIDCError, match="not enabled"):
        OIDCConfig.from_settings(load_settings())
    with pytest.raises(OIDCError, match="openid"):
        OIDCConfig.from_settings(_oidc_settings(oidc_scopes="email"))
    with pytest.raises(OIDCError, match="token_endpoint"):
        validate_metadata({"issuer": "x", "authorization_endpoint": "y"})


def test_oidc_username_claim() -> None:
    config = OIDCConfig.from_settings(_oidc_settings())
    assert username_from_claims(config, {"preferred_username": " jdoe "}) == "jdoe"
    with pytest.raises(OIDCError, match="preferred_username"):
        username_from_claims(config, {"email": "j@x"})


@pytest.mark.parametrize(
    ("dn", "expected"),
    [
        ("/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe/CN=123456/CN=John Doe", "jdoe"),
        ("CN=John Doe,CN=123456,CN=jdoe,OU=Users,DC=cern,DC=ch", "jdoe"),
        ("/DC=org/CN=alice", "alice"),
        ("CN=alice,OU=Users,DC=cern,DC=ch", "alice"),
        ("/DC=org/OU=Users", None),
        ("", None),
    ],
)
def test_username_from_certificate_dn(dn: str, expected: str | None) -> None:
    assert username_from_dn(dn) == expected


def test_the_username_attribute_help_says_which_value_is_taken() -> None:
    """The setting's help shows DNs with a repeated CN and the username they give: the code
    must give exactly that (the first CN in slash form, the last in RFC 4514 form)."""
    help_text = Settings.model_fields["proxy_auth_username_attribute"].description or ""
    dns = [d for d in re.findall(r"`([^`]*=[^`]*)`", help_text) if d.count("CN=") > 1]
    assert len(dns) == 2 and "`jdoe` in both" in help_text
    assert [username_from_dn(dn) for dn in dns] == ["jdoe", "jdoe"]


def test_trusted_proxy_addresses() -> None:
    trusted = ["127.0.0.1", "10.0.0.0/8"]
    assert peer_is_trusted("127.0.0.1", trusted)
    assert peer_is_trusted("10.2.3.4", trusted)
    assert not peer_is_trusted("192.168.1.1", trusted)
    assert not peer_is_trusted("testclient", trusted)
    assert not peer_is_trusted(None, trusted)


def test_forwarded_client_is_the_nearest_untrusted_hop() -> None:
    trusted = ["127.0.0.1", "10.0.0.0/8"]
    assert forwarded_client("203.0.113.9", trusted) == "203.0.113.9"
    assert forwarded_client("198.51.100.1, 203.0.113.9, 10.0.0.2", trusted) == "203.0.113.9"
    assert forwarded_client("10.0.0.3, 10.0.0.2", trusted) == "10.0.0.3"
    assert forwarded_client("not-an-address", trusted) is None
