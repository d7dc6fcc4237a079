"""Who performs an operation: the effective user and, under impersonation, the admin."""

from __future__ import annotations

from dataclasses import dataclass

from hyperloop.db.models import User


@dataclass(frozen=True)
class Actor:
    """The acting user; ``impersonator`` is the admin acting as ``user`` (both are recorded)."""

    user: User
    impersonator: User | None = None

    @property
    def label(self) -> str:
        if self.impersonator is not None:
            return f"{self.impersonator.username} as {self.user.username}"
        return self.user.username
