"""GET /api/train-runs/{id}/result: the train's merged result file, read through the storage
layer (here a local work folder; ``tests/e2e/test_s3_storage.py`` reads it from S3)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.factories import ApiWorld

from hyperloop.db.models import TrainRun
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.settings import load_settings
from hyperloop.web.app import create_app


@pytest.fixture
def served(world: ApiWorld, tmp_path):
    app = create_app(load_settings(database_url=world.url, data_dir=str(tmp_path / "var")))
    with TestClient(app) as client:
        yield client
    app.state.engine.dispose()


def _set_output(world: ApiWorld, output: str | None) -> int:
    engine = make_engine(world.url)
    try:
        with make_sessionmaker(engine).begin() as s:
            train = s.get(TrainRun, world.ids["train"])
            train.output_dir = output
            return train.id
    finally:
        engine.dispose()


def test_a_trains_result_is_served_from_the_storage(served, world: ApiWorld, tmp_path):
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    train = world.ids["train"]
    assert served.get(f"/api/train-runs/{train}/result", headers=admin).status_code == 404

    final = tmp_path / "var" / "work" / "trains" / str(train) / "merged" / "final"
    final.mkdir(parents=True)
    (final / "AnalysisResults.root").write_bytes(b"root" + bytes(range(256)) * 10)
    _set_output(world, str(final / "AnalysisResults.root"))
    r = served.get(f"/api/train-runs/{train}/result", headers=admin)
    assert r.status_code == 200, r.text
    assert r.content == (final / "AnalysisResults.root").read_bytes()
    assert f'filename="train-{train}-AnalysisResults.root"' in r.headers["content-disposition"]
    assert served.get(f"/api/train-runs/{train}/result").status_code == 401

    (final / "AnalysisResults.root").unlink()  # recorded, but gone from the storage
    r = served.get(f"/api/train-runs/{train}/result", headers=admin)
    assert r.status_code == 404 and "is not in the storage" in r.json()["message"]

    outside = tmp_path / "elsewhere.root"
    outside.write_bytes(b"root")
    _set_output(world, str(outside))  # never served: not the train's folder in the storage
    assert served.get(f"/api/train-runs/{train}/result", headers=admin).status_code == 404
