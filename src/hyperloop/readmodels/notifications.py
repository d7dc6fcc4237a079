"""The notifications of a user, newest first (the notifications page and
``GET /api/notifications``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.db import models as m
from hyperloop.enums import NotificationKind
from hyperloop.readmodels.paging import PageParams, paginate
from hyperloop.readmodels.schemas import ORMModel


class NotificationOut(ORMModel):
    id: int
    kind: NotificationKind
    message: str
    object_type: str | None
    object_id: int | None
    read: bool
    created_at: datetime


def notifications_list_data(
    db: Session,
    actor: Actor,
    paging: PageParams,
    *,
    read: bool | None = None,
    kind: NotificationKind | None = None,
) -> dict[str, Any]:
    """One page of the acting user's notifications, newest first, optionally only read or
    unread ones, or of one kind."""
    stmt = (
        select(m.Notification)
        .where(m.Notification.user_id == actor.user.id)
        .order_by(m.Notification.id.desc())
    )
    if read is not None:
        stmt = stmt.where(m.Notification.read.is_(read))
    if kind is not None:
        stmt = stmt.where(m.Notification.kind == kind)
    return paginate(db, stmt, paging, NotificationOut.model_validate)
