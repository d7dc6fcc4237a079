"""E-mail: who gets one for which notification kind (the policy), the outbox, and pluggable
senders. The embedded default writes ``.eml`` files into a folder under the data dir; an
SMTP server is used when one is configured.

Rows of ``EmailOutbox`` are queued in the same transaction as the notification that caused
them and delivered later by :func:`deliver_outbox` (the scheduler does it every tick), so a
crash never sends an e-mail for something that was rolled back.
"""

from __future__ import annotations

import email.policy
import logging
import os
import re
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hyperloop.db.base import utcnow
from hyperloop.db.models import EmailOutbox
from hyperloop.enums import NotificationKind

log = logging.getLogger(__name__)
DEFAULT_FROM = "hyperloop@localhost"
_UNFOLDED = email.policy.default.clone(max_line_length=None)  # headers on one line (< 998)
SUBJECT_PREFIX = "[Hyperloop] "


class Recipients(StrEnum):
    """Groups of people an e-mail of one kind goes to."""

    ANALYSIS = "analysis"  # per analysis involved, its setting: none / all analyzers / enabler
    OPERATORS = "operators"  # every active user with the operator role
    REQUESTER = "requester"  # the person who requested the long train


K = NotificationKind
#: Who gets an e-mail for which notification kind; kinds not listed are notifications only.
EMAIL_POLICY: Mapping[NotificationKind, frozenset[Recipients]] = {
    K.TEST_FAILED: frozenset({Recipients.ANALYSIS}),
    K.TRAIN_TEST_FAILED: frozenset({Recipients.ANALYSIS, Recipients.OPERATORS}),
    K.TRAIN_DONE: frozenset({Recipients.ANALYSIS}),
    K.TRAIN_ISSUES: frozenset({Recipients.ANALYSIS, Recipients.OPERATORS}),
    K.LONG_TRAIN_APPROVED: frozenset({Recipients.REQUESTER}),
    K.LONG_TRAIN_REJECTED: frozenset({Recipients.REQUESTER}),
    K.LONG_TRAIN_EXPIRED: frozenset({Recipients.REQUESTER}),
    K.PULL_REQUEST_AVAILABLE: frozenset({Recipients.ANALYSIS}),
}


#: What the recipient of an e-mail of a kind can do about it (after the message, which says
#: what happened and why).
ADVICE: Mapping[NotificationKind, str] = {
    K.TEST_FAILED: "Open the test's page for its log and error, fix the wagon's code or "
    "configuration (or its dependencies), then save the wagon: its test runs again.",
    K.TRAIN_TEST_FAILED: "Open the train's Test tab for the log and error of the failing "
    "wagon; fix that wagon (its own test must pass again) and compose a new train. The "
    "train itself cannot be submitted.",
    K.TRAIN_DONE: "The merged results are on the train's Merging and Outputs tabs.",
    K.TRAIN_ISSUES: "Operators decide on the train's page: look at the grouped errors on the "
    "Jobs tab, then resubmit the failed jobs, start the final merge with the runs merged so "
    "far, or kill the train. Analyzers: check the errors for a bug in your wagon.",
    K.LONG_TRAIN_APPROVED: "An operator submits the train; nothing to do.",
    K.LONG_TRAIN_REJECTED: "Read the reason on the train's page; run on a short dataset or "
    "request again with a justification.",
    K.LONG_TRAIN_EXPIRED: "Nobody decided within the expiry time: request the long train again.",
    K.PULL_REQUEST_AVAILABLE: "The queued test runs on the new tag now; nothing to do.",
}


def email_body(message: str, kind: NotificationKind | str, link: str) -> str:
    """The text of a notification e-mail: what happened (``message``, with its reason),
    what to do (:data:`ADVICE`) and the absolute ``link`` to the page."""
    body = message.rstrip(".") + "."
    try:
        advice = ADVICE.get(NotificationKind(kind))
    except ValueError:
        advice = None
    if advice:
        body += f"\n\nWhat to do: {advice}"
    return f"{body}\n\nOpen: {link}\n"


def page_url(public_url: str, path: str) -> str:
    """``path`` under the server's public URL (absolute when ``public_url`` is set)."""
    return f"{public_url.rstrip('/')}{path}"


