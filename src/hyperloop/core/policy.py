"""The fair-usage policy of the original Hyperloop (its "Fair usage policy" page): who must
approve a train before it is submitted, from the dataset's size and the expected CPU time
of the train test.

* below 2 CPU years (or the dataset's own CPU limit) on a dataset up to 200 TB: free, no
  approval (trains over 2 CPU years on datasets under 30 TB are strongly discouraged);
* over 200 TB, or over the free CPU limit, up to 20 CPU years: the PWG conveners;
* 20 to 200 CPU years: analysis and physics coordination;
* over 200 CPU years: the Physics Board.

An approval by a higher tier counts for the lower ones. The system enforces it: an operator
cannot submit a train whose approval is missing, and an automatic submission is held (the
train waits for the approval and an operator). Manual submissions of trains on datasets over
50 TB are fulfilled only at the dataset's automatic submission times (``core.trains``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core import history
from hyperloop.core.actor import Actor
from hyperloop.core.common import get_or_404
from hyperloop.core.errors import Conflict, PermissionDenied
from hyperloop.db.models import Dataset, DatasetFile, Production, TrainApproval, TrainRun, User
from hyperloop.enums import ApprovalLevel, Role, TrainState

HOURS_PER_CPU_YEAR = 8766.0  # 365.25 days
FREE_CPU_YEARS = 2.0  # free below this (unless the dataset sets its own CPU limit)
PWG_CPU_YEARS = 20.0  # up to this: PWG conveners
COORDINATION_CPU_YEARS = 200.0  # up to this: analysis coordination; above: Physics Board
FREE_MAX_TB = 200.0  # bigger datasets need at least PWG approval
DISCOURAGED_BELOW_TB = 30.0  # over the free CPU on a dataset this small: strongly discouraged
SCHEDULED_ONLY_ABOVE_TB = 50.0  # manual submissions only at the automatic submission times

ORDER = (
    ApprovalLevel.NONE,
    ApprovalLevel.PWG,
    ApprovalLevel.COORDINATION,
    ApprovalLevel.PHYSICS_BOARD,
)
LABELS = {
    ApprovalLevel.NONE: "no approval",
    ApprovalLevel.PWG: "PWG conveners",
    ApprovalLevel.COORDINATION: "analysis coordination",
    ApprovalLevel.PHYSICS_BOARD: "Physics Board",
}
OBJECT = "train_run"


@dataclass(frozen=True)
class Assessment:
    """The policy tier of one train and the approvals it has."""

    train_id: int
    level: ApprovalLevel
    reason: str
    cpu_hours: float | None
    dataset_tb: float
    discouraged: bool
    approvals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def approved(self) -> bool:
        """Whether an approval of the needed tier (or a higher one) is recorded."""
        need = ORDER.index(self.level)
        return any(ORDER.index(ApprovalLevel(a["level"])) >= need for a in self.approvals)

    @property
    def satisfied(self) -> bool:
        return self.level is ApprovalLevel.NONE or self.approved

    def to_json(self) -> dict[str, Any]:
        return {
            "train_id": self.train_id,
            "level": self.level.value,
            "label": LABELS[self.level],
            "reason": self.reason,
            "cpu_hours": self.cpu_hours,
            "cpu_years": None if self.cpu_hours is None else self.cpu_hours / HOURS_PER_CPU_YEAR,
            "dataset_tb": self.dataset_tb,
            "discouraged": self.discouraged,
            "approvals": self.approvals,
            "approved": self.approved,
            "satisfied": self.satisfied,
        }


def required_level(
    cpu_hours: float | None, dataset_tb: float, cpu_limit_hours: float | None = None
) -> tuple[ApprovalLevel, str]:
    """The tier a train needs (and why) from its expected CPU hours and its dataset's size;
    ``cpu_limit_hours``: the dataset's own free CPU limit (its size class), if set."""
    years = None if cpu_hours is None else cpu_hours / HOURS_PER_CPU_YEAR
    free_hours = (
        cpu_limit_hours if cpu_limit_hours is not None else FREE_CPU_YEARS * HOURS_PER_CPU_YEAR
    )
    if years is not None and years > COORDINATION_CPU_YEARS:
        return ApprovalLevel.PHYSICS_BOARD, (
            f"expected CPU {years:.1f} CPU years is over {COORDINATION_CPU_YEARS:g}"
        )
    if years is not None and years > PWG_CPU_YEARS:
        return ApprovalLevel.COORDINATION, (
            f"expected CPU {years:.1f} CPU years is over {PWG_CPU_YEARS:g}"
        )
    if dataset_tb > FREE_MAX_TB:
        return ApprovalLevel.PWG, f"the dataset is {dataset_tb:.0f} TB (over {FREE_MAX_TB:g} TB)"
    if cpu_hours is not None and cpu_hours > free_hours:
        return ApprovalLevel.PWG, (
            f"expected CPU {cpu_hours:.0f} h is over the dataset's free limit {free_hours:.0f} h"
        )
    if cpu_hours is None:
        return ApprovalLevel.NONE, "no expected CPU time yet (the train test has not run)"
    return ApprovalLevel.NONE, f"expected CPU {cpu_hours:.0f} h is within the free limit"


