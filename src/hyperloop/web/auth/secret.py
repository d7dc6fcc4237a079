"""The server secret: the configured ``secret_key``, or one generated per installation.

An installation without a configured secret (development, the demo) generates a random one
at first start and keeps it with its data in ``<data_dir>/secret_key`` (mode 0600), so no
two installations share a secret and none is written in the source.  Several processes
starting at once agree on one file: it is created under a temporary name and linked into
place, and whoever loses the race reads the winner's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from hyperloop.settings import MIN_SECRET_LENGTH, Settings

SECRET_FILE = "secret_key"


class SecretError(RuntimeError):
    """The generated secret file cannot be read or written (message names the file)."""


def secret_file(settings: Settings) -> Path:
    """Where an installation without a configured secret keeps its generated one."""
    return Path(settings.data_dir) / SECRET_FILE


def server_secret(settings: Settings) -> str:
    """The configured secret, else the installation's generated one (created if missing)."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value()
    path = secret_file(settings)
    try:
        if not path.exists():
            _create(path)
        value = path.read_text().strip()
    except OSError as exc:
        raise SecretError(
            f"cannot keep the generated secret in {path}: {exc}; set HYPERLOOP_SECRET_KEY "
            "or make data_dir writable"
        ) from None
    if len(value) < MIN_SECRET_LENGTH:
        raise SecretError(
            f"{path} holds {len(value)} characters, fewer than {MIN_SECRET_LENGTH}: delete it "
            "to generate a new secret (this ends every login session)"
        )
    return value


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        with contextlib.suppress(FileExistsError):  # another process was first: keep its
            os.link(temporary, path)  # atomic, and never replaces an existing secret
    finally:
        temporary.unlink(missing_ok=True)
