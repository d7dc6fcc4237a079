"""Train pages (SPEC §6): Train Runs (filters, pagination, compare two), the train run result
with its tabs, compare, Trains with issues, the train test result, Train Submission, and the
live-status partials (htmx polling that stops when the state is final).

Every page calls the data function of its JSON endpoint (``hyperloop.readmodels.trains`` /
``views_train_results``); actions go through the JSON API from the browser (train_actions.js).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from hyperloop.core import permissions, story
from hyperloop.core.actor import Actor
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.enums import TrainState, TrainType
from hyperloop.readmodels import policy as views_policy
from hyperloop.readmodels import sharing as views_sharing
from hyperloop.readmodels import train_results as views_train_results
from hyperloop.readmodels import train_submission as views_train_submission
from hyperloop.readmodels import trains as views_trains
from hyperloop.readmodels import why as views_why
from hyperloop.web.deps import DB, OptionalActor, SettingsDep, public_base
from hyperloop.web.errors import ApiError
from hyperloop.web.pages.login import login_redirect
from hyperloop.web.pages.templating import render, templates

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
TABS = (
    ("overview", "Overview"),
    ("jobs", "Jobs"),
    ("merging", "Merging"),
    ("outputs", "Outputs"),
    ("test", "Test results"),
    ("derived", "Derived data"),
)
#: tabs holding a form, shown when the overview offers it (``forms[key]`` not None)
FORM_TABS = (("clone", "Clone train"), ("long_train", "Request long train"))
POLL_SECONDS = 5


def int_or_none(value: str | None) -> int | None:
    """A positive id from a query string ('' or junk = no filter)."""
    if value is None or not value.strip().isdigit():
        return None
    n = int(value.strip())
    return n if 1 <= n <= 2**31 - 1 else None


def date_or_none(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value and value.strip() else None
    except ValueError:
        return None


def error_page(request: Request, actor: Actor, db, message: str, status: int = 404) -> Response:
    """A page saying what was not found (or refused), with the right status code."""
    return render(
        request,
        "pages/trains/error.html",
        {"message": message},
        actor=actor,
        db=db,
        title="Not found" if status == 404 else "Error",
        status_code=status,
    )


def _train(db, train_id: int) -> m.TrainRun | None:
    return db.get(m.TrainRun, train_id) if 1 <= train_id <= 2**31 - 1 else None


# =========================================================================== train runs list


@router.get("/train-runs", response_class=HTMLResponse)
def train_runs_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    dataset_id: str | None = None,
    state: Annotated[list[str] | None, Query()] = None,
    analysis_id: str | None = None,
    train_type: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    limit: int = PAGE_SIZE,
    offset: int = 0,
) -> Response:
    if actor is None:
        return login_redirect(request)
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    offset = max(0, min(offset, 2**31))
    states = [TrainState(s) for s in state or [] if s in TrainState._value2member_map_]
    d_from, d_to = date_or_none(date_from), date_or_none(date_to)
    filters = views_trains.TrainFilters(
        dataset_id=int_or_none(dataset_id),
        states=states,
        train_type=TrainType(train_type) if train_type in TrainType._value2member_map_ else None,
        analysis_id=int_or_none(analysis_id),
        composed_after=datetime.combine(d_from, time(), UTC) if d_from else None,
        composed_before=datetime.combine(d_to + timedelta(days=1), time(), UTC) if d_to else None,
    )
    rows, total = views_trains.train_runs_page(db, filters, limit, offset)
    query = {
        "dataset_id": filters.dataset_id or "",
        "analysis_id": filters.analysis_id or "",
        "train_type": filters.train_type.value if filters.train_type else "",
        "date_from": d_from.isoformat() if d_from else "",
        "date_to": d_to.isoformat() if d_to else "",
        "limit": limit,
    }
    base = [(k, v) for k, v in query.items() if v != ""] + [("state", s.value) for s in states]

    def page_url(off: int) -> str:
        return "/train-runs?" + urlencode([*base, ("offset", off)])

    return render(
        request,
        "pages/trains/train_runs.html",
        {
            "rows": rows,
            "total": total,
            "limit": limit,
            "offset": offset,
            "filters": filters,
            "selected_states": {s.value for s in states},
            "query": query,
            "choices": views_trains.filter_choices(db),
            "prev_url": page_url(max(0, offset - limit)) if offset > 0 else None,
            "next_url": page_url(offset + limit) if offset + limit < total else None,
            "icon_of": views_trains.icon_of,
        },
        actor=actor,
        db=db,
        title="Train runs",
    )


# =========================================================================== one train run


def _tab_data(tab: str, db, train: m.TrainRun, actor: Actor, root, request: Request) -> Any:
    if tab == "jobs":
        rows, total = _jobs_page(db, train.id, request)
        data = views_train_results.master_jobs_view(db, train.id, root)
        return {**data, "jobs": rows, "jobs_total": total}
    if tab == "merging":
        data = views_train_results.merging_view(db, train, root)
        data["request"] = final_merge_request(db, train)
        return data
    if tab in ("outputs", "derived"):
        return views_train_results.outputs_view(db, train, root)
    if tab == "test":
        return views_train_results.train_test_view(db, train, root)
    return None


def final_merge_request(db, train: m.TrainRun) -> dict[str, Any] | None:
    """The operator's final-merge request of the train (when, by whom), if any."""
    if train.final_merge_requested_at is None:
        return None
    user_id = train.final_merge_requested_by_id
    user = db.get(m.User, user_id) if user_id is not None else None
    return {"at": train.final_merge_requested_at, "by": user.username if user else None}


