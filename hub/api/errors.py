"""Every error leaves as `{"error": {"code", "message"}}` with a fitting status."""

from __future__ import annotations

import logging

from aiohttp import web

from channels.base import PayloadError, SignatureError
from crm_core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from crm_core.records import is_transient

log = logging.getLogger(__name__)

_DOMAIN_STATUS = {NotFound: 404, Invalid: 422, Conflict: 409, Forbidden: 403}
CLIENT_CLOSED = 499  # as nginx counts a request whose client left before the answer


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _client_left(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    except DomainError as exc:
        return error_response(_DOMAIN_STATUS.get(type(exc), 400), exc.code, str(exc))
    except PayloadError as exc:
        return error_response(400, "bad_payload", str(exc))
    except SignatureError as exc:
        return error_response(401, "bad_signature", str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's default text is "404: Not Found"; a specific one (413's size limit) is worth passing on.
        text = exc.text or ""
        specific = text and not text.startswith(f"{exc.status}:")
        return error_response(
            exc.status, exc.reason.lower().replace(" ", "_"), text if specific else exc.reason
        )
    except ConnectionResetError:
        if not _client_left(request):
            raise
        # Nobody is there to answer: a short note at debug level (a log line per dropped
        # connection, with a traceback, let anyone fill the log).
        log.debug("client closed the connection", extra={"path": request.path})
        return error_response(CLIENT_CLOSED, "client_closed", "the client closed the connection")
    except Exception as exc:
        if is_transient(exc):
            log.warning("database unavailable", extra={"path": request.path, "error": exc.__class__.__name__})
            return error_response(
                503, "database_unavailable", "the database is unreachable or busy; try again shortly"
            )
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal", "internal error")
