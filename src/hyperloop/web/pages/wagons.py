"""Wagon views: edit (``/wagon/{id}``, with the upload preview), history, compare, and the
wagon test result (``/wagon-test/{id}``).

Pages call the data functions of their JSON endpoints (``views_analyses.wagon_editor_data``
for ``GET /api/wagons/{id}/view``, ``upload_preview_data`` for ``POST .../configuration/preview``,
``compare_data`` for ``GET .../compare``, ``wagon_test_result`` for ``GET .../tests/{id}``,
all in :mod:`hyperloop.readmodels`);
saving goes through the JSON API from the browser.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from hyperloop.core import story
from hyperloop.core.errors import DomainError
from hyperloop.core.permissions import Action, can
from hyperloop.db import models as m
from hyperloop.readmodels import analyses as views_analyses
from hyperloop.readmodels import overlaps as views_overlaps
from hyperloop.readmodels import why as views_why
from hyperloop.readmodels.trains import storage_mirror
from hyperloop.readmodels.wagons import (
    compare_choices,
    compare_data,
    upload_preview_data,
    wagon_test_result,
)
from hyperloop.web.deps import DB, OptionalActor, SettingsDep, public_base
from hyperloop.web.pages.analyses import not_found
from hyperloop.web.pages.login import login_redirect
from hyperloop.web.pages.templating import render

router = APIRouter(include_in_schema=False)
Ident = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _edit_page(
    request: Request,
    actor,
    db,
    wagon: m.Wagon,
    *,
    preview: dict[str, Any] | None = None,
    upload_text: str | None = None,
    upload_name: str | None = None,
    upload_error: str | None = None,
    status: int = 200,
) -> Response:
    mirror = storage_mirror(request.app.state.settings)
    data = views_analyses.wagon_editor_data(db, wagon, actor.user, mirror)
    return render(
        request,
        "pages/wagons/edit.html",
        {
            "d": data,
            "preview": preview,
            "upload_text": upload_text,
            "upload_name": upload_name,
            "upload_error": upload_error,
            "overlaps": views_overlaps.wagon_overlaps(db, wagon.id),
        },
        actor=actor,
        db=db,
        title=f"Wagon {wagon.name}",
        status_code=status,
    )


@router.get("/wagon/{wagon_id}", response_class=HTMLResponse)
def wagon_page(request: Request, wagon_id: Ident, actor: OptionalActor, db: DB) -> Response:
    if actor is None:
        return login_redirect(request)
    wagon = db.get(m.Wagon, wagon_id)
    if wagon is None:
        return not_found(request, actor, db, f"wagon {wagon_id}")
    return _edit_page(request, actor, db, wagon)


@router.post("/wagon/{wagon_id}/configuration-preview", response_class=HTMLResponse)
async def upload_preview(
    request: Request,
    wagon_id: Ident,
    actor: OptionalActor,
    db: DB,
    file: Annotated[UploadFile, File(description="O2 JSON configuration")],
) -> Response:
    """Show what an uploaded configuration would change (overview and diff); saves nothing."""
    if actor is None:
        return login_redirect(request)
    wagon = db.get(m.Wagon, wagon_id)
    if wagon is None:
        return not_found(request, actor, db, f"wagon {wagon_id}")
    name = file.filename or "upload.json"
    if not can(actor.user, Action.WAGON_EDIT, wagon):
        return _edit_page(
            request,
            actor,
            db,
            wagon,
            upload_error=f"{actor.user.username} may not edit wagon {wagon.name}",
            status=403,
        )
    raw = await file.read(MAX_UPLOAD_BYTES + 1)
    error = None
    doc: Any = None
    if len(raw) > MAX_UPLOAD_BYTES:
        error = f"{name}: larger than {MAX_UPLOAD_BYTES // 2**20} MB"
    elif not raw.strip():
        error = f"{name}: the file is empty"
    else:
        try:
            doc = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            error = f"{name} is not valid JSON: {exc}"
    if error is None:
        try:
            preview = upload_preview_data(db, wagon, doc).model_dump()
        except DomainError as exc:
            error = f"{name}: {exc.message}"
    if error is not None:
        return _edit_page(request, actor, db, wagon, upload_error=error, status=422)
    return _edit_page(
        request,
        actor,
        db,
        wagon,
        preview=preview,
        upload_text=json.dumps(doc),
        upload_name=name,
    )


@router.get("/wagon/{wagon_id}/history", response_class=HTMLResponse)
def wagon_history_page(request: Request, wagon_id: Ident, actor: OptionalActor, db: DB) -> Response:
    if actor is None:
        return login_redirect(request)
    wagon = db.get(m.Wagon, wagon_id)
    if wagon is None:
        return not_found(request, actor, db, f"wagon {wagon_id}")
    return render(
        request,
        "pages/wagons/history.html",
        {"wagon": wagon, "entries": views_analyses.wagon_history_data(db, wagon.id)},
        actor=actor,
        db=db,
        title=f"History of wagon {wagon.name}",
    )


def _aware(text: str | None, name: str) -> tuple[datetime | None, str | None]:
    """An ISO date-time with a zone from a query parameter, or why it is not one."""
    if not text:
        return None, None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None, f"{name} {text!r} is not an ISO date-time"
    if when.tzinfo is None:
        return None, f"{name} {text!r} needs a zone (e.g. +00:00)"
    return when, None


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


@router.get("/wagon/{wagon_id}/compare", response_class=HTMLResponse)
def wagon_compare_page(
    request: Request,
    wagon_id: Ident,
    actor: OptionalActor,
    db: DB,
    other_id: Annotated[str | None, Query(max_length=12)] = None,
    version: Annotated[str | None, Query(max_length=12)] = None,
    version2: Annotated[str | None, Query(max_length=12)] = None,
    at: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    v: Annotated[list[str] | None, Query(max_length=12)] = None,
) -> Response:
    if actor is None:
        return login_redirect(request)
    wagon = db.get(m.Wagon, wagon_id)
    if wagon is None:
        return not_found(request, actor, db, f"wagon {wagon_id}")
    result, error, status = None, None, 200
    other, ver, ver2 = _number(other_id), _number(version), _number(version2)
    if v is not None:  # the history page's check boxes: exactly two states
        chosen = sorted({n for n in map(_number, v) if n is not None})
        if len(chosen) != 2:
            error, status = (
                f"choose two states of the history to compare ({len(chosen)} chosen)",
                422,
            )
        else:
            ver, ver2 = chosen
    too_big = [n for n in (other, ver, ver2) if n is not None and n > 2**31 - 1]
    if too_big and error is None:
        error, status = f"no wagon or version {too_big[0]}", 404
    when, problem = _aware(at, "time")
    when2, problem2 = _aware(until, "time")
    error = error or problem or problem2
    status = 422 if error and status == 200 else status
    if error is None and (other or ver or when):
        try:
            result = compare_data(
                db,
                actor,
                wagon,
                other_id=other,
                version=ver,
                version2=ver2,
                at=when,
                until=when2,
            )
        except DomainError as exc:
            error, status = exc.message, exc.status
    history = views_analyses.wagon_history_data(db, wagon.id)
    return render(
        request,
        "pages/wagons/compare.html",
        {
            "wagon": wagon,
            "result": result,
            "error": error,
            "versions": [h for h in history if h["version"]],
            "choices": compare_choices(db, actor.user, wagon.id),
            "query": {
                "other_id": other_id or "",
                "version": str(ver) if ver else "",
                "version2": str(ver2) if ver2 else "",
            },
        },
        actor=actor,
        db=db,
        title=f"Compare wagon {wagon.name}",
        status_code=status,
    )


@router.get("/wagon-test/{test_id}", response_class=HTMLResponse)
def wagon_test_page(
    request: Request, test_id: Ident, actor: OptionalActor, db: DB, settings: SettingsDep
) -> Response:
    if actor is None:
        return login_redirect(request)
    test = db.get(m.WagonTest, test_id)
    if test is None:
        return not_found(request, actor, db, f"wagon test {test_id}")
    data = wagon_test_result(db, test, settings, graphs=True)
    page_url = f"{public_base(request, settings)}/wagon-test/{test.id}"
    return render(
        request,
        "pages/wagons/test.html",
        {
            "t": data,
            "page_url": page_url,
            "story": story.story(db, "wagon_test", test.id),
            "why": views_why.wagon_test_why(db, test.id, settings),
        },
        actor=actor,
        db=db,
        title=f"Wagon test {test.id}: {data['wagon']['name']} on {data['dataset']['name']}",
    )


@router.get("/partials/wagons/test-status/{test_id}", response_class=HTMLResponse)
def wagon_test_status_partial(
    request: Request, test_id: Ident, actor: OptionalActor, db: DB, settings: SettingsDep
) -> Response:
    """The status banner of a test; polled while it runs, reloads the page when final."""
    if actor is None:
        return Response(status_code=401)
    test = db.get(m.WagonTest, test_id)
    if test is None:
        return Response(status_code=404)
    data = wagon_test_result(db, test, settings)
    response = render(
        request,
        "pages/wagons/test_status.html",
        {"t": data},
        actor=actor,
        db=db,
        title="test status",
    )
    if data["test"]["final"]:
        response.headers["HX-Refresh"] = "true"
    return response
