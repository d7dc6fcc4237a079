"""DPG runlists: maintained by DPG experts; changes notify users of datasets built on them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from hyperloop.core import history
from hyperloop.core.actor import Actor
from hyperloop.core.common import flush_or_conflict, get_or_404
from hyperloop.core.errors import Conflict, ValidationError
from hyperloop.core.notifications import dataset_user_ids, notify
from hyperloop.core.permissions import Action, require
from hyperloop.db.models import Dataset, Production, Runlist
from hyperloop.enums import DataType, NotificationKind

OBJECT = "runlist"
EDITABLE = ("name", "data_type", "anchor", "tag", "production", "runs", "description")


def runlist_state(rl: Runlist) -> dict[str, Any]:
    return {
        "name": rl.name,
        "data_type": rl.data_type.value,
        "anchor": rl.anchor,
        "tag": rl.tag,
        "production": rl.production,
        "runs": sorted(rl.runs),
        "description": rl.description,
    }


def _runs(runs: Iterable[Any]) -> list[int]:
    out = set()
    for r in runs:
        try:
            out.add(int(r))
        except (TypeError, ValueError):
            raise ValidationError(f"run number {r!r} is not an integer") from None
    return sorted(out)


def create_runlist(
    s: Session,
    actor: Actor,
    name: str,
    runs: Iterable[Any],
    *,
    data_type: DataType | str = DataType.DATA,
    anchor: str = "",
    tag: str = "",
    production: str = "",
    description: str = "",
) -> Runlist:
    require(actor, Action.RUNLIST_MANAGE)
    if not name.strip():
        raise ValidationError("a runlist needs a name")
    if s.scalars(select(Runlist.id).where(Runlist.name == name)).first() is not None:
        raise Conflict(f"runlist {name!r} already exists")
    rl = Runlist(
        name=name,
        runs=_runs(runs),
        data_type=DataType(data_type),
        anchor=anchor,
        tag=tag,
        production=production,
        description=description,
    )
    s.add(rl)
    flush_or_conflict(s, f"runlist {name!r} already exists", {"name": name})
    history.record(s, actor, OBJECT, rl.id, "create", runlist_state(rl), version=rl.version)
    s.flush()
    return rl


def edit_runlist(
    s: Session, actor: Actor, runlist_id: int, *, expected_version: int, **values: Any
) -> Runlist:
    require(actor, Action.RUNLIST_MANAGE)
    rl = get_or_404(s, Runlist, runlist_id, "runlist")
    if rl.version != expected_version:
        raise Conflict(
            f"runlist {rl.name!r} was changed since you loaded it",
            {"your_version": expected_version, "current_version": rl.version},
        )
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValidationError(f"cannot set runlist field(s) {sorted(unknown)}")
    before = runlist_state(rl)
    if "runs" in values:
        values["runs"] = _runs(values["runs"])
    if "data_type" in values:
        values["data_type"] = DataType(values["data_type"])
    for k, v in values.items():
        setattr(rl, k, v)
    if runlist_state(rl) == before:
        return rl
    try:
        s.flush()
    except StaleDataError:
        s.rollback()
        raise Conflict(f"runlist {runlist_id} was changed concurrently; reload") from None
    history.record(
        s, actor, OBJECT, rl.id, "update", runlist_state(rl), previous=before, version=rl.version
    )
    users: set[int] = set()
    for ds in s.scalars(
        select(Dataset)
        .join(Production, Production.dataset_id == Dataset.id)
        .where(Production.runlist_id == rl.id)
    ):
        users |= dataset_user_ids(s, ds.id)
    notify(s, users, NotificationKind.RUNLIST_UPDATED, f"DPG runlist {rl.name!r} was updated", rl)
    s.flush()
    return rl


def delete_runlist(s: Session, actor: Actor, runlist_id: int) -> None:
    require(actor, Action.RUNLIST_MANAGE)
    rl = get_or_404(s, Runlist, runlist_id, "runlist")
    used = s.scalars(select(Production.id).where(Production.runlist_id == rl.id)).first()
    if used is not None:
        raise Conflict(f"runlist {rl.name!r} is used by a dataset production")
    history.record(s, actor, OBJECT, rl.id, "delete", runlist_state(rl), version=rl.version)
    s.delete(rl)
    s.flush()
