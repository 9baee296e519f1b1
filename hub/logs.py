"""Structured (JSON lines) logs. Message bodies and secrets are never logged at info level."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from hub.client_address import CLIENT_ADDRESS

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# Credentials that may ride in text we do not write ourselves: aiohttp logs the first bytes of
# a request it cannot parse (an over-long line or header), query string and headers included.
_CREDENTIALS = re.compile(
    r"(?i)(?P<key>(?:access_token|token|password|secret|api_key)=|authorization:\s*(?:bearer\s+|basic\s+)?|bearer\s+)"
    r"(?P<value>[^\s&'\\\"]+)"
)


def redacted(text: str) -> str:
    return _CREDENTIALS.sub(lambda m: f"{m['key']}[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redacted(json.dumps(entry, default=str))


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("pymongo", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class ClientFaults(logging.Filter):
    """aiohttp logs a request it cannot parse (an over-long line or header, a NUL byte) and a
    client gone mid-answer as an error with a traceback: anyone could fill the log with them.
    They become one short debug line, without the request's bytes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError | ConnectionResetError):
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.msg, record.args = f"bad request or client gone: {type(exc).__name__}", ()
        record.exc_info = None
        return True


_CLIENT_FAULTS = ClientFaults()


def quiet_client_faults() -> None:
    logging.getLogger("aiohttp.server").addFilter(_CLIENT_FAULTS)  # once: filters are a set


class AccessLogger(AbstractAccessLogger):
    """Method, path without its query (it may carry a token), status, duration and the client's
    address (behind trusted proxies, the one they reported)."""

    def log(self, request, response, time: float) -> None:
        self.logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "ms": round(time * 1000, 2),
                "remote": request.get(CLIENT_ADDRESS) or request.remote,
            },
        )
