"""The distributed engine: Dask ``LocalCluster`` (embedded) or an external scheduler.

``Engine`` submits job attempts (``execute_attempt`` on a worker) and returns their Dask
futures; what happens next (retries, lost workers, restarts) is the scheduler's
(``hyperloop.scheduler.decide`` and ``trainwork``), the one driver of train jobs.

For clusters beyond one machine, start a scheduler and workers yourself (``dask scheduler``,
``dask worker ADDRESS``; or ``dask_jobqueue.HTCondorCluster`` / ``SLURMCluster`` whose
``scheduler_address`` you pass to ``Engine.connect``). Workers need this package installed
and ``train_dir`` / input paths visible on a shared filesystem.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections import deque
from typing import Any

from hyperloop.grid.execute import STARTED_TOPIC, Config, execute_attempt
from hyperloop.grid.splitting import JobSpec
from hyperloop.grid.targets import Target


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
        # attempts that announced they began on a worker (``execute_attempt``), until read
        self._started: deque[dict[str, Any]] = deque()
        with contextlib.suppress(Exception):  # a client without events: nothing announced
            client.subscribe_topic(STARTED_TOPIC, self._on_started)

    def _on_started(self, event: Any) -> None:
        _when, msg = event
        if isinstance(msg, dict):
            self._started.append(msg)

    def started_attempts(self) -> list[dict[str, Any]]:
        """The attempts that began on a worker since the last call:
        ``{"job_id", "attempt", "host"}`` each (queued ones have not)."""
        out = []
        while self._started:
            out.append(self._started.popleft())
        return out

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
