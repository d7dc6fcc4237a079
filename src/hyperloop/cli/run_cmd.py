"""``hyperloop run-train`` and ``hyperloop workflows``: the analysis runtime's commands."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from hyperloop.analysis.configurables import ConfigurationError


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def resolve_package(spec_tag: str, spec_path: str | None, option: Path | None):
    """The package a run uses: --package, the spec's package_path, <setting tags>/<tag>
    (``HYPERLOOP_TAGS``), installed."""
    from hyperloop.analysis.workflows import load_package

    if option is not None:
        return load_package(option)
    if spec_path and Path(spec_path).is_dir():
        return load_package(spec_path)
    tags_dir = _settings().tags if spec_tag else None
    if spec_tag and tags_dir and (tags_dir / spec_tag).is_dir():
        return load_package(tags_dir / spec_tag)
    return load_package()


def _settings():
    """The settings (read only where one is needed: a run with --package needs none)."""
    from hyperloop.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        _fail(str(exc))


def input_data_kind(path: str) -> str | None:
    """``"mc"`` or ``"data"`` for a local AO2D file: its ``metaData`` ``DataType``, else
    whether its first dataframe holds MC tables (None: not a readable local file)."""
    from hyperloop.analysis.ao2d import AO2DError, open_ao2d

    local = path.removeprefix("file://")
    if "://" in local or not Path(local).is_file():
        return None
    try:
        with open_ao2d(local) as f:
            data_type = (f.metadata() or {}).get("DataType", "")
            if data_type:
                return "mc" if data_type.upper() == "MC" else "data"
            dfs = f.dataframes()
            if not dfs:
                return None
            return "mc" if any(n.startswith("O2mc") for n in f.tree_names(dfs[0])) else "data"
    except AO2DError:
        return None  # the run reports the bad file


def register(app: typer.Typer) -> None:
    @app.command("run-train")
    def run_train_cmd(
        full_config: Annotated[Path, typer.Argument(help="full_config.json of a test or job")],
        input: Annotated[
            Path,
            typer.Option("--input", "-i", help="input_data.txt: one AO2D path or URL per line"),
        ],
        out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = Path(
            "train-output"
        ),
        cores: Annotated[
            int,
            typer.Option(
                min=0,
                max=1024,
                help="cores: 1 runs in-process; more runs devices as processes",
            ),
        ] = 0,
        package: Annotated[
            Path | None,
            typer.Option(
                help="package tag directory (default: from the config or the installed package)"
            ),
        ] = None,
        mode: Annotated[
            str,
            typer.Option(
                help="auto, inprocess, dataframes (whole-train workers) or processes (devices)"
            ),
        ] = "auto",
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="check and print the plan, read no data")
        ] = False,
    ) -> None:
        """Run a train locally exactly as a test or grid job runs it (SPEC §7)."""
        from hyperloop.analysis.histograms import HistogramError
        from hyperloop.analysis.plan import (
            PlanError,
            build_plan,
            check_dataset_type,
            describe_plan,
        )
        from hyperloop.analysis.runner import run_train
        from hyperloop.analysis.spec import SpecError, TrainSpec, read_input_list
        from hyperloop.analysis.workflows import WorkflowError

        try:
            spec = TrainSpec.load(full_config)
            pkg = resolve_package(spec.package_tag, spec.package_path, package)
            plan = build_plan(spec, pkg)
            inputs = [] if dry_run and not input.is_file() else read_input_list(input)
            kind = input_data_kind(inputs[0]) if inputs else None
            if kind is not None:  # MC process switches on real data: named before the run
                check_dataset_type(plan, is_mc=kind == "mc", what=f"input {inputs[0]}")
        except (SpecError, WorkflowError, PlanError, ConfigurationError) as exc:
            _fail(str(exc))
            return
        if dry_run:
            typer.echo(json.dumps(describe_plan(plan), indent=2))
            return
        out.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(out / "stderr.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger("hyperloop").addHandler(handler)
        stdout_log = (out / "stdout.log").open("w")

        def progress(line: str) -> None:
            print(line, file=stdout_log, flush=True)
            typer.echo(line)

        for inst, names in plan.defaults_filled.items():
            if names:
                progress(f"{inst}: defaults used for {', '.join(names)}")
        for inst, names in plan.ignored_parameters.items():
            progress(
                f"{inst}: parameters added by hand, not declared here, ignored: {', '.join(names)}"
            )
        n_cores = cores or spec.cpu_cores or 1
        try:
            result = run_train(plan, inputs, out, cores=n_cores, mode=mode, progress=progress)
        except (HistogramError, ConfigurationError) as exc:  # booking refused: no traceback
            _fail(str(exc))
            return
        finally:
            stdout_log.close()
            logging.getLogger("hyperloop").removeHandler(handler)
            handler.close()
        if result.task_failure:
            tf = result.task_failure
            typer.echo(
                f"error: task {tf['task']} failed on {tf['file']} {tf['dataframe']}: {tf['error']}",
                err=True,
            )
            typer.echo(tf["traceback"], err=True)
        for rec in result.failed_files:
            typer.echo(f"error: input {rec.file}: {rec.message}", err=True)
        ok = len(result.files) - len(result.failed_files)
        typer.echo(f"{ok}/{len(result.files)} files ok, wall {result.wall:.2f} s; outputs in {out}")
        if result.files and ok == 0 and not result.task_failure:
            # nothing was analysed: an empty results file must not pass for a result
            removed = [Path(p) for p in result.outputs.values() if Path(p).is_file()]
            for path in removed:
                path.unlink()
            names = ", ".join(p.name for p in removed) or "no output file"
            typer.echo(
                f"error: none of the {len(result.files)} input files could be read; "
                f"removed {names} (see run_report.json)",
                err=True,
            )
        raise typer.Exit(result.exit_code)

    @app.command("workflows")
    def workflows_cmd(
        package: Annotated[
            Path | None, typer.Option(help="package tag directory (default: the installed package)")
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="print the full introspection as JSON")
        ] = False,
    ) -> None:
        """List the workflows of a package: tasks, configurables, consumed and produced tables."""
        from hyperloop.analysis.workflows import WorkflowError, load_package

        try:
            pkg = load_package(package)
            described = pkg.describe()
        except WorkflowError as exc:
            _fail(str(exc))
            return
        if as_json:
            json.dump(described, sys.stdout, indent=2)
            sys.stdout.write("\n")
            return
        typer.echo(f"{pkg.name} {pkg.version} ({pkg.location or 'installed'})")
        for wf in described["workflows"]:
            typer.echo(f"  {wf['name']}: {wf['doc'].splitlines()[0] if wf['doc'] else ''}")
            for task in wf["tasks"]:
                n = len(task["configurables"])
                consumes = ", ".join(task["consumes"]) or "-"
                produces = ", ".join(t["logical"] for t in task["produces"]) or "-"
                typer.echo(
                    f"    task {task['name']}: {n} configurables; reads {consumes}; produces {produces}"
                )


def register_results(app: typer.Typer) -> None:
    @app.command("results")
    def results_cmd(
        path: Annotated[Path, typer.Argument(help="an AnalysisResults.root file")],
    ) -> None:
        """List every object of a results file with its path: directories, histograms (class,
        bins, entries), TLists and their contents nested to any depth, trees (entries)."""
        from hyperloop.analysis.results import ResultsError, list_objects

        try:
            objects = list_objects(path)
        except (ResultsError, OSError, ValueError) as exc:
            _fail(f"{path}: {exc}")
            return
        width = max((len(o.path) for o in objects), default=0) + 2
        for o in objects:
            if o.items is not None:
                what = f"{o.items} items"
            elif o.bins:
                what = f"{o.bins:>14s} bins  entries {o.entries:12.0f}"
            elif o.entries is not None:
                what = f"{o.entries:.0f} entries"
            else:
                what = ""
            typer.echo(f"{o.path:{width}s}{o.classname:20s} {what}".rstrip())
