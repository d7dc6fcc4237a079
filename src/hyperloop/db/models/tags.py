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
    #: sha256 of the artifact folder's files when the tag was registered (None: not checked)
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    @property
    def tag(self) -> str:
        """The tag's name (``daily-2026-11-29``): its version among the package's tags."""
        return self.version

    @property
    def package_version(self) -> str:
        """The package version the tag was built from (``pyproject.toml``)."""
        pkg = (self.introspection or {}).get("package") or {}
        return str(pkg.get("version", ""))

    def __repr__(self) -> str:
        return f"PackageTag({self.label!r})"


class PullRequest(Base):
    """A pull request of a package's repository, open or merged, with the introspection of
    its source built by ``hyperloop package build`` (wagons can be configured on its
    workflows before any tag contains it)."""

    __tablename__ = "pull_requests"
    __table_args__ = (UniqueConstraint("package", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    package: Mapped[str] = mapped_column(String(128))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # "open" or "merged"
    introspection: Mapped[dict[str, Any]] = mapped_column(JSONType)
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def label(self) -> str:
        return f"{self.package} PR #{self.number}"

    def __repr__(self) -> str:
        return f"PullRequest({self.label!r})"


class Target(Base):
    """Where and how a train runs: cores per job and memory limit."""

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    cores: Mapped[int] = mapped_column(Integer, default=1)
    memory_limit_mb: Mapped[int] = mapped_column(Integer, default=4000)
    engine: Mapped[str] = mapped_column(String(64), default="local")
    description: Mapped[str] = mapped_column(Text, default="")
