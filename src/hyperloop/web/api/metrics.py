"""GET /api/metrics: the figures an operator watches, in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from hyperloop.readmodels.metrics import system_figures
from hyperloop.web.deps import DB
from hyperloop.web.metrics import render

router = APIRouter(tags=["health"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Queued and running jobs, trains, merge backlog, scheduler step, API latency "
    "(Prometheus text format)",
)
def metrics(request: Request, db: DB) -> PlainTextResponse:
    text = render(system_figures(db), request.app.state.latencies)
    return PlainTextResponse(text, media_type=CONTENT_TYPE)
