"""Package tags (released, immutable analysis code) and execution targets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hyperloop.db.base import Base, JSONType, utcnow


class PackageTag(Base):
    __tablename__ = "package_tags"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    artifact: Mapped[str] = mapped_column(Text)
    introspection: Mapped[dict[str, Any]] = mapped_column(JSONType)
    pull_requests: Mapped[list[str]] = mapped_column(JSONType, default=list)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    released_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def __repr__(self) -> str:
        return f"PackageTag({self.label!r})"


class Target(Base):
    """Where and how a train runs: cores per job and memory limit."""

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    cores: Mapped[int] = mapped_column(Integer, default=1)
    memory_limit_mb: Mapped[int] = mapped_column(Integer, default=4000)
    engine: Mapped[str] = mapped_column(String(64), default="local")
    description: Mapped[str] = mapped_column(Text, default="")
