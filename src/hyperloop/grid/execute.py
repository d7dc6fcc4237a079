"""Run ONE job attempt: ``hyperloop run-train`` in a child process with the target's limits.

The attempt claims its own folder ``<train_dir>/<job_id>/attempt-<n>/`` (created
exclusively: a folder that already exists belongs to an attempt that started on a worker
that was lost, so this call records ``lost`` and runs nothing). It writes the job's
``full_config.json`` (the one place a scheduler's typed ``FullConfig`` is serialised,
with the target's cores) and ``input_data.txt`` there, runs the child in its own process group,
watches the PSS of the child's whole process tree and its wall time, and kills the tree
when a limit is passed. The result is an ``AttemptRecord`` (plain data): an attempt's
outputs count only when ``state == "done"``, i.e. after validation. Nothing is written
outside the attempt folder (SPEC invariants 1-2).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from hyperloop.analysis.metrics import rollup_pss
from hyperloop.analysis.spec import FullConfig
from hyperloop.grid import store
from hyperloop.grid.splitting import JobSpec
from hyperloop.grid.targets import Target

#: error kinds of a failed attempt (SPEC §3 job states, plus ``input`` and ``system``)
ERROR_KINDS = ("execution", "input", "validation", "memory", "expired", "lost", "system")

READER = "internal-dpl-aod-reader"
_FRAME_RE = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')
_EXC_RE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Failure|Exit|Interrupt)\w*)(?::|$)")

#: what an attempt runs: the control plane's typed spec, or (a train run with the grid API
#: alone, tests) the JSON object of a full_config.json
Config = FullConfig | Mapping[str, Any]


def config_on(full_config: Config, target: Target) -> dict[str, Any]:
    """The JSON object of the attempt's ``full_config.json``: the spec with the target's cores."""
    if isinstance(full_config, FullConfig):
        return full_config.with_cores(target.cores).to_json()
    config = dict(full_config)
    config["cpu_cores"] = target.cores
    return config


def write_full_config(folder: Path, full_config: Config, target: Target) -> dict[str, Any]:
    """Write ``folder/full_config.json`` (what ``run-train`` and ``hyperloop reproduce`` read
    back); returns its JSON object."""
    config = config_on(full_config, target)
    (folder / "full_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return config


@dataclass
class AttemptRecord:
    """What one attempt did; the scheduler maps it to the database (plain data, JSON-able)."""

    job_id: str
    run: int
    attempt: int
    target: str
    state: str  # "done" or "error"
    error_kind: str = ""  # one of ERROR_KINDS when state == "error"
    message: str = ""
    signature: str = ""  # exception type + place, for grouping errors
    traceback: str = ""
    exit_code: int | None = None
    reason: str = ""  # why this attempt was submitted (first, retry after ..., operator)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    max_pss_bytes: int = 0
    bytes_read: int = 0
    files: list[str] = field(default_factory=list)  # input files of the job
    failed_files: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # kind -> path (validated only)
    folder: str = ""
    host: str = ""
    worker: str = ""
    started_at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state == "done"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> AttemptRecord:
        return cls(**raw)


def ao2d_parts(outputs: dict[str, str]) -> list[str]:
    """A job's derived files in order: ``AO2D``, then ``AO2D_001``, ... (split at the max
    derived file size)."""
    extra = sorted(k for k in outputs if k.startswith("AO2D_") and k[5:].isdigit())
    return [outputs["AO2D"], *(outputs[k] for k in extra)] if "AO2D" in outputs else []


def attempt_folder(train_dir: str | os.PathLike, job_id: str, attempt: int) -> Path | str:
    """``<train_dir>/<job_id>/attempt-<n>``: a ``Path``, or a URL string when ``train_dir``
    is a URL (``s3://...``: see ``hyperloop.grid.store``)."""
    if store.is_remote(train_dir):
        return store.join(train_dir, job_id, f"attempt-{attempt}")
    return Path(train_dir) / job_id / f"attempt-{attempt}"


#: Dask event topic under which an attempt announces that it began on a worker (``Engine.
#: started_attempts``): a job queued in Dask has not begun
STARTED_TOPIC = "hyperloop-attempt-started"

#: touched by a running attempt every ``HEARTBEAT_S``; older than ``HEARTBEAT_STALE_S``
#: (and no ``record.json``): the attempt is gone (its worker died with it)
HEARTBEAT_FILE = "heartbeat"
#: written into a running attempt's folder by the scheduler (its train was killed): the
#: attempt kills its process tree and ends ``lost`` with the file's text as the reason
STOP_FILE = "stop"
HEARTBEAT_S = 2.0
HEARTBEAT_STALE_S = 20.0


def read_record(folder: str | os.PathLike) -> AttemptRecord | None:
    """The verdict an attempt left in its folder (``record.json``), or None."""
    try:
        raw = json.loads(store.read_bytes(store.join(folder, "record.json")))
        return AttemptRecord.from_dict(raw)
    except (OSError, ValueError, TypeError):
        return None


def attempt_alive(folder: str | os.PathLike, stale_s: float = HEARTBEAT_STALE_S) -> bool:
    """Whether an attempt that left no verdict may still run somewhere: its heartbeat (or,
    just started, its ``attempt.json``) is younger than ``stale_s`` seconds."""
    if store.is_remote(folder):  # an object store has no folders: the files tell
        for name in (HEARTBEAT_FILE, "attempt.json"):
            age = store.age_s(store.join(folder, name))
            if age is not None:
                return age < stale_s
        return False
    now = time.time()
    for name in (HEARTBEAT_FILE, "attempt.json"):
        try:
            return now - (Path(folder) / name).stat().st_mtime < stale_s
        except OSError:
            continue
    try:  # the folder was made, its first file not yet written
        return now - Path(folder).stat().st_mtime < stale_s
    except OSError:
        return False


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return ""


def _announce_start(job: JobSpec, attempt: int, host: str) -> None:
    """Tell the engine's clients this attempt began (a Dask event; nothing outside a worker)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return
    with contextlib.suppress(Exception):  # an announcement never fails the attempt
        msg = {"job_id": job.job_id, "attempt": attempt, "host": host}
        worker.log_event(STARTED_TOPIC, msg)


def _set_pdeathsig() -> None:
    """Supervisor side: get SIGTERM when the parent (the worker) dies (Linux only)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _children(pid: int) -> list[int]:
    """Direct children from ``/proc/<pid>/task/*/children`` (cheap); psutil as a fallback."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                out += [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []
    except OSError:
        try:
            return [c.pid for c in psutil.Process(pid).children()]
        except psutil.Error:
            return []
    return out


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += [c for c in _children(p) if c not in seen]
    return seen


def _pss(pid: int) -> int:
    try:
        value = rollup_pss(pid)
    except psutil.NoSuchProcess:
        return 0
    if value is not None:
        return value
    try:
        return psutil.Process(pid).memory_full_info().pss
    except (psutil.Error, AttributeError):
        return 0


def tree_pss(pid: int) -> int:
    """Sum of PSS (bytes) over a process and all its descendants; 0 if it is gone."""
    return sum(_pss(p) for p in tree_pids(pid))


def kill_tree(pid: int) -> None:
    """SIGKILL a process, its process group and every descendant found."""
    children = tree_pids(pid)[1:]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def signature_from_traceback(tb: str, exc_type: str = "") -> str:
    """``ExcType at file.py:function`` from the innermost frame of a Python traceback."""
    frames = _FRAME_RE.findall(tb)
    if not exc_type:
        for line in reversed(tb.strip().splitlines()):
            m = _EXC_RE.match(line.strip())
            if m:
                exc_type = m.group(1).rsplit(".", 1)[-1]
                break
    place = ""
    if frames:
        path, _line, func = frames[-1]
        place = f"{Path(path).name}:{func}"
    return f"{exc_type or 'Error'} at {place}" if place else (exc_type or "Error")


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def run_command(
    config_path: Path,
    input_path: Path,
    out: Path,
    target: Target,
    package_dir: str | None,
    mode: str = "auto",
) -> list[str]:
    """The child's command line: the same ``hyperloop run-train`` a user runs locally,
    under the supervisor that takes the job's process group down if the worker dies.
    ``mode`` is run-train's ``--mode`` (tests run ``processes``: every device in its own
    process, so that each wagon's memory is its own)."""
    cmd = [
        sys.executable,
        "-m",
        "hyperloop.grid.supervise",
        "--",
        sys.executable,
        "-m",
        "hyperloop",
        "run-train",
        str(config_path),
        "--input",
        str(input_path),
        "--out",
        str(out),
        "--cores",
        str(target.cores),
    ]
    if package_dir:
        cmd += ["--package", str(package_dir)]
    if mode != "auto":
        cmd += ["--mode", mode]
    return cmd


PROFILE_FILE = "profile.speedscope.json"


def _py_spy() -> str | None:
    """The py-spy executable installed beside this Python (or on PATH), if any."""
    beside = Path(sys.executable).with_name("py-spy")
    if beside.is_file():
        return str(beside)
    import shutil

    return shutil.which("py-spy")


def start_profiler(pid: int, folder: Path) -> subprocess.Popen | None:
    """Sample ``pid`` and its subprocesses (the devices) with py-spy into a speedscope file.

    The profiler attaches from outside, so a job never depends on it: when py-spy is
    missing or may not attach (no ptrace permission), the attempt runs unprofiled and
    ``profile.log`` says why.
    """
    exe = _py_spy()
    if exe is None:
        (folder / "profile.log").write_text("py-spy is not installed: no profile\n")
        return None
    log = (folder / "profile.log").open("wb")
    try:
        return subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--rate",
                "50",
                "--format",
                "speedscope",
                "--output",
                str(folder / PROFILE_FILE),
                "--nonblocking",
                "--idle",  # wall time: waits (I/O, sleeps) show too
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        log.write(f"py-spy could not start: {exc}\n".encode())
        return None
    finally:
        log.close()


def stop_profiler(proc: subprocess.Popen | None, timeout: float = 20.0) -> None:
    """Wait for py-spy to write its file after the profiled process ended."""
    if proc is None:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def execute_attempt(
    job: JobSpec,
    full_config: Config,
    target: Target,
    train_dir: str | os.PathLike,
    attempt: int,
    *,
    package_dir: str | os.PathLike | None = None,
    expected_tasks: list[str] | None = None,
    reason: str = "",
    poll_interval: float = 0.1,
    profile: bool = False,
    mode: str = "auto",
    package_digest: str = "",
) -> AttemptRecord:
    """Run one attempt of ``job`` on ``target``; see the module doc. Never raises for job errors.

    ``profile``: sample the attempt with py-spy into ``profile.speedscope.json`` (tests).
    ``mode``: how run-train runs the devices (``processes`` for tests: memory per device).

    ``train_dir`` a URL (``s3://...``): the attempt is computed in a local scratch folder
    (``store.worker_scratch()``); it claims its remote folder by writing ``attempt.json``
    there, sends its heartbeat every ``REMOTE_BEAT_S`` (and reads a ``stop`` file there),
    and at the end uploads its folder, the verdict ``record.json`` last, with the outputs
    named by their URLs. An upload that fails makes the attempt a ``system`` error
    (signature ``StorageError at upload``): the scheduler retries it elsewhere.

    ``package_dir`` a URL (a tag published to the storage): fetched once into the worker's
    cache and verified against ``package_digest`` (``store.fetch_tag``); a tag that cannot
    be fetched or whose content differs fails the attempt (``system``, ``TagFetchError``),
    never runs other code.
    """
    remote = (
        str(attempt_folder(train_dir, job.job_id, attempt)) if store.is_remote(train_dir) else ""
    )
    if remote:
        folder = store.worker_scratch() / f"{job.job_id}-a{attempt}-{os.getpid()}-{time.time_ns()}"
    else:
        folder = Path(attempt_folder(train_dir, job.job_id, attempt))
    rec = AttemptRecord(
        job_id=job.job_id,
        run=job.run,
        attempt=attempt,
        target=target.name,
        state="error",
        reason=reason,
        files=list(job.files),
        folder=remote or str(folder),
        host=socket.gethostname(),
        worker=_worker_address(),
        started_at=time.time(),
    )
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        if remote and store.exists(store.join(remote, "attempt.json")):
            raise FileExistsError(remote)
        folder.mkdir()
    except FileExistsError:
        rec.error_kind = "lost"
        rec.message = (
            f"attempt folder {rec.folder} already exists: this attempt started before on a "
            "worker that was lost; its output is discarded and the job resubmitted"
        )
        rec.signature = "LostWorker"
        return rec
    claim = {
        "job": job.to_dict(),
        "attempt": attempt,
        "target": target.to_dict(),
        "reason": reason,
        "mode": mode,
        "host": rec.host,
        "worker": rec.worker,
        "started_at": rec.started_at,
    }
    _write_json(folder / "attempt.json", claim)
    if remote:
        try:
            store.write_bytes(store.join(remote, "attempt.json"), json.dumps(claim).encode())
        except OSError as exc:
            _remove_scratch(folder)
            return _storage_failed(rec, remote, exc, "claim")
    _announce_start(job, attempt, rec.host)
    config = write_full_config(folder, full_config, target)
    config_path = folder / "full_config.json"
    input_path = folder / "input_data.txt"
    input_path.write_text("".join(f"{f}\n" for f in job.files))
    if package_dir and store.is_remote(package_dir):
        try:
            package_dir = store.fetch_tag(os.fspath(package_dir), package_digest)
        except store.TagFetchError as exc:
            rec.error_kind = "system"
            rec.message = str(exc)[:500]
            rec.signature = "TagFetchError"
            if remote:
                return _upload(rec, folder, remote)
            _write_json(folder / "record.json", rec.to_dict())
            return rec
    cmd = run_command(
        config_path, input_path, folder, target, str(package_dir) if package_dir else None, mode
    )
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(target.cores)
    console = folder / "console.log"
    heartbeat = folder / HEARTBEAT_FILE
    heartbeat.touch()
    beat = time.monotonic()
    remote_beat = _RemoteBeat(remote)
    killed = ""
    t0 = time.monotonic()
    with console.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=folder,
            env=env,
            start_new_session=True,
            preexec_fn=_set_pdeathsig,  # noqa: PLW1509 - only calls prctl
        )
        profiler = start_profiler(proc.pid, folder) if profile else None
        status, usage = 0, None
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() - beat >= HEARTBEAT_S:  # alive (a restarted scheduler reads it)
                    heartbeat.touch()
                    beat = time.monotonic()
                    if remote_beat.due() and remote_beat.stopped(folder):
                        killed = "stopped"
                pss = tree_pss(proc.pid)
                rec.max_pss_bytes = max(rec.max_pss_bytes, pss)
                elapsed = time.monotonic() - t0
                if pss > target.memory_limit_bytes:
                    killed = "memory"
                elif killed or (folder / STOP_FILE).exists():
                    killed = "stopped"
                elif elapsed > target.wall_time_limit_s:
                    killed = "expired"
                if killed:
                    kill_tree(proc.pid)
                    _pid, status, usage = os.wait4(proc.pid, 0)
                    break
                # poll fast at first (short jobs, early spikes), then every 4 intervals
                time.sleep(poll_interval if elapsed < 5 else 4 * poll_interval)
        except BaseException:
            kill_tree(proc.pid)
            with contextlib.suppress(ChildProcessError):
                os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise
        finally:
            # the supervisor is gone (ended, or killed alone: kill -9 of its pid); take its
            # process group with it, so that no run-train goes on without limits
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            stop_profiler(profiler)
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code  # reaped by wait4; keeps Popen from warning
    rec.wall_s = time.monotonic() - t0
    rec.exit_code = code
    if usage is not None:
        rec.cpu_s = usage.ru_utime + usage.ru_stime
    _interpret(rec, folder, job, config, target, code, killed, expected_tasks)
    if remote:
        return _upload(rec, folder, remote)
    _write_json(folder / "record.json", rec.to_dict())  # the verdict, for a restarted scheduler
    return rec


