"""Workflows and where they come from: the ``hyperloop.workflows`` entry points.

A workflow is a named set of tasks (O2's executable, e.g. ``o2-analysis-spectra``). A
physics package exposes them through the entry-point group ``hyperloop.workflows``; each
entry point names a module attribute holding a list of ``Workflow`` (or a callable
returning one). A *package tag* is such a package unpacked into a directory of its own;
several tags coexist on disk, and one process uses exactly one.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import inspect
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperloop.analysis.task import Task

GROUP = "hyperloop.workflows"


class WorkflowError(LookupError):
    """A workflow that cannot be found or loaded."""


@dataclass(frozen=True)
class Workflow:
    """A named, documented set of tasks."""

    name: str
    tasks: tuple[type[Task], ...]
    doc: str = ""

    def __post_init__(self) -> None:
        if not self.tasks:
            raise WorkflowError(f"workflow {self.name!r} has no tasks")
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise WorkflowError(f"workflow {self.name!r} has two tasks with the same name")

    def task(self, name: str) -> type[Task]:
        for task in self.tasks:
            if task.name == name:
                return task
        raise WorkflowError(
            f"workflow {self.name!r} has no task {name!r}; tasks: "
            + ", ".join(t.name for t in self.tasks)
        )

    def produces(self) -> set[str]:
        return {t.logical for task in self.tasks for t in task.produces}

    def consumes(self) -> set[str]:
        return {table for task in self.tasks for table in task.declared_reads()}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "doc": self.doc or inspect.getdoc(self.tasks[0]) or "",
            "tasks": [task.describe() for task in self.tasks],
        }


@dataclass
class Package:
    """The workflows of one installed package (or one unpacked package tag)."""

    name: str
    version: str
    location: str | None
    workflows: dict[str, Workflow] = field(default_factory=dict)

    def get(self, name: str) -> Workflow:
        try:
            return self.workflows[name]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(name, self.workflows, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise WorkflowError(
                f"unknown workflow {name!r} in {self.name} {self.version}{hint} "
                f"(known: {', '.join(sorted(self.workflows))})"
            ) from None

    def describe(self) -> dict[str, Any]:
        return {
            "package": {"name": self.name, "version": self.version, "location": self.location},
            "workflows": [wf.describe() for wf in self.workflows.values()],
        }


def _collect(obj: Any, where: str) -> list[Workflow]:
    if callable(obj) and not isinstance(obj, Workflow):
        obj = obj()
    if isinstance(obj, Workflow):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, Iterable):
        items = list(obj)
        bad = [i for i in items if not isinstance(i, Workflow)]
        if not bad:
            return items
    raise WorkflowError(f"entry point {where} does not give Workflow objects")


def _load_distribution(dist: md.Distribution) -> Package:
    pkg = Package(name=dist.metadata["Name"], version=dist.version, location=None)
    for ep in dist.entry_points:
        if ep.group != GROUP:
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - reported with the entry point name
            raise WorkflowError(f"cannot load workflows entry point {ep.value}: {exc}") from exc
        for wf in _collect(obj, ep.value):
            if wf.name in pkg.workflows:
                raise WorkflowError(f"workflow {wf.name!r} defined twice in {pkg.name}")
            pkg.workflows[wf.name] = wf
    return pkg


def _module_roots(dist: md.Distribution) -> set[str]:
    roots = set()
    for ep in dist.entry_points:
        if ep.group == GROUP:
            roots.add(ep.value.split(":")[0].split(".")[0])
    return roots


def load_package(directory: str | os.PathLike | None = None, *, name: str | None = None) -> Package:
    """Workflows of the package tag unpacked in ``directory`` (or of an installed package).

    A directory holds a package as ``pip install --target`` leaves it: modules plus a
    ``*.dist-info`` with ``entry_points.txt``. Its modules are imported from that
    directory; importing a second tag of the same package into one process is refused.
    """
    if directory is None:
        dists = []
        seen: set[str] = set()
        for d in md.distributions():  # sys.path order: the one an import would find first
            dname = d.metadata["Name"]
            if dname not in seen and any(ep.group == GROUP for ep in d.entry_points):
                seen.add(dname)  # a stale egg-info beside an install is the same package
                dists.append(d)
        if name is not None:
            dists = [d for d in dists if d.metadata["Name"] == name]
        if not dists:
            raise WorkflowError(
                "no installed package provides hyperloop.workflows entry points"
                + (f" under the name {name!r}" if name else "")
            )
        if len(dists) > 1:
            names = ", ".join(sorted(d.metadata["Name"] for d in dists))
            raise WorkflowError(f"several packages provide workflows ({names}); choose one")
        return _load_distribution(dists[0])

    path = Path(directory).resolve()
    if not path.is_dir():
        raise WorkflowError(f"package directory {path} does not exist")
    dists = [
        d
        for d in md.distributions(path=[str(path)])
        if any(ep.group == GROUP for ep in d.entry_points)
    ]
    if not dists:
        raise WorkflowError(
            f"{path} holds no package with hyperloop.workflows entry points "
            "(expected a *.dist-info folder, as `hyperloop package build` makes)"
        )
    if len(dists) > 1:
        raise WorkflowError(f"{path} holds several workflow packages; a tag holds exactly one")
    dist = dists[0]
    for root in _module_roots(dist):
        loaded = sys.modules.get(root)
        if loaded is not None:
            origin = Path(getattr(loaded, "__file__", "") or "").resolve()
            if path not in origin.parents:
                raise WorkflowError(
                    f"module {root!r} is already imported from {origin}; one process uses "
                    f"exactly one package tag (asked for {path})"
                )
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    importlib.invalidate_caches()
    pkg = _load_distribution(dist)
    pkg.location = str(path)
    return pkg


def package_from_workflows(
    workflows: Sequence[Workflow], *, name: str = "local", version: str = "0"
) -> Package:
    """A package made of workflows defined in code (tests, notebooks)."""
    return Package(
        name=name, version=version, location=None, workflows={w.name: w for w in workflows}
    )
