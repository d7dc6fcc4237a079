"""Read models of the dataset-side views (dataset overview, derived data, staging status,
runlist overview): one query layer shared by the JSON API and the HTML pages.

Each function returns plain JSON-able dicts; the API validates them into response models and
the pages render the same models, so a script sees exactly what a page shows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hyperloop.core import derived
from hyperloop.core.catalogue import totals as catalogue_totals
from hyperloop.core.common import get_or_404
from hyperloop.core.datasets import get_dataset, runs_of
from hyperloop.db.models import (
    Analysis,
    AnalysisDataset,
    Dataset,
    HistoryEntry,
    Production,
    Runlist,
    StagingTransfer,
    TrainRun,
    User,
)
from hyperloop.enums import TrainType

#: staging states after which a transfer no longer changes (pages stop polling)
FINAL_STAGING_STATES = frozenset({"done", "failed", "cancelled"})


def _usernames(s: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(s.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def _last_change(s: Session, object_type: str, object_id: int) -> dict[str, Any]:
    """Who created the object and who changed it last (from its history), with times."""
    base = select(HistoryEntry).where(
        HistoryEntry.object_type == object_type, HistoryEntry.object_id == object_id
    )
    first = s.scalars(base.order_by(HistoryEntry.id).limit(1)).first()
    last = s.scalars(base.order_by(HistoryEntry.id.desc()).limit(1)).first()
    names = _usernames(
        s,
        {
            first.user_id if first else None,
            last.user_id if last else None,
            last.impersonator_id if last else None,
        },
    )
    return {
        "created_by": names.get(first.user_id) if first and first.user_id else None,
        "created_at": first.at if first else None,
        "changed_by": names.get(last.user_id) if last and last.user_id else None,
        "changed_at": last.at if last else None,
        "changed_reason": last.reason if last else "",
    }


RECENT_CHANGES = 10


def recent_changes(
    s: Session, object_type: str, object_id: int, n: int = RECENT_CHANGES
) -> list[dict[str, Any]]:
    """The last ``n`` history entries, newest first: when, who (and who impersonated),
    what action, why, and the changed fields (top-level names; details in the history API)."""
    entries = list(
        s.scalars(
            select(HistoryEntry)
            .where(HistoryEntry.object_type == object_type, HistoryEntry.object_id == object_id)
            .order_by(HistoryEntry.id.desc())
            .limit(n)
        )
    )
    names = _usernames(s, {e.user_id for e in entries} | {e.impersonator_id for e in entries})
    return [
        {
            "at": e.at,
            "user": names.get(e.user_id) if e.user_id else None,
            "impersonator": names.get(e.impersonator_id) if e.impersonator_id else None,
            "action": e.action,
            "reason": e.reason,
            "fields": sorted({path.split(".")[0] for path in (e.changes or {})}),
        }
        for e in entries
    ]


_TRANSFER_FIGURES = (
    "bytes_total",
    "bytes_done",
    "files_total",
    "files_done",
    "location",
    "error",
)


def _transfer(t: StagingTransfer, dataset_name: str, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": t.id,
        "dataset_id": t.dataset_id,
        "dataset_name": dataset_name,
        "target": t.target,
        "action": t.action.value,
        "state": t.state,
        "progress": float(t.progress or 0.0),
        "final": t.state in FINAL_STAGING_STATES,
        **{k: getattr(t, k) for k in _TRANSFER_FIGURES},
        "requested_by": names.get(t.requested_by_id) if t.requested_by_id else None,
        "created_at": t.created_at,
    }


def dataset_overview(s: Session, dataset_id: int) -> dict[str, Any]:
    """Everything the dataset page shows besides its settings: productions with their
    catalogue, runs (included and excluded), analyses using it, parent and short datasets,
    the latest staging transfer per target and the last change. Raises NotFound."""
    ds = get_dataset(s, dataset_id)
    # totals count the runs trains read: a production's excluded runs are left out
    per_prod = catalogue_totals(s, list(ds.productions))
    runlist_names = dict(
        s.execute(
            select(Runlist.id, Runlist.name).where(
                Runlist.id.in_([p.runlist_id for p in ds.productions if p.runlist_id])
            )
        ).all()
    )
    productions = []
    excluded: set[int] = set()
    for p in ds.productions:
        t = per_prod[p.id]
        excluded |= set(p.excluded_runs or [])
        productions.append(
            {
                "id": p.id,
                "name": p.name,
                "kind": p.kind.value,
                "runlist_id": p.runlist_id,
                "runlist_name": runlist_names.get(p.runlist_id),
                "train_run_id": p.train_run_id,
                "excluded_runs": sorted(p.excluded_runs or []),
                "files": t["files"],
                "bytes": t["bytes"],
                "catalogue_runs": t["runs"],
                "excluded_files": t["excluded_files"],
                "excluded_bytes": t["excluded_bytes"],
            }
        )
    runs = runs_of(s, ds.id)
    analyses = [
        {"id": a.id, "name": a.name, "pwg": a.pwg}
        for a in s.scalars(
            select(Analysis)
            .join(AnalysisDataset, AnalysisDataset.analysis_id == Analysis.id)
            .where(AnalysisDataset.dataset_id == ds.id)
            .order_by(Analysis.name)
        )
    ]
    parent = s.get(Dataset, ds.parent_id) if ds.parent_id else None
    transfers = list(
        s.scalars(
            select(StagingTransfer)
            .where(StagingTransfer.dataset_id == ds.id)
            .order_by(StagingTransfer.id.desc())
        )
    )
    latest: dict[str, StagingTransfer] = {}
    for t in transfers:
        latest.setdefault(t.target, t)
    names = _usernames(s, {t.requested_by_id for t in latest.values()})
    n_files = sum(p["files"] for p in productions)
    return {
        "runs": runs,
        "excluded_runs": sorted(excluded),
        "productions": productions,
        "catalogue": {
            "files": n_files,
            "bytes": sum(p["bytes"] for p in productions),
            "runs": len(runs),
        },
        "analyses": analyses,
        "parent": {"id": parent.id, "name": parent.name} if parent else None,
        "short_datasets": [
            {"id": d.id, "name": d.name, "active": d.active} for d in ds.short_datasets
        ],
        "staging": [_transfer(t, ds.name, names) for t in sorted(latest.values(), key=_by_target)],
        "recent_changes": recent_changes(s, "dataset", ds.id),
        **_last_change(s, "dataset", ds.id),
    }


def _by_target(t: StagingTransfer) -> str:
    return t.target


def _count(s: Session, stmt: Select[Any]) -> int:
    return int(s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)


def staging_status(
    s: Session,
    *,
    dataset_id: int | None = None,
    target: str | None = None,
    running_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Staging transfers, newest first, with dataset and requester names; ``running`` says
    whether any transfer anywhere is still moving (the page keeps polling while true)."""
    stmt = select(StagingTransfer, Dataset.name).join(
        Dataset, Dataset.id == StagingTransfer.dataset_id
    )
    if dataset_id is not None:
        stmt = stmt.where(StagingTransfer.dataset_id == dataset_id)
    if target:
        stmt = stmt.where(StagingTransfer.target == target)
    if running_only:
        stmt = stmt.where(StagingTransfer.state.not_in(FINAL_STAGING_STATES))
    total = _count(s, stmt)
    rows = s.execute(stmt.order_by(StagingTransfer.id.desc()).limit(limit).offset(offset)).all()
    names = _usernames(s, {t.requested_by_id for t, _ in rows})
    running = (
        s.scalars(
            select(StagingTransfer.id)
            .where(StagingTransfer.state.not_in(FINAL_STAGING_STATES))
            .limit(1)
        ).first()
        is not None
    )
    return {
        "items": [_transfer(t, name, names) for t, name in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
        "running": running,
    }


#: the derived-data page's "used by" filter: outputs a production of an active dataset uses,
#: outputs only productions of inactive datasets use, outputs no production uses
DERIVED_USE = ("active", "inactive", "unused")
#: the derived-data page's groupings (the original's Dataset / Analysis / PWG views)
DERIVED_GROUPS = ("dataset", "analysis", "pwg")


def derived_data(
    s: Session,
    *,
    dataset_id: int | None = None,
    pwg: str | None = None,
    unused_only: bool = False,
    used_by: str | None = None,
    group_by: str = "dataset",
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Derived-data train runs (standard, linked, slim), newest first: their dataset, state,
    derived tables, analyses and PWGs, output size and the dataset productions built from
    them (a derived output is *unused* when no production refers to it), optionally only
    those used by an active dataset, only by inactive ones, or unused (``DERIVED_USE``).
    With the page: its items grouped by dataset, analysis or PWG (``group_by``; an output
    of several analyses is in each of their groups) and the total size of every stored
    derived output, whatever the filters."""
    if unused_only:
        used_by = "unused"
    stmt = select(TrainRun).where(TrainRun.train_type != TrainType.ANALYSIS)
    if dataset_id is not None:
        stmt = stmt.where(TrainRun.dataset_id == dataset_id)
    used_ids = select(Production.train_run_id).where(Production.train_run_id.is_not(None))
    active_ids = (
        select(Production.train_run_id)
        .join(Dataset, Dataset.id == Production.dataset_id)
        .where(Production.train_run_id.is_not(None), Dataset.active.is_(True))
    )
    if used_by == "unused":  # still stored and used by no production: what may be deleted
        stmt = stmt.where(TrainRun.id.not_in(used_ids), TrainRun.output_deleted_at.is_(None))
    elif used_by == "active":
        stmt = stmt.where(TrainRun.id.in_(active_ids))
    elif used_by == "inactive":
        stmt = stmt.where(TrainRun.id.in_(used_ids), TrainRun.id.not_in(active_ids))
    stmt = stmt.order_by(TrainRun.id.desc())
    if pwg:  # the PWGs live in the JSON snapshot: filter in Python (derived trains are few)
        trains = [
            t for t in s.scalars(stmt) if pwg in {w.get("pwg") for w in t.wagons_snapshot or []}
        ]
        total, page = len(trains), trains[offset : offset + limit]
    else:
        total = _count(s, stmt)
        page = list(s.scalars(stmt.limit(limit).offset(offset)))
    ids = [t.id for t in page]
    dependents: dict[int, list[dict[str, Any]]] = {}
    if ids:
        for prod, ds_name, ds_active in s.execute(
            select(Production, Dataset.name, Dataset.active)
            .join(Dataset, Dataset.id == Production.dataset_id)
            .where(Production.train_run_id.in_(ids))
            .order_by(Dataset.name)
        ).all():
            dependents.setdefault(prod.train_run_id, []).append(
                {
                    "dataset_id": prod.dataset_id,
                    "dataset_name": ds_name,
                    "production": prod.name,
                    "active": bool(ds_active),
                }
            )
    ds_names = dict(
        s.execute(
            select(Dataset.id, Dataset.name).where(Dataset.id.in_({t.dataset_id for t in page}))
        ).all()
    )
    items = []
    for t in page:
        wagons = t.wagons_snapshot or []
        tables = sorted({tbl for w in wagons for tbl in (w.get("derived_tables") or [])})
        users = dependents.get(t.id, [])
        analyses = {
            str(w["analysis_name"]): w.get("analysis_id") for w in wagons if w.get("analysis_name")
        }
        items.append(
            {
                "train_run_id": t.id,
                "train_type": t.train_type.value,
                "state": t.state.value,
                "dataset_id": t.dataset_id,
                "dataset_name": ds_names.get(t.dataset_id, ""),
                "tables": tables,
                "analyses": sorted(analyses),
                "analysis_ids": [analyses[name] for name in sorted(analyses)],
                "pwgs": sorted({str(w.get("pwg")) for w in wagons if w.get("pwg")}),
                "wagons": [str(w.get("name")) for w in wagons if w.get("name")],
                "output_dir": t.output_dir,
                "size_bytes": derived.size_of(t),
                "output_deleted_at": t.output_deleted_at,
                "deletable": t.output_deleted_at is None
                and t.state in derived.DELETABLE_STATES
                and not any(u["active"] for u in users),
                "composed_at": t.composed_at,
                "finished_at": t.finished_at,
                "dependent_datasets": users,
            }
        )
    return {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "groups": derived_groups(items, group_by),
        "total_bytes": derived_total_bytes(s),
    }


def derived_groups(items: list[dict[str, Any]], group_by: str) -> list[dict[str, Any]]:
    """The items grouped by dataset, analysis or PWG, by name: each group's name, link id
    (dataset or analysis; None for PWGs), train run ids (newest first) and stored size.
    Outputs without an analysis or PWG go to the group "(none)"."""
    groups: dict[str, dict[str, Any]] = {}
    for item in items:
        if group_by == "analysis":
            pairs = zip(item["analyses"], item["analysis_ids"], strict=True)
            keys = list(pairs) or [("(none)", None)]
        elif group_by == "pwg":
            keys = [(p, None) for p in item["pwgs"]] or [("(none)", None)]
        else:
            keys = [(item["dataset_name"], item["dataset_id"])]
        for name, link in keys:
            group = groups.setdefault(
                name, {"name": name, "id": link, "train_run_ids": [], "size_bytes": 0}
            )
            group["train_run_ids"].append(item["train_run_id"])
            group["size_bytes"] += item["size_bytes"] or 0
    return [groups[k] for k in sorted(groups)]


def derived_total_bytes(s: Session) -> int:
    """Bytes of every derived-data output still stored (the page's total, whatever the
    filters)."""
    trains = s.scalars(
        select(TrainRun).where(
            TrainRun.train_type != TrainType.ANALYSIS, TrainRun.output_deleted_at.is_(None)
        )
    )
    return sum(derived.size_of(t) or 0 for t in trains)


def runlist_overview(s: Session, runlist_id: int) -> dict[str, Any]:
    """Who created and last changed a DPG runlist and which dataset productions use it."""
    rl = get_or_404(s, Runlist, runlist_id, "runlist")
    rows = s.execute(
        select(Production, Dataset)
        .join(Dataset, Dataset.id == Production.dataset_id)
        .where(Production.runlist_id == rl.id)
        .order_by(Dataset.name, Production.name)
    ).all()
    return {
        "datasets": [
            {
                "dataset_id": ds.id,
                "dataset_name": ds.name,
                "active": ds.active,
                "production": prod.name,
                "excluded_runs": sorted(prod.excluded_runs or []),
            }
            for prod, ds in rows
        ],
        **_last_change(s, "runlist", rl.id),
    }