#: how often an attempt stored remotely sends its heartbeat and looks for a stop file
REMOTE_BEAT_S = 5.0


class _RemoteBeat:
    """The heartbeat of an attempt stored remotely (none for a local one): every
    ``REMOTE_BEAT_S`` it writes ``heartbeat`` in the remote folder and reads ``stop``."""

    def __init__(self, remote: str) -> None:
        self.remote = remote
        self.last = time.monotonic()

    def due(self) -> bool:
        if not self.remote or time.monotonic() - self.last < REMOTE_BEAT_S:
            return False
        self.last = time.monotonic()
        return True

    def stopped(self, folder: Path) -> bool:
        """Send the heartbeat; True when the scheduler wrote a stop file (copied locally, for
        the verdict's message). A storage that does not answer for a moment is no verdict."""
        with contextlib.suppress(OSError):
            store.write_bytes(store.join(self.remote, HEARTBEAT_FILE), str(time.time()).encode())
        try:
            text = store.read_bytes(store.join(self.remote, STOP_FILE))
        except OSError:
            return False
        (folder / STOP_FILE).write_bytes(text)
        return True


def _storage_failed(
    rec: AttemptRecord, remote: str, exc: BaseException, step: str
) -> AttemptRecord:
    """The verdict of an attempt whose folder could not be written to storage: a ``system``
    error, one signature whatever the storage said (errors group), the message bounded."""
    rec.state = "error"
    rec.error_kind = "system"
    rec.outputs = {}
    detail = f"{type(exc).__name__}: {exc}"
    if len(detail) > 300:
        detail = detail[:300] + "..."
    rec.message = f"the attempt's outputs could not be stored in {remote} ({step}): {detail}"
    rec.signature = "StorageError at upload"
    return rec


