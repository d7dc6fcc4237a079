"""A running scheduler built from the settings: database sessions, the Dask engine
(embedded ``LocalCluster`` or an external scheduler), targets from the database, the
lease and the :class:`~hyperloop.scheduler.shell.SchedulerShell`.

``run_scheduler(settings, stop)`` is the foreground loop of ``hyperloop scheduler``;
:class:`BackgroundScheduler` runs the same loop in a thread of ``hyperloop serve``. Only
the holder of the database lease acts; a second scheduler waits and says who holds it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hyperloop.core import mail
from hyperloop.core.assessment import Thresholds
from hyperloop.db.models import Target as DbTarget
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.grid.engine import Engine
from hyperloop.grid.targets import Target
from hyperloop.scheduler import decide
from hyperloop.scheduler.lease import Lease, LeaseInfo
from hyperloop.scheduler.shell import SchedulerShell, ShellConfig, Tick, WarmReadModels
from hyperloop.settings import Settings

log = logging.getLogger(__name__)
MB = 1_000_000

Report = Callable[[str], None]


def work_dir(settings: Settings) -> Path:
    """Where test outputs and train attempts go: ``work_dir`` or ``<data_dir>/work``."""
    return Path(settings.work_dir or Path(settings.data_dir) / "work").resolve()


def scheduler_config(settings: Settings) -> decide.SchedulerConfig:
    """The core's policy knobs from the settings (thresholds: defaults + overrides)."""
    defaults = Thresholds()
    overrides: dict[str, Any] = {}
    for name, value in settings.scheduler_thresholds.items():  # names checked by Settings
        overrides[name] = int(value) if isinstance(getattr(defaults, name), int) else value
    return decide.SchedulerConfig(
        max_attempts=settings.scheduler_max_attempts,
        express_fraction=settings.scheduler_express_fraction,
        max_running_tests=settings.scheduler_max_running_tests,
        thresholds=Thresholds(**overrides),
        stale_clean_every=timedelta(seconds=settings.scheduler_stale_clean_every_s),
        compose_catch_up=timedelta(seconds=settings.scheduler_compose_catch_up_s),
        long_train_expiry=timedelta(days=settings.scheduler_long_train_expiry_days),
    )


def storage_location(settings: Settings) -> str:
    """Where train jobs and merges are stored: ``storage_url`` (a folder or an fsspec URL),
    else the work folder."""
    return settings.storage_url or str(work_dir(settings))


def shell_config(settings: Settings, targets: Mapping[str, Target]) -> ShellConfig:
    """Where the scheduler's work goes and its knobs, from the settings."""
    return ShellConfig(
        work_dir=work_dir(settings),
        storage_url=settings.storage_url,
        targets=targets,
        test_target=settings.scheduler_test_target,
        test_files=settings.scheduler_test_files,
        core=scheduler_config(settings),
        mail_from=settings.mail_from,
        public_url=settings.server_url,
        storage_roots=settings.dataset_roots,
        max_files_per_job=settings.scheduler_max_files_per_job,
        slim_retention=timedelta(days=settings.slim_derived_retention_days),
        compose_every=timedelta(seconds=settings.scheduler_compose_every_s),
        batch=settings.scheduler_batch,
        dashboard_warm_s=settings.scheduler_dashboard_warm_s,
        partial_every=settings.scheduler_partial_results_every_s,
        staging_root=settings.staging_root or str(Path(settings.data_dir).resolve() / "staged"),
        story_keep=timedelta(days=settings.story_keep_days) if settings.story_keep_days else None,
    )


