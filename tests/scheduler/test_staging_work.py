"""Staging carried out by the scheduler's StagingWork on a real database: a requested
transfer is copied to the facility storage with progress, verified (size, SHA-256), the
analyses using the dataset notified; a big one waits for an operator's confirmation; an
unstage deletes the copies; a failed copy is a failed transfer with its reason."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from hyperloop.core import analyses, datasets, runlists, users
from hyperloop.core.actor import Actor
from hyperloop.core.errors import Conflict, ValidationError
from hyperloop.core.storage_roots import StorageRoots
from hyperloop.db.models import DatasetFile, Notification, StagingTransfer
from hyperloop.enums import NotificationKind, Role, StagingAction
from hyperloop.scheduler.staging import StagingWork, location

RUNS = (523308, 523309)


@pytest.fixture
def world(db_sessionmaker, tmp_path):
    data = tmp_path / "data"
    for run in RUNS:
        for i in range(2):
            path = data / str(run) / f"sub{i}" / "AO2D.root"
            path.parent.mkdir(parents=True)
            path.write_bytes(bytes([i + 1]) * (200_000 + 1000 * i))
    with db_sessionmaker.begin() as s:
        op = Actor(users.create_user(s, "operator", roles=[Role.OPERATOR]))
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        alice = users.create_user(s, "alice")
        users.create_user(s, "outsider")
        ds = datasets.create_dataset(s, op, "LHC26_staged", collision_system="pp")
        rl = runlists.create_runlist(s, admin, "LHC26_staged_pass1", list(RUNS))
        prod = datasets.add_production(s, op, ds.id, "p1", runlist_id=rl.id)
        datasets.import_directory(s, op, prod.id, data, roots=StorageRoots.parse([data]))
        lf = analyses.create_analysis(s, None, "LF", "PWG-LF")
        analyses.add_member(s, None, lf.id, alice.id)
        analyses.add_dataset(s, admin, lf.id, ds.id)
        return {"op": op.user.id, "alice": alice.id, "dataset": ds.id}


def _until_final(work: StagingWork, sessions, transfer_id: int) -> StagingTransfer:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        work.tick()
        with sessions() as s:
            t = s.get(StagingTransfer, transfer_id)
            if t.state in ("done", "failed"):
                return t
        time.sleep(0.05)
    raise AssertionError(f"transfer {transfer_id} did not end")


def _kinds(sessions, user_id: int) -> list[str]:
    with sessions() as s:
        rows = s.scalars(select(Notification).where(Notification.user_id == user_id))
        return [n.kind.value for n in rows]


def test_stage_verify_notify_then_unstage(db_sessionmaker, world, tmp_path):
    root = str(tmp_path / "facility")
    with db_sessionmaker.begin() as s:
        op = Actor(users.get_user(s, "operator"))
        t = datasets.request_staging(s, op, world["dataset"], "af-gsi", confirm_above_bytes=10**9)
        assert t.state == "requested" and t.bytes_total == 802_000 and t.files_total == 4
        with pytest.raises(Conflict, match="already has staging transfer"):
            datasets.request_staging(s, op, world["dataset"], "af-gsi")
        with pytest.raises(ValidationError, match="staging target"):
            datasets.request_staging(s, op, world["dataset"], "../etc")
        tid = t.id
    seen: list[tuple[int, int]] = []
    work = StagingWork(db_sessionmaker, root, progress_every_s=0.0, chunk_size=50_000)
    original = work._progress

    def spy(transfer_id):
        inner = original(transfer_id)

        def progress(rec):
            inner(rec)
            with db_sessionmaker() as s:
                row = s.get(StagingTransfer, transfer_id)
                seen.append((row.bytes_done, row.files_done))

        return progress

    work._progress = spy
    done = _until_final(work, db_sessionmaker, tid)
    assert (done.state, done.error) == ("done", None)
    assert (done.files_done, done.bytes_done, done.progress) == (4, 802_000, 1.0)
    assert done.location == location(root, "af-gsi", world["dataset"])
    assert any(0 < b < 802_000 for b, _ in seen)  # progress within the transfer
    with db_sessionmaker() as s:
        sources = s.scalars(select(DatasetFile.path)).all()
    copies = sorted(Path(done.location).rglob("*.root"))
    assert len(copies) == 4
    digest = {hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in sources}
    assert {hashlib.sha256(c.read_bytes()).hexdigest() for c in copies} == digest
    assert "dataset_staged" in _kinds(db_sessionmaker, world["alice"])
    assert _kinds(db_sessionmaker, world["op"]).count("dataset_staged") == 1

    with db_sessionmaker.begin() as s:
        op = Actor(users.get_user(s, "operator"))
        un = datasets.request_staging(s, op, world["dataset"], "af-gsi", StagingAction.UNSTAGE)
        uid = un.id
    gone = _until_final(work, db_sessionmaker, uid)
    assert gone.state == "done" and not Path(done.location).exists()
    assert "dataset_unstaged" in _kinds(db_sessionmaker, world["alice"])


def test_a_big_transfer_waits_for_confirmation_and_a_failed_copy_says_why(
    db_sessionmaker, world, tmp_path
):
    root = str(tmp_path / "facility")
    with db_sessionmaker.begin() as s:
        op = Actor(users.get_user(s, "operator"))
        t = datasets.request_staging(s, op, world["dataset"], "af-cern", confirm_above_bytes=1000)
        assert t.state == "awaiting_confirmation"
        tid = t.id
    assert "staging_confirmation" in _kinds(db_sessionmaker, world["op"])
    work = StagingWork(db_sessionmaker, root)
    assert work.tick() == []  # not confirmed: nothing is copied
    assert not Path(root).exists()
    with db_sessionmaker.begin() as s:
        Path(s.scalars(select(DatasetFile.path)).first()).unlink()  # a source disappears
        datasets.confirm_staging(s, Actor(users.get_user(s, "operator")), tid)
        with pytest.raises(Conflict, match="not awaiting confirmation"):
            datasets.confirm_staging(s, Actor(users.get_user(s, "operator")), tid)
    failed = _until_final(work, db_sessionmaker, tid)
    assert failed.state == "failed" and failed.confirmed_by == "operator"
    assert failed.error.startswith("1 of 4 files failed") and "AO2D.root" in failed.error
    assert failed.files_done == 3
    assert _kinds(db_sessionmaker, world["op"]).count(NotificationKind.STAGING_FAILED.value) == 1
    assert "staging_failed" not in _kinds(db_sessionmaker, world["alice"])
