"""Admin commands: ``hyperloop user add/role/password/token``, ``hyperloop analysis add/member``,
``hyperloop db upgrade/downgrade/current``. They act on the database of the settings
(``HYPERLOOP_DATABASE_URL``, default ``<data_dir>/hyperloop.db``) as a trusted admin."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

user_app = typer.Typer(help="Manage user accounts and roles.", no_args_is_help=True)
analysis_app = typer.Typer(help="Manage analyses and their members.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


def _database_url() -> str:
    from hyperloop.settings import SettingsError, load_settings

    try:
        return load_settings().database_url
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@contextmanager
def _session() -> Iterator[Any]:
    """A transaction on the (migrated) database; domain errors become exit code 1."""
    from hyperloop.core.errors import DomainError
    from hyperloop.db.migrate import upgrade
    from hyperloop.db.session import make_engine, make_sessionmaker

    url = _database_url()
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as s:
            yield s
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


def _read_password(
    prompt: bool, stdin: bool, *, alternatives: str = "--password-stdin"
) -> str | None:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    if prompt:
        if not sys.stdin.isatty():
            # a prompt without a terminal would abort (or read a piped line unconfirmed)
            typer.echo(
                f"error: cannot prompt for the password without a terminal; use {alternatives}",
                err=True,
            )
            raise typer.Exit(2)
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return None


def _run(fn: Callable[[Any], str]) -> None:
    with _session() as s:
        message = fn(s)
    typer.echo(message)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (login).")],
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="admin, operator, dpg_expert or pwg_convener (repeatable)."),
    ] = None,
    password: Annotated[
        bool, typer.Option("--password", help="Prompt for a local password.")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    email: Annotated[str | None, typer.Option(help="E-mail address for notifications.")] = None,
    pwg: Annotated[
        list[str] | None, typer.Option("--pwg", help="PWG convened (for pwg_convener).")
    ] = None,
) -> None:
    """Create a user (without a password: login through OIDC/certificates or tokens only)."""
    from hyperloop.core import users

    secret = _read_password(password, password_stdin)
    if secret is not None and len(secret) < 8:
        typer.echo("error: password must have at least 8 characters", err=True)
        raise typer.Exit(1)

    def act(s: Any) -> str:
        user = users.create_user(
            s, name, roles=role or [], password=secret, email=email, convener_pwgs=pwg or []
        )
        return f"user {user.username} created (roles: {', '.join(user.roles) or 'none'})"

    _run(act)


@user_app.command("role")
def user_role(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Argument(help="admin, operator, dpg_expert or pwg_convener.")],
    pwg: Annotated[str | None, typer.Option(help="PWG convened (for pwg_convener).")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Take the role away.")] = False,
) -> None:
    """Give a role to a user (or take it away with --remove)."""
    from hyperloop.core import users

    def act(s: Any) -> str:
        if remove:
            user = users.get_user(s, name)
            user = users.set_roles(s, None, name, [r for r in user.roles if r != role])
        else:
            user = users.add_role(s, None, name, role, pwg=pwg)
        return f"user {user.username}: roles {', '.join(user.roles) or 'none'}"

    _run(act)


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from stdin.")
    ] = False,
    generate: Annotated[
        bool,
        typer.Option("--generate", help="Make a random password and print it once."),
    ] = False,
) -> None:
    """Set a new local password (prompted, read from stdin, or generated and printed once);
    only its hash is stored. Gets a forgotten demo password back."""
    import secrets

    from hyperloop.core import users

    if password_stdin and generate:
        typer.echo("error: give at most one of --password-stdin and --generate", err=True)
        raise typer.Exit(2)
    secret = (
        secrets.token_urlsafe(12)
        if generate
        else _read_password(True, password_stdin, alternatives="--password-stdin (or --generate)")
    )
    if secret is None or len(secret) < 8:
        typer.echo("error: password must have at least 8 characters", err=True)
        raise typer.Exit(1)

    def act(s: Any) -> str:
        user = users.get_user(s, name)
        users.set_password(s, user, secret)
        done = f"user {user.username}: new password set"
        return f"{done}: {secret}" if generate else done

    _run(act)


@user_app.command("unlock")
def user_unlock(
    name: Annotated[str, typer.Argument(help="User name (as typed at the login).")],
) -> None:
    """Clear the failed-login count of a username, so that a login throttled by someone
    else's guessing is accepted again at once (the address counters stay)."""
    from hyperloop.core import login_throttle

    def act(s: Any) -> str:
        cleared = login_throttle.clear(s, login_throttle.account_key(name))
        return f"user {name}: " + ("login unlocked" if cleared else "no failed logins recorded")

    _run(act)


