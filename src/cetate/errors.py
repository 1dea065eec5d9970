"""The one error tree of Cetate.

Every error a user can cause is a ``CetateError``. On the API it becomes an NGSI-LD
ProblemDetails document (type, title, detail, status); on the CLI a one-line message and a
non-zero exit code. Anything else that escapes is a bug and is logged as such.
"""

from __future__ import annotations

from typing import Any, ClassVar

NGSI_ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"


class CetateError(Exception):
    """A failure the caller can understand and act on."""

    type_uri: ClassVar[str] = NGSI_ERRORS + "InternalError"
    title: ClassVar[str] = "Internal error"
    status: ClassVar[int] = 500

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        """The ProblemDetails document (RFC 7807, NGSI-LD error types) for this error."""
        return {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }


class InvalidRequest(CetateError):
    type_uri = NGSI_ERRORS + "InvalidRequest"
    title = "Invalid request"
    status = 400


class BadRequestData(CetateError):
    type_uri = NGSI_ERRORS + "BadRequestData"
    title = "Bad request data"
    status = 400


class ResourceNotFound(CetateError):
    type_uri = NGSI_ERRORS + "ResourceNotFound"
    title = "Resource not found"
    status = 404


class AlreadyExists(CetateError):
    type_uri = NGSI_ERRORS + "AlreadyExists"
    title = "Already exists"
    status = 409


class Conflict(CetateError):
    """A request that the resource's current state forbids (resolving an alert twice): 409.
    NGSI-LD has no error type for it; as for 406/413/415 the type is InvalidRequest."""

    type_uri = NGSI_ERRORS + "InvalidRequest"
    title = "Conflict"
    status = 409


class OperationNotSupported(CetateError):
    type_uri = NGSI_ERRORS + "OperationNotSupported"
    title = "Operation not supported"
    status = 422


class TooComplexQuery(CetateError):
    type_uri = NGSI_ERRORS + "TooComplexQuery"
    title = "Too complex query"
    status = 403


class TooManyResults(CetateError):
    type_uri = NGSI_ERRORS + "TooManyResults"
    title = "Too many results"
    status = 403


class LdContextNotAvailable(CetateError):
    type_uri = NGSI_ERRORS + "LdContextNotAvailable"
    title = "JSON-LD context not available"
    # 504 Gateway Timeout: the status of NGSI-LD v1.8+ (Table 6.3.2-1), which the ETSI
    # conformance suite asserts for every version; v1.6 listed 503.
    status = 504


class NonexistentTenant(CetateError):
    type_uri = NGSI_ERRORS + "NonexistentTenant"
    title = "Nonexistent tenant"
    status = 404


class UnsupportedMediaType(CetateError):
    type_uri = NGSI_ERRORS + "InvalidRequest"
    title = "Unsupported media type"
    status = 415


class NotAcceptable(CetateError):
    type_uri = NGSI_ERRORS + "InvalidRequest"
    title = "Not acceptable"
    status = 406


class PayloadTooLarge(CetateError):
    type_uri = NGSI_ERRORS + "InvalidRequest"
    title = "Payload too large"
    status = 413


class ConfigError(CetateError):
    """A setting or command-line option that cannot work (CLI and start-up only)."""

    type_uri = NGSI_ERRORS + "InvalidRequest"
    title = "Configuration error"
    status = 400


# Accounts (cetate.web.auth). NGSI-LD defines no error type for these, so, as for 406/413/415,
# the type is InvalidRequest and the status and title tell them apart.
class NotAuthenticated(CetateError):
    """No credentials, or credentials that are not (or no longer) valid: 401."""

    type_uri = NGSI_ERRORS + "InvalidRequest"
    title = "Not authenticated"
    status = 401


class Forbidden(CetateError):
    """Valid credentials whose roles do not allow the request: 403."""

    type_uri = NGSI_ERRORS + "InvalidRequest"
    title = "Forbidden"
    status = 403


class TooManyAttempts(CetateError):
    """Failed logins from one user name or address are slowed down: 429."""

    type_uri = NGSI_ERRORS + "InvalidRequest"
    title = "Too many attempts"
    status = 429
