"""``hyperloop serve``: upgrade the database schema, then run the web server (uvicorn) with
the scheduler and an embedded Dask LocalCluster in the same process (the one-command
default). ``--demo`` first prepares a demo site (database, data, accounts) and prints how
to log in; its demo data folder is then one of the storage roots."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer


def _say(message: str) -> None:
    typer.echo(message)
    sys.stdout.flush()


def _demo_conditions(settings: Any, site: Any) -> Any:
    """The demo's conditions service: the built-in objects written into
    ``<data_dir>/conditions`` and served from a thread of this process; the jobs of the
    local Dask cluster (started afterwards) find it through ``HYPERLOOP_CONDITIONS_URL``."""
    from hyperloop.analysis.ccdb import CONDITIONS_URL_ENV, export_objects
    from hyperloop.analysis.ccdb_service import serve_in_thread

    folder = Path(site.data_dir) / "conditions"
    export_objects(folder)
    _server, url = serve_in_thread(folder)
    os.environ[CONDITIONS_URL_ENV] = url
    _say(f"conditions service of {folder} on {url}")
    return settings.model_copy(update={"conditions_url": url})


def _prepare_demo(settings: Any) -> Any:
    """``hyperloop.demo.site.prepare_demo(settings)``; exit 2 with a clear message when the
    demo module is not available in this installation."""
    try:
        from hyperloop.demo.site import prepare_demo
    except ImportError as exc:
        typer.echo(
            f"error: --demo needs hyperloop.demo.site.prepare_demo, which this installation "
            f"lacks ({exc})",
            err=True,
        )
        raise typer.Exit(2) from None
    return prepare_demo(settings, report=_say)


def _print_site(url: str, site: Any, scheduler: bool) -> None:
    """The demo's URL and accounts (``DemoSite.describe``), once everything is started."""
    _say("")
    _say(site.describe(url))
    if not scheduler:
        _say("(scheduler disabled: tests and trains wait for `hyperloop scheduler`)")
    _say("")


def register(app: typer.Typer) -> None:
    """Add the ``serve`` and ``settings`` commands."""

    @app.command("serve")
    def serve(
        host: Annotated[
            str | None, typer.Option(help="Listen address (default: settings).")
        ] = None,
        port: Annotated[int | None, typer.Option(help="TCP port (default: settings).")] = None,
        migrate: Annotated[
            bool | None,
            typer.Option(
                "--migrate/--no-migrate",
                help="Upgrade the database schema first (default: run_migrations_on_start).",
            ),
        ] = None,
        scheduler: Annotated[
            bool | None,
            typer.Option(
                "--scheduler/--no-scheduler",
                help="Run the scheduler (and its Dask engine) inside the server (default: "
                "scheduler_in_server). Disable it when `hyperloop scheduler` runs elsewhere.",
            ),
        ] = None,
        demo: Annotated[
            bool,
            typer.Option(
                "--demo",
                help="Prepare the demo site first (SQLite database, demo data, package tags, "
                "accounts for each role, analyses, datasets) and print the URL and accounts.",
            ),
        ] = False,
    ) -> None:
        """Run the Hyperloop web server and JSON API, with the scheduler and a local Dask
        cluster (or the external Dask scheduler of HYPERLOOP_DASK_SCHEDULER_ADDRESS)."""
        import uvicorn

        from hyperloop.db.migrate import upgrade
        from hyperloop.readmodels import dashboard
        from hyperloop.scheduler.service import BackgroundScheduler
        from hyperloop.settings import SAMPLE_INTERVAL_ENV, SettingsError, load_settings
        from hyperloop.web.app import create_app

        try:
            settings = load_settings()
        except SettingsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if migrate if migrate is not None else settings.run_migrations_on_start:
            upgrade(settings.database_url)
        site = _prepare_demo(settings) if demo else None
        if site is not None:
            settings = site.serve_settings(settings)  # the demo data is a storage root
            # the runtime of the embedded cluster reads the demo's sampling from the environment
            os.environ[SAMPLE_INTERVAL_ENV] = str(settings.metrics_sample_interval)
            if not settings.conditions_url:
                settings = _demo_conditions(settings, site)
        with_scheduler = scheduler if scheduler is not None else settings.scheduler_in_server
        bind_host, bind_port = host or settings.host, port or settings.port
        url = f"http://{bind_host}:{bind_port}/"
        web = create_app(settings)
        background = None
        if with_scheduler:
            background = BackgroundScheduler(
                settings, report=_say, warm_read_models=dashboard.warm
            ).start()
        if site is not None:
            _print_site(url, site, with_scheduler)

        def _terminated(_signum: int, _frame: object) -> None:
            # uvicorn re-raises SIGTERM after its graceful shutdown: end like Ctrl-C, so the
            # scheduler below releases its lease and stops its engine
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, _terminated)
        try:
            # proxy_headers off: the application alone decides, on the socket's peer address,
            # whether forwarded headers are believed (trusted_proxies); uvicorn's own rewrite
            # would let any local process claim to be the proxy, and hide a local proxy
            uvicorn.run(web, host=bind_host, port=bind_port, log_level="info", proxy_headers=False)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            if background is not None:
                _say("stopping the scheduler")
                background.stop()

    @app.command("settings")
    def show_settings() -> None:
        """List every server setting with its environment variable, default and help."""
        from hyperloop.settings import settings_doc

        for _name, env, default, help_text in settings_doc():
            typer.echo(f"{env}  (default {default})\n    {help_text}\n")
