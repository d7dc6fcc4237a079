"""The distributed engine: Dask ``LocalCluster`` (embedded) or an external scheduler.

``Engine`` submits job attempts (``execute_attempt`` on a worker); ``run_jobs`` drives a
set of jobs to an end: automatic resubmission up to a limit with the reason kept per
attempt, memory-killed jobs retried on a target with more memory per job, lost workers
(``KilledWorker`` or a rerun finding its attempt folder taken) recorded as ``lost`` and
resubmitted as a new attempt in a new folder. At most one validated attempt per job counts.

For clusters beyond one machine, start a scheduler and workers yourself (``dask scheduler``,
``dask worker ADDRESS``; or ``dask_jobqueue.HTCondorCluster`` / ``SLURMCluster`` whose
``scheduler_address`` you pass to ``Engine.connect``). Workers need this package installed
and ``train_dir`` / input paths visible on a shared filesystem.
"""

from __future__ import annotations

import os
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hyperloop.grid.execute import (
    ERROR_KINDS,
    AttemptRecord,
    Config,
    attempt_folder,
    execute_attempt,
    signature_from_traceback,
)
from hyperloop.grid.splitting import JobSpec
from hyperloop.grid.targets import Target, pick_target_with_more_memory


class EngineError(RuntimeError):
    """The engine cannot be started or reached."""


