"""Carrying out staging transfers (SPEC §2: stage/unstage a dataset to an analysis
facility, progress per transfer): the scheduler's part.

Each tick, :meth:`StagingWork.tick` starts a thread for every transfer the database has in
``requested`` (or still ``transferring``/``verifying``: the scheduler that ran it stopped,
the copy resumes, files already there with the right size are skipped). A stage copies the
dataset's catalogue with :func:`hyperloop.grid.staging.stage` to
``<staging_root>/<target>/dataset-<id>``, writing the bytes and files done to the transfer
row as it goes, then verifies every copy (size and SHA-256); an unstage deletes that folder.
At the end the transfer is ``done`` or ``failed`` (with the reason) and the analyses using
the dataset are notified (staged / unstaged), the requester too when it failed. Transfers
awaiting an operator's confirmation of their data amount are not started.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import fsspec
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hyperloop.core.datasets import STAGING_ACTIVE
from hyperloop.core.notifications import dataset_user_ids, notify
from hyperloop.db.base import utcnow
from hyperloop.db.models import Dataset, DatasetFile, Production, StagingTransfer
from hyperloop.enums import NotificationKind, StagingAction
from hyperloop.grid import staging as grid_staging

log = logging.getLogger(__name__)


def location(root: str, target: str, dataset_id: int) -> str:
    """Where a dataset staged to ``target`` lies: ``<root>/<target>/dataset-<id>``."""
    return f"{root.rstrip('/')}/{target}/dataset-{dataset_id}"


@dataclass
class StagingWork:
    """Threads copying (or deleting) staged datasets, one per transfer, at most
    ``max_parallel`` at a time; ``progress_every_s`` spaces the progress writes."""

    sessions: sessionmaker[Session]
    root: str
    max_parallel: int = 2
    progress_every_s: float = 0.5
    chunk_size: int = grid_staging.CHUNK
    threads: dict[int, threading.Thread] = field(default_factory=dict)

    def tick(self) -> list[int]:
        """Forget finished threads and start the transfers waiting; returns those started."""
        self.threads = {i: t for i, t in self.threads.items() if t.is_alive()}
        free = self.max_parallel - len(self.threads)
        if free <= 0:
            return []
        with self.sessions() as s:
            waiting = s.scalars(
                select(StagingTransfer.id)
                .where(StagingTransfer.state.in_(STAGING_ACTIVE))
                .order_by(StagingTransfer.id)
            ).all()
        started = []
        for transfer_id in [i for i in waiting if i not in self.threads][:free]:
            thread = threading.Thread(
                target=self.run, args=(transfer_id,), name=f"staging-{transfer_id}", daemon=True
            )
            self.threads[transfer_id] = thread
            thread.start()
            started.append(transfer_id)
        return started

    def join(self, timeout: float | None = None) -> None:
        for thread in list(self.threads.values()):
            thread.join(timeout)

    def run(self, transfer_id: int) -> None:
        """Carry out one transfer to its end (done or failed); never raises."""
        try:
            self._run(transfer_id)
        except Exception as exc:  # recorded on the transfer: the operator sees why
            log.exception("staging transfer %s failed", transfer_id)
            self._finish(transfer_id, f"{type(exc).__name__}: {exc}")

    def _run(self, transfer_id: int) -> None:
        with self.sessions.begin() as s:
            t = s.get(StagingTransfer, transfer_id)
            if t is None or t.state not in STAGING_ACTIVE:
                return
            url = location(self.root, t.target, t.dataset_id)
            action = t.action
            catalogue: dict[int, list[tuple[str, int]]] = {}
            for run, path, size in s.execute(
                select(DatasetFile.run_number, DatasetFile.path, DatasetFile.size)
                .join(Production, Production.id == DatasetFile.production_id)
                .where(Production.dataset_id == t.dataset_id)
                .order_by(DatasetFile.run_number, DatasetFile.path)
            ):
                catalogue.setdefault(int(run), []).append((path, int(size)))
            files = [(p, n) for run_files in catalogue.values() for p, n in run_files]
            t.state, t.location, t.error = "transferring", url, None
            t.files_total = len(files)
            t.bytes_total = sum(n for _, n in files) if action is StagingAction.STAGE else 0
            t.files_done = t.bytes_done = 0
            t.progress = 0.0
        if action is StagingAction.UNSTAGE:
            grid_staging.unstage(catalogue, url)
            fs, path = fsspec.core.url_to_fs(url)
            if fs.exists(path):
                fs.rm(path, recursive=True)
            self._finish(transfer_id, "", files_done=len(files))
            return
        report = grid_staging.stage(
            catalogue, url, progress=self._progress(transfer_id), chunk_size=self.chunk_size
        )
        self._write(transfer_id, report, state="verifying")
        grid_staging.verify(report, chunk_size=self.chunk_size)
        failed = [r.error for r in report.transfers if r.state == "failed"]
        error = ""
        if failed:
            error = f"{len(failed)} of {len(report.transfers)} files failed: " + "; ".join(
                failed[:3]
            )
        self._write(transfer_id, report)
        self._finish(transfer_id, error)

    def _progress(self, transfer_id: int) -> Callable[[grid_staging.TransferRecord], None]:
        """A progress callback writing the running totals at most every progress_every_s."""
        done_bytes = 0
        done_files = 0
        last = 0.0

        def progress(rec: grid_staging.TransferRecord) -> None:
            nonlocal done_bytes, done_files, last
            finished = rec.state in ("done", "skipped", "failed")
            if finished:
                done_files += 1
                done_bytes += rec.size if rec.state != "failed" else 0
            now = time.monotonic()
            if not finished and now - last < self.progress_every_s:
                return
            last = now
            moving = 0 if finished else rec.bytes_done
            with self.sessions.begin() as s:
                t = s.get(StagingTransfer, transfer_id)
                if t is None:
                    return
                t.files_done, t.bytes_done = done_files, done_bytes + moving
                t.progress = min(1.0, t.bytes_done / t.bytes_total) if t.bytes_total else 0.0

        return progress

    def _write(
        self, transfer_id: int, report: grid_staging.StagingReport, state: str | None = None
    ) -> None:
        ok = [r for r in report.transfers if r.state in ("done", "skipped")]
        with self.sessions.begin() as s:
            t = s.get(StagingTransfer, transfer_id)
            if t is None:
                return
            t.files_done = len(ok)
            t.bytes_done = sum(r.size for r in ok)
            t.progress = t.bytes_done / t.bytes_total if t.bytes_total else 1.0
            if state:
                t.state = state

    def _finish(self, transfer_id: int, error: str, *, files_done: int | None = None) -> None:
        """End the transfer (done, or failed with ``error``) and notify."""
        with self.sessions.begin() as s:
            t = s.get(StagingTransfer, transfer_id)
            if t is None:
                return
            t.state = "failed" if error else "done"
            t.error = error[:4000] or None
            t.finished_at = utcnow()
            if files_done is not None:
                t.files_done = files_done
            if not error:
                t.progress = 1.0
            ds = s.get(Dataset, t.dataset_id)
            name = ds.name if ds is not None else str(t.dataset_id)
            where = f"{t.target} ({t.location})"
            if error:
                users = {t.requested_by_id} - {None}
                kind = NotificationKind.STAGING_FAILED
                message = (
                    f"staging transfer {t.id} ({t.action.value}) of dataset {name!r} to "
                    f"{where} failed: {error}. Fix the cause and request it again: files "
                    "already copied and verified are kept"
                )
            elif t.action is StagingAction.STAGE:
                users = dataset_user_ids(s, t.dataset_id) | ({t.requested_by_id} - {None})
                kind = NotificationKind.DATASET_STAGED
                message = (
                    f"dataset {name!r} is staged to {where}: {t.files_done} files, "
                    f"{t.bytes_done / 1e6:.1f} MB, sizes and checksums verified"
                )
            else:
                users = dataset_user_ids(s, t.dataset_id) | ({t.requested_by_id} - {None})
                kind = NotificationKind.DATASET_UNSTAGED
                message = f"dataset {name!r} is unstaged from {where}: its copies are deleted"
            notify(s, users, kind, message, ds)
