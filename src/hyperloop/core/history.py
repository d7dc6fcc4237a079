"""History of changes (who, impersonator, when, full snapshot, what changed) and diffs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.core.errors import NotFound
from hyperloop.db.models import HistoryEntry


@dataclass(frozen=True)
class Change:
    """One changed value: ``path`` like ``base_config.task.param``; ``None`` when absent."""

    path: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


_MISSING = object()


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value and not _is_leaf_dict(value):
        for key, sub in value.items():
            _flatten(sub, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def _is_leaf_dict(value: dict[str, Any]) -> bool:
    # O2 array/matrix values ({"values": [...]}) compare as one value
    return "values" in value


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every leaf that differs between two snapshots, sorted by path."""
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _flatten(old, "", a)
    _flatten(new, "", b)
    changes = []
    for path in sorted(set(a) | set(b)):
        va, vb = a.get(path, _MISSING), b.get(path, _MISSING)
        if va != vb:
            changes.append(
                Change(path, None if va is _MISSING else va, None if vb is _MISSING else vb)
            )
    return changes


def changes_dict(changes: list[Change]) -> dict[str, list[Any]]:
    return {c.path: [c.old, c.new] for c in changes}


def record(
    s: Session,
    actor: Actor | None,
    object_type: str,
    object_id: int,
    action: str,
    snapshot: dict[str, Any],
    *,
    previous: dict[str, Any] | None = None,
    version: int | None = None,
    reason: str = "",
) -> HistoryEntry:
    """Append one history entry; ``changes`` is computed against ``previous``."""
    changes = changes_dict(diff(previous or {}, snapshot)) if previous is not None else {}
    entry = HistoryEntry(
        object_type=object_type,
        object_id=object_id,
        version=version,
        action=action,
        user_id=actor.user.id if actor else None,
        impersonator_id=actor.impersonator.id if actor and actor.impersonator else None,
        snapshot=snapshot,
        changes=changes,
        reason=reason,
    )
    s.add(entry)
    return entry


def entries(s: Session, object_type: str, object_id: int) -> list[HistoryEntry]:
    """The history of one object, oldest first."""
    stmt = (
        select(HistoryEntry)
        .where(HistoryEntry.object_type == object_type, HistoryEntry.object_id == object_id)
        .order_by(HistoryEntry.id)
    )
    return list(s.scalars(stmt))


def state_at(s: Session, object_type: str, object_id: int, when: datetime) -> dict[str, Any]:
    """The snapshot of an object as it was at ``when`` (the last entry not after it)."""
    stmt = (
        select(HistoryEntry)
        .where(
            HistoryEntry.object_type == object_type,
            HistoryEntry.object_id == object_id,
            HistoryEntry.at <= when,
        )
        .order_by(HistoryEntry.id.desc())
        .limit(1)
    )
    entry = s.scalars(stmt).first()
    if entry is None:
        raise NotFound(f"{object_type} {object_id} did not exist at {when.isoformat()}")
    return dict(entry.snapshot)


def state_at_version(s: Session, object_type: str, object_id: int, version: int) -> dict[str, Any]:
    """The snapshot recorded when the object reached ``version``."""
    stmt = (
        select(HistoryEntry)
        .where(
            HistoryEntry.object_type == object_type,
            HistoryEntry.object_id == object_id,
            HistoryEntry.version == version,
        )
        .order_by(HistoryEntry.id.desc())
        .limit(1)
    )
    entry = s.scalars(stmt).first()
    if entry is None:
        raise NotFound(f"{object_type} {object_id} has no recorded version {version}")
    return dict(entry.snapshot)
