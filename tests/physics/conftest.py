"""Fixtures of the physics-package tests: the installed package, a train runner and a small
PYTHIA demo dataset with MC truth (fast mode: a cached pool of PYTHIA events resampled)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from hyperloop.analysis.plan import build_plan
from hyperloop.analysis.results import read_results
from hyperloop.analysis.runner import RunResult, run_train
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.workflows import Package, load_package

SERVICES = ("track-propagation", "event-selection", "track-selection", "multiplicity", "pid")


@pytest.fixture(scope="session")
def physics() -> Package:
    """The installed hyperloop-physics package (pip install -e physics/)."""
    return load_package(name="hyperloop-physics")


class TrainRun:
    """A finished train: its RunResult and the histograms per task instance."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        failure = result.task_failure
        assert failure is None, f"task failed: {failure and failure['traceback']}"
        assert result.exit_code == 0, [f.message for f in result.failed_files]
        self.histos = read_results(result.outputs["AnalysisResults"])

    @property
    def derived(self) -> str:
        return self.result.outputs["AO2D"]


def make_spec(
    workflows: Sequence[str],
    configuration: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    derived_tables: Sequence[str] = (),
) -> TrainSpec:
    """A full_config.json train of ``workflows`` (configuration: workflow -> task -> params)."""
    configuration = configuration or {}
    raw: dict[str, Any] = {
        "package_tag": "hyperloop-physics-dev",
        "workflows": [
            {
                "workflow_name": wf,
                "suffix": "",
                "wagon_id": i + 1,
                "configuration": dict(configuration.get(wf, {})),
            }
            for i, wf in enumerate(workflows)
        ],
    }
    if derived_tables:
        raw["derived_data"] = True
        raw["OutputDirector"] = {"OutputDescriptors": [{"table": t} for t in derived_tables]}
    return TrainSpec.from_json(raw)


def train_runner(physics: Package, tmp_dir: Path) -> Callable[..., TrainRun]:
    """A function running trains in-process into numbered folders of ``tmp_dir``."""
    counter = iter(range(1000))

    def run(
        workflows: Sequence[str],
        inputs: Sequence[str | Path],
        *,
        configuration: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
        derived_tables: Sequence[str] = (),
        registry: Any = None,
    ) -> TrainRun:
        spec = make_spec(workflows, configuration, derived_tables)
        plan = build_plan(spec, physics, registry=registry)
        out = tmp_dir / f"train_{next(counter)}"
        return TrainRun(run_train(plan, [str(p) for p in inputs], out))

    return run


@pytest.fixture
def train(physics: Package, tmp_path: Path) -> Callable[..., TrainRun]:
    """Run a train in-process: ``train(workflows, inputs, configuration=..., ...)``."""
    return train_runner(physics, tmp_path)


@pytest.fixture(scope="session")
def session_train(physics: Package, tmp_path_factory: pytest.TempPathFactory):
    """Like ``train`` but usable from module/session-scoped fixtures."""
    return train_runner(physics, tmp_path_factory.mktemp("trains"))


@pytest.fixture(scope="session")
def mc_dataset(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """8000 PYTHIA 8 pp events with MC truth in 2 files of 4 dataframes (fast mode)."""
    from hyperloop.demo import generate_dataset

    out = tmp_path_factory.mktemp("demo_mc")
    manifest = generate_dataset(
        out,
        [523401],
        8000,
        mc=True,
        seed=11,
        fast=True,
        pool_size=400,
        events_per_df=1000,
        dfs_per_file=4,
        level=1,
    )
    return manifest.paths()


@pytest.fixture(scope="session")
def ud_file(realdata: Path) -> Path:
    return realdata / "AO2D_ud_rho_run3.root"