class DatabaseTargets(Mapping[str, Target]):
    """The targets of the database as grid targets, re-read by ``refresh()`` (once per tick,
    so an admin's new target is used without a restart), plus the test target when the
    database does not define it. Memory is stored in MB (10^6 bytes); every target gets
    the settings' wall-time limit."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self._targets: dict[str, Target] = {}
        self.refresh()

    def refresh(self) -> None:
        wall = self.settings.scheduler_job_wall_time_s
        with self.sessions() as s:
            rows = s.scalars(select(DbTarget).order_by(DbTarget.name)).all()
            found = {
                t.name: Target(
                    name=t.name,
                    cores=max(1, t.cores),
                    memory_limit_bytes=max(1, t.memory_limit_mb) * MB,
                    wall_time_limit_s=wall,
                    engine=t.engine or "local",
                )
                for t in rows
            }
        test = self.settings.scheduler_test_target
        if test not in found:
            found[test] = Target(
                name=test,
                cores=1,
                memory_limit_bytes=self.settings.scheduler_test_memory_mb * MB,
                wall_time_limit_s=wall,
            )
        self._targets = found

    def __getitem__(self, name: str) -> Target:
        return self._targets[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)


def start_engine(settings: Settings) -> Engine:
    """The external Dask scheduler of ``dask_scheduler_address``, or an embedded
    LocalCluster with ``dask_workers`` workers: single-threaded (one job at a time), or with
    ``dask_cores_per_worker`` cores and as many threads, so that its cores are shared by
    jobs of 1-core and N-core targets (N cores each) — a thread per core, never idle cores
    behind a single thread."""
    if settings.dask_scheduler_address:
        return Engine.connect(settings.dask_scheduler_address)
    cores = settings.dask_cores_per_worker
    return Engine.local(
        n_workers=settings.dask_workers,
        threads_per_worker=cores or 1,
        cores_per_worker=cores,
    )


class LazyEngine:
    """The engine of the settings, started at its first use: the shell first uses it in a
    step that holds the lease, so a standby scheduler (waiting for the lease) starts no Dask
    cluster and opens no client; an engine that cannot be started or reached fails that
    step (logged, tried again at the next)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._engine: Engine | None = None

    @property
    def started(self) -> bool:
        return self._engine is not None

    def get(self) -> Engine:
        if self._engine is None:
            self._engine = start_engine(self._settings)
        return self._engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def describe_lease(info: LeaseInfo | None) -> str:
    """'held by HOST:PID:xxxx until 12:00:31 UTC (epoch 3)' or 'free'."""
    if info is None or info.holder is None:
        return "free"
    until = info.expires_at.astimezone(UTC).strftime("%H:%M:%S UTC") if info.expires_at else "?"
    return f"held by {info.holder} until {until} (epoch {info.epoch})"


