"""``hyperloop demo-data`` (PYTHIA 8 demo AO2D datasets by run number) and ``hyperloop
demo-site`` (the complete demo system, prepared without serving it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def _parse_runs(text: str) -> list[int]:
    try:
        runs = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated run numbers, got {text!r}") from None
    if not runs:
        raise typer.BadParameter("give at least one run number")
    return runs


def demo_settings(data_dir: Path | None):
    """The server settings, with ``--data-dir`` moving the data folder and (unless
    HYPERLOOP_DATABASE_URL is set) the SQLite database into it."""
    import os

    from hyperloop.settings import load_settings

    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
        if not os.environ.get("HYPERLOOP_DATABASE_URL"):
            overrides["database_url"] = f"sqlite:///{(data_dir / 'hyperloop.db').resolve()}"
    return load_settings(**overrides)


def register(app: typer.Typer) -> None:
    """Add the ``demo-data`` and ``demo-site`` commands to the main app."""

    @app.command("demo-site")
    def demo_site(
        data_dir: Annotated[
            Path | None,
            typer.Option("--data-dir", help="data folder (default: the data_dir setting, ./var)"),
        ] = None,
        events_per_run: Annotated[
            int, typer.Option("--events-per-run", min=1, help="demo events per run (first time)")
        ] = 10_000,
    ) -> None:
        """Prepare the demo system without serving it: database, demo data, package tags,
        accounts (printed), analyses, wagons, datasets, runlists. Safe to run again."""
        from hyperloop.demo.site import prepare_demo
        from hyperloop.settings import SettingsError

        try:
            settings = demo_settings(data_dir)
            site = prepare_demo(settings, report=typer.echo, events_per_run=events_per_run)
        except (SettingsError, ValueError, OSError, RuntimeError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(site.describe())
        env = ""
        if data_dir is not None:
            env = f"HYPERLOOP_DATA_DIR={settings.data_dir} HYPERLOOP_DATABASE_URL={settings.database_url} "
        typer.echo(f"Serve it with: {env}hyperloop serve --demo")

    @app.command("demo-data")
    def demo_data(
        out: Annotated[Path, typer.Option("--out", help="dataset folder to write")],
        runs: Annotated[
            str, typer.Option("--runs", help="comma-separated run numbers, e.g. 523308,523309")
        ] = "523308",
        events_per_run: Annotated[
            int, typer.Option("--events-per-run", min=1, help="generated events per run")
        ] = 1000,
        mc: Annotated[bool, typer.Option("--mc", help="also write MC truth tables")] = False,
        seed: Annotated[int, typer.Option("--seed", help="random seed (same seed, same data)")] = 1,
        fast: Annotated[
            bool,
            typer.Option("--fast", help="resample a cached pool of PYTHIA events (large datasets)"),
        ] = False,
        pool_size: Annotated[
            int, typer.Option("--pool-size", min=1, help="PYTHIA events in the fast-mode pool")
        ] = 2000,
        dfs_per_file: Annotated[
            int, typer.Option("--dfs-per-file", min=1, help="dataframes per AO2D file")
        ] = 4,
        events_per_df: Annotated[
            int, typer.Option("--events-per-df", min=1, help="events per dataframe")
        ] = 500,
        workers: Annotated[
            int, typer.Option("--workers", min=1, help="parallel processes writing files")
        ] = 1,
        as_json: Annotated[bool, typer.Option("--json", help="print the manifest as JSON")] = False,
    ) -> None:
        """Generate pp 13.6 TeV events with PYTHIA 8, apply the demo detector, write AO2D.

        Writes OUT/<run>/AO2D_<k>.root (ZSTD, several DF_<id> dataframes each) and
        OUT/manifest.json. The detector response is documented in hyperloop.demo.detector.
        """
        from hyperloop.demo import generate_dataset
        from hyperloop.settings import SettingsError, load_settings

        try:
            cache_dir = load_settings().cache_dir
        except SettingsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        try:
            manifest = generate_dataset(
                out,
                _parse_runs(runs),
                events_per_run,
                mc=mc,
                seed=seed,
                fast=fast,
                pool_size=pool_size,
                dfs_per_file=dfs_per_file,
                events_per_df=events_per_df,
                workers=workers,
                cache_dir=cache_dir,
            )
        except (ValueError, ImportError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if as_json:
            typer.echo(json.dumps(manifest.to_dict(), indent=2))
            return
        t = manifest.totals
        typer.echo(
            f"wrote {t['files']} files, {t['events']} events ({t['collisions']} collisions, "
            f"{t['tracks']} tracks, {t['v0s']} V0s) to {out}: {t['size_bytes'] / 1e6:.1f} MB "
            f"in {manifest.seconds:.1f} s ({t['events_per_second']} events/s)"
        )
