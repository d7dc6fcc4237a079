"""Notifications of the current user: list, dismiss one, dismiss all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy import func, select

from hyperloop.core import notifications
from hyperloop.core.errors import NotFound
from hyperloop.db import models as m
from hyperloop.enums import NotificationKind
from hyperloop.readmodels.notifications import NotificationOut, notifications_list_data
from hyperloop.readmodels.paging import Page
from hyperloop.web.deps import DB, CurrentActor
from hyperloop.web.pagination import Paging

router = APIRouter(prefix="/notifications", tags=["notifications"])


class DismissedOut(BaseModel):
    dismissed: int


class CountOut(BaseModel):
    unread: int


@router.get("", response_model=Page[NotificationOut], summary="My notifications, newest first")
def list_notifications(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    read: bool | None = None,
    kind: NotificationKind | None = None,
    analysis_id: Annotated[
        int | None,
        Query(
            ge=1,
            le=2**31 - 1,
            description="Only notifications about this analysis: the analysis, its wagons, "
            "their tests and its datasets.",
        ),
    ] = None,
):
    if analysis_id is not None and db.get(m.Analysis, analysis_id) is None:
        raise NotFound(f"analysis {analysis_id} does not exist")
    return notifications_list_data(db, actor, paging, read=read, kind=kind, analysis_id=analysis_id)


@router.get("/count", response_model=CountOut, summary="Number of unread notifications (bell)")
def unread_count(actor: CurrentActor, db: DB) -> CountOut:
    n = db.scalar(
        select(func.count())
        .select_from(m.Notification)
        .where(m.Notification.user_id == actor.user.id, m.Notification.read.is_(False))
    )
    return CountOut(unread=n or 0)


@router.post(
    "/{notification_id}/dismiss", response_model=DismissedOut, summary="Dismiss one notification"
)
def dismiss(
    notification_id: Annotated[int, Path(ge=1, le=2**31 - 1)], actor: CurrentActor, db: DB
) -> DismissedOut:
    notifications.mark_read(db, actor, notification_id)
    return DismissedOut(dismissed=1)


@router.post("/dismiss-all", response_model=DismissedOut, summary="Dismiss all my notifications")
def dismiss_all(actor: CurrentActor, db: DB) -> DismissedOut:
    return DismissedOut(dismissed=notifications.mark_all_read(db, actor))
