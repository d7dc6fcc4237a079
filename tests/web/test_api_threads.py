"""The ``api_threads`` setting: how many synchronous handlers a server process runs at once,
applied when the server starts (anyio's thread limiter of the server's event loop)."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient

from hyperloop.settings import Settings, SettingsError, load_settings
from hyperloop.web.app import create_app


def _limit_in_server(client: TestClient) -> float:
    """The thread limit of the running server's event loop."""
    return client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)


@pytest.mark.parametrize("threads", [1, 3])
def test_the_server_runs_as_many_handler_threads_as_set(tmp_path: Path, threads: int) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'h.db'}", data_dir=tmp_path, api_threads=threads
    )
    with TestClient(create_app(settings)) as client:
        assert _limit_in_server(client) == threads
        health = client.get("/api/health")  # a database not migrated: said, not a 500
        assert health.status_code == 200
        assert "is the database migrated" in health.json()["parts"]["scheduler"]["detail"]


def test_the_default_is_the_documented_measured_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HYPERLOOP_API_THREADS", raising=False)
    default = Settings.model_fields["api_threads"].default
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", data_dir=tmp_path)
    assert settings.api_threads == default
    with TestClient(create_app(settings)) as client:
        assert _limit_in_server(client) == default
    guide = Path(__file__).resolve().parents[2] / "docs" / "operator-guide" / "deployment.md"
    assert f"`api_threads`, default {default}" in guide.read_text()


def test_the_environment_sets_it_and_nonsense_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HYPERLOOP_API_THREADS", "12")
    assert load_settings().api_threads == 12
    monkeypatch.setenv("HYPERLOOP_API_THREADS", "0")
    with pytest.raises(SettingsError, match="api_threads"):
        load_settings()
