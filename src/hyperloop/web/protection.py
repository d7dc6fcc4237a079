"""What every response is protected by: bounded request bodies (413 before the whole body is
read), security headers on every response (CSP, X-Frame-Options, Referrer-Policy,
X-Content-Type-Options), and the API description (``/openapi.json``, ``/docs``, ``/redoc``)
only for logged-in users. (The complete ``Allow`` header of 405 answers is in errors.py.)

The limits and the policy are described in docs/operator-guide/security.md.
"""

from __future__ import annotations

import contextlib

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hyperloop.settings import Settings
from hyperloop.web.deps import OptionalActor, require_actor
from hyperloop.web.pages.login import login_redirect

# Pages use only the server's own scripts (vendored htmx, uPlot, JSROOT, speedscope): no
# inline script, no eval. Inline styles stay allowed (JSROOT and speedscope inject <style>,
# templates set widths of progress bars); 'wasm-unsafe-eval' lets speedscope compile its
# bundled WebAssembly importer (it never evaluates JavaScript text).
PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'self'"
)
# The built manual (MkDocs Material) carries small inline scripts of its own build; it is
# static text from the source repository, no user input reaches it.
DOCUMENTATION_CSP = PAGE_CSP.replace(
    "script-src 'self' 'wasm-unsafe-eval'", "script-src 'self' 'unsafe-inline'"
)
# FastAPI's interactive explorers load Swagger UI / ReDoc from their CDN with an inline
# bootstrap script (only for logged-in users).
EXPLORER_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' data: https://fonts.gstatic.com; img-src 'self' data: "
    "https://fastapi.tiangolo.com https://cdn.redoc.ly; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'self'"
)
EXPLORER_PATHS = ("/docs", "/redoc")
SECURITY_HEADERS = (
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
)


def content_security_policy(path: str) -> str:
    """The Content-Security-Policy of the response to ``path``."""
    if path == "/documentation" or path.startswith("/documentation/"):
        return DOCUMENTATION_CSP
    if path in EXPLORER_PATHS or path.startswith("/docs/"):
        return EXPLORER_CSP
    return PAGE_CSP


class SecurityHeadersMiddleware:
    """Adds the CSP and the other security headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = content_security_policy(scope["path"]).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in _OURS  # ours win over a handler's
                ]
                headers.append((b"content-security-policy", csp))
                headers.extend(SECURITY_HEADERS)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_OURS = {b"content-security-policy"} | {k for k, _ in SECURITY_HEADERS}


class _TooLarge(Exception):
    pass


def _too_large(limit: int, what: str) -> JSONResponse:
    return JSONResponse(
        status_code=413,
        content={
            "error": "too_large",
            "message": f"request body larger than {limit} bytes ({what}); send less data",
            "details": {"limit_bytes": limit},
        },
        headers={"Connection": "close"},
    )


class BodyLimitMiddleware:
    """Refuses request bodies above the limits with 413: at once when Content-Length says
    so, else as soon as the streamed body passes the limit (the rest is never read)."""

    def __init__(self, app: ASGIApp, *, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    def limit_of(self, scope: Scope) -> tuple[int, str]:
        for key, value in scope.get("headers", []):
            if key == b"content-type" and value.lower().startswith(b"multipart/form-data"):
                return self.upload_limit, "setting max_upload_bytes"
        return self.json_limit, "setting max_request_body_bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, what = self.limit_of(scope)
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    await _too_large(limit, what)(scope, receive, send)
                    return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # the handler's answer to a cut body is replaced by the 413
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_TooLarge):  # answered below
            await self.app(scope, limited_receive, guarded_send)
        if exceeded and not started:
            await _too_large(limit, what)(scope, receive, send)


def protect_api_description(app: FastAPI) -> None:
    """Serve /openapi.json, /docs and /redoc to logged-in users only (API token or session);
    anonymous callers get 401 (a browser on /docs or /redoc is sent to the login page)."""
    paths = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in paths]
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(openapi_url, include_in_schema=False, dependencies=[Depends(require_actor)])
    async def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    if app.docs_url:

        @app.get(app.docs_url, include_in_schema=False)
        async def swagger_ui(request: Request, actor: OptionalActor) -> Response:
            if actor is None:
                return login_redirect(request)
            return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} - API")

    if app.redoc_url:

        @app.get(app.redoc_url, include_in_schema=False)
        async def redoc(request: Request, actor: OptionalActor) -> Response:
            if actor is None:
                return login_redirect(request)
            return get_redoc_html(openapi_url=openapi_url, title=f"{app.title} - API")


def install_protection(app: FastAPI, settings: Settings) -> None:
    """Body limits, security headers and the login-only API description (see module doc)."""
    if not settings.api_description_public:
        protect_api_description(app)
    app.add_middleware(
        BodyLimitMiddleware,
        json_limit=settings.max_request_body_bytes,
        upload_limit=settings.max_upload_bytes,
    )
    app.add_middleware(SecurityHeadersMiddleware)
