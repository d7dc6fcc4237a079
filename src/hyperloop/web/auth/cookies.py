"""Setting and clearing the session and CSRF cookies with the right flags."""

from __future__ import annotations

from fastapi import Response

from hyperloop.settings import Settings
from hyperloop.web.auth.sessions import SessionCodec, SessionData, new_csrf_token


def start_session(
    response: Response, settings: Settings, codec: SessionCodec, data: SessionData
) -> str:
    """Set the signed HttpOnly session cookie and a fresh CSRF cookie; return the CSRF token."""
    csrf = new_csrf_token()
    response.set_cookie(
        settings.session_cookie_name,
        codec.dumps(data),
        max_age=settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    # Readable by the page's JavaScript (it must repeat it), so not HttpOnly.
    response.set_cookie(
        settings.csrf_cookie_name,
        csrf,
        max_age=settings.session_max_age_seconds,
        httponly=False,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    return csrf


def end_session(response: Response, settings: Settings) -> None:
    """Remove both cookies."""
    response.delete_cookie(settings.session_cookie_name, path="/")
    response.delete_cookie(settings.csrf_cookie_name, path="/")
