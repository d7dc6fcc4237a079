"""The current user, personal API tokens and (admins) user management."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from hyperloop.core import users
from hyperloop.core.errors import PermissionDenied
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.enums import Role
from hyperloop.readmodels.paging import Page, paginate
from hyperloop.readmodels.schemas import UserOut, user_out
from hyperloop.readmodels.users import (
    MeOut,
    ProfileOut,
    TokenOut,
    me_data,
    profile_data,
    users_list_data,
)
from hyperloop.web.deps import DB, CurrentActor, require_action
from hyperloop.web.pagination import Paging

router = APIRouter(prefix="/users", tags=["users"])


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=128, description="What the token is for.")
    expires_at: AwareDatetime | None = Field(
        default=None, description="Optional expiry, with a time zone (e.g. `...Z`)."
    )


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. Shown only this once: store it now.")


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    email: str | None = Field(default=None, max_length=255)
    display_name: str | None = Field(default=None, max_length=128)
    roles: list[Role] = Field(default_factory=list)


class RolesIn(BaseModel):
    roles: list[Role]
    convener_pwgs: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, description="PWGs the user convenes (with the pwg_convener role)."
    )


TokenId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Username = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/me", response_model=MeOut, summary="The user the request acts as")
def me(actor: CurrentActor) -> MeOut:
    return me_data(actor)


@router.get(
    "/me/profile",
    response_model=ProfileOut,
    summary="My profile: account, API tokens and the e-mail policy of my analyses",
)
def profile(actor: CurrentActor, db: DB) -> ProfileOut:
    """The data of ``/profile`` (tokens are few per person: not paginated)."""
    return profile_data(db, actor)


@router.get("/me/tokens", response_model=Page[TokenOut], summary="My API tokens")
def list_tokens(actor: CurrentActor, db: DB, paging: Paging):
    stmt = select(m.ApiToken).where(m.ApiToken.user_id == actor.user.id).order_by(m.ApiToken.id)
    return paginate(db, stmt, paging, TokenOut.model_validate)


@router.post(
    "/me/tokens",
    response_model=TokenCreated,
    status_code=201,
    summary="Create an API token (the plaintext is shown once)",
)
def create_token(body: TokenIn, actor: CurrentActor, db: DB) -> TokenCreated:
    if actor.impersonator is not None:
        # a token would act as the user with no trace of the admin behind it
        raise PermissionDenied(
            f"{actor.impersonator.username} is acting as {actor.user.username}: API tokens "
            "cannot be created while impersonating"
        )
    token, plaintext = users.create_api_token(db, actor.user, body.name, expires_at=body.expires_at)
    db.flush()
    return TokenCreated(**TokenOut.model_validate(token).model_dump(), token=plaintext)


@router.delete("/me/tokens/{token_id}", status_code=204, summary="Revoke one of my API tokens")
def revoke_token(token_id: TokenId, actor: CurrentActor, db: DB) -> Response:
    users.revoke_api_token(db, actor, token_id)
    return Response(status_code=204)


@router.get("", response_model=Page[UserOut], summary="All users (admins)")
def list_users(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    q: Annotated[str | None, Query(max_length=64, description="Username contains.")] = None,
    role: Role | None = None,
):
    return users_list_data(db, actor, paging, q=q, role=role)


@router.post("", response_model=UserOut, status_code=201, summary="Create a user (admins)")
def create_user(body: UserIn, actor: CurrentActor, db: DB) -> UserOut:
    require_action(actor, Action.USER_MANAGE)
    user = users.create_user(
        db,
        body.username,
        roles=[r.value for r in body.roles],
        password=body.password,
        email=body.email,
        display_name=body.display_name,
    )
    db.flush()
    return user_out(user)


@router.get("/{username}", response_model=UserOut, summary="One user")
def get_user(username: Username, actor: CurrentActor, db: DB) -> UserOut:
    return user_out(users.get_user(db, username))


@router.put("/{username}/roles", response_model=UserOut, summary="Set a user's roles (admins)")
def set_roles(username: Username, body: RolesIn, actor: CurrentActor, db: DB) -> UserOut:
    user = users.set_roles(
        db, actor, username, [r.value for r in body.roles], convener_pwgs=body.convener_pwgs
    )
    return user_out(user)
