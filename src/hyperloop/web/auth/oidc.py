"""Optional OpenID Connect login (authorization-code flow with PKCE), built on authlib.

The flow: ``/auth/oidc/login`` builds the provider redirect (state, nonce and PKCE verifier
kept in a signed short-lived cookie); ``/auth/oidc/callback`` checks the state, exchanges the
code for tokens, reads the user info and maps a claim to a Hyperloop username.  Building the
redirect and checking the configuration need no provider, so they are unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from hyperloop.settings import Settings

CALLBACK_PATH = "/auth/oidc/callback"


class OIDCError(Exception):
    """The OIDC login cannot proceed (configuration, provider answer or state mismatch)."""


@dataclass(frozen=True)
class OIDCConfig:
    """Validated OIDC client settings."""

    metadata_url: str
    client_id: str
    client_secret: str
    scopes: str
    redirect_uri: str
    username_claim: str

    @classmethod
    def from_settings(cls, settings: Settings) -> OIDCConfig:
        """Config from settings; raises OIDCError naming the missing setting."""
        if not settings.oidc_enabled:
            raise OIDCError("OIDC login is not enabled (set HYPERLOOP_OIDC_ENABLED=true)")
        secret = settings.oidc_client_secret
        if not (settings.oidc_metadata_url and settings.oidc_client_id and secret):
            raise OIDCError("OIDC needs oidc_metadata_url, oidc_client_id and oidc_client_secret")
        if "openid" not in settings.oidc_scopes.split():
            raise OIDCError(f"oidc_scopes must contain 'openid', got {settings.oidc_scopes!r}")
        return cls(
            metadata_url=settings.oidc_metadata_url,
            client_id=settings.oidc_client_id,
            client_secret=secret.get_secret_value(),
            scopes=settings.oidc_scopes,
            redirect_uri=settings.server_url + CALLBACK_PATH,
            username_claim=settings.oidc_username_claim,
        )


@dataclass(frozen=True)
class LoginStart:
    """Where to send the browser, and what to remember until the callback."""

    url: str
    state: str
    nonce: str
    code_verifier: str


def validate_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Check the discovery document has the endpoints the flow needs."""
    missing = [
        key
        for key in ("issuer", "authorization_endpoint", "token_endpoint")
        if not metadata.get(key)
    ]
    if missing:
        raise OIDCError("OIDC discovery document lacks: " + ", ".join(missing))
    return metadata


def build_login_redirect(config: OIDCConfig, metadata: dict[str, Any]) -> LoginStart:
    """Provider authorization URL with fresh state, nonce and PKCE (S256) challenge."""
    validate_metadata(metadata)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    url = prepare_grant_uri(
        metadata["authorization_endpoint"],
        config.client_id,
        "code",
        redirect_uri=config.redirect_uri,
        scope=config.scopes,
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
    )
    return LoginStart(url=url, state=state, nonce=nonce, code_verifier=verifier)


async def fetch_metadata(config: OIDCConfig) -> dict[str, Any]:
    """Download and validate the provider's discovery document."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(config.metadata_url)
    if response.status_code != 200:
        raise OIDCError(f"{config.metadata_url}: HTTP {response.status_code}")
    return validate_metadata(response.json())


async def exchange_code(
    config: OIDCConfig, metadata: dict[str, Any], code: str, code_verifier: str
) -> dict[str, Any]:
    """Exchange the authorization code and return the provider's user-info claims."""
    async with httpx.AsyncClient(timeout=10) as client:
        token = await client.post(
            metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": config.redirect_uri,
                "code_verifier": code_verifier,
            },
            auth=(config.client_id, config.client_secret),
        )
        if token.status_code != 200:
            raise OIDCError(f"token endpoint answered HTTP {token.status_code}")
        access = token.json().get("access_token")
        userinfo_url = metadata.get("userinfo_endpoint")
        if not access or not userinfo_url:
            raise OIDCError("provider gave no access token or has no userinfo endpoint")
        info = await client.get(userinfo_url, headers={"Authorization": f"Bearer {access}"})
    if info.status_code != 200:
        raise OIDCError(f"userinfo endpoint answered HTTP {info.status_code}")
    return info.json()


def username_from_claims(config: OIDCConfig, claims: dict[str, Any]) -> str:
    """The Hyperloop username carried by the configured claim."""
    value = claims.get(config.username_claim)
    if not isinstance(value, str) or not value.strip():
        raise OIDCError(f"OIDC claim {config.username_claim!r} is missing or empty")
    return value.strip()
