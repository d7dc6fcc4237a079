"""Response models shared by several routers (history, messages); the users' shape is
:mod:`hyperloop.readmodels.schemas`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel

from hyperloop.readmodels.schemas import ORMModel


class HistoryOut(ORMModel):
    id: int
    object_type: str
    object_id: int
    version: int | None
    action: str
    user_id: int | None
    impersonator_id: int | None
    at: datetime
    changes: dict[str, Any]
    reason: str


class Message(BaseModel):
    """A short confirmation."""

    message: str


HistoryAction = Annotated[
    str | None,
    Query(max_length=32, description="Only entries of this action (create/update/transition)."),
]


def history_page(db: Any, object_type: str, object_id: int, paging: Any, action: str | None):
    """One page of an object's history, oldest first, optionally of one action."""
    from hyperloop.core import history
    from hyperloop.readmodels.paging import paginate_list

    entries = [
        HistoryOut.model_validate(e)
        for e in history.entries(db, object_type, object_id)
        if action is None or e.action == action
    ]
    return paginate_list(entries, paging)
