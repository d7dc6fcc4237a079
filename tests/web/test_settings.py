"""Settings: typed, documented, read from env or a file, unsafe secrets refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperloop.settings import (
    SETTINGS_DOC,
    Settings,
    SettingsError,
    load_settings,
)

GOOD_SECRET = "x" * 40


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("HYPERLOOP_"):
            monkeypatch.delenv(key)


def test_every_setting_has_a_help_string() -> None:
    undocumented = [
        n for n, f in Settings.model_fields.items() if not (f.description or "").strip()
    ]
    assert undocumented == []
    for name in Settings.model_fields:
        assert f"HYPERLOOP_{name.upper()}" in SETTINGS_DOC


def test_defaults_are_a_working_development_setup() -> None:
    settings = load_settings()
    assert settings.environment == "development"
    assert settings.database_url == f"sqlite:///{Path('var/hyperloop.db').resolve()}"
    assert settings.secret_key is None  # generated per installation at first start
    assert not settings.secure_cookies


def test_default_database_is_in_the_data_folder_whatever_the_current_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 17: a server restarted from another folder opened an empty database."""
    data = tmp_path / "data"
    monkeypatch.setenv("HYPERLOOP_DATA_DIR", str(data))
    urls = []
    for here in (tmp_path, tmp_path / "elsewhere"):
        here.mkdir(exist_ok=True)
        monkeypatch.chdir(here)
        urls.append(load_settings().database_url)
    assert urls == [f"sqlite:///{data / 'hyperloop.db'}"] * 2
    monkeypatch.setenv("HYPERLOOP_DATABASE_URL", "sqlite:////srv/hl.db")
    assert load_settings().database_url == "sqlite:////srv/hl.db"  # a configured URL wins


def test_production_without_a_configured_secret_is_refused() -> None:
    with pytest.raises(SettingsError, match="a configured secret is required"):
        load_settings(environment="production")


def test_short_secret_is_refused_in_production() -> None:
    with pytest.raises(SettingsError, match="too short"):
        load_settings(environment="production", secret_key="short")


def test_production_with_a_real_secret_forces_secure_cookies() -> None:
    settings = load_settings(environment="production", secret_key=GOOD_SECRET)
    assert settings.secure_cookies


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERLOOP_PORT", "9123")
    monkeypatch.setenv("HYPERLOOP_TRUSTED_PROXIES", '["10.0.0.0/8", "127.0.0.1"]')
    settings = load_settings()
    assert settings.port == 9123
    assert settings.trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]


def test_production_via_environment_without_secret_fails_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HYPERLOOP_ENVIRONMENT", "production")
    with pytest.raises(SettingsError, match="HYPERLOOP_SECRET_KEY"):
        load_settings()


def test_toml_settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "hyperloop.toml"
    path.write_text(
        f'environment = "production"\nsecret_key = "{GOOD_SECRET}"\n'
        'database_url = "sqlite:////srv/hl.db"\nport = 8443\n'
    )
    monkeypatch.setenv("HYPERLOOP_SETTINGS_FILE", str(path))
    monkeypatch.setenv("HYPERLOOP_PORT", "9000")  # the environment wins over the file
    settings = load_settings()
    assert settings.environment == "production"
    assert settings.database_url == "sqlite:////srv/hl.db"
    assert settings.port == 9000


def test_env_style_settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "hyperloop.env"
    path.write_text("HYPERLOOP_DATABASE_URL=postgresql+psycopg://h@db/hl\nHYPERLOOP_PORT=81\n")
    monkeypatch.setenv("HYPERLOOP_SETTINGS_FILE", str(path))
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://h@db/hl"
    assert settings.port == 81


def test_missing_settings_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HYPERLOOP_SETTINGS_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match="nope.toml"):
        load_settings()


def test_unknown_setting_in_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "h.toml"
    path.write_text('datbase_url = "typo"\n')
    monkeypatch.setenv("HYPERLOOP_SETTINGS_FILE", str(path))
    with pytest.raises(SettingsError, match="datbase_url"):
        load_settings()


def test_oidc_needs_its_settings() -> None:
    with pytest.raises(SettingsError, match="oidc_client_id"):
        load_settings(oidc_enabled=True, oidc_metadata_url="https://idp/.well-known")


def test_proxy_auth_needs_trusted_proxies() -> None:
    with pytest.raises(SettingsError, match="trusted_proxies is empty"):
        load_settings(proxy_auth_enabled=True)


def test_bad_proxy_network_is_named() -> None:
    with pytest.raises(SettingsError, match="10.0.0.300"):
        load_settings(trusted_proxies=["10.0.0.300"])


def test_storage_roots_and_public_url_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERLOOP_STORAGE_ROOTS", '["/data/alice", "root://eos.example.org//eos/"]')
    settings = load_settings()
    assert settings.dataset_roots.check("/data/alice/544013/AO2D.root")
    assert settings.public_url is None and settings.server_url == "http://127.0.0.1:8000"
    monkeypatch.setenv("HYPERLOOP_STORAGE_ROOTS", '["data/alice"]')
    with pytest.raises(SettingsError, match="storage_roots"):
        load_settings()
    monkeypatch.delenv("HYPERLOOP_STORAGE_ROOTS")
    monkeypatch.setenv("HYPERLOOP_PUBLIC_URL", "https://hyperloop.example.org/")
    assert load_settings().server_url == "https://hyperloop.example.org"
    monkeypatch.setenv("HYPERLOOP_PUBLIC_URL", "javascript:alert(1)")
    with pytest.raises(SettingsError, match="public_url"):
        load_settings()
