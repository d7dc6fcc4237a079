"""Merge stages: per run -> per mergelist -> final merge (SPEC §3), outputs via fsspec.

Every stage takes *recorded* inputs (validated attempt records, or the records of the
previous stage), refuses duplicates, and reads each input exactly once. The final merge
reads the per-run outputs (not the mergelist outputs, which may overlap), so no run is
counted twice. Derived data: ``standard`` and ``linked`` outputs are kept per run (listable
as a new production catalogue), ``slim`` outputs are merged across runs; ``analysis``
trains have no derived data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import fsspec

from hyperloop.analysis.merge import merge_ao2d, merge_results
from hyperloop.grid.execute import AttemptRecord, ao2d_parts

TRAIN_TYPES = ("analysis", "standard", "linked", "slim")


class MergeStageError(RuntimeError):
    """Inputs a merge stage refuses (not validated, duplicated, wrong run)."""


class Storage:
    """Output storage behind an fsspec URL (a local folder by default)."""

    def __init__(self, url: str | os.PathLike) -> None:
        self.url = os.fspath(url)
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.is_local = "file" in (
            self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        )

    SCRATCH = ".scratch"

    def scratch(self) -> str | None:
        """Where merges build their files before ``store``: ``<root>/.scratch`` of a local
        storage (so that ``clean_scratch`` finds what a killed merge left), else the
        system's temporary folder (None)."""
        if not self.is_local:
            return None
        folder = Path(self.root) / self.SCRATCH
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)

    def clean_scratch(self) -> list[str]:
        """Remove what killed merges left in a local storage (its scratch folder and half
        copied ``.*.part`` files); only while no merge of this storage runs. The paths removed."""
        if not self.is_local or not Path(self.root).is_dir():
            return []
        root = Path(self.root)
        left = [root / self.SCRATCH] if (root / self.SCRATCH).exists() else []
        left += [p for p in root.rglob(".*.part") if self.SCRATCH not in p.parts]
        for path in left:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return [str(p) for p in left]

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *[p.strip("/") for p in parts]])

    def store(self, local: str | os.PathLike, *parts: str) -> str:
        """Move a finished local file into storage (atomic rename on a local folder)."""
        dest = self.path(*parts)
        if self.is_local:
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(dest).with_name(f".{Path(dest).name}.part")
            shutil.copyfile(local, tmp)
            os.replace(tmp, dest)
            return dest
        self.fs.makedirs(self.fs._parent(dest), exist_ok=True)
        self.fs.put_file(os.fspath(local), dest)
        return self.fs.unstrip_protocol(dest)  # a URL: readable from anywhere

    @staticmethod
    def size(path: str) -> int:
        fs, p = fsspec.core.url_to_fs(path)
        return int(fs.size(p))

    @staticmethod
    @contextmanager
    def local_copies(paths: Sequence[str], scratch: str | None = None) -> Iterator[list[str]]:
        """Local paths for local files or URLs (URLs are fetched once into a temp folder
        under ``scratch``, default the system's)."""
        with tempfile.TemporaryDirectory(prefix="hyperloop-merge-in-", dir=scratch) as tmp:
            out = []
            for i, p in enumerate(paths):
                if "://" not in p or p.startswith("file://"):
                    out.append(p.removeprefix("file://"))
                    continue
                local = os.path.join(tmp, f"{i:05d}-{os.path.basename(p)}")
                fs, remote = fsspec.core.url_to_fs(p)
                fs.get_file(remote, local)
                out.append(local)
            yield out


@dataclass
class MergeRecord:
    """One merge: what it read (each once), what it wrote, which runs are in or missing."""

    stage: str  # "run", "mergelist" or "final"
    name: str  # run number, mergelist name, or "final"
    outputs: dict[str, str] = field(default_factory=dict)  # "AnalysisResults" / "AO2D" -> path
    derived_files: list[str] = field(default_factory=list)  # kept unmerged (standard/linked)
    runs_merged: list[int] = field(default_factory=list)
    runs_missing: list[int] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_records(run: int, records: Sequence[AttemptRecord]) -> None:
    seen: set[str] = set()
    for r in records:
        if not r.ok:
            raise MergeStageError(
                f"job {r.job_id} attempt {r.attempt} is not validated ({r.error_kind}); "
                "only validated outputs are merged"
            )
        if r.run != run:
            raise MergeStageError(f"job {r.job_id} belongs to run {r.run}, not run {run}")
        if r.job_id in seen:
            raise MergeStageError(f"job {r.job_id} given twice to the merge of run {run}")
        seen.add(r.job_id)


