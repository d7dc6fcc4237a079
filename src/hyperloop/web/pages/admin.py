"""``/admin`` (admins only): users and their roles, analyses and their members, targets.

Fed by the data functions of the JSON endpoints ``GET /api/users``, ``GET /api/analyses``
(+ ``GET /api/analyses/{id}`` for the members) and ``GET /api/targets``; every change goes
through the JSON API (roles, new users, members, new analyses, new targets).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from hyperloop.core.permissions import Action
from hyperloop.enums import Role
from hyperloop.readmodels.analyses import analyses_list_data, analysis_detail
from hyperloop.readmodels.paging import PageParams
from hyperloop.readmodels.targets import targets_list_data
from hyperloop.readmodels.users import users_list_data
from hyperloop.web.deps import DB, OptionalActor, analysis_for_reader
from hyperloop.web.pages.datasets import Limit, Offset, can, error_page, pager, paging
from hyperloop.web.pages.login import login_redirect
from hyperloop.web.pages.templating import render

router = APIRouter()
ANALYSES_PER_PAGE = 10


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
def admin_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    q: Annotated[str | None, Query(max_length=64, description="Username contains.")] = None,
    role: Annotated[str | None, Query(max_length=32)] = None,
    analysis: Annotated[str | None, Query(max_length=128, description="Analysis name.")] = None,
    limit: Limit | None = None,
    offset: Offset = 0,
    analyses_offset: Offset = 0,
) -> Response:
    if actor is None:
        return login_redirect(request)
    if not can(actor, Action.USER_MANAGE):
        return error_page(
            request, actor, db, 403, f"{actor.user.username} is not an admin: /admin is for admins"
        )
    try:
        role_filter = Role(role) if role else None
    except ValueError:
        known = ", ".join(r.value for r in Role)
        return error_page(request, actor, db, 422, f"unknown role {role!r} (one of {known})")
    users = users_list_data(
        db, actor, paging(request, limit, offset), q=q or None, role=role_filter
    )
    analyses = analyses_list_data(
        db,
        actor,
        PageParams(limit=ANALYSES_PER_PAGE, offset=analyses_offset),
        name=analysis or None,
    )
    details = [analysis_detail(db, analysis_for_reader(a.id, db, actor)) for a in analyses["items"]]
    cap = request.app.state.settings.api_max_page_size
    targets = targets_list_data(db, PageParams(limit=cap, offset=0))
    url = request.url
    a_prev = (
        str(url.include_query_params(analyses_offset=max(0, analyses_offset - ANALYSES_PER_PAGE)))
        if analyses_offset > 0
        else None
    )
    a_next = (
        str(url.include_query_params(analyses_offset=analyses_offset + ANALYSES_PER_PAGE))
        if analyses_offset + ANALYSES_PER_PAGE < analyses["total"]
        else None
    )
    return render(
        request,
        "pages/admin/admin.html",
        {
            "users": users,
            "users_pager": pager(request, users),
            "analyses": details,
            "analyses_pager": {
                "total": analyses["total"],
                "first": analyses_offset + 1 if details else 0,
                "last": analyses_offset + len(details),
                "prev": a_prev,
                "next": a_next,
            },
            "targets": targets["items"],
            "roles": list(Role),
            "filters": {"q": q or "", "role": role or "", "analysis": analysis or ""},
        },
        actor=actor,
        db=db,
        title="Administration",
    )
