"""Package tags: register a built tag with its workflow introspection; look workflows up."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.core.disabling import notify_inconsistent
from hyperloop.core.errors import Conflict, NotFound, ValidationError
from hyperloop.core.permissions import Action, require
from hyperloop.core.tag_workflows import (  # noqa: F401 - part of this module's API too
    WorkflowInfo,
    find_workflow,
    workflow_dependencies,
    workflow_info,
    workflow_names,
)
from hyperloop.db.base import utcnow
from hyperloop.db.models import PackageTag


def _check_introspection(doc: Any) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("workflows"), list):
        raise ValidationError("tag introspection must be a JSON object with a 'workflows' list")
    pkg = doc.get("package")
    if not isinstance(pkg, dict) or not pkg.get("name") or not pkg.get("version"):
        raise ValidationError("tag introspection needs package.name and package.version")
    seen: set[str] = set()
    for i, wf in enumerate(doc["workflows"]):
        if not isinstance(wf, dict) or not wf.get("name") or not isinstance(wf.get("tasks"), list):
            raise ValidationError(f"workflow #{i} of the introspection needs a name and tasks")
        if wf["name"] in seen:
            raise ValidationError(f"workflow {wf['name']!r} appears twice in the introspection")
        seen.add(wf["name"])
        for task in wf["tasks"]:
            for conf in task.get("configurables", []):
                if "name" not in conf or "kind" not in conf or "default" not in conf:
                    raise ValidationError(
                        f"workflow {wf['name']!r}, task {task.get('name')!r}: a configurable "
                        "needs name, kind and default"
                    )


def register_tag(
    s: Session,
    actor: Actor | None,
    introspection: dict[str, Any],
    *,
    artifact: str,
    version: str | None = None,
    pull_requests: Iterable[str] = (),
    released_at: datetime | None = None,
) -> PackageTag:
    """Store a released tag; ``version`` defaults to the tag name (``introspection['tag']``)
    or the package version. Tags are immutable: registering the same one twice is refused."""
    if actor is not None:
        require(actor, Action.TAG_REGISTER)
    _check_introspection(introspection)
    name = introspection["package"]["name"]
    version = version or introspection.get("tag") or introspection["package"]["version"]
    prs = [str(p) for p in [*introspection.get("pull_requests", []), *pull_requests]]
    existing = s.scalars(
        select(PackageTag).where(PackageTag.name == name, PackageTag.version == version)
    ).first()
    if existing is not None:
        raise Conflict(f"package tag {name} {version} is already registered (tags are immutable)")
    tag = PackageTag(
        name=name,
        version=version,
        artifact=artifact,
        introspection={
            "package": introspection["package"],
            "workflows": introspection["workflows"],
        },
        pull_requests=sorted(set(prs)),
        released_at=released_at or utcnow(),
    )
    s.add(tag)
    s.flush()
    notify_inconsistent(s, tag)
    return tag


def get_tag(s: Session, tag_id: int) -> PackageTag:
    tag = s.get(PackageTag, tag_id)
    if tag is None:
        raise NotFound(f"package tag {tag_id} not found")
    return tag


def latest_tag(s: Session, package: str | None = None) -> PackageTag | None:
    """The most recently released available tag (of ``package`` if given)."""
    stmt = select(PackageTag).where(PackageTag.available)
    if package:
        stmt = stmt.where(PackageTag.name == package)
    return s.scalars(stmt.order_by(PackageTag.released_at.desc(), PackageTag.id.desc())).first()


def first_tag_with_pr(
    s: Session, pull_request: str, package: str | None = None
) -> PackageTag | None:
    """The earliest available tag containing a pull request (for the "future tag" policy)."""
    stmt = select(PackageTag).where(PackageTag.available)
    if package:
        stmt = stmt.where(PackageTag.name == package)
    for tag in s.scalars(stmt.order_by(PackageTag.released_at, PackageTag.id)):
        if str(pull_request) in (tag.pull_requests or []):
            return tag
    return None
