"""What sharing saved: the CPU time and input bytes a train saved against running each of
its wagons separately, from the train test's per-device figures (pure functions).

A train reads its input once and runs each device once: the reader (reading and decoding
the AO2D tables) and every workflow, including the service wagons several wagons depend on.
Run alone, each of its ``N`` wagons would pay the reader itself and run itself with every
workflow it needs (its dependencies, transitively). On the test sample:

    separate CPU = sum over wagons i of (reader + devices needed by i)
    train CPU    = reader + every device once
    saved CPU    = (N - 1) * reader + sum over devices d of (k_d - 1) * cpu_d
    saved bytes  = (N - 1) * bytes read by the train

where ``k_d`` is the number of the train's wagons that need device ``d`` (the wagon itself,
or a dependency of it). Dependencies of different wagons with the same workflow and
configuration run once (``analysis.plan``): they count as one device. Each wagon's share is
the cost split evenly among the wagons that need it (the reader among all ``N``), so that
the savings of the wagons add up to the train's: wagon ``i`` saved
``reader * (1 - 1/N) + sum over d needed by i of cpu_d * (1 - 1/k_d)``, and bytes
``bytes * (1 - 1/N)``. An analysis saved the sum of its wagons'. Reading each wagon alone is
counted with the train's bytes (every wagon alone reads the same input files; column
pruning would make a lone wagon read somewhat fewer bytes, so the bytes figure is an upper
bound). The figures scale to the whole dataset like the expected resources of the test
(dataset bytes / sample bytes, ``core.assessment.expected_resources``); CO2 with
``core.co2``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hyperloop.core.co2 import co2_kg_from_seconds

#: metrics-summary entries that are not workflows
READER, WRITER, FULL = "reader", "writer", "__full_train__"
SECONDS_PER_YEAR = 365.25 * 86400


def compact_devices(summary: Mapping[str, Any]) -> dict[str, Any]:
    """What the savings need of a test's ``metrics_summary.json`` (stored with the train
    test's metrics as ``devices``): per workflow its wagon and CPU seconds, the reader's
    CPU and the bytes the train read."""
    out: dict[str, Any] = {}
    for name, entry in summary.items():
        if not isinstance(entry, Mapping):
            continue
        if name == FULL:
            out[FULL] = {
                "cpu": float(entry.get("cpu") or 0.0),
                "bytes": float(entry.get("aod-bytes-read-compressed") or 0.0),
            }
        elif name in (READER, WRITER):
            out[name] = {"cpu": float(entry.get("cpu") or 0.0)}
        else:
            out[name] = {"wagon_id": entry.get("wagon_id"), "cpu": float(entry.get("cpu") or 0.0)}
    return out


def _key(snapshot: Mapping[str, Any]) -> str:
    """Workflow + configuration: dependencies equal in both run once in a train."""
    return json.dumps([snapshot.get("workflow"), snapshot.get("base_config") or {}], sort_keys=True)


def sample_savings(
    devices: Mapping[str, Any], wagons: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The savings of a train on its test sample (see the module's docstring): per wagon,
    per analysis and in total, CPU seconds and bytes (``wagons``: the train's
    ``wagons_snapshot``). Empty figures (zeros) without devices."""
    n = len(wagons)
    reader = float((devices.get(READER) or {}).get("cpu") or 0.0)
    read = float((devices.get(FULL) or {}).get("bytes") or 0.0)
    key_of: dict[int, str] = {}
    needs: list[set[str]] = []
    for w in wagons:
        key_of[int(w["wagon_id"])] = _key(w)
        need = {_key(w)}
        for dep in w.get("dependency_snapshots") or ():
            key_of.setdefault(int(dep["wagon_id"]), _key(dep))
            need.add(_key(dep))
        needs.append(need)
    cpu_of: dict[str, float] = {}
    for name, entry in devices.items():
        if name in (READER, WRITER, FULL) or not isinstance(entry, Mapping):
            continue
        wid = entry.get("wagon_id")
        key = key_of.get(int(wid)) if wid is not None else None
        if key is not None:
            cpu_of[key] = cpu_of.get(key, 0.0) + float(entry.get("cpu") or 0.0)
    shared_by = {key: sum(1 for need in needs if key in need) for key in cpu_of}
    per_wagon = []
    for w, need in zip(wagons, needs, strict=True):
        cpu = reader * (1 - 1 / n) + sum(
            cpu_of[k] * (1 - 1 / shared_by[k]) for k in need if shared_by.get(k)
        )
        per_wagon.append(
            {
                "wagon_id": int(w["wagon_id"]),
                "name": w.get("name", ""),
                "analysis_id": w.get("analysis_id"),
                "analysis": w.get("analysis_name", ""),
                "cpu_s": cpu,
                "bytes": read * (1 - 1 / n),
            }
        )
    analyses: dict[Any, dict[str, Any]] = {}
    for row in per_wagon:
        a = analyses.setdefault(
            row["analysis_id"],
            {
                "analysis_id": row["analysis_id"],
                "analysis": row["analysis"],
                "wagons": 0,
                "cpu_s": 0.0,
                "bytes": 0.0,
            },  # fmt: skip
        )
        a["wagons"] += 1
        a["cpu_s"] += row["cpu_s"]
        a["bytes"] += row["bytes"]
    train_cpu = reader + sum(cpu_of.values())
    separate = train_cpu + sum(r["cpu_s"] for r in per_wagon)
    return {
        "wagons": per_wagon,
        "analyses": sorted(analyses.values(), key=lambda a: (-a["cpu_s"], str(a["analysis"]))),
        "cpu_s": sum(r["cpu_s"] for r in per_wagon),
        "bytes": sum(r["bytes"] for r in per_wagon),
        "reader_cpu_s": reader,
        "train_cpu_s": train_cpu,
        "separate_cpu_s": separate,
        "bytes_read": read,
    }


def scaled(sample: Mapping[str, Any], scale: float) -> dict[str, Any]:
    """The sample savings extrapolated to the whole dataset (``scale``: dataset bytes /
    sample bytes), with CPU-years and kg CO2-eq."""

    def figures(cpu_s: float, nbytes: float) -> dict[str, float]:
        cpu = cpu_s * scale
        return {
            "cpu_s": cpu,
            "cpu_years": cpu / SECONDS_PER_YEAR,
            "bytes": nbytes * scale,
            "co2_kg": co2_kg_from_seconds(cpu),
        }

    return {
        "scale": scale,
        "total": figures(sample.get("cpu_s", 0.0), sample.get("bytes", 0.0)),
        "separate_cpu_s": float(sample.get("separate_cpu_s", 0.0)) * scale,
        "train_cpu_s": float(sample.get("train_cpu_s", 0.0)) * scale,
        "analyses": [
            {
                "analysis_id": a["analysis_id"],
                "analysis": a["analysis"],
                "wagons": a["wagons"],
                **figures(a["cpu_s"], a["bytes"]),
            }
            for a in sample.get("analyses", ())
        ],
    }
