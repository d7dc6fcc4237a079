"""Read models of a train run's results (SPEC §3, §4, §6): jobs per master job (run) with
error groups, one job's attempts, merging stages, outputs, the train test and compare.

Database rows plus the files the scheduler leaves under the outputs root (layout in
:mod:`hyperloop.readmodels.trains`); every path returned is relative to that root so pages
link to ``/outputs/browse?path=`` and ``/outputs/file?path=``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from hyperloop.core import history, quotas, trains
from hyperloop.core.co2 import flights_text
from hyperloop.core.states import JOB_ERRORS, TRAIN_FINAL
from hyperloop.db.models import Job, TrainMerge, TrainRun
from hyperloop.enums import JobState, TrainState
from hyperloop.grid.partial import read_manifest
from hyperloop.readmodels.trains import (
    FileRoots,
    _file_entry,
    _read_json,
    _rel,
    icon_of,
    local_path,
    owner_folder,
    train_folder,
)

RESULTS = "AnalysisResults.root"
LOG_TAIL_LINES = 200


# =========================================================================== jobs tab


def master_jobs(s: Session, train_id: int) -> list[dict[str, Any]]:
    """Per run ("master job"): jobs per state, files, CPU, wall and bytes read."""
    rows = s.execute(
        select(
            Job.run_number,
            Job.state,
            func.count(),
            func.sum(Job.n_files),
            func.sum(Job.cpu_s),
            func.sum(Job.wall_s),
            func.sum(Job.bytes_read),
            func.max(Job.attempts),
        )
        .where(Job.train_run_id == train_id)
        .group_by(Job.run_number, Job.state)
        .order_by(Job.run_number)
    ).all()
    runs: dict[int, dict[str, Any]] = {}
    for run, st, n, files, cpu, wall, read, attempts in rows:
        r = runs.setdefault(
            int(run),
            {
                "run": int(run),
                "jobs": 0,
                "states": {},
                "files": 0,
                "cpu_s": 0.0,
                "wall_s": 0.0,
                "bytes_read": 0,
                "max_attempts": 0,
            },
        )
        r["jobs"] += int(n)
        r["states"][st.value] = int(n)
        r["files"] += int(files or 0)
        r["cpu_s"] += float(cpu or 0)
        r["wall_s"] += float(wall or 0)
        r["bytes_read"] += int(read or 0)
        r["max_attempts"] = max(r["max_attempts"], int(attempts or 0))
    for r in runs.values():
        done = r["states"].get(JobState.DONE.value, 0)
        failed = sum(r["states"].get(e.value, 0) for e in JOB_ERRORS)
        r["done"], r["failed"] = done, failed
        r["icon"] = "done" if done == r["jobs"] else "failed" if failed else "running"
    return list(runs.values())


def site_totals(s: Session, train_id: int) -> list[dict[str, Any]]:
    """Per site (the host an attempt ran on): finished jobs, CPU, wall and input bytes read,
    largest reader first; the last row is the train's total."""
    rows = s.execute(
        select(
            Job.site,
            func.count(),
            func.sum(Job.cpu_s),
            func.sum(Job.wall_s),
            func.sum(Job.bytes_read),
        )
        .where(Job.train_run_id == train_id, Job.site.is_not(None), Job.site != "")
        .group_by(Job.site)
    ).all()
    sites = [
        {
            "site": site,
            "jobs": int(n),
            "cpu_s": float(cpu or 0),
            "wall_s": float(wall or 0),
            "bytes_read": int(read or 0),
        }
        for site, n, cpu, wall, read in rows
    ]
    sites.sort(key=lambda r: (-r["bytes_read"], r["site"]))
    if sites:
        sites.append(
            {
                "site": "total",
                "jobs": sum(r["jobs"] for r in sites),
                "cpu_s": sum(r["cpu_s"] for r in sites),
                "wall_s": sum(r["wall_s"] for r in sites),
                "bytes_read": sum(r["bytes_read"] for r in sites),
            }
        )
    return sites


