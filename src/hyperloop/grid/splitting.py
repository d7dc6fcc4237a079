"""Split a dataset's file catalogue into jobs, grouped per run ("master jobs").

Jobs never mix runs, so per-run merges read exactly the jobs of that run. Within a run,
files are taken in path order and a job is closed when adding the next file would exceed
``max_files`` or ``max_bytes`` (a single file larger than ``max_bytes`` is a job of its
own). The same catalogue and limits always give the same jobs and the same ids.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


class SplitError(ValueError):
    """A catalogue or limits that cannot be split."""


@dataclass(frozen=True)
class JobSpec:
    """One job: a run, its input files (path, size) and a stable id."""

    job_id: str
    run: int
    index: int  # position within the run's master job
    files: tuple[str, ...]
    sizes: tuple[int, ...] = field(default=())

    @property
    def bytes(self) -> int:
        return sum(self.sizes)

    def to_dict(self) -> dict:
        return {
            "job_id": self.job_id,
            "run": self.run,
            "index": self.index,
            "files": list(self.files),
            "sizes": list(self.sizes),
        }

    @classmethod
    def from_dict(cls, raw: Mapping) -> JobSpec:
        return cls(
            job_id=str(raw["job_id"]),
            run=int(raw["run"]),
            index=int(raw["index"]),
            files=tuple(raw["files"]),
            sizes=tuple(int(s) for s in raw.get("sizes", ())),
        )


@dataclass(frozen=True)
class MasterJob:
    """All jobs of one run."""

    run: int
    jobs: tuple[JobSpec, ...]

    @property
    def files(self) -> int:
        return sum(len(j.files) for j in self.jobs)


def job_id_for(run: int, index: int, files: Sequence[str]) -> str:
    """``<run>-<index>-<hash of the file list>``: stable, and distinct if the files change."""
    digest = hashlib.sha1("\n".join(files).encode()).hexdigest()[:8]
    return f"{run}-{index:04d}-{digest}"


def split_run(
    run: int,
    files: Iterable[tuple[str, int]],
    *,
    max_files: int = 10,
    max_bytes: int | None = None,
) -> list[JobSpec]:
    """Jobs of one run (see module doc)."""
    if max_files < 1:
        raise SplitError(f"max_files must be >= 1, got {max_files}")
    if max_bytes is not None and max_bytes <= 0:
        raise SplitError(f"max_bytes must be > 0, got {max_bytes}")
    entries = sorted((str(p), int(s)) for p, s in files)
    paths = [p for p, _ in entries]
    dupes = sorted(p for p, n in Counter(paths).items() if n > 1)
    if dupes:
        raise SplitError(f"run {run}: file listed twice in the catalogue: {dupes[0]}")
    groups: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    size = 0
    for path, nbytes in entries:
        if nbytes < 0:
            raise SplitError(f"run {run}: negative size for {path}")
        full = len(current) >= max_files or (
            max_bytes is not None and current and size + nbytes > max_bytes
        )
        if full:
            groups.append(current)
            current, size = [], 0
        current.append((path, nbytes))
        size += nbytes
    if current:
        groups.append(current)
    return [
        JobSpec(
            job_id=job_id_for(run, i, [p for p, _ in g]),
            run=run,
            index=i,
            files=tuple(p for p, _ in g),
            sizes=tuple(s for _, s in g),
        )
        for i, g in enumerate(groups)
    ]


def split_catalogue(
    catalogue: Mapping[int, Iterable[tuple[str, int]]],
    *,
    max_files: int = 10,
    max_bytes: int | None = None,
    excluded_runs: Iterable[int] = (),
) -> list[MasterJob]:
    """Master jobs (one per run, runs ascending) from ``{run: [(path, size), ...]}``."""
    excluded = {int(r) for r in excluded_runs}
    runs = {int(r): files for r, files in catalogue.items()}
    out = []
    for run in sorted(runs):
        if run in excluded:
            continue
        jobs = split_run(run, runs[run], max_files=max_files, max_bytes=max_bytes)
        if jobs:
            out.append(MasterJob(run=run, jobs=tuple(jobs)))
    return out


def all_jobs(masters: Iterable[MasterJob]) -> list[JobSpec]:
    return [job for m in masters for job in m.jobs]
