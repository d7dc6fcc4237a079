"""Admin commands on a real SQLite database given by HYPERLOOP_DATABASE_URL."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

from hyperloop.cli import app
from hyperloop.core import users
from hyperloop.db.models import Analysis, User
from hyperloop.db.session import make_engine, make_sessionmaker


def test_user_and_analysis_commands(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    monkeypatch.setenv("HYPERLOOP_DATABASE_URL", url)
    run = CliRunner().invoke
    assert run(app, ["user", "add", "ann", "--role", "operator"]).exit_code == 0
    out = run(app, ["user", "add", "bob", "--password-stdin"], input="long-password\n")
    assert out.exit_code == 0, out.output
    assert run(app, ["user", "role", "bob", "pwg_convener", "--pwg", "PWG-LF"]).exit_code == 0
    assert run(app, ["analysis", "add", "LF", "--pwg", "PWG-LF", "--service"]).exit_code == 0
    assert run(app, ["analysis", "member", "LF", "bob"]).exit_code == 0
    bad = run(app, ["analysis", "member", "nope", "bob"])
    assert bad.exit_code == 1 and "no analysis 'nope'" in bad.output
    token = run(app, ["user", "token", "bob"]).output.strip()
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        bob = users.get_user(s, "bob")
        assert bob.roles == ["pwg_convener"] and bob.convener_pwgs == ["PWG-LF"]
        assert users.verify_password(bob.password_hash, "long-password")
        assert users.user_for_token(s, token) is not None
        lf = s.query(Analysis).one()
        assert lf.is_service and lf.member_ids() == {bob.id}
    engine.dispose()


def test_analysis_sync_from_a_tracker_export(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    monkeypatch.setenv("HYPERLOOP_DATABASE_URL", url)
    export = tmp_path / "analyses.json"
    export.write_text(
        '{"analyses": [{"name": "LF", "pwg": "PWG-LF", "members": ["ann", "bob"]},'
        ' {"name": "Core", "pwg": "DPG", "service": true, "members": []}]}'
    )
    out = CliRunner().invoke(app, ["analysis", "sync", str(export)])
    assert out.exit_code == 0, out.output
    assert "created: 2" in out.output and "users_created: 2" in out.output
    export.write_text('{"analyses": [{"name": "LF", "pwg": "PWG-LF", "members": ["bob"]}]}')
    assert CliRunner().invoke(app, ["analysis", "sync", str(export)]).exit_code == 0
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        lf = s.query(Analysis).filter_by(name="LF").one()
        assert lf.member_ids() == {users.get_user(s, "bob").id}
    engine.dispose()


def test_user_password_sets_a_new_password_and_stores_only_its_hash(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    monkeypatch.setenv("HYPERLOOP_DATABASE_URL", url)
    run = CliRunner().invoke
    assert (
        run(app, ["user", "add", "bob", "--password-stdin"], input="first-password\n").exit_code
        == 0
    )
    typed = run(app, ["user", "password", "bob", "--password-stdin"], input="second-password\n")
    assert typed.exit_code == 0 and "second-password" not in typed.output
    made = run(app, ["user", "password", "bob", "--generate"])
    assert made.exit_code == 0, made.output
    generated = made.output.strip().rsplit(": ", 1)[1]
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        bob = users.get_user(s, "bob")
        assert users.verify_password(bob.password_hash, generated)
        assert not users.verify_password(bob.password_hash, "second-password")
        assert generated not in bob.password_hash
    engine.dispose()
    short = run(app, ["user", "password", "bob", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    nobody = run(app, ["user", "password", "nobody", "--generate"])
    assert nobody.exit_code == 1 and "nobody" in nobody.output


def test_a_password_prompt_without_a_terminal_fails_clearly(tmp_path):
    """Run as an operator's script would (no terminal): the prompted forms refuse with exit 2
    and name the options that work, instead of aborting with a traceback."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERLOOP_")}
    env["HYPERLOOP_DATABASE_URL"] = url

    def hyperloop(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "hyperloop", *args],
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    added = hyperloop("user", "add", "ann", "--password")
    assert added.returncode == 2, added.stderr
    assert "without a terminal; use --password-stdin" in added.stderr
    assert "Traceback" not in added.stderr and "Aborted" not in added.stderr
    made = hyperloop("user", "add", "bob", "--password-stdin", stdin="first-password\n")
    assert made.returncode == 0, made.stderr
    changed = hyperloop("user", "password", "bob", stdin="piped-password\n")
    assert changed.returncode == 2
    assert "use --password-stdin (or --generate)" in changed.stderr
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        assert [u.username for u in s.query(User)] == ["bob"]  # ann was not created
        assert users.verify_password(users.get_user(s, "bob").password_hash, "first-password")
    engine.dispose()


def test_db_downgrade_one_step_and_back_and_an_unknown_revision_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERLOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'h.db'}")
    run = CliRunner().invoke
    head = run(app, ["db", "upgrade"])
    assert head.exit_code == 0 and head.output.startswith("database at revision "), head.output
    back = run(app, ["db", "downgrade", "-1"])  # as the operator guide rehearses an upgrade
    assert back.exit_code == 0, back.output
    assert back.output.startswith("database at revision ") and back.output != head.output
    assert run(app, ["db", "upgrade"]).output == head.output
    for command in ("upgrade", "downgrade"):
        bad = run(app, ["db", command, "no-such-revision"])
        assert bad.exit_code == 2, bad.output
        assert bad.output.startswith("error: revision 'no-such-revision': ")
        assert "Traceback" not in bad.output and len(bad.output.splitlines()) == 1
    assert run(app, ["db", "current"]).output.strip() == head.output.split()[-1]
