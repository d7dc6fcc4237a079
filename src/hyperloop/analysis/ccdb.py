"""The conditions database client of the analysis runtime, as O2 tasks use the CCDB.

A task asks for a conditions object by path and timestamp (ms since the epoch), and for
per-run objects also by run number::

    from hyperloop.analysis import ccdb

    field = ccdb.get("GLO/Config/GRPMagField", timestamp, run=run)["bz_kg"]

Objects carry a validity interval (``valid_from`` <= timestamp < ``valid_until``) and
optionally a run range. The client keeps every object it fetched for the rest of the job
(the per-job cache, as O2's ``Service<ccdb::BasicCCDBManager>`` with caching on): a later
request inside the validity of a cached object is no call. Each call that reaches the
conditions source is counted for the device (task) that made it; the runner writes the
counts into the metrics (``conditions-calls``), and a test with too many calls gets SPEC §4
warning 4.

Where the objects come from: ``HYPERLOOP_CONDITIONS_URL`` — an ``http(s)://`` URL of a
conditions service (``hyperloop conditions serve``) or a local folder in the service's
layout — else the built-in objects of ``datamodel/conditions.toml``.

Folder layout (what the service serves): ``<folder>/<path>/<valid_from>_<valid_until>.json``,
or ``<folder>/<path>/<valid_from>_<valid_until>_run<first>-<last>.json`` for an object of a
run range; the file holds the object (a JSON object).
"""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CONDITIONS_URL_ENV = "HYPERLOOP_CONDITIONS_URL"
FOREVER = 2**63 - 1  # valid_until of an object without an end
_NAME = re.compile(r"^(\d+)_(\d+)(?:_run(\d+)-(\d+))?\.json$")


class ConditionsError(RuntimeError):
    """A conditions object that cannot be had (none valid, service unreachable)."""


@dataclass(frozen=True)
class ConditionsObject:
    """One object: its path, validity, optional run range, and payload."""

    path: str
    valid_from: int
    valid_until: int
    payload: dict[str, Any]
    first_run: int | None = None
    last_run: int | None = None

    def valid_for(self, timestamp: int, run: int | None) -> bool:
        if not self.valid_from <= timestamp < self.valid_until:
            return False
        if self.first_run is None or run is None:
            return True
        return self.first_run <= run <= int(self.last_run or self.first_run)

    @property
    def specificity(self) -> tuple[int, int]:
        """Objects of a run range before open ones, then the newest validity start."""
        return (0 if self.first_run is None else 1, self.valid_from)

    def file_name(self) -> str:
        runs = "" if self.first_run is None else f"_run{self.first_run}-{self.last_run}"
        return f"{self.valid_from}_{self.valid_until}{runs}.json"


def parse_file_name(path: str, name: str, payload: dict[str, Any]) -> ConditionsObject | None:
    m = _NAME.match(name)
    if m is None:
        return None
    first = int(m.group(3)) if m.group(3) else None
    last = int(m.group(4)) if m.group(4) else None
    return ConditionsObject(path, int(m.group(1)), int(m.group(2)), payload, first, last)


def check_path(path: str) -> str:
    """A conditions path like ``GLO/Config/GRPMagField`` (no '..', no leading '/')."""
    parts = path.strip("/").split("/")
    if not path.strip("/") or any(p in ("", ".", "..") for p in parts):
        raise ConditionsError(f"invalid conditions path {path!r}")
    return "/".join(parts)


def find(objects: list[ConditionsObject], timestamp: int, run: int | None) -> ConditionsObject:
    valid = [o for o in objects if o.valid_for(timestamp, run)]
    if not valid:
        raise LookupError(timestamp, run)
    return max(valid, key=lambda o: o.specificity)