def dataset_bytes(s: Session, dataset_id: int) -> int:
    """Bytes of the dataset's file catalogue (all its productions)."""
    from sqlalchemy import func

    return int(
        s.scalar(
            select(func.coalesce(func.sum(DatasetFile.size), 0))
            .join(Production, Production.id == DatasetFile.production_id)
            .where(Production.dataset_id == dataset_id)
        )
        or 0
    )


def _expected_cpu_hours(metrics: dict[str, Any]) -> float | None:
    if metrics.get("expected_cpu_hours") is not None:
        return float(metrics["expected_cpu_hours"])
    expected = metrics.get("expected") or {}
    if expected.get("cpu_seconds") is not None:
        return float(expected["cpu_seconds"]) / 3600.0
    return None


def approvals_of(s: Session, train_id: int) -> list[dict[str, Any]]:
    rows = s.execute(
        select(TrainApproval, User.username)
        .join(User, User.id == TrainApproval.approved_by_id)
        .where(TrainApproval.train_run_id == train_id)
        .order_by(TrainApproval.id)
    ).all()
    return [
        {
            "level": a.level,
            "label": LABELS[ApprovalLevel(a.level)],
            "approved_by": name,
            "approved_by_id": a.approved_by_id,
            "approved_at": a.approved_at,
            "comment": a.comment,
        }
        for a, name in rows
    ]


def assess(s: Session, train: TrainRun) -> Assessment:
    """The tier of ``train`` from its test's expected CPU and its dataset's size."""
    ds = get_or_404(s, Dataset, train.dataset_id, "dataset")
    tb = dataset_bytes(s, ds.id) / 1e12
    cpu = _expected_cpu_hours(train.test_metrics or {})
    level, reason = required_level(cpu, tb, ds.cpu_limit_hours)
    free = FREE_CPU_YEARS * HOURS_PER_CPU_YEAR
    discouraged = tb < DISCOURAGED_BELOW_TB and cpu is not None and cpu > free
    return Assessment(train.id, level, reason, cpu, tb, discouraged, approvals_of(s, train.id))


def levels_of(user: User | None, train: TrainRun) -> list[ApprovalLevel]:
    """The tiers ``user`` may approve for ``train`` (admins grant the roles; they do not
    approve by themselves)."""
    if user is None or not user.active:
        return []
    if user.has_role(Role.PHYSICS_BOARD):
        return list(ORDER[1:])
    if user.has_role(Role.ANALYSIS_COORDINATOR):
        return [ApprovalLevel.PWG, ApprovalLevel.COORDINATION]
    pwgs = {str(w.get("pwg")) for w in train.wagons_snapshot or [] if w.get("pwg")}
    if user.has_role(Role.PWG_CONVENER) and pwgs and pwgs <= set(user.convener_pwgs or []):
        return [ApprovalLevel.PWG]
    return []


