"""Request dependencies: database session, authentication, impersonation, CSRF, object access.

Authentication happens once here (API token, trusted proxy certificate, or server-side
session by cookie), with the CSRF check of the credentials a browser sends on its own;
authorisation is delegated to ``core.permissions`` so the rules exist in one place.  Object
dependencies such as ``WagonForEditor`` load the object (404) and check the action (403).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, TypeVar

from fastapi import Depends, Path, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core import permissions, sessions, users
from hyperloop.core.actor import Actor
from hyperloop.core.errors import NotFound, PermissionDenied
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.settings import Settings
from hyperloop.web.auth.proxy import peer_is_trusted, request_peer, username_from_dn
from hyperloop.web.auth.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    SessionCodec,
    csrf_valid,
    own_origins,
    same_origin,
)
from hyperloop.web.errors import ApiError

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
T = TypeVar("T")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    """One session per request, committed when the endpoint returns without error."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": commit before the response is sent, so a failed commit is an error reply.
DB = Annotated[Session, Depends(get_db, scope="function")]


def session_codec(request: Request) -> SessionCodec:
    return request.app.state.session_codec


def session_limits(settings: Settings) -> sessions.SessionLimits:
    return sessions.SessionLimits(
        max_age=timedelta(seconds=settings.session_max_age_seconds),
        idle=timedelta(seconds=settings.session_idle_timeout_seconds),
    )


async def submitted_csrf(request: Request) -> str | None:
    """The CSRF token a request repeats: header, or form field of a form post."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if request.method in UNSAFE_METHODS and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, "not_authenticated", message, headers={"WWW-Authenticate": "Bearer"})


def _active_user(db: Session, user: m.User | None, how: str) -> m.User:
    if user is None or not user.active:
        raise _unauthenticated(f"{how}: unknown or deactivated account")
    return user


def _user_by_name(db: Session, username: str) -> m.User | None:
    return db.scalar(select(m.User).where(m.User.username == username))


def current_session_key(request: Request, settings: Settings) -> str | None:
    """The session key of the request's (signed) session cookie, not yet checked for life."""
    return session_codec(request).loads(request.cookies.get(settings.session_cookie_name))


def _check_csrf(request: Request, settings: Settings, expected: str, submitted: str | None):
    """Refuse a state-changing request sent with an ambient credential (cookie, certificate)
    unless it repeats the session's CSRF token or the browser says it is same-origin."""
    if request.method not in UNSAFE_METHODS or csrf_valid(expected, submitted):
        return
    origins = own_origins(settings.public_url, request.url.scheme, request.headers.get("host"))
    if same_origin(request.headers.get("origin"), request.headers.get("sec-fetch-site"), origins):
        return
    raise ApiError(
        403,
        "csrf_failed",
        f"missing or wrong CSRF token: repeat the {settings.csrf_cookie_name} "
        f"cookie in the {CSRF_HEADER} header or the {CSRF_FIELD} form field",
    )


def _proxy_user(request: Request, db: Session, settings: Settings) -> m.User | None:
    """The certificate user a trusted proxy vouches for; None when there is no such header,
    or it comes from anybody but a trusted proxy (then it is ignored and remembered)."""
    dn = request.headers.get(settings.proxy_auth_header) if settings.proxy_auth_enabled else None
    if not dn:
        return None
    peer = request_peer(request.scope)
    if not peer_is_trusted(peer, settings.trusted_proxies):
        request.state.ignored_proxy_header = peer
        return None
    name = username_from_dn(dn, settings.proxy_auth_username_attribute)
    if name is None:
        raise _unauthenticated(
            f"certificate subject {dn!r} has no {settings.proxy_auth_username_attribute}"
        )
    return _active_user(db, _user_by_name(db, name), f"certificate user {name!r}")


def authenticate(
    request: Request,
    db: DB,
    settings: SettingsDep,
    csrf: Annotated[str | None, Depends(submitted_csrf)],
) -> Actor | None:
    """The actor of the request, or None for anonymous requests.

    Order: ``Authorization: Bearer`` API token; certificate header from a trusted proxy;
    session cookie (a live server-side session).  Cookie and certificate are sent by the
    browser on its own, so their unsafe requests need the CSRF token or a same-origin browser
    header; tokens do not.  An admin may act as another user through the impersonation header
    or a session switch.
    """
    codec = session_codec(request)
    user: m.User | None = None
    impersonate: m.User | None = None
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise _unauthenticated("Authorization header must be 'Bearer <API token>'")
        user = _active_user(db, users.user_for_token(db, credential.strip()), "API token")
    elif (user := _proxy_user(request, db, settings)) is not None:
        expected = codec.csrf_token(f"user:{user.id}")
        request.state.csrf_token = expected
        _check_csrf(request, settings, expected, csrf)
    else:
        key = current_session_key(request, settings)
        record = sessions.find(db, key, session_limits(settings)) if key else None
        if record is None:
            return None
        user = db.get(m.User, record.user_id)
        if user is None or not user.active:
            return None
        expected = codec.csrf_token(key)
        request.state.csrf_token = expected
        _check_csrf(request, settings, expected, csrf)
        request.state.session_id = record.id
        if record.impersonate_user_id is not None:
            impersonate = db.get(m.User, record.impersonate_user_id)
    header_name = request.headers.get(settings.impersonation_header)
    if header_name:
        # the right first, the name after: a non-admin learns nothing about who exists
        if not permissions.can(user, Action.IMPERSONATE):
            raise PermissionDenied(f"{user.username} may not act as another user")
        impersonate = _user_by_name(db, header_name.strip())
        if impersonate is None:
            raise NotFound(f"impersonation: no user {header_name.strip()!r}")
    if impersonate is not None and impersonate.id != user.id:
        if not permissions.can(user, Action.IMPERSONATE):
            raise PermissionDenied(f"{user.username} may not act as another user")
        return Actor(user=impersonate, impersonator=user)
    return Actor(user=user)


