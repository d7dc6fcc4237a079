"""The train spec: ``full_config.json`` (SPEC §10) and ``input_data.txt``.

One JSON object describes a test or a job completely: the package tag, the cores, whether
derived data is written and which tables (``OutputDirector``), and the list of workflow
instances (wagons, subwagons, dependencies), each with a ``suffix`` and an O2-format
``configuration``. The same file reproduces the run anywhere (SPEC §7).

``FullConfig`` is the typed spec the control plane builds for a wagon test, a train test or
a train job (``hyperloop.core.full_config.build_full_config``): it travels as itself to the
worker and is serialised once, where the attempt folder's ``full_config.json`` is written;
``TrainSpec`` is what the runtime reads back from that file (``FullConfig.to_train_spec``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from hyperloop.analysis.jsonlimits import JsonLimitError, loads_limited, read_limited_bytes


class SpecError(ValueError):
    """A full_config.json or input list that cannot be used."""


@dataclass
class WorkflowEntry:
    workflow_name: str
    suffix: str = ""
    wagon_id: int | None = None
    configuration: dict[str, dict[str, Any]] = field(default_factory=dict)
    pipeline_strategy: dict[str, int] = field(default_factory=dict)
    # parameters of ``configuration`` the user added by hand ({task: [names]}): a task of
    # the running tag that does not declare one ignores it (reported), as O2 does
    added_parameters: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class OutputDirector:
    """Which produced tables go to the derived AO2D and how files are split."""

    tables: list[str] = field(default_factory=list)  # logical or O2 names
    resfile: str = "AO2D"
    ntfmerge: int = 1  # input dataframes merged into one output dataframe
    max_file_size_mb: float = 0.0  # 0: one output file (MB = 10^6 bytes)
    # output dataframes are merged until their uncompressed size reaches this (0: never)
    max_df_bytes: int = 0

    @property
    def max_file_bytes(self) -> int:
        """The file size at which the writer starts a new file (0: never)."""
        return int(self.max_file_size_mb * 1_000_000)

    @classmethod
    def from_json(cls, raw: Any) -> OutputDirector:
        if not raw:
            return cls()
        if not isinstance(raw, dict):
            raise SpecError("OutputDirector must be an object")
        raw = raw.get("OutputDirector", raw)
        tables = [
            d["table"] if isinstance(d, dict) else str(d) for d in raw.get("OutputDescriptors", [])
        ]
        return cls(
            tables=tables,
            resfile=str(raw.get("resfile", "AO2D")),
            ntfmerge=int(raw.get("ntfmerge", 1)),
            max_file_size_mb=float(raw.get("maxfilesize", 0) or 0),
            max_df_bytes=int(raw.get("maxdfsize", 0) or 0),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "resfile": self.resfile,
            "ntfmerge": self.ntfmerge,
            "maxfilesize": self.max_file_size_mb,
            "maxdfsize": self.max_df_bytes,
            "OutputDescriptors": [{"table": t} for t in self.tables],
        }


@dataclass
class TrainSpec:
    """A parsed full_config.json."""

    workflows: list[WorkflowEntry]
    package_tag: str = ""
    package_path: str | None = None
    dataset_production_type: str = "data"
    cpu_cores: int = 1
    derived_data: bool = False
    output_director: OutputDirector = field(default_factory=OutputDirector)
    allowed_parent_level: int = 0
    tf_limit: int = 0
    rate_limit: float = 0.0
    shared_memory: int = 0
    aod_max_io_rate: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    KNOWN = (
        "workflows",
        "package_tag",
        "package_path",
        "dataset_production_type",
        "cpu_cores",
        "derived_data",
        "OutputDirector",
        "allowed_parent_level",
        "tf_limit",
        "rate_limit",
        "shared_memory",
        "aod_max_io_rate",
    )

    @classmethod
    def from_json(cls, raw: Any, *, source: str = "full_config.json") -> TrainSpec:
        if not isinstance(raw, dict):
            raise SpecError(f"{source}: the top level must be a JSON object")
        entries = raw.get("workflows")
        if not isinstance(entries, list) or not entries:
            raise SpecError(f"{source}: 'workflows' must be a non-empty list")
        workflows = []
        for i, item in enumerate(entries):
            if not isinstance(item, dict) or not isinstance(item.get("workflow_name"), str):
                raise SpecError(f"{source}: workflows[{i}] needs a 'workflow_name' string")
            config = item.get("configuration") or {}
            if not isinstance(config, dict) or not all(
                isinstance(v, (dict, str)) for v in config.values()
            ):
                raise SpecError(
                    f"{source}: workflows[{i}] ({item['workflow_name']}): 'configuration' must "
                    "map task names to parameter objects"
                )
            workflows.append(
                WorkflowEntry(
                    workflow_name=item["workflow_name"],
                    suffix=str(item.get("suffix") or ""),
                    wagon_id=item.get("wagon_id"),
                    configuration={k: v for k, v in config.items() if isinstance(v, dict)},
                    pipeline_strategy=dict(item.get("pipeline_strategy") or {}),
                    added_parameters=_added_names(item, source, i),
                )
            )
        try:
            return cls(
                workflows=workflows,
                package_tag=str(raw.get("package_tag", "")),
                package_path=raw.get("package_path"),
                dataset_production_type=str(raw.get("dataset_production_type", "data")),
                cpu_cores=_bounded(raw, "cpu_cores", 1, 0, MAX_CORES),
                derived_data=bool(raw.get("derived_data", False)),
                output_director=OutputDirector.from_json(raw.get("OutputDirector")),
                allowed_parent_level=_bounded(raw, "allowed_parent_level", 0, 0, 2**31 - 1),
                tf_limit=_bounded(raw, "tf_limit", 0, 0, 2**63 - 1),
                rate_limit=_finite(raw, "rate_limit"),
                shared_memory=_bounded(raw, "shared_memory", 0, 0, 2**63 - 1),
                aod_max_io_rate=_finite(raw, "aod_max_io_rate"),
                extra={k: v for k, v in raw.items() if k not in cls.KNOWN},
            )
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{source}: {exc}") from exc

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainSpec:
        p = Path(path)
        try:
            text = read_limited_bytes(p)
        except FileNotFoundError:
            raise SpecError(f"{p}: no such file") from None
        except JsonLimitError as exc:
            raise SpecError(f"{p}: {exc}") from None
        except OSError as exc:
            raise SpecError(f"{p}: {exc.strerror or exc}") from None
        try:
            raw = loads_limited(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"{p}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
        except JsonLimitError as exc:
            raise SpecError(f"{p}: {exc}") from None
        return cls.from_json(raw, source=str(p))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "package_tag": self.package_tag,
            "dataset_production_type": self.dataset_production_type,
            "cpu_cores": self.cpu_cores,
            "derived_data": self.derived_data,
            "OutputDirector": self.output_director.to_json(),
            "allowed_parent_level": self.allowed_parent_level,
            "tf_limit": self.tf_limit,
            "rate_limit": self.rate_limit,
            "shared_memory": self.shared_memory,
            "aod_max_io_rate": self.aod_max_io_rate,
            "workflows": [_entry_json(w) for w in self.workflows],
        }
        if self.package_path:
            out["package_path"] = self.package_path
        out.update(self.extra)
        return out


MAX_CORES = 1024


def _entry_json(entry: WorkflowEntry) -> dict[str, Any]:
    """One workflow instance as written (``added_parameters`` only when there are some)."""
    out = asdict(entry)
    if not entry.added_parameters:
        del out["added_parameters"]
    return out


def _added_names(item: dict[str, Any], source: str, index: int) -> dict[str, list[str]]:
    """``added_parameters`` of a workflow instance: {task: [parameter names]}."""
    raw = item.get("added_parameters") or {}
    if not isinstance(raw, dict) or not all(
        isinstance(v, list) and all(isinstance(n, str) for n in v) for v in raw.values()
    ):
        raise SpecError(
            f"{source}: workflows[{index}] ({item['workflow_name']}): 'added_parameters' must "
            "map task names to lists of parameter names"
        )
    return {str(k): list(v) for k, v in raw.items()}


def _bounded(raw: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    """An integer field of full_config.json within [lo, hi] (ValueError naming it)."""
    value = raw.get(key, default)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit() and len(value) < 30:
        value = int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{key!r} must be an integer from {lo} to {hi}, got {value!r}")
    return value


def _finite(raw: dict[str, Any], key: str) -> float:
    """A non-negative finite number field of full_config.json (ValueError naming it)."""
    value = raw.get(key, 0)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key!r} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise ValueError(f"{key!r} must be a finite number >= 0, got {value!r}")
    return number


@dataclass(frozen=True)
class FullConfig:
    """The typed ``full_config.json`` of a test or job, as composed (SPEC §10): the package
    tag, the workflow instances (dependencies, wagons, subwagons), the tables written to a
    derived AO2D (none: no derived data) and the cores (set for the target it runs on)."""

    package_tag: str
    workflows: tuple[WorkflowEntry, ...]
    derived_tables: tuple[str, ...] = ()
    cpu_cores: int | None = None  # None: not known until a target runs it
    # the wagons' derived-data limits (bytes; None: none): output dataframes merged up to
    # max_df_size, a new derived file started at max_derived_file_size
    max_df_size: int | None = None
    max_derived_file_size: int | None = None

    def with_cores(self, cores: int) -> FullConfig:
        """The spec as it runs on a target of ``cores`` cores."""
        return replace(self, cpu_cores=cores)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``full_config.json`` (keys in the file's order)."""
        out: dict[str, Any] = {
            "package_tag": self.package_tag,
            "workflows": [
                {
                    "workflow_name": w.workflow_name,
                    "suffix": w.suffix,
                    "wagon_id": w.wagon_id,
                    "configuration": w.configuration,
                    **({"added_parameters": w.added_parameters} if w.added_parameters else {}),
                }
                for w in self.workflows
            ],
        }
        if self.derived_tables:
            out["derived_data"] = True
            director: dict[str, Any] = {
                "OutputDescriptors": [{"table": t} for t in self.derived_tables]
            }
            if self.max_derived_file_size:
                director["maxfilesize"] = self.max_derived_file_size / 1_000_000  # O2: MB
            if self.max_df_size:
                director["maxdfsize"] = int(self.max_df_size)
            out["OutputDirector"] = director
        if self.cpu_cores is not None:
            out["cpu_cores"] = self.cpu_cores
        return out

    def dumps(self) -> str:
        """The text of ``full_config.json``."""
        return json.dumps(self.to_json(), indent=2) + "\n"

    def to_train_spec(self) -> TrainSpec:
        """The runtime's spec: what ``run-train`` reads back from the written file."""
        return TrainSpec.from_json(self.to_json(), source=f"full config of {self.package_tag}")


def read_input_list(path: str | os.PathLike) -> list[str]:
    """``input_data.txt``: one file path or URL per line; blank lines and # comments skipped."""
    p = Path(path)
    try:
        lines = read_limited_bytes(p).decode("utf-8").splitlines()
    except FileNotFoundError:
        raise SpecError(f"{p}: input list not found") from None
    except JsonLimitError as exc:
        raise SpecError(f"{p}: input list {exc}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{p}: input list is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SpecError(f"{p}: {exc.strerror or exc}") from None
    files = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    if not files:
        raise SpecError(f"{p}: the input list is empty (expected one AO2D path or URL per line)")
    return files
