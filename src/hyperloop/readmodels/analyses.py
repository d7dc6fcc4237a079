"""Read models of the analysis and wagon views (analyses list and page, wagon edit, wagon
test, wagon history; the My Analyses grid is in :mod:`hyperloop.readmodels.my_analyses`).

Each function returns plain JSON-ready data; the web page and its JSON API endpoint both call
it, so a script sees exactly what the page shows. Nothing here changes the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hyperloop.analysis.metrics import READER, WRITER
from hyperloop.core import history
from hyperloop.core.actor import Actor
from hyperloop.core.catalogue import included_files
from hyperloop.core.common import dependency_closure
from hyperloop.core.configs import Config, workflow_schema
from hyperloop.core.permissions import Action, can
from hyperloop.core.pull_requests import (
    get_pull_request,
    list_pull_requests,
    pull_request_row,
    schema_source,
)
from hyperloop.core.tag_workflows import unprovided_tables, workflow_docs
from hyperloop.core.tags import find_workflow, latest_tag, workflow_names
from hyperloop.db import models as m
from hyperloop.db.models import (
    Analysis,
    AnalysisDataset,
    AnalysisMember,
    Dataset,
    DatasetFile,
    PackageTag,
    User,
    Wagon,
    WagonDataset,
    WagonTest,
)
from hyperloop.enums import EmailPolicy, TestStatus
from hyperloop.grid import store
from hyperloop.readmodels.notifications import analysis_notifications
from hyperloop.readmodels.paging import PageParams, paginate
from hyperloop.readmodels.schemas import ORMModel
from hyperloop.units import MB, format_bytes, format_duration

FINAL_STATUSES = frozenset({TestStatus.DONE, TestStatus.WARNING, TestStatus.FAILED})
LOG_NAMES = ("console.log", "stdout.log", "stderr.log")
LOG_TAIL_BYTES = 20_000
PROFILE_GLOBS = ("*.speedscope.json", "profile*.json")
STATS_TESTS = 50  # past tests shown in the test statistics of a wagon


# --------------------------------------------------------------------------- configuration


def _param_row(
    desc: dict[str, Any], base: Config, task: str, subwagons: dict[str, Config]
) -> dict[str, Any]:
    name = desc["name"]
    labels = desc["default"] if isinstance(desc.get("default"), dict) else {}
    base_value = base.get(task, {}).get(name, desc.get("default"))
    subs = {}
    for sub, overrides in subwagons.items():
        own = overrides.get(task, {}).get(name)
        subs[sub] = {
            "overridden": own is not None and own != "inherit",
            "inherit": own == "inherit",
            "value": own if own is not None else base_value,
        }
    return {
        "name": name,
        "kind": desc["kind"],
        "dtype": desc.get("dtype"),
        "help": desc.get("help", ""),
        "default": desc.get("default"),
        "binning": desc.get("binning"),
        "length": desc.get("length"),
        "shape": desc.get("shape"),
        "rows": desc.get("rows") or labels.get("labels_rows"),
        "cols": desc.get("cols") or labels.get("labels_cols"),
        "base": base_value,
        "changed_from_default": base_value != desc.get("default"),
        "subwagons": subs,
    }


def configuration_rows(tag: PackageTag, wagon: Wagon) -> dict[str, Any]:
    """Per task, every configurable with its type, help, default, base value and, per
    subwagon, whether it overrides the base (and with what). Parameters the wagon stores but
    the tag does not declare are listed as ``stale`` (a sync removes them)."""
    schema = workflow_schema(tag, wagon.workflow)
    base = wagon.base_config or {}
    subwagons = wagon.subwagons or {}
    tasks = []
    for task, params in schema.descriptions.items():
        tasks.append(
            {
                "name": task,
                "params": [_param_row(d, base, task, subwagons) for d in params.values()],
                "overrides": {
                    sub: len(o.get(task, {})) for sub, o in subwagons.items() if o.get(task)
                },
            }
        )
    stale = [
        f"{task}.{name}"
        for task, params in base.items()
        for name in params
        if name not in schema.descriptions.get(task, {})
    ]
    return {
        "tasks": tasks,
        "subwagons": sorted(subwagons),
        "override_counts": {
            sub: sum(len(p) for p in o.values()) for sub, o in sorted(subwagons.items())
        },
        "stale": stale,
    }


# --------------------------------------------------------------------------- test results


def attempt_folder(output_dir: str | None, mirror: store.Mirror | None = None) -> Path | None:
    """The folder holding a test's files: its output folder, or its newest attempt. A test
    stored in a remote storage (``output_dir`` a URL) is read through the server's
    ``mirror`` of it (brought up to date first; None without a mirror of that storage)."""
    if not output_dir:
        return None
    if store.is_remote(output_dir):
        local = mirror.local_of(output_dir) if mirror is not None else None
        if local is None:
            return None
        scope = local.relative_to(mirror.local).as_posix()
        if mirror.sync(scope) is None:
            return None
        output_dir = str(local)
    root = Path(output_dir)
    if not root.is_dir():
        return None
    if (root / "metrics_summary.json").is_file() or (root / "full_config.json").is_file():
        return root
    attempts = [p for p in root.glob("*/attempt-*") if p.is_dir()]
    if not attempts:
        return root

    def number(p: Path) -> int:
        tail = p.name.removeprefix("attempt-")
        return int(tail) if tail.isdigit() else 0

    return max(attempts, key=lambda p: (number(p), p.stat().st_mtime))


def _relative(path: Path, root: Path | None) -> str | None:
    """``path`` relative to the outputs root (for /outputs links), or None outside it."""
    if root is None:
        return None
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _summary_numbers(summary: dict[str, Any] | None) -> dict[str, Any]:
    full = (summary or {}).get("__full_train__") or {}
    pss = full.get("proportionalSetSize_summary") or {}
    return {
        "cpu_s": full.get("cpu"),
        "wall_s": full.get("wall"),
        "pss_avg_bytes": pss.get("avg"),
        "pss_max_bytes": pss.get("max"),
        "input_files": full.get("number_of_input_files"),
        "bytes_read": full.get("aod-bytes-read-compressed"),
        "conditions_calls": full.get("conditions-calls"),
    }


def _output_bytes(folder: Path | None) -> int | None:
    if folder is None:
        return None
    sizes = [p.stat().st_size for p in folder.glob("*.root") if p.is_file()]
    return sum(sizes) if sizes else None


def test_row(
    test: WagonTest, dataset_name: str | None = None, mirror: store.Mirror | None = None
) -> dict[str, Any]:
    """One test in the wagon's statistics: status, measured CPU/memory/output, warnings."""
    folder = attempt_folder(test.output_dir, mirror)
    summary = _read_json(folder / "metrics_summary.json") if folder else None
    metrics = test.metrics or {}
    return {
        "id": test.id,
        "dataset_id": test.dataset_id,
        "dataset_name": dataset_name,
        "status": test.status.value,
        "final": test.status in FINAL_STATUSES,
        "superseded": test.superseded,
        "created_at": test.created_at.isoformat(),
        "finished_at": test.finished_at.isoformat() if test.finished_at else None,
        **_summary_numbers(summary),
        "output_bytes": _output_bytes(folder),
        "expected": metrics.get("expected"),
        "error": metrics.get("error"),
        "warnings": list(test.warnings or []),
    }


