"""All ORM models; import them from here so every table is registered on ``Base.metadata``."""

from hyperloop.db.base import Base
from hyperloop.db.models.accounts import (
    Analysis,
    AnalysisDataset,
    AnalysisMember,
    ApiToken,
    User,
)
from hyperloop.db.models.changes import ChangeCounter
from hyperloop.db.models.dashboard import DashboardAnalysisDay, DashboardDay, DashboardJobDay
from hyperloop.db.models.datasets import (
    Dataset,
    DatasetFile,
    FinalMergelist,
    Mergelist,
    Production,
    Runlist,
    StagingTransfer,
)
from hyperloop.db.models.events import (
    EmailOutbox,
    HistoryEntry,
    Notification,
    StoryJobMoves,
    Transition,
)
from hyperloop.db.models.scheduler import SchedulerLease
from hyperloop.db.models.sessions import LoginFailures, LoginSession
from hyperloop.db.models.tags import PackageTag, PullRequest, Target
from hyperloop.db.models.trains import (
    Job,
    TrainApproval,
    TrainComment,
    TrainMerge,
    TrainRun,
    train_run_wagons,
)
from hyperloop.db.models.wagons import Wagon, WagonDataset, WagonTest, wagon_dependencies

__all__ = [
    "Analysis",
    "AnalysisDataset",
    "AnalysisMember",
    "ApiToken",
    "Base",
    "ChangeCounter",
    "DashboardAnalysisDay",
    "DashboardDay",
    "DashboardJobDay",
    "Dataset",
    "DatasetFile",
    "EmailOutbox",
    "FinalMergelist",
    "HistoryEntry",
    "Job",
    "LoginFailures",
    "LoginSession",
    "Mergelist",
    "Notification",
    "PackageTag",
    "Production",
    "PullRequest",
    "Runlist",
    "SchedulerLease",
    "StagingTransfer",
    "Target",
    "TrainApproval",
    "TrainComment",
    "TrainMerge",
    "TrainRun",
    "StoryJobMoves",
    "Transition",
    "User",
    "Wagon",
    "WagonDataset",
    "WagonTest",
    "train_run_wagons",
    "wagon_dependencies",
]