def _size_groups(files: list[str], limit: int) -> list[list[str]]:
    """Consecutive groups of ``files`` of at most ``limit`` bytes together (one file larger
    than the limit alone)."""
    groups: list[list[str]] = []
    size = 0
    for f in files:
        n = Storage.size(f)
        if not groups or size + n > limit:
            groups.append([])
            size = 0
        groups[-1].append(f)
        size += n
    return groups


def _merge_to_storage(
    kind: str, inputs: list[str], storage: Storage, parts: tuple[str, ...]
) -> str:
    scratch = storage.scratch()
    with tempfile.TemporaryDirectory(prefix="hyperloop-merge-", dir=scratch) as tmp:
        out = Path(tmp) / parts[-1]
        with storage.local_copies(inputs, scratch) as local:
            if kind == "AO2D":
                merge_ao2d(out, local)
            else:
                merge_results(out, local)
        return storage.store(out, *parts)


def merge_run(
    run: int,
    records: Sequence[AttemptRecord],
    storage: Storage,
    prefix: str = "",
    *,
    train_type: str = "analysis",
    max_file_bytes: int = 0,
) -> MergeRecord:
    """Merge the validated outputs of one run's jobs (one record per job); standard derived
    files are merged up to ``max_file_bytes`` each (0: one file per run)."""
    if train_type not in TRAIN_TYPES:
        raise MergeStageError(f"unknown train type {train_type!r}; expected one of {TRAIN_TYPES}")
    t0 = time.perf_counter()
    records = sorted(records, key=lambda r: r.job_id)
    _check_records(run, records)
    rec = MergeRecord(stage="run", name=str(run), jobs=[r.job_id for r in records])
    if not records:
        rec.runs_missing = [run]
        return rec
    base = (prefix, "runs", str(run)) if prefix else ("runs", str(run))
    results = [r.outputs["AnalysisResults"] for r in records if "AnalysisResults" in r.outputs]
    if results:
        rec.outputs["AnalysisResults"] = _merge_to_storage(
            "AnalysisResults", results, storage, (*base, "AnalysisResults.root")
        )
        rec.inputs += results
    derived = [r for r in records if "AO2D" in r.outputs]
    if derived and train_type == "standard" and max_file_bytes > 0:
        # the wagons' max derived file size: the run's files merged in groups of at most
        # that size (a larger job file alone), AO2D.root, AO2D_001.root, ...
        files = [p for r in derived for p in ao2d_parts(r.outputs)]
        for k, group in enumerate(_size_groups(files, max_file_bytes)):
            name = "AO2D" if k == 0 else f"AO2D_{k:03d}"
            rec.outputs[name] = _merge_to_storage("AO2D", group, storage, (*base, f"{name}.root"))
            rec.derived_files.append(rec.outputs[name])
        rec.inputs += files
    elif derived and train_type in ("standard", "slim"):
        files = [p for r in derived for p in ao2d_parts(r.outputs)]
        rec.outputs["AO2D"] = _merge_to_storage("AO2D", files, storage, (*base, "AO2D.root"))
        rec.inputs += files
        if train_type == "standard":
            rec.derived_files = [rec.outputs["AO2D"]]
    elif derived and train_type == "linked":  # keep each job's file: its parent links stay
        for r in derived:
            for k, path in enumerate(ao2d_parts(r.outputs)):
                name = f"AO2D_{r.job_id}.root" if k == 0 else f"AO2D_{r.job_id}_{k:03d}.root"
                rec.derived_files.append(storage.store(path, *base, name))
                rec.inputs.append(path)
    rec.runs_merged = [run]
    rec.seconds = time.perf_counter() - t0
    return rec


