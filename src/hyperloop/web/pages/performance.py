"""Performance graphs of a ``performanceMetrics.json`` (ours or a real O2 one): the page
(``/performance-graphs``, a file under the outputs root or an upload) and its JSON twin
(``POST /api/performance-graphs``), both over
:func:`hyperloop.readmodels.performance.performance_graphs_data`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from hyperloop.core.errors import DomainError
from hyperloop.readmodels.performance import PerformanceMetricsError, performance_graphs_data
from hyperloop.web.deps import DB, CurrentActor, OptionalActor, SettingsDep
from hyperloop.web.errors import ERROR_RESPONSES, ApiError
from hyperloop.web.pages.login import login_redirect
from hyperloop.web.pages.output_access import open_output
from hyperloop.web.pages.templating import render

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


async def _read_upload(upload: UploadFile) -> bytes:
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ApiError(
            413, "too_large", f"{upload.filename}: larger than {MAX_UPLOAD_BYTES // 2**20} MB"
        )
    if not data:
        raise PerformanceMetricsError(f"{upload.filename or 'upload'}: the file is empty")
    return data


router = APIRouter()


@router.post(
    "/api/performance-graphs",
    tags=["performance"],
    summary="Graph data of an uploaded performanceMetrics.json (ours or O2's)",
    responses=ERROR_RESPONSES,
)
async def performance_graphs_api(
    actor: CurrentActor,
    file: Annotated[UploadFile, File(description="performanceMetrics.json")],
) -> dict[str, Any]:
    return performance_graphs_data(await _read_upload(file))


def _page(request: Request, actor, db, *, data=None, source=None, error=None, status=200):
    return render(
        request,
        "pages/performance_graphs.html",
        {"data": data, "source": source, "error": error},
        actor=actor,
        db=db,
        title=f"Performance graphs: {source}" if source else "Performance graphs",
        status_code=status,
    )


@router.get("/performance-graphs", response_class=HTMLResponse, include_in_schema=False)
def performance_graphs_page(
    request: Request,
    actor: OptionalActor,
    db: DB,
    settings: SettingsDep,
    path: Annotated[str | None, Query(description="metrics file under the outputs root")] = None,
) -> Response:
    if actor is None:
        return login_redirect(request)
    if not path:
        return _page(request, actor, db)
    try:
        file = open_output(db, actor, settings, path, what="metrics file", files_only=True).path
        return _page(
            request, actor, db, data=performance_graphs_data(file.read_bytes()), source=path
        )
    except (ApiError, DomainError) as exc:
        return _page(request, actor, db, error=exc.message, status=exc.status)


@router.post("/performance-graphs", response_class=HTMLResponse, include_in_schema=False)
async def performance_graphs_upload(
    request: Request,
    actor: OptionalActor,
    db: DB,
    file: Annotated[UploadFile, File()],
) -> Response:
    if actor is None:
        return login_redirect(request)
    name = file.filename or "performanceMetrics.json"
    try:
        data = performance_graphs_data(await _read_upload(file))
    except (ApiError, PerformanceMetricsError) as exc:
        return _page(request, actor, db, error=f"{name}: {exc.message}", status=exc.status)
    return _page(request, actor, db, data=data, source=name)
