"""Only one scheduler acts: the database lease, with a real second process killed by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

from hyperloop.scheduler.lease import Lease

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


def test_two_schedulers_only_one_acts_until_its_lease_expires(db_sessionmaker):
    a = Lease(db_sessionmaker, "a", ttl=TTL)
    b = Lease(db_sessionmaker, "b", ttl=TTL)
    assert a.acquire(T0) is True
    assert b.acquire(T0 + timedelta(seconds=1)) is False
    assert a.renew(T0 + timedelta(seconds=20)) is True  # renewal pushes the expiry
    assert b.acquire(T0 + timedelta(seconds=40)) is False
    epoch = a.info().epoch
    # a stops renewing (killed): b takes over once the lease expired
    assert b.acquire(T0 + timedelta(seconds=51)) is True
    info = b.info()
    assert (info.holder, info.epoch) == ("b", epoch + 1)
    assert a.renew(T0 + timedelta(seconds=52)) is False
    assert a.held(T0 + timedelta(seconds=52)) is False and b.held(T0 + timedelta(seconds=52))


def test_a_released_lease_is_taken_at_once(db_sessionmaker):
    a = Lease(db_sessionmaker, "a", ttl=TTL)
    b = Lease(db_sessionmaker, "b", ttl=TTL)
    assert a.acquire(T0)
    a.release()
    assert b.acquire(T0 + timedelta(seconds=1))


def test_racing_schedulers_never_both_win(db_sessionmaker):
    leases = [Lease(db_sessionmaker, f"s{i}", ttl=TTL) for i in range(6)]
    leases[0]._ensure_row()
    barrier = threading.Barrier(len(leases))
    wins: list[str] = []

    def race(lease: Lease) -> None:
        barrier.wait()
        if lease.acquire(T0):
            wins.append(lease.holder)

    threads = [threading.Thread(target=race, args=(x,)) for x in leases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert leases[0].info().holder == wins[0]


CHILD = """
import sys, time
from datetime import timedelta
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.scheduler.lease import Lease
lease = Lease(make_sessionmaker(make_engine(sys.argv[1])), "killed", ttl=timedelta(seconds=30))
assert lease.acquire()
print("acquired", flush=True)
time.sleep(600)
"""


def test_a_killed_schedulers_lease_expires_and_another_takes_over(db_engine, db_sessionmaker):
    url = db_engine.url.render_as_string(hide_password=False)
    child = subprocess.Popen([sys.executable, "-c", CHILD, url], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "acquired"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    me = Lease(db_sessionmaker, "survivor", ttl=TTL)
    now = datetime.now(UTC)
    assert me.acquire(now) is False  # the dead one's lease is still valid
    expires = me.info().expires_at
    assert me.info().holder == "killed"
    assert me.acquire(expires + timedelta(seconds=1)) is True
    assert me.info().holder == "survivor"
