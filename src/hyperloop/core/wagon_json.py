"""Wagon configuration as JSON: download, and upload in two steps (preview, then apply).

Download gives ``{"base": {task: {param: value}}, "subwagons": {name: {...}}}`` in O2 form.
An upload may be that, or a plain O2 configuration (e.g. a ``dpl-config.json``) applied to
the base. Upload only changes *existing* configurables and subwagons: unknown tasks (other
devices, ``internal-dpl-*``) are listed as ignored; values are type-checked; identical
subwagons are refused; ``preview_upload`` saves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.core.configs import (
    Config,
    check_config,
    effective_subwagon,
    minimal_overrides,
    workflow_schema,
)
from hyperloop.core.errors import ValidationError
from hyperloop.core.history import Change, diff
from hyperloop.core.permissions import Action, require
from hyperloop.core.tags import get_tag
from hyperloop.core.wagons import edit_wagon, get_wagon
from hyperloop.db.models import Wagon

INTERNAL_PREFIX = "internal-dpl-"


def download_config(wagon: Wagon) -> dict[str, Any]:
    """The wagon's configuration: full base values and each subwagon's effective values."""
    return {
        "workflow": wagon.workflow,
        "base": wagon.base_config,
        "subwagons": {
            n: effective_subwagon(wagon.base_config, o) for n, o in wagon.subwagons.items()
        },
    }


@dataclass
class ValueRow:
    """One value of the per-value overview."""

    scope: str  # "base" or the subwagon name
    task: str
    parameter: str
    current: Any
    uploaded: Any
    status: str  # unchanged | changed | invalid | unknown

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class UploadPreview:
    rows: list[ValueRow] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    base: Config = field(default_factory=dict)
    subwagons: dict[str, Config] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def errors(self) -> list[str]:
        """One message per problem (``problems`` also names scope, task and parameter)."""
        return [p["message"] for p in self.problems]

    @property
    def overview(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.rows]

    @property
    def diff(self) -> list[Change]:
        return self.changes

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "overview": self.overview,
            "diff": [c.as_dict() for c in self.changes],
            "errors": self.errors,
            "problems": self.problems,
            "ignored": self.ignored,
        }


def _split(uploaded: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(uploaded, dict):
        raise ValidationError("the uploaded configuration must be a JSON object")
    if "base" in uploaded and isinstance(uploaded["base"], dict):
        subs = uploaded.get("subwagons") or {}
        if not isinstance(subs, dict):
            raise ValidationError("'subwagons' must be an object {name: {task: {...}}}")
        return uploaded["base"], subs
    return uploaded, {}


def preview_upload(s: Session, wagon: Wagon, uploaded: Any) -> UploadPreview:
    """What an upload would change, value by value; nothing is saved."""
    schema = workflow_schema(get_tag(s, wagon.tag_id), wagon.workflow)
    base_in, subs_in = _split(uploaded)
    out = UploadPreview()

    def scope_values(scope: str, current: Config, given: dict[str, Any]) -> Config:
        result = {t: dict(p) for t, p in current.items()}
        for task, params in given.items():
            if task.startswith(INTERNAL_PREFIX) or task not in schema.tasks:
                out.ignored.append(f"{scope}: task {task}")
                continue
            if not isinstance(params, dict):
                if params == "":
                    continue
                out.problems.append(
                    {
                        "scope": scope,
                        "task": task,
                        "parameter": "?",
                        "message": "task configuration must be an object",
                    }
                )
                continue
            for name, raw in params.items():
                cur = current.get(task, {}).get(name)
                if name not in schema.tasks[task]:
                    out.rows.append(ValueRow(scope, task, name, None, raw, "unknown"))
                    out.ignored.append(f"{scope}: {task}.{name}")
                    continue
                checked, problems = check_config(
                    schema, {task: {name: raw}}, subwagon=scope != "base"
                )
                if problems:
                    out.rows.append(ValueRow(scope, task, name, cur, raw, "invalid"))
                    out.problems.extend({"scope": scope, **p.as_dict()} for p in problems)
                    continue
                value = checked[task][name]
                out.rows.append(
                    ValueRow(
                        scope, task, name, cur, value, "unchanged" if value == cur else "changed"
                    )
                )
                result.setdefault(task, {})[name] = value
        return result

    out.base = scope_values("base", wagon.base_config, base_in)
    subs: dict[str, Config] = {}
    for name, overrides in wagon.subwagons.items():
        current = effective_subwagon(wagon.base_config, overrides)
        if name in subs_in:
            full = scope_values(name, current, subs_in[name])
        else:
            full = effective_subwagon(out.base, overrides)
        subs[name] = minimal_overrides(out.base, full)
    for name in subs_in:
        if name not in wagon.subwagons:
            out.ignored.append(f"subwagon {name} (upload only changes existing subwagons)")
    seen: dict[str, str] = {}
    for name, overrides in subs.items():
        if not overrides:
            out.problems.append(
                {
                    "scope": name,
                    "task": "",
                    "parameter": "",
                    "message": f"subwagon {name!r} would be identical to the base",
                }
            )
        key = repr(
            sorted(
                (t, sorted(p.items())) for t, p in effective_subwagon(out.base, overrides).items()
            )
        )
        if key in seen:
            out.problems.append(
                {
                    "scope": name,
                    "task": "",
                    "parameter": "",
                    "message": f"subwagons {seen[key]!r} and {name!r} would be identical",
                }
            )
        seen.setdefault(key, name)
    out.subwagons = subs
    out.changes = diff(
        {"base_config": wagon.base_config, "subwagons": wagon.subwagons},
        {"base_config": out.base, "subwagons": subs},
    )
    return out


def apply_upload(
    s: Session, actor: Actor, wagon_id: int, uploaded: Any, *, expected_version: int
) -> Wagon:
    """Save an upload the user confirmed (same checks as the preview, version-checked)."""
    wagon = get_wagon(s, wagon_id)
    require(actor, Action.WAGON_EDIT, wagon)
    preview = preview_upload(s, wagon, uploaded)
    if not preview.ok:
        raise ValidationError(f"upload refused: {preview.errors[0]}", {"errors": preview.problems})
    return edit_wagon(
        s,
        actor,
        wagon_id,
        expected_version=expected_version,
        base_config=preview.base,
        subwagons=preview.subwagons,
        reason="configuration upload",
    )
