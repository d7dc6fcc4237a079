"""Derived-data outputs of train runs: where they are stored, which dataset productions
use them, deleting an unused one (SPEC §6, Derived data page) and expiring slim derived
outputs after their retention time (SPEC §2: slim derived data is deleted after a set time).

Deleting keeps the train run, its jobs and its history; only the merged files go, and the
run records who deleted them and when. An output a dataset production refers to is never
deleted: the production must be removed first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import fsspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core import history
from hyperloop.core.actor import Actor
from hyperloop.core.common import get_or_404
from hyperloop.core.errors import Conflict
from hyperloop.core.permissions import Action, require
from hyperloop.db.base import utcnow
from hyperloop.db.models import Dataset, Production, TrainRun
from hyperloop.enums import TrainState, TrainType

OBJECT = "train_run"  # history object type of train runs
DELETE_OUTPUT = "derived_output_delete"  # history action
DERIVED_TYPES = frozenset(
    {TrainType.STANDARD_DERIVED, TrainType.LINKED_DERIVED, TrainType.SLIM_DERIVED}
)
#: states in which a train's output no longer changes: only then may it be deleted
DELETABLE_STATES = frozenset({TrainState.DONE, TrainState.KILLED, TrainState.CLOSED})


def output_root(train: TrainRun) -> str | None:
    """The storage folder of a train's merged outputs. ``output_dir`` is that folder, or the
    final ``AnalysisResults.root`` inside its ``final/`` sub-folder when the train also
    produced histograms."""
    out = train.output_dir
    if not out:
        return None
    parts = out.rstrip("/").rsplit("/", 2)
    if len(parts) == 3 and parts[1] == "final" and parts[2].endswith(".root"):
        return parts[0]
    return out


def dependent_productions(s: Session, train_id: int) -> list[dict[str, Any]]:
    """The dataset productions built from a train's derived output (its users), with
    whether their dataset is active."""
    rows = s.execute(
        select(Production.id, Production.name, Dataset.id, Dataset.name, Dataset.active)
        .join(Dataset, Dataset.id == Production.dataset_id)
        .where(Production.train_run_id == train_id)
        .order_by(Dataset.name, Production.name)
    ).all()
    return [
        {
            "production_id": p,
            "production": pn,
            "dataset_id": d,
            "dataset_name": dn,
            "dataset_active": bool(active),
        }
        for p, pn, d, dn, active in rows
    ]


def _stored_bytes(fs: Any, path: str) -> int:
    """Bytes below a storage folder (or of one file)."""
    return int(fs.du(path)) if fs.isdir(path) else int(fs.size(path))


def _remove(root: str) -> int:
    """Delete a storage folder (fsspec URL or local path); the bytes it held. On a local
    folder the per-attempt derived files of the train's jobs (``../jobs``) go too; the
    attempts' logs and records stay for the job pages."""
    fs, path = fsspec.core.url_to_fs(root)
    freed = 0
    if fs.exists(path):
        freed = _stored_bytes(fs, path)
        fs.rm(path, recursive=True)
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    jobs = Path(path).parent / "jobs"
    if "file" in protocols and jobs.is_dir():
        for f in jobs.rglob("AO2D*.root"):
            freed += f.stat().st_size
            f.unlink()
    return freed


def _delete(s: Session, actor: Actor | None, train: TrainRun, reason: str) -> int:
    root = output_root(train)
    train.output_deleted_at = utcnow()
    train.output_deleted_by_id = actor.user.id if actor is not None else None
    history.record(
        s,
        actor,
        OBJECT,
        train.id,
        DELETE_OUTPUT,
        {"state": train.state.value, "output_deleted": True, "output_dir": train.output_dir},
        reason=reason,
    )
    s.flush()  # the record is written before the files go: a refused write deletes nothing
    return _remove(root) if root else 0


def delete_output(s: Session, actor: Actor, train_id: int, reason: str = "") -> dict[str, Any]:
    """An operator deletes the merged output of a finished derived-data train that no
    active dataset uses (as the original: productions of deactivated datasets do not keep
    it). Refused (409) for analysis trains, trains still running, outputs already deleted,
    and outputs a production of an active dataset refers to (naming them)."""
    require(actor, Action.DATASET_MANAGE)
    train = get_or_404(s, TrainRun, train_id, "train run")
    if train.train_type not in DERIVED_TYPES:
        raise Conflict(
            f"train run {train.id} is an analysis train: its output is not derived data",
            {"train_type": train.train_type.value},
        )
    if train.state not in DELETABLE_STATES:
        raise Conflict(
            f"train run {train.id} is {train.state.value}: its output can be deleted once the "
            "train is done, killed or closed",
            {"state": train.state.value},
        )
    if train.output_deleted_at is not None:
        raise Conflict(
            f"the output of train run {train.id} was already deleted at "
            f"{train.output_deleted_at.isoformat(timespec='seconds')}",
            {"output_deleted_at": train.output_deleted_at.isoformat()},
        )
    users = dependent_productions(s, train.id)
    active = [u for u in users if u["dataset_active"]]
    if active:
        names = ", ".join(f"{u['dataset_name']} ({u['production']})" for u in active)
        one = len(active) == 1
        raise Conflict(
            f"the output of train run {train.id} is used by the active "
            f"dataset{'' if one else 's'} {names}: deactivate "
            f"{'it' if one else 'them'} or remove {'that production' if one else 'those productions'} first",
            {"dependent_productions": users},
        )
    if not reason and users:
        names = ", ".join(f"{u['dataset_name']} ({u['production']})" for u in users)
        reason = f"derived output used only by inactive datasets deleted: {names}"
    freed = _delete(s, actor, train, reason or "unused derived output deleted")
    return {"train_run_id": train.id, "deleted_at": train.output_deleted_at, "bytes_freed": freed}


def expire_slim_outputs(s: Session, now: datetime, retention: timedelta) -> list[int]:
    """Delete the outputs of slim derived trains finished more than ``retention`` ago (the
    scheduler's daily clean-up); outputs a production uses are kept. The expired train ids."""
    used = select(Production.train_run_id).where(Production.train_run_id.is_not(None))
    trains = s.scalars(
        select(TrainRun).where(
            TrainRun.train_type == TrainType.SLIM_DERIVED,
            TrainRun.state.in_(DELETABLE_STATES),
            TrainRun.output_deleted_at.is_(None),
            TrainRun.finished_at.is_not(None),
            TrainRun.finished_at < now - retention,
            TrainRun.id.not_in(used),
        )
    ).all()
    days = retention / timedelta(days=1)
    for train in trains:
        _delete(s, None, train, f"slim derived output expired after {days:g} days")
    return [t.id for t in trains]


def size_of(train: TrainRun) -> int | None:
    """Bytes of a train's stored output (None when unknown or deleted)."""
    root = output_root(train)
    if not root or train.output_deleted_at is not None:
        return None
    try:
        fs, path = fsspec.core.url_to_fs(root)
        if not fs.exists(path):
            return None
        return _stored_bytes(fs, path)
    except (OSError, ValueError):
        return None


__all__ = [
    "DELETE_OUTPUT",
    "DERIVED_TYPES",
    "delete_output",
    "dependent_productions",
    "expire_slim_outputs",
    "output_root",
    "size_of",
]
