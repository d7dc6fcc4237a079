"""Notifications, the e-mail outbox and the generic history of changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hyperloop.db.base import Base, JSONType, enum_column, utcnow
from hyperloop.enums import NotificationKind


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(enum_column(NotificationKind))
    message: Mapped[str] = mapped_column(Text)
    object_type: Mapped[str | None] = mapped_column(String(32), default=None)
    object_id: Mapped[int | None] = mapped_column(Integer, default=None)
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailOutbox(Base):
    """E-mails to send; a mailer (later) sends them and sets ``sent_at``."""

    __tablename__ = "email_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class HistoryEntry(Base):
    """Who changed what and when (both names under impersonation), with a full snapshot."""

    __tablename__ = "history"
    __table_args__ = (Index("ix_history_object", "object_type", "object_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int | None] = mapped_column(Integer, default=None)
    action: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    impersonator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")


class Transition(Base):
    """One state change of a job, wagon test or train run with its cause (``core.story``):
    the stimulus id and the kind of cause (``tick-1796580000`` + ``job-failed``, ``user`` +
    ``kill``), a sentence and the acting user.
    ``from_state`` is None when the object was created in ``to_state``; ``train_run_id``
    (jobs and train runs) lets a train's story count its jobs' moves."""

    __tablename__ = "transitions"
    __table_args__ = (
        Index("ix_transitions_object", "object_kind", "object_id", "id"),
        Index("ix_transitions_train_run", "train_run_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    object_kind: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[int] = mapped_column(Integer)
    train_run_id: Mapped[int | None] = mapped_column(Integer, default=None)
    from_state: Mapped[str | None] = mapped_column(String(32), default=None)
    to_state: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    stimulus: Mapped[str] = mapped_column(String(64))
    cause: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(Integer, default=None)


class StoryJobMoves(Base):
    """The moves of a train's jobs grouped by (from, to, cause), kept when the scheduler
    prunes the jobs' transitions (``core.story.prune``): how many, first and last time, one
    example sentence and the first pruned transition id (their order). ``jobs_summary``
    adds them to the moves still in ``transitions``: the train's summary stays the same."""

    __tablename__ = "story_job_moves"
    __table_args__ = (Index("ix_story_job_moves_train_run", "train_run_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    train_run_id: Mapped[int] = mapped_column(Integer)
    from_state: Mapped[str | None] = mapped_column(String(32), default=None)
    to_state: Mapped[str] = mapped_column(String(32))
    cause: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column()
    last_at: Mapped[datetime] = mapped_column()
    example: Mapped[str] = mapped_column(Text, default="")
    first_id: Mapped[int] = mapped_column(Integer)