DISTRIBUTION_BINS = 12


def job_distributions(s: Session, train_id: int) -> list[dict[str, Any]]:
    """Grid statistics of the finished jobs: distributions of files, CPU and wall time per
    job (equal-width bins) with mean and maximum."""
    rows = s.execute(
        select(Job.n_files, Job.cpu_s, Job.wall_s).where(
            Job.train_run_id == train_id, Job.state == JobState.DONE
        )
    ).all()
    if not rows:
        return []
    data = np.array(rows, dtype=np.float64)
    out = []
    for i, (name, unit) in enumerate(
        (("files per job", ""), ("CPU per job", "s"), ("wall per job", "s"))
    ):
        values = data[:, i]
        lo, hi = float(values.min()), float(values.max())
        if hi <= lo:  # every job the same: one bar
            counts, edges = np.array([len(values)]), np.array([lo, hi])
        else:
            n_bins = min(DISTRIBUTION_BINS, len(np.unique(values)))
            counts, edges = np.histogram(values, bins=max(n_bins, 2), range=(lo, hi))
        top = int(counts.max()) or 1
        out.append(
            {
                "name": name,
                "unit": unit,
                "mean": float(values.mean()),
                "max": float(values.max()),
                "bins": [
                    {"low": float(a), "high": float(b), "count": int(c), "share": c / top}
                    for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
                ],
            }
        )
    return out


def attempts_of(root: FileRoots | None, job: Job) -> list[dict[str, Any]]:
    """Every attempt folder of a job: reason, target, host, verdict, error and files."""
    folder = train_folder(root, job.train_run_id, "jobs", f"job-{job.id}")
    if folder is None or root is None:
        return []
    job_dir = folder / "jobs" / f"job-{job.id}"
    if not job_dir.is_dir():
        return []
    out = []
    numbered = []
    for p in job_dir.glob("attempt-*"):
        suffix = p.name.removeprefix("attempt-")
        if p.is_dir() and suffix.isdigit():
            numbered.append((int(suffix), p))
    for n, p in sorted(numbered):
        info = _read_json(p / "attempt.json") or {}
        rec = _read_json(p / "record.json") or {}
        files = [
            e
            for e in (
                _file_entry(root, p / name)
                for name in ("console.log", "full_config.json", "input_data.txt", "stdout.log")
            )
            if e
        ]
        out.append(
            {
                "attempt": n,
                "folder": _rel(root, p),
                "reason": rec.get("reason") or info.get("reason", ""),
                "target": rec.get("target") or info.get("target", ""),
                "host": rec.get("host") or info.get("host", ""),
                "state": rec.get("state") or ("running" if not rec else ""),
                "error_kind": rec.get("error_kind", ""),
                "message": rec.get("message", ""),
                "signature": rec.get("signature", ""),
                "traceback": rec.get("traceback", ""),
                "cpu_s": rec.get("cpu_s"),
                "wall_s": rec.get("wall_s"),
                "max_pss_bytes": rec.get("max_pss_bytes"),
                "failed_files": rec.get("failed_files", []),
                "files": files,
            }
        )
    return out


def error_groups_with_traceback(
    s: Session, train_id: int, root: FileRoots | None
) -> list[dict[str, Any]]:
    """Failed jobs grouped by signature (largest first): count, runs, one example job with
    its message and, when its attempt folder is there, the full traceback."""
    rows = s.execute(
        select(
            Job.error_signature,
            func.count(),
            func.min(Job.id),
            func.count(func.distinct(Job.run_number)),
        )
        .where(Job.train_run_id == train_id, Job.state.in_(JOB_ERRORS))
        .group_by(Job.error_signature)
        .order_by(func.count().desc())
    ).all()
    out = []
    for sig, n, example_id, n_runs in rows:
        example = s.get(Job, example_id)
        traceback = ""
        for attempt in reversed(attempts_of(root, example)):
            if attempt["traceback"]:
                traceback = attempt["traceback"]
                break
        out.append(
            {
                "signature": sig or "unknown",
                "count": int(n),
                "runs": int(n_runs),
                "example_job_id": example.id,
                "state": example.state.value,
                "message": example.error_message or "",
                "traceback": traceback or example.error_message or "",
            }
        )
    return out


