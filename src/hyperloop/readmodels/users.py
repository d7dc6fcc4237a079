"""Users as the pages and the API show them: the acting user (``GET /api/users/me``), the
profile page (``GET /api/users/me/profile``) and the admins' user list (``GET /api/users``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core import permissions
from hyperloop.core.actor import Actor
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.enums import EmailPolicy, Role
from hyperloop.readmodels.paging import PageParams, paginate
from hyperloop.readmodels.schemas import ORMModel, UserOut, user_out


class MeOut(UserOut):
    impersonator: UserOut | None = None
    analyses: list[int] = Field(description="Ids of the analyses the user is a member of.")


class TokenOut(ORMModel):
    id: int
    name: str
    prefix: str = Field(description="First characters of the token, to recognise it.")
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked: bool


class MyAnalysisPolicy(BaseModel):
    id: int
    name: str
    pwg: str
    is_service: bool
    email_policy: EmailPolicy = Field(
        description="Who gets an e-mail when a wagon test of the analysis fails."
    )


class ProfileOut(BaseModel):
    """The profile page: who I am, my API tokens, my analyses' e-mail policies."""

    user: MeOut
    tokens: list[TokenOut]
    analyses: list[MyAnalysisPolicy]


def me_data(actor: Actor) -> MeOut:
    """The user the request acts as, who impersonates them, and their analyses."""
    user = actor.user
    return MeOut(
        **user_out(user).model_dump(),
        impersonator=user_out(actor.impersonator) if actor.impersonator else None,
        analyses=sorted(ms.analysis_id for ms in user.memberships),
    )


def profile_data(db: Session, actor: Actor) -> ProfileOut:
    """The data of ``/profile`` (tokens are few per person: not paginated)."""
    user = actor.user
    tokens = db.scalars(
        select(m.ApiToken).where(m.ApiToken.user_id == user.id).order_by(m.ApiToken.id.desc())
    )
    analyses = db.scalars(
        select(m.Analysis)
        .join(m.AnalysisMember, m.AnalysisMember.analysis_id == m.Analysis.id)
        .where(m.AnalysisMember.user_id == user.id)
        .order_by(m.Analysis.name)
    )
    return ProfileOut(
        user=me_data(actor),
        tokens=[TokenOut.model_validate(t) for t in tokens],
        analyses=[
            MyAnalysisPolicy(
                id=a.id,
                name=a.name,
                pwg=a.pwg,
                is_service=a.is_service,
                email_policy=a.email_policy,
            )
            for a in analyses
        ],
    )


def users_list_data(
    db: Session, actor: Actor, paging: PageParams, *, q: str | None = None, role: Role | None = None
) -> dict[str, Any]:
    """One page of users by name (admins only): username contains ``q``, with ``role``."""
    permissions.require(actor, Action.USER_MANAGE)
    stmt = select(m.User).order_by(m.User.username)
    if q:
        stmt = stmt.where(m.User.username.contains(q, autoescape=True))
    rows = paginate(db, stmt, paging, user_out)
    if role is not None:  # roles are a JSON list: filter in Python over the (small) user table
        everyone = [
            u for u in db.scalars(select(m.User).order_by(m.User.username)) if u.has_role(role)
        ]
        if q:
            everyone = [u for u in everyone if q in u.username]
        chunk = everyone[paging.offset : paging.offset + paging.limit]
        rows = {**rows, "items": [user_out(u) for u in chunk], "total": len(everyone)}
    return rows
