"""Read models of Train Submission (SPEC §5, §6) and Trains with issues (SPEC §3): per
dataset the enabled wagons with compatibility, the composed trains and their tests, the
long-train requests; shared by the pages and their JSON endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session, defer

from hyperloop.core import jobs, permissions, preferences, trains
from hyperloop.core.actor import Actor
from hyperloop.core.permissions import Action
from hyperloop.core.states import JOB_ERRORS
from hyperloop.db.models import (
    Analysis,
    Dataset,
    Job,
    TrainRun,
    User,
    Wagon,
    WagonDataset,
    WagonTest,
)
from hyperloop.enums import JobState, TrainState, TrainType
from hyperloop.readmodels import derived_schedule, train_forms
from hyperloop.readmodels.co2 import submission_co2
from hyperloop.readmodels.trains import _aware, _user_names, icon_of, train_actions

COMPATIBILITY_RULES = (
    "The wagon's test is done or warning (a failed, queued or running test cannot be composed).",
    "The wagon is not already in a composed train of this dataset (decompose that train first).",
    "A package tag satisfies every selected wagon's tag policy (fixed, or newer, future PR tag).",
    "Dependencies running the same workflow have identical configurations.",
    "Derived-data trains need wagons with derived tables; linked derived-data wagons run alone; "
    "slim derived data needs wagons marked ready for slim.",
    "Each analysis stays within its train slots per rolling week on the dataset.",
)
RECENT = timedelta(days=7)


def submission_view(
    s: Session,
    actor: Actor | None,
    dataset_id: int | None,
    *,
    show_all: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Datasets with enabled wagons; for the chosen one its enabled wagons with test status
    and compatibility (none selected yet), targets, composed trains with their test status,
    the scheduling of its derived-data wagons, and long-train requests. ``show_all`` lists
    wagons enabled before the last week too."""
    now = _aware(now) or datetime.now(UTC)
    user = actor.user if actor else None
    counts = s.execute(
        select(WagonDataset.dataset_id, func.count())
        .where(WagonDataset.enabled.is_(True))
        .group_by(WagonDataset.dataset_id)
    ).all()
    names = dict(
        s.execute(
            select(Dataset.id, Dataset.name).where(Dataset.id.in_({d for d, _ in counts}))
        ).all()
    )
    datasets = sorted(
        ({"id": d, "name": names.get(d, str(d)), "wagons": int(n)} for d, n in counts),
        key=lambda r: r["name"],
    )
    # the operator's last composed train chose the dataset and target to open on
    last = preferences.last_submission(user) if user is not None else {}
    if dataset_id is None and datasets:
        remembered = last.get("dataset_id")
        ids = {d["id"] for d in datasets}
        dataset_id = remembered if remembered in ids else datasets[0]["id"]
    out: dict[str, Any] = {
        "datasets": datasets,
        "dataset": None,
        "wagons": [],
        "show_all": show_all,
        "rules": list(COMPATIBILITY_RULES),
        "targets": [
            {**t, "selected": t["id"] == last.get("target_id")}
            for t in train_forms.target_choices(s)
        ],
        "remembered": {
            "dataset_id": last.get("dataset_id"),
            "target_id": last.get("target_id"),
        },
        "types": [t.value for t in TrainType],
        "can_compose": permissions.can(user, Action.TRAIN_OPERATE),
        "composed": [],
        "long_trains": _long_trains(s, user),
    }
    ds = s.get(Dataset, dataset_id) if dataset_id is not None else None
    if ds is None:
        return out
    out["dataset"] = {"id": ds.id, "name": ds.name, "short": ds.parent_id is not None}
    out["derived_schedule"] = derived_schedule.derived_schedule_view(s, actor, ds)
    since = None if show_all else now - RECENT
    report = trains.compatible_wagons(s, ds.id, [], enabled_since=since)
    wanted = [c.wagon_id for c in report.candidates]
    # columns only: the wagons' configurations and the tests' metrics are not shown here
    rows = {
        wid: (policy, enabled_at)
        for wid, policy, enabled_at in s.execute(
            select(WagonDataset.wagon_id, WagonDataset.tag_policy, WagonDataset.enabled_at).where(
                WagonDataset.dataset_id == ds.id, WagonDataset.wagon_id.in_(wanted)
            )
        )
    }
    wagons = {
        r.id: r
        for r in s.execute(
            select(
                Wagon.id, Wagon.name, Wagon.workflow, Wagon.analysis_id, Wagon.derived_tables
            ).where(Wagon.id.in_(wanted))
        )
    }
    analyses = dict(
        s.execute(
            select(Analysis.id, Analysis.name).where(
                Analysis.id.in_({w.analysis_id for w in wagons.values()})
            )
        ).all()
    )
    tests = {
        r.wagon_id: r
        for r in s.execute(
            select(WagonTest.id, WagonTest.wagon_id, WagonTest.status, WagonTest.warnings)
            .where(
                WagonTest.dataset_id == ds.id,
                WagonTest.wagon_id.in_(wanted),
                WagonTest.superseded.is_(False),
            )
            .order_by(WagonTest.id)
        )
    }
    for c in report.candidates:
        w, row, test = wagons.get(c.wagon_id), rows.get(c.wagon_id), tests.get(c.wagon_id)
        if w is None or row is None:
            continue
        out["wagons"].append(
            {
                "wagon_id": w.id,
                "name": w.name,
                "workflow": w.workflow,
                "analysis_id": w.analysis_id,
                "analysis": analyses.get(w.analysis_id, str(w.analysis_id)),
                "derived": bool(w.derived_tables),
                "tag_policy": row[0].value,
                "enabled_at": row[1],
                "test_id": test.id if test else None,
                "test_status": test.status.value if test else None,
                "test_warnings": [x.get("code", "") for x in (test.warnings or [])] if test else [],
                "compatible": c.compatible,
                "reasons": list(c.reasons),
            }
        )
    out["wagons"].sort(key=lambda r: (r["analysis"], r["name"]))
    held = (
        TrainState.COMPOSED,
        TrainState.TESTING,
        TrainState.TEST_DONE,
        TrainState.TEST_WARNING,
        TrainState.TEST_FAILED,
    )
    composed = list(
        s.scalars(
            select(TrainRun)
            .options(
                defer(TrainRun.dataset_snapshot),
                defer(TrainRun.test_metrics),
                defer(TrainRun.wagons_snapshot),  # ~20 kB each: only the names are shown
            )
            .where(TrainRun.dataset_id == ds.id, TrainRun.state.in_(held))
            .order_by(TrainRun.id.desc())
        )
    )
    wagon_names = snapshot_wagon_names(s, [t.id for t in composed])
    for t in composed:
        out["composed"].append(
            {
                "id": t.id,
                "state": t.state.value,
                "icon": icon_of(t.state),
                "wagons": wagon_names.get(t.id, []),
                "warnings": [w.get("code", "") for w in t.test_warnings or []],
                "composed_at": t.composed_at,
                "actions": [
                    a.__dict__
                    for a in train_actions(t, actor, 0, short_dataset=False, targets=out["targets"])
                    if a.name in ("submit", "decompose")
                ],
            }
        )
    # CO2-equivalent estimates from the tests, with the flight comparison (readmodels.co2)
    out["co2"] = submission_co2(s, ds.id, out["wagons"], [t.id for t in composed])
    return out


