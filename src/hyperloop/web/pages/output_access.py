"""What the output browser, the profile viewer and the performance graphs may open: files of
train runs (jobs, merges, train test) and wagon tests under the scheduler's work folder,
each checked against the page permission of the object it belongs to
(``hyperloop.core.output_owners``). Paths stay relative to the outputs root and strictly
contained in it; the rest of the data folder is neither listed nor served.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.core.output_owners import (
    OutputOwner,
    is_waypoint,
    owner_of,
    readable,
    require_readable,
)
from hyperloop.grid.store import Mirror
from hyperloop.readmodels.trains import storage_mirror
from hyperloop.settings import Settings
from hyperloop.web.pages.files import PathRefused, contained_path, outputs_root


@dataclass(frozen=True)
class OutputArea:
    """The resolved outputs root (paths are relative to it) and work folder (owners); with
    a remote storage both are the server's mirror of it (``mirror``)."""

    root: Path
    work: Path
    mirror: Mirror | None = None

    @classmethod
    def of(cls, settings: Settings) -> OutputArea:
        mirror = storage_mirror(settings)
        if mirror is not None:
            mirror.local.mkdir(parents=True, exist_ok=True)
            local = mirror.local.resolve()
            return cls(local, local, mirror)
        work = settings.work_dir or Path(settings.data_dir) / "work"
        return cls(outputs_root(settings).resolve(), Path(work).resolve())


def _bring_up_to_date(db: Session, actor: Actor, area: OutputArea, rel: str) -> None:
    """With a remote storage: the part of it ``rel`` names, in the mirror before it is
    resolved there (in an owner's folder only once the actor may read the owner: the
    folder holding ``rel`` and, for a folder, its entries; on the way to the owners, the
    next folders). A malformed path is left to ``contained_path``."""
    if area.mirror is None:
        return
    pure = PurePosixPath(rel.replace("\\", "/")) if rel else PurePosixPath()
    if "\x00" in rel or pure.is_absolute() or ".." in pure.parts:
        return
    parts = pure.parts
    owner = owner_of(area.work, area.work.joinpath(*parts)) if len(parts) >= 2 else None
    if owner is None:
        if len(parts) <= 1:
            area.mirror.children("/".join(parts))
        return
    require_readable(db, actor, owner)
    if len(parts) >= 3:  # the folder holding the target: the target is there, file or folder
        area.mirror.sync("/".join(parts[:-1]), recursive=False)
    if len(parts) == 2 or area.work.joinpath(*parts).is_dir():  # a folder: its entries
        area.mirror.sync("/".join(parts), recursive=False)


@dataclass(frozen=True)
class OutputPath:
    """A path the actor may open: ``owner`` is None for a folder on the way to outputs."""

    path: Path
    owner: OutputOwner | None


def _refused(what: str, rel: str) -> PathRefused:
    return PathRefused(
        404,
        "not_found",
        f"{what} {rel!r} is not an output of a train run, train test, job or wagon test: "
        "not served",
    )


def open_output(
    db: Session,
    actor: Actor,
    settings: Settings,
    rel: str,
    *,
    what: str = "output path",
    files_only: bool = False,
) -> OutputPath:
    """Resolve ``rel`` under the outputs root and check the actor may read its owner
    (404 outside an owner's folder or for a missing owner, 403 without permission)."""
    area = OutputArea.of(settings)
    _bring_up_to_date(db, actor, area, rel)
    target = contained_path(area.root, rel, what=what) if rel else area.root
    owner = owner_of(area.work, target)
    if owner is None:
        waypoint = target == area.root or (target.is_dir() and is_waypoint(area.work, target))
        if files_only or not waypoint:
            raise _refused(what, rel)
        return OutputPath(target, None)
    require_readable(db, actor, owner)
    if area.mirror is not None and target.is_file():
        area.mirror.ensure(target)  # a big ROOT file: its content, fetched when first opened
    return OutputPath(target, owner)


def visible_children(
    db: Session, actor: Actor, settings: Settings, folder: OutputPath
) -> list[tuple[Path, Path]]:
    """``(child, resolved)`` of a folder the actor may see: inside an owner's folder its
    entries that stay in it; on the way to outputs the next folders on the way and the
    owners' folders the actor may read."""
    area = OutputArea.of(settings)
    out: list[tuple[Path, Path]] = []
    candidates: dict[OutputOwner, tuple[Path, Path]] = {}
    for child in folder.path.iterdir():
        if child.name.startswith("."):
            continue
        resolved = child.resolve()
        if resolved != area.root and area.root not in resolved.parents:
            continue  # a symlink pointing outside the root is not shown
        owner = owner_of(area.work, resolved)
        if folder.owner is not None:
            if owner == folder.owner:
                out.append((child, resolved))
        elif owner is not None and resolved == owner.folder:
            candidates[owner] = (child, resolved)
        elif owner is None and resolved.is_dir() and is_waypoint(area.work, resolved):
            out.append((child, resolved))
    allowed = readable(db, actor, candidates)
    out.extend(pair for owner, pair in candidates.items() if owner in allowed)
    return out
