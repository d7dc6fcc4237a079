"""The one builder of the typed train spec (invariant 7): the ``FullConfig`` of a wagon test,
a train test or a train job, from the snapshot frozen in the database.

A wagon test's snapshot (``WagonTest.config_snapshot``: the wagon and its dependency
closure, taken when it was queued) and a train's (``TrainRun.wagons_snapshot``: each wagon
with its ``dependency_snapshots``, frozen at composition) are read into the same list of
(wagon, dependencies) and turned into workflow entries by one rule: every dependency once,
then each wagon not already there followed by its subwagons (suffix = subwagon name, sorted).
The scheduler submits the result, the reproduce and train APIs show it; it is serialised
only where ``full_config.json`` is written (``hyperloop.grid.execute``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hyperloop.analysis.spec import FullConfig, WorkflowEntry
from hyperloop.core.configs import effective_subwagon
from hyperloop.db.models import PackageTag, TrainRun, WagonTest
from hyperloop.enums import TrainType

Snapshot = Mapping[str, Any]


def build_full_config(
    source: WagonTest | TrainRun, tag: PackageTag, *, cores: int | None = None
) -> FullConfig:
    """The spec a wagon test (``WagonTest``) or a train's test and jobs (``TrainRun``) run,
    with package ``tag``; ``cores`` when the target is known (else set where it runs)."""
    if isinstance(source, WagonTest):
        snap = source.config_snapshot or {}
        wagons = [(snap["wagon"], snap.get("dependencies", []))]
        # a wagon with derived data writes it in its test: its size counts (SPEC §4)
        derived: Iterable[str] = snap["wagon"].get("derived_tables") or ()
    else:
        wagons = [(w, w.get("dependency_snapshots", [])) for w in source.wagons_snapshot]
        derived = (
            ()  # analysis trains write no derived data
            if source.train_type is TrainType.ANALYSIS
            else (t for w, _ in wagons for t in w.get("derived_tables") or ())
        )
    derived_tables = tuple(dict.fromkeys(derived))
    savers = [w for w, _ in wagons if w.get("derived_tables")] if derived_tables else []
    return FullConfig(
        package_tag=f"{tag.name}-{tag.version}",
        workflows=_entries(wagons),
        derived_tables=derived_tables,
        cpu_cores=cores,
        max_df_size=_smallest(w.get("max_df_size") for w in savers),
        max_derived_file_size=_smallest(w.get("max_derived_file_size") for w in savers),
    )


def _smallest(values: Iterable[Any]) -> int | None:
    """The strictest of the wagons' limits (None or 0: no limit)."""
    limits = [int(v) for v in values if v]
    return min(limits) if limits else None


def _entries(wagons: list[tuple[Snapshot, Iterable[Snapshot]]]) -> tuple[WorkflowEntry, ...]:
    entries: list[WorkflowEntry] = []
    seen: set[int] = set()
    owner: dict[str, int] = {}  # workflow -> the wagon whose tasks run under its plain names

    def add(w: Snapshot, suffix: str = "", conf: Mapping | None = None) -> None:
        # a second wagon of a workflow (another analysis's, say) runs its tasks as
        # <task>_id<wagon id>, as Hyperloop names them, so that outputs do not collide
        first = owner.setdefault(w["workflow"], w["wagon_id"])
        if first != w["wagon_id"]:
            suffix = f"_id{w['wagon_id']}{suffix}"
        config = {
            t: dict(p)
            for t, p in (conf if conf is not None else w.get("base_config") or {}).items()
        }
        # parameters added by hand (not declared by the wagon's tag) run with every instance
        added = w.get("added_parameters") or {}
        for task, params in added.items():
            config.setdefault(task, {}).update(params)
        entries.append(
            WorkflowEntry(
                workflow_name=w["workflow"],
                suffix=suffix,
                wagon_id=w["wagon_id"],
                configuration=config,
                added_parameters={t: sorted(p) for t, p in sorted(added.items()) if p},
            )
        )

    for _, deps in wagons:
        for dep in deps:
            if dep["wagon_id"] not in seen:
                seen.add(dep["wagon_id"])
                add(dep)
    for w, _ in wagons:
        if w["wagon_id"] in seen:
            continue
        seen.add(w["wagon_id"])
        add(w)
        for name, overrides in sorted((w.get("subwagons") or {}).items()):
            add(w, name, effective_subwagon(w.get("base_config") or {}, overrides))
    return tuple(entries)
