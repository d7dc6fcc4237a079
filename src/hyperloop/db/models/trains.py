"""Train runs (snapshots), their comments and their jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hyperloop.db.base import Base, JSONType, enum_column, utcnow
from hyperloop.db.models.datasets import Dataset
from hyperloop.db.models.tags import PackageTag, Target
from hyperloop.enums import JobState, TrainState, TrainType

train_run_wagons = Table(
    "train_run_wagons",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "train_run_id", ForeignKey("train_runs.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    # SET NULL: deleting a wagon later must not change what a train used (slots, history)
    Column("wagon_id", ForeignKey("wagons.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("analysis_id", ForeignKey("analyses.id", ondelete="CASCADE"), nullable=False),
    Column("heavy", Boolean, nullable=False, default=False),
    Index("ix_train_run_wagons_analysis", "analysis_id", "train_run_id"),
)


class TrainRun(Base):
    """A frozen train: wagons + configurations + dataset + tag at composition time."""

    __tablename__ = "train_runs"
    __table_args__ = (
        Index("ix_train_runs_dataset_state", "dataset_id", "state"),
        Index("ix_train_runs_state", "state"),
        Index("ix_train_runs_composed_at", "composed_at"),
        Index("ix_train_runs_dataset_composed", "dataset_id", "composed_at"),
        Index("ix_train_runs_finished_at", "finished_at"),  # dashboard intervals
        Index("ix_train_runs_submitted_at", "submitted_at"),
        # dashboard (0006): the interval's active / finished trains from the index alone
        # (on SQLite these columns sit behind the big snapshots, in overflow pages)
        Index("ix_train_runs_submitted_finished", "submitted_at", "finished_at"),
        Index("ix_train_runs_finished_state", "finished_at", "state", "submitted_at"),
        Index("ix_train_runs_increment_of", "increment_of_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    tag_id: Mapped[int] = mapped_column(ForeignKey("package_tags.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    train_type: Mapped[TrainType] = mapped_column(
        enum_column(TrainType), default=TrainType.ANALYSIS
    )
    auto_submit: Mapped[bool] = mapped_column(Boolean, default=False)
    slow: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[TrainState] = mapped_column(enum_column(TrainState), default=TrainState.COMPOSED)
    wagons_snapshot: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    dataset_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("train_runs.id"), default=None)
    composed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    composed_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    test_metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    test_warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # an operator's submission of a train on a dataset over the scheduled-only size (policy):
    # the scheduler submits it at the dataset's next automatic submission time
    submit_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    output_dir: Mapped[str | None] = mapped_column(Text, default=None)
    # an operator's "final merge now" (SPEC §3 trains with issues): the scheduler merges
    # the complete runs and lists the missing ones
    final_merge_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    final_merge_requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), default=None
    )
    # a derived-data output deleted (by an operator when unused, or slim output expired):
    # the train run and its history stay, its merged files are gone
    output_deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    output_deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    # an incremental train (0023): the same train run again on the runs its dataset gained
    # since ``increment_of_id`` finished; ``increment_runs`` are the runs it processes, its
    # final merge adds them to the per-run outputs of its lineage (None: not an increment)
    increment_of_id: Mapped[int | None] = mapped_column(ForeignKey("train_runs.id"), default=None)
    increment_runs: Mapped[list[int] | None] = mapped_column(JSONType, default=None)

    dataset: Mapped[Dataset] = relationship()
    tag: Mapped[PackageTag] = relationship()
    target: Mapped[Target] = relationship()
    comments: Mapped[list[TrainComment]] = relationship(
        cascade="all, delete-orphan", order_by="TrainComment.id"
    )

    def __repr__(self) -> str:
        return f"TrainRun({self.id}, {self.state.value})"


class TrainComment(Base):
    __tablename__ = "train_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    train_run_id: Mapped[int] = mapped_column(
        ForeignKey("train_runs.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainApproval(Base):
    """A fair-usage policy approval of a train run: which tier, who, when (``core.policy``)."""

    __tablename__ = "train_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    train_run_id: Mapped[int] = mapped_column(
        ForeignKey("train_runs.id", ondelete="CASCADE"), index=True
    )
    level: Mapped[str] = mapped_column(String(32))
    approved_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime] = mapped_column(default=utcnow)
    comment: Mapped[str] = mapped_column(Text, default="")


class Job(Base):
    """One grid job of a train run (files of one run, a "master job" group)."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_train_run_state", "train_run_id", "state"),
        Index("ix_jobs_train_run_run", "train_run_id", "run_number"),  # per-run merges
        Index("ix_jobs_train_run_updated", "train_run_id", "updated_at"),  # dashboard
        Index("ix_jobs_updated_at", "updated_at"),  # dashboard: jobs of a day (0006)
        Index("ix_jobs_state", "state"),
        Index("ix_jobs_change_seq", "change_seq"),  # the scheduler's incremental snapshot
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    train_run_id: Mapped[int] = mapped_column(
        ForeignKey("train_runs.id", ondelete="CASCADE"), index=True
    )
    run_number: Mapped[int] = mapped_column(Integer)
    files: Mapped[list[str]] = mapped_column(JSONType, default=list)
    n_files: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[JobState] = mapped_column(enum_column(JobState), default=JobState.WAITING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    site: Mapped[str | None] = mapped_column(String(128), default=None)
    # name of the target the current (or last) attempt runs on; None: the train's target
    target: Mapped[str | None] = mapped_column(String(64), default=None)
    cpu_s: Mapped[float] = mapped_column(Float, default=0.0)
    wall_s: Mapped[float] = mapped_column(Float, default=0.0)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    error_signature: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # set by database triggers on every insert and on every update of a column the
    # scheduler's snapshot reads (hyperloop.db.models.changes.JOB_WATCH); never by code
    change_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")


class TrainMerge(Base):
    """One finished merge of a train run (SPEC §3): per run, per mergelist, per final
    mergelist or the final merge over all runs. Written by the scheduler in the
    transaction that records the merge, read by the merging view and the trains-with-issues
    rules (the scheduler process's in-memory records are not visible to the web server)."""

    __tablename__ = "train_merges"
    __table_args__ = (
        UniqueConstraint("train_run_id", "stage", "name"),
        Index("ix_train_merges_train_stage", "train_run_id", "stage"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    train_run_id: Mapped[int] = mapped_column(ForeignKey("train_runs.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(16))  # run, mergelist, final_mergelist, final
    name: Mapped[str] = mapped_column(String(128))  # run number, list name, or "final"
    state: Mapped[str] = mapped_column(String(16), default="done")  # done or failed
    error: Mapped[str | None] = mapped_column(Text, default=None)
    outputs: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    runs_merged: Mapped[list[int]] = mapped_column(JSONType, default=list)
    runs_missing: Mapped[list[int]] = mapped_column(JSONType, default=list)
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)
