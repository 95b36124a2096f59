"""OpenAI-shaped errors: {"error": {"message", "type", "param", "code"}} with the right HTTP status, never a
traceback."""
from __future__ import annotations

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unavailable, WorkbenchError


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, type: str, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, type="invalid_request_error", param=param, code=code)


def unauthorized(message: str = "Missing or invalid API key; send it as 'Authorization: Bearer KEY'.") -> ApiError:
    return ApiError(401, message, type="authentication_error", code="invalid_api_key")


def forbidden(message: str, code: str = "insufficient_scope") -> ApiError:
    return ApiError(403, message, type="permission_error", code=code)


def not_found(message: str, param: str | None = "model") -> ApiError:
    return ApiError(404, message, type="invalid_request_error", param=param, code="model_not_found")


def too_large(message: str) -> ApiError:
    return ApiError(413, message, type="invalid_request_error", param="messages", code="context_length_exceeded")


def rate_limited(message: str, retry_after_s: int) -> ApiError:
    return ApiError(429, message, type="rate_limit_error", code="rate_limit_exceeded",
                    headers={"Retry-After": str(retry_after_s)})


def unavailable(message: str, retry_after_s: int | None = None, code: str = "unavailable") -> ApiError:
    return ApiError(503, message, type="server_error", code=code,
                    headers={"Retry-After": str(retry_after_s)} if retry_after_s else None)


def from_workbench(exc: WorkbenchError) -> ApiError:
    """A core error as the status a client expects."""
    message = str(exc)
    if isinstance(exc, NotFound):
        return not_found(message, param=None)
    if isinstance(exc, PermissionDenied):
        return forbidden(message, code="permission_denied")
    if isinstance(exc, InvalidInput):
        return bad_request(message)
    if isinstance(exc, Conflict):
        return ApiError(409, message, type="invalid_request_error", code="conflict")
    if isinstance(exc, Unavailable):
        return unavailable(message, retry_after_s=5)
    return ApiError(500, message, type="server_error", code="internal_error")


def internal() -> ApiError:
    return ApiError(500, "The server failed on this request; the details are in its log.", type="server_error",
                    code="internal_error")
