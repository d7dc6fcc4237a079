"""The JSON API under /api/: one router per domain noun, wired here."""

from __future__ import annotations

from fastapi import APIRouter

from hyperloop.web.api import (
    analyses,
    auth,
    datasets,
    emails,
    enabling,
    health,
    jobs,
    metrics,
    notifications,
    pull_requests,
    reproduce,
    runlists,
    slots,
    stories,
    tags,
    targets,
    tours,
    trains,
    users,
    wagons,
)
from hyperloop.web.errors import ERROR_RESPONSES

api_router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)
for module in (
    health,
    metrics,
    auth,
    users,
    analyses,
    tags,
    pull_requests,
    wagons,
    enabling,
    datasets,
    runlists,
    targets,
    trains,
    jobs,
    notifications,
    emails,
    slots,
    reproduce,
    stories,
    tours,
):
    api_router.include_router(module.router)
