"""Datasets: create/edit/activate/delete, productions, excluded runs, file catalogue
import, mergelists, final mergelists, short datasets, staging — with history and
notifications of the users of the dataset."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from hyperloop.core import history
from hyperloop.core.actor import Actor
from hyperloop.core.catalogue import included
from hyperloop.core.common import flush_or_conflict, get_or_404
from hyperloop.core.errors import Conflict, ValidationError
from hyperloop.core.notifications import dataset_user_ids, notify, operator_user_ids
from hyperloop.core.permissions import Action, require
from hyperloop.core.storage_roots import SETTING, StorageRootError, StorageRoots
from hyperloop.db.models import (
    AnalysisDataset,
    AnalysisMember,
    Dataset,
    DatasetFile,
    FinalMergelist,
    Mergelist,
    Production,
    Runlist,
    StagingTransfer,
    Target,
    TrainRun,
    Wagon,
    WagonDataset,
)
from hyperloop.enums import (
    AutoComposeType,
    DataType,
    NotificationKind,
    ProductionKind,
    StagingAction,
    TrainState,
)

OBJECT = "dataset"
EDITABLE = (
    "name",
    "description",
    "data_type",
    "collision_system",
    "anchor",
    "period",
    "final_merge_all_runs",
    "size_class",
    "cpu_limit_hours",
    "slots_per_week",
    "auto_submission_slots",
    "auto_compose",
    "auto_compose_type",
    "auto_compose_days",
    "auto_compose_times",
    "auto_compose_max_cpu_hours",
    "auto_compose_max_trains_per_week",
)
_TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def dataset_state(ds: Dataset) -> dict[str, Any]:
    """Full JSON snapshot of a dataset configuration (history and train snapshots)."""
    state: dict[str, Any] = {f: getattr(ds, f) for f in EDITABLE}
    for f in ("data_type", "auto_compose_type"):
        state[f] = state[f].value
    state["active"] = ds.active
    state["parent_id"] = ds.parent_id
    state["productions"] = [
        {
            "id": p.id,
            "name": p.name,
            "kind": p.kind.value,
            "runlist_id": p.runlist_id,
            "train_run_id": p.train_run_id,
            "excluded_runs": sorted(p.excluded_runs or []),
        }
        for p in ds.productions
    ]
    state["mergelists"] = [
        {"name": m.name, "runs": sorted(m.runs), "active": m.active} for m in ds.mergelists
    ]
    state["final_mergelists"] = [
        {"name": f.name, "mergelists": list(f.mergelists)} for f in ds.final_mergelists
    ]
    return state


def _record(
    s: Session,
    actor: Actor | None,
    ds: Dataset,
    action: str,
    previous: dict[str, Any] | None,
    reason: str = "",
) -> None:
    s.flush()
    history.record(
        s,
        actor,
        OBJECT,
        ds.id,
        action,
        dataset_state(ds),
        previous=previous,
        version=ds.version,
        reason=reason,
    )


def _notify(s: Session, ds: Dataset, kind: NotificationKind, message: str) -> None:
    notify(s, dataset_user_ids(s, ds.id), kind, message, ds)


def _validate(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    unknown = set(out) - set(EDITABLE)
    if unknown:
        raise ValidationError(f"cannot set dataset field(s) {sorted(unknown)}")
    try:
        if "data_type" in out:
            out["data_type"] = DataType(out["data_type"])
        if "auto_compose_type" in out:
            out["auto_compose_type"] = AutoComposeType(out["auto_compose_type"])
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    for day in out.get("auto_compose_days", []):
        if not isinstance(day, int) or not 0 <= day <= 6:
            raise ValidationError(f"automatic composition day {day!r} must be 0 (Mon) .. 6")
    for t in out.get("auto_compose_times", []):
        if not isinstance(t, str) or not _TIME_RE.match(t):
            raise ValidationError(f"automatic composition time {t!r} must be HH:MM")
    if "name" in out and not str(out["name"]).strip():
        raise ValidationError("a dataset needs a name")
    return out


def get_dataset(s: Session, dataset_id: int) -> Dataset:
    return get_or_404(s, Dataset, dataset_id, "dataset")


def create_dataset(s: Session, actor: Actor, name: str, **values: Any) -> Dataset:
    """A new (inactive) dataset; operators only."""
    require(actor, Action.DATASET_MANAGE)
    values = _validate({"name": name, **values})
    if s.scalars(select(Dataset.id).where(Dataset.name == name)).first() is not None:
        raise Conflict(f"dataset {name!r} already exists")
    ds = Dataset(**values)
    s.add(ds)
    flush_or_conflict(s, f"dataset {name!r} already exists", {"name": name})
    _record(s, actor, ds, "create", None)
    return ds


def edit_dataset(
    s: Session, actor: Actor, dataset_id: int, *, expected_version: int, **values: Any
) -> Dataset:
    """Change dataset settings (optimistic version check, history, users notified)."""
    require(actor, Action.DATASET_MANAGE)
    ds = get_dataset(s, dataset_id)
    if ds.version != expected_version:
        raise _stale(s, ds, expected_version)
    values = _validate(values)
    before = dataset_state(ds)
    for k, v in values.items():
        setattr(ds, k, v)
    if dataset_state(ds) == before:
        return ds
    try:
        s.flush()
    except StaleDataError:
        s.rollback()
        raise _stale(s, get_dataset(s, dataset_id), expected_version) from None
    _record(s, actor, ds, "update", before)
    _notify(s, ds, NotificationKind.DATASET_CHANGED, f"dataset {ds.name!r} was changed")
    return ds


def _stale(s: Session, ds: Dataset, expected_version: int) -> Conflict:
    try:
        seen = history.state_at_version(s, OBJECT, ds.id, expected_version)
        changes = [c.as_dict() for c in history.diff(seen, dataset_state(ds))]
    except Exception:  # noqa: BLE001 - version never recorded: report without details
        changes = []
    return Conflict(
        f"dataset {ds.name!r} was changed since you loaded it",
        {"your_version": expected_version, "current_version": ds.version, "changes": changes},
    )


def set_active(s: Session, actor: Actor, dataset_id: int, active: bool) -> Dataset:
    """Activate/deactivate; deactivation disables every wagon enabled on it."""
    require(actor, Action.DATASET_MANAGE)
    ds = get_dataset(s, dataset_id)
    if ds.active == active:
        return ds
    before = dataset_state(ds)
    ds.active = active
    _record(s, actor, ds, "update", before, "activated" if active else "deactivated")
    kind = NotificationKind.DATASET_ACTIVATED if active else NotificationKind.DATASET_DEACTIVATED
    _notify(s, ds, kind, f"dataset {ds.name!r} was {'activated' if active else 'deactivated'}")
    if not active:
        from hyperloop.core.enabling import disable_wagon

        for row in list(
            s.scalars(
                select(WagonDataset).where(
                    WagonDataset.dataset_id == ds.id, WagonDataset.enabled.is_(True)
                )
            )
        ):
            disable_wagon(s, None, row.wagon_id, ds.id, f"dataset {ds.name!r} deactivated")
            from hyperloop.core.notifications import notify_wagon

            notify_wagon(
                s,
                row.wagon,
                NotificationKind.WAGON_DISABLED,
                f"wagon {row.wagon.name!r} disabled: dataset {ds.name!r} deactivated",
            )
    return ds


def delete_dataset(s: Session, actor: Actor, dataset_id: int) -> None:
    """Delete a dataset that no train run used (history is kept)."""
    require(actor, Action.DATASET_MANAGE)
    ds = get_dataset(s, dataset_id)
    used = s.scalar(select(func.count()).select_from(TrainRun).where(TrainRun.dataset_id == ds.id))
    if used:
        raise Conflict(f"dataset {ds.name!r} has {used} train runs; deactivate it instead")
    _record(s, actor, ds, "delete", None)
    if ds.parent_id is not None:
        parent = s.get(Dataset, ds.parent_id)
        parent_name = parent.name if parent is not None else str(ds.parent_id)
        _notify(
            s,
            ds,
            NotificationKind.SHORT_DATASET_REMOVED,
            f"short dataset {ds.name!r} of dataset {parent_name!r} removed: it is no longer "
            "in your analysis; add another short dataset of it (or the dataset itself when it "
            "has none left)",
        )
    s.delete(ds)
    s.flush()


def add_short_dataset(
    s: Session, actor: Actor, parent_id: int, name: str, **values: Any
) -> Dataset:
    """A short dataset (subset for staged submission) of a big one."""
    parent = get_dataset(s, parent_id)
    values.setdefault("data_type", parent.data_type)
    values.setdefault("collision_system", parent.collision_system)
    values.setdefault("anchor", parent.anchor)
    values.setdefault("period", parent.period)
    ds = create_dataset(s, actor, name, **values)
    ds.parent_id = parent.id
    s.flush()
    _parent_out_of_analyses(s, parent, ds)
    return ds


def _parent_out_of_analyses(s: Session, parent: Dataset, short: Dataset) -> None:
    """A dataset with short datasets is not used directly (staged submission, SPEC §2): it
    leaves the analyses that added it, its wagons are disabled on it, and the members of
    those analyses are told (short dataset added; which wagons to enable on it)."""
    from hyperloop.core.enabling import disable_wagon

    links = s.scalars(select(AnalysisDataset).where(AnalysisDataset.dataset_id == parent.id))
    analysis_ids = {link.analysis_id for link in links}
    rows = s.scalars(
        select(WagonDataset).where(
            WagonDataset.dataset_id == parent.id, WagonDataset.enabled.is_(True)
        )
    ).all()
    reason = (
        f"dataset {parent.name!r} has a short dataset {short.name!r} now: trains run on the "
        "short dataset first (staged submission); enable the wagon there"
    )
    disabled: dict[int, list[str]] = {}
    for row in rows:
        disable_wagon(s, None, row.wagon_id, parent.id, reason)
        wagon = s.get(Wagon, row.wagon_id)
        if wagon is not None:
            disabled.setdefault(wagon.analysis_id, []).append(wagon.name)
            analysis_ids.add(wagon.analysis_id)
    s.execute(delete(AnalysisDataset).where(AnalysisDataset.dataset_id == parent.id))
    for analysis_id in sorted(analysis_ids):
        members = set(
            s.scalars(
                select(AnalysisMember.user_id).where(AnalysisMember.analysis_id == analysis_id)
            )
        )
        names = disabled.get(analysis_id, [])
        message = (
            f"short dataset {short.name!r} added to dataset {parent.name!r}: "
            f"{parent.name!r} was removed from your analysis; add {short.name!r} instead"
        )
        if names:
            message += (
                f"; wagons disabled on {parent.name!r}: {', '.join(sorted(names))} "
                f"(enable them on {short.name!r})"
            )
        notify(s, members, NotificationKind.SHORT_DATASET_ADDED, message, short)
    s.flush()


def add_production(
    s: Session,
    actor: Actor,
    dataset_id: int,
    name: str,
    *,
    kind: ProductionKind | str = ProductionKind.RUNLIST,
    runlist_id: int | None = None,
    train_run_id: int | None = None,
    excluded_runs: Iterable[int] = (),
) -> Production:
    require(actor, Action.DATASET_MANAGE)
    ds = get_dataset(s, dataset_id)
    kind = ProductionKind(kind)
    if kind is ProductionKind.RUNLIST:
        if runlist_id is None:
            raise ValidationError("a runlist production needs a DPG runlist")
        get_or_404(s, Runlist, runlist_id, "runlist")
    if kind is ProductionKind.DERIVED_TRAIN and train_run_id is None:
        raise ValidationError("a derived-data production needs the train run that made it")
    if train_run_id is not None:
        made_by = get_or_404(s, TrainRun, train_run_id, "train run")
        if made_by.output_deleted_at is not None:
            raise Conflict(
                f"the output of train run {made_by.id} was deleted at "
                f"{made_by.output_deleted_at.isoformat(timespec='seconds')}: it cannot "
                "become a production",
                {"output_deleted_at": made_by.output_deleted_at.isoformat()},
            )
    if any(p.name == name for p in ds.productions):
        raise Conflict(f"dataset {ds.name!r} already has a production {name!r}")
    before = dataset_state(ds)
    prod = Production(
        dataset_id=ds.id,
        name=name,
        kind=kind,
        runlist_id=runlist_id,
        train_run_id=train_run_id,
        excluded_runs=sorted(set(excluded_runs)),
    )
    ds.productions.append(prod)
    _bump(ds)
    _record(s, actor, ds, "update", before, f"production {name!r} added")
    _notify(
        s,
        ds,
        NotificationKind.PRODUCTION_ADDED,
        f"production {name!r} added to dataset {ds.name!r}",
    )
    return prod


def _bump(ds: Dataset) -> None:
    """Children changed: force an UPDATE of the dataset row so its version increments."""
    flag_modified(ds, "description")


def remove_production(s: Session, actor: Actor, production_id: int) -> None:
    require(actor, Action.DATASET_MANAGE)
    prod = get_or_404(s, Production, production_id, "production")
    ds = prod.dataset
    before = dataset_state(ds)
    ds.productions.remove(prod)
    _bump(ds)
    _record(s, actor, ds, "update", before, f"production {prod.name!r} removed")
    _notify(
        s,
        ds,
        NotificationKind.PRODUCTION_REMOVED,
        f"production {prod.name!r} removed from dataset {ds.name!r}",
    )


def set_excluded_runs(
    s: Session, actor: Actor, production_id: int, runs: Iterable[int]
) -> Production:
    require(actor, Action.DATASET_MANAGE)
    prod = get_or_404(s, Production, production_id, "production")
    ds = prod.dataset
    before = dataset_state(ds)
    prod.excluded_runs = sorted({int(r) for r in runs})
    _bump(ds)
    _record(s, actor, ds, "update", before, f"excluded runs of {prod.name!r}")
    _notify(
        s,
        ds,
        NotificationKind.DATASET_CHANGED,
        f"excluded runs of production {prod.name!r} of {ds.name!r} changed",
    )
    return prod


_RUN_RE = re.compile(r"(?<![0-9])(5[0-9]{5}|[1-9][0-9]{5})(?![0-9])")


def run_number_of(path: str) -> int | None:
    """The run number in a catalogue path: the last 6-digit number in the directories."""
    parts = Path(path).parts[:-1] or Path(path).parts
    for part in reversed(parts):
        m = _RUN_RE.fullmatch(part) or _RUN_RE.search(part)
        if m:
            return int(m.group(1))
    return None


def _add_files(s: Session, prod: Production, entries: list[tuple[str, int, int | None]]) -> int:
    existing = set(s.scalars(select(DatasetFile.path).where(DatasetFile.production_id == prod.id)))
    rows = []
    for path, size, n_df in entries:
        if path in existing:
            continue
        run = run_number_of(path)
        if run is None:
            raise ValidationError(f"cannot find a run number in file path {path!r}")
        rows.append(
            {
                "production_id": prod.id,
                "run_number": run,
                "path": path,
                "size": size,
                "n_dataframes": n_df,
            }
        )
        existing.add(path)
    if rows:
        s.execute(DatasetFile.__table__.insert(), rows)
    return len(rows)


def import_file_list(
    s: Session,
    actor: Actor,
    production_id: int,
    lines: Iterable[str],
    *,
    roots: StorageRoots,
) -> int:
    """Import ``path size [n_dataframes]`` lines (size in bytes; '#' comments); returns
    the number of new files. The run number comes from the path. Every path is normalised
    and must lie under a storage root (one line outside refuses the whole list)."""
    require(actor, Action.DATASET_MANAGE)
    prod = get_or_404(s, Production, production_id, "production")
    entries = []
    for i, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            size = int(parts[1]) if len(parts) > 1 else 0
            n_df = int(parts[2]) if len(parts) > 2 else None
        except ValueError:
            raise ValidationError(
                f"file list line {i}: expected 'path size [n_dataframes]', got {line!r}"
            ) from None
        if not 0 <= size < 2**63 or (n_df is not None and not 0 <= n_df < 2**31):
            raise ValidationError(
                f"file list line {i}: size must be 0 to 2^63-1 bytes and n_dataframes 0 to "
                f"2^31-1, got {line[:200]!r}"
            )
        try:
            path = roots.check(parts[0])
        except StorageRootError as exc:
            raise StorageRootError(f"file list line {i}: {exc.message}", exc.details) from None
        entries.append((path, size, n_df))
    n = _add_files(s, prod, entries)
    s.flush()
    return n


def import_directory(
    s: Session,
    actor: Actor,
    production_id: int,
    root: str | Path,
    *,
    roots: StorageRoots,
    pattern: str = "AO2D*.root",
) -> int:
    """Import every file matching ``pattern`` below ``root`` (run number from the path).
    The folder and each file (symlinks resolved) must lie under a storage root."""
    require(actor, Action.DATASET_MANAGE)
    prod = get_or_404(s, Production, production_id, "production")
    folder = str(root)
    if not os.path.isabs(folder) or "://" in folder:
        raise ValidationError(f"directory {folder!r} must be an absolute folder on the server")
    normal = Path(os.path.normpath(folder))
    if not any(f == normal.resolve() or f in normal.resolve().parents for f in roots.folders):
        raise StorageRootError(
            f"directory {folder!r} is not under a storage root ({SETTING}: {roots.describe()})",
            {"path": folder},
        )
    if not normal.is_dir():
        raise ValidationError(f"{folder} is not a directory")
    entries = []
    for p in sorted(normal.rglob(pattern)):
        if p.is_file():
            entries.append((roots.check(str(p)), p.stat().st_size, None))
    n = _add_files(s, prod, entries)
    s.flush()
    _notify_missing_runs(s, prod, folder)
    return n


def _notify_missing_runs(s: Session, prod: Production, folder: str) -> None:
    """Runs of the production's runlist (not excluded) without any file in the catalogue
    after an import: their folders were not found; the dataset's users and the operators
    are told which."""
    if prod.runlist_id is None:
        return
    runlist = s.get(Runlist, prod.runlist_id)
    found = set(
        s.scalars(
            select(DatasetFile.run_number).distinct().where(DatasetFile.production_id == prod.id)
        )
    )
    wanted = set(runlist.runs or []) - set(prod.excluded_runs or [])
    missing = sorted(int(r) for r in wanted - found)
    if not missing:
        return
    ds = prod.dataset
    shown = ", ".join(str(r) for r in missing[:50]) + (" ..." if len(missing) > 50 else "")
    message = (
        f"production {prod.name!r} of dataset {ds.name!r}: no folder with files found under "
        f"{folder} for {len(missing)} run(s) of runlist {runlist.name!r}: {shown}. Import "
        "their folders, or exclude the runs from the production"
    )
    users = dataset_user_ids(s, ds.id) | operator_user_ids(s)
    notify(s, users, NotificationKind.PRODUCTION_DIR_NOT_FOUND, message, ds)


def runs_of(s: Session, dataset_id: int) -> list[int]:
    """The dataset's runs: catalogue runs minus each production's excluded runs."""
    ds = get_dataset(s, dataset_id)
    runs: set[int] = set()
    for prod in ds.productions:
        found = set(
            s.scalars(
                select(DatasetFile.run_number)
                .distinct()
                .where(DatasetFile.production_id == prod.id)
            )
        )
        if not found and prod.runlist_id is not None:
            found = set(s.get(Runlist, prod.runlist_id).runs)  # type: ignore[union-attr]
        runs |= found - set(prod.excluded_runs or [])
    return sorted(runs)


def catalogue_summary(s: Session, dataset_id: int) -> dict[str, Any]:
    """Files and bytes of the runs trains read (excluded runs left out), and the runs."""
    ds = get_dataset(s, dataset_id)
    n, size = s.execute(
        select(func.count(), func.coalesce(func.sum(DatasetFile.size), 0)).where(
            included(list(ds.productions))
        )
    ).one()
    return {"files": int(n), "bytes": int(size), "runs": len(runs_of(s, dataset_id))}


def clear_catalogue(s: Session, actor: Actor, production_id: int) -> None:
    require(actor, Action.DATASET_MANAGE)
    s.execute(delete(DatasetFile).where(DatasetFile.production_id == production_id))


def set_mergelist(
    s: Session,
    actor: Actor,
    dataset_id: int,
    name: str,
    runs: Iterable[int],
    *,
    active: bool = True,
) -> Mergelist:
    """Create or replace a mergelist (named set of runs merged together)."""
    require(actor, Action.DATASET_MANAGE)
    ds = get_dataset(s, dataset_id)
    before = dataset_state(ds)
    ml = next((m for m in ds.mergelists if m.name == name), None)
    if ml is None:
        ml = Mergelist(dataset_id=ds.id, name=name)
        ds.mergelists.append(ml)
    ml.runs, ml.active = sorted({int(r) for r in runs}), active
    _bump(ds)
    _record(s, actor, ds, "update", before, f"mergelist {name!r}")
    _notify(
        s,
        ds,
        NotificationKind.MERGELIST_UPDATED,
        f"mergelist {name!r} of dataset {ds.name!r} updated",
    )
    return ml


def set_final_mergelist(
    s: Session, actor: Actor, dataset_id: int, name: str, mergelists: Iterable[str]
) -> FinalMergelist:
    require(actor, Action.DATASET_MANAGE)
    ds = get_dataset(s, dataset_id)
    known = {m.name for m in ds.mergelists}
    names = list(mergelists)
    missing = [m for m in names if m not in known]
    if missing:
        raise ValidationError(f"dataset {ds.name!r} has no mergelist(s) {missing}")
    before = dataset_state(ds)
    fm = next((f for f in ds.final_mergelists if f.name == name), None)
    if fm is None:
        fm = FinalMergelist(dataset_id=ds.id, name=name)
        ds.final_mergelists.append(fm)
    fm.mergelists = names
    _bump(ds)
    _record(s, actor, ds, "update", before, f"final mergelist {name!r}")
    _notify(
        s,
        ds,
        NotificationKind.MERGELIST_UPDATED,
        f"final mergelist {name!r} of dataset {ds.name!r} updated",
    )
    return fm


_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
#: staging states in which the scheduler still has work (resumed after a restart)
STAGING_ACTIVE = ("requested", "transferring", "verifying")
AWAITING_CONFIRMATION = "awaiting_confirmation"


def dataset_bytes(s: Session, dataset_id: int) -> tuple[int, int]:
    """(files, bytes) of the dataset's whole file catalogue (every production and run: what
    staging copies)."""
    n, size = s.execute(
        select(func.count(DatasetFile.id), func.coalesce(func.sum(DatasetFile.size), 0))
        .join(Production, Production.id == DatasetFile.production_id)
        .where(Production.dataset_id == dataset_id)
    ).one()
    return int(n), int(size)


def staged_copy(s: Session, dataset_id: int, target: str) -> str | None:
    """Where the dataset's copy staged to ``target`` lies, when its latest transfer to that
    target is a stage that ended done (verified); None otherwise (never staged, still being
    copied, failed, or unstaged since). Trains run on the target of that name read it."""
    latest = s.scalars(
        select(StagingTransfer)
        .where(StagingTransfer.dataset_id == dataset_id, StagingTransfer.target == target)
        .order_by(StagingTransfer.id.desc())
        .limit(1)
    ).first()
    if latest is None or latest.action is not StagingAction.STAGE or latest.state != "done":
        return None
    return latest.location


def trains_reading_staged_copy(s: Session, dataset_id: int, target: str) -> list[int]:
    """Train runs on the dataset, submitted to the target named ``target``, whose jobs may
    still read its staged copy (submitted, running or merging)."""
    return list(
        s.scalars(
            select(TrainRun.id)
            .join(Target, Target.id == TrainRun.target_id)
            .where(
                TrainRun.dataset_id == dataset_id,
                Target.name == target,
                TrainRun.state.in_((TrainState.SUBMITTED, TrainState.RUNNING, TrainState.MERGING)),
            )
            .order_by(TrainRun.id)
        )
    )


def request_staging(
    s: Session,
    actor: Actor,
    dataset_id: int,
    target: str,
    action: StagingAction | str = StagingAction.STAGE,
    *,
    confirm_above_bytes: int | None = None,
) -> StagingTransfer:
    """Ask the scheduler to copy the dataset's files to ``target``'s storage (or delete the
    copies). A stage request of more than ``confirm_above_bytes`` waits in
    ``awaiting_confirmation`` for an operator (:func:`confirm_staging`); the operators are
    notified. One transfer per dataset and target at a time (409 otherwise)."""
    require(actor, Action.DATASET_MANAGE)
    ds = get_dataset(s, dataset_id)
    if not _TARGET_NAME.match(target) or target in (".", ".."):
        raise ValidationError(
            f"staging target {target!r}: use letters, digits, '_', '.' or '-' "
            "(it names the facility's folder)"
        )
    busy = s.scalar(
        select(StagingTransfer.id).where(
            StagingTransfer.dataset_id == ds.id,
            StagingTransfer.target == target,
            StagingTransfer.state.in_((*STAGING_ACTIVE, AWAITING_CONFIRMATION)),
        )
    )
    if busy is not None:
        raise Conflict(
            f"dataset {ds.name!r} already has staging transfer {busy} to {target!r} in "
            "progress; wait for it to end"
        )
    action = StagingAction(action)
    if action is StagingAction.UNSTAGE:
        readers = trains_reading_staged_copy(s, ds.id, target)
        if readers:
            raise Conflict(
                f"dataset {ds.name!r} staged to {target!r} is being read by train run(s) "
                f"{', '.join(map(str, readers))}: unstage it when they have ended"
            )
    files, size = dataset_bytes(s, ds.id)
    big = (
        action is StagingAction.STAGE
        and confirm_above_bytes is not None
        and size > confirm_above_bytes
    )
    transfer = StagingTransfer(
        dataset_id=dataset_id,
        target=target,
        action=action,
        requested_by_id=actor.user.id,
        state=AWAITING_CONFIRMATION if big else "requested",
        files_total=files,
        bytes_total=size if action is StagingAction.STAGE else 0,
    )
    s.add(transfer)
    s.flush()
    if big:
        notify(
            s,
            operator_user_ids(s),
            NotificationKind.STAGING_CONFIRMATION,
            f"staging of dataset {ds.name!r} to {target} ({size / 1e9:.1f} GB in {files} "
            f"files, above {confirm_above_bytes / 1e9:.1f} GB) waits for an operator's "
            f"confirmation (transfer {transfer.id})",
            ds,
        )
    return transfer


def confirm_staging(s: Session, actor: Actor, transfer_id: int) -> StagingTransfer:
    """An operator confirms the data amount of a big staging request: the scheduler starts
    it. 409 unless the transfer awaits confirmation."""
    require(actor, Action.DATASET_MANAGE)
    transfer = get_or_404(s, StagingTransfer, transfer_id, "staging transfer")
    if transfer.state != AWAITING_CONFIRMATION:
        raise Conflict(
            f"staging transfer {transfer_id} is {transfer.state}, not awaiting confirmation"
        )
    transfer.state = "requested"
    transfer.confirmed_by = actor.user.username[:64]
    s.flush()
    return transfer


@dataclass(frozen=True)
class SizeClass:
    """Resource limits that follow from a dataset's size (data-driven; operators may edit
    the resulting per-dataset values afterwards)."""

    name: str
    max_tb: float | None  # upper bound of the dataset size for this class
    cpu_limit_hours: float
    slots_per_week: int
    auto_submission_slots: int


#: default size classes (bigger datasets: fewer slots, more CPU per train needs approval)
SIZE_CLASSES: tuple[SizeClass, ...] = (
    SizeClass("small", 50.0, 10_000.0, 6, 4),
    SizeClass("medium", 300.0, 50_000.0, 4, 2),
    SizeClass("large", 1000.0, 150_000.0, 2, 1),
    SizeClass("huge", None, 400_000.0, 1, 0),
)


def size_class_for(n_bytes: int, classes: tuple[SizeClass, ...] = SIZE_CLASSES) -> SizeClass:
    tb = n_bytes / 1e12
    for cls in classes:
        if cls.max_tb is None or tb <= cls.max_tb:
            return cls
    return classes[-1]


def apply_size_class(
    s: Session, actor: Actor, dataset_id: int, size_class: str | None = None
) -> Dataset:
    """Set the limits of a size class (by name, or from the catalogue size when None)."""
    require(actor, Action.DATASET_MANAGE)
    ds = get_dataset(s, dataset_id)
    if size_class is None:
        cls = size_class_for(catalogue_summary(s, ds.id)["bytes"])
    else:
        matches = [c for c in SIZE_CLASSES if c.name == size_class]
        if not matches:
            names = ", ".join(c.name for c in SIZE_CLASSES)
            raise ValidationError(f"unknown size class {size_class!r} (one of {names})")
        cls = matches[0]
    return edit_dataset(
        s,
        actor,
        ds.id,
        expected_version=ds.version,
        size_class=cls.name,
        cpu_limit_hours=cls.cpu_limit_hours,
        slots_per_week=cls.slots_per_week,
        auto_submission_slots=cls.auto_submission_slots,
    )
