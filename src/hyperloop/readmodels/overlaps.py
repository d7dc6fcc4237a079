"""Overlap detection: wagons of other analyses on the same dataset that run the same workflow
with an identical or near-identical configuration, and what to do about it.

Two configurations are compared in full: each wagon's base configuration completed with the
defaults of its tag's workflow (a parameter set to its default equals one left unset), value
by value after the canonical O2 form. **Identical**: no difference, the same dependencies
(workflow and configuration) — the histograms would be identical, and for derived data the
same tables from the same configuration are the same skim. **Near-identical**: at most
``NEAR`` parameters differ (listed, so the analyzer judges whether they matter).

``overlaps(s, wagon_id, dataset_id)`` reads the candidates: wagons of other analyses with
the same workflow that are enabled on the dataset, or whose derived output on it exists
(a done derived-data train). ``compare`` and ``suggestion`` are pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core.common import get_or_404
from hyperloop.core.configs import complete_base, workflow_schema
from hyperloop.core.errors import DomainError
from hyperloop.db.models import (
    Analysis,
    Dataset,
    PackageTag,
    TrainRun,
    Wagon,
    WagonDataset,
    train_run_wagons,
)
from hyperloop.enums import TrainState, TrainType

#: at most this many differing parameters make two configurations near-identical
NEAR = 2


@dataclass(frozen=True)
class Difference:
    task: str
    parameter: str
    this: Any
    other: Any


@dataclass(frozen=True)
class Overlap:
    """Another analysis's wagon overlapping the one being enabled."""

    wagon_id: int
    wagon: str
    analysis_id: int
    analysis: str
    workflow: str
    kind: str  # identical, near-identical
    level: str  # notice, warning (a duplicate skim)
    message: str
    differences: tuple[Difference, ...] = ()
    derived_tables: tuple[str, ...] = ()
    produced_by: int | None = None  # done derived-data train run on this dataset
    enabled: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Side:
    """What is compared of one wagon."""

    wagon_id: int
    name: str
    analysis_id: int
    analysis: str
    workflow: str
    config: Mapping[str, Mapping[str, Any]]
    dependencies: frozenset[str] = frozenset()  # workflow + configuration of each
    derived_tables: tuple[str, ...] = ()
    enabled: bool = True
    produced_by: int | None = None


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def differences(
    a: Mapping[str, Mapping[str, Any]], b: Mapping[str, Mapping[str, Any]]
) -> tuple[Difference, ...]:
    """Every (task, parameter) whose value differs between two full configurations."""
    out: list[Difference] = []
    for task in sorted(set(a) | set(b)):
        pa, pb = a.get(task) or {}, b.get(task) or {}
        for name in sorted(set(pa) | set(pb)):
            va, vb = pa.get(name), pb.get(name)
            if _canon(va) != _canon(vb):
                out.append(Difference(task, name, va, vb))
    return tuple(out)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def compare(this: Side, other: Side, near: int = NEAR) -> Overlap | None:
    """The overlap of ``other`` with ``this`` (None: different workflow, dependencies or
    more than ``near`` differences)."""
    if this.workflow != other.workflow or this.dependencies != other.dependencies:
        return None
    diffs = differences(this.config, other.config)
    if len(diffs) > near:
        return None
    kind = "identical" if not diffs else "near-identical"
    same_skim = (
        not diffs
        and bool(this.derived_tables)
        and set(this.derived_tables) == set(other.derived_tables)
    )
    return Overlap(
        wagon_id=other.wagon_id,
        wagon=other.name,
        analysis_id=other.analysis_id,
        analysis=other.analysis,
        workflow=other.workflow,
        kind=kind,
        level="warning" if same_skim else "notice",
        message=suggestion(this, other, diffs, same_skim),
        differences=diffs,
        derived_tables=tuple(other.derived_tables),
        produced_by=other.produced_by,
        enabled=other.enabled,
    )


def suggestion(this: Side, other: Side, diffs: tuple[Difference, ...], same_skim: bool) -> str:
    """One sentence: what overlaps and what to do."""
    who = f"wagon {other.name!r} of analysis {other.analysis!r}"
    if same_skim:
        where = (
            f"its output exists (train run {other.produced_by})"
            if other.produced_by is not None
            else "it is enabled on this dataset"
        )
        return (
            f"duplicate skim: {who} produces the same derived tables "
            f"({', '.join(sorted(other.derived_tables))}) with workflow {other.workflow!r} and "
            f"the identical configuration on this dataset, and {where}; depend on it instead "
            "of producing the same skim again"
        )
    if not diffs:
        return (
            f"{who} runs workflow {other.workflow!r} on this dataset with the identical "
            "configuration: its histograms would be identical; share its output (ask its "
            "analysis) or depend on it instead of running the same again"
        )
    changed = ", ".join(
        f"{d.task}.{d.parameter} ({_short(d.this)} here, {_short(d.other)} there)" for d in diffs
    )
    return (
        f"{who} runs workflow {other.workflow!r} on this dataset with a configuration that "
        f"differs only in {changed}: if that does not matter for you, share it or depend on "
        "it; otherwise ask its analysis to add your variant as a subwagon"
    )


