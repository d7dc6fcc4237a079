"""My Analyses is cached per user until a write changes the grid: after every kind of write
(by any session, engine or raw SQL) the next page shows it, exactly as an uncached build.
Runs on SQLite and, with HYPERLOOP_TEST_DATABASE_URL set, on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session, sessionmaker
from tests.factories import DomainWorld, make_world

from hyperloop.core import analyses, datasets, enabling, quotas, trains, users, wagons
from hyperloop.core import views_analyses as views
from hyperloop.db.base import utcnow
from hyperloop.db.models import Target, TrainRun, User
from hyperloop.db.models.changes import GRID_WATCH, create_change_triggers, ensure_counter
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import Role, TestStatus


@pytest.fixture
def world(session: Session, db_engine) -> DomainWorld:
    w = make_world(session)
    session.commit()
    with db_engine.begin() as conn:  # PostgreSQL tests empty every table, this row too
        ensure_counter(conn)
    return w


def page(sm: sessionmaker[Session], user_id: int, **kw) -> list[dict]:
    """What a request shows (its own session, through the cache), checked against an
    uncached build in the same database state."""
    with sm() as s:
        user = s.get(User, user_id)
        shown = views.my_analyses_data(s, user, **kw)
        fresh, _ = views.compute_my_analyses(s, user, **kw)
    assert shown == fresh
    return shown


def analysis(shown: list[dict], name: str) -> dict | None:
    return next((a for a in shown if a["name"] == name), None)


def cell(shown: list[dict], name: str, wagon: str) -> dict:
    a = analysis(shown, name)
    return next(w for w in a["wagons"] if w["name"] == wagon)["cells"][0]


def test_the_cache_is_used_while_nothing_changes(world, db_sessionmaker) -> None:
    with db_sessionmaker() as s:
        first = views.my_analyses_json(s, s.get(User, world.alice.id))
    stats = views.GRID_CACHE.stats
    hits = stats.hits
    with db_sessionmaker() as s:
        again = views.my_analyses_json(s, s.get(User, world.alice.id))
    assert again is first  # served from the cache, not rebuilt
    assert stats.hits == hits + 1
    assert first.startswith(b'[{"id":')
    shown = page(db_sessionmaker, world.alice.id)
    shown[0]["name"] = "changed by a caller"  # each caller gets its own list
    assert page(db_sessionmaker, world.alice.id)[0]["name"] != "changed by a caller"


def test_an_analysis_grid_is_built_once_for_everybody_who_sees_it(world, db_sessionmaker):
    """After a write the service analysis (on every page) is rebuilt by the first user who
    asks; the next user reuses it, and both see the write."""
    sm, s = db_sessionmaker, world.s
    analyses.set_email_policy(s, world.actor(world.service_expert), world.service.id, "none")
    s.commit()
    pieces = views.GRID_PIECES.stats
    assert analysis(page(sm, world.alice.id), "Core-services")["email_policy"] == "none"
    hits = pieces.hits
    bob = page(sm, world.bob.id)
    assert pieces.hits > hits  # Core-services came from alice's request
    assert analysis(bob, "Core-services")["email_policy"] == "none"
    assert analysis(bob, "Core-services")["member"] is False
    assert analysis(page(sm, world.service_expert.id), "Core-services")["member"] is True


def test_membership_and_display_changes_show_at_once(world, db_sessionmaker) -> None:
    sm, s = db_sessionmaker, world.s
    assert analysis(page(sm, world.alice.id), "HF-charm") is None
    analyses.add_member(s, None, world.hf.id, world.alice.id)
    s.commit()
    assert analysis(page(sm, world.alice.id), "HF-charm")["member"] is True
    analyses.set_display(s, world.actor(world.alice), world.hf.id, collapsed=True, order=-1)
    s.commit()
    hf = analysis(page(sm, world.alice.id), "HF-charm")
    assert hf["collapsed"] is True and hf["display_order"] == -1
    analyses.remove_member(s, None, world.hf.id, world.alice.id)
    s.commit()
    assert analysis(page(sm, world.alice.id), "HF-charm") is None
    analyses.set_email_policy(s, world.actor(world.alice), world.lf.id, "none")
    s.commit()
    assert analysis(page(sm, world.alice.id), "LF-spectra")["email_policy"] == "none"


def test_wagon_enabling_and_test_changes_show_at_once(world, db_sessionmaker) -> None:
    sm, s, alice = db_sessionmaker, world.s, world.actor(world.alice)
    page(sm, world.alice.id)
    wagon = wagons.create_wagon(s, alice, world.lf.id, name="spectra", workflow="spectra-charged")
    s.commit()
    assert cell(page(sm, world.alice.id), "LF-spectra", "spectra")["enabled"] is False
    enabling.enable_wagon(s, alice, wagon.id, world.dataset.id)
    s.commit()
    on = cell(page(sm, world.alice.id), "LF-spectra", "spectra")
    assert on["enabled"] is True and on["test_status"] == "queued"
    test = enabling.current_test(s, wagon.id, world.dataset.id)
    enabling.finish_test(s, test.id, TestStatus.DONE)
    s.commit()
    assert cell(page(sm, world.alice.id), "LF-spectra", "spectra")["test_status"] == "done"
    wagons.edit_wagon(s, alice, wagon.id, expected_version=wagon.version, name="spectra2")
    s.commit()
    shown = page(sm, world.alice.id)
    assert [w["name"] for w in analysis(shown, "LF-spectra")["wagons"]] == ["spectra2"]
    enabling.disable_wagon(s, alice, wagon.id, world.dataset.id, "not needed")
    s.commit()
    off = cell(page(sm, world.alice.id), "LF-spectra", "spectra2")
    assert off["enabled"] is False and off["disabled_reason"] == "not needed"
    wagons.delete_wagon(s, alice, wagon.id)
    s.commit()
    assert analysis(page(sm, world.alice.id), "LF-spectra")["wagons"] == []


def test_dataset_changes_show_at_once(world, db_sessionmaker) -> None:
    sm, s, op = db_sessionmaker, world.s, world.actor(world.operator)
    assert analysis(page(sm, world.alice.id), "LF-spectra")["datasets"][0]["active"] is True
    datasets.set_active(s, op, world.dataset.id, False)
    s.commit()
    assert analysis(page(sm, world.alice.id), "LF-spectra")["datasets"][0]["active"] is False
    ds = datasets.get_dataset(s, world.dataset.id)
    datasets.edit_dataset(s, op, ds.id, expected_version=ds.version, slots_per_week=9)
    s.commit()
    assert analysis(page(sm, world.alice.id), "LF-spectra")["slots"][0]["allowed"] == 9
    analyses.remove_dataset(s, world.actor(world.admin), world.lf.id, world.dataset.id)
    s.commit()
    assert analysis(page(sm, world.alice.id), "LF-spectra")["datasets"] == []


def _tested_wagon(w: DomainWorld, name: str):
    alice = w.actor(w.alice)
    wagon = wagons.create_wagon(w.s, alice, w.lf.id, name=name, workflow="spectra-charged")
    enabling.enable_wagon(w.s, alice, wagon.id, w.dataset.id)
    test = enabling.current_test(w.s, wagon.id, w.dataset.id)
    enabling.finish_test(w.s, test.id, TestStatus.DONE)
    return wagon


def _used(shown: list[dict]) -> int:
    return analysis(shown, "LF-spectra")["slots"][0]["used"]


def test_train_slots_follow_composition_and_decomposition(world, db_sessionmaker) -> None:
    sm, s, op = db_sessionmaker, world.s, world.actor(world.operator)
    wagon = _tested_wagon(world, "spectra")
    s.commit()
    assert _used(page(sm, world.alice.id)) == 0
    train = trains.compose_train(s, op, world.dataset.id, [wagon.id], target_id=world.target.id)
    s.commit()
    assert _used(page(sm, world.alice.id)) == 1
    trains.decompose_train(s, op, train.id)
    s.commit()
    assert _used(page(sm, world.alice.id)) == 0


def test_slots_drop_when_a_train_leaves_the_rolling_week(
    world, db_sessionmaker, monkeypatch
) -> None:
    """No write happens: the cached page expires when the counted train turns a week old."""
    sm, s, op = db_sessionmaker, world.s, world.actor(world.operator)
    wagon = _tested_wagon(world, "spectra")
    train = trains.compose_train(s, op, world.dataset.id, [wagon.id], target_id=world.target.id)
    composed = utcnow() - quotas.WEEK + timedelta(hours=1)
    s.execute(update(TrainRun).where(TrainRun.id == train.id).values(composed_at=composed))
    s.commit()
    assert _used(page(sm, world.alice.id)) == 1
    assert _used(page(sm, world.alice.id)) == 1  # cached
    later = utcnow() + timedelta(hours=2)
    monkeypatch.setattr("hyperloop.core.read_cache.utcnow", lambda: later)
    monkeypatch.setattr("hyperloop.core.views_my_analyses.utcnow", lambda: later)
    assert _used(page(sm, world.alice.id)) == 0


def test_target_cores_cap_the_slots_at_once(world, db_sessionmaker) -> None:
    sm, s, op = db_sessionmaker, world.s, world.actor(world.operator)
    ids = [_tested_wagon(world, f"w{i}").id for i in range(3)]
    trains.compose_train(s, op, world.dataset.id, ids, target_id=world.target.id)
    s.commit()
    assert _used(page(sm, world.alice.id)) == 2  # 3 wagons on a 2-core target
    s.execute(update(Target).where(Target.id == world.target.id).values(cores=4))
    s.commit()
    assert _used(page(sm, world.alice.id)) == 3


def test_a_new_role_changes_what_may_be_edited(world, db_sessionmaker) -> None:
    sm = db_sessionmaker
    assert analysis(page(sm, world.outsider.id), "Core-services")["can_edit"] is False
    users.set_roles(world.s, None, "outsider", [Role.ADMIN])
    world.s.commit()
    assert analysis(page(sm, world.outsider.id), "Core-services")["can_edit"] is True


def test_a_write_by_another_server_process_shows_at_once(world, db_engine) -> None:
    """Another engine (its own pool and cache, as another server process has) writing raw
    SQL: the database triggers still invalidate this process' cached page."""
    mine = make_sessionmaker(db_engine)
    page(mine, world.alice.id)
    other = make_engine(db_engine.url.render_as_string(hide_password=False))
    try:
        with other.begin() as conn:
            conn.execute(
                text("UPDATE analyses SET description = 'from elsewhere' WHERE id = :id"),
                {"id": world.lf.id},
            )
    finally:
        other.dispose()
    assert analysis(page(mine, world.alice.id), "LF-spectra")["description"] == "from elsewhere"


