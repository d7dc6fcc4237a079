"""The login page (local accounts; OIDC when enabled) and the redirect every page uses for
anonymous visitors. The form posts to the JSON API (``POST /api/auth/login``)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hyperloop.web.deps import DB, OptionalActor, SettingsDep
from hyperloop.web.pages.templating import render

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """A local path to return to after login (anything else becomes ``/``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_redirect(request: Request) -> RedirectResponse:
    """Send an anonymous visitor to the login page, coming back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": here}), status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, actor: OptionalActor, db: DB, settings: SettingsDep, next: str = "/"
) -> HTMLResponse:
    return render(
        request,
        "pages/login.html",
        {"next_url": safe_next(next), "oidc_enabled": settings.oidc_enabled},
        actor=actor,
        db=db,
        title="Log in",
    )
