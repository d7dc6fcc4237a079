"""The fair-usage policy of one train run (``core.policy``): its tier, the approvals it has,
whether the viewer may approve, and a pending submission at the dataset's next slot. One
data function for the train page's policy block and its JSON twin."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hyperloop.core import policy
from hyperloop.core.actor import Actor
from hyperloop.db.base import utcnow
from hyperloop.db.models import Dataset, TrainRun
from hyperloop.enums import ApprovalLevel


def train_policy(s: Session, train: TrainRun, actor: Actor | None) -> dict[str, Any]:
    found = policy.assess(s, train)
    ds = s.get(Dataset, train.dataset_id)
    user = actor.user if actor else None
    scheduled_only = ds is not None and policy.scheduled_only(s, ds)
    next_slot = (
        policy.next_submission_time(ds, utcnow())
        if ds is not None and ds.auto_compose and scheduled_only
        else None
    )
    return {
        **found.to_json(),
        "can_approve": train.state in policy.APPROVABLE
        and not found.approved
        and found.level is not ApprovalLevel.NONE
        and policy.can_approve(user, train, found.level),
        "scheduled_only": scheduled_only,
        "scheduled_only_above_tb": policy.SCHEDULED_ONLY_ABOVE_TB,
        "submit_requested_at": train.submit_requested_at,
        "next_submission_at": next_slot,
    }
