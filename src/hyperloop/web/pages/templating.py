"""Jinja2 environment and the layout context every page shares (menu, user, bell count).

Pages call :func:`render`; the menu is data (``MENU``) so the base layout, tests and later
views agree on the entries and paths of SPEC §6.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from hyperloop import __version__
from hyperloop.core.actor import Actor
from hyperloop.core.co2 import flights_text
from hyperloop.units import format_bytes, format_duration
from hyperloop.web.auth.cookies import set_csrf_cookie
from hyperloop.web.pages.docs_links import docs_link

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"


@dataclass(frozen=True)
class MenuItem:
    """One entry of the top menu: label, path, and the paths that highlight it."""

    label: str
    path: str
    prefixes: tuple[str, ...] = ()

    def active(self, path: str) -> bool:
        if path == self.path:
            return True
        return any(path.startswith(p) for p in self.prefixes)


MENU: tuple[MenuItem, ...] = (
    MenuItem("My Analyses", "/", ("/analysis/", "/wagon/", "/wagon-test/")),
    MenuItem("All Analyses", "/all-analyses"),
    MenuItem("Dashboard", "/dashboard"),
    MenuItem("Train Submission", "/train-submission"),
    MenuItem("Train Runs", "/train-runs", ("/train-run/", "/trains-with-issues")),
    MenuItem("Datasets", "/datasets", ("/dataset/", "/derived-data", "/staging-status")),
    MenuItem("DPG Runlists", "/runlists"),
)

# Status -> (emoji, text alternative). Templates use the `status_icon` macro.
STATUS_ICONS: dict[str, tuple[str, str]] = {
    "queued": ("⌛", "queued"),
    "running": ("⏳", "running"),
    "done": ("🌟", "done"),
    "warning": ("❗", "warning"),
    "failed": ("💣", "failed"),
}

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals.update(
    MENU=MENU,
    STATUS_ICONS=STATUS_ICONS,
    hyperloop_version=__version__,
    docs_link=docs_link,
    format_bytes=format_bytes,  # the one byte formatter (hyperloop.units)
    format_duration=format_duration,  # the one duration formatter (hyperloop.units)
)
templates.env.filters["flights"] = flights_text  # kg CO2-eq -> "≈ N flights Geneva–New York"


def _layout_user(db: Session | None, actor: Actor | None) -> dict[str, Any]:
    """Who is logged in (and impersonating whom) and the unread-notification count."""
    if actor is None or db is None:
        return {
            "user": None,
            "impersonator": None,
            "unread": 0,
            "can_impersonate": False,
            "is_admin": False,
        }
    from hyperloop.core import notifications, permissions
    from hyperloop.core.permissions import Action
    from hyperloop.enums import Role

    unread = notifications.unread_count(db, actor.user)
    real = actor.impersonator or actor.user
    return {
        "user": actor.user,
        "impersonator": actor.impersonator,
        "unread": unread,
        "can_impersonate": permissions.can(real, Action.IMPERSONATE),
        "is_admin": actor.user.has_role(Role.ADMIN),
    }


def tour_page(path: str) -> str | None:
    from hyperloop.readmodels.tours import tour_page as page_of

    return page_of(path)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    actor: Actor | None = None,
    db: Session | None = None,
    title: str,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` inside the base layout; ``title`` names the page (browser tab).

    ``actor`` and ``db`` (the request's session) fill the user menu and the bell count.
    """
    settings = request.app.state.settings
    csrf = getattr(request.state, "csrf_token", None)  # the session's (or certificate's)
    ctx: dict[str, Any] = {
        "title": title,
        "path": request.url.path,
        "csrf_cookie_name": settings.csrf_cookie_name,
        "csrf_token": csrf or "",
        **_layout_user(db, actor),
        # the page's guided tour (static/js/tour.js offers it to logged-in users)
        "tour_page": tour_page(request.url.path) if actor is not None else None,
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    if csrf and request.cookies.get(settings.csrf_cookie_name) != csrf:
        set_csrf_cookie(response, settings, csrf)  # certificate users, or a lost cookie
    return response
