"""Two transactions at once on a real database: no lost update, no duplicate, clear errors."""

from __future__ import annotations

import threading

import pytest
from tests.factories import make_world

from hyperloop.core import wagons
from hyperloop.core.actor import Actor
from hyperloop.core.errors import Conflict
from hyperloop.core.users import get_user
from hyperloop.db.models import Analysis, Wagon


def test_simultaneous_creation_of_the_same_wagon_name_gives_one_wagon_and_a_conflict(
    session, db_sessionmaker
):
    make_world(session)
    session.commit()
    flushed, committed = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        with db_sessionmaker() as s:
            lf = s.query(Analysis).filter_by(name="LF-spectra").one()
            wagons.create_wagon(
                s, Actor(get_user(s, "alice")), lf.id, name="same", workflow="tree-maker"
            )
            flushed.set()
            # give the second transaction time to pass its name check and block on insert
            committed.wait(0.5)
            s.commit()

    def second() -> None:
        flushed.wait(10)
        with db_sessionmaker() as s:
            lf = s.query(Analysis).filter_by(name="LF-spectra").one()
            try:
                wagons.create_wagon(
                    s, Actor(get_user(s, "carol")), lf.id, name="same", workflow="tree-maker"
                )
                s.commit()
            except BaseException as exc:  # noqa: BLE001 - examined below
                errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(errors) == 1 and isinstance(errors[0], Conflict), errors
    assert "already has a wagon called 'same'" in errors[0].message
    with db_sessionmaker() as s:
        assert s.query(Wagon).filter_by(name="same").count() == 1


@pytest.mark.parametrize("field", ["etaMax", "nEvents"])
def test_interleaved_edits_of_different_values_never_lose_the_first(
    session, db_sessionmaker, field
):
    w = make_world(session)
    wid = wagons.create_wagon(
        session, w.actor(w.alice), w.lf.id, name="w", workflow="spectra-charged"
    ).id
    session.commit()
    with db_sessionmaker() as s1, db_sessionmaker() as s2:
        v = s1.get(Wagon, wid).version
        s2.get(Wagon, wid)
        wagons.edit_wagon(
            s1,
            Actor(get_user(s1, "alice")),
            wid,
            expected_version=v,
            base_config={"spectra-charged": {field: "3"}},
        )
        s1.commit()
        with pytest.raises(Conflict):
            wagons.edit_wagon(
                s2,
                Actor(get_user(s2, "carol")),
                wid,
                expected_version=v,
                subwagons={"x": {"spectra-charged": {"label": "PbPb"}}},
            )
    with db_sessionmaker() as s3:
        wagon = s3.get(Wagon, wid)
        assert wagon.base_config["spectra-charged"][field] == "3" and wagon.subwagons == {}
        history = wagons.wagon_history(s3, wid)
        assert [h["action"] for h in history] == ["create", "update"]
