"""Shared fixtures: the real files beside the repository and small AO2D test files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
# Copies of the real files of ``shared/realdata`` (see tests/data/realdata/README.md): a clone
# of the project alone passes its tests.
REALDATA = REPO_ROOT / "tests" / "data" / "realdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The folder of real O2 files carried by the project (``tests/data/realdata``)."""
    if not REALDATA.is_dir():
        pytest.fail(f"real data folder missing: {REALDATA}")
    return REALDATA


@pytest.fixture
def tmp_ao2d(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing a small AO2D file: ``{df_id: {o2name: {column: array}}}`` -> path."""
    from hyperloop.analysis.ao2d_writer import AO2DWriter

    counter = iter(range(1_000_000))

    def make(
        dataframes: Mapping[int | str, Mapping[str, Mapping[str, np.ndarray]]],
        name: str | None = None,
        **writer_options: object,
    ) -> Path:
        path = tmp_path / (name or f"AO2D_{next(counter)}.root")
        with AO2DWriter(path, **writer_options) as writer:
            for df_id, tables in dataframes.items():
                writer.write_dataframe(df_id, tables)
        return path

    return make
