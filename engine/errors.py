"""Errors the use cases raise; the API maps each kind to one HTTP status."""

from __future__ import annotations


class SagsflowError(Exception):
    status = 400

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(SagsflowError):
    status = 404


class Forbidden(SagsflowError):
    status = 403


class Unauthorized(SagsflowError):
    status = 401


class Locked(SagsflowError):
    """Too many failed log-ins: the account is locked for a while (`until`)."""

    status = 429


class Conflict(SagsflowError):
    status = 409


class ValidationFailed(SagsflowError):
    """Invalid input; `fields` maps each field to its messages."""

    status = 422

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None):
        super().__init__(message, fields=fields or {})
        self.fields = fields or {}


class ProcessDefinitionError(SagsflowError):
    """A BPMN/DMN file, form or catalogue entry that cannot be deployed."""

    status = 422
