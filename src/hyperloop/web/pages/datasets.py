"""Dataset pages: ``/datasets`` (list), ``/dataset/{id}`` (view), ``/dataset/{id}/edit``
(operators), ``/derived-data`` and ``/staging-status`` (with an htmx-polled partial).

Every page is fed by the data function of its JSON endpoint (``web/api/datasets.py``);
actions are sent by ``static/js/dataset_forms.js`` to the JSON API, whose error message is
shown next to the control. Helpers at the top (paging, error page, pager) are shared with the
runlist, notification, profile and admin pages.
"""

from __future__ import annotations

import os
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from hyperloop.core import permissions
from hyperloop.core.actor import Actor
from hyperloop.core.datasets import SIZE_CLASSES
from hyperloop.core.errors import DomainError
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.enums import AutoComposeType, DataType, ProductionKind, StagingAction
from hyperloop.readmodels.analyses import analyses_list_data
from hyperloop.readmodels.dataset_pages import (
    dataset_overview_data,
    datasets_list_data,
    derived_list_data,
    runlists_list_data,
    staging_list_data,
)
from hyperloop.readmodels.datasets import DERIVED_GROUPS, DERIVED_USE
from hyperloop.readmodels.paging import PageParams
from hyperloop.readmodels.targets import targets_list_data
from hyperloop.web.deps import DB, OptionalActor
from hyperloop.web.errors import ApiError
from hyperloop.web.pages.login import login_redirect
from hyperloop.web.pages.templating import render

router = APIRouter()

PAGE_SIZE = 25
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, le=2**31, description="Items to skip.")]
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
OBJECT_PAGES = {
    "wagon": "/wagon/{}",
    "dataset": "/dataset/{}",
    "runlist": "/runlist/{}",
    "train_run": "/train-run/{}",
    "wagon_test": "/wagon-test/{}",
    "analysis": "/analysis/{}",
}


def paging(request: Request, limit: int | None, offset: int) -> PageParams:
    """Page parameters for a page (the API's cap applies)."""
    cap = request.app.state.settings.api_max_page_size
    return PageParams(limit=min(limit or PAGE_SIZE, cap), offset=offset)


def pager(request: Request, page: dict[str, Any] | Any, path: str | None = None) -> dict[str, Any]:
    """Previous/next links of a page of ``{items, total, limit, offset}`` keeping filters
    (``path`` replaces the request's path, e.g. for a partial that stands for its page)."""
    data = page if isinstance(page, dict) else page.model_dump()
    total, limit, offset = data["total"], data["limit"], data["offset"]
    url = request.url.replace(path=path) if path else request.url
    prev_url = url.include_query_params(offset=max(0, offset - limit)) if offset > 0 else None
    next_url = url.include_query_params(offset=offset + limit) if offset + limit < total else None
    shown = len(data["items"])
    return {
        "total": total,
        "first": offset + 1 if shown else 0,
        "last": offset + shown,
        "prev": str(prev_url) if prev_url else None,
        "next": str(next_url) if next_url else None,
    }


def error_page(
    request: Request, actor: Actor | None, db: Any, status: int, message: str
) -> HTMLResponse:
    """A readable HTML error (404 unknown object, 403 not allowed) inside the layout."""
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Invalid input"}
    return render(
        request,
        "pages/datasets/error.html",
        {"status": status, "message": message, "heading": titles.get(status, "Error")},
        actor=actor,
        db=db,
        title=titles.get(status, "Error"),
        status_code=status,
    )


def failed(request: Request, actor: Actor | None, db: Any, exc: Exception) -> HTMLResponse:
    if isinstance(exc, DomainError):
        return error_page(request, actor, db, exc.status, exc.message)
    if isinstance(exc, ApiError):
        return error_page(request, actor, db, exc.status, exc.message)
    raise exc


def can(actor: Actor, action: Action, obj: Any = None) -> bool:
    return permissions.can(actor.user, action, obj)


def _load_dataset(db: Any, actor: Actor, dataset_id: int) -> m.Dataset:
    from hyperloop.web.deps import dataset_for_reader

    return dataset_for_reader(dataset_id, db, actor)


# --- /datasets -------------------------------------------------------------------------------


