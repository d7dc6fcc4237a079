"""Response models shared by several routers (users, changes, history)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from hyperloop.db import models as m


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserOut(ORMModel):
    id: int
    username: str
    display_name: str
    email: str | None = None
    roles: list[str]
    convener_pwgs: list[str]
    active: bool


def user_out(user: m.User) -> UserOut:
    return UserOut.model_validate(user)


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
