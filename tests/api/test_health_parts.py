"""GET /api/health says which parts of the system are alive: the database, the scheduler
(holder of an unexpired lease), the engine, the storage of train jobs (read-only look)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.factories import ApiWorld

from hyperloop.db.models import SchedulerLease
from hyperloop.db.session import make_engine, make_sessionmaker


def _lease(world: ApiWorld, holder: str | None, expires: datetime | None) -> None:
    engine = make_engine(world.url)
    try:
        with make_sessionmaker(engine).begin() as s:
            s.merge(SchedulerLease(name="scheduler", holder=holder, epoch=3, expires_at=expires))
    finally:
        engine.dispose()


def test_health_names_each_part_and_whether_it_is_alive(client, world: ApiWorld) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    parts = body["parts"]
    assert set(parts) == {"database", "scheduler", "engine", "storage"}
    assert parts["database"] == {"alive": True, "detail": "sqlite answers"}
    assert parts["scheduler"] == {"alive": False, "detail": "no scheduler holds the lease"}
    assert parts["engine"]["alive"] is False  # embedded: lives in the (absent) scheduler
    assert "embedded" in parts["engine"]["detail"]
    assert parts["storage"]["alive"] is True and "writable" in parts["storage"]["detail"]

    _lease(world, "node-a:123:abcd", datetime.now(UTC) + timedelta(seconds=30))
    parts = client.get("/api/health").json()["parts"]
    assert parts["scheduler"]["alive"] is True
    assert parts["scheduler"]["detail"].startswith("node-a:123:abcd holds the lease until ")
    assert parts["engine"]["alive"] is True

    _lease(world, "node-a:123:abcd", datetime.now(UTC) - timedelta(seconds=5))
    parts = client.get("/api/health").json()["parts"]
    assert parts["scheduler"]["alive"] is False
    assert "expired" in parts["scheduler"]["detail"]