def job_view(s: Session, job: Job, root: FileRoots | None) -> dict[str, Any]:
    """One job: figures, files, attempts (reasons, errors, logs) and the console tail."""
    attempts = attempts_of(root, job)
    log_tail = ""
    folder = train_folder(root, job.train_run_id, "jobs", f"job-{job.id}")
    if attempts and folder is not None:
        log = folder / "jobs" / f"job-{job.id}" / f"attempt-{attempts[-1]['attempt']}"
        log = log / "console.log"
        try:
            lines = log.read_text(errors="replace").splitlines()
            log_tail = "\n".join(lines[-LOG_TAIL_LINES:])
        except OSError:
            log_tail = ""
    train = s.get(TrainRun, job.train_run_id)
    return {
        "id": job.id,
        "train_run_id": job.train_run_id,
        "train_state": train.state.value if train else None,
        "run_number": job.run_number,
        "state": job.state.value,
        "icon": icon_of(job.state),
        "final": job.state is JobState.DONE or job.state in JOB_ERRORS,
        "failed": job.state in JOB_ERRORS,
        "attempts": job.attempts,
        "site": job.site,
        "cpu_s": job.cpu_s,
        "wall_s": job.wall_s,
        "bytes_read": job.bytes_read,
        "n_files": job.n_files,
        "files": list(job.files or []),
        "error_signature": job.error_signature,
        "error_message": job.error_message,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "attempt_details": attempts,
        "log_tail": log_tail,
    }


# =========================================================================== merging, outputs


def _runs_of(s: Session, train: TrainRun) -> list[int]:
    runs = set(s.scalars(select(Job.run_number).distinct().where(Job.train_run_id == train.id)))
    if not runs:
        runs = set((train.dataset_snapshot or {}).get("runs") or [])
    return sorted(int(r) for r in runs)


def merging_view(s: Session, train: TrainRun, root: FileRoots | None) -> dict[str, Any]:
    """Per-run merges, mergelists and the final merge: merged and missing runs, files."""
    runs = _runs_of(s, train)
    folder = train_folder(root, train.id, "merged")
    merged_dir = folder / "merged" if folder else None
    done_per_run = {
        int(r): (int(n), int(d or 0))
        for r, n, d in s.execute(
            select(
                Job.run_number,
                func.count(),
                func.sum(case((Job.state == JobState.DONE, 1), else_=0)),
            )
            .where(Job.train_run_id == train.id)
            .group_by(Job.run_number)
        )
    }

    def results(*parts: str) -> dict[str, Any] | None:
        if merged_dir is None or root is None:
            return None
        return _file_entry(root, merged_dir.joinpath(*parts, RESULTS))

    per_run = []
    merged_runs = set()
    for run in runs:
        entry = results("runs", str(run))
        if entry:
            merged_runs.add(run)
        n, d = done_per_run.get(run, (0, 0))
        per_run.append(
            {"run": run, "jobs": n, "done": d, "merged": entry is not None, "file": entry}
        )
    # the recorded merges (an incremental train's later stages also merge the per-run
    # outputs of its lineage: their runs are in the records, not in its own folder)
    recorded = {
        (m.stage, m.name): m
        for m in s.scalars(
            select(TrainMerge).where(
                TrainMerge.train_run_id == train.id,
                TrainMerge.stage.in_(("mergelist", "final")),
                TrainMerge.state == "done",
            )
        )
    }
    mergelists = []
    for ml in (train.dataset_snapshot or {}).get("mergelists") or []:
        ml_runs = [int(r) for r in ml.get("runs") or []]
        rec = recorded.get(("mergelist", str(ml.get("name"))))
        in_ml = set(rec.runs_merged) if rec is not None else merged_runs
        mergelists.append(
            {
                "name": ml.get("name"),
                "active": ml.get("active", True),
                "runs_merged": [r for r in ml_runs if r in in_ml],
                "runs_missing": [r for r in ml_runs if r not in in_ml],
                "file": results("mergelists", str(ml.get("name"))),
            }
        )
    # final mergelists: their runs are known from the merge records (train_merges)
    final_mergelists = [
        {
            "name": m.name,
            "state": m.state,
            "runs_merged": list(m.runs_merged),
            "runs_missing": list(m.runs_missing),
            "file": results("final_mergelists", m.name),
        }
        for m in s.scalars(
            select(TrainMerge)
            .where(TrainMerge.train_run_id == train.id, TrainMerge.stage == "final_mergelist")
            .order_by(TrainMerge.id)
        )
    ]
    final = results("final")
    if final is None and train.output_dir and root is not None:
        final = _file_entry(root, local_path(root, train.output_dir))
    final_rec = recorded.get(("final", "final"))
    if final and final_rec is not None:
        final_merged = sorted(int(r) for r in final_rec.runs_merged)
        final_missing = sorted(int(r) for r in final_rec.runs_missing)
    else:
        final_merged = sorted(merged_runs) if final else []
        final_missing = [r for r in runs if r not in merged_runs] if final else runs
    return {
        "runs": per_run,
        "runs_merged": sorted(merged_runs),
        "runs_missing": [r for r in runs if r not in merged_runs],
        "mergelists": mergelists,
        "final_mergelists": final_mergelists,
        "final": {
            "file": final,
            "done": final is not None,
            "runs_merged": final_merged,
            "runs_missing": final_missing,
        },
        "folder": _rel(root, merged_dir) if merged_dir and merged_dir.is_dir() and root else None,
    }