class FolderSource:
    """Objects read from a folder in the service's layout."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def objects(self, path: str) -> list[ConditionsObject]:
        directory = self.folder / check_path(path)
        if not directory.is_dir():
            return []
        out = []
        for f in sorted(directory.iterdir()):
            if f.is_file():
                try:
                    payload = json.loads(f.read_text())
                except ValueError as exc:
                    raise ConditionsError(f"conditions object {f} is not JSON: {exc}") from None
                obj = parse_file_name(path, f.name, payload)
                if obj is not None:
                    out.append(obj)
        return out

    def fetch(self, path: str, timestamp: int, run: int | None) -> ConditionsObject:
        try:
            return find(self.objects(path), timestamp, run)
        except LookupError:
            raise ConditionsError(_none_valid(path, timestamp, run, str(self.folder))) from None


class BuiltinSource(FolderSource):
    """The objects of ``datamodel/conditions.toml`` (no service configured)."""

    def __init__(self) -> None:
        self._by_path: dict[str, list[ConditionsObject]] = {}
        for obj in builtin_objects():
            self._by_path.setdefault(obj.path, []).append(obj)

    def objects(self, path: str) -> list[ConditionsObject]:
        return self._by_path.get(check_path(path), [])

    def fetch(self, path: str, timestamp: int, run: int | None) -> ConditionsObject:
        try:
            return find(self.objects(path), timestamp, run)
        except LookupError:
            raise ConditionsError(_none_valid(path, timestamp, run, "built-in")) from None


class HttpSource:
    """Objects from a conditions service: ``GET <url>/<path>/<timestamp>[?run=N]``; the
    validity comes back in the ``Valid-From``, ``Valid-Until`` (and ``Run-First``,
    ``Run-Last``) headers."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def fetch(self, path: str, timestamp: int, run: int | None) -> ConditionsObject:
        path = check_path(path)
        query = f"?run={int(run)}" if run is not None else ""
        url = f"{self.url}/{urllib.parse.quote(path)}/{int(timestamp)}{query}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:
                payload = json.loads(resp.read())
                headers = resp.headers
        except urllib.error.HTTPError as exc:
            with exc:
                detail = exc.read().decode(errors="replace").strip()
            raise ConditionsError(
                f"conditions service {self.url}: {path} at {timestamp}: HTTP {exc.code} {detail}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ConditionsError(f"conditions service {self.url} unreachable: {exc}") from None

        def num(name: str) -> int | None:
            value = headers.get(name)
            return int(value) if value not in (None, "") else None

        return ConditionsObject(
            path,
            num("Valid-From") or 0,
            num("Valid-Until") or FOREVER,
            payload,
            num("Run-First"),
            num("Run-Last"),
        )


def _none_valid(path: str, timestamp: int, run: int | None, where: str) -> str:
    at = f"timestamp {timestamp}" + (f", run {run}" if run is not None else "")
    return f"no conditions object {path} valid at {at} ({where})"


def source_from(location: str | None) -> FolderSource | HttpSource:
    """The source a location names: an http(s) URL, a folder, or None (built-in objects)."""
    if not location:
        return BuiltinSource()
    if location.startswith(("http://", "https://")):
        return HttpSource(location)
    folder = Path(location.removeprefix("file://"))
    if not folder.is_dir():
        raise ConditionsError(f"{CONDITIONS_URL_ENV}: {location} is neither a URL nor a folder")
    return FolderSource(folder)


@dataclass
class ConditionsClient:
    """A job's conditions client: fetches through its source, caches, counts calls."""

    source: Any
    cache: dict[tuple[str, int | None], list[ConditionsObject]] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)  # device -> calls that reached the source
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(
        self, path: str, timestamp: int, *, run: int | None = None, cache: bool = True
    ) -> dict[str, Any]:
        """The payload of the object ``path`` valid at ``timestamp`` (and ``run``)."""
        key = (check_path(path), None if run is None else int(run))
        timestamp = int(timestamp)
        if cache:
            with self._lock:
                for obj in self.cache.get(key, ()):
                    if obj.valid_for(timestamp, run):
                        return obj.payload
        obj = self.source.fetch(key[0], timestamp, run)
        with self._lock:
            self.calls[_device.name] += 1
            if cache:
                self.cache.setdefault(key, []).append(obj)
        return obj.payload


class _Device(threading.local):
    name = ""


_device = _Device()
_client: ConditionsClient | None = None
_client_lock = threading.Lock()


@contextmanager
def device(name: str) -> Iterator[None]:
    """Count the calls made inside the block for device ``name`` (set by the runner)."""
    before, _device.name = _device.name, name
    try:
        yield
    finally:
        _device.name = before


def set_device(name: str) -> None:
    """Count this thread's calls for device ``name`` from now on (a device process)."""
    _device.name = name


def client() -> ConditionsClient:
    """This process's (job's) client, made on first use from ``HYPERLOOP_CONDITIONS_URL``."""
    global _client
    with _client_lock:
        if _client is None:
            _client = ConditionsClient(source_from(os.environ.get(CONDITIONS_URL_ENV)))
        return _client


def reset(source: Any = None) -> ConditionsClient | None:
    """A new client for a new job (empty cache, no calls counted); ``source`` as in
    ``source_from`` or a source object, None: from the environment."""
    global _client
    with _client_lock:
        if source is None:  # made on first use (a run that never asks never fails here)
            _client = None
            return None
        if isinstance(source, str):
            source = source_from(source)
        _client = ConditionsClient(source)
        return _client


def calls() -> dict[str, int]:
    """Calls per device of this process's client so far."""
    return dict(_client.calls) if _client is not None else {}


def get(path: str, timestamp: int, *, run: int | None = None, cache: bool = True) -> dict:
    """``client().get(...)``: what tasks call."""
    return client().get(path, timestamp, run=run, cache=cache)


CALLS_FILE_GLOB = ".conditions-calls.*.json"


def save_calls(out_dir: str | os.PathLike) -> None:
    """Leave this process's counted calls in ``out_dir`` (device processes of a run; the
    runner adds them up with ``collect_calls``)."""
    counts = calls()
    if counts:
        path = Path(out_dir) / f".conditions-calls.{os.getpid()}.json"
        path.write_text(json.dumps(counts))