def snapshot_wagon_names(s: Session, train_ids: list[int]) -> dict[int, list[str | None]]:
    """Train id -> the ``name`` of each wagon of its ``wagons_snapshot``, in order, read in
    the database (JSON functions) instead of decoding every whole snapshot in Python."""
    if not train_ids:
        return {}
    if s.get_bind().dialect.name == "postgresql":
        sql = (
            "SELECT t.id, e.value ->> 'name' FROM train_runs t CROSS JOIN LATERAL "
            "jsonb_array_elements(CASE jsonb_typeof(t.wagons_snapshot) WHEN 'array' "
            "THEN t.wagons_snapshot ELSE '[]'::jsonb END) WITH ORDINALITY AS e(value, i) "
            "WHERE t.id IN :ids ORDER BY t.id, e.i"
        )
    else:
        sql = (
            "SELECT t.id, json_extract(e.value, '$.name') FROM train_runs t, "
            "json_each(CASE json_type(t.wagons_snapshot) WHEN 'array' "
            "THEN t.wagons_snapshot ELSE '[]' END) AS e "
            "WHERE t.id IN :ids ORDER BY t.id, e.key"
        )
    out: dict[int, list[str | None]] = {}
    stmt = text(sql).bindparams(bindparam("ids", expanding=True))
    for tid, name in s.execute(stmt, {"ids": list(train_ids)}):
        out.setdefault(int(tid), []).append(None if name is None else str(name))
    return out