def _merge_runs(
    stage: str,
    name: str,
    runs: Iterable[int],
    run_merges: Mapping[int, MergeRecord],
    storage: Storage,
    parts: tuple[str, ...],
    *,
    ao2d: bool,
) -> MergeRecord:
    t0 = time.perf_counter()
    wanted = sorted({int(r) for r in runs})
    present = [r for r in wanted if r in run_merges and run_merges[r].runs_merged]
    rec = MergeRecord(stage=stage, name=name)
    rec.runs_missing = [r for r in wanted if r not in present]
    results = [
        run_merges[r].outputs["AnalysisResults"]
        for r in present
        if "AnalysisResults" in run_merges[r].outputs
    ]
    if results:
        rec.outputs["AnalysisResults"] = _merge_to_storage(
            "AnalysisResults", results, storage, (*parts, "AnalysisResults.root")
        )
    files = [run_merges[r].outputs["AO2D"] for r in present if "AO2D" in run_merges[r].outputs]
    if ao2d and files:
        rec.outputs["AO2D"] = _merge_to_storage("AO2D", files, storage, (*parts, "AO2D.root"))
    rec.inputs = results + (files if ao2d else [])
    rec.runs_merged = present
    rec.jobs = [j for r in present for j in run_merges[r].jobs]
    rec.seconds = time.perf_counter() - t0
    return rec


def merge_mergelist(
    name: str,
    runs: Iterable[int],
    run_merges: Mapping[int, MergeRecord],
    storage: Storage,
    prefix: str = "",
    *,
    train_type: str = "analysis",
) -> MergeRecord:
    """Merge the per-run outputs of a named set of runs; lists merged and missing runs."""
    parts = (prefix, "mergelists", name) if prefix else ("mergelists", name)
    return _merge_runs(
        "mergelist", name, runs, run_merges, storage, parts, ao2d=train_type == "slim"
    )


def final_merge(
    run_merges: Mapping[int, MergeRecord],
    storage: Storage,
    prefix: str = "",
    *,
    runs: Iterable[int] | None = None,
    train_type: str = "analysis",
) -> MergeRecord:
    """The final merge over ``runs`` (a final mergelist; default every run of the train).

    Runs without a per-run merge are listed in ``runs_missing``: an operator may start the
    final merge with missing runs; the automatic one waits for all of them.
    """
    wanted = list(run_merges) if runs is None else list(runs)
    parts = (prefix, "final") if prefix else ("final",)
    return _merge_runs(
        "final", "final", wanted, run_merges, storage, parts, ao2d=train_type == "slim"
    )


def merge_final_stages(
    run_merges: Mapping[int, MergeRecord],
    storage: Storage,
    runs: Iterable[int],
    *,
    mergelists: Sequence[Mapping[str, Any]] = (),
    final_mergelists: Sequence[Mapping[str, Any]] = (),
    all_runs: bool = True,
    train_type: str = "analysis",
) -> list[MergeRecord]:
    """The stages after the per-run merges (SPEC §3), in order: each active mergelist
    (``{"name", "runs", "active"}``) to ``mergelists/<name>``; each final mergelist
    (``{"name", "mergelists"}``: the runs of its active mergelists, read from the per-run
    outputs so that a run in two of them counts once) to ``final_mergelists/<name>``; the
    final merge over ``runs`` to ``final`` when ``all_runs`` (the dataset's "final merge over
    all runs") or when there is neither a mergelist nor a final mergelist to merge."""
    wanted = sorted({int(r) for r in runs})
    active = [m for m in mergelists if m.get("active", True)]
    by_name = {str(m["name"]): [int(r) for r in m.get("runs") or []] for m in active}
    out = [
        merge_mergelist(
            str(m["name"]), by_name[str(m["name"])], run_merges, storage, train_type=train_type
        )
        for m in active
    ]
    for fml in final_mergelists:
        name = str(fml["name"])
        fml_runs = {r for ml in fml.get("mergelists") or [] for r in by_name.get(str(ml), [])}
        parts = ("final_mergelists", name)
        out.append(
            _merge_runs(
                "final_mergelist",
                name,
                fml_runs,
                run_merges,
                storage,
                parts,
                ao2d=train_type == "slim",
            )
        )
    if all_runs or not out:
        out.append(final_merge(run_merges, storage, runs=wanted, train_type=train_type))
    return out


def derived_production(
    run_merges: Mapping[int, MergeRecord], storage: Storage
) -> dict[int, list[tuple[str, int]]]:
    """``{run: [(path, size)]}`` of kept derived files: a catalogue for a new production."""
    return {
        run: [(p, Storage.size(p)) for p in rec.derived_files]
        for run, rec in sorted(run_merges.items())
        if rec.derived_files
    }