def _jobs_page(db, train_id: int, request: Request) -> tuple[list[m.Job], int]:
    """Jobs of the train, optionally one run / failed only, one page (server side)."""
    from sqlalchemy import func, select

    from hyperloop.core.states import JOB_ERRORS

    q = request.query_params
    stmt = select(m.Job).where(m.Job.train_run_id == train_id).order_by(m.Job.id)
    run = int_or_none(q.get("run"))
    if run is not None:
        stmt = stmt.where(m.Job.run_number == run)
    if q.get("failed") == "1":
        stmt = stmt.where(m.Job.state.in_(JOB_ERRORS))
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    offset = int_or_none(q.get("job_offset")) or 0
    return list(db.scalars(stmt.limit(PAGE_SIZE).offset(offset))), total


@router.get("/train-run/{train_id}", response_class=HTMLResponse)
def train_run_page(
    request: Request,
    train_id: int,
    actor: OptionalActor,
    db: DB,
    settings: SettingsDep,
    tab: str = "overview",
) -> Response:
    if actor is None:
        return login_redirect(request)
    train = _train(db, train_id)
    if train is None:
        return error_page(request, actor, db, f"Train run {train_id} does not exist.")
    root = views_trains.file_roots(settings)
    overview = views_trains.train_overview(db, train, actor)
    # the form tabs show only to who may use them (their data: the overview's forms)
    tabs = TABS + tuple((k, label) for k, label in FORM_TABS if overview["forms"].get(k))
    if tab not in dict(tabs):
        tab = "overview"
    return render(
        request,
        "pages/trains/train_run.html",
        {
            "t": overview,
            "tab": tab,
            "tabs": tabs,
            "data": _tab_data(tab, db, train, actor, root, request),
            "query": request.query_params,
            "page_size": PAGE_SIZE,
            "poll": POLL_SECONDS,
            "icon_of": views_trains.icon_of,
            "story": story.story(db, "train_run", train.id) if tab == "overview" else [],
            "job_moves": story.jobs_summary(db, train.id) if tab == "overview" else [],
            "pol": views_policy.train_policy(db, train, actor)
            if tab in ("overview", "test")
            else None,
            "why": views_why.train_why(db, train.id, settings) if tab == "overview" else None,
            "sharing": (
                views_sharing.train_sharing(db, train, root) if tab == "overview" else None
            ),
        },
        actor=actor,
        db=db,
        title=f"Train run {train.id} ({dict(tabs)[tab].lower()})",
    )


