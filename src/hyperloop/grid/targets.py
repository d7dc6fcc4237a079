"""Targets: where and how jobs run (SPEC §2): cores and memory per job, wall time, engine.

Targets are plain, frozen dataclasses loaded from settings-like dicts, so the scheduler can
keep them in the database or a settings file and this layer stays free of both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dask.utils import parse_bytes

GiB = 1024**3


class TargetError(ValueError):
    """A target definition that cannot be used; the message names the target and field."""


@dataclass(frozen=True)
class Target:
    """One execution target: e.g. ``single-core`` (1 core, 2 GiB) or ``8-core`` (8, 16 GiB).

    ``engine`` is ``"local"`` (the embedded LocalCluster) or a Dask scheduler address.
    """

    name: str
    cores: int = 1
    memory_limit_bytes: int = 2 * GiB
    wall_time_limit_s: float = 3600.0
    engine: str = "local"

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise TargetError(f"target name {self.name!r}: use letters, digits, '-' or '_'")
        if self.cores < 1:
            raise TargetError(f"target {self.name}: cores must be >= 1, got {self.cores}")
        if self.memory_limit_bytes <= 0:
            raise TargetError(f"target {self.name}: memory limit must be > 0 bytes")
        if self.wall_time_limit_s <= 0:
            raise TargetError(f"target {self.name}: wall time limit must be > 0 s")

    @property
    def memory_per_core(self) -> float:
        return self.memory_limit_bytes / self.cores

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cores": self.cores,
            "memory_limit_bytes": self.memory_limit_bytes,
            "wall_time_limit_s": self.wall_time_limit_s,
            "engine": self.engine,
        }


def _bytes(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise TargetError(f"{where}: expected a size such as 4000000000 or '4GB', got {value!r}")
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return int(parse_bytes(str(value)))
    except (ValueError, TypeError):
        raise TargetError(
            f"{where}: expected a size such as 4000000000, '4GB' or '3.6GiB', got {value!r}"
        ) from None


def target_from_dict(raw: Mapping[str, Any], name: str | None = None) -> Target:
    """A Target from ``{"cores": 2, "memory": "4GB", "wall_time": 7200, "engine": "local"}``.

    Accepted keys: name, cores, memory_limit_bytes | memory, wall_time_limit_s | wall_time,
    engine. Unknown keys are refused so typos do not silently use defaults.
    """
    name = str(raw.get("name") or name or "")
    where = f"target {name or '?'}"
    allowed = {
        "name",
        "cores",
        "memory_limit_bytes",
        "memory",
        "wall_time_limit_s",
        "wall_time",
        "engine",
    }
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise TargetError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {sorted(allowed)}"
        )
    memory = raw.get("memory_limit_bytes", raw.get("memory", 2 * GiB))
    wall = raw.get("wall_time_limit_s", raw.get("wall_time", 3600.0))
    try:
        cores = int(raw.get("cores", 1))
        wall_s = float(wall)
    except (TypeError, ValueError) as exc:
        raise TargetError(f"{where}: {exc}") from None
    return Target(
        name=name,
        cores=cores,
        memory_limit_bytes=_bytes(memory, f"{where}: memory"),
        wall_time_limit_s=wall_s,
        engine=str(raw.get("engine", "local")),
    )


def load_targets(
    raw: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]],
) -> dict[str, Target]:
    """Targets by name from ``{name: {...}}`` or ``[{"name": ..., ...}]`` (settings layout)."""
    items: list[Target]
    if isinstance(raw, Mapping):
        items = [target_from_dict(v, name=k) for k, v in raw.items()]
    else:
        items = [target_from_dict(v) for v in raw]
    out: dict[str, Target] = {}
    for t in items:
        if t.name in out:
            raise TargetError(f"target {t.name} defined twice")
        out[t.name] = t
    return out


def pick_target_with_more_memory(
    targets: Mapping[str, Target] | Iterable[Target], current: Target
) -> Target | None:
    """The target with the least memory per job above ``current``'s, on the same engine.

    Used when a job was killed for memory: it is retried where it gets more memory per
    job. Ties prefer fewer cores (cheaper slots). ``None`` when no such target exists.
    """
    pool = targets.values() if isinstance(targets, Mapping) else targets
    bigger = [
        t
        for t in pool
        if t.engine == current.engine and t.memory_limit_bytes > current.memory_limit_bytes
    ]
    if not bigger:
        return None
    return min(bigger, key=lambda t: (t.memory_limit_bytes, t.cores, t.name))
