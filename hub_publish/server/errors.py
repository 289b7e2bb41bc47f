"""Errors of the Hub-compatible server, each carrying the HTTP status and Hub error code.

huggingface_hub maps responses to its exception classes through the ``X-Error-Code`` header
(``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``; see ``hf_raise_for_status`` in
huggingface_hub/utils/_http.py) and shows ``X-Error-Message`` / the JSON ``error`` field to the
user. Every refusal of the server is one of these, raised anywhere and rendered once in app.py.
"""

from __future__ import annotations


class HubError(Exception):
    """A refused request: HTTP status, one clear message, optional Hub error code."""

    status: int = 400
    code: str | None = None

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None, extra: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.extra = dict(extra or {})  # more fields of the JSON body (e.g. `url` of a 409 on create)
        self.headers = dict(headers or {})  # more response headers (e.g. Content-Range of a 416)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class BadRequest(HubError):
    status = 400


class Unauthorized(HubError):
    status = 401


class Forbidden(HubError):
    status = 403


class RepoNotFound(HubError):
    status = 404
    code = "RepoNotFound"


class RevisionNotFound(HubError):
    status = 404
    code = "RevisionNotFound"


class EntryNotFound(HubError):
    status = 404
    code = "EntryNotFound"


class Conflict(HubError):
    status = 409


class PreconditionFailed(HubError):
    status = 412


class PayloadTooLarge(HubError):
    status = 413


class RangeNotSatisfiable(HubError):
    """No range of a Range header starts inside the file (RFC 9110 15.5.17: with ``Content-Range: bytes */size``)."""

    status = 416


class NotSupported(HubError):
    status = 404


class Unavailable(HubError):
    """The server cannot complete the request now (e.g. an upload's temp file was collected); retry."""

    status = 503
