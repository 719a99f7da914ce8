"""Google's two error shapes, as the real clients parse them.

JSON APIs (IAM, IAM Credentials, Resource Manager, Policy Analyzer) answer
`{"error": {"code", "message", "status", "details": [...]}}`: googleapiclient's `HttpError` takes
`reason` from `message` and `error_details` from `details`; google-api-core maps `code` to its
exception classes. The OAuth endpoints (STS `/v1/token`, OAuth2 `/token`) answer RFC 6749 style
`{"error": "invalid_grant", "error_description": "..."}` instead, which google-auth turns into
`OAuthError` / `RefreshError`. Handlers raise these exceptions; the app renders them.
"""

from __future__ import annotations

from typing import Any

from migrate.sandbox.http import Response

STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# gRPC code numbers, for `Operation.error.code` (a google.rpc.Status carries the gRPC code).
GRPC_CODE = {
    "OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
    "INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}


class GoogleApiError(Exception):
    """A google.rpc.Status-shaped error answer."""

    def __init__(self, code: int, message: str, status: str | None = None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_BY_CODE.get(code, "UNKNOWN")
        self.details = details or []

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            err["details"] = self.details
        return {"error": err}

    def response(self) -> Response:
        return Response.json(self.body(), self.code)


class OAuthError(Exception):
    """An RFC 6749 error answer from a token endpoint (STS or OAuth2)."""

    def __init__(self, error: str, description: str, code: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.code = code

    def response(self) -> Response:
        return Response.json({"error": self.error, "error_description": self.description}, self.code)


def error_info(reason: str, domain: str, **metadata: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": domain,
            "metadata": metadata}


def bad_request(violations: list[tuple[str, str]]) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": f, "description": d} if f else {"description": d}
                                for f, d in violations]}


def invalid(message: str, field: str = "") -> GoogleApiError:
    return GoogleApiError(400, message, "INVALID_ARGUMENT", [bad_request([(field, message)])])


def not_found(message: str) -> GoogleApiError:
    return GoogleApiError(404, message, "NOT_FOUND")


def already_exists(message: str = "Requested entity already exists") -> GoogleApiError:
    return GoogleApiError(409, message, "ALREADY_EXISTS")


def failed_precondition(message: str) -> GoogleApiError:
    return GoogleApiError(400, message, "FAILED_PRECONDITION")


def permission_denied(permission: str, resource: str | None = None,
                      domain: str = "iam.googleapis.com") -> GoogleApiError:
    """The 403 every Google API answers for a missing permission *or* an invisible resource.

    IAM's message does not name the resource; Resource Manager's and others' do."""
    where = f"resource '{resource}'" if resource and domain != "iam.googleapis.com" else "resource"
    return GoogleApiError(
        403, f"Permission '{permission}' denied on {where} (or it may not exist).",
        "PERMISSION_DENIED", [error_info("IAM_PERMISSION_DENIED", domain, permission=permission)])


def unauthenticated(reason: str = "CREDENTIALS_MISSING") -> GoogleApiError:
    return GoogleApiError(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "UNAUTHENTICATED", [error_info(reason, "googleapis.com")])


def aborted_concurrent() -> GoogleApiError:
    return GoogleApiError(409, "There were concurrent policy changes. Please retry the whole "
                       "read-modify-write with exponential backoff.", "ABORTED")
