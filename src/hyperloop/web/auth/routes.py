"""Browser login routes outside the JSON API: the OIDC redirect flow."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from hyperloop.core import users
from hyperloop.db import models as m
from hyperloop.web.auth.cookies import start_session
from hyperloop.web.auth.oidc import (
    OIDCConfig,
    OIDCError,
    build_login_redirect,
    exchange_code,
    fetch_metadata,
    username_from_claims,
)
from hyperloop.web.deps import DB, SettingsDep, session_codec
from hyperloop.web.errors import ApiError

router = APIRouter(prefix="/auth/oidc", tags=["auth"], include_in_schema=False)
STATE_COOKIE = "hyperloop_oidc"
STATE_MAX_AGE = 600


def _config(settings) -> OIDCConfig:
    if not settings.oidc_enabled:
        raise ApiError(404, "not_found", "OIDC login is not enabled on this server")
    try:
        return OIDCConfig.from_settings(settings)
    except OIDCError as exc:
        raise ApiError(400, "oidc_error", str(exc)) from None


def _state_serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.secret, salt="hyperloop-oidc")


async def _metadata(request: Request, config: OIDCConfig) -> dict:
    cached = getattr(request.app.state, "oidc_metadata", None)
    if cached is None:
        try:
            cached = await fetch_metadata(config)
        except (OIDCError, OSError) as exc:
            raise ApiError(400, "oidc_error", f"OIDC provider unavailable: {exc}") from None
        request.app.state.oidc_metadata = cached
    return cached


@router.get("/login")
async def oidc_login(request: Request, settings: SettingsDep) -> RedirectResponse:
    config = _config(settings)
    start = build_login_redirect(config, await _metadata(request, config))
    response = RedirectResponse(start.url, status_code=302)
    value = _state_serializer(request).dumps([start.state, start.nonce, start.code_verifier])
    response.set_cookie(
        STATE_COOKIE,
        value,
        max_age=STATE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    return response


@router.get("/callback")
async def oidc_callback(
    request: Request, settings: SettingsDep, db: DB, code: str = "", state: str = ""
) -> RedirectResponse:
    config = _config(settings)
    try:
        saved_state, _nonce, verifier = _state_serializer(request).loads(
            request.cookies.get(STATE_COOKIE, ""), max_age=STATE_MAX_AGE
        )
    except (BadSignature, ValueError, TypeError):
        raise ApiError(400, "oidc_error", "login expired or started elsewhere; retry") from None
    if not code or state != saved_state:
        raise ApiError(400, "oidc_error", "OIDC state mismatch; retry the login")
    try:
        claims = await exchange_code(config, await _metadata(request, config), code, verifier)
        username = username_from_claims(config, claims)
    except (OIDCError, OSError) as exc:
        raise ApiError(400, "oidc_error", str(exc)) from None
    user = db.scalar(select(m.User).where(m.User.username == username))
    if user is None:
        if not settings.oidc_create_users:
            raise ApiError(403, "permission_denied", f"no Hyperloop account {username!r}")
        user = users.create_user(
            db,
            username,
            email=claims.get("email"),
            display_name=claims.get("name"),
        )
        db.flush()
    if not user.active:
        raise ApiError(403, "permission_denied", f"account {username!r} is deactivated")
    response = RedirectResponse("/", status_code=302)
    start_session(response, settings, session_codec(request), db, user, method="oidc")
    response.delete_cookie(STATE_COOKIE)
    return response