@user_app.command("token")
def user_token(
    name: Annotated[str, typer.Argument(help="User name.")],
    label: Annotated[str, typer.Option("--name", help="What the token is for.")] = "cli",
) -> None:
    """Create a personal API token and print it once (only its hash is stored)."""
    from hyperloop.core import users

    def act(s: Any) -> str:
        _, plaintext = users.create_api_token(s, users.get_user(s, name), label)
        return plaintext

    _run(act)


@analysis_app.command("add")
def analysis_add(
    name: Annotated[str, typer.Argument(help="Analysis name.")],
    pwg: Annotated[str, typer.Option("--pwg", help="Physics working group.")],
    service: Annotated[
        bool, typer.Option("--service", help="A service analysis (its wagons serve everybody).")
    ] = False,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
) -> None:
    """Create an analysis."""
    from hyperloop.core import analyses

    def act(s: Any) -> str:
        a = analyses.create_analysis(s, None, name, pwg, service=service, description=description)
        kind = "service analysis" if a.is_service else "analysis"
        return f"{kind} {a.name} ({a.pwg}) created with id {a.id}"

    _run(act)


@analysis_app.command("member")
def analysis_member(
    analysis: Annotated[str, typer.Argument(help="Analysis name.")],
    user: Annotated[str, typer.Argument(help="User name.")],
    remove: Annotated[bool, typer.Option("--remove", help="Remove the member.")] = False,
) -> None:
    """Add a user to an analysis (or remove with --remove)."""
    from sqlalchemy import select

    from hyperloop.core import analyses, users
    from hyperloop.core.errors import NotFound
    from hyperloop.db.models import Analysis

    def act(s: Any) -> str:
        a = s.scalars(select(Analysis).where(Analysis.name == analysis)).first()
        if a is None:
            raise NotFound(f"no analysis {analysis!r}")
        u = users.get_user(s, user)
        if remove:
            analyses.remove_member(s, None, a.id, u.id)
            return f"{u.username} removed from {a.name}"
        analyses.add_member(s, None, a.id, u.id)
        return f"{u.username} is a member of {a.name}"

    _run(act)


@analysis_app.command("sync")
def analysis_sync(
    path: Annotated[
        str, typer.Argument(help='JSON export: {"analyses": [{name, pwg, service, members}]}.')
    ],
) -> None:
    """Synchronise analyses and members from an external tracker export (JSON file)."""
    import json
    from pathlib import Path

    from hyperloop.core import analyses

    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        typer.echo(f"error: cannot read {path}: {exc}", err=True)
        raise typer.Exit(1) from None

    def act(s: Any) -> str:
        report = analyses.sync_analyses(s, doc)
        return ", ".join(f"{k}: {len(v)}" for k, v in report.items())

    _run(act)


@contextmanager
def _revision_errors(revision: str) -> Iterator[None]:
    """Alembic's refusal of a revision (unknown, not reachable) as one line and exit 2."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        typer.echo(f"error: revision {revision!r}: {exc}", err=True)
        raise typer.Exit(2) from None


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the schema (default: to the newest revision)."""
    from hyperloop.db.migrate import current, upgrade

    url = _database_url()
    with _revision_errors(revision):
        upgrade(url, revision)
    typer.echo(f"database at revision {current(url)}")


@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help='A revision, "-1" for one step back, "base" for no table.')
    ],
) -> None:
    """Downgrade the schema to REVISION ("base" removes every table, -1 goes one step back)."""
    from hyperloop.db.migrate import current, downgrade

    url = _database_url()
    with _revision_errors(revision):
        downgrade(url, revision)
    typer.echo(f"database at revision {current(url)}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database."""
    from hyperloop.db.migrate import current

    typer.echo(current(_database_url()) or "empty (no revision)")


def register(app: typer.Typer) -> None:
    """Add the ``user``, ``analysis`` and ``db`` command groups."""
    app.add_typer(user_app, name="user")
    app.add_typer(analysis_app, name="analysis")
    app.add_typer(db_app, name="db")