def collect_calls(out_dir: str | os.PathLike) -> Counter:
    """The calls per device of this process and of the device processes that saved theirs
    in ``out_dir`` (their files removed)."""
    total: Counter = Counter(calls())
    for f in sorted(Path(out_dir).glob(CALLS_FILE_GLOB)):
        with suppress(ValueError):  # a half-written file of a killed process: not counted
            total.update(json.loads(f.read_text()))
        f.unlink(missing_ok=True)
    return total


def builtin_objects() -> list:
    """The values of ``conditions.toml`` as conditions objects: per run range (the runs
    listed) and an open default; valid at any timestamp."""
    from hyperloop.analysis.conditions import (
        BETHE_BLOCH_PATH,
        MAG_FIELD_PATH,
        ORBIT_RESET_PATH,
        conditions_data,
    )

    data = conditions_data()
    out = [
        ConditionsObject(MAG_FIELD_PATH, 0, FOREVER, {"bz_kg": float(data["default_bz_kg"])}),
        ConditionsObject(
            ORBIT_RESET_PATH, 0, FOREVER, {"orbit_reset_ms": int(data["default_orbit_reset_ms"])}
        ),
    ]
    for r in data.get("runs", []):
        first, last = int(r["first"]), int(r["last"])
        if "bz_kg" in r:
            payload = {"bz_kg": float(r["bz_kg"])}
            out.append(ConditionsObject(MAG_FIELD_PATH, 0, FOREVER, payload, first, last))
        if "orbit_reset_ms" in r:
            payload = {"orbit_reset_ms": int(r["orbit_reset_ms"])}
            out.append(ConditionsObject(ORBIT_RESET_PATH, 0, FOREVER, payload, first, last))
    calib = data.get("calibration", {}).get("tpc_bethe_bloch")
    if calib:
        out.append(ConditionsObject(BETHE_BLOCH_PATH, 0, FOREVER, dict(calib)))
    return out


def export_objects(folder) -> list[Path]:
    """Write the built-in objects into ``folder`` in the conditions service's layout."""
    written = []
    for obj in builtin_objects():
        directory = Path(folder) / obj.path
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / obj.file_name()
        path.write_text(json.dumps(obj.payload, indent=1) + "\n")
        written.append(path)
    return written


class TaskConditions:
    """A task's access to the conditions database (``self.ccdb`` in a task), as O2's
    ``Service<ccdb::BasicCCDBManager> ccdb`` with ``ccdb->getForTimeStamp<T>(path, ts)``.

    Calls go through the job's client: its cache serves every later request inside an
    object's validity, so a per-run object is fetched once per run and job, and each fetch
    is counted for this task's device (``conditions-calls`` in the metrics)."""

    def __init__(self, device: str) -> None:
        self.device = device

    def get(self, path: str, timestamp: int, *, run: int | None = None) -> dict[str, Any]:
        """The payload of ``path`` valid at ``timestamp`` (ms since the epoch), and for
        ``run`` when given (O2: ``ccdb->getForTimeStamp<T>(path, timestamp)``)."""
        return get(path, int(timestamp), run=run)

    def per_run(self, path: str, runs: Any, timestamps: Any) -> dict[int, dict[str, Any]]:
        """One object per run among ``runs`` (an array, e.g. the ``fRunNumber`` of the
        collisions' BCs), taken at the first timestamp of that run in ``timestamps`` (an
        aligned array): O2's "fetch when the run number changes" done for all rows."""
        runs = np.asarray(runs).astype(np.int64, copy=False)
        timestamps = np.asarray(timestamps).astype(np.int64, copy=False)
        if runs.shape != timestamps.shape:
            raise ConditionsError(
                f"per_run({path!r}): {runs.shape[0]} runs but {timestamps.shape[0]} timestamps"
            )
        unique, first = np.unique(runs, return_index=True)
        return {
            int(r): get(path, int(timestamps[i]), run=int(r))
            for r, i in zip(unique, first, strict=True)
        }

    def column(self, path: str, key: str, runs: Any, timestamps: Any) -> np.ndarray:
        """``payload[key]`` of the run's object for each row (``runs``, ``timestamps``
        aligned): e.g. the field Bz of each collision's run, to use row by row."""
        objects = self.per_run(path, runs, timestamps)
        runs = np.asarray(runs).astype(np.int64, copy=False)
        values = {}
        for run, payload in objects.items():
            if key not in payload:
                raise ConditionsError(
                    f"conditions object {path} (run {run}) has no {key!r}; "
                    f"it has: {', '.join(sorted(payload)) or 'nothing'}"
                )
            values[run] = payload[key]
        if not values:
            return np.zeros(0)
        order = np.array(sorted(values))
        table = np.array([values[r] for r in order])
        return table[np.searchsorted(order, runs)]

    def __repr__(self) -> str:
        return f"<conditions of task {self.device}>"
