"""One page of a list: ``limit``/``offset`` in, ``{items, total, limit, offset}`` out (the
API's ``Page`` shape; the API reads the parameters, pages pass their own)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams(BaseModel):
    limit: int
    offset: int


def paginate(
    db: Session, stmt: Select[Any], paging: PageParams, convert: Callable[[Any], Any]
) -> dict[str, Any]:
    """Run ``stmt`` for one page (and count the total) and convert each row."""
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = db.scalars(stmt.limit(paging.limit).offset(paging.offset)).all()
    return {
        "items": [convert(r) for r in rows],
        "total": total,
        "limit": paging.limit,
        "offset": paging.offset,
    }


def paginate_list(items: Sequence[Any], paging: PageParams) -> dict[str, Any]:
    """Paginate an in-memory list (for small computed lists)."""
    return {
        "items": list(items[paging.offset : paging.offset + paging.limit]),
        "total": len(items),
        "limit": paging.limit,
        "offset": paging.offset,
    }