class SchedulerService:
    """One scheduler: ``tick()`` one step, ``run(stop)`` until ``stop`` is set, ``close()``.

    Owns the engine it started (and the database engine when built from settings).
    """

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        engine: Engine,
        *,
        holder: str | None = None,
        owns_engine: bool = True,
        db_engine: Any = None,
        warm_read_models: WarmReadModels | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.engine = engine
        self.owns_engine = owns_engine
        self.db_engine = db_engine
        self.targets = DatabaseTargets(sessions, settings)
        ttl = timedelta(seconds=settings.scheduler_lease_ttl_s)
        self.lease = Lease(sessions, holder, ttl=ttl)
        config = shell_config(settings, self.targets)
        mailer = mail.sender_from_settings(settings)  # SMTP, or .eml files under data_dir
        self.shell = SchedulerShell(
            sessions,
            engine,
            config,
            lease=self.lease,
            mailer=mailer,
            warm_read_models=warm_read_models,
        )
        self.held = False
        self.ticks = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        holder: str | None = None,
        warm_read_models: WarmReadModels | None = None,
    ) -> SchedulerService:
        """Connect to the database of ``settings``; the engine is ``engine``, or the one of
        the settings, started once this scheduler holds the lease (``LazyEngine``);
        ``warm_read_models``: see :class:`~hyperloop.scheduler.shell.WarmReadModels`."""
        db = make_engine(settings.database_url)
        own = engine is None
        eng: Any = engine or LazyEngine(settings)
        return cls(
            settings,
            make_sessionmaker(db),
            eng,
            holder=holder,
            owns_engine=own,
            db_engine=db,
            warm_read_models=warm_read_models,
        )

    # ------------------------------------------------------------------ the loop

    def tick(self, now: datetime | None = None) -> Tick:
        """One step: re-read targets, let the shell collect/decide/perform."""
        t0 = time.perf_counter()
        self.targets.refresh()
        out = self.shell.tick(now)
        self.ticks += 1
        self.held = out.held_lease
        if out.held_lease:  # stored with the next renewal of the lease (metrics)
            self.lease.last_tick = (time.perf_counter() - t0, datetime.now(UTC))
        return out

    def lease_info(self) -> LeaseInfo | None:
        return self.lease.info()

    def run(self, stop: threading.Event, report: Report | None = None) -> None:
        """Tick every ``scheduler_interval_s`` until ``stop`` is set; a failing step is
        logged and retried. Renews the lease from a heartbeat thread while held (a long
        merge does not let it expire) and releases it on the way out."""
        say = report or log.info
        interval = self.settings.scheduler_interval_s
        heartbeat = threading.Thread(
            target=self._heartbeat, args=(stop,), name="hyperloop-lease", daemon=True
        )
        heartbeat.start()
        was_held: bool | None = None
        try:
            while not stop.is_set():
                try:
                    tick = self.tick()
                except Exception:  # one bad step must not stop the scheduler
                    log.exception("scheduler step failed; retrying in %.1f s", interval)
                    stop.wait(interval)
                    continue
                if tick.held_lease != was_held:
                    if tick.held_lease:
                        where = work_dir(self.settings)
                        stored = storage_location(self.settings)
                        say(
                            f"scheduler active ({self.lease.holder}), work in {where}, "
                            f"train jobs and merges in {stored}"
                        )
                    else:
                        say(f"waiting for the scheduler lease: {describe_lease(self.lease_info())}")
                    was_held = tick.held_lease
                for ins in tick.unperformed:
                    log.warning("scheduler instruction not performed: %r", ins)
                stop.wait(interval)
        finally:
            stop.set()
            heartbeat.join(timeout=5)
            self.lease.release()

    def _heartbeat(self, stop: threading.Event) -> None:
        """Renew a held lease every third of its ttl; never takes one it does not hold."""
        period = max(0.2, self.settings.scheduler_lease_ttl_s / 3)
        while not stop.wait(period):
            try:
                if self.lease.held():
                    self.lease.renew()
            except Exception:  # the database is away for a moment: the next try renews
                log.exception("scheduler lease renewal failed")

    def close(self) -> None:
        """Stop the engine this service started and dispose of its database engine."""
        try:
            if self.owns_engine:
                self.engine.close()
        finally:
            if self.db_engine is not None:
                self.db_engine.dispose()


def run_scheduler(
    settings: Settings,
    stop: threading.Event,
    *,
    report: Report | None = None,
    engine: Engine | None = None,
    warm_read_models: WarmReadModels | None = None,
) -> None:
    """Build a scheduler from ``settings`` and run it until ``stop`` is set."""
    service = SchedulerService.from_settings(
        settings, engine=engine, warm_read_models=warm_read_models
    )
    try:
        service.run(stop, report)
    finally:
        service.close()


@dataclass
class BackgroundScheduler:
    """The scheduler in a daemon thread of the web server (``hyperloop serve``).

    ``start()`` returns at once; the engine starts inside the thread so the web server is
    up meanwhile. ``stop()`` ends the loop, releases the lease and stops the engine.
    """

    settings: Settings
    report: Report | None = None
    engine: Engine | None = None
    warm_read_models: WarmReadModels | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.service: SchedulerService | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()

    def start(self) -> BackgroundScheduler:
        self._thread = threading.Thread(target=self._main, name="hyperloop-scheduler", daemon=True)
        self._thread.start()
        return self

    def _main(self) -> None:
        say = self.report or log.info
        try:
            self.service = SchedulerService.from_settings(
                self.settings, engine=self.engine, warm_read_models=self.warm_read_models
            )
        except Exception as exc:
            self.error = exc
            say(f"scheduler not started: {type(exc).__name__}: {exc}")
            self.ready.set()
            return
        self.ready.set()
        try:
            self.service.run(self._stop, say)
        except Exception as exc:
            self.error = exc
            log.exception("scheduler thread ended")
        finally:
            self.service.close()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
