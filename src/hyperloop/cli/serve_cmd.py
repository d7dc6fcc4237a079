"""``hyperloop serve``: run the web server (uvicorn) after upgrading the database schema."""

from __future__ import annotations

from typing import Annotated

import typer


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
    ) -> None:
        """Run the Hyperloop web server and JSON API."""
        import uvicorn

        from hyperloop.db.migrate import upgrade
        from hyperloop.settings import SettingsError, load_settings
        from hyperloop.web.app import create_app

        try:
            settings = load_settings()
        except SettingsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if migrate if migrate is not None else settings.run_migrations_on_start:
            upgrade(settings.database_url)
        uvicorn.run(
            create_app(settings),
            host=host or settings.host,
            port=port or settings.port,
            log_level="info",
        )

    @app.command("settings")
    def show_settings() -> None:
        """List every server setting with its environment variable, default and help."""
        from hyperloop.settings import settings_doc

        for _name, env, default, help_text in settings_doc():
            typer.echo(f"{env}  (default {default})\n    {help_text}\n")