async def require_actor(
    request: Request, actor: Annotated[Actor | None, Depends(authenticate)]
) -> Actor:
    if actor is None:
        ignored = getattr(request.state, "ignored_proxy_header", None)
        if ignored is not None:
            raise _unauthenticated(
                f"certificate header ignored: it came from untrusted address {ignored}, not "
                "from a trusted proxy; log in or send an API token"
            )
        raise _unauthenticated("log in or send an API token")
    return actor


OptionalActor = Annotated[Actor | None, Depends(authenticate)]
CurrentActor = Annotated[Actor, Depends(require_actor)]


def public_base(request: Request, settings: Settings) -> str:
    """The server's URL for users: ``public_url``, or the origin of ``request``."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def require_action(actor: Actor, action: Action, obj: object | None = None) -> None:
    """Delegate to the domain's permission rules (raises PermissionDenied -> 403)."""
    permissions.require(actor, action, obj)


def _load(db: Session, model: type[T], ident: int, noun: str) -> T:
    obj = db.get(model, ident)
    if obj is None:
        raise NotFound(f"{noun} {ident} does not exist", {"id": ident})
    return obj


# --- object dependencies: load (404) + check (403) ------------------------------------------

WagonId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Wagon id.")]
AnalysisId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Analysis id.")]
DatasetId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Dataset id.")]
TrainId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Train run id.")]
RunlistId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Runlist id.")]
TagId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Package tag id.")]


def wagon_for_reader(wagon_id: WagonId, db: DB, actor: CurrentActor) -> m.Wagon:
    wagon = _load(db, m.Wagon, wagon_id, "wagon")
    require_action(actor, Action.READ, wagon)
    return wagon


def wagon_for_editor(wagon_id: WagonId, db: DB, actor: CurrentActor) -> m.Wagon:
    wagon = _load(db, m.Wagon, wagon_id, "wagon")
    require_action(actor, Action.WAGON_EDIT, wagon)
    return wagon


def analysis_for_reader(analysis_id: AnalysisId, db: DB, actor: CurrentActor) -> m.Analysis:
    analysis = _load(db, m.Analysis, analysis_id, "analysis")
    require_action(actor, Action.READ, analysis)
    return analysis


def dataset_for_reader(dataset_id: DatasetId, db: DB, actor: CurrentActor) -> m.Dataset:
    dataset = _load(db, m.Dataset, dataset_id, "dataset")
    require_action(actor, Action.READ, dataset)
    return dataset


def dataset_for_manager(dataset_id: DatasetId, db: DB, actor: CurrentActor) -> m.Dataset:
    dataset = _load(db, m.Dataset, dataset_id, "dataset")
    require_action(actor, Action.DATASET_MANAGE, dataset)
    return dataset


def train_for_reader(train_id: TrainId, db: DB, actor: CurrentActor) -> m.TrainRun:
    train = _load(db, m.TrainRun, train_id, "train run")
    require_action(actor, Action.READ, train)
    return train


def runlist_for_reader(runlist_id: RunlistId, db: DB, actor: CurrentActor) -> m.Runlist:
    runlist = _load(db, m.Runlist, runlist_id, "runlist")
    require_action(actor, Action.READ, runlist)
    return runlist


def tag_for_reader(tag_id: TagId, db: DB, actor: CurrentActor) -> m.PackageTag:
    tag = _load(db, m.PackageTag, tag_id, "package tag")
    require_action(actor, Action.READ, tag)
    return tag


WagonForReader = Annotated[m.Wagon, Depends(wagon_for_reader)]
WagonForEditor = Annotated[m.Wagon, Depends(wagon_for_editor)]
AnalysisForReader = Annotated[m.Analysis, Depends(analysis_for_reader)]
DatasetForReader = Annotated[m.Dataset, Depends(dataset_for_reader)]
DatasetForManager = Annotated[m.Dataset, Depends(dataset_for_manager)]
TrainForReader = Annotated[m.TrainRun, Depends(train_for_reader)]
RunlistForReader = Annotated[m.Runlist, Depends(runlist_for_reader)]
TagForReader = Annotated[m.PackageTag, Depends(tag_for_reader)]