def _upload(rec: AttemptRecord, folder: Path, remote: str) -> AttemptRecord:
    """Upload a finished attempt computed in ``folder`` to ``remote``: its files, then the
    verdict ``record.json`` (outputs named by URL). The scratch folder is removed."""
    try:
        if rec.ok:  # the outputs as the scheduler and the web servers will read them
            rec.outputs = {
                kind: store.join(remote, Path(path).relative_to(folder.resolve()).as_posix())
                for kind, path in rec.outputs.items()
            }
        store.upload_folder(folder, remote, skip=frozenset({HEARTBEAT_FILE, "record.json"}))
    except Exception as exc:  # the storage refused or is unreachable: retried elsewhere
        _storage_failed(rec, remote, exc, "upload")
    try:
        store.write_bytes(
            store.join(remote, "record.json"),
            (json.dumps(rec.to_dict(), indent=1, default=str) + "\n").encode(),
        )
    except Exception as exc:  # no verdict stored: the scheduler still gets this record
        if rec.ok:
            _storage_failed(rec, remote, exc, "record.json")
    _remove_scratch(folder)
    return rec


def _remove_scratch(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename) so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def _interpret(
    rec: AttemptRecord,
    folder: Path,
    job: JobSpec,
    config: dict[str, Any],
    target: Target,
    code: int,
    killed: str,
    expected_tasks: list[str] | None,
) -> None:
    """Map how the child ended (limits, exit code, run_report.json) to state and error kind."""
    console = folder / "console.log"
    report = _load_report(folder)
    if report is not None:
        rec.bytes_read = int(
            sum(d.get("bytes_compressed", 0) for d in report.get("devices", {}).values())
        )
        rec.failed_files = [f["file"] for f in report.get("files", []) if not f.get("ok", True)]
    if killed == "memory":
        rec.error_kind = "memory"
        rec.message = (
            f"killed: PSS of the job's processes reached {rec.max_pss_bytes / 1e6:.0f} MB, above "
            f"the memory limit of target {target.name} ({target.memory_limit_bytes / 1e6:.0f} MB)"
        )
        rec.signature = "MemoryLimitExceeded"
    elif killed == "stopped":
        rec.error_kind = "lost"
        why = _tail(folder / STOP_FILE, 1) or "the scheduler stopped it"
        rec.message = f"stopped: {why}"
        rec.signature = "Stopped"
    elif killed == "expired":
        rec.error_kind = "expired"
        rec.message = (
            f"killed: still running after {target.wall_time_limit_s:g} s, the wall-time limit "
            f"of target {target.name}"
        )
        rec.signature = "WallTimeExceeded"
    elif code == 0:
        _validate(rec, folder, job, report, config, expected_tasks)
    elif code == 1 and report is not None and report.get("failed_files"):
        _input_error(rec, report)
    elif code == 3 and report is not None and report.get("task_failure"):
        tf = report["task_failure"]
        rec.error_kind = "execution"
        rec.message = f"task {tf['task']} failed on {tf['file']} {tf['dataframe']}: {tf['error']}"
        rec.traceback = tf.get("traceback", "")
        rec.signature = signature_from_traceback(rec.traceback, tf["error"].split(":")[0])
    else:
        rec.error_kind = "execution"
        sig = -code if code < 0 else code - 128 if code > 128 else 0
        how = f"killed by signal {_signame(sig)}" if sig else f"ended with exit code {code}"
        tail = _tail(console)
        rec.message = f"run-train {how}" + (f": {tail.splitlines()[-1]}" if tail else "")
        rec.traceback = tail
        rec.signature = signature_from_traceback(tail) if "Traceback" in tail else f"ExitCode{code}"


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def _load_report(folder: Path) -> dict[str, Any] | None:
    try:
        report = _read_json(folder / "run_report.json")
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def _input_error(rec: AttemptRecord, report: dict[str, Any]) -> None:
    bad = [f for f in report.get("files", []) if not f.get("ok", True)]
    rec.error_kind = "input"
    rec.message = "; ".join(f"input file {f['file']} failed: {f['message']}" for f in bad)
    types = sorted({f.get("error_type") or "Error" for f in bad})
    rec.signature = f"{'/'.join(types)} at input file"
    rec.traceback = "\n".join(f"{f['file']}: {f['error_type']}: {f['message']}" for f in bad)


