"""Datasets, productions, file catalogue, mergelists, staging and DPG runlists."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hyperloop.db.base import Base, JSONType, enum_column, utcnow
from hyperloop.enums import AutoComposeType, DataType, ProductionKind, StagingAction


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    data_type: Mapped[DataType] = mapped_column(enum_column(DataType), default=DataType.DATA)
    collision_system: Mapped[str] = mapped_column(String(32), default="")
    anchor: Mapped[str] = mapped_column(String(64), default="")
    period: Mapped[str] = mapped_column(String(64), default="")
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), default=None, index=True
    )
    final_merge_all_runs: Mapped[bool] = mapped_column(Boolean, default=True)
    # resource limits (from the size class, editable per dataset)
    size_class: Mapped[str] = mapped_column(String(32), default="")
    cpu_limit_hours: Mapped[float | None] = mapped_column(Float, default=None)
    slots_per_week: Mapped[int] = mapped_column(Integer, default=4)
    auto_submission_slots: Mapped[int] = mapped_column(Integer, default=0)
    # automatic composition
    auto_compose: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_compose_type: Mapped[AutoComposeType] = mapped_column(
        enum_column(AutoComposeType), default=AutoComposeType.SCHEDULED
    )
    auto_compose_days: Mapped[list[int]] = mapped_column(JSONType, default=list)
    auto_compose_times: Mapped[list[str]] = mapped_column(JSONType, default=list)
    auto_compose_max_cpu_hours: Mapped[float | None] = mapped_column(Float, default=None)
    auto_compose_max_trains_per_week: Mapped[int | None] = mapped_column(Integer, default=None)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"version_id_col": version}

    productions: Mapped[list[Production]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", order_by="Production.id"
    )
    mergelists: Mapped[list[Mergelist]] = relationship(
        cascade="all, delete-orphan", order_by="Mergelist.id"
    )
    final_mergelists: Mapped[list[FinalMergelist]] = relationship(
        cascade="all, delete-orphan", order_by="FinalMergelist.id"
    )
    short_datasets: Mapped[list[Dataset]] = relationship(
        cascade="all, delete-orphan", order_by="Dataset.id"
    )

    def __repr__(self) -> str:
        return f"Dataset({self.name!r})"


class Production(Base):
    __tablename__ = "productions"
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[ProductionKind] = mapped_column(enum_column(ProductionKind))
    runlist_id: Mapped[int | None] = mapped_column(ForeignKey("runlists.id"), default=None)
    train_run_id: Mapped[int | None] = mapped_column(ForeignKey("train_runs.id"), default=None)
    excluded_runs: Mapped[list[int]] = mapped_column(JSONType, default=list)

    dataset: Mapped[Dataset] = relationship(back_populates="productions")


class DatasetFile(Base):
    """One AO2D file of the catalogue of a production."""

    __tablename__ = "dataset_files"
    __table_args__ = (
        UniqueConstraint("production_id", "path"),
        Index("ix_dataset_files_production_run", "production_id", "run_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    production_id: Mapped[int] = mapped_column(ForeignKey("productions.id", ondelete="CASCADE"))
    run_number: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    n_dataframes: Mapped[int | None] = mapped_column(Integer, default=None)


class Mergelist(Base):
    __tablename__ = "mergelists"
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    runs: Mapped[list[int]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class FinalMergelist(Base):
    """Combines mergelists (by name) across productions into one final output."""

    __tablename__ = "final_mergelists"
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    mergelists: Mapped[list[str]] = mapped_column(JSONType, default=list)


class StagingTransfer(Base):
    __tablename__ = "staging_transfers"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    target: Mapped[str] = mapped_column(String(128))
    action: Mapped[StagingAction] = mapped_column(enum_column(StagingAction))
    state: Mapped[str] = mapped_column(String(32), default="requested")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # carried out by the scheduler (hyperloop.scheduler.staging): where the copies go, how
    # far it is, why it failed; an operator's confirmation of a big transfer
    location: Mapped[str | None] = mapped_column(Text, default=None)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    files_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    files_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    confirmed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class Runlist(Base):
    """A DPG runlist: run numbers for a data type, anchor, reconstruction tag, production."""

    __tablename__ = "runlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    data_type: Mapped[DataType] = mapped_column(enum_column(DataType), default=DataType.DATA)
    anchor: Mapped[str] = mapped_column(String(64), default="")
    tag: Mapped[str] = mapped_column(String(64), default="")
    production: Mapped[str] = mapped_column(String(128), default="")
    runs: Mapped[list[int]] = mapped_column(JSONType, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"version_id_col": version}
