"""Login sessions (JSON), logout and the admin's impersonation switch."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from hyperloop.core import permissions, users
from hyperloop.core.errors import NotFound, PermissionDenied
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.web.api.schemas import UserOut, user_out
from hyperloop.web.auth.cookies import end_session, start_session
from hyperloop.web.auth.sessions import SessionData
from hyperloop.web.deps import DB, CurrentActor, SettingsDep, session_codec
from hyperloop.web.errors import ApiError

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str = Field(description="Repeat in the X-CSRF-Token header of unsafe requests.")


class ImpersonateIn(BaseModel):
    username: str = Field(min_length=1, max_length=255)


class SessionOut(BaseModel):
    user: UserOut
    impersonator: UserOut | None = None


@router.post(
    "/login",
    response_model=LoginOut,
    summary="Log in with a local account (sets the session and CSRF cookies)",
)
def login(body: LoginIn, request: Request, response: Response, db: DB, settings: SettingsDep):
    user = db.query(m.User).filter(m.User.username == body.username).one_or_none()
    if (
        user is None
        or not user.active
        or not users.verify_password(user.password_hash, body.password)
    ):
        raise ApiError(401, "login_failed", "unknown username or wrong password")
    csrf = start_session(response, settings, session_codec(request), SessionData(user.id))
    return LoginOut(user=user_out(user), csrf_token=csrf)


@router.post("/logout", status_code=204, summary="End the login session")
def logout(response: Response, settings: SettingsDep) -> Response:
    response.status_code = 204
    end_session(response, settings)
    return response


@router.get("/session", response_model=SessionOut, summary="Who the request acts as")
def session_info(actor: CurrentActor):
    return SessionOut(
        user=user_out(actor.user),
        impersonator=user_out(actor.impersonator) if actor.impersonator else None,
    )


@router.post(
    "/impersonate",
    response_model=SessionOut,
    summary="Admins: act as another user in this login session",
)
def impersonate(
    body: ImpersonateIn,
    request: Request,
    response: Response,
    actor: CurrentActor,
    db: DB,
    settings: SettingsDep,
):
    real = actor.impersonator or actor.user
    if not permissions.can(real, Action.IMPERSONATE):
        raise PermissionDenied(f"{real.username} may not act as another user")
    target = db.query(m.User).filter(m.User.username == body.username).one_or_none()
    if target is None:
        raise NotFound(f"no user {body.username!r}")
    start_session(response, settings, session_codec(request), SessionData(real.id, target.id))
    return SessionOut(user=user_out(target), impersonator=user_out(real))


@router.delete("/impersonate", response_model=SessionOut, summary="Stop acting as another user")
def stop_impersonating(
    request: Request, response: Response, actor: CurrentActor, settings: SettingsDep
):
    real = actor.impersonator or actor.user
    start_session(response, settings, session_codec(request), SessionData(real.id))
    return SessionOut(user=user_out(real))
