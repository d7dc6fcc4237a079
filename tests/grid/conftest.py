"""Grid fixtures: an engine, a package tag directory of test workflows, AO2D files."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.factories import make_catalogue, make_package


@pytest.fixture(scope="session")
def engine():
    """An embedded LocalCluster with two single-threaded workers (nannies restart them)."""
    from hyperloop.grid.engine import Engine

    with Engine.local(n_workers=2) as eng:
        yield eng


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory) -> Path:
    return make_package(tmp_path_factory.mktemp("tag") / "gridtest-1.0")


@pytest.fixture(scope="session")
def catalogue(tmp_path_factory) -> dict[int, list[tuple[str, int]]]:
    return make_catalogue(tmp_path_factory.mktemp("data"))
