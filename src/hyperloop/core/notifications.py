"""Notifications of SPEC §6 (per user, dismissable) and the e-mail outbox policy."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.core.errors import NotFound
from hyperloop.core.mail import email_body, page_url, queue_email
from hyperloop.db.models import (
    Analysis,
    AnalysisDataset,
    AnalysisMember,
    Notification,
    User,
    Wagon,
    WagonTest,
)
from hyperloop.enums import EmailPolicy, NotificationKind, Role

_OBJECT_TYPES = {
    "Wagon": "wagon",
    "Dataset": "dataset",
    "Runlist": "runlist",
    "TrainRun": "train_run",
    "WagonTest": "wagon_test",
    "Analysis": "analysis",
}


def notify(
    s: Session, user_ids: Iterable[int], kind: NotificationKind, message: str, obj: Any = None
) -> list[Notification]:
    """One notification per distinct user (linking to ``obj`` when given)."""
    object_type = _OBJECT_TYPES.get(type(obj).__name__) if obj is not None else None
    out = []
    for uid in sorted(set(user_ids)):
        n = Notification(
            user_id=uid,
            kind=kind,
            message=message,
            object_type=object_type,
            object_id=getattr(obj, "id", None),
        )
        s.add(n)
        out.append(n)
    s.flush()
    return out


def analysis_member_ids(s: Session, analysis_id: int) -> set[int]:
    stmt = select(AnalysisMember.user_id).where(AnalysisMember.analysis_id == analysis_id)
    return set(s.scalars(stmt))


def dataset_user_ids(s: Session, dataset_id: int) -> set[int]:
    """Members of every analysis that added the dataset (who hears about its changes)."""
    stmt = (
        select(AnalysisMember.user_id)
        .join(AnalysisDataset, AnalysisDataset.analysis_id == AnalysisMember.analysis_id)
        .where(AnalysisDataset.dataset_id == dataset_id)
    )
    return set(s.scalars(stmt))


def operator_user_ids(s: Session) -> set[int]:
    """Every active user with the operator role."""
    users = s.scalars(select(User).where(User.active.is_(True)))
    return {u.id for u in users if u.has_role(Role.OPERATOR)}


def notify_wagon(s: Session, wagon: Wagon, kind: NotificationKind, message: str) -> None:
    notify(s, analysis_member_ids(s, wagon.analysis_id), kind, message, wagon)


def notify_test_failed(
    s: Session, test: WagonTest, *, enabled_by_id: int | None = None, public_url: str = ""
) -> None:
    """Notify the analysis and queue e-mails following its policy (none / all / enabler);
    the message says why the test failed, the e-mail what to do and links the test's page
    under ``public_url`` (the scheduler's ``settings.server_url``)."""
    wagon = s.get(Wagon, test.wagon_id)
    if wagon is None:
        return
    analysis = s.get(Analysis, wagon.analysis_id)
    error = str((test.metrics or {}).get("error") or "").strip()
    message = f"wagon test {test.id} of wagon {wagon.name!r} failed"
    if error:
        message += f": {error[:500]}"
    members = analysis_member_ids(s, wagon.analysis_id)
    notify(s, members, NotificationKind.TEST_FAILED, message, test)
    policy = analysis.email_policy if analysis else EmailPolicy.NONE
    if policy is EmailPolicy.NONE:
        return
    recipients = members if policy is EmailPolicy.ALL else {enabled_by_id} - {None}
    body = email_body(
        message, NotificationKind.TEST_FAILED, page_url(public_url, f"/wagon-test/{test.id}")
    )
    subject = f"wagon test {test.id} of wagon {wagon.name!r} failed"
    for uid in sorted(recipients):
        user = s.get(User, uid)
        if user is not None and user.email:
            queue_email(s, user.email, subject, body)
    s.flush()


def list_notifications(
    s: Session, user: User, *, unread_only: bool = False, limit: int = 100, offset: int = 0
) -> list[Notification]:
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        stmt = stmt.where(Notification.read.is_(False))
    stmt = stmt.order_by(Notification.id.desc()).limit(limit).offset(offset)
    return list(s.scalars(stmt))


def unread_count(s: Session, user: User) -> int:
    stmt = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read.is_(False))
    )
    return int(s.scalar(stmt) or 0)


def mark_read(s: Session, actor: Actor, notification_id: int) -> None:
    """Dismiss one of one's own notifications."""
    n = s.get(Notification, notification_id)
    if n is None or n.user_id != actor.user.id:
        raise NotFound(f"notification {notification_id} not found")
    n.read = True
    s.flush()


def mark_all_read(s: Session, actor: Actor) -> int:
    result = s.execute(
        update(Notification)
        .where(Notification.user_id == actor.user.id, Notification.read.is_(False))
        .values(read=True)
    )
    return int(result.rowcount or 0)
