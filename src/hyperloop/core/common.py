"""Small helpers shared by the services: fetch-or-404, name rules."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from hyperloop.core.errors import NotFound, ValidationError

M = TypeVar("M")
NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")


def get_or_404(s: Session, model: type[M], obj_id: Any, what: str | None = None) -> M:
    obj = s.get(model, obj_id)
    if obj is None:
        raise NotFound(f"{what or model.__name__} {obj_id} not found")
    return obj


def check_name(name: str, what: str) -> str:
    """Alphanumeric/underscore names (wagons, subwagons): refuse anything else clearly."""
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 64:
        raise ValidationError(
            f"{what} name {name!r} is invalid: use letters, digits and '_' only (max 64)",
            {"field": "name", "value": name},
        )
    return name


def flush_or_conflict(s: Session, message: str, details: dict[str, Any] | None = None) -> None:
    """Flush; a unique constraint hit by a concurrent transaction becomes ``Conflict``
    (the session is rolled back, as the failed flush left it unusable)."""
    from sqlalchemy.exc import IntegrityError

    from hyperloop.core.errors import Conflict

    try:
        s.flush()
    except IntegrityError:
        s.rollback()
        raise Conflict(message, details) from None


def dependency_closure(wagon: Any) -> list[Any]:
    """Every wagon ``wagon`` depends on, directly or through others, ordered by id."""
    out: dict[int, Any] = {}
    todo = list(wagon.dependencies)
    while todo:
        dep = todo.pop()
        if dep.id not in out:
            out[dep.id] = dep
            todo.extend(dep.dependencies)
    return [out[k] for k in sorted(out)]
