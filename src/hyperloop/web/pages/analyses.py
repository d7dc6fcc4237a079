"""Analysis views: My Analyses (``/``), All Analyses (``/all-analyses``), one analysis
(``/analysis/{id}``) and the live status cell of the My Analyses grid.

Each page calls the data function of its JSON endpoint in :mod:`hyperloop.readmodels`
(``my_analyses.my_analyses_data`` for ``GET /api/my-analyses``, ``analyses.analyses_list_data``
for ``GET /api/analyses``, ``analyses.analysis_view_data`` for ``GET /api/analyses/{id}/view``);
actions go through the JSON API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from hyperloop.core import pull_requests
from hyperloop.core.permissions import Action, can
from hyperloop.db import models as m
from hyperloop.enums import DataType
from hyperloop.readmodels.analyses import (
    analyses_list_data,
    analysis_view_data,
    pwg_names,
)
from hyperloop.readmodels.my_analyses import grid_cell_data, my_analyses_data
from hyperloop.readmodels.paging import PageParams
from hyperloop.web.deps import DB, OptionalActor
from hyperloop.web.pages.datasets import error_page
from hyperloop.web.pages.login import login_redirect
from hyperloop.web.pages.templating import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
Ident = Annotated[int, Path(ge=1, le=2**31 - 1)]


def not_found(request: Request, actor, db, what: str) -> Response:
    """A page saying the object does not exist (HTTP 404)."""
    return render(
        request,
        "pages/analyses/not_found.html",
        {"what": what},
        actor=actor,
        db=db,
        title="Not found",
        status_code=404,
    )


def tag_choices(db) -> list[dict]:
    """Registered package tags, newest first (the fixed-tag choice when enabling)."""
    tags = db.scalars(select(m.PackageTag).order_by(m.PackageTag.released_at.desc()))
    return [{"id": t.id, "label": t.label} for t in tags]


def pr_choices(db) -> list[dict]:
    """Registered pull requests, newest first, with their titles (the future-tag choice)."""
    return [
        {"number": p.number, "title": p.title, "state": p.state, "package": p.package}
        for p in pull_requests.list_pull_requests(db)[:200]
    ]


@router.get("/", response_class=HTMLResponse)
def my_analyses_page(request: Request, actor: OptionalActor, db: DB) -> Response:
    if actor is None:
        return login_redirect(request)
    analyses = my_analyses_data(db, actor.user)
    return render(
        request,
        "pages/analyses/my_analyses.html",
        {"analyses": analyses, "tags": tag_choices(db), "pull_requests": pr_choices(db)},
        actor=actor,
        db=db,
        title="My Analyses",
    )


@router.get("/partials/analyses/cell/{wagon_id}/{dataset_id}", response_class=HTMLResponse)
def grid_cell_partial(
    request: Request, wagon_id: Ident, dataset_id: Ident, actor: OptionalActor, db: DB
) -> Response:
    """One grid cell (toggle + status icon); polls itself while the test is not final."""
    if actor is None:
        return Response(status_code=401)
    wagon = db.get(m.Wagon, wagon_id)
    if wagon is None:
        return Response(status_code=404)
    dataset = db.get(m.Dataset, dataset_id)
    cell = grid_cell_data(db, wagon_id, dataset_id)
    return render(
        request,
        "pages/analyses/cell.html",
        {
            "cell": cell,
            "wagon": wagon,
            "dataset_name": dataset.name if dataset else str(dataset_id),
            "editable": can(actor.user, Action.WAGON_ENABLE, wagon),
        },
        actor=actor,
        db=db,
        title="grid cell",
    )


@router.get("/all-analyses", response_class=HTMLResponse)
def all_analyses_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    name: Annotated[str | None, Query(max_length=128)] = None,
    pwg: Annotated[str | None, Query(max_length=64)] = None,
    service: Annotated[str | None, Query(max_length=5)] = None,
    mine: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Response:
    if actor is None:
        return login_redirect(request)
    flag = {"yes": True, "no": False}.get(service or "")
    page = analyses_list_data(
        db,
        actor,
        PageParams(limit=limit, offset=offset),
        name=name or None,
        pwg=pwg or None,
        service=flag,
        mine=mine,
    )
    filters = {"name": name or "", "pwg": pwg or "", "service": service or "", "mine": mine}
    return render(
        request,
        "pages/analyses/all_analyses.html",
        {"page": page, "filters": filters, "pwgs": pwg_names(db)},
        actor=actor,
        db=db,
        title="All Analyses",
    )


@router.get("/analysis/{analysis_id}", response_class=HTMLResponse)
def analysis_page(
    request: Request,
    analysis_id: Ident,
    actor: OptionalActor,
    db: DB,
    data_type: Annotated[str | None, Query(max_length=16)] = None,
    collision_system: Annotated[str | None, Query(max_length=32)] = None,
    anchor: Annotated[str | None, Query(max_length=64)] = None,
    period: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    if actor is None:
        return login_redirect(request)
    analysis = db.get(m.Analysis, analysis_id)
    if analysis is None:
        return not_found(request, actor, db, f"analysis {analysis_id}")
    if data_type and data_type not in {t.value for t in DataType}:
        known = ", ".join(t.value for t in DataType)
        return error_page(
            request, actor, db, 422, f"unknown data type {data_type!r} (one of {known})"
        )
    search = {
        "data_type": data_type or None,
        "collision_system": collision_system,
        "anchor": anchor,
        "period": period,
    }
    data = analysis_view_data(db, analysis, actor.user, search)
    return render(
        request,
        "pages/analyses/analysis.html",
        data,
        actor=actor,
        db=db,
        title=f"Analysis {analysis.name}",
    )
