"""Server-rendered HTML pages (Jinja2 + htmx + small JS) and the static assets they use.

``router`` gathers one router per view; ``create_app`` includes it next to the JSON API.
A new view: a module here with ``router``, a template extending ``base.html``, and
``render(request, "pages/x.html", ctx, actor=actor, db=db, title=...)``; anonymous visitors
get ``login_redirect(request)``; status icons come from the ``ui.status_icon`` macro.
"""

from __future__ import annotations

from fastapi import APIRouter

from hyperloop.web.pages import (
    admin,
    analyses,
    dashboard,
    datasets,
    files,
    jobs,
    login,
    notifications,
    outputs,
    performance,
    profile,
    profiles,
    runlists,
    trains,
    wagons,
)

router = APIRouter()
for module in (
    files,
    login,
    performance,
    outputs,
    profiles,
    datasets,
    runlists,
    notifications,
    profile,
    admin,
    dashboard,  # helper F: train views
    trains,
    jobs,
    analyses,  # helper E: analyses and wagons
    wagons,
):
    router.include_router(module.router)
