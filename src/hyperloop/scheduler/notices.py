"""Performing the core's ``Notify``: who hears about a train or a wagon test (notifications
in the web UI), and who also gets an e-mail following ``hyperloop.core.mail.EMAIL_POLICY``
and each analysis's setting (none / all analyzers / only who enabled the wagon).

Recipients of notifications:
- a train run: the members of every analysis with a wagon in it, the requester of a long
  train, and the operators for kinds they must act on (issues, failed/warning train tests,
  approved long trains waiting for a submission);
- a wagon test: the members of the wagon's analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core.mail import Recipients, email_body, email_groups, page_url, queue_email
from hyperloop.core.notifications import analysis_member_ids, notify, operator_user_ids
from hyperloop.db.models import (
    Analysis,
    Notification,
    TrainRun,
    User,
    Wagon,
    WagonDataset,
    WagonTest,
)
from hyperloop.enums import EmailPolicy, NotificationKind
from hyperloop.scheduler.cycles import Notify

K = NotificationKind
#: kinds operators must act on: they are notified too
OPERATOR_KINDS = frozenset(
    {K.TRAIN_ISSUES, K.TRAIN_TEST_FAILED, K.TRAIN_TEST_WARNING, K.LONG_TRAIN_APPROVED}
)
_PAGES = {"train_run": "/train-run/{}", "wagon_test": "/wagon-test/{}", "wagon": "/wagon/{}"}


@dataclass
class Audience:
    """The object a notice is about and the people around it."""

    obj: Any
    analyses: dict[int, set[int]] = field(default_factory=dict)  # analysis id -> enablers
    requester_id: int | None = None


def operator_ids(s: Session) -> set[int]:
    return operator_user_ids(s)


def _audience(s: Session, object_type: str, object_id: int) -> Audience | None:
    if object_type == "train_run":
        train = s.get(TrainRun, object_id)
        if train is None:
            return None
        wagon_ids = [w["wagon_id"] for w in train.wagons_snapshot or []]
        analyses: dict[int, set[int]] = {
            int(w["analysis_id"]): set() for w in train.wagons_snapshot or [] if "analysis_id" in w
        }
        if wagon_ids:
            rows = s.execute(
                select(Wagon.analysis_id, WagonDataset.enabled_by_id)
                .join(Wagon, Wagon.id == WagonDataset.wagon_id)
                .where(
                    WagonDataset.wagon_id.in_(wagon_ids),
                    WagonDataset.dataset_id == train.dataset_id,
                )
            )
            for analysis_id, enabler in rows:
                if enabler is not None:
                    analyses.setdefault(analysis_id, set()).add(enabler)
        return Audience(train, analyses, train.requested_by_id)
    if object_type == "wagon_test":
        test = s.get(WagonTest, object_id)
        wagon = s.get(Wagon, test.wagon_id) if test is not None else None
        if wagon is None:
            return None
        row = s.scalars(
            select(WagonDataset).where(
                WagonDataset.wagon_id == wagon.id, WagonDataset.dataset_id == test.dataset_id
            )
        ).first()
        enablers = {row.enabled_by_id} if row is not None and row.enabled_by_id else set()
        return Audience(test, {wagon.analysis_id: enablers})
    return None


def email_recipient_ids(s: Session, kind: NotificationKind, audience: Audience) -> set[int]:
    """Users who get an e-mail of ``kind`` about the audience's object (the policy)."""
    groups = email_groups(kind)
    out: set[int] = set()
    if Recipients.ANALYSIS in groups:
        for analysis_id, enablers in audience.analyses.items():
            analysis = s.get(Analysis, analysis_id)
            policy = analysis.email_policy if analysis is not None else EmailPolicy.NONE
            if policy is EmailPolicy.ALL:
                out |= analysis_member_ids(s, analysis_id)
            elif policy is EmailPolicy.ENABLER:
                out |= enablers & analysis_member_ids(s, analysis_id)
    if Recipients.OPERATORS in groups:
        out |= operator_ids(s)
    if Recipients.REQUESTER in groups and audience.requester_id is not None:
        out.add(audience.requester_id)
    return out


def perform_notify(s: Session, ins: Notify, *, public_url: str = "") -> list[Notification]:
    """Create the notifications of one ``Notify`` and queue its e-mails."""
    kind = NotificationKind(ins.kind)
    audience = _audience(s, ins.object_type, ins.object_id)
    if audience is None:
        return []
    users: set[int] = set()
    for analysis_id in audience.analyses:
        users |= analysis_member_ids(s, analysis_id)
    if audience.requester_id is not None:
        users.add(audience.requester_id)
    if kind in OPERATOR_KINDS:
        users |= operator_ids(s)
    made = notify(s, users, kind, ins.message, audience.obj)
    page = _PAGES.get(ins.object_type, "").format(ins.object_id)
    body = email_body(ins.message, kind, page_url(public_url, page))
    for uid in sorted(email_recipient_ids(s, kind, audience)):
        user = s.get(User, uid)
        if user is not None and user.email and user.active:
            queue_email(s, user.email, ins.message, body)
    return made


def notified_kinds(
    s: Session, object_type: str, object_ids: list[int], kinds: list[NotificationKind]
) -> dict[int, frozenset[str]]:
    """Which of ``kinds`` were already notified about each object (the record that a
    decision was told, so it is told once even across scheduler restarts)."""
    if not object_ids:
        return {}
    rows = s.execute(
        select(Notification.object_id, Notification.kind)
        .where(
            Notification.object_type == object_type,
            Notification.object_id.in_(object_ids),
            Notification.kind.in_(kinds),
        )
        .distinct()
    )
    out: dict[int, set[str]] = {}
    for oid, kind in rows:
        out.setdefault(oid, set()).add(NotificationKind(kind).value)
    return {k: frozenset(v) for k, v in out.items()}