def final_results_path(train: TrainRun, root: FileRoots | None) -> Path | None:
    """Absolute path of the train's final merged AnalysisResults.root, if present."""
    folder = train_folder(root, train.id, "merged")
    if folder is not None and (folder / "merged" / "final" / RESULTS).is_file():
        return folder / "merged" / "final" / RESULTS
    if train.output_dir and root is not None:
        p = local_path(root, train.output_dir)
        if not p.is_absolute():
            p = root.root / p
        if p.is_file() and _rel(root, p) is not None:
            return p
    return None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def partial_view(train: TrainRun, root: FileRoots | None) -> dict[str, Any] | None:
    """The live partial results of a running train (``grid.partial``): its outputs merged
    over the jobs finished so far, overall and per run, with the fractions of runs, jobs and
    events they hold; None once the final merge is done (or before any job finished)."""
    folder = train_folder(root, train.id, "partial")
    if folder is None or root is None or train.state in TRAIN_FINAL:
        return None
    if train.state is not TrainState.RUNNING and train.state is not TrainState.MERGING:
        return None
    manifest = read_manifest(folder / "partial")
    if manifest is None:
        return None
    runs_in, runs_total = len(manifest.get("runs_included") or []), int(manifest["runs_total"])
    jobs_done, jobs_total = int(manifest["jobs_done"]), int(manifest["jobs_total"])
    events, events_total = int(manifest["events_included"]), int(manifest["events_total"])
    label = (
        f"partial: {runs_in} of {runs_total} runs, {jobs_done} of {jobs_total} jobs, "
        f"{events:,} of {events_total:,} events"
    )
    overall = manifest.get("overall")
    runs = []
    for run in manifest.get("runs", {}).values():
        entry = _file_entry(root, local_path(root, run["file"]), f"run {run['run']}")
        runs.append(
            {
                "run": run["run"],
                "jobs_done": run["jobs_done"],
                "jobs": run["jobs"],
                "events": run["events"],
                "complete": run["complete"],
                "file": entry,
            }
        )
    return {
        "label": label,
        "updated_at": datetime.fromtimestamp(float(manifest["updated_at"]), UTC),
        "runs_included": list(manifest.get("runs_included") or []),
        "runs_total": runs_total,
        "jobs_done": jobs_done,
        "jobs_total": jobs_total,
        "events_included": events,
        "events_total": events_total,
        "fraction_runs": _share(runs_in, runs_total),
        "fraction_jobs": _share(jobs_done, jobs_total),
        "fraction_events": _share(events, events_total),
        "overall": _file_entry(root, local_path(root, overall), label) if overall else None,
        "runs": sorted(runs, key=lambda r: r["run"]),
    }


