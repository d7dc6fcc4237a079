"""Typed domain errors; the web layer maps ``code``/``status`` to its structured responses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every refusal of the domain; ``details`` is JSON-serialisable context."""

    code = "domain_error"
    status = 400

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(DomainError):
    code = "not_found"
    status = 404


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403


class Conflict(DomainError):
    """The object changed since the caller saw it (``details['changes']`` says how)."""

    code = "conflict"
    status = 409


class IllegalTransition(Conflict):
    code = "illegal_transition"


class ValidationError(DomainError):
    code = "validation_error"
    status = 422