test_row.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def wagon_test_statistics(
    s: Session, wagon_id: int, mirror: store.Mirror | None = None
) -> dict[str, Any]:
    """Latest test per dataset (current ones first) and the past tests (newest first)."""
    tests = list(
        s.scalars(
            select(WagonTest)
            .where(WagonTest.wagon_id == wagon_id)
            .order_by(WagonTest.id.desc())
            .limit(STATS_TESTS)
        )
    )
    names = dict(
        s.execute(
            select(Dataset.id, Dataset.name).where(Dataset.id.in_({t.dataset_id for t in tests}))
        ).all()
    )
    rows = [test_row(t, names.get(t.dataset_id), mirror) for t in tests]
    latest: dict[int, dict[str, Any]] = {}
    for row in rows:
        latest.setdefault(row["dataset_id"], row)
    return {"latest": list(latest.values()), "past": rows}


# The three graphs of the Test statistics tab, as the original draws them: each names its
# series (a key of a test's figures) and the axis unit; the axis values are the figures in
# bytes or seconds times ``factor`` (hyperloop.units), the hover labels are formatted by
# hyperloop.units on the server (``labels`` of each point).
TEST_GRAPHS: tuple[dict[str, Any], ...] = (
    {
        "key": "pss",
        "title": "PSS memory",
        "axes": [{"unit": "MB", "factor": 1 / MB}],
        "series": [
            {"key": "pss_max_bytes", "label": "max PSS", "axis": 0},
            {"key": "pss_avg_bytes", "label": "average PSS", "axis": 0},
        ],
    },
    {
        "key": "time",
        "title": "CPU time, wall time and throughput",
        "axes": [{"unit": "s", "factor": 1.0}, {"unit": "MB/s", "factor": 1 / MB}],
        "series": [
            {"key": "cpu_s", "label": "CPU time", "axis": 0},
            {"key": "wall_s", "label": "wall time", "axis": 0},
            {"key": "throughput_bytes_per_s", "label": "throughput", "axis": 1},
        ],
    },
    {
        "key": "output",
        "title": "Output size",
        "axes": [{"unit": "MB", "factor": 1 / MB}],
        "series": [{"key": "output_bytes", "label": "output size", "axis": 0}],
    },
)
GRAPH_TESTS = 200  # newest finished tests of a wagon drawn in its test statistics
_GRAPH_FIGURES = ("pss_max_bytes", "pss_avg_bytes", "cpu_s", "wall_s", "output_bytes")