# --------------------------------------------------------------------------- reading


def _full_config(s: Session, workflow: str, base: Mapping[str, Any], tag_id: int | None):
    """The base configuration completed with the tag's defaults (as is without the tag)."""
    tag = s.get(PackageTag, tag_id) if tag_id is not None else None
    if tag is None:
        return dict(base or {})
    try:
        return complete_base(workflow_schema(tag, workflow), dict(base or {}))
    except DomainError:
        return dict(base or {})


def _dependencies(s: Session, wagon: Wagon) -> frozenset[str]:
    return frozenset(
        _canon([d.workflow, _full_config(s, d.workflow, d.base_config, d.tag_id)])
        for d in wagon.dependencies
    )


def _side(s: Session, wagon: Wagon, enabled: bool, produced_by: int | None = None) -> Side:
    analysis = s.get(Analysis, wagon.analysis_id)
    return Side(
        wagon_id=wagon.id,
        name=wagon.name,
        analysis_id=wagon.analysis_id,
        analysis=analysis.name if analysis is not None else "",
        workflow=wagon.workflow,
        config=_full_config(s, wagon.workflow, wagon.base_config, wagon.tag_id),
        dependencies=_dependencies(s, wagon),
        derived_tables=tuple(wagon.derived_tables or ()),
        enabled=enabled,
        produced_by=produced_by,
    )


def _produced(s: Session, dataset_id: int, workflow: str) -> dict[int, int]:
    """Wagons of ``workflow`` whose derived output on the dataset exists: wagon -> the
    latest done derived-data train run."""
    rows = s.execute(
        select(train_run_wagons.c.wagon_id, TrainRun.id)
        .join(TrainRun, TrainRun.id == train_run_wagons.c.train_run_id)
        .join(Wagon, Wagon.id == train_run_wagons.c.wagon_id)
        .where(
            TrainRun.dataset_id == dataset_id,
            TrainRun.state == TrainState.DONE,
            TrainRun.train_type != TrainType.ANALYSIS,
            TrainRun.output_deleted_at.is_(None),
            Wagon.workflow == workflow,
        )
        .order_by(TrainRun.id)
    ).all()
    return {int(w): int(t) for w, t in rows if w is not None}


def overlaps(s: Session, wagon_id: int, dataset_id: int) -> list[Overlap]:
    """Wagons of other analyses overlapping ``wagon_id`` on the dataset, warnings first."""
    wagon = get_or_404(s, Wagon, wagon_id, "wagon")
    get_or_404(s, Dataset, dataset_id, "dataset")
    enabled = set(
        s.scalars(
            select(WagonDataset.wagon_id)
            .join(Wagon, Wagon.id == WagonDataset.wagon_id)
            .where(
                WagonDataset.dataset_id == dataset_id,
                WagonDataset.enabled.is_(True),
                Wagon.workflow == wagon.workflow,
                Wagon.analysis_id != wagon.analysis_id,
            )
        )
    )
    produced = {
        w: t
        for w, t in _produced(s, dataset_id, wagon.workflow).items()
        if (other := s.get(Wagon, w)) is not None and other.analysis_id != wagon.analysis_id
    }
    this = _side(s, wagon, True)
    out = []
    for other_id in sorted(enabled | set(produced)):
        other = s.get(Wagon, other_id)
        if other is None:
            continue
        found = compare(this, _side(s, other, other_id in enabled, produced.get(other_id)))
        if found is not None:
            out.append(found)
    out.sort(key=lambda o: (o.level != "warning", o.kind != "identical", o.wagon_id))
    return out


def wagon_overlaps(s: Session, wagon_id: int) -> list[dict[str, Any]]:
    """Per dataset the wagon is enabled on: its overlaps (what the wagon page shows)."""
    rows = s.execute(
        select(WagonDataset.dataset_id, Dataset.name)
        .join(Dataset, Dataset.id == WagonDataset.dataset_id)
        .where(WagonDataset.wagon_id == wagon_id, WagonDataset.enabled.is_(True))
        .order_by(Dataset.name)
    ).all()
    out = []
    for dataset_id, name in rows:
        found = overlaps(s, wagon_id, dataset_id)
        if found:
            out.append(
                {
                    "dataset_id": dataset_id,
                    "dataset": name,
                    "overlaps": [o.as_dict() for o in found],
                }
            )
    return out
