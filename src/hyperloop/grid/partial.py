"""Live partial results of a running train (issue 21 item 2): its outputs merged over the
jobs finished so far, per run and overall, with the fraction of runs, jobs and events they
hold. Written by the merge stages of ``grid.merging`` into a folder of their own
(``<train>/partial``, never the train's ``merged`` folder; in the storage, local or remote,
like the train's jobs and merges), described by ``partial.json``;
the real merges never read them, and they are removed once the final merge is done."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hyperloop.analysis.ao2d import AO2DFile
from hyperloop.grid import store
from hyperloop.grid.execute import AttemptRecord
from hyperloop.grid.merging import MergeRecord, Storage, final_merge, merge_run

MANIFEST = "partial.json"


def collisions_in(path: str) -> int:
    """Collisions (events) in an AO2D file: the rows of its collision tables (headers only);
    0 when the file cannot be read."""
    try:
        with AO2DFile(path) as f:
            total = 0
            for df in f.dataframes():
                names = [
                    n
                    for n in f.tree_names(df)
                    if n == "O2collision" or n.startswith("O2collision_")
                ]
                if names:
                    total += f.entries(df, names[0])
            return total
    except Exception:  # an unreadable input counts no events (the job's error says why)
        return 0


def events_of(files: Iterable[str], cache: dict[str, int]) -> int:
    """Events of ``files``, each counted once (``cache``: path -> events)."""
    total = 0
    for path in files:
        if path not in cache:
            cache[path] = collisions_in(path)
        total += cache[path]
    return total


def merge_partial(
    folder: str | os.PathLike,
    done: Mapping[int, Sequence[AttemptRecord]],
    merged: Mapping[int, MergeRecord],
    *,
    jobs: Mapping[int, int],
    events_done: Mapping[int, int],
    events_total: int,
    reuse: Mapping[int, MergeRecord] | None = None,
) -> tuple[dict[str, Any], dict[int, MergeRecord]]:
    """Merge the analysis results of the done jobs of each run (``done``: run -> validated
    records; a run whose real per-run merge exists is read from ``merged`` instead) into
    ``folder/runs/<run>``, then over the runs into ``folder/final``; write and return the
    manifest. ``jobs``: run -> number of jobs; ``events_done``: run -> events in the done
    jobs' inputs; ``events_total``: events of the train's inputs; ``reuse``: partial
    per-run merges of an earlier call whose done jobs have not changed (not merged again).
    Returns the manifest and the per-run merges it read."""
    t0 = time.perf_counter()
    storage = Storage(folder)
    per_run: dict[int, MergeRecord] = {}
    runs: dict[str, Any] = {}
    for run in sorted(set(done) | set(merged) | set(reuse or ())):
        complete = run in merged
        records = list(done.get(run, ()))
        if complete:
            rec = merged[run]
        elif reuse and run in reuse:
            rec = reuse[run]
        else:
            rec = merge_run(run, records, storage)
        if not rec.runs_merged or "AnalysisResults" not in rec.outputs:
            continue
        per_run[run] = rec
        n_done = jobs.get(run, 0) if complete else len(rec.jobs)
        runs[str(run)] = {
            "run": run,
            "jobs_done": n_done,
            "jobs": jobs.get(run, n_done),
            "events": int(events_done.get(run, 0)),
            "complete": complete,
            "file": rec.outputs["AnalysisResults"],
        }
    overall = final_merge(per_run, storage, runs=sorted(per_run)) if per_run else None
    jobs_done = sum(r["jobs_done"] for r in runs.values())
    jobs_total = sum(jobs.values())
    events = sum(r["events"] for r in runs.values())
    manifest = {
        "updated_at": time.time(),
        "runs_included": sorted(per_run),
        "runs_total": len(jobs),
        "runs_complete": sorted(r for r in per_run if r in merged),
        "jobs_done": jobs_done,
        "jobs_total": jobs_total,
        "events_included": events,
        "events_total": int(events_total),
        "runs": runs,
        "overall": overall.outputs.get("AnalysisResults") if overall else None,
        "seconds": time.perf_counter() - t0,
    }
    # readers see the old manifest or the new one, whole (a local file: temp + rename; an
    # object of a remote storage: replaced in one put)
    store.write_bytes(
        store.join(folder, MANIFEST), (json.dumps(manifest, indent=1) + "\n").encode()
    )
    return manifest, per_run


def read_manifest(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of a partial merge (None: none written yet, or unreadable)."""
    try:
        data = json.loads(store.read_bytes(store.join(folder, MANIFEST)))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove_partial(folder: str | os.PathLike) -> None:
    """Remove a train's partial results (a local folder or a folder of a remote storage);
    nothing when there are none."""
    if not store.is_remote(folder):
        shutil.rmtree(folder, ignore_errors=True)
        return
    store.remove_folder(folder)