@router.get("/partials/trains/{train_id}/status", response_class=HTMLResponse)
def train_status_partial(request: Request, train_id: int, actor: OptionalActor, db: DB):
    """The live status of a train; the element keeps polling until the state is final."""
    if actor is None:
        return HTMLResponse("", status_code=401)
    train = _train(db, train_id)
    if train is None:
        return HTMLResponse("", status_code=404)
    return templates.TemplateResponse(
        request,
        "pages/trains/_train_status.html",
        {"st": views_trains.train_status(db, train), "poll": POLL_SECONDS},
    )


# =========================================================================== compare


@router.get("/train-runs/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    settings: SettingsDep,
    a: str | None = None,
    b: str | None = None,
) -> Response:
    if actor is None:
        return login_redirect(request)
    ia, ib = int_or_none(a), int_or_none(b)
    if ia is None or ib is None:
        return error_page(
            request, actor, db, "Choose two train runs to compare (?a=ID&b=ID).", status=400
        )
    ta, tb = _train(db, ia), _train(db, ib)
    missing = [str(i) for i, t in ((ia, ta), (ib, tb)) if t is None]
    if missing:
        return error_page(request, actor, db, f"Train run {', '.join(missing)} does not exist.")
    data = views_train_results.compare_view(db, ta, tb, views_trains.file_roots(settings))
    return render(
        request,
        "pages/trains/compare.html",
        {"c": data},
        actor=actor,
        db=db,
        title=f"Compare train runs {ta.id} and {tb.id}",
    )


# =========================================================================== issues, test


@router.get("/trains-with-issues", response_class=HTMLResponse)
def issues_page(request: Request, actor: OptionalActor, db: DB) -> Response:
    if actor is None:
        return login_redirect(request)
    return render(
        request,
        "pages/trains/issues.html",
        {
            "rows": views_train_submission.trains_with_issues_view(db),
            "operator": permissions.can(actor.user, Action.TRAIN_OPERATE),
        },
        actor=actor,
        db=db,
        title="Trains with issues",
    )


@router.get("/train-test/{train_id}", response_class=HTMLResponse)
def train_test_page(
    request: Request, train_id: int, actor: OptionalActor, db: DB, settings: SettingsDep
) -> Response:
    if actor is None:
        return login_redirect(request)
    train = _train(db, train_id)
    if train is None:
        return error_page(request, actor, db, f"Train run {train_id} does not exist.")
    root = views_trains.file_roots(settings)
    data = views_train_results.train_test_view(db, train, root)
    graphs = graphs_error = None
    if data["metrics_file"]:
        from hyperloop.readmodels.performance import performance_graphs_data

        try:
            graphs = performance_graphs_data((root.root / data["metrics_file"]).read_bytes())
        except (ApiError, OSError) as exc:
            graphs_error = getattr(exc, "message", str(exc))
    return render(
        request,
        "pages/trains/train_test.html",
        {
            "d": data,
            "graphs": graphs,
            "graphs_error": graphs_error,
            "reproduce": "hyperloop reproduce "
            + public_base(request, settings)
            + f"/train-test/{train.id}",
        },
        actor=actor,
        db=db,
        title=f"Train test of train run {train.id}",
    )


# =========================================================================== submission


@router.get("/train-submission", response_class=HTMLResponse)
def submission_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    dataset_id: str | None = None,
    show_all: bool = False,
) -> Response:
    if actor is None:
        return login_redirect(request)
    wanted = int_or_none(dataset_id)
    data = views_train_submission.submission_view(db, actor, wanted, show_all=show_all)
    if wanted is not None and data["dataset"] is None:
        return error_page(request, actor, db, f"Dataset {wanted} does not exist.")
    return render(
        request,
        "pages/trains/submission.html",
        {"d": data, "poll": POLL_SECONDS},
        actor=actor,
        db=db,
        title="Train submission" + (f": {data['dataset']['name']}" if data["dataset"] else ""),
    )
