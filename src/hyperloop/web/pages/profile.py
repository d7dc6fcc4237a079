"""``/profile``: the user's account, personal API tokens (create — shown once — list,
revoke) and the e-mail policy of their analyses (members may change it, SPEC §1).
Fed by ``GET /api/users/me/profile``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from hyperloop.core.permissions import Action
from hyperloop.enums import EmailPolicy
from hyperloop.readmodels.users import profile_data
from hyperloop.web.deps import DB, OptionalActor
from hyperloop.web.pages.datasets import can
from hyperloop.web.pages.login import login_redirect
from hyperloop.web.pages.templating import render

router = APIRouter()

POLICY_LABELS = {
    EmailPolicy.NONE: "nobody",
    EmailPolicy.ALL: "all analyzers of the analysis",
    EmailPolicy.ENABLER: "only the user who enabled the wagon",
}


@router.get("/profile", response_class=HTMLResponse, include_in_schema=False)
def profile_page(request: Request, actor: OptionalActor, db: DB) -> Response:
    if actor is None:
        return login_redirect(request)
    data = profile_data(db, actor)
    return render(
        request,
        "pages/profile/profile.html",
        {
            "profile": data,
            "policies": POLICY_LABELS,
            "api_base": str(request.base_url).rstrip("/"),
            "is_admin": can(actor, Action.USER_MANAGE),
        },
        actor=actor,
        db=db,
        title=f"Profile of {data.user.username}",
    )
