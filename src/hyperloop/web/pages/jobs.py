"""The job page (``/job/{id}``): attempts with reasons, errors, logs, and for a failed job the
``hyperloop reproduce URL`` command; plus its live-status partial."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from hyperloop.core import story
from hyperloop.db import models as m
from hyperloop.readmodels import train_results as views_train_results
from hyperloop.readmodels import trains as views_trains
from hyperloop.readmodels import why as views_why
from hyperloop.settings import Settings
from hyperloop.web.deps import DB, OptionalActor, SettingsDep, public_base
from hyperloop.web.pages.login import login_redirect
from hyperloop.web.pages.templating import render, templates
from hyperloop.web.pages.trains import POLL_SECONDS, error_page

router = APIRouter(include_in_schema=False)


def job_url(request: Request, job_id: int, settings: Settings) -> str:
    """The URL of the job page (what ``hyperloop reproduce`` takes): under ``public_url``,
    or the origin the user reached the server by."""
    return f"{public_base(request, settings)}/job/{job_id}"


def job_target(db, job: m.Job) -> str | None:
    """The target of the job's current (or last) attempt; the train's target when unset."""
    if job.target:
        return job.target
    train = db.get(m.TrainRun, job.train_run_id)
    target = db.get(m.Target, train.target_id) if train is not None else None
    return target.name if target is not None else None


def _job(db, job_id: int) -> m.Job | None:
    return db.get(m.Job, job_id) if 1 <= job_id <= 2**31 - 1 else None


@router.get("/job/{job_id}", response_class=HTMLResponse)
def job_page(
    request: Request, job_id: int, actor: OptionalActor, db: DB, settings: SettingsDep
) -> Response:
    if actor is None:
        return login_redirect(request)
    job = _job(db, job_id)
    if job is None:
        return error_page(request, actor, db, f"Job {job_id} does not exist.")
    data = views_train_results.job_view(db, job, views_trains.file_roots(settings))
    data["target"] = job_target(db, job)
    return render(
        request,
        "pages/trains/job.html",
        {
            "j": data,
            "reproduce": f"hyperloop reproduce {job_url(request, job.id, settings)}",
            "poll": POLL_SECONDS,
            "story": story.story(db, "job", job.id),
            "why": views_why.job_why(db, job.id, settings),
        },
        actor=actor,
        db=db,
        title=f"Job {job.id} of train run {job.train_run_id}",
    )


@router.get("/partials/jobs/{job_id}/status", response_class=HTMLResponse)
def job_status_partial(request: Request, job_id: int, actor: OptionalActor, db: DB):
    """Live job state; stops polling once the job is final."""
    if actor is None:
        return HTMLResponse("", status_code=401)
    job = _job(db, job_id)
    if job is None:
        return HTMLResponse("", status_code=404)
    data = views_train_results.job_view(db, job, None)
    return templates.TemplateResponse(
        request, "pages/trains/_job_status.html", {"j": data, "poll": POLL_SECONDS}
    )
