"""Catalogue totals without the excluded runs: every total a page or the scheduler shows
counts the files of the runs trains read (a production's excluded runs left out)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from hyperloop.db.models import DatasetFile, Production


def included(productions: list[Production]) -> Any:
    """SQL condition: a catalogue file of one of ``productions`` whose run is not excluded
    from its production."""
    parts = []
    for p in productions:
        cond = DatasetFile.production_id == p.id
        if p.excluded_runs:
            cond = and_(cond, DatasetFile.run_number.not_in([int(r) for r in p.excluded_runs]))
        parts.append(cond)
    return or_(*parts) if parts else false()


def included_files(s: Session, dataset_id: int) -> Select:
    """``select(DatasetFile)`` of the dataset's files that trains read."""
    prods = list(s.scalars(select(Production).where(Production.dataset_id == dataset_id)))
    return select(DatasetFile).where(included(prods))


def totals(s: Session, productions: list[Production]) -> dict[int, dict[str, int]]:
    """Per production: files, bytes and runs of its catalogue without its excluded runs,
    and how many files and bytes the excluded runs hold."""
    out: dict[int, dict[str, int]] = {
        p.id: {"files": 0, "bytes": 0, "runs": 0, "excluded_files": 0, "excluded_bytes": 0}
        for p in productions
    }
    if not productions:
        return out
    excluded = {p.id: {int(r) for r in p.excluded_runs or []} for p in productions}
    rows = s.execute(
        select(
            DatasetFile.production_id,
            DatasetFile.run_number,
            func.count(),
            func.coalesce(func.sum(DatasetFile.size), 0),
        )
        .where(DatasetFile.production_id.in_(list(out)))
        .group_by(DatasetFile.production_id, DatasetFile.run_number)
    ).all()
    for pid, run, n, size in rows:
        t = out[pid]
        if int(run) in excluded[pid]:
            t["excluded_files"] += int(n)
            t["excluded_bytes"] += int(size)
        else:
            t["files"] += int(n)
            t["bytes"] += int(size)
            t["runs"] += 1
    return out