def _graph_point(row: dict[str, Any]) -> dict[str, Any]:
    wall, read = row.get("wall_s"), row.get("bytes_read")
    throughput = read / wall if wall and read else None
    figures = {k: row.get(k) for k in _GRAPH_FIGURES}
    figures["throughput_bytes_per_s"] = throughput
    labels = {
        "pss_max_bytes": format_bytes(figures["pss_max_bytes"]),
        "pss_avg_bytes": format_bytes(figures["pss_avg_bytes"]),
        "cpu_s": format_duration(figures["cpu_s"]),
        "wall_s": format_duration(figures["wall_s"]),
        "throughput_bytes_per_s": (
            f"{format_bytes(throughput)}/s" if throughput is not None else format_bytes(None)
        ),
        "output_bytes": format_bytes(figures["output_bytes"]),
    }
    return {
        "test_id": row["id"],
        "status": row["status"],
        "time": row["finished_at"] or row["created_at"],
        **figures,
        "labels": labels,
    }


def wagon_test_graphs(
    s: Session, wagon_id: int, mirror: store.Mirror | None = None
) -> dict[str, Any]:
    """The Test statistics graphs of a wagon: per dataset (the datasets it is enabled on and
    those it was tested on, chosen from a drop-down) the figures of its finished tests, oldest
    first, read from each test's ``metrics_summary.json`` and output folder. A dataset without
    a finished test with figures has no points (the page says "no tests")."""
    tests = list(
        s.scalars(
            select(WagonTest)
            .where(WagonTest.wagon_id == wagon_id, WagonTest.status.in_(FINAL_STATUSES))
            .order_by(WagonTest.id.desc())
            .limit(GRAPH_TESTS)
        )
    )
    enabled = list(
        s.scalars(
            select(WagonDataset.dataset_id)
            .where(WagonDataset.wagon_id == wagon_id)
            .order_by(WagonDataset.id)
        )
    )
    ids = list(dict.fromkeys([*enabled, *(t.dataset_id for t in reversed(tests))]))
    names = dict(s.execute(select(Dataset.id, Dataset.name).where(Dataset.id.in_(ids))).all())
    points: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for test in reversed(tests):
        row = test_row(test, mirror=mirror)
        if any(row.get(k) is not None for k in _GRAPH_FIGURES):
            points[test.dataset_id].append(_graph_point(row))
    datasets = [
        {
            "id": i,
            "name": names.get(i, f"dataset {i}"),
            "enabled": i in enabled,
            "points": points[i],
        }
        for i in ids
    ]
    datasets.sort(key=lambda d: d["name"])
    newest = next((t.dataset_id for t in tests if points[t.dataset_id]), None)
    return {
        "graphs": list(TEST_GRAPHS),
        "datasets": datasets,
        "default_dataset_id": newest if newest is not None else (ids[0] if ids else None),
    }


def _dataset_size(s: Session, dataset_id: int) -> dict[str, Any]:
    files, size = s.execute(  # the runs trains read: excluded runs left out
        included_files(s, dataset_id).with_only_columns(
            func.count(DatasetFile.id),
            func.coalesce(func.sum(DatasetFile.size), 0),
            maintain_column_froms=True,
        )
    ).one()
    return {"files": int(files), "bytes": int(size)}


