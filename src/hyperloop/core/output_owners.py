"""Which train run or wagon test an output file belongs to, from the scheduler's layout of
its work folder: ``trains/<id>/`` (jobs and merges of a train run), ``tests/train-test-<id>/``
(its test) and ``tests/wagon-test-<id>/``. The output browser serves a file only when it
lies in such a folder and the user may read the object it belongs to, so the rest of the
data folder (the database, accounts, demo data, package tags) is never served.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core import permissions
from hyperloop.core.actor import Actor
from hyperloop.core.permissions import Action
from hyperloop.db.models import TrainRun, Wagon, WagonTest

#: the folders of the work folder that hold outputs (owners are their children)
OUTPUT_FOLDERS = ("trains", "tests")
_TEST_FOLDER = re.compile(r"^(wagon|train)-test-([1-9][0-9]{0,9})$")
_ID = re.compile(r"^[1-9][0-9]{0,9}$")


@dataclass(frozen=True)
class OutputOwner:
    """The object an output folder belongs to: a train run (its jobs, merges and test) or
    a wagon test; ``folder`` is that object's top folder."""

    kind: Literal["train_run", "wagon_test"]
    id: int
    folder: Path

    @property
    def label(self) -> str:
        return f"{self.kind.replace('_', ' ')} {self.id}"


def owner_of(work: Path, path: Path) -> OutputOwner | None:
    """The owner of ``path`` (resolved, absolute) under the resolved work folder ``work``;
    None when it is not inside an object's folder."""
    try:
        parts = path.relative_to(work).parts
    except ValueError:
        return None
    if len(parts) < 2:
        return None
    folder = work / parts[0] / parts[1]
    if parts[0] == "trains" and _ID.match(parts[1]):
        return OutputOwner("train_run", int(parts[1]), folder)
    if parts[0] == "tests":
        m = _TEST_FOLDER.match(parts[1])
        if m:
            kind = "wagon_test" if m.group(1) == "wagon" else "train_run"
            return OutputOwner(kind, int(m.group(2)), folder)
    return None


def is_waypoint(work: Path, path: Path) -> bool:
    """A folder on the way to the owners' folders (the work folder, its ``trains`` and
    ``tests``, or one of their parents): shown, but listing only the way on."""
    targets = [work / name for name in OUTPUT_FOLDERS]
    return any(path == t or path in t.parents for t in targets)


def _objects(s: Session, owners: Iterable[OutputOwner]) -> dict[tuple[str, int], object]:
    owners = list(owners)
    out: dict[tuple[str, int], object] = {}
    train_ids = {o.id for o in owners if o.kind == "train_run"}
    test_ids = {o.id for o in owners if o.kind == "wagon_test"}
    if train_ids:
        for t in s.scalars(select(TrainRun).where(TrainRun.id.in_(train_ids))):
            out[("train_run", t.id)] = t
    if test_ids:
        for w in s.scalars(select(WagonTest).where(WagonTest.id.in_(test_ids))):
            out[("wagon_test", w.id)] = w
    return out


def _page_object(s: Session, obj: object) -> object:
    """What the object's page checks READ on (a wagon test's page is its wagon's)."""
    return s.get(Wagon, obj.wagon_id) if isinstance(obj, WagonTest) else obj


def readable(s: Session, actor: Actor | None, owners: Iterable[OutputOwner]) -> set[OutputOwner]:
    """The owners that exist and whose page ``actor`` may read."""
    owners = list(owners)
    objects = _objects(s, owners)
    user = actor.user if actor else None
    return {
        o
        for o in owners
        if (o.kind, o.id) in objects
        and permissions.can(user, Action.READ, _page_object(s, objects[(o.kind, o.id)]))
    }


def require_readable(s: Session, actor: Actor, owner: OutputOwner) -> None:
    """Raise NotFound when the owner does not exist, PermissionDenied when ``actor`` may
    not read its page."""
    from hyperloop.core.errors import NotFound

    obj = _objects(s, [owner]).get((owner.kind, owner.id))
    if obj is None:
        raise NotFound(f"{owner.label} does not exist: its outputs are not served")
    permissions.require(actor, Action.READ, _page_object(s, obj))
