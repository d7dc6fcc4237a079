"""Structured error responses: ``{"error": code, "message": ..., "details": ...}``.

Domain errors carry their own code and status; ``ApiError`` is the web layer's own. The
handlers that rewrite every error to this shape (and to an HTML page for a browser) are in
:mod:`hyperloop.web.error_handlers`, which may import the request dependencies; this
module imports nothing of the web layer, so every module of it may import this one.
"""

from __future__ import annotations

from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel

HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}


class ErrorBody(BaseModel):
    """Every error the API returns has this shape."""

    error: str
    message: str
    details: Any = None


class ApiError(Exception):
    """An error raised by the web layer itself (authentication, CSRF, bad upload)."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None, headers: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict | None = None
) -> JSONResponse:
    body = {"error": code, "message": message, "details": jsonable_encoder(details)}
    return JSONResponse(status_code=status, content=body, headers=headers)


# The errors any API operation may answer, documented on every one (the router's
# ``responses=``): 413 for a request body over a size limit (uploads, request limits).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": code.replace("_", " ")}
    for status, code in HTTP_CODES.items()
    if status in (400, 401, 403, 404, 409, 413, 422)
}