@router.get("/datasets", response_class=HTMLResponse, include_in_schema=False)
def datasets_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    name: Annotated[str | None, Query(max_length=128)] = None,
    active: Annotated[str | None, Query(max_length=8)] = None,
    data_type: Annotated[str | None, Query(max_length=16)] = None,
    collision_system: Annotated[str | None, Query(max_length=32)] = None,
    period: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit | None = None,
    offset: Offset = 0,
) -> Response:
    if actor is None:
        return login_redirect(request)
    active_flag = {"yes": True, "no": False}.get(active or "")
    try:
        dtype = DataType(data_type) if data_type else None
    except ValueError:
        return error_page(request, actor, db, 422, f"unknown data type {data_type!r}")
    page = datasets_list_data(
        db,
        actor,
        paging(request, limit, offset),
        name=name or None,
        active=active_flag,
        data_type=dtype,
        collision_system=collision_system or None,
        period=period or None,
    )
    return render(
        request,
        "pages/datasets/list.html",
        {
            "page": page,
            "pager": pager(request, page),
            "filters": {
                "name": name or "",
                "active": active or "",
                "data_type": data_type or "",
                "collision_system": collision_system or "",
                "period": period or "",
            },
            "data_types": list(DataType),
            "can_manage": can(actor, Action.DATASET_MANAGE),
        },
        actor=actor,
        db=db,
        title="Datasets",
    )


# --- /dataset/{id} ---------------------------------------------------------------------------


def _file_metadata(db: Any, view: Any) -> list[dict[str, Any]]:
    """The ``metaData`` of the first catalogue file of each production (data type, run,
    reconstruction pass, anchor production...); None where the server cannot read the file."""
    from sqlalchemy import select

    from hyperloop.analysis.frame import file_metadata

    out = []
    for p in view.productions:
        first = db.scalars(
            select(m.DatasetFile)
            .where(m.DatasetFile.production_id == p.id)
            .order_by(m.DatasetFile.run_number, m.DatasetFile.path)
            .limit(1)
        ).first()
        if first is None:
            continue
        readable = "://" not in first.path and os.path.isfile(first.path)
        meta = file_metadata(first.path) if readable else None
        out.append({"production": p.name, "path": first.path, "metadata": meta})
    return out


@router.get("/dataset/{dataset_id}", response_class=HTMLResponse, include_in_schema=False)
def dataset_page(request: Request, dataset_id: int, actor: OptionalActor, db: DB) -> Response:
    if actor is None:
        return login_redirect(request)
    try:
        dataset = _load_dataset(db, actor, dataset_id)
        view = dataset_overview_data(db, dataset)
    except (DomainError, ApiError) as exc:
        return failed(request, actor, db, exc)
    mine = analyses_list_data(db, actor, PageParams(limit=500, offset=0), mine=True)
    # members may add datasets to their analyses (SPEC §1): offer those without it
    added = {a.id for a in view.analyses}
    addable = [a for a in mine["items"] if a.id not in added]
    return render(
        request,
        "pages/datasets/view.html",
        {
            "view": view,
            "ds": view.dataset,
            "file_metadata": _file_metadata(db, view),
            "can_manage": can(actor, Action.DATASET_MANAGE),
            "addable_analyses": addable,
            "weekdays": WEEKDAYS,
        },
        actor=actor,
        db=db,
        title=f"Dataset {view.dataset.name}",
    )


@router.get("/dataset/{dataset_id}/edit", response_class=HTMLResponse, include_in_schema=False)
def dataset_edit_page(request: Request, dataset_id: int, actor: OptionalActor, db: DB) -> Response:
    if actor is None:
        return login_redirect(request)
    try:
        dataset = _load_dataset(db, actor, dataset_id)
        if not can(actor, Action.DATASET_MANAGE, dataset):
            return error_page(
                request,
                actor,
                db,
                403,
                f"{actor.user.username} may not edit datasets (train operators and admins may)",
            )
        view = dataset_overview_data(db, dataset)
    except (DomainError, ApiError) as exc:
        return failed(request, actor, db, exc)
    cap = request.app.state.settings.api_max_page_size
    runlists = runlists_list_data(db, actor, PageParams(limit=cap, offset=0))
    targets = targets_list_data(db, PageParams(limit=cap, offset=0))
    return render(
        request,
        "pages/datasets/edit.html",
        {
            "view": view,
            "ds": view.dataset,
            "runlists": runlists["items"],
            "targets": targets["items"],
            "data_types": list(DataType),
            "compose_types": list(AutoComposeType),
            "production_kinds": list(ProductionKind),
            "staging_actions": list(StagingAction),
            "size_classes": SIZE_CLASSES,
            "weekdays": WEEKDAYS,
        },
        actor=actor,
        db=db,
        title=f"Edit dataset {view.dataset.name}",
    )


