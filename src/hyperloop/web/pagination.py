"""Pagination of API lists: ``limit``/``offset`` in, ``{items, total, limit, offset}`` out
(the pages themselves are cut by :mod:`hyperloop.readmodels.paging`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel

from hyperloop.readmodels.paging import Page, PageParams
from hyperloop.web.errors import ApiError

MAX_LIMIT = 10000  # the largest api_max_page_size allows; the setting may lower it


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


def page_response(page: dict[str, Any], item: type[BaseModel]) -> Response:
    """A page of ``item`` models serialised once, for the busiest lists: FastAPI would dump
    every item and validate it again against the response_model (which still documents
    the shape)."""
    body = Page[item](**page).model_dump_json(by_alias=True)  # type: ignore[valid-type]
    return Response(body, media_type="application/json")
