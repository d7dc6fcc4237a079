"""End-to-end tests: the running system (web server, scheduler, Dask scheduler and workers as
separate processes) driven through its API; see ``tests/e2e/system.py``."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import pytest
from tests.e2e.system import System, running_system

SystemFactory = Callable[..., System]
_count = itertools.count()


@pytest.fixture
def system_factory(tmp_path: Path) -> Iterator[SystemFactory]:
    """``system_factory(**settings)``: a running system with extra settings (Settings field
    names, e.g. ``scheduler_max_attempts="2"``), stopped at the end of the test."""
    with ExitStack() as stack:

        def make(**settings) -> System:
            cm: AbstractContextManager[System] = running_system(
                tmp_path / f"system{next(_count)}", **settings
            )
            return stack.enter_context(cm)

        yield make


@pytest.fixture
def system(system_factory: SystemFactory) -> System:
    """A running system with the default settings."""
    return system_factory()
