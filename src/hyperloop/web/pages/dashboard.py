"""The Dashboard (``/dashboard``): what is happening now and over a chosen interval (last
day/week/month or custom dates), fed by the data function of ``GET /api/train-runs/dashboard``."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from hyperloop.readmodels import sharing as views_sharing
from hyperloop.readmodels import trains as views_trains
from hyperloop.web.deps import DB, OptionalActor
from hyperloop.web.pages.login import login_redirect
from hyperloop.web.pages.templating import render
from hyperloop.web.pages.trains import date_or_none

router = APIRouter(include_in_schema=False)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    interval: str = "week",
    start: str | None = None,
    end: str | None = None,
) -> Response:
    if actor is None:
        return login_redirect(request)
    error = None
    try:
        chosen = views_trains.resolve_interval(interval, date_or_none(start), date_or_none(end))
    except ValueError as exc:
        error = f"Interval: {exc}. Showing the last week."
        chosen = views_trains.resolve_interval("week")
    data = views_sharing.dashboard_with_sharing(db, chosen)
    return render(
        request,
        "pages/trains/dashboard.html",
        {
            "d": data,
            "error": error,
            "start": chosen.start.date().isoformat(),
            "end": (chosen.end - timedelta(microseconds=1)).date().isoformat(),
            "states": [s for s in data["trains_per_state"]],
        },
        actor=actor,
        db=db,
        title="Dashboard",
        status_code=422 if error else 200,
    )
