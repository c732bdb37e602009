"""Domain errors: each carries its HTTP status and a stable machine-readable code.

One handler in `gito.api.app` renders them into the error envelope."""

from __future__ import annotations

from typing import Any


class GitoError(Exception):
    status_code = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class NotFound(GitoError):
    status_code = 404
    code = "NOT_FOUND"


class Unauthorized(GitoError):
    status_code = 401
    code = "UNAUTHORIZED"


class Forbidden(GitoError):
    status_code = 403
    code = "FORBIDDEN"


class Conflict(GitoError):
    status_code = 409
    code = "CONFLICT"


class InvalidInput(GitoError):
    status_code = 422
    code = "VALIDATION_ERROR"


class PayloadTooLarge(GitoError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"


class RateLimited(GitoError):
    status_code = 429
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code, details={"retry_after": retry_after})
        self.retry_after = retry_after