def email_groups(kind: NotificationKind | str) -> frozenset[Recipients]:
    """The recipient groups of an e-mail of ``kind`` (empty: no e-mail)."""
    try:
        return EMAIL_POLICY.get(NotificationKind(kind), frozenset())
    except ValueError:
        return frozenset()


def queue_email(s: Session, to_address: str, subject: str, body: str) -> EmailOutbox:
    """Queue one e-mail (sent by :func:`deliver_outbox`); the subject gets the prefix."""
    if not subject.startswith(SUBJECT_PREFIX):
        subject = SUBJECT_PREFIX + subject
    row = EmailOutbox(to_address=to_address, subject=subject[:255], body=body)
    s.add(row)
    s.flush()
    return row


# ---------------------------------------------------------------- senders


class MailSender(Protocol):
    """Delivers one message; raises on failure (the row stays unsent and is retried)."""

    def send(self, message: EmailMessage) -> None: ...


@dataclass
class FolderSender:
    """Writes each message as ``<message id>.eml`` into ``folder`` (the embedded default;
    re-sending the same outbox row overwrites its file, so a retry never duplicates)."""

    folder: Path

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        ident = re.sub(r"[^A-Za-z0-9_.-]", "_", str(message["Message-ID"] or "message").strip("<>"))
        path = self.folder / f"{ident}.eml"
        tmp = path.with_suffix(".eml.tmp")
        tmp.write_bytes(message.as_bytes(policy=_UNFOLDED))
        os.replace(tmp, path)


@dataclass
class SmtpSender:
    """Sends through an SMTP server (STARTTLS and login when configured)."""

    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 30.0

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


def sender_from_settings(settings: Any, data_dir: Path | None = None) -> MailSender:
    """SMTP when ``settings.smtp_host`` is set, otherwise ``.eml`` files in
    ``settings.mail_dir`` (default ``<data_dir>/mail``). Missing settings take defaults."""
    host = getattr(settings, "smtp_host", None)
    if host:
        password = getattr(settings, "smtp_password", None)
        if password is not None and hasattr(password, "get_secret_value"):
            password = password.get_secret_value()
        return SmtpSender(
            host=host,
            port=int(getattr(settings, "smtp_port", None) or 25),
            username=getattr(settings, "smtp_username", None),
            password=password,
            starttls=bool(getattr(settings, "smtp_starttls", False)),
        )
    folder = getattr(settings, "mail_dir", None)
    if folder is None:
        base = data_dir or Path(getattr(settings, "data_dir", "./var"))
        folder = Path(base) / "mail"
    return FolderSender(Path(folder))


# ---------------------------------------------------------------- delivery


def build_message(row: EmailOutbox, from_address: str = DEFAULT_FROM) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = from_address
    msg["To"] = row.to_address
    msg["Subject"] = row.subject
    msg["Message-ID"] = f"<hyperloop-outbox-{row.id}@{from_address.rpartition('@')[2] or 'x'}>"
    msg["Date"] = (row.created_at or utcnow()).strftime("%a, %d %b %Y %H:%M:%S +0000")
    msg.set_content(row.body)
    return msg


def unsent_count(s: Session) -> int:
    stmt = select(func.count()).select_from(EmailOutbox).where(EmailOutbox.sent_at.is_(None))
    return int(s.scalar(stmt) or 0)


@dataclass(frozen=True)
class Delivery:
    sent: int
    failed: int
    errors: tuple[str, ...] = ()


def deliver_outbox(
    s: Session,
    sender: MailSender,
    *,
    from_address: str = DEFAULT_FROM,
    now: datetime | None = None,
    limit: int = 200,
) -> Delivery:
    """Send up to ``limit`` unsent e-mails, oldest first, and mark them sent. A failing one
    stays unsent (tried again next time); the others still go."""
    rows = s.scalars(
        select(EmailOutbox)
        .where(EmailOutbox.sent_at.is_(None))
        .order_by(EmailOutbox.id)
        .limit(limit)
    ).all()
    sent, errors = 0, []
    for row in rows:
        try:
            sender.send(build_message(row, from_address))
        except Exception as exc:  # a broken address or server must not stop the others
            errors.append(f"e-mail {row.id} to {row.to_address}: {type(exc).__name__}: {exc}")
            log.warning("could not send %s", errors[-1])
            continue
        row.sent_at = now or utcnow()
        sent += 1
    s.flush()
    return Delivery(sent, len(errors), tuple(errors))
