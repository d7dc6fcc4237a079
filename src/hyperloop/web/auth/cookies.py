"""Starting and ending login sessions: the server-side record and the cookies, with the right
flags."""

from __future__ import annotations

from fastapi import Response
from sqlalchemy.orm import Session

from hyperloop.core import sessions
from hyperloop.db import models as m
from hyperloop.settings import Settings
from hyperloop.web.auth.sessions import SessionCodec


def start_session(
    response: Response,
    settings: Settings,
    codec: SessionCodec,
    db: Session,
    user: m.User,
    *,
    method: str = "password",
    impersonate: m.User | None = None,
) -> str:
    """Record a new session, set its signed HttpOnly cookie and its CSRF cookie; return the
    CSRF token."""
    _record, key = sessions.start(db, user, method=method, impersonate=impersonate)
    response.set_cookie(
        settings.session_cookie_name,
        codec.dumps(key),
        max_age=settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    csrf = codec.csrf_token(key)
    set_csrf_cookie(response, settings, csrf)
    return csrf


def set_csrf_cookie(response: Response, settings: Settings, csrf: str) -> None:
    """The CSRF token in a cookie the page's JavaScript can read (it must repeat it)."""
    response.set_cookie(
        settings.csrf_cookie_name,
        csrf,
        max_age=settings.session_max_age_seconds,
        httponly=False,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def end_session(
    response: Response, settings: Settings, codec: SessionCodec, db: Session, cookie: str | None
) -> None:
    """End the session of the cookie (if any) on the server and remove both cookies."""
    key = codec.loads(cookie)
    if key is not None:
        sessions.end(db, key, "logout")
    response.delete_cookie(settings.session_cookie_name, path="/")
    response.delete_cookie(settings.csrf_cookie_name, path="/")