class Engine:
    """A Dask client (and the cluster it owns, if embedded).

    ``submit`` asks the scheduler for the workers' resources at most once per
    ``RESOURCES_TTL_S`` (one round trip, not one per job); ``forget_resources()`` makes the
    next submission ask again (the scheduler shell calls it at every tick).
    """

    RESOURCES_TTL_S = 2.0

    def __init__(self, client: Any, cluster: Any = None) -> None:
        self.client = client
        self.cluster = cluster
        self._offered: tuple[float, dict[str, float]] | None = None  # (when, cores_offered)

    @classmethod
    def local(
        cls,
        n_workers: int = 2,
        threads_per_worker: int = 1,
        *,
        cores_per_worker: int | None = None,
        memory_limit: str | int | None = "auto",
        **options: Any,
    ) -> Engine:
        """Start an embedded LocalCluster: worker processes under nannies (restarted if killed).

        Without ``cores_per_worker`` each worker thread is one job slot, whatever the
        target's cores. With it, workers declare a ``cores`` resource and a job of an
        N-core target takes N of them (as ``dask worker --resources cores=N`` does on a
        real cluster), so multi-core jobs do not oversubscribe a machine.
        """
        from distributed import Client, LocalCluster

        if cores_per_worker is not None:
            options["resources"] = {"cores": cores_per_worker}
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=options.pop("dashboard_address", "127.0.0.1:0"),
            memory_limit=memory_limit,
            **options,
        )
        return cls(Client(cluster), cluster)

    @classmethod
    def connect(cls, address: str, timeout: float = 20.0) -> Engine:
        """Use an external scheduler, e.g. ``tcp://10.0.0.5:8786``."""
        from distributed import Client

        try:
            client = Client(address, timeout=timeout)
        except OSError as exc:
            raise EngineError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        return cls(client)

    @classmethod
    def for_target(cls, target: Target, **local_options: Any) -> Engine:
        """The engine a target names: ``local`` or a scheduler address."""
        if target.engine == "local":
            return cls.local(**local_options)
        return cls.connect(target.engine)

    # ------------------------------------------------------------------ submission
    def submit(
        self,
        job: JobSpec,
        full_config: Config,
        target: Target,
        train_dir: str | os.PathLike,
        attempt: int,
        **kwargs: Any,
    ) -> Any:
        """A future of ``execute_attempt(job, ...)`` running on some worker.

        When workers declare a ``cores`` resource the attempt asks for the target's cores;
        a target needing more cores than any worker offers is refused (it would wait forever).
        """
        key = f"hyperloop-attempt-{job.job_id}-a{attempt}-{uuid.uuid4().hex[:8]}"
        offered = self._cores_offered_recent()
        resources = None
        if offered:
            if target.cores > max(offered.values()):
                raise EngineError(
                    f"target {target.name} needs {target.cores} cores per job but the largest "
                    f"worker offers {max(offered.values()):g} (workers' 'cores' resource)"
                )
            resources = {"cores": target.cores}
        return self.client.submit(
            execute_attempt,
            job,
            full_config,
            target,
            os.fspath(train_dir),
            attempt,
            key=key,
            pure=False,
            resources=resources,
            **kwargs,
        )

    def forget_resources(self) -> None:
        """Ask the scheduler for the workers' resources again at the next submission."""
        self._offered = None

    def _cores_offered_recent(self) -> dict[str, float]:
        """``cores_offered()``, re-read when older than ``RESOURCES_TTL_S``."""
        now = time.monotonic()
        if self._offered is None or now - self._offered[0] > self.RESOURCES_TTL_S:
            self._offered = (now, self.cores_offered())
        return self._offered[1]

    def cores_offered(self) -> dict[str, float]:
        """Worker address -> its declared ``cores`` resource (empty if workers declare none)."""
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except TypeError:  # older distributed
            info = self.client.scheduler_info()
        return {
            addr: float(w.get("resources", {})["cores"])
            for addr, w in info.get("workers", {}).items()
            if "cores" in w.get("resources", {})
        }

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> process id (for operators, and tests that kill workers)."""
        return self.client.run(os.getpid)

    def running(self) -> dict[str, list[str]]:
        """Worker address -> keys of the tasks it is processing."""
        return {w: list(keys) for w, keys in self.client.processing().items()}

    def wait_for_workers(self, n: int, timeout: float = 30.0) -> None:
        self.client.wait_for_workers(n, timeout=timeout)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """How failed attempts are resubmitted automatically."""

    max_attempts: int = 3
    retry_kinds: frozenset[str] = frozenset(ERROR_KINDS)
    bigger_target_on_memory: bool = True


@dataclass
class JobOutcome:
    """A job and its attempts; ``result`` is the one validated attempt that counts."""

    job: JobSpec
    attempts: list[AttemptRecord] = field(default_factory=list)

    @property
    def result(self) -> AttemptRecord | None:
        return next((a for a in self.attempts if a.ok), None)

    @property
    def state(self) -> str:
        """``done``, or the error kind of the last attempt, or ``waiting``."""
        if self.result is not None:
            return "done"
        return self.attempts[-1].error_kind if self.attempts else "waiting"


def lost_record(
    job: JobSpec, attempt: int, target: Target, train_dir: str | os.PathLike, exc: BaseException
) -> AttemptRecord:
    """The record of an attempt whose future failed (worker died, or an engine error)."""
    from distributed import KilledWorker

    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    lost = isinstance(exc, KilledWorker)
    return AttemptRecord(
        job_id=job.job_id,
        run=job.run,
        attempt=attempt,
        target=target.name,
        state="error",
        error_kind="lost" if lost else "system",
        message=(
            f"worker lost while running the attempt ({type(exc).__name__}: {exc})"
            if lost
            else f"the engine could not run the attempt: {type(exc).__name__}: {exc}"
        ),
        signature="LostWorker" if lost else signature_from_traceback(tb, type(exc).__name__),
        traceback=tb,
        files=list(job.files),
        folder=str(attempt_folder(train_dir, job.job_id, attempt)),
    )


def plan_retry(
    rec: AttemptRecord,
    attempts_made: int,
    current: Target,
    targets: Mapping[str, Target],
    policy: RetryPolicy,
) -> tuple[Target, str] | None:
    """Whether (and where, and why) a finished attempt is resubmitted; pure, no engine.

    ``None`` when the attempt succeeded, its error kind is not retried, or the job has
    used ``policy.max_attempts``. A memory kill moves to the target with the least memory
    per job above the current one, when one exists; the reason says so.
    """
    if rec.ok or rec.error_kind not in policy.retry_kinds:
        return None
    if attempts_made >= policy.max_attempts:
        return None
    reason = f"automatic retry after {rec.error_kind} in attempt {rec.attempt}"
    nxt = current
    if rec.error_kind == "memory" and policy.bigger_target_on_memory:
        bigger = pick_target_with_more_memory(targets, current)
        if bigger is not None:
            nxt = bigger
            reason += (
                f", on target {bigger.name} with more memory per job "
                f"({bigger.memory_limit_bytes / 1e6:.0f} MB instead of "
                f"{current.memory_limit_bytes / 1e6:.0f} MB)"
            )
        else:
            reason += f", same target {current.name} (no target has more memory per job)"
    return nxt, reason


def run_jobs(
    engine: Engine,
    jobs: Iterable[JobSpec],
    full_config: Config,
    targets: Mapping[str, Target],
    target: str,
    train_dir: str | os.PathLike,
    *,
    package_dir: str | os.PathLike | None = None,
    expected_tasks: list[str] | None = None,
    policy: RetryPolicy = RetryPolicy(),
    history: Mapping[str, list[AttemptRecord]] | None = None,
    first_reason: str = "submitted",
    on_attempt: Callable[[AttemptRecord], None] | None = None,
) -> dict[str, JobOutcome]:
    """Run every job until it is done or out of attempts; returns outcomes by job id.

    ``history`` (attempts already made, e.g. from the database) continues the attempt
    numbering, so an operator resubmission (``first_reason="operator resubmission"``)
    never reuses a folder. ``on_attempt`` sees each record as it arrives (to record it).
    """
    from distributed import as_completed

    if target not in targets:
        raise KeyError(f"unknown target {target!r}; known: {', '.join(sorted(targets))}")
    outcomes: dict[str, JobOutcome] = {}
    pending: dict[Any, tuple[JobSpec, int, Target]] = {}
    ac = as_completed()
    options = {"package_dir": package_dir, "expected_tasks": expected_tasks}

    def submit(job: JobSpec, attempt: int, tgt: Target, reason: str) -> None:
        fut = engine.submit(job, full_config, tgt, train_dir, attempt, reason=reason, **options)
        pending[fut] = (job, attempt, tgt)
        ac.add(fut)

    for job in jobs:
        past = list((history or {}).get(job.job_id, []))
        outcomes[job.job_id] = JobOutcome(job, past)
        if any(a.ok for a in past):
            continue
        tgt = targets[past[-1].target] if past and past[-1].target in targets else targets[target]
        reason = first_reason if past else "submitted"
        submit(job, max((a.attempt for a in past), default=0) + 1, tgt, reason)

    for fut in ac:
        job, attempt, tgt = pending.pop(fut)
        rec: AttemptRecord
        if fut.status == "finished":
            rec = fut.result()
        else:
            try:
                exc = fut.exception()
            except BaseException as cancelled:  # noqa: BLE001 - a cancelled future raises
                exc = cancelled
            rec = lost_record(job, attempt, tgt, train_dir, exc)
        fut.release()
        outcome = outcomes[job.job_id]
        if rec.ok and outcome.result is not None:  # a second valid attempt never counts
            rec.state, rec.error_kind = "error", "system"
            rec.message, rec.outputs = "duplicate: the job already has a validated attempt", {}
        outcome.attempts.append(rec)
        if on_attempt is not None:
            on_attempt(rec)
        decision = plan_retry(rec, len(outcome.attempts), tgt, targets, policy)
        if decision is not None:
            nxt, reason = decision
            submit(job, attempt + 1, nxt, reason)
    return outcomes


# ---------------------------------------------------------------------- error groups


@dataclass
class ErrorGroup:
    """Failed attempts sharing one signature (exception type + place)."""

    signature: str
    kind: str
    count: int
    jobs: list[str]
    message: str  # of the first attempt in the group
    traceback: str  # one full traceback


def group_errors(records: Iterable[AttemptRecord]) -> list[ErrorGroup]:
    """Failed attempts grouped by (kind, signature), most frequent first."""
    groups: dict[tuple[str, str], ErrorGroup] = {}
    for rec in records:
        if rec.ok:
            continue
        key = (rec.error_kind, rec.signature or rec.error_kind)
        g = groups.get(key)
        if g is None:
            groups[key] = ErrorGroup(
                key[1], rec.error_kind, 1, [rec.job_id], rec.message, rec.traceback
            )
            continue
        g.count += 1
        if rec.job_id not in g.jobs:
            g.jobs.append(rec.job_id)
        if not g.traceback and rec.traceback:
            g.traceback = rec.traceback
    return sorted(groups.values(), key=lambda g: (-g.count, g.signature))