# --- /derived-data ---------------------------------------------------------------------------


@router.get("/derived-data", response_class=HTMLResponse, include_in_schema=False)
def derived_data_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    dataset_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    pwg: Annotated[str | None, Query(max_length=64)] = None,
    unused: bool = False,
    used_by: Annotated[str | None, Query(max_length=16)] = None,
    group: Annotated[str, Query(max_length=16)] = "dataset",
    limit: Limit | None = None,
    offset: Offset = 0,
) -> Response:
    if actor is None:
        return login_redirect(request)
    if used_by and used_by not in DERIVED_USE:
        choices = ", ".join(DERIVED_USE)
        return error_page(request, actor, db, 422, f"used_by must be one of {choices}")
    if group not in DERIVED_GROUPS:
        choices = ", ".join(DERIVED_GROUPS)
        return error_page(request, actor, db, 422, f"group must be one of {choices}")
    page = derived_list_data(
        db,
        actor,
        paging(request, limit, offset),
        dataset_id=dataset_id,
        pwg=pwg or None,
        unused=unused,
        used_by=used_by or None,
        group=group,
    )
    items = {item.train_run_id: item for item in page.items}
    groups = [(g, [items[i] for i in g.train_run_ids]) for g in page.groups]
    can_manage = can(actor, Action.DATASET_MANAGE)
    datasets = []
    if can_manage:
        cap = request.app.state.settings.api_max_page_size
        datasets = datasets_list_data(db, actor, PageParams(limit=cap, offset=0))["items"]
    filters = {
        "dataset_id": dataset_id,
        "pwg": pwg or "",
        "unused": unused,
        "used_by": "unused" if unused else used_by or "",
    }
    query = {k: v for k, v in filters.items() if v and k != "unused"}
    return render(
        request,
        "pages/datasets/derived.html",
        {
            "page": page,
            "groups": groups,
            "group": group,
            "group_links": {
                g: "/derived-data?" + urlencode({**query, "group": g}) for g in DERIVED_GROUPS
            },
            "pager": pager(request, page),
            "filters": filters,
            "can_manage": can_manage,
            "datasets": datasets,
            "slim_retention_days": request.app.state.settings.slim_derived_retention_days,
        },
        actor=actor,
        db=db,
        title="Derived data",
    )


# --- /staging-status -------------------------------------------------------------------------


def _staging(
    request: Request,
    actor: Actor,
    db: Any,
    dataset_id: int | None,
    target: str | None,
    running: bool,
    limit: int | None,
    offset: int,
) -> dict[str, Any]:
    page = staging_list_data(
        db,
        actor,
        paging(request, limit, offset),
        dataset_id=dataset_id,
        target=target or None,
        running=running,
    )
    return {
        "page": page,
        "pager": pager(request, page, "/staging-status"),
        "filters": {"dataset_id": dataset_id, "target": target or "", "running": running},
        "query": request.url.query,
    }


@router.get("/staging-status", response_class=HTMLResponse, include_in_schema=False)
def staging_status_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    dataset_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    target: Annotated[str | None, Query(max_length=128)] = None,
    running: bool = False,
    limit: Limit | None = None,
    offset: Offset = 0,
) -> Response:
    if actor is None:
        return login_redirect(request)
    ctx = _staging(request, actor, db, dataset_id, target, running, limit, offset)
    return render(
        request, "pages/datasets/staging.html", ctx, actor=actor, db=db, title="Staging status"
    )


@router.get("/partials/datasets/staging", response_class=HTMLResponse, include_in_schema=False)
def staging_partial(
    request: Request,
    actor: OptionalActor,
    db: DB,
    dataset_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    target: Annotated[str | None, Query(max_length=128)] = None,
    running: bool = False,
    limit: Limit | None = None,
    offset: Offset = 0,
) -> Response:
    """The transfers table alone (htmx polls it every few seconds while transfers run)."""
    if actor is None:
        return HTMLResponse("", status_code=401)
    ctx = _staging(request, actor, db, dataset_id, target, running, limit, offset)
    return render(
        request,
        "pages/datasets/_staging_table.html",
        ctx,
        actor=actor,
        db=db,
        title="Staging status",
    )
