"""The error handlers of the app: every error becomes the structured body of
:mod:`hyperloop.web.errors` with the right status code.

Domain errors carry their own code and status; FastAPI/Starlette errors (validation,
unknown route, wrong method, HTTPException) are rewritten to the same shape. A browser
asking for a page (GET, ``Accept: text/html``, outside ``/api``) gets the same message as
an HTML page instead: a mistyped address or a malformed filter in the query string.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hyperloop.core.errors import DomainError
from hyperloop.grid.store import StorageUnreachable
from hyperloop.web.deps import authenticate
from hyperloop.web.errors import HTTP_CODES, ApiError, error_response
from hyperloop.web.pages.templating import render

log = logging.getLogger("hyperloop.web.errors")  # the name operators filter on

_HEADINGS = {
    400: "Bad request",
    401: "Not logged in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    422: "Invalid address",
    503: "Storage unavailable",
}
_NOT_PAGES = ("/api/", "/static/", "/partials/", "/openapi.json")


def wants_page(request: Request) -> bool:
    """A browser navigating to a page: the error is shown as HTML, not JSON."""
    return (
        request.method in ("GET", "HEAD")
        and not request.url.path.startswith(_NOT_PAGES)
        and "text/html" in request.headers.get("accept", "")
    )


def error_page(
    request: Request, status: int, message: str, problems: list[dict] | None = None
) -> Response:
    """The error as a page inside the site's layout, with a link back to the page itself."""
    with request.app.state.sessionmaker() as db:
        try:  # the header shows who is logged in, as on every page
            actor = authenticate(request, db, request.app.state.settings, None)
        except Exception:  # noqa: BLE001 - an error page must render whatever the session
            actor = None
        return render(
            request,
            "pages/error.html",
            {
                "heading": _HEADINGS.get(status, "Error"),
                "message": message,
                "problems": problems or [],
                "back": request.url.path if status == 422 else None,
            },
            actor=actor,
            db=db,
            title=_HEADINGS.get(status, "Error"),
            status_code=status,
        )


def allowed_methods(app: Any, scope: Any) -> list[str]:
    """Every method some route of ``app`` accepts at the request's path (for ``Allow``)."""
    path = scope.get("path", "")
    methods: set[str] = set()
    for route in iter_route_contexts(app.router.routes):
        regex = getattr(route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            methods |= set(route.methods)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to the structured body with the right status code."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(StorageUnreachable)
    async def _storage(request: Request, exc: StorageUnreachable) -> Response:
        # the server's mirror of a remote storage could not be brought up to date
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        if wants_page(request):
            return error_page(request, 503, str(exc))
        return error_response(503, "storage_unavailable", str(exc))

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError) -> JSONResponse:
        return error_response(
            409, "conflict", "the object was changed by somebody else meanwhile; reload it"
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # Safety net: the domain checks uniqueness first, but a race (or a missed check)
        # ends here; it is a conflict with existing data, not a server failure.
        log.warning("integrity error on %s %s: %s", request.method, request.url.path, exc.orig)
        return error_response(
            409, "conflict", "the change conflicts with existing data (a name already in use?)"
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> Response:
        # A value the database refuses to store or compare (PostgreSQL: a NUL character in
        # a text, a number out of range): the request's fault, and nothing was written.
        log.warning("data error on %s %s: %s", request.method, request.url.path, exc.orig)
        if "NUL" in str(exc.orig):
            message = "text values may not contain NUL (\\0) characters"
        else:
            message = (
                "a value of the request does not fit what is stored (too long or out of range)"
            )
        if wants_page(request):
            return error_page(request, 422, message)
        return error_response(422, "validation_error", message)

    @app.exception_handler(OverflowError)
    async def _out_of_range(request: Request, exc: Exception) -> Response:
        # Safety net: inputs are bounded where they enter, but a number the database cannot
        # hold (SQLite's 64-bit integers) is the caller's error, not ours.
        log.warning("value out of range on %s %s: %s", request.method, request.url.path, exc)
        message = "a number in the request is out of range (the database holds 64-bit integers)"
        if wants_page(request):
            return error_page(request, 400, message)
        return error_response(400, "bad_request", message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {
                "location": [str(p) for p in err.get("loc", ())],
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        first = problems[0] if problems else {"location": [], "message": "invalid request"}
        where = ".".join(first["location"])
        if wants_page(request):
            n = len(problems)
            lead = (
                "The address of this page has an invalid option"
                if n == 1
                else (f"The address of this page has {n} invalid options")
            )
            return error_page(request, 422, f"{lead}:", problems)
        return error_response(
            422, "validation_error", f"{where}: {first['message']}", {"errors": problems}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
            message = f"{message.lower()}: {request.method} {request.url.path}"
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        if wants_page(request) and exc.status_code in (404, 405):
            page = error_page(request, exc.status_code, message)
            page.headers.update(headers)
            return page
        return error_response(exc.status_code, code, message, None, headers or None)
