"""Issue 18 item 15: Train Submission opens on the dataset and target of the train the
operator composed last (remembered per user, page and ``GET /api/train-runs/submission``)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.web_pages.accounts import PASSWORD
from tests.web_pages.seed_trains import TrainWorld, seed

from hyperloop.core import analyses, datasets, enabling, trains
from hyperloop.core.actor import Actor
from hyperloop.db.models import User, Wagon
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import TagPolicy, TestStatus
from hyperloop.settings import load_settings
from hyperloop.web.app import create_app


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainWorld, object]:
    tmp = tmp_path_factory.mktemp("remember")
    root = tmp / "outputs"
    root.mkdir()
    url = f"sqlite:///{tmp / 'trains.db'}"
    world = seed(url, root / "work")
    # a second dataset with an enabled, tested wagon (first by name) and a second target
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as s:
        op = Actor(s.query(User).filter_by(username="oscar").one())
        admin = Actor(s.query(User).filter_by(username="ada").one())
        alice = Actor(s.query(User).filter_by(username="alice").one())
        ds = datasets.create_dataset(s, op, "AAA_first_pp", slots_per_week=50)
        datasets.set_active(s, op, ds.id, True)
        analyses.add_dataset(s, admin, world.ids["analysis"], ds.id)
        wagon = s.query(Wagon).filter_by(name="spectra_new").one()
        enabling.enable_wagon(s, alice, wagon.id, ds.id, policy=TagPolicy.LATEST)
        test = enabling.current_test(s, wagon.id, ds.id)
        enabling.finish_test(s, test.id, TestStatus.DONE)
        trains.create_target(s, admin, name="af-8core", cores=8)
    engine.dispose()
    return world, create_app(
        load_settings(database_url=url, outputs_root=root, work_dir=root / "work")
    )


def _client(app, username: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def test_submission_opens_on_the_last_composed_dataset_and_target(site) -> None:
    world, app = site
    short, composed = world.ids["short_dataset"], world.ids["composed"]
    with _client(app, "oscar") as op, _client(app, "alice") as alice:
        before = op.get("/api/train-runs/submission").json()
        assert before["remembered"] == {"dataset_id": None, "target_id": None}
        first = before["dataset"]["id"]
        assert first != short  # not the dataset it will remember
        assert not any(t["selected"] for t in before["targets"])
        target = before["targets"][-1]["id"]  # not the first one offered
        assert target != before["targets"][0]["id"]
        train = op.get(f"/api/train-runs/{composed}").json()
        wagon_ids = [w["wagon_id"] for w in train["wagons_snapshot"]]
        assert op.post(f"/api/train-runs/{composed}/decompose").status_code == 200
        r = op.post(
            "/api/train-runs",
            json={"dataset_id": short, "wagon_ids": wagon_ids, "target_id": target},
        )
        assert r.status_code == 201, r.text
        after = op.get("/api/train-runs/submission").json()
        assert after["remembered"] == {"dataset_id": short, "target_id": target}
        assert after["dataset"]["id"] == short
        assert [t["id"] for t in after["targets"] if t["selected"]] == [target]
        page = op.get("/train-submission").text
        assert f'<option value="{short}" selected>' in page
        assert f'<option value="{target}" selected>' in page
        # an explicit choice still wins, and other users keep their own default
        other = op.get("/api/train-runs/submission", params={"dataset_id": first}).json()
        assert other["dataset"]["id"] == first
        assert alice.get("/api/train-runs/submission").json()["dataset"]["id"] == first
