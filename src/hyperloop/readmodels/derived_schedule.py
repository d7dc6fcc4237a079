"""Derived-data scheduling on Train Submission (SPEC §5): per dataset the enabled wagons with
derived data, whether an operator scheduled them for the next automatic composition and with
which train settings (type, slow train, automatic submission), and when that composition
runs. Part of the Train Submission data, so its page and its JSON twin show the same."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core import permissions
from hyperloop.core.actor import Actor
from hyperloop.core.enabling import SCHEDULE_TYPES
from hyperloop.core.permissions import Action
from hyperloop.db.models import Analysis, Dataset, User, Wagon, WagonDataset, WagonTest
from hyperloop.enums import AutoComposeType, TrainType

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def composition_of(ds: Dataset) -> dict[str, Any]:
    """When the dataset's automatic composition takes scheduled wagons (None: never)."""
    if not ds.auto_compose:
        when = None
    elif ds.auto_compose_type is AutoComposeType.TRAIN_FULL:
        when = "at the scheduler's next step (the dataset composes when trains are full)"
    else:
        days = ", ".join(DAYS[d] for d in sorted(ds.auto_compose_days or []) if 0 <= d < 7)
        times = ", ".join(sorted(ds.auto_compose_times or []))
        when = f"at the next slot: {days or 'no day'} at {times or 'no time'} UTC"
    return {"on": bool(ds.auto_compose) and ds.active, "when": when if ds.active else None}


def derived_schedule_view(s: Session, actor: Actor | None, ds: Dataset) -> dict[str, Any]:
    """The dataset's enabled derived-data wagons and their scheduling, with the choices an
    operator has (``can_schedule``) and when the automatic composition takes them."""
    user = actor.user if actor else None
    stmt = (
        select(WagonDataset, Wagon)
        .join(Wagon, Wagon.id == WagonDataset.wagon_id)
        .where(WagonDataset.dataset_id == ds.id, WagonDataset.enabled.is_(True))
        .order_by(Wagon.name, Wagon.id)
    )
    pairs = [(row, w) for row, w in s.execute(stmt).all() if w.derived_tables]
    ids = [w.id for _, w in pairs]
    analyses = dict(
        s.execute(
            select(Analysis.id, Analysis.name).where(
                Analysis.id.in_({w.analysis_id for _, w in pairs})
            )
        ).all()
    )
    by = {r.scheduled_by_id for r, _ in pairs if r.scheduled_by_id is not None}
    names = dict(s.execute(select(User.id, User.username).where(User.id.in_(by))).all())
    tests: dict[int, str] = {}
    for wid, status in s.execute(
        select(WagonTest.wagon_id, WagonTest.status)
        .where(
            WagonTest.dataset_id == ds.id,
            WagonTest.wagon_id.in_(ids),
            WagonTest.superseded.is_(False),
        )
        .order_by(WagonTest.id)
    ):
        tests[wid] = status.value
    return {
        "can_schedule": permissions.can(user, Action.WAGON_SCHEDULE),
        "composition": composition_of(ds),
        "types": [t.value for t in SCHEDULE_TYPES],
        "wagons": [
            {
                "wagon_id": w.id,
                "name": w.name,
                "analysis": analyses.get(w.analysis_id, str(w.analysis_id)),
                "slim_ready": bool(w.slim_ready),
                "test_status": tests.get(w.id),
                "scheduled": bool(row.scheduled),
                "train_type": (row.scheduled_type or TrainType.STANDARD_DERIVED).value,
                "slow": bool(row.scheduled_slow),
                "auto_submit": bool(row.scheduled_auto_submit),
                "scheduled_by": names.get(row.scheduled_by_id) if row.scheduled else None,
                "url": f"/api/wagons/{w.id}/datasets/{ds.id}/schedule",
            }
            for row, w in pairs
        ],
    }