def _status_reason(test: WagonTest, pull_request: str | None = None) -> str:
    metrics = test.metrics or {}
    if test.superseded:
        return "superseded by a newer test (the configuration or enabling changed)"
    if test.status is TestStatus.QUEUED and test.tag_id is None and pull_request:
        return f"waiting for a released package tag containing pull request #{pull_request}"
    if test.status is TestStatus.QUEUED:
        return "waiting for the scheduler to start it"
    if test.status is TestStatus.RUNNING:
        return "running on the test sample"
    if test.status is TestStatus.FAILED:
        return metrics.get("error") or "the test failed (see the logs)"
    if test.status is TestStatus.WARNING:
        codes = ", ".join(w.get("code", "?") for w in test.warnings or [])
        return f"finished with warnings: {codes}"
    return "finished without warnings"


def _files(folder: Path | None, root: Path | None) -> list[dict[str, Any]]:
    if folder is None:
        return []
    out = []
    for p in sorted(folder.iterdir()):
        if p.is_file():
            out.append({"name": p.name, "size": p.stat().st_size, "path": _relative(p, root)})
    return out


def _log_tail(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    with path.open("rb") as fh:
        if size > LOG_TAIL_BYTES:
            fh.seek(size - LOG_TAIL_BYTES)
        text = fh.read().decode("utf-8", errors="replace")
    return {"name": path.name, "size": size, "truncated": size > LOG_TAIL_BYTES, "text": text}


def _awaited_pull_request(s: Session, test: WagonTest) -> str | None:
    """The pull request a queued test without a tag waits for (its enabling's)."""
    if test.tag_id is not None or test.status is not TestStatus.QUEUED:
        return None
    return s.scalars(
        select(WagonDataset.pull_request).where(
            WagonDataset.wagon_id == test.wagon_id, WagonDataset.dataset_id == test.dataset_id
        )
    ).first()


def profile_pids(profile: Path) -> set[int]:
    """The processes a speedscope file of py-spy holds (profiles named "Process <pid> ...")."""
    try:
        data = json.loads(profile.read_bytes())
    except (OSError, ValueError):
        return set()
    out = set()
    for entry in data.get("profiles") or []:
        words = str(entry.get("name", "")).split()
        if len(words) >= 2 and words[0] == "Process" and words[1].isdigit():
            out.add(int(words[1]))
    return out


def _device_profiles(devices: list[dict[str, Any]], folder: Path, profile: Path) -> None:
    """Each device's process in the profile (``profile_pid``), when the devices ran in
    processes of their own (``run_report.json`` names each device's pid): the speedscope
    button of a device opens its process alone."""
    report = _read_json(folder / "run_report.json") or {}
    pids = {n: d.get("pid") for n, d in (report.get("devices") or {}).items()}
    if len({p for p in pids.values() if p}) < 2:  # one process: no per-device profile
        return
    present = profile_pids(profile)
    summary_names = {"reader": READER, "writer": WRITER}  # metrics_summary.json's short names
    for dv in devices:
        pid = pids.get(summary_names.get(dv["device"], dv["device"]))
        dv["profile_pid"] = pid if pid in present else None


def wagon_test_data(
    s: Session, test: WagonTest, outputs_root: Path | None, mirror: store.Mirror | None = None
) -> dict[str, Any]:
    """A wagon test result: status and why, metrics per device, expected resources for the
    dataset and CO2, warnings with advice, log tails, output files (paths relative to the
    outputs root when they are under it), full_config/metrics/profile files."""
    wagon = s.get(Wagon, test.wagon_id)
    dataset = s.get(Dataset, test.dataset_id)
    tag = s.get(PackageTag, test.tag_id) if test.tag_id else None
    folder = attempt_folder(test.output_dir, mirror)
    summary = _read_json(folder / "metrics_summary.json") if folder else None
    devices = []
    for name, entry in (summary or {}).items():
        if name == "__full_train__" or not isinstance(entry, dict):
            continue
        pss = entry.get("proportionalSetSize_summary") or {}
        devices.append(
            {
                "device": name,
                "wagon_id": entry.get("wagon_id"),
                "cpu_s": entry.get("cpu"),
                "wall_s": entry.get("wall"),
                "pss_avg_bytes": pss.get("avg"),
                "pss_max_bytes": pss.get("max"),
                "conditions_calls": entry.get("conditions-calls"),
            }
        )
    metrics = test.metrics or {}

    def find(name: str) -> str | None:
        if folder is None or not (folder / name).is_file():
            return None
        return _relative(folder / name, outputs_root)

    profile = None
    if folder is not None:
        for pattern in PROFILE_GLOBS:
            hits = sorted(folder.glob(pattern))
            if hits:
                profile = _relative(hits[0], outputs_root)
                _device_profiles(devices, folder, hits[0])
                break
    logs = [_log_tail(folder / n) for n in LOG_NAMES if folder and (folder / n).is_file()]
    return {
        "test": {
            "id": test.id,
            "status": test.status.value,
            "final": test.status in FINAL_STATUSES,
            "superseded": test.superseded,
            "reason": _status_reason(test, _awaited_pull_request(s, test)),
            "error": metrics.get("error"),
            "created_at": test.created_at.isoformat(),
            "started_at": test.started_at.isoformat() if test.started_at else None,
            "finished_at": test.finished_at.isoformat() if test.finished_at else None,
            "tag": tag.label if tag else None,
        },
        "wagon": {
            "id": wagon.id if wagon else test.wagon_id,
            "name": wagon.name if wagon else None,
            "workflow": wagon.workflow if wagon else None,
            "analysis_id": wagon.analysis_id if wagon else None,
            "analysis_name": wagon.analysis.name if wagon else None,
            "subwagons": sorted((wagon.subwagons or {}) if wagon else []),
        },
        "dataset": {
            "id": test.dataset_id,
            "name": dataset.name if dataset else None,
            **_dataset_size(s, test.dataset_id),
        },
        "total": _summary_numbers(summary),
        "devices": devices,
        "output_bytes": _output_bytes(folder),
        "expected": metrics.get("expected"),
        "warnings": list(test.warnings or []),
        "folder": _relative(folder, outputs_root) if folder else None,
        "has_folder": folder is not None,
        "files": _files(folder, outputs_root),
        "logs": logs,
        "full_config": find("full_config.json"),
        "performance_metrics": find("performanceMetrics.json"),
        "results": find("AnalysisResults.root"),
        "profile": profile,
    }


def performance_metrics_file(test: WagonTest, mirror: store.Mirror | None = None) -> Path | None:
    """The test's performanceMetrics.json (for the time-series graphs), if it has one."""
    folder = attempt_folder(test.output_dir, mirror)
    path = folder / "performanceMetrics.json" if folder else None
    return path if path is not None and path.is_file() else None


def full_config_file(test: WagonTest, mirror: store.Mirror | None = None) -> Path | None:
    folder = attempt_folder(test.output_dir, mirror)
    path = folder / "full_config.json" if folder else None
    return path if path is not None and path.is_file() else None


# --------------------------------------------------------------------------- wagon edit


def _usernames(s: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(s.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def wagon_editor_data(
    s: Session, wagon: Wagon, user: User, mirror: store.Mirror | None = None
) -> dict[str, Any]:
    """Everything the wagon edit page shows: settings, configuration rows (base and
    subwagons), derived-data choices, enablings, test statistics and what ``user`` may do."""
    tag = s.get(PackageTag, wagon.tag_id) if wagon.tag_id else None
    pr = get_pull_request(s, wagon.pull_request_id) if wagon.pull_request_id else None
    # a wagon configured on a pull request shows that pull request's workflow
    source = schema_source(pr) if pr is not None else tag
    analysis = wagon.analysis
    workflow_ok = source is not None and find_workflow(source, wagon.workflow) is not None
    config = configuration_rows(source, wagon) if workflow_ok else None
    produced = []
    if workflow_ok:
        info = find_workflow(source, wagon.workflow)
        produced = [
            {
                "logical": p["logical"],
                "o2name": p.get("o2name"),
                "columns": sorted(p.get("columns", {})),
                "selected": p["logical"] in (wagon.derived_tables or []),
            }
            for p in info.produces().values()
        ]
    tags = list(s.scalars(select(PackageTag).order_by(PackageTag.released_at.desc())))
    service_ids = select(Analysis.id).where(Analysis.is_service)
    candidates = s.execute(
        select(Wagon.id, Wagon.name, Wagon.workflow, Analysis.name, Analysis.is_service)
        .join(Analysis, Analysis.id == Wagon.analysis_id)
        .where(
            Wagon.id != wagon.id,
            (Wagon.analysis_id == wagon.analysis_id) | Wagon.analysis_id.in_(service_ids),
        )
        .order_by(Analysis.is_service, Analysis.name, Wagon.name)
    ).all()
    deps = {d.id for d in wagon.dependencies}
    enablings = s.execute(
        select(WagonDataset, Dataset.name)
        .join(Dataset, Dataset.id == WagonDataset.dataset_id)
        .where(WagonDataset.wagon_id == wagon.id)
        .order_by(Dataset.name)
    ).all()
    tag_labels = {t.id: t.label for t in tags}
    my_analyses = s.execute(
        select(Analysis.id, Analysis.name)
        .join(AnalysisMember, AnalysisMember.analysis_id == Analysis.id)
        .where(AnalysisMember.user_id == user.id)
        .order_by(Analysis.name)
    ).all()
    analysis_datasets = s.execute(
        select(Dataset.id, Dataset.name, Dataset.active)
        .join(AnalysisDataset, AnalysisDataset.dataset_id == Dataset.id)
        .where(AnalysisDataset.analysis_id == wagon.analysis_id)
        .order_by(Dataset.name)
    ).all()
    creator = _usernames(s, [wagon.created_by_id]).get(wagon.created_by_id or -1)
    missing = []
    if workflow_ok:
        closure = dependency_closure(wagon)
        unprovided = unprovided_tables(tag, wagon.workflow, [d.workflow for d in closure])
        for table, providers in unprovided.items():
            missing.append(
                {
                    "table": table,
                    "providers": providers,
                    "wagons": [
                        {"id": c[0], "name": c[1], "workflow": c[2], "analysis": c[3]}
                        for c in candidates
                        if c[2] in providers
                    ],
                }
            )
    return {
        "missing_tables": missing,
        "wagon": {
            "id": wagon.id,
            "name": wagon.name,
            "workflow": wagon.workflow,
            "version": wagon.version,
            "tag_id": wagon.tag_id,
            "tag": tag.label if tag else None,
            "disabled_reason": wagon.disabled_reason,
            "created_by": creator,
            "created_at": wagon.created_at.isoformat(),
            "updated_at": wagon.updated_at.isoformat(),
            "derived_tables": list(wagon.derived_tables or []),
            "slim_ready": wagon.slim_ready,
            "max_df_size": wagon.max_df_size,
            "max_derived_file_size": wagon.max_derived_file_size,
            "dependencies": sorted(deps),
        },
        "analysis": {"id": analysis.id, "name": analysis.name, "is_service": analysis.is_service},
        "permissions": {
            "edit": can(user, Action.WAGON_EDIT, wagon),
            "delete": can(user, Action.WAGON_DELETE, wagon),
            "enable": can(user, Action.WAGON_ENABLE, wagon),
            "clone": bool(my_analyses) or can(user, Action.ANALYSIS_MANAGE),
        },
        "workflow_exists": workflow_ok,
        "workflows": workflow_names(source) if source else [],
        "workflow_docs": workflow_docs(source) if source else {},
        "tags": [
            {
                "id": t.id,
                "label": t.label,
                "released_at": t.released_at.isoformat(),
                "current": t.id == wagon.tag_id,
                "newer": tag is not None and t.released_at > tag.released_at,
            }
            for t in tags
        ],
        "dependency_choices": [
            {
                "id": c[0],
                "name": c[1],
                "workflow": c[2],
                "analysis": c[3],
                "service": c[4],
                "selected": c[0] in deps,
            }
            for c in candidates
        ],
        "configuration": config,
        "pull_request": pull_request_row(s, pr) if pr is not None else None,
        "added_parameters": [
            {"task": task, "name": name, "value": value, "json": json.dumps(value)}
            for task, params in sorted((wagon.added_parameters or {}).items())
            for name, value in sorted(params.items())
        ],
        "derived": produced,
        "enablings": [
            {
                "dataset_id": e.dataset_id,
                "dataset_name": name,
                "enabled": e.enabled,
                "tag_policy": e.tag_policy.value,
                "tag": tag_labels.get(e.tag_id) if e.tag_id else None,
                "pull_request": e.pull_request,
                "disabled_reason": e.disabled_reason,
                "enabled_at": e.enabled_at.isoformat(),
            }
            for e, name in enablings
        ],
        "analysis_datasets": [
            {"id": d[0], "name": d[1], "active": d[2]} for d in analysis_datasets
        ],
        "clone_targets": [{"id": a[0], "name": a[1]} for a in my_analyses],
        "tests": wagon_test_statistics(s, wagon.id, mirror),
        "test_graphs": wagon_test_graphs(s, wagon.id, mirror),
    }


# --------------------------------------------------------------------------- history


def wagon_history_data(s: Session, wagon_id: int) -> list[dict[str, Any]]:
    """The wagon's history, newest first: who (and who impersonated them), when, action,
    reason and each changed value (path, old, new)."""
    entries = history.entries(s, "wagon", wagon_id)
    names = _usernames(s, [e.user_id for e in entries] + [e.impersonator_id for e in entries])
    out = []
    for e in reversed(entries):
        out.append(
            {
                "id": e.id,
                "version": e.version,
                "action": e.action,
                "at": e.at.isoformat(),
                "user": names.get(e.user_id) if e.user_id else "system",
                "impersonator": names.get(e.impersonator_id) if e.impersonator_id else None,
                "reason": e.reason,
                "changes": [
                    {"path": path, "old": pair[0], "new": pair[1]}
                    for path, pair in sorted((e.changes or {}).items())
                ],
            }
        )
    return out


# --- the analyses list and one analysis (``/analyses``, ``/analysis/{id}``, ``/admin`` and
# ``GET /api/analyses``, ``GET /api/analyses/{id}``, ``GET /api/analyses/{id}/view``)


class AnalysisOut(ORMModel):
    id: int
    name: str
    pwg: str
    is_service: bool
    email_policy: EmailPolicy
    description: str
    created_at: datetime


class MemberOut(BaseModel):
    user_id: int
    username: str
    display_order: int
    collapsed: bool


class DatasetBrief(BaseModel):
    id: int
    name: str
    active: bool


class WagonBrief(BaseModel):
    id: int
    name: str
    workflow: str
    disabled_reason: str | None


class AnalysisDetail(AnalysisOut):
    members: list[MemberOut]
    dataset_ids: list[int]
    wagon_ids: list[int]
    datasets: list[DatasetBrief] = Field(default_factory=list, description="Names of dataset_ids.")
    wagons: list[WagonBrief] = Field(default_factory=list, description="The analysis's wagons.")


def analysis_detail(db, analysis: m.Analysis) -> AnalysisDetail:
    members = db.execute(
        select(m.AnalysisMember, m.User.username)
        .join(m.User, m.User.id == m.AnalysisMember.user_id)
        .where(m.AnalysisMember.analysis_id == analysis.id)
        .order_by(m.User.username)
    ).all()
    dataset_ids = db.scalars(
        select(m.AnalysisDataset.dataset_id).where(m.AnalysisDataset.analysis_id == analysis.id)
    ).all()
    wagons = db.execute(
        select(m.Wagon.id, m.Wagon.name, m.Wagon.workflow, m.Wagon.disabled_reason)
        .where(m.Wagon.analysis_id == analysis.id)
        .order_by(m.Wagon.id)
    ).all()
    wagon_ids = [w.id for w in wagons]
    return AnalysisDetail(
        **AnalysisOut.model_validate(analysis).model_dump(),
        members=[
            MemberOut(
                user_id=ms.user_id,
                username=name,
                display_order=ms.display_order,
                collapsed=ms.collapsed,
            )
            for ms, name in members
        ],
        dataset_ids=sorted(dataset_ids),
        wagon_ids=list(wagon_ids),
        datasets=_dataset_briefs(db, dataset_ids),
        wagons=[
            WagonBrief(id=w.id, name=w.name, workflow=w.workflow, disabled_reason=w.disabled_reason)
            for w in sorted(wagons, key=lambda w: w.name)
        ],
    )


def _dataset_briefs(db, ids) -> list[DatasetBrief]:
    """Id, name and active flag of the given datasets, ordered by id (one query)."""
    if not ids:
        return []
    rows = db.execute(
        select(m.Dataset.id, m.Dataset.name, m.Dataset.active)
        .where(m.Dataset.id.in_(list(ids)))
        .order_by(m.Dataset.id)
    ).all()
    return [DatasetBrief(id=r.id, name=r.name, active=r.active) for r in rows]


def analyses_list_data(
    db,
    actor: Actor,
    paging: PageParams,
    *,
    name: str | None = None,
    pwg: str | None = None,
    service: bool | None = None,
    mine: bool = False,
) -> dict:
    """One page of analyses (name contains / PWG / service / mine filters), by name; the
    All Analyses page and ``GET /api/analyses`` share it."""
    stmt = select(m.Analysis).order_by(m.Analysis.name)
    if name:
        stmt = stmt.where(m.Analysis.name.contains(name, autoescape=True))
    if pwg:
        stmt = stmt.where(m.Analysis.pwg == pwg)
    if service is not None:
        stmt = stmt.where(m.Analysis.is_service.is_(service))
    if mine:
        stmt = stmt.join(m.AnalysisMember).where(m.AnalysisMember.user_id == actor.user.id)
    return paginate(db, stmt, paging, AnalysisOut.model_validate)


def pwg_names(db) -> list[str]:
    """Every PWG that has an analysis (the All Analyses filter choices)."""
    return list(db.scalars(select(m.Analysis.pwg).distinct().order_by(m.Analysis.pwg)))


#: the analysis page's dataset search fields (the original's "Enable dataset" filters)
DATASET_FILTERS = ("data_type", "collision_system", "anchor", "period")


def analysis_view_data(
    db, analysis: m.Analysis, user: m.User, search: dict[str, str | None] | None = None
) -> dict:
    """The analysis page: the analysis (as ``GET /api/analyses/{id}``), what ``user`` may do,
    the workflows of the latest tag of each package (to create a wagon), the active datasets
    that can be added (datasets with short datasets are used through those) matching
    ``search`` (data type, collision system, anchor, period: ``DATASET_FILTERS``) with the
    values each field can take, and the user's newest notifications about the analysis."""
    detail = analysis_detail(db, analysis)
    # the newest tag of each package: packages' tags are released side by side
    names = db.scalars(select(m.PackageTag.name).where(m.PackageTag.available).distinct())
    newest = [t for t in (latest_tag(db, n) for n in sorted(names)) if t is not None]
    parents = select(m.Dataset.parent_id).where(m.Dataset.parent_id.is_not(None))
    candidates = (
        m.Dataset.active.is_(True),
        m.Dataset.id.not_in(detail.dataset_ids or [0]),
        m.Dataset.id.not_in(parents),
    )
    chosen = {k: v for k, v in (search or {}).items() if k in DATASET_FILTERS and v}
    choices = {
        field: [
            str(v)
            for v in db.scalars(select(getattr(m.Dataset, field)).where(*candidates).distinct())
            if str(v)
        ]
        for field in DATASET_FILTERS
    }
    addable = db.execute(
        select(
            m.Dataset.id,
            m.Dataset.name,
            m.Dataset.data_type,
            m.Dataset.collision_system,
            m.Dataset.anchor,
            m.Dataset.period,
        )
        .where(*candidates, *(getattr(m.Dataset, k) == v for k, v in chosen.items()))
        .order_by(m.Dataset.name)
        .limit(500)
    ).all()
    return {
        "analysis": detail.model_dump(mode="json"),
        "permissions": {
            "create_wagon": can(user, Action.WAGON_CREATE, analysis),
            "edit": can(user, Action.ANALYSIS_EDIT, analysis),
        },
        "latest_tag": ", ".join(t.label for t in newest) or None,
        "workflows": list(dict.fromkeys(wf for t in newest for wf in workflow_names(t))),
        "workflow_docs": {k: v for t in reversed(newest) for k, v in workflow_docs(t).items()},
        "addable_datasets": [
            {
                "id": r.id,
                "name": r.name,
                "data_type": str(r.data_type),
                "collision_system": r.collision_system,
                "anchor": r.anchor,
                "period": r.period,
            }
            for r in addable
        ],
        "dataset_search": {
            "selected": {k: chosen.get(k, "") for k in DATASET_FILTERS},
            "choices": {k: sorted(v) for k, v in choices.items()},
        },
        "notifications": analysis_notifications(db, user, analysis.id),
        # workflows of pull requests no released tag has yet can be chosen too
        "pull_requests": [
            pull_request_row(db, p) for p in list_pull_requests(db) if p.introspection
        ][:100],
    }
