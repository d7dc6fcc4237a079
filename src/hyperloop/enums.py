"""Enumerations of the domain: roles, policies, life-cycle states, notification kinds.

Stored in the database by value (plain strings), so they read the same on SQLite and
PostgreSQL and adding a member needs no schema change.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Global roles (analysis membership is separate, see ``AnalysisMember``)."""

    ADMIN = "admin"
    OPERATOR = "operator"
    DPG_EXPERT = "dpg_expert"
    PWG_CONVENER = "pwg_convener"
    ANALYSIS_COORDINATOR = "analysis_coordinator"  # approves trains of 20-200 CPU years
    PHYSICS_BOARD = "physics_board"  # approves trains over 200 CPU years


class ApprovalLevel(StrEnum):
    """Who must approve a train before it is submitted (the fair-usage policy's tiers, from
    the lowest to the highest; ``core.policy`` decides the tier of a train)."""

    NONE = "none"
    PWG = "pwg"  # the PWG conveners of the train's analyses
    COORDINATION = "coordination"  # analysis and physics coordination
    PHYSICS_BOARD = "physics_board"


class EmailPolicy(StrEnum):
    """Who gets an e-mail when a wagon test of the analysis fails."""

    NONE = "none"
    ALL = "all"
    ENABLER = "enabler"


class TagPolicy(StrEnum):
    """Which package tag a wagon enabled on a dataset runs with."""

    FIXED = "fixed"
    LATEST = "latest"
    PULL_REQUEST = "pull_request"


class TestStatus(StrEnum):
    """Wagon test (and train test) status."""

    __test__ = False  # not a pytest test class

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    WARNING = "warning"
    FAILED = "failed"


class DataType(StrEnum):
    DATA = "data"
    MC = "mc"
    DERIVED = "derived"
    RUN2 = "run2"


class ProductionKind(StrEnum):
    RUNLIST = "runlist"
    DERIVED_TRAIN = "derived_train"
    RUN2_CONVERSION = "run2_conversion"


class AutoComposeType(StrEnum):
    SCHEDULED = "scheduled"
    TRAIN_FULL = "train_full"
    BOTH = "both"


class TrainType(StrEnum):
    ANALYSIS = "analysis"
    STANDARD_DERIVED = "standard_derived"
    LINKED_DERIVED = "linked_derived"
    SLIM_DERIVED = "slim_derived"


class TrainState(StrEnum):
    """Train run life cycle (SPEC §3)."""

    COMPOSED = "composed"
    TESTING = "testing"
    TEST_DONE = "test_done"
    TEST_WARNING = "test_warning"
    TEST_FAILED = "test_failed"
    LONG_TRAIN_REQUESTED = "long_train_requested"
    LONG_TRAIN_APPROVED = "long_train_approved"
    SUBMITTED = "submitted"
    RUNNING = "running"
    MERGING = "merging"
    DONE = "done"
    KILLED = "killed"
    CLOSED = "closed"
    DECOMPOSED = "decomposed"


class JobState(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    EXECUTION_ERROR = "execution_error"
    VALIDATION_ERROR = "validation_error"
    EXPIRED = "expired"
    LOST = "lost"


class StagingAction(StrEnum):
    STAGE = "stage"
    UNSTAGE = "unstage"


class NotificationKind(StrEnum):
    """Every notification kind of SPEC §6."""

    DATASET_CHANGED = "dataset_changed"
    DATASET_ACTIVATED = "dataset_activated"
    DATASET_DEACTIVATED = "dataset_deactivated"
    PRODUCTION_ADDED = "production_added"
    PRODUCTION_REMOVED = "production_removed"
    RUNLIST_UPDATED = "runlist_updated"
    MERGELIST_UPDATED = "mergelist_updated"
    WAGON_DISABLED = "wagon_disabled"
    INCONSISTENT_PARAMETERS = "inconsistent_parameters"
    TEST_FAILED = "test_failed"
    # life cycles the scheduler advances (issue 5)
    TEST_WARNING = "test_warning"
    TRAIN_COMPOSED = "train_composed"
    TRAIN_TEST_FAILED = "train_test_failed"
    TRAIN_TEST_WARNING = "train_test_warning"
    TRAIN_DONE = "train_done"
    TRAIN_ISSUES = "train_issues"
    LONG_TRAIN_APPROVED = "long_train_approved"
    LONG_TRAIN_REJECTED = "long_train_rejected"
    LONG_TRAIN_EXPIRED = "long_train_expired"
    PULL_REQUEST_AVAILABLE = "pull_request_available"
    # issue 17: staging, short datasets, production folders
    DATASET_STAGED = "dataset_staged"
    DATASET_UNSTAGED = "dataset_unstaged"
    STAGING_FAILED = "staging_failed"
    STAGING_CONFIRMATION = "staging_confirmation"
    SHORT_DATASET_ADDED = "short_dataset_added"
    SHORT_DATASET_REMOVED = "short_dataset_removed"
    PRODUCTION_DIR_NOT_FOUND = "production_dir_not_found"
