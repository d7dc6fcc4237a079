"""``hyperloop merge OUT.root IN.root...``: merge results or derived AO2D files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``merge`` command to the main app."""

    @app.command("merge")
    def merge_cmd(
        output: Annotated[Path, typer.Argument(help="merged file to write (replaced atomically)")],
        inputs: Annotated[
            list[Path] | None,
            typer.Argument(help="AnalysisResults.root or derived AO2D.root files, all one kind"),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="print the merge report as JSON")
        ] = False,
        copy_unmergeable: Annotated[
            bool,
            typer.Option(
                "--copy-unmergeable",
                help="copy objects that cannot be merged faithfully (TTrees, strings, lists "
                "whose contents differ) from the first file instead of failing",
            ),
        ] = False,
    ) -> None:
        """Sum histograms of results files, or concatenate derived AO2D files.

        The kind is detected from the files. AO2D dataframes keep their identity: a DF_ name
        used by an earlier input is renamed (unlike hadd, which fuses them). Exit code 2 on
        bad input (missing, truncated, corrupt, incompatible binning) and when an object
        cannot be merged faithfully (its path is named) unless --copy-unmergeable.
        """
        from hyperloop.analysis.merge import MergeError, merge_any

        try:
            options = {"copy_unmergeable": True} if copy_unmergeable else {}
            report = merge_any(output, inputs or [], **options)
        except MergeError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if as_json:
            data = {k: v for k, v in vars(report).items()}
            data["output"] = str(report.output)
            typer.echo(json.dumps(data, indent=2))
            return
        typer.echo(report.summary())
        for item in report.copied:
            typer.echo(f"  copied from the first file, not summed: {item}")
        for item in report.skipped:
            typer.echo(f"  warning: not carried into the output: {item}", err=True)
