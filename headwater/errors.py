"""One error hierarchy for the whole package; the gateway maps each class to an HTTP status in one place."""

from __future__ import annotations


class HeadwaterError(Exception):
    """Base of every error Headwater raises on purpose. `param` names the offending field when there is one."""

    status_code = 500
    error_type = "internal_error"
    retry_after_s: int | None = None
    """Seconds after which a retry may succeed (sent as `Retry-After`), when the error says so."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequestError(HeadwaterError, ValueError):
    """The input is wrong: a field is missing, of the wrong type or out of range. Also a ValueError, so code that
    catches the standard error for a bad value keeps working."""

    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationError(HeadwaterError):
    """No API key, or one that is unknown or revoked."""

    status_code = 401
    error_type = "authentication_error"


class NotFoundError(HeadwaterError):
    """The named thing (model, key, job) does not exist."""

    status_code = 404
    error_type = "not_found_error"


class PayloadTooLargeError(HeadwaterError):
    """The request body is larger than the configured limit."""

    status_code = 413
    error_type = "invalid_request_error"


class RateLimitError(HeadwaterError):
    """The platform or the tenant has too many requests in flight; retry after `retry_after_s`."""

    status_code = 429
    error_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class EngineUnavailableError(HeadwaterError):
    """The task executor serving the request died or is restarting, or the model could not be brought up in
    time; the request did not complete."""

    status_code = 503
    error_type = "service_unavailable"

    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModelLoadError(HeadwaterError):
    """A model or tokenizer could not be found or loaded."""

    status_code = 400
    error_type = "invalid_request_error"


class ForbiddenError(HeadwaterError):
    """The key is valid but may not do this (an annotator calling an admin route, say)."""

    status_code = 403
    error_type = "permission_error"


class ConflictError(HeadwaterError):
    """The thing already exists or was already done (a set name taken, an article already annotated)."""

    status_code = 409
    error_type = "conflict_error"