def outputs_view(s: Session, train: TrainRun, root: FileRoots | None) -> dict[str, Any]:
    """Merged results (final first, then mergelists, runs) and derived-data files; while
    the train runs, its live partial results (``partial_view``)."""
    final = final_results_path(train, root)
    results: list[dict[str, Any]] = []
    derived: list[dict[str, Any]] = []
    if final is not None and root is not None:
        results.append({**_file_entry(root, final, "final merge"), "stage": "final"})
    folder = train_folder(root, train.id, "merged")
    if folder is not None and root is not None:
        merged = folder / "merged"
        stages = (
            ("final_mergelist", "final_mergelists", "final mergelist"),
            ("mergelist", "mergelists", "mergelist"),
            ("run", "runs", "run"),
        )
        for stage, sub, label in stages:
            base = merged / sub
            if not base.is_dir():
                continue
            for d in sorted(base.iterdir(), key=lambda p: p.name):
                entry = _file_entry(root, d / RESULTS, f"{label} {d.name}")
                if entry:
                    results.append({**entry, "stage": stage})
                for ao2d in sorted(d.glob("AO2D*.root")):
                    e = _file_entry(root, ao2d, f"run {d.name}: {ao2d.name}")
                    if e:
                        derived.append({**e, "run": d.name})
        final_ao2d = merged / "final" / "AO2D.root"
        e = _file_entry(root, final_ao2d, "slim derived data (merged)")
        if e:
            derived.insert(0, {**e, "run": "all"})
    return {
        "final": results[0] if results and results[0]["stage"] == "final" else None,
        "results": results,
        "derived": derived,
        "train_type": train.train_type.value,
        "folder": _rel(root, folder) if folder is not None and root is not None else None,
        "partial": partial_view(train, root) if final is None else None,
    }


# =========================================================================== train test


def train_test_folder(root: FileRoots | None, train_id: int) -> Path | None:
    """The latest attempt folder of a train's test sample, if the test ran here."""
    if root is None:
        return None
    folder = owner_folder(root, "tests", f"train-test-{train_id}")
    base = folder / "sample" if folder is not None else None
    if base is None or not base.is_dir():
        return None
    numbered = [
        (int(p.name.removeprefix("attempt-")), p)
        for p in base.glob("attempt-*")
        if p.is_dir() and p.name.removeprefix("attempt-").isdigit()
    ]
    return max(numbered)[1] if numbered else None


