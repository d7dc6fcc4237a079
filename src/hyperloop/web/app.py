"""The FastAPI application factory: ``create_app(settings)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from hyperloop import __version__
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.settings import Settings, load_settings
from hyperloop.web.auth.proxy import ForwardedHeaders
from hyperloop.web.auth.secret import server_secret
from hyperloop.web.auth.sessions import SessionCodec
from hyperloop.web.error_handlers import install_error_handlers

API_DESCRIPTION = """\
JSON API of the Hyperloop analysis train system.

Authenticate with a personal API token (`Authorization: Bearer hlt_...`, create one at
`POST /api/users/me/tokens`) or a login session cookie (`POST /api/auth/login`; unsafe
requests then repeat the CSRF cookie in the `X-CSRF-Token` header). Admins may act as another
user with the `X-Hyperloop-Impersonate: <username>` header.

Lists take `limit` and `offset` and return `{items, total, limit, offset}`. Errors are
`{"error": code, "message": ..., "details": ...}` with status 400/401/403/404/409/413/422.
"""

OPENAPI_TAGS = [
    {"name": "health", "description": "Liveness of the server (anonymous)."},
    {"name": "auth", "description": "Login sessions, logout, impersonation, OIDC."},
    {"name": "users", "description": "The current user, API tokens, user management (admins)."},
    {"name": "analyses", "description": "Analyses, their members, datasets and settings."},
    {"name": "tags", "description": "Released package tags and their workflows."},
    {
        "name": "pull-requests",
        "description": "Pull requests with the workflows of their built source.",
    },
    {"name": "wagons", "description": "Wagons: configuration, subwagons, history, JSON files."},
    {"name": "enabling", "description": "Enabling wagons on datasets with a tag policy."},
    {"name": "datasets", "description": "Datasets, productions, files, mergelists, staging."},
    {"name": "runlists", "description": "DPG runlists."},
    {"name": "targets", "description": "Where trains run (cores, memory)."},
    {"name": "train-runs", "description": "Composition and life cycle of train runs."},
    {"name": "jobs", "description": "Jobs of submitted train runs."},
    {"name": "notifications", "description": "Notifications of the current user."},
    {"name": "slots", "description": "Fair-usage train slots per analysis and dataset."},
    {"name": "outputs", "description": "Browse train/test outputs and histogram projections."},
    {"name": "performance", "description": "Graphs of an uploaded performance metrics file."},
    {
        "name": "reproduce",
        "description": "What a test or job ran (full_config, inputs, tag) to rerun it locally.",
    },
    {
        "name": "stories",
        "description": "Every state change of a job, wagon test or train run with its cause.",
    },
]


def bind_database(app: FastAPI, engine: Engine) -> None:
    """Point the application at a database engine (tests and tools swap databases)."""
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)


def apply_thread_limit(threads: int) -> None:
    """Let at most ``threads`` synchronous handlers run at once in this event loop (Starlette
    runs them in anyio's worker threads; anyio's default is 40)."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Server start: apply the ``api_threads`` setting in the server's event loop."""
    threads = getattr(app.state.settings, "api_threads", None)  # tests may swap settings
    if threads:
        apply_thread_limit(threads)
    yield


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the application for ``settings`` (read from the environment when omitted)."""
    from hyperloop.web.api import api_router
    from hyperloop.web.auth.routes import router as auth_pages_router
    from hyperloop.web.pages import router as html_pages_router

    settings = settings or load_settings()
    app = FastAPI(
        title="Hyperloop",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    bind_database(app, engine or make_engine(settings.database_url))
    app.state.secret = server_secret(settings)
    app.state.session_codec = SessionCodec(app.state.secret, settings.session_max_age_seconds)
    install_error_handlers(app)
    from hyperloop.web.metrics import Latencies, LatencyMiddleware

    app.state.latencies = Latencies()  # this process's request durations (/api/metrics)
    app.add_middleware(LatencyMiddleware, latencies=app.state.latencies)
    # the socket's peer decides whether forwarded headers are believed (trusted_proxies)
    app.add_middleware(ForwardedHeaders, trusted=settings.trusted_proxies)
    app.include_router(api_router)
    app.include_router(auth_pages_router)
    app.include_router(html_pages_router)
    from hyperloop.web.pages.docs_links import mount_documentation

    mount_documentation(app)  # the built MkDocs site under /documentation
    from hyperloop.web.protection import install_protection

    install_protection(app, settings)  # body limits, security headers, login-only /openapi.json
    return app
