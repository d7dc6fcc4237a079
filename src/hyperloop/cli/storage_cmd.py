"""``hyperloop storage check``: can this machine write and read the storage (``storage_url``)?"""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    storage = typer.Typer(
        help="The storage of train jobs and merges (setting storage_url).", no_args_is_help=True
    )
    app.add_typer(storage, name="storage")

    @storage.command("check")
    def check(
        url: Annotated[
            str | None,
            typer.Option("--url", help="Storage to check (default: the storage_url setting)."),
        ] = None,
    ) -> None:
        """Write, read back and delete a small file in the storage; exit 1 with the reason
        when it fails. Run it on the scheduler, the web servers and a worker node."""
        from hyperloop.grid import store
        from hyperloop.scheduler.service import storage_location
        from hyperloop.settings import Settings

        where = url or storage_location(Settings())
        try:
            seconds = store.probe(where)
        except OSError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"storage {where}: writable and readable ({seconds * 1000:.0f} ms)")