def _device_rows(summary: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not isinstance(summary, dict):
        return []
    rows = []
    for name, m in summary.items():
        if not isinstance(m, dict):
            continue
        pss = m.get("proportionalSetSize_summary") or {}
        rows.append(
            {
                "device": "full train" if name == "__full_train__" else name,
                "total": name == "__full_train__",
                "cpu_s": m.get("cpu"),
                "wall_s": m.get("wall"),
                "pss_avg_bytes": pss.get("avg"),  # bytes, as in the file (hyperloop.units)
                "pss_max_bytes": pss.get("max"),
                "bytes_read": m.get("aod-bytes-read-compressed"),
                "conditions_calls": m.get("conditions-calls"),
            }
        )
    rows.sort(key=lambda r: (not r["total"], -(r["pss_max_bytes"] or 0)))
    return rows


def train_test_view(s: Session, train: TrainRun, root: FileRoots | None) -> dict[str, Any]:
    """The train test: status, metrics per device, expected resources, CO2, warnings, files
    (full_config, metrics, logs, profile) and the metrics file for the graphs."""
    metrics = dict(train.test_metrics or {})
    status = {
        TrainState.TEST_DONE: "done",
        TrainState.TEST_WARNING: "warning",
        TrainState.TEST_FAILED: "failed",
        TrainState.TESTING: "running",
        TrainState.COMPOSED: "queued",
    }.get(train.state)
    if status is None:  # submitted or later: the test passed (done or warning)
        status = "warning" if train.test_warnings else ("done" if metrics else None)
    folder = train_test_folder(root, train.id)
    files: list[dict[str, Any]] = []
    metrics_file = profile = None
    summary = None
    if folder is not None and root is not None:
        for p in sorted(folder.rglob("*")):
            if not p.is_file():
                continue
            entry = _file_entry(root, p, p.relative_to(folder).as_posix())
            if entry is None:
                continue
            files.append(entry)
            if p.name == "performanceMetrics.json" and metrics_file is None:
                metrics_file = entry["path"]
            if p.name.endswith((".speedscope.json", "profile.json")) and profile is None:
                profile = entry["path"]
            if p.name == "metrics_summary.json" and summary is None:
                summary = _read_json(p)
    expected = metrics.get("expected") or {}
    return {
        "train_id": train.id,
        "state": train.state.value,
        "status": status,
        "error": metrics.get("error"),
        "expected": expected,
        "co2_kg": expected.get("co2_kg"),
        "co2_flights": flights_text(expected["co2_kg"])
        if expected.get("co2_kg") is not None
        else None,
        "warnings": list(train.test_warnings or []),
        "devices": _device_rows(summary),
        "files": files,
        "metrics_file": metrics_file,
        "profile": profile,
        "folder": _rel(root, folder) if folder is not None and root is not None else None,
        "slots": quotas.train_slot_usage(s, train),
        "wagons": _slot_wagons(train),
    }


def _slot_wagons(train: TrainRun) -> list[dict[str, Any]]:
    """The train's wagons with the slots each counts (a heavy wagon, needing the 2-core
    queue for memory, counts double)."""
    return [
        {
            "wagon_id": w.get("wagon_id"),
            "name": w.get("name"),
            "analysis_id": w.get("analysis_id"),
            "analysis": w.get("analysis_name"),
            "heavy": bool(w.get("heavy")),
            "slots": 2 if w.get("heavy") else 1,
        }
        for w in train.wagons_snapshot or []
    ]


# =========================================================================== compare


def compare_view(s: Session, a: TrainRun, b: TrainRun, root: FileRoots | None) -> dict[str, Any]:
    """Configuration differences; when both are done, per-histogram verdicts of their
    final outputs (``hyperloop.analysis.compare``), or why there are none."""
    changes = [c.as_dict() for c in trains.compare_trains(a, b)]
    out: dict[str, Any] = {
        "a": {"id": a.id, "state": a.state.value, "icon": icon_of(a.state)},
        "b": {"id": b.id, "state": b.state.value, "icon": icon_of(b.state)},
        "changes": changes,
        "settings": [c.as_dict() for c in history.diff(_settings_state(a), _settings_state(b))],
        "wagons": wagon_pairs(a, b),
        "outputs": None,
        "outputs_note": "",
    }
    if a.state is not TrainState.DONE or b.state is not TrainState.DONE:
        out["outputs_note"] = "Outputs are compared when both train runs are done."
        return out
    pa, pb = final_results_path(a, root), final_results_path(b, root)
    missing = [str(t.id) for t, p in ((a, pa), (b, pb)) if p is None]
    if missing:
        out["outputs_note"] = f"No final merged output found for train run {', '.join(missing)}."
        return out
    try:
        from hyperloop.analysis.compare import compare_files
    except ImportError:
        out["outputs_note"] = "Output comparison is unavailable (hyperloop.analysis.compare)."
        return out
    try:
        if root is not None and root.mirror is not None:  # big files: fetched now
            root.mirror.ensure(pa)
            root.mirror.ensure(pb)
        results = compare_files(pa, pb)
    except Exception as exc:  # a broken file must not break the page
        out["outputs_note"] = f"Output comparison failed: {type(exc).__name__}: {exc}"
        return out
    rows = [
        {
            "path": r.path,
            "verdict": r.verdict,
            "test": r.test,
            "p_value": r.p_value,
            "detail": r.detail,
        }
        for r in results
    ]
    out["outputs"] = {
        "a_file": _rel(root, pa),
        "b_file": _rel(root, pb),
        "histograms": rows,
        "counts": _count(r["verdict"] for r in rows),
    }
    return out


_SNAPSHOT_ONLY = ("wagon_id", "test_id", "test_status", "test_warnings", "version")


def _settings_state(train: TrainRun) -> dict[str, Any]:
    state = trains.train_state(train)
    state.pop("wagons", None)
    dataset = dict(state.pop("dataset", {}) or {})
    dataset.pop("version", None)
    state["dataset"] = dataset
    return state


def _wagon_state(w: dict[str, Any]) -> dict[str, Any]:
    state = {k: v for k, v in w.items() if k not in _SNAPSHOT_ONLY}
    state["dependency_snapshots"] = {
        d.get("name", str(i)): {k: v for k, v in d.items() if k not in _SNAPSHOT_ONLY}
        for i, d in enumerate(w.get("dependency_snapshots") or [])
    }
    return state


def wagon_pairs(a: TrainRun, b: TrainRun) -> list[dict[str, Any]]:
    """The wagons of two trains side by side, matched by wagon: by wagon id, then (a wagon
    deleted and created again) by analysis and name; never by workflow, so two wagons of
    one workflow are each matched to themselves and a wagon of the same workflow that is
    another wagon stays alone. Each pair with the differences of its frozen configuration;
    an unmatched wagon (only in a / only in b) with its configuration against absent."""
    left = list(a.wagons_snapshot or [])
    right = list(b.wagons_snapshot or [])
    pairs: list[tuple[dict | None, dict | None]] = []
    for key in (
        lambda w: w.get("wagon_id"),
        lambda w: (w.get("analysis_name"), w.get("name")),
    ):
        for wa in list(left):
            match = next((wb for wb in right if key(wb) == key(wa)), None)
            if match is not None:
                pairs.append((wa, match))
                left.remove(wa)
                right.remove(match)
    pairs += [(wa, None) for wa in left] + [(None, wb) for wb in right]
    out = []
    for wa, wb in pairs:
        # a wagon in one train only: its whole frozen configuration against "(absent)"
        changes = [
            c.as_dict()
            for c in history.diff(
                _wagon_state(wa) if wa is not None else {},
                _wagon_state(wb) if wb is not None else {},
            )
        ]
        out.append(
            {
                "a": _wagon_label(wa),
                "b": _wagon_label(wb),
                "only": "a" if wb is None else "b" if wa is None else None,
                "changes": changes,
            }
        )
    out.sort(key=lambda p: (p["only"] is None and not p["changes"], p["only"] or ""))
    return out


def _wagon_label(w: dict[str, Any] | None) -> dict[str, Any] | None:
    if w is None:
        return None
    return {
        "wagon_id": w.get("wagon_id"),
        "name": w.get("name"),
        "analysis": w.get("analysis_name"),
        "version": w.get("version"),
        "workflow": w.get("workflow"),
    }


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def master_jobs_view(s: Session, train_id: int, roots: FileRoots | None) -> dict[str, Any]:
    """The jobs tab of a train (``GET /api/train-runs/{id}/master-jobs``; the page adds its
    page of jobs): jobs per run, grid statistics, totals per site, failed jobs grouped by signature."""
    return {
        "runs": master_jobs(s, train_id),
        "distributions": job_distributions(s, train_id),
        "sites": site_totals(s, train_id),
        "error_groups": error_groups_with_traceback(s, train_id, roots),
    }
