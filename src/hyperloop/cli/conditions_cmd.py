"""``hyperloop conditions``: the local conditions-database service and its objects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

conditions = typer.Typer(
    help="The conditions database: serve a folder of objects, write the demo objects.",
    no_args_is_help=True,
)


@conditions.command("serve")
def serve(
    folder: Annotated[Path, typer.Option(help="Folder of conditions objects.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8083,
) -> None:
    """Serve the objects of FOLDER: GET /<path>/<timestamp>[?run=N]. Point the analysis
    runtime at it with HYPERLOOP_CONDITIONS_URL=http://HOST:PORT."""
    from hyperloop.analysis.ccdb import ConditionsError
    from hyperloop.analysis.ccdb_service import make_server

    try:
        server = make_server(folder, host, port)
    except (ConditionsError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    h, p = server.server_address[:2]
    typer.echo(f"conditions service of {folder} on http://{h}:{p}", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@conditions.command("export")
def export(
    folder: Annotated[Path, typer.Argument(help="Folder to write the objects into.")],
) -> None:
    """Write the built-in conditions objects (magnetic field and orbit reset per run, the
    TPC dE/dx calibration) into FOLDER, in the layout the service serves."""
    from hyperloop.analysis.ccdb import export_objects

    for path in export_objects(folder):
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.add_typer(conditions, name="conditions")
