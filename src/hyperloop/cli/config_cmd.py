"""``hyperloop config fmt``: parse an O2 configuration and print it in canonical O2 form."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from hyperloop.analysis.o2config import (
    O2DuplicateKeyWarning,
    O2JsonError,
    dump_o2_json,
    parse_o2_config,
    parse_o2_json_text,
    read_o2_text,
)

config_app = typer.Typer(
    name="config",
    help="Work with O2 JSON configurations (dpl-config.json, wagon configurations).",
    no_args_is_help=True,
)


@config_app.command("fmt")
def fmt(
    file: Path = typer.Argument(..., help="O2 configuration JSON file (task -> parameters)."),
    check: bool = typer.Option(
        False, "--check", help="Print nothing; exit 1 if the file is not already canonical."
    ),
    write: bool = typer.Option(False, "--write", "-w", help="Rewrite the file in place."),
) -> None:
    """Parse FILE into typed values and print it back in canonical O2 format.

    Same tasks, parameters and values (numbers keep their exact text); layout as O2
    writes it. Exit codes: 0 ok, 1 not canonical (--check), 2 unreadable or malformed.
    """
    try:
        text, name = read_o2_text(file)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", O2DuplicateKeyWarning)
            canonical = dump_o2_json(parse_o2_config(parse_o2_json_text(text, name), source=name))
    except O2JsonError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for warning in caught:  # a repeated key: accepted as O2 accepts it, kept when written
        typer.echo(f"warning: {warning.message}", err=True)
    if check:
        if text != canonical:
            typer.echo(
                f"{name}: not in canonical O2 format (run: hyperloop config fmt -w {name})",
                err=True,
            )
            raise typer.Exit(1)
        return
    if write:
        if text != canonical:
            file.write_text(canonical, encoding="utf-8")
            typer.echo(f"reformatted {name}", err=True)
        return
    typer.echo(canonical, nl=False)


def register(app: typer.Typer) -> None:
    """Add the ``config`` command group to the main ``hyperloop`` app."""
    app.add_typer(config_app, name="config")
