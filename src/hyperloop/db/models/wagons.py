"""Wagons, their dependencies, enabling on datasets and wagon tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hyperloop.db.base import Base, JSONType, enum_column, utcnow
from hyperloop.db.models.accounts import Analysis
from hyperloop.enums import TagPolicy, TestStatus, TrainType

wagon_dependencies = Table(
    "wagon_dependencies",
    Base.metadata,
    Column("wagon_id", ForeignKey("wagons.id", ondelete="CASCADE"), primary_key=True),
    Column("depends_on_id", ForeignKey("wagons.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_wagon_dependencies_depends_on", "depends_on_id"),
)


class Wagon(Base):
    __tablename__ = "wagons"
    __table_args__ = (UniqueConstraint("analysis_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analyses.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    workflow: Mapped[str] = mapped_column(String(128))
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("package_tags.id"), default=None)
    base_config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    subwagons: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    derived_tables: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # parameters the user added by hand ({task: {name: value}}) that the tag's introspection
    # does not declare (None: none); they go to the full configuration with the base values
    added_parameters: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    # configured on the workflows of this pull request (``pull_requests.id``) rather than
    # of its tag, until a sync to a tag containing it (None: configured on the tag)
    pull_request_id: Mapped[int | None] = mapped_column(Integer, default=None)
    slim_ready: Mapped[bool] = mapped_column(Boolean, default=False)
    max_df_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    max_derived_file_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}

    analysis: Mapped[Analysis] = relationship()
    dependencies: Mapped[list[Wagon]] = relationship(
        secondary=wagon_dependencies,
        primaryjoin=lambda: Wagon.id == wagon_dependencies.c.wagon_id,
        secondaryjoin=lambda: Wagon.id == wagon_dependencies.c.depends_on_id,
        order_by=lambda: Wagon.id,
    )
    enablings: Mapped[list[WagonDataset]] = relationship(
        back_populates="wagon", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Wagon({self.id}, {self.name!r})"


class WagonDataset(Base):
    """A wagon enabled on a dataset, with the package tag policy it runs with."""

    __tablename__ = "wagon_datasets"
    __table_args__ = (
        UniqueConstraint("wagon_id", "dataset_id"),
        Index("ix_wagon_datasets_dataset", "dataset_id", "enabled"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wagon_id: Mapped[int] = mapped_column(ForeignKey("wagons.id", ondelete="CASCADE"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    tag_policy: Mapped[TagPolicy] = mapped_column(enum_column(TagPolicy))
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("package_tags.id"), default=None)
    pull_request: Mapped[str | None] = mapped_column(String(64), default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    enabled_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # derived-data wagons scheduled by an operator for the next automatic composition slot
    scheduled: Mapped[bool] = mapped_column(Boolean, default=False)
    scheduled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    # what the scheduled wagon's automatic train is: its derived type (None: standard), slow
    # train, automatic submission after a done test
    scheduled_type: Mapped[TrainType | None] = mapped_column(
        enum_column(TrainType), nullable=True, default=None
    )
    scheduled_slow: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    scheduled_auto_submit: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    wagon: Mapped[Wagon] = relationship(back_populates="enablings")


class WagonTest(Base):
    __tablename__ = "wagon_tests"
    __table_args__ = (
        Index("ix_wagon_tests_wagon_dataset", "wagon_id", "dataset_id"),
        Index("ix_wagon_tests_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wagon_id: Mapped[int] = mapped_column(ForeignKey("wagons.id", ondelete="CASCADE"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("package_tags.id"), default=None)
    status: Mapped[TestStatus] = mapped_column(enum_column(TestStatus), default=TestStatus.QUEUED)
    config_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    output_dir: Mapped[str | None] = mapped_column(Text, default=None)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
