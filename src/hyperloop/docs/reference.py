"""Reference pages generated from the code: settings, CLI commands, REST API.

The documentation build (an MkDocs hook) calls these so the reference can never drift from
the code: a new setting, command or endpoint appears in the site without anyone editing it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


def _md_text(text: str) -> str:
    """Plain text as Markdown: ``<`` and ``>`` outside backtick spans are escaped (help
    strings say ``OUT/<run>``, which Markdown would take for an HTML tag)."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell (one line, pipes escaped)."""
    out = _md_text(" ".join(str(text).split()))
    return out.replace("|", "\\|")


# ---------------------------------------------------------------------------------------
# Settings


def settings_markdown() -> str:
    """Every field of :class:`hyperloop.settings.Settings`: variable, default and help."""
    from hyperloop.settings import ENV_PREFIX, SETTINGS_FILE_ENV, settings_doc

    lines = [
        "# Settings",
        "",
        "<!-- generated from hyperloop.settings.Settings at build time: do not edit -->",
        "",
        f"The server reads its settings once at start from environment variables "
        f"(`{ENV_PREFIX}<NAME>`) or from a settings file named by `{SETTINGS_FILE_ENV}` "
        "(TOML keys without the prefix, or `HYPERLOOP_<NAME>=value` lines). Precedence: "
        "environment > settings file > default. `hyperloop settings` prints the same list.",
        "",
        "| setting | environment variable | default |",
        "|---|---|---|",
    ]
    rows = settings_doc()
    for name, env, default, _help in rows:
        lines.append(f"| [`{name}`](#{_slug(name)}) | `{env}` | `{_cell(default)}` |")
    lines.append("")
    for name, env, default, help_text in rows:
        lines += [
            f"## {name}",
            "",
            f"`{env}` · default `{_cell(default)}`",
            "",
            _md_text(help_text) or "(no description)",
            "",
        ]
    return "\n".join(lines)


def _slug(text: str) -> str:
    """The anchor MkDocs' default ``toc`` slugify gives a heading."""
    import re
    import unicodedata

    value = unicodedata.normalize("NFKD", text)
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


# ---------------------------------------------------------------------------------------
# CLI


@dataclass
class CommandDoc:
    """One command of the ``hyperloop`` CLI (a group lists its sub-commands)."""

    path: str  # "hyperloop package build"
    help: str
    usage: str
    params: list[dict[str, str]] = field(default_factory=list)
    is_group: bool = False
    hidden: bool = False


def cli_commands(app: Any = None) -> list[CommandDoc]:
    """Walk the typer app (and every sub-typer) depth first: one record per command."""
    import typer

    if app is None:
        from hyperloop.cli import app as hyperloop_app

        app = hyperloop_app
    root = typer.main.get_command(app)
    out: list[CommandDoc] = []

    def visit(cmd: Any, ctx: Any, path: str) -> None:
        params = []
        for p in cmd.get_params(ctx):
            if p.name == "help":
                continue
            if p.param_type_name == "argument":
                kind, names = "argument", (p.name or "").upper()
            else:
                kind = "option"
                names = ", ".join([*p.opts, *p.secondary_opts])
            default = p.default if not callable(p.default) else "(computed)"
            params.append(
                {
                    "kind": kind,
                    "names": names,
                    "type": _type_name(p),
                    "required": "yes" if p.required else "",
                    "default": "" if default in (None, (), "") or p.required else str(default),
                    "help": getattr(p, "help", None) or "",
                }
            )
        is_group = hasattr(cmd, "list_commands")
        pieces = [path]
        if any(p["kind"] == "option" for p in params):
            pieces.append("[OPTIONS]")
        pieces += [
            p["names"] if p["required"] else f"[{p['names']}]"
            for p in params
            if p["kind"] == "argument"
        ]
        if is_group:
            pieces.append("COMMAND [ARGS]...")
        usage = " ".join(pieces)
        out.append(
            CommandDoc(
                path=path,
                help=(cmd.help or "").strip(),
                usage=usage,
                params=params,
                is_group=is_group,
                hidden=bool(getattr(cmd, "hidden", False)),
            )
        )
        if is_group:
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is None:
                    continue
                visit(sub, context_class(sub, info_name=name, parent=ctx), f"{path} {name}")

    # typer may vendor its own click: build contexts with the class the commands expect
    context_class = root.context_class
    visit(root, context_class(root, info_name="hyperloop"), "hyperloop")
    return out