def test_a_rolled_back_write_never_reaches_the_cache(world, db_sessionmaker) -> None:
    """A page built inside a transaction that wrote is not cached: the write may roll back."""
    sm = db_sessionmaker
    with sm() as s:
        s.execute(text("UPDATE analyses SET name = 'doomed' WHERE id = :id"), {"id": world.lf.id})
        user = s.get(User, world.alice.id)
        assert analysis(views.my_analyses_data(s, user), "doomed") is not None
        s.rollback()
    shown = page(sm, world.alice.id)
    assert analysis(shown, "doomed") is None and analysis(shown, "LF-spectra") is not None
    # a later, unrelated write moves the counter on: still the right page
    analyses.set_email_policy(world.s, world.actor(world.alice), world.lf.id, "none")
    world.s.commit()
    assert analysis(page(sm, world.alice.id), "doomed") is None


def test_without_the_triggers_nothing_is_cached(world, db_engine) -> None:
    """A database whose triggers are gone (e.g. a SQLite table rebuild) is read uncached."""
    with db_engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        for table in GRID_WATCH:
            if postgres:
                conn.execute(text(f"DROP TRIGGER trg_grid_{table} ON {table}"))
            else:
                for suffix in ("ins", "upd", "del"):
                    conn.execute(text(f"DROP TRIGGER trg_grid_{table}_{suffix}"))
    try:
        sm = make_sessionmaker(db_engine)
        before = views.GRID_CACHE.stats.uncacheable
        page(sm, world.alice.id)  # page() checks it against a fresh build
        page(sm, world.alice.id)
        assert views.GRID_CACHE.stats.uncacheable == before + 2
    finally:
        with db_engine.begin() as conn:  # PostgreSQL tests reuse the tables
            create_change_triggers(conn)
