"""Who may do what (SPEC §1), in one place: ``can(user, action, obj)`` and ``require``.

What a role may do is listed in SPEC §1; anything a role's row does not name is for admins
("admin: everything"). So operators do not register package tags or create targets (no row
names them), and commenting on a train or requesting its long train belongs to the members
of an analysis with a wagon in it ("analyzer: ... request long trains, comment"; §5: "anyone
in the analysis may request a long train"), whatever their other roles. The permission
matrix of the API is ``tests/api/permission_matrix.py``.

Under impersonation the effective user's rights apply (the admin acts *as* that user);
services record both names in the history.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from hyperloop.core.actor import Actor
from hyperloop.core.errors import PermissionDenied
from hyperloop.db.models import Analysis, TrainRun, User, Wagon
from hyperloop.enums import Role


class Action(StrEnum):
    READ = "read"
    WAGON_CREATE = "wagon_create"  # obj: Analysis
    WAGON_EDIT = "wagon_edit"  # obj: Wagon
    WAGON_DELETE = "wagon_delete"  # obj: Wagon
    WAGON_CLONE = "wagon_clone"  # obj: target Analysis
    WAGON_ENABLE = "wagon_enable"  # obj: Wagon
    WAGON_SCHEDULE = "wagon_schedule"  # derived-data wagons for automatic composition
    ANALYSIS_EDIT = "analysis_edit"  # obj: Analysis (datasets, e-mail policy)
    REQUEST_LONG_TRAIN = "request_long_train"  # obj: TrainRun (the short one)
    COMMENT = "comment"  # obj: TrainRun
    APPROVE_LONG_TRAIN = "approve_long_train"  # obj: TrainRun
    TRAIN_OPERATE = "train_operate"  # compose, submit, kill, close, clone, decompose
    DATASET_MANAGE = "dataset_manage"
    RUNLIST_MANAGE = "runlist_manage"
    TAG_REGISTER = "tag_register"  # admins (the release job uses an admin's token)
    TARGET_MANAGE = "target_manage"  # admins
    ANALYSIS_MANAGE = "analysis_manage"  # create analyses, manage members
    USER_MANAGE = "user_manage"
    IMPERSONATE = "impersonate"


_OPERATOR_ACTIONS = frozenset(
    {
        Action.TRAIN_OPERATE,
        Action.DATASET_MANAGE,
        Action.WAGON_SCHEDULE,
        Action.APPROVE_LONG_TRAIN,  # SPEC §5: "PWG conveners (or operators/admins) approve"
    }
)
_MEMBER_ACTIONS = frozenset(
    {
        Action.WAGON_CREATE,
        Action.WAGON_EDIT,
        Action.WAGON_DELETE,
        Action.WAGON_CLONE,
        Action.WAGON_ENABLE,
        Action.ANALYSIS_EDIT,
        Action.REQUEST_LONG_TRAIN,
        Action.COMMENT,
    }
)


def is_member(user: User, analysis_id: int) -> bool:
    return any(m.analysis_id == analysis_id for m in user.memberships)


def train_analysis_ids(train: TrainRun) -> set[int]:
    """Analyses with wagons in a train (from its snapshot)."""
    return {int(w["analysis_id"]) for w in train.wagons_snapshot or [] if "analysis_id" in w}


def _analysis_ids(obj: Any) -> set[int]:
    if isinstance(obj, Analysis):
        return {obj.id}
    if isinstance(obj, Wagon):
        return {obj.analysis_id}
    if isinstance(obj, TrainRun):
        return train_analysis_ids(obj)
    return set()


def _pwgs(obj: Any) -> set[str]:
    if isinstance(obj, Analysis):
        return {obj.pwg}
    if isinstance(obj, TrainRun):
        return {str(w.get("pwg")) for w in obj.wagons_snapshot or [] if w.get("pwg")}
    return set()


def can(user: User | None, action: Action, obj: Any = None) -> bool:
    """The single policy function of SPEC §1 (``None`` = anonymous)."""
    if user is None or not user.active:
        return False
    if user.has_role(Role.ADMIN):
        return True
    if action is Action.READ:
        return True
    if action in _OPERATOR_ACTIONS and user.has_role(Role.OPERATOR):
        return True
    if action is Action.RUNLIST_MANAGE:
        return user.has_role(Role.DPG_EXPERT)
    if action is Action.APPROVE_LONG_TRAIN:
        pwgs = _pwgs(obj)
        return (
            user.has_role(Role.PWG_CONVENER)
            and bool(pwgs)
            and pwgs <= set(user.convener_pwgs or [])
        )
    if action in _MEMBER_ACTIONS:
        ids = _analysis_ids(obj)
        return bool(ids) and any(is_member(user, a) for a in ids)
    return False


def require(actor: Actor | None, action: Action, obj: Any = None) -> None:
    """Raise ``PermissionDenied`` (naming user, action and object) unless allowed."""
    user = actor.user if actor else None
    if not can(user, action, obj):
        who = actor.label if actor else "anonymous"
        what = f" on {obj!r}" if obj is not None else ""
        raise PermissionDenied(
            f"{who} may not {action.value}{what}",
            {"action": action.value, "user": user.username if user else None},
        )
