"""``hyperloop package build``: make an immutable package tag from a physics package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    package_app = typer.Typer(
        help="Package tags: immutable, versioned builds of a physics package."
    )
    app.add_typer(package_app, name="package")

    @package_app.command("build")
    def build_cmd(
        source: Annotated[
            Path, typer.Argument(help="the physics package source folder (with pyproject.toml)")
        ],
        tag: Annotated[str, typer.Option(help="tag name, e.g. daily-2026-11-29")],
        tags_dir: Annotated[Path, typer.Option(help="folder holding all tags")] = Path("var/tags"),
        pull_requests: Annotated[
            str, typer.Option(help="comma-separated pull requests the tag contains")
        ] = "",
        git_ref: Annotated[
            str | None, typer.Option(help="build the package as of this git commit/tag")
        ] = None,
        next_free: Annotated[
            bool,
            typer.Option(
                "--next-free",
                help="if TAG exists, take the first free TAG.2, TAG.3, ... (a release job "
                "run twice a day); the location is the output's last word",
            ),
        ] = False,
    ) -> None:
        """Build SOURCE into TAGS_DIR/TAG (read-only) with its workflow introspection."""
        from hyperloop.analysis.tags import TagError, build_tag

        try:
            info = build_tag(
                source,
                tag,
                tags_dir,
                pull_requests=[p.strip() for p in pull_requests.split(",") if p.strip()],
                git_ref=git_ref,
                next_free=next_free,
            )
        except TagError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(
            f"tag {info['tag']}: {info['package']['name']} {info['package']['version']}, "
            f"{len(info['workflows'])} workflows -> {info['location']}"
        )

    @package_app.command("pull-request")
    def pull_request_cmd(
        source: Annotated[
            Path, typer.Argument(help="the pull request's checkout of the physics package")
        ],
        number: Annotated[int, typer.Option(min=1, help="the pull request's number")],
        title: Annotated[str, typer.Option(help="the pull request's title")],
        state: Annotated[str, typer.Option(help="open or merged")] = "open",
        git_ref: Annotated[
            str | None, typer.Option(help="build the package as of this git commit")
        ] = None,
        out: Annotated[
            Path | None, typer.Option(help="write the request body here (default: stdout)")
        ] = None,
    ) -> None:
        """Build a pull request's SOURCE (in a temporary folder) and print the body of
        ``POST /api/pull-requests``: number, title, state and the workflow introspection."""
        import json
        import tempfile

        from hyperloop.analysis.tags import TagError, build_tag, remove_tag

        if state not in ("open", "merged"):
            typer.echo(f"error: --state {state!r}: choose open or merged", err=True)
            raise typer.Exit(2)
        with tempfile.TemporaryDirectory() as tmp:
            try:
                info = build_tag(source, f"pr-{number}", tmp, git_ref=git_ref)
            except TagError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None
            remove_tag(info["location"])  # read-only folder: made writable to go away
        body = {
            "number": number,
            "title": title,
            "state": state,
            "introspection": {"package": info["package"], "workflows": info["workflows"]},
        }
        text = json.dumps(body, indent=2) + "\n"
        if out is None:
            typer.echo(text, nl=False)
        else:
            out.write_text(text)
            typer.echo(
                f"pull request #{number}: {info['package']['name']} "
                f"{len(info['workflows'])} workflows -> {out}",
                err=True,
            )
