"""``hyperloop merge OUT.root IN.root...``: merge results or derived AO2D files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer


class InputRefused(ValueError):
    """An input or output path ``merge`` refuses before merging anything."""


def _root_end(path: Path) -> int:
    """The file length a ROOT file's header declares (``fEND``); refuses non-ROOT files."""
    with path.open("rb") as f:
        head = f.read(64)
    if len(head) < 21 or head[:4] != b"root":
        raise InputRefused(f"{path}: not a readable ROOT file (no ROOT header)")
    version = int.from_bytes(head[4:8], "big")
    if version >= 1_000_000:  # large files: 64-bit pointers
        return int.from_bytes(head[12:20], "big")
    return int.from_bytes(head[12:16], "big")


def _check_directory(directory: Any, handle: BinaryIO, path: Path, size: int) -> None:
    """Walk a directory: its key list must be where its header says and every name readable;
    sub-directories likewise. (Each object's data is checked while it is merged, which
    names the object it could not read.)"""
    where = "/".join(directory.path) or "/"
    seek, nbytes = directory.fSeekKeys, directory.fNbytesKeys
    handle.seek(seek)
    if seek <= 0 or seek + nbytes > size or int.from_bytes(handle.read(4), "big") != nbytes:
        raise InputRefused(f"{path}: corrupt ROOT file (the key list of {where} is damaged)")
    for name in directory.keys(recursive=False, cycle=False):
        if not name.isprintable():
            raise InputRefused(f"{path}: corrupt ROOT file (unreadable key name {name!r})")
        if directory.classname_of(name) in ("TDirectory", "TDirectoryFile"):
            _check_directory(directory[name], handle, path, size)


def check_input(path: Path) -> None:
    """Refuse an input that is missing, not a ROOT file, truncated (shorter than its header
    says) or whose directories or objects cannot be read."""
    import uproot

    if not path.is_file():
        raise InputRefused(f"input file not found: {path}")
    end, size = _root_end(path), path.stat().st_size
    if size < end:
        raise InputRefused(
            f"{path}: truncated ROOT file ({size} bytes, its header says {end}); "
            "copy it again from its source"
        )
    try:
        with uproot.open(path) as f, path.open("rb") as handle:
            _check_directory(f, handle, path, size)
    except InputRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - any reading failure means a corrupt file
        raise InputRefused(
            f"{path}: corrupt ROOT file ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None


def check_output(output: Path) -> None:
    """The output's folder must exist (no folders are created for a mistyped path)."""
    if output.is_dir():
        raise InputRefused(f"output {output} is a folder; give the path of the file to write")
    if not output.parent.is_dir():
        raise InputRefused(
            f"output folder {output.parent} does not exist; create it first or fix the path"
        )


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
            check_output(output)
            for path in inputs or []:
                check_input(path)
        except (InputRefused, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
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
