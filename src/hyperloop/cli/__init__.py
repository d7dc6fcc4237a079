"""The ``hyperloop`` command line."""

from __future__ import annotations

import typer

from hyperloop.cli import (
    admin_cmd,
    conditions_cmd,
    config_cmd,
    demo_cmd,
    docs_cmd,
    merge_cmd,
    package_cmd,
    reproduce_cmd,
    run_cmd,
    scheduler_cmd,
    serve_cmd,
    storage_cmd,
)

app = typer.Typer(
    name="hyperloop",
    help="Hyperloop analysis train system: run trains locally, merge outputs, inspect workflows.",
    no_args_is_help=True,
    add_completion=False,
)
config_cmd.register(app)
run_cmd.register(app)
run_cmd.register_results(app)
package_cmd.register(app)
serve_cmd.register(app)
scheduler_cmd.register(app)
merge_cmd.register(app)
demo_cmd.register(app)
admin_cmd.register(app)
reproduce_cmd.register(app)
docs_cmd.register(app)
conditions_cmd.register(app)
storage_cmd.register(app)


def main() -> None:
    app()
