"""The choices of the train run page's forms (SPEC §5): the operator's *Clone train* form
(package tag, target, slow train, type, automatic submission), the members' *Request long
train* form (dataset, target, wagons, type, automatic submission) and the targets a train may
be submitted to. Part of the train run overview, so its page and its JSON twin show the same."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core import permissions
from hyperloop.core.actor import Actor
from hyperloop.core.permissions import Action
from hyperloop.core.trains import long_train_types
from hyperloop.db.models import Dataset, PackageTag, Target, TrainRun
from hyperloop.enums import TrainState, TrainType

#: at most this many tags are offered (newest first; the train's own tag always)
MAX_TAGS = 50


def target_choices(s: Session) -> list[dict[str, Any]]:
    """Every target, by cores then name, as the forms list them."""
    return [
        {
            "id": t.id,
            "name": t.name,
            "cores": t.cores,
            "memory_limit_mb": t.memory_limit_mb,
            "label": f"{t.name} ({t.cores} cores, {t.memory_limit_mb} MB)",
        }
        for t in s.scalars(select(Target).order_by(Target.cores, Target.name))
    ]


def tag_choices(s: Session, current: PackageTag | None) -> list[dict[str, Any]]:
    """Available tags of the train's package, newest first, plus the train's own tag."""
    stmt = select(PackageTag).where(PackageTag.available.is_(True))
    if current is not None:
        stmt = stmt.where(PackageTag.name == current.name)
    tags = list(s.scalars(stmt.order_by(PackageTag.released_at.desc()).limit(MAX_TAGS)))
    if current is not None and current.id not in {t.id for t in tags}:
        tags.append(current)
    return [{"id": t.id, "label": t.label, "available": t.available} for t in tags]


def clone_form(
    s: Session, train: TrainRun, actor: Actor | None, targets: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """What the *Clone train* form offers an operator (None for anyone else): the wagons at
    their timestamps and the current dataset configuration, with these settings to change."""
    user = actor.user if actor else None
    if not permissions.can(user, Action.TRAIN_OPERATE, train):
        return None
    return {
        "url": f"/api/train-runs/{train.id}/clone",
        "tags": tag_choices(s, s.get(PackageTag, train.tag_id)),
        "targets": targets,
        "types": [t.value for t in TrainType],
        "current": {
            "tag_id": train.tag_id,
            "target_id": train.target_id,
            "train_type": train.train_type.value,
            "slow": train.slow,
            "auto_submit": train.auto_submit,
        },
    }


def long_train_form(
    s: Session, train: TrainRun, actor: Actor | None, targets: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """What the *Request long train* form offers a member of an analysis in a train done on
    a short dataset (None otherwise): the big dataset, targets, the wagons, the types."""
    user = actor.user if actor else None
    if train.state is not TrainState.DONE or user is None:
        return None
    short = s.get(Dataset, train.dataset_id)
    if short is None or short.parent_id is None:
        return None
    if not permissions.can(user, Action.REQUEST_LONG_TRAIN, train):
        return None
    big = s.get(Dataset, short.parent_id)
    return {
        "url": f"/api/train-runs/{train.id}/long-train",
        "short_dataset": {"id": short.id, "name": short.name},
        "datasets": [{"id": big.id, "name": big.name}] if big is not None else [],
        "targets": targets,
        "wagons": [
            {
                "wagon_id": w.get("wagon_id"),
                "name": w.get("name"),
                "analysis": w.get("analysis_name"),
                "derived": bool(w.get("derived_tables")),
            }
            for w in train.wagons_snapshot or []
        ],
        "types": [t.value for t in long_train_types(train.train_type)],
        "current": {
            "target_id": train.target_id,
            "train_type": train.train_type.value,
            "auto_submit": False,
        },
    }
