"""Pagination of API lists: ``limit``/``offset`` in, ``{items, total, limit, offset}`` out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hyperloop.web.errors import ApiError

T = TypeVar("T")
MAX_LIMIT = 10000  # the largest api_max_page_size allows; the setting may lower it


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams(BaseModel):
    limit: int
    offset: int


async def page_params(
    request: Request,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = None,
    offset: Annotated[int, Query(ge=0, le=2**31, description="Items to skip.")] = 0,
) -> PageParams:
    settings = request.app.state.settings
    if limit is None:
        limit = settings.api_page_size
    if limit > settings.api_max_page_size:
        raise ApiError(
            422,
            "validation_error",
            f"limit: at most {settings.api_max_page_size} items per page (got {limit})",
        )
    return PageParams(limit=limit, offset=offset)


Paging = Annotated[PageParams, Depends(page_params)]


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


def page_response(page: dict[str, Any], item: type[BaseModel]) -> Response:
    """A page of ``item`` models serialised once, for the busiest lists: FastAPI would dump
    every item and validate it again against the response_model (which still documents
    the shape)."""
    body = Page[item](**page).model_dump_json(by_alias=True)  # type: ignore[valid-type]
    return Response(body, media_type="application/json")


def paginate_list(items: Sequence[Any], paging: PageParams) -> dict[str, Any]:
    """Paginate an in-memory list (for small computed lists)."""
    return {
        "items": list(items[paging.offset : paging.offset + paging.limit]),
        "total": len(items),
        "limit": paging.limit,
        "offset": paging.offset,
    }
