"""The e-mails the system queued and sent (``GET /api/emails`` and the ``/emails`` page):
a user sees those addressed to them, an admin every one (optionally to one address). The
body is shown as the recipient reads it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.db import models as m
from hyperloop.enums import Role
from hyperloop.readmodels.paging import PageParams, paginate
from hyperloop.readmodels.schemas import ORMModel


class EmailOut(ORMModel):
    id: int
    to_address: str
    subject: str
    body: str
    created_at: datetime
    sent_at: datetime | None


def emails_list_data(
    db: Session, actor: Actor, paging: PageParams, *, to: str | None = None
) -> dict[str, Any]:
    """One page of e-mails, newest first: the acting user's own (to their address), or for
    an admin every e-mail (``to``: only those to that address)."""
    stmt = select(m.EmailOutbox).order_by(m.EmailOutbox.id.desc())
    if actor.user.has_role(Role.ADMIN):
        if to:
            stmt = stmt.where(m.EmailOutbox.to_address == to)
    else:
        stmt = stmt.where(m.EmailOutbox.to_address == (actor.user.email or ""))
        if not actor.user.email:
            stmt = stmt.where(m.EmailOutbox.id.is_(None))  # no address: nothing is theirs
    return paginate(db, stmt, paging, EmailOut.model_validate)
