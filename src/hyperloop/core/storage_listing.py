"""A production from a DPG runlist fills its file catalogue by listing the storage of each
of its runs — ``BASE/<run>/**/AO2D*.root`` through fsspec (a local folder by default, an
XRootD/S3 URL at scale) — instead of a hand-typed file list. Runs excluded from the
production are not listed; runs where nothing was found are named.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

import fsspec
from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.core.common import get_or_404
from hyperloop.core.datasets import _add_files, _notify_missing_runs
from hyperloop.core.errors import ValidationError
from hyperloop.core.permissions import Action, require
from hyperloop.core.storage_roots import StorageRoots
from hyperloop.db.models import Production, Runlist
from hyperloop.enums import ProductionKind


@dataclass
class StorageListing:
    """What listing the storage of a production's runs found."""

    base: str
    added: int = 0
    runs_listed: list[int] = field(default_factory=list)
    runs_without_files: list[int] = field(default_factory=list)
    excluded_runs: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fill_from_storage(
    s: Session,
    actor: Actor,
    production_id: int,
    base: str,
    *,
    roots: StorageRoots,
    pattern: str = "AO2D*.root",
) -> StorageListing:
    """List ``base/<run>`` (any depth, files matching ``pattern``) for every run of the
    production's runlist that is not excluded, and add the files found to its catalogue
    with their sizes. ``base`` (a folder or URL) must lie under a storage root; runs where
    nothing is found are reported (and the dataset's users told)."""
    require(actor, Action.DATASET_MANAGE)
    prod = get_or_404(s, Production, production_id, "production")
    if prod.kind is not ProductionKind.RUNLIST or prod.runlist_id is None:
        raise ValidationError(
            f"production {prod.name!r} is not made from a DPG runlist: import its files "
            "from a list or a folder instead",
            {"production_id": prod.id},
        )
    base = base.strip().rstrip("/")
    normal = roots.check(base + "/x")[: -len("/x")]  # the folder must be under a root
    runlist = s.get(Runlist, prod.runlist_id)
    excluded = {int(r) for r in prod.excluded_runs or []}
    listing = StorageListing(base=normal, excluded_runs=sorted(excluded & set(runlist.runs)))
    try:
        fs, root = fsspec.core.url_to_fs(normal)
        if not fs.isdir(root):
            raise ValidationError(f"storage folder {normal} does not exist", {"base": normal})
        entries: list[tuple[str, int, int | None]] = []
        for run in sorted(int(r) for r in runlist.runs or []):
            if run in excluded:
                continue
            listing.runs_listed.append(run)
            folder = f"{root}/{run}"
            found = fs.find(folder, detail=True) if fs.isdir(folder) else {}  # {path: info}
            files = [
                (path, info)
                for path, info in sorted(found.items())
                if info.get("type") == "file" and fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern)
            ]
            if not files:
                listing.runs_without_files.append(run)
            for path, info in files:
                shown = path if "://" not in normal else fs.unstrip_protocol(path)
                entries.append((roots.check(shown), int(info.get("size") or 0), None))
    except OSError as exc:
        raise ValidationError(
            f"cannot list storage {normal}: {exc.strerror or exc}", {"base": normal}
        ) from None
    listing.added = _add_files(s, prod, entries)
    s.flush()
    _notify_missing_runs(s, prod, normal)
    return listing
