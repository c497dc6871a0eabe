"""Every error the API answers has one JSON shape: {"code", "message", "field", "line"}.

`field` names the request field at fault ("pairs.3.qid", "limit"), `line` the line of an
uploaded or named file; either is null where it does not apply. No traceback ever reaches a
client: an unexpected exception is logged and answered 500 with code "server_error".
"""

import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError

from labeling.importers import ImportFileError

log = logging.getLogger(__name__)


class ErrorOut(Schema):
    code: str
    message: str
    field: str | None = None
    line: int | None = None


class ApiError(Exception):
    """Raised by handlers for a refused request: answered with its status and the one shape."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None, line: int | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.line = status, code, message, field, line
        self.headers = headers or {}


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"no such {what}")


def bad_request(message: str, *, field: str | None = None, line: int | None = None) -> ApiError:
    return ApiError(400, "invalid", message, field=field, line=line)


# The error responses every operation declares (its own 2xx added): schemathesis holds the
# server to them.
ERRORS: dict[int, type[Schema]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
LIMITED: dict[int, type[Schema]] = {**ERRORS, 429: ErrorOut}


def _answer(api: NinjaAPI, request: HttpRequest, status: int, code: str, message: str,
            field: str | None = None, line: int | None = None) -> HttpResponse:
    response = api.create_response(request, {"code": code, "message": message, "field": field, "line": line},
                                   status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="assessor"'
    return response


def _field(loc: list | tuple) -> str | None:
    """A pydantic location as a dotted field name: ("body", "payload", "pairs", 3, "qid") is
    "pairs.3.qid" (the source and, for a body, the handler's parameter name dropped)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[2:]
    elif parts and parts[0] in ("query", "path", "header", "form", "file", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or None


def errors_install(api: NinjaAPI) -> None:
    def api_error(request: HttpRequest, exc: Any) -> HttpResponse:
        response = _answer(api, request, exc.status, exc.code, exc.message, exc.field, exc.line)
        for name, value in exc.headers.items():
            response[name] = value
        return response

    def validation(request: HttpRequest, exc: Any) -> HttpResponse:
        # Any: ninja's handler type takes the exception or its class.
        first = exc.errors[0] if exc.errors else {}
        message = str(first.get("msg", "invalid request"))
        if len(exc.errors) > 1:
            message += f" (and {len(exc.errors) - 1} more)"
        return _answer(api, request, 422, "invalid", message, _field(first.get("loc", ())))

    def import_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return _answer(api, request, 400, "invalid_file", exc.detail, exc.field, exc.line)

    def http_error(request: HttpRequest, exc: Any) -> HttpResponse:
        if isinstance(exc, AuthenticationError):
            return _answer(api, request, 401, "unauthenticated",
                           "an API token is required: send 'Authorization: Bearer <token>'")
        if isinstance(exc, AuthorizationError):
            return _answer(api, request, 403, "forbidden", str(exc))
        if isinstance(exc, Throttled):
            return _answer(api, request, 429, "rate_limited", str(exc))
        return _answer(api, request, exc.status_code, "error", str(exc))

    def malformed(request: HttpRequest, exc: Any) -> HttpResponse:
        return _answer(api, request, 400, "invalid", f"the request body could not be read: {exc}")

    def http404(request: HttpRequest, exc: Any) -> HttpResponse:
        return _answer(api, request, 404, "not_found", "not found")

    def unexpected(request: HttpRequest, exc: Any) -> HttpResponse:
        log.exception("API %s %s failed", request.method, request.path)
        return _answer(api, request, 500, "server_error", "the server failed to answer this request; it is logged")

    api.add_exception_handler(ApiError, api_error)
    api.add_exception_handler(ValidationError, validation)
    api.add_exception_handler(ImportFileError, import_error)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(Http404, http404)
    api.add_exception_handler(MultiPartParserError, malformed)
    api.add_exception_handler(Exception, unexpected)
