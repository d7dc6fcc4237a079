"""The workflows of a registered package tag, as its introspection describes them: names,
tasks, produced and consumed tables. Pure functions of the tag's stored document (no
session), so that configuration checks and tag registration can both use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyperloop.core.errors import ValidationError
from hyperloop.db.models import PackageTag


@dataclass(frozen=True)
class WorkflowInfo:
    """One workflow of a tag as the introspection describes it."""

    name: str
    doc: str
    tasks: tuple[dict[str, Any], ...]

    def task_names(self) -> list[str]:
        return [t["name"] for t in self.tasks]

    def produces(self) -> dict[str, dict[str, Any]]:
        """Logical table name -> its description (columns, index columns, extends)."""
        return {p["logical"]: p for t in self.tasks for p in t.get("produces", [])}

    def consumes(self) -> set[str]:
        return {name for t in self.tasks for name in (t.get("consumes") or {})}


def workflow_names(tag: PackageTag) -> list[str]:
    return [wf["name"] for wf in tag.introspection.get("workflows", [])]


def workflow_docs(tag: PackageTag) -> dict[str, str]:
    """Workflow name -> its one-line description (``doc`` of the introspection, may be "")."""
    return {
        wf["name"]: (wf.get("doc") or "").strip() for wf in tag.introspection.get("workflows", [])
    }


def find_workflow(tag: PackageTag, workflow: str) -> WorkflowInfo | None:
    for wf in tag.introspection.get("workflows", []):
        if wf["name"] == workflow:
            return WorkflowInfo(wf["name"], wf.get("doc", ""), tuple(wf["tasks"]))
    return None


def workflow_info(tag: PackageTag, workflow: str) -> WorkflowInfo:
    """The workflow or ``ValidationError`` listing the tag's workflows."""
    info = find_workflow(tag, workflow)
    if info is None:
        raise ValidationError(
            f"workflow {workflow!r} does not exist in package tag {tag.label}; available: "
            + ", ".join(workflow_names(tag)),
            {"workflow": workflow, "tag": tag.label},
        )
    return info


def workflow_dependencies(tag: PackageTag, workflow: str) -> list[str]:
    """Workflows producing a table ``workflow`` consumes (its required dependencies)."""
    info = workflow_info(tag, workflow)
    needed = info.consumes() - set(info.produces())
    deps = []
    for name in workflow_names(tag):
        if name == workflow:
            continue
        other = workflow_info(tag, name)
        if needed & set(other.produces()):
            deps.append(name)
    return deps


def unprovided_tables(
    tag: PackageTag, workflow: str, dependency_workflows: list[str]
) -> dict[str, list[str]]:
    """Tables ``workflow`` reads that other workflows of the tag produce but neither it nor
    any of ``dependency_workflows`` does: table -> the workflows that produce it, by name.
    Such a table must come from a dependency (or be stored in the dataset's files), else
    the wagon's test fails reading it. Tables no workflow produces are input tables."""
    info = find_workflow(tag, workflow)
    if info is None:
        return {}
    provided = set(info.produces())
    for name in dependency_workflows:
        dep = find_workflow(tag, name)
        if dep is not None:
            provided |= set(dep.produces())
    producers: dict[str, list[str]] = {}
    for name in workflow_names(tag):
        if name == workflow:
            continue
        other = find_workflow(tag, name)
        for table in other.produces() if other is not None else ():
            producers.setdefault(table, []).append(name)
    return {
        table: sorted(producers[table])
        for table in sorted(info.consumes() - provided)
        if table in producers
    }
