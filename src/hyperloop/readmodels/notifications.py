"""The notifications of a user, newest first (the notifications page and
``GET /api/notifications``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
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


def about_analysis(analysis_id: int) -> ColumnElement[bool]:
    """Notifications about an analysis: on the analysis itself, one of its wagons, a test of
    one of its wagons, or a dataset it uses (the analysis page and the analysis filter)."""
    n = m.Notification
    wagons = select(m.Wagon.id).where(m.Wagon.analysis_id == analysis_id)
    tests = select(m.WagonTest.id).join(m.Wagon, m.Wagon.id == m.WagonTest.wagon_id)
    tests = tests.where(m.Wagon.analysis_id == analysis_id)
    datasets = select(m.AnalysisDataset.dataset_id).where(
        m.AnalysisDataset.analysis_id == analysis_id
    )
    return or_(
        and_(n.object_type == "analysis", n.object_id == analysis_id),
        and_(n.object_type == "wagon", n.object_id.in_(wagons)),
        and_(n.object_type == "wagon_test", n.object_id.in_(tests)),
        and_(n.object_type == "dataset", n.object_id.in_(datasets)),
    )


def notifications_list_data(
    db: Session,
    actor: Actor,
    paging: PageParams,
    *,
    read: bool | None = None,
    kind: NotificationKind | None = None,
    analysis_id: int | None = None,
) -> dict[str, Any]:
    """One page of the acting user's notifications, newest first, optionally only read or
    unread ones, of one kind, or about one analysis (``about_analysis``)."""
    stmt = (
        select(m.Notification)
        .where(m.Notification.user_id == actor.user.id)
        .order_by(m.Notification.id.desc())
    )
    if read is not None:
        stmt = stmt.where(m.Notification.read.is_(read))
    if kind is not None:
        stmt = stmt.where(m.Notification.kind == kind)
    if analysis_id is not None:
        stmt = stmt.where(about_analysis(analysis_id))
    return paginate(db, stmt, paging, NotificationOut.model_validate)


def analysis_notifications(
    db: Session, user: m.User, analysis_id: int, limit: int = 20
) -> list[dict[str, Any]]:
    """The user's newest notifications about one analysis (shown on the analysis page)."""
    rows = db.scalars(
        select(m.Notification)
        .where(m.Notification.user_id == user.id, about_analysis(analysis_id))
        .order_by(m.Notification.id.desc())
        .limit(limit)
    )
    return [NotificationOut.model_validate(n).model_dump(mode="json") for n in rows]


def my_analysis_names(db: Session, user: m.User) -> list[tuple[int, str]]:
    """(id, name) of the user's analyses, by name (the notification filter's choices)."""
    rows = db.execute(
        select(m.Analysis.id, m.Analysis.name)
        .join(m.AnalysisMember, m.AnalysisMember.analysis_id == m.Analysis.id)
        .where(m.AnalysisMember.user_id == user.id)
        .order_by(m.Analysis.name)
    )
    return [(aid, name) for aid, name in rows]