def can_approve(user: User | None, train: TrainRun, level: ApprovalLevel) -> bool:
    return level is not ApprovalLevel.NONE and level in levels_of(user, train)


APPROVER_ROLES = (Role.PWG_CONVENER, Role.ANALYSIS_COORDINATOR, Role.PHYSICS_BOARD)

#: states in which a train may still be approved (before submission)
APPROVABLE = frozenset(
    {
        TrainState.COMPOSED,
        TrainState.TESTING,
        TrainState.TEST_DONE,
        TrainState.TEST_WARNING,
        TrainState.LONG_TRAIN_REQUESTED,
        TrainState.LONG_TRAIN_APPROVED,
    }
)


def approve(s: Session, actor: Actor, train_id: int, comment: str = "") -> TrainApproval:
    """Record the actor's approval of the tier the train needs (who, when, comment)."""
    train = get_or_404(s, TrainRun, train_id, "train run")
    if not any(actor.user.has_role(r) for r in APPROVER_ROLES) or not actor.user.active:
        raise PermissionDenied(
            f"{actor.label} may not approve trains (PWG conveners, analysis coordination and "
            "the Physics Board approve)",
            {"action": "policy_approve", "user": actor.user.username},
        )
    found = assess(s, train)
    if train.state not in APPROVABLE:
        raise Conflict(
            f"train run {train.id} is {train.state.value}: only a train not yet submitted "
            "can be approved",
            {"state": train.state.value},
        )
    if found.level is ApprovalLevel.NONE:
        raise Conflict(
            f"train run {train.id} needs no approval: {found.reason}",
            {"level": found.level.value},
        )
    if found.approved:
        raise Conflict(
            f"train run {train.id} is already approved by {LABELS[found.level]}",
            {"level": found.level.value},
        )
    if not can_approve(actor.user, train, found.level):
        raise PermissionDenied(
            f"{actor.label} may not approve train run {train.id}: it needs "
            f"{LABELS[found.level]} approval ({found.reason})",
            {"action": "policy_approve", "level": found.level.value},
        )
    row = TrainApproval(
        train_run_id=train.id,
        level=found.level.value,
        approved_by_id=actor.user.id,
        comment=comment.strip(),
    )
    s.add(row)
    s.flush()
    history.record(
        s,
        actor,
        OBJECT,
        train.id,
        "policy_approval",
        {"state": train.state.value, "approval": found.level.value},
        reason=f"approved by {LABELS[found.level]} ({actor.user.username}): {found.reason}"
        + (f"; {row.comment}" if row.comment else ""),
    )
    return row


def submission_refused(s: Session, train: TrainRun) -> str | None:
    """Why the policy forbids submitting the train now (a missing approval), or None."""
    found = assess(s, train)
    if found.satisfied:
        return None
    return (
        f"train run {train.id} needs {LABELS[found.level]} approval before it is submitted "
        f"({found.reason}); nobody of that tier approved it yet"
    )


def scheduled_only(s: Session, ds: Dataset) -> bool:
    """Whether manual submissions on the dataset wait for its automatic submission times."""
    return dataset_bytes(s, ds.id) / 1e12 > SCHEDULED_ONLY_ABOVE_TB


def next_submission_time(ds: Dataset, now: datetime) -> datetime | None:
    """The dataset's next automatic submission time (its composition schedule), or None."""
    from datetime import timedelta

    if not ds.auto_compose_days or not ds.auto_compose_times:
        return None
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(8):
        if day.weekday() in ds.auto_compose_days:
            for hhmm in sorted(ds.auto_compose_times):
                h, m = (int(x) for x in hhmm.split(":"))
                slot = day.replace(hour=h, minute=m)
                if slot > now:
                    return slot
        day += timedelta(days=1)
    return None
