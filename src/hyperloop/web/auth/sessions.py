"""Session cookies and CSRF tokens.

The session cookie holds the random key of a server-side session (``core.sessions``), signed
with the server secret, HttpOnly and SameSite=Lax.  The CSRF token is derived from the
session key (HMAC with the server secret), so it belongs to that session alone: a token
from another session, or one an attacker planted as a cookie, is refused.  The page reads it
from a readable cookie and repeats it (header ``X-CSRF-Token`` or form field ``csrf_token``);
a cross-site page can make the browser send cookies but cannot read them to repeat them.
Certificate users (no session) get a token derived from their account the same way.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


class SessionCodec:
    """Sign and verify session cookie values (the session key) with the server secret."""

    def __init__(self, secret: str, max_age_seconds: int) -> None:
        self._secret = secret.encode()
        self._serializer = URLSafeTimedSerializer(secret, salt="hyperloop-session-key")
        self.max_age_seconds = max_age_seconds

    def dumps(self, key: str) -> str:
        """Cookie value for the session ``key``."""
        return self._serializer.dumps(key)

    def loads(self, value: str | None) -> str | None:
        """The session key of a cookie value, or None when absent, tampered with or expired."""
        if not value:
            return None
        try:
            key = self._serializer.loads(value, max_age=self.max_age_seconds)
        except BadSignature:
            return None
        return key if isinstance(key, str) and key else None

    def csrf_token(self, subject: str) -> str:
        """The CSRF token of a session key (or ``"user:<id>"`` for certificate users)."""
        return hmac.new(self._secret, b"csrf|" + subject.encode(), hashlib.sha256).hexdigest()


def csrf_valid(expected: str | None, submitted: str | None) -> bool:
    """The submitted token is the one of this session (constant-time comparison)."""
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def same_origin(origin: str | None, fetch_site: str | None, own_origins: set[str]) -> bool:
    """The browser says the request comes from one of the server's own pages.

    ``Sec-Fetch-Site: same-origin`` or an ``Origin`` header naming this server; a browser
    sets both itself and a page cannot forge them.  Any other ``Sec-Fetch-Site`` value
    (``cross-site``, ``same-site``, ``none``) is not enough on its own."""
    if fetch_site is not None:
        return fetch_site.strip().lower() == "same-origin"
    if not origin or origin.strip().lower() == "null":
        return False
    return _origin(origin) in own_origins


def _origin(url: str) -> str:
    parts = urlsplit(url.strip().lower())
    if not parts.scheme or not parts.hostname:
        return ""
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def own_origins(public_url: str | None, scheme: str, host: str | None) -> set[str]:
    """The origins of this server: the public URL's (when configured), and the one the
    request was sent to."""
    origins = {_origin(public_url)} if public_url else set()
    if host:
        origins.add(_origin(f"{scheme}://{host}"))
    origins.discard("")
    return origins