def _long_trains(s: Session, user: User | None) -> list[dict[str, Any]]:
    """Requested (and approved, not yet submitted) long trains, with who may approve."""
    rows = list(
        s.scalars(
            select(TrainRun)
            .options(defer(TrainRun.dataset_snapshot), defer(TrainRun.test_metrics))
            .where(
                TrainRun.state.in_(
                    (TrainState.LONG_TRAIN_REQUESTED, TrainState.LONG_TRAIN_APPROVED)
                )
            )
            .order_by(TrainRun.id.desc())
            .limit(100)
        )
    )
    names = _user_names(s, [t.requested_by_id for t in rows])
    ds_names = dict(
        s.execute(
            select(Dataset.id, Dataset.name).where(Dataset.id.in_({t.dataset_id for t in rows}))
        ).all()
    )
    return [
        {
            "id": t.id,
            "state": t.state.value,
            "icon": icon_of(t.state),
            "dataset": ds_names.get(t.dataset_id, str(t.dataset_id)),
            "parent_id": t.parent_id,
            "requested_by": names.get(t.requested_by_id) if t.requested_by_id else None,
            "wagons": [w.get("name") for w in t.wagons_snapshot or []],
            "can_approve": t.state is TrainState.LONG_TRAIN_REQUESTED
            and permissions.can(user, Action.APPROVE_LONG_TRAIN, t),
            "can_submit": t.state is TrainState.LONG_TRAIN_APPROVED
            and permissions.can(user, Action.TRAIN_OPERATE, t),
        }
        for t in rows
    ]


def trains_with_issues_view(s: Session) -> list[dict[str, Any]]:
    """SPEC §3 trains with issues, with dataset names and job figures.

    The rules of :func:`jobs.issue_of` (with the merge records), read lean: the
    running trains' few columns and one grouped job count (not whole trains with their
    wagon snapshots, nor one count per train); a test keeps both in step."""
    active = (TrainState.SUBMITTED, TrainState.RUNNING, TrainState.MERGING)
    # submitted_at only for the trains found: on SQLite it sits behind the wagon snapshot
    trains = s.execute(
        select(TrainRun.id, TrainRun.state, TrainRun.dataset_id)
        .where(TrainRun.state.in_(active))
        .order_by(TrainRun.id)
    ).all()
    if not trains:
        return []
    by_train: dict[int, dict[str, int]] = {}
    for tid, st, n in s.execute(
        select(Job.train_run_id, Job.state, func.count())
        # IN, not a join: SQLite then searches the (train, state) index per running train
        # instead of scanning all of it
        .where(Job.train_run_id.in_(select(TrainRun.id).where(TrainRun.state.in_(active))))
        .group_by(Job.train_run_id, Job.state)
    ):
        by_train.setdefault(tid, {})[st.value] = int(n)
    found = []
    merges = jobs.merge_facts(s, [t[0] for t in trains])
    now = datetime.now(UTC)
    for tid, st, ds in trains:
        counts = by_train.get(tid, {})
        why = jobs.issue_of(st, counts, merges.get(tid), now)
        if why is None:
            continue
        failed = sum(counts.get(e.value, 0) for e in JOB_ERRORS)
        found.append((tid, st, ds, why, sum(counts.values()), failed, counts))
    if not found:
        return []
    ds_names = dict(
        s.execute(
            select(Dataset.id, Dataset.name).where(Dataset.id.in_({f[2] for f in found}))
        ).all()
    )
    submitted = dict(
        s.execute(
            select(TrainRun.id, TrainRun.submitted_at).where(TrainRun.id.in_([f[0] for f in found]))
        ).all()
    )
    return [
        {
            "id": tid,
            "state": st.value,
            "icon": icon_of(st),
            "dataset": ds_names.get(ds, str(ds)),
            "submitted_at": _aware(submitted.get(tid)),
            "issue": why,
            "jobs": total,
            "failed": failed,
            "done": counts.get(JobState.DONE.value, 0),
        }
        for tid, st, ds, why, total, failed, counts in found
    ]
