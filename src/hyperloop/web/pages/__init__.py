"""Server-rendered HTML pages (Jinja2 + htmx + small JS) and the static assets they use.

``router`` gathers one router per view; ``create_app`` includes it next to the JSON API.
"""

from __future__ import annotations

from fastapi import APIRouter

from hyperloop.web.pages import files, login, outputs, performance, profiles

router = APIRouter()
for module in (files, login, performance, outputs, profiles):
    router.include_router(module.router)
