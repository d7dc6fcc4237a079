"""Response shapes shared by several read models and API routers (users)."""

from __future__ import annotations

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
