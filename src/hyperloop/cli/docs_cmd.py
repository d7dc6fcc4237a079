"""``hyperloop docs build`` and ``hyperloop docs screenshots``: the documentation site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``docs`` command group to the main app."""
    docs_app = typer.Typer(
        help="Build the documentation site the server publishes under /documentation.",
        no_args_is_help=True,
    )
    app.add_typer(docs_app, name="docs")

    @docs_app.command("build")
    def build_cmd(
        out: Annotated[
            Path | None,
            typer.Option(
                "--out",
                help="site folder to write (default: data_dir/documentation, which "
                "`hyperloop serve` publishes)",
            ),
        ] = None,
        strict: Annotated[
            bool,
            typer.Option(
                "--strict/--no-strict",
                help="fail on any warning (broken link, page missing from the navigation)",
            ),
        ] = True,
        screenshots: Annotated[
            bool,
            typer.Option(
                "--screenshots/--no-screenshots",
                help="first copy the browser tests' screenshots from ci-artifacts/screenshots",
            ),
        ] = True,
    ) -> None:
        """Build the documentation site (MkDocs with the Material theme).

        The settings, command-line and REST API reference pages are generated from the code
        at build time."""
        from hyperloop.docs.build import build_site
        from hyperloop.docs.paths import DocsError, site_dir
        from hyperloop.docs.screenshots import copy_screenshots
        from hyperloop.settings import SettingsError, load_settings

        try:
            target = out or site_dir(load_settings())
            if screenshots:
                _copied, missing = copy_screenshots()
                if missing:
                    typer.echo(
                        f"note: {len(missing)} screenshots not captured yet (shown as notes): "
                        + ", ".join(missing)
                    )
            built = build_site(target, strict=strict)
        except (DocsError, SettingsError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"documentation built in {built} (served under /documentation)")

    @docs_app.command("screenshots")
    def screenshots_cmd(
        source: Annotated[
            Path | None,
            typer.Option(
                help="folder of the browser tests' screenshots (ci-artifacts/screenshots)"
            ),
        ] = None,
        dest: Annotated[
            Path | None,
            typer.Option(help="folder the user guide shows them from (docs/images)"),
        ] = None,
    ) -> None:
        """Copy the screenshots the user guide shows from the browser tests into docs/images."""
        from hyperloop.docs.paths import DocsError
        from hyperloop.docs.screenshots import copy_screenshots

        try:
            copied, missing = copy_screenshots(source, dest)
        except DocsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"copied {len(copied)} screenshots into {dest or 'docs/images'}")
        if missing:
            typer.echo("still missing: " + ", ".join(missing))