def _fail_validation(rec: AttemptRecord, message: str) -> None:
    rec.state = "error"
    rec.error_kind = "validation"
    rec.message = f"output validation failed: {message}"
    rec.signature = "ValidationError at output"
    rec.outputs = {}


def _validate(
    rec: AttemptRecord,
    folder: Path,
    job: JobSpec,
    report: dict[str, Any] | None,
    config: dict[str, Any],
    expected_tasks: list[str] | None,
) -> None:
    """Check every output of a finished attempt; only then do its outputs count."""
    import uproot

    if report is None:
        return _fail_validation(rec, f"{folder / 'run_report.json'} missing or not JSON")
    for name in ("performanceMetrics.json", "metrics_summary.json"):
        try:
            _read_json(folder / name)
        except (OSError, ValueError) as exc:
            return _fail_validation(rec, f"{folder / name}: {exc}")
    done = [f["file"] for f in report.get("files", []) if f.get("ok")]
    if done != list(job.files):
        missing = sorted(set(job.files) - set(done))
        return _fail_validation(
            rec, f"the run processed {len(done)} of {len(job.files)} input files; missing {missing}"
        )
    outputs: dict[str, str] = {}
    for kind, path in report.get("outputs", {}).items():
        p = Path(path).resolve()
        if folder.resolve() not in p.parents:
            return _fail_validation(rec, f"output {p} is outside the attempt folder {folder}")
        outputs[kind] = str(p)
    instances = [t["instance"] for t in report.get("plan", {}).get("tasks", [])]
    results = outputs.get("AnalysisResults")
    if expected_tasks and not results:
        return _fail_validation(rec, f"no AnalysisResults.root in {folder}")
    if results:
        try:
            with uproot.open(results) as f:
                top = set(f.keys(recursive=False, cycle=False))
                for key in f.keys(recursive=True, cycle=False):
                    f.classname_of(key)
        except Exception as exc:
            return _fail_validation(rec, f"{results} does not open: {type(exc).__name__}: {exc}")
        wanted = set(expected_tasks or [])
        if not wanted <= top:
            return _fail_validation(
                rec, f"{results} lacks task directories {sorted(wanted - top)} (has {sorted(top)})"
            )
        if instances and not top <= set(instances):
            return _fail_validation(
                rec, f"{results} has directories {sorted(top - set(instances))} of no task"
            )
    derived = report.get("plan", {}).get("derived_tables") if config.get("derived_data") else None
    if derived:
        ao2d = outputs.get("AO2D")
        if not ao2d:
            return _fail_validation(rec, f"derived data expected but no AO2D file in {folder}")
        for part in ao2d_parts(outputs):  # AO2D.root, AO2D_001.root, ... (max file size)
            try:
                with uproot.open(part) as f:
                    dfs = [k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_")]
            except Exception as exc:
                return _fail_validation(rec, f"{part} does not open: {type(exc).__name__}: {exc}")
            if not dfs:
                return _fail_validation(rec, f"{part} holds no DF_ dataframes")
    if not outputs:
        return _fail_validation(rec, f"the run left no output file in {folder}")
    rec.state = "done"
    rec.error_kind = ""
    rec.outputs = outputs
    rec.outputs["performanceMetrics"] = str((folder / "performanceMetrics.json").resolve())
    rec.outputs["metrics_summary"] = str((folder / "metrics_summary.json").resolve())
    return None
