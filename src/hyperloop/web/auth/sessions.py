"""Login sessions as signed cookies (itsdangerous) and CSRF double-submit tokens.

The cookie holds only the user id, the impersonated user id (admins) and a login time; it is
signed with the server secret, HttpOnly and SameSite=Lax.  The CSRF token is a random value
in a readable cookie that form posts must repeat (field ``csrf_token`` or header
``X-CSRF-Token``); a cross-site page can send the cookie but cannot read it to repeat it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class SessionData:
    """What a login session remembers."""

    user_id: int
    impersonate_user_id: int | None = None


class SessionCodec:
    """Sign and verify session cookie values with the server secret."""

    def __init__(self, secret: str, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="hyperloop-session")
        self.max_age_seconds = max_age_seconds

    def dumps(self, data: SessionData) -> str:
        """Cookie value for ``data``."""
        return self._serializer.dumps({"u": data.user_id, "i": data.impersonate_user_id})

    def loads(self, value: str | None) -> SessionData | None:
        """SessionData from a cookie value, or None when absent, tampered with or expired."""
        if not value:
            return None
        try:
            raw = self._serializer.loads(value, max_age=self.max_age_seconds)
        except BadSignature:
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("u"), int):
            return None
        imp = raw.get("i")
        return SessionData(
            user_id=raw["u"], impersonate_user_id=imp if isinstance(imp, int) else None
        )


def new_csrf_token() -> str:
    """A fresh random CSRF token."""
    return secrets.token_urlsafe(32)


def csrf_valid(cookie_value: str | None, submitted: str | None) -> bool:
    """Double-submit check: the submitted token equals the cookie token (constant time)."""
    if not cookie_value or not submitted:
        return False
    return hmac.compare_digest(cookie_value.encode(), submitted.encode())
