"""Users, API tokens, analyses and membership."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hyperloop.db.base import Base, JSONType, enum_column, utcnow
from hyperloop.enums import EmailPolicy


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    email: Mapped[str | None] = mapped_column(String(255), default=None)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    roles: Mapped[list[str]] = mapped_column(JSONType, default=list)
    convener_pwgs: Mapped[list[str]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: remembered choices (``hyperloop.core.preferences``): Train Submission's last dataset
    #: and target, the guided tours the user dismissed
    preferences: Mapped[dict[str, Any] | None] = mapped_column(
        JSONType, default=dict, nullable=True
    )

    memberships: Mapped[list[AnalysisMember]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    def has_role(self, role: str) -> bool:
        return role in (self.roles or [])

    def __repr__(self) -> str:
        return f"User({self.username!r})"


class ApiToken(Base):
    """A personal API token; only its SHA-256 hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship()


class Analysis(Base):
    __tablename__ = "analyses"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    pwg: Mapped[str] = mapped_column(String(64), index=True)
    is_service: Mapped[bool] = mapped_column(Boolean, default=False)
    email_policy: Mapped[EmailPolicy] = mapped_column(
        enum_column(EmailPolicy), default=EmailPolicy.ALL
    )
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[AnalysisMember]] = relationship(
        back_populates="analysis", cascade="all, delete-orphan"
    )

    def member_ids(self) -> set[int]:
        return {m.user_id for m in self.members}

    def __repr__(self) -> str:
        return f"Analysis({self.name!r})"


class AnalysisMember(Base):
    """Membership plus the member's display preferences on My Analyses."""

    __tablename__ = "analysis_members"
    __table_args__ = (Index("ix_analysis_members_user", "user_id"),)

    analysis_id: Mapped[int] = mapped_column(
        ForeignKey("analyses.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    display_order: Mapped[int] = mapped_column(Integer, default=0)
    collapsed: Mapped[bool] = mapped_column(Boolean, default=False)

    analysis: Mapped[Analysis] = relationship(back_populates="members")
    user: Mapped[User] = relationship(back_populates="memberships")


class AnalysisDataset(Base):
    """A dataset added to an analysis (its wagons may then be enabled on it)."""

    __tablename__ = "analysis_datasets"
    __table_args__ = (UniqueConstraint("analysis_id", "dataset_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    analysis_id: Mapped[int] = mapped_column(
        ForeignKey("analyses.id", ondelete="CASCADE"), index=True
    )
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
