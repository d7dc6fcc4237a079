"""Login sessions (JSON) with throttled password checks, logout and the admin's
impersonation switch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hyperloop.core import login_throttle as throttle
from hyperloop.core import permissions, sessions, users
from hyperloop.core.errors import NotFound, PermissionDenied
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.readmodels.schemas import UserOut, user_out
from hyperloop.settings import Settings
from hyperloop.web.auth.cookies import end_session, start_session
from hyperloop.web.deps import DB, CurrentActor, SettingsDep, current_session_key, session_codec
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
    responses={429: {"description": "Too many failed logins: retry after `Retry-After` s."}},
)
async def login(body: LoginIn, request: Request, response: Response, settings: SettingsDep):
    # async: waiting for a password-hashing slot holds no API thread (logins cannot starve
    # the API); the database work runs in the API threads, the hashing in its own
    address = request.client.host if request.client else None
    account, where = throttle.account_key(body.username), throttle.address_key(address)
    gate, hashing = _login_limiters(request, settings)
    async with gate:  # checked, verified and counted in one slot: no burst slips past
        wait = await _in_db(request, lambda s: throttle.retry_after(s, [account, where]))
        if wait:
            raise _too_many(wait)
        found = await _in_db(request, lambda s: users.login_user(s, body.username))
        password_hash = found.password_hash if found is not None else None
        ok = await anyio.to_thread.run_sync(
            users.verify_password, password_hash, body.password, limiter=hashing
        )
        if not ok or found is None:
            policy = _policy(settings)

            def failed(s: Session) -> None:
                throttle.record_failure(s, account, policy.account_failures, policy)
                throttle.record_failure(s, where, policy.address_failures, policy)

            await _in_db(request, failed)
            raise ApiError(401, "login_failed", "unknown username or wrong password")

    def succeeded(s: Session) -> tuple[UserOut, str]:
        throttle.record_success(s, account)
        user = s.get(m.User, found.id)
        csrf = start_session(response, settings, session_codec(request), s, user)
        return user_out(user), csrf

    user, csrf = await _in_db(request, succeeded)
    return LoginOut(user=user, csrf_token=csrf)


def _policy(settings: Settings) -> throttle.ThrottlePolicy:
    return throttle.ThrottlePolicy(
        account_failures=settings.login_account_failures,
        address_failures=settings.login_address_failures,
        delay=timedelta(seconds=settings.login_delay_seconds),
        max_delay=timedelta(seconds=settings.login_max_delay_seconds),
    )


def _too_many(wait: int) -> ApiError:
    return ApiError(
        429,
        "too_many_logins",
        f"too many failed logins for this account or from this address: retry in {wait} s",
        {"retry_after": wait},
        headers={"Retry-After": str(wait)},
    )


def _login_limiters(
    request: Request, settings: Settings
) -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
    """The login slots of this event loop, and the threads that hash in them."""
    loop = asyncio.get_running_loop()
    saved = getattr(request.app.state, "login_limiters", None)
    if saved is None or saved[0] is not loop:
        workers = settings.login_hash_workers
        saved = (loop, anyio.CapacityLimiter(workers), anyio.CapacityLimiter(workers))
        request.app.state.login_limiters = saved
    return saved[1], saved[2]


T = TypeVar("T")


async def _in_db(request: Request, work: Callable[[Session], T]) -> T:
    """Run ``work`` in its own committed database session, in an API thread."""

    def run() -> T:
        session: Session = request.app.state.sessionmaker()
        try:
            result = work(session)
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    return await anyio.to_thread.run_sync(run)


@router.post("/logout", status_code=204, summary="End the login session")
def logout(request: Request, response: Response, db: DB, settings: SettingsDep) -> Response:
    response.status_code = 204
    cookie = request.cookies.get(settings.session_cookie_name)
    end_session(response, settings, session_codec(request), db, cookie)
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
    _switch_session(request, response, settings, db, real, target)
    return SessionOut(user=user_out(target), impersonator=user_out(real))


@router.delete("/impersonate", response_model=SessionOut, summary="Stop acting as another user")
def stop_impersonating(
    request: Request, response: Response, actor: CurrentActor, db: DB, settings: SettingsDep
):
    real = actor.impersonator or actor.user
    _switch_session(request, response, settings, db, real, None)
    return SessionOut(user=user_out(real))


def _switch_session(
    request: Request,
    response: Response,
    settings: Settings,
    db: Session,
    real: m.User,
    target: m.User | None,
) -> None:
    """A new session (new key and CSRF token) acting as ``target``; the old one ends."""
    key = current_session_key(request, settings)
    if key is not None:
        sessions.end(db, key, "impersonation switch")
    start_session(response, settings, session_codec(request), db, real, impersonate=target)