def _type_name(param: Any) -> str:
    """Readable type of a CLI parameter (typer's own click keeps it in a type descriptor)."""
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if annotation is not None:
        text = getattr(annotation, "__name__", None) or str(annotation)
        return text.replace("typing.", "").replace("pathlib.", "")
    kind = getattr(param, "type", None)
    return str(getattr(kind, "name", "") or "")


def iter_undocumented_commands(commands: list[CommandDoc]) -> Iterator[str]:
    """Commands or parameters without help text (each a message naming what lacks it)."""
    for cmd in commands:
        if cmd.hidden:
            continue
        if not cmd.help:
            yield f"`{cmd.path}` has no help text (docstring or help=...)"
        for p in cmd.params:
            if not p["help"] and p["kind"] == "option":
                yield f"`{cmd.path}` option {p['names']} has no help text"


def cli_markdown(app: Any = None) -> str:
    """The CLI reference page: a section per command with usage and a parameter table."""
    commands = [c for c in cli_commands(app) if not c.hidden]
    lines = [
        "# Command line",
        "",
        "<!-- generated from the typer app hyperloop.cli.app at build time: do not edit -->",
        "",
        "Every `hyperloop` command and sub-command, with its arguments and options. "
        "`hyperloop COMMAND --help` prints the same on the terminal.",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    for cmd in commands[1:]:
        first = cmd.help.split("\n\n")[0]
        lines.append(f"| [`{cmd.path}`](#{_slug(cmd.path)}) | {_cell(first)} |")
    lines.append("")
    for cmd in commands[1:]:
        depth = cmd.path.count(" ")
        lines += [f"{'#' * min(depth + 1, 4)} {cmd.path}", ""]
        lines += [_help_block(cmd.help), ""]
        lines += ["```text", f"Usage: {cmd.usage}", "```", ""]
        params = cmd.params
        if params:
            lines += ["| parameter | type | default | help |", "|---|---|---|---|"]
            for p in params:
                name = f"`{p['names']}`" + (" (required)" if p["required"] else "")
                default = f"`{_cell(p['default'])}`" if p["default"] else ""
                lines.append(f"| {name} | {p['type']} | {default} | {_cell(p['help'])} |")
            lines.append("")
    return "\n".join(lines)


def _help_block(text: str) -> str:
    """Click help text as Markdown paragraphs (the ``\\b`` no-rewrap marker removed)."""
    paragraphs = [p.replace("\b\n", "").strip() for p in text.split("\n\n")]
    return "\n\n".join(_md_text(" ".join(p.split())) for p in paragraphs if p) or "(no description)"


# ---------------------------------------------------------------------------------------
# REST API (OpenAPI)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the application (no database is opened)."""
    from hyperloop.settings import Settings
    from hyperloop.web.app import create_app

    # independent of the environment the build runs in (a production server's settings)
    settings = Settings(
        environment="development",
        database_url="sqlite://",
        run_migrations_on_start=False,
        oidc_enabled=False,
        proxy_auth_enabled=False,
    )
    app = create_app(settings)
    return app.openapi()


_METHODS = ("get", "post", "put", "patch", "delete")


def _schema_name(schema: dict[str, Any] | None) -> str:
    if not schema:
        return ""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"list of {_schema_name(schema.get('items')) or 'values'}"
    if "anyOf" in schema:
        return " or ".join(_schema_name(s) or s.get("type", "") for s in schema["anyOf"])
    return str(schema.get("type", ""))


def api_markdown(doc: dict[str, Any] | None = None) -> str:
    """The REST API reference page: operations grouped by tag with parameters and bodies."""
    doc = doc or openapi_document()
    tags = {t["name"]: t.get("description", "") for t in doc.get("tags", [])}
    ops: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in doc.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            tag = (op.get("tags") or ["other"])[0]
            ops.setdefault(tag, []).append((method.upper(), path, op))
    lines = [
        "# REST API",
        "",
        "<!-- generated from create_app().openapi() at build time: do not edit -->",
        "",
        (doc.get("info", {}).get("description") or "").strip(),
        "",
        "The running server also serves the interactive OpenAPI explorer at `/docs` and the "
        "machine-readable document at `/openapi.json` ([a copy](openapi.json) of the one this "
        "page was built from).",
        "",
    ]
    order = [t for t in tags if t in ops] + sorted(t for t in ops if t not in tags)
    for tag in order:
        lines += [f"## {tag}", "", tags.get(tag, ""), ""]
        lines += ["| method | path | summary |", "|---|---|---|"]
        for method, path, op in ops[tag]:
            anchor = _slug(f"{method} {path}")
            summary = op.get("summary") or ""
            lines.append(f"| {method} | [`{path}`](#{anchor}) | {_cell(summary)} |")
        lines.append("")
        for method, path, op in ops[tag]:
            lines += [f"### {method} {path}", ""]
            if op.get("summary"):
                lines += [op["summary"], ""]
            if op.get("description") and op.get("description") != op.get("summary"):
                lines += [_help_block(op["description"]), ""]
            params = op.get("parameters", [])
            if params:
                lines += [
                    "| parameter | in | type | required | description |",
                    "|---|---|---|---|---|",
                ]
                for p in params:
                    lines.append(
                        f"| `{p['name']}` | {p.get('in', '')} | "
                        f"{_cell(_schema_name(p.get('schema')))} | "
                        f"{'yes' if p.get('required') else ''} | "
                        f"{_cell(p.get('description', ''))} |"
                    )
                lines.append("")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                lines += [f"Request body ({media}): `{_schema_name(content.get('schema'))}`", ""]
            ok = [
                (code, r)
                for code, r in op.get("responses", {}).items()
                if code.startswith("2") or code.startswith("3")
            ]
            for code, resp in ok:
                schema = resp.get("content", {}).get("application/json", {}).get("schema")
                name = _schema_name(schema)
                lines.append(
                    f"Response {code}: {_cell(resp.get('description', ''))}"
                    + (f" → `{name}`" if name else "")
                )
                lines.append("")
    schemas = doc.get("components", {}).get("schemas", {})
    if schemas:
        lines += ["## Schemas", "", "Fields of the request and response bodies named above.", ""]
        for name in sorted(schemas):
            schema = schemas[name]
            lines += [f"### {name}", ""]
            if schema.get("description"):
                lines += [_cell(schema["description"]), ""]
            props = schema.get("properties", {})
            required = set(schema.get("required", []))
            if props:
                lines += ["| field | type | required | description |", "|---|---|---|---|"]
                for pname, prop in props.items():
                    lines.append(
                        f"| `{pname}` | {_cell(_schema_name(prop) or prop.get('title', ''))} | "
                        f"{'yes' if pname in required else ''} | "
                        f"{_cell(prop.get('description', ''))} |"
                    )
                lines.append("")
            elif schema.get("enum"):
                lines += ["Values: " + ", ".join(f"`{v}`" for v in schema["enum"]), ""]
    return "\n".join(lines)


def openapi_json(doc: dict[str, Any] | None = None) -> str:
    """The OpenAPI document as indented JSON (published beside the API page)."""
    return json.dumps(doc or openapi_document(), indent=2, sort_keys=False) + "\n"


GENERATED_PAGES = {
    "reference/settings.md": settings_markdown,
    "reference/cli.md": cli_markdown,
    "reference/api.md": api_markdown,
}
"""Generated page (path inside the docs folder) -> function returning its Markdown."""
