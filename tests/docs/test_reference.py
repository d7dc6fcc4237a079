"""The generated reference covers every setting, CLI command and API operation, and a
setting or command without a description fails here (fast: no site build)."""

from __future__ import annotations

import re

import pytest

from hyperloop.docs import reference
from hyperloop.settings import Settings, settings_doc


def test_every_setting_has_a_description_and_a_section():
    page = reference.settings_markdown()
    for name, env, _default, help_text in settings_doc():
        assert help_text, f"setting {name} has no description (Field(description=...))"
        assert f"\n## {name}\n" in page, name
        assert f"`{env}`" in page
    assert len(settings_doc()) == len(Settings.model_fields)


def test_every_cli_command_and_option_has_help():
    commands = reference.cli_commands()
    problems = list(reference.iter_undocumented_commands(commands))
    assert not problems, "undocumented CLI commands/options:\n" + "\n".join(problems)


def test_cli_reference_lists_every_command_walked_from_the_typer_app():
    commands = reference.cli_commands()
    paths = {c.path for c in commands}
    # sub-commands of groups are walked too
    for expected in (
        "hyperloop run-train",
        "hyperloop package build",
        "hyperloop db upgrade",
        "hyperloop docs build",
        "hyperloop user add",
    ):
        assert expected in paths
    page = reference.cli_markdown()
    for cmd in commands[1:]:
        if not cmd.hidden:
            assert re.search(rf"^#+ {re.escape(cmd.path)}$", page, re.M), cmd.path
            for p in cmd.params:
                assert f"`{p['names']}`" in page, (cmd.path, p["names"])


def test_help_text_with_angle_brackets_is_escaped_not_swallowed_as_html():
    page = reference.cli_markdown()
    assert "OUT/&lt;run&gt;" in page  # demo-data's help says OUT/<run>/AO2D_<k>.root


@pytest.mark.slow
def test_api_reference_lists_every_operation_with_its_parameters():
    doc = reference.openapi_document()
    page = reference.api_markdown(doc)
    n_ops = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            n_ops += 1
            assert f"### {method.upper()} {path}\n" in page
            for param in op.get("parameters", []):
                assert f"| `{param['name']}` |" in page
    assert n_ops > 50
    assert "## Schemas" in page
