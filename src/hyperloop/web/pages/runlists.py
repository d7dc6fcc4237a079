"""DPG runlist pages: ``/runlists`` (list, filters, create for DPG experts) and
``/runlist/{id}`` (runs, who made and changed it, datasets using it; edit/delete for DPG
experts). Fed by ``GET /api/runlists`` and ``GET /api/runlists/{id}/overview``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from hyperloop.core.errors import DomainError
from hyperloop.core.permissions import Action
from hyperloop.enums import DataType
from hyperloop.readmodels.dataset_pages import runlist_overview_data, runlists_list_data
from hyperloop.web.deps import DB, OptionalActor, runlist_for_reader
from hyperloop.web.errors import ApiError
from hyperloop.web.pages.datasets import Limit, Offset, can, error_page, failed, pager, paging
from hyperloop.web.pages.login import login_redirect
from hyperloop.web.pages.templating import render

router = APIRouter()


@router.get("/runlists", response_class=HTMLResponse, include_in_schema=False)
def runlists_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    name: Annotated[str | None, Query(max_length=128)] = None,
    data_type: Annotated[str | None, Query(max_length=16)] = None,
    anchor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit | None = None,
    offset: Offset = 0,
) -> Response:
    if actor is None:
        return login_redirect(request)
    try:
        dtype = DataType(data_type) if data_type else None
    except ValueError:
        return error_page(request, actor, db, 422, f"unknown data type {data_type!r}")
    page = runlists_list_data(
        db,
        actor,
        paging(request, limit, offset),
        name=name or None,
        data_type=dtype,
        anchor=anchor or None,
    )
    return render(
        request,
        "pages/runlists/list.html",
        {
            "page": page,
            "pager": pager(request, page),
            "filters": {"name": name or "", "data_type": data_type or "", "anchor": anchor or ""},
            "data_types": list(DataType),
            "can_manage": can(actor, Action.RUNLIST_MANAGE),
        },
        actor=actor,
        db=db,
        title="DPG runlists",
    )


@router.get("/runlist/{runlist_id}", response_class=HTMLResponse, include_in_schema=False)
def runlist_page(request: Request, runlist_id: int, actor: OptionalActor, db: DB) -> Response:
    if actor is None:
        return login_redirect(request)
    try:
        view = runlist_overview_data(db, runlist_for_reader(runlist_id, db, actor))
    except (DomainError, ApiError) as exc:
        return failed(request, actor, db, exc)
    return render(
        request,
        "pages/runlists/view.html",
        {
            "view": view,
            "rl": view.runlist,
            "data_types": list(DataType),
            "can_manage": can(actor, Action.RUNLIST_MANAGE),
        },
        actor=actor,
        db=db,
        title=f"DPG runlist {view.runlist.name}",
    )
