"""``hyperloop scheduler``: run the scheduler in the foreground (its own process).

Only one scheduler acts at a time (a lease in the database); a second one waits, says who
holds the lease, and takes over when the holder stops renewing it. SIGTERM or Ctrl-C stop
it cleanly (lease released, engine closed).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated

import typer


def _say(message: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    typer.echo(f"{stamp} {message}")
    sys.stdout.flush()


def summary(instructions: list) -> str:
    """'SplitTrain, SubmitJob x6' from a tick's instructions."""
    counts = Counter(type(i).__name__ for i in instructions)
    return ", ".join(f"{k} x{n}" if n > 1 else k for k, n in counts.items()) or "nothing to do"


def _other_holder(database_url: str) -> str | None:
    """'held by ... until ...' when an unexpired lease is held (by anyone), else None."""
    from hyperloop.db.session import make_engine, make_sessionmaker
    from hyperloop.scheduler.lease import Lease
    from hyperloop.scheduler.service import describe_lease

    db = make_engine(database_url)
    try:
        info = Lease(make_sessionmaker(db), "probe").info()
    finally:
        db.dispose()
    if info is None or info.holder is None or info.expires_at is None:
        return None
    return describe_lease(info) if info.expires_at > datetime.now(UTC) else None


def register(app: typer.Typer) -> None:
    """Add the ``scheduler`` command."""

    @app.command("scheduler")
    def scheduler(
        once: Annotated[
            bool,
            typer.Option(
                "--once",
                help="Do one step and exit (work started on an embedded cluster stops with it; "
                "the next scheduler requeues it).",
            ),
        ] = False,
        migrate: Annotated[
            bool | None,
            typer.Option(
                "--migrate/--no-migrate",
                help="Upgrade the database schema first (default: run_migrations_on_start).",
            ),
        ] = None,
        log_level: Annotated[
            str, typer.Option(help="Logging level: DEBUG, INFO, WARNING.")
        ] = "INFO",
    ) -> None:
        """Run the scheduler: tests, trains, jobs, merges, on the configured Dask engine.

        Uses the server settings (HYPERLOOP_DATABASE_URL, HYPERLOOP_DASK_SCHEDULER_ADDRESS,
        HYPERLOOP_DASK_WORKERS, HYPERLOOP_SCHEDULER_*; see `hyperloop settings`).
        """
        from hyperloop.db.migrate import upgrade
        from hyperloop.readmodels import dashboard
        from hyperloop.scheduler.service import SchedulerService, describe_lease
        from hyperloop.settings import SettingsError, load_settings

        logging.basicConfig(
            level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        if logging.getLogger().level > logging.DEBUG:  # Dask's INFO lines drown ours
            logging.getLogger("distributed").setLevel(logging.WARNING)
        try:
            settings = load_settings()
        except SettingsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if migrate if migrate is not None else settings.run_migrations_on_start:
            upgrade(settings.database_url)

        stop = threading.Event()

        def _stop(signum: int, _frame: object) -> None:
            _say(f"{signal.Signals(signum).name}: stopping the scheduler")
            stop.set()

        if once:
            holder = _other_holder(settings.database_url)
            if holder is not None:  # no engine to start for nothing
                _say(f"did nothing: the scheduler lease is {holder}")
                raise typer.Exit(3)
        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            service = SchedulerService.from_settings(settings, warm_read_models=dashboard.warm)
        except Exception as exc:
            typer.echo(f"error: cannot start the scheduler: {exc}", err=True)
            raise typer.Exit(1) from None
        try:
            where = settings.dask_scheduler_address or (
                f"embedded LocalCluster, {settings.dask_workers} workers"
            )
            _say(f"scheduler {service.lease.holder}: engine {where}")
            if once:
                tick = service.tick()
                if not tick.held_lease:
                    held = describe_lease(service.lease_info())
                    _say(f"did nothing: the scheduler lease is {held}")
                    raise typer.Exit(3)
                _say(f"one step: {summary(tick.instructions)}")
                for ins in tick.unperformed:
                    _say(f"not performed: {ins!r}")
                for ins, why in tick.failed:
                    _say(f"failed (rolled back, the others performed): {ins!r}: {why}")
                service.lease.release()
                return
            service.run(stop, _say)
            _say("scheduler stopped, lease released")
        finally:
            service.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
