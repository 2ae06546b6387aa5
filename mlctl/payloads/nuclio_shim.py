"""Serve a Nuclio-style Python handler over plain HTTP (``--engine kubernetes``).

Shipped with the function's code in a ConfigMap and run as the container's
program, so it must work on any Python 3.8+ image: standard library only, no
import of mlctl. It reads ``MLCTL_SERVE`` (JSON: ``code`` file, ``handler``
as ``module:function``, ``port``, ``workers``), imports the code, calls the
module's ``init_context(context)`` once if there is one, then answers each
HTTP request by calling the handler with a Nuclio-like ``context`` and
``event``. At most ``workers`` requests run at once, as with the ``maxWorkers``
of Nuclio's HTTP trigger.

It is not Nuclio: HTTP only, one process, no platform API. MLRun's serving
runtime (``nuclio_init_hook``) finds what it needs here: ``context.logger``,
``context.Response``, ``context.trigger``, ``event.body/headers/path/method``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit


class Logger:
    """Nuclio's logger: plain methods and ``*_with`` methods taking key=value pairs."""

    def __init__(self, name: str) -> None:
        self._log = logging.getLogger(name)

    def _emit(self, level: int, message: str, fields: dict[str, Any]) -> None:
        extra = " ".join(f"{k}={v!r}" for k, v in fields.items())
        self._log.log(level, f"{message} {extra}".rstrip())

    def debug(self, message: str, *args: Any) -> None:
        self._log.debug(message, *args)

    def info(self, message: str, *args: Any) -> None:
        self._log.info(message, *args)

    def warn(self, message: str, *args: Any) -> None:
        self._log.warning(message, *args)

    warning = warn

    def error(self, message: str, *args: Any) -> None:
        self._log.error(message, *args)

    def debug_with(self, message: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, message, fields)

    def info_with(self, message: str, **fields: Any) -> None:
        self._emit(logging.INFO, message, fields)

    def warn_with(self, message: str, **fields: Any) -> None:
        self._emit(logging.WARNING, message, fields)

    warning_with = warn_with

    def error_with(self, message: str, **fields: Any) -> None:
        self._emit(logging.ERROR, message, fields)


class Response:
    """What a handler may return to set the status, headers or content type."""

    def __init__(
        self,
        headers: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        status_code: int = 200,
    ) -> None:
        self.headers = headers or {}
        self.body = body
        self.content_type = content_type
        self.status_code = status_code


class Trigger:
    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name


class UserData:
    """``context.user_data``: handlers keep their state on it."""


class Context:
    def __init__(self, name: str) -> None:
        self.logger = Logger(name)
        self.Response = Response
        self.user_data = UserData()
        self.trigger = Trigger("http", "http")
        self.worker_id = 0


class Event:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        url = urlsplit(path)
        self.id = str(uuid.uuid4())
        self.method = method
        self.path = url.path
        self.url = path
        self.fields = dict(parse_qsl(url.query))
        self.headers = headers
        self.content_type = headers.get("Content-Type", headers.get("content-type", ""))
        self.timestamp = time.time()
        self.trigger = Trigger("http", "http")
        # as Nuclio's Python runtime does: JSON bodies arrive decoded
        self.body: Any = body
        if body and self.content_type.split(";")[0].strip() == "application/json":
            with contextlib.suppress(ValueError):
                self.body = json.loads(body)


def load_handler(code: str, handler: str) -> tuple[Any, Any]:
    """(module, handler function) of ``module:function`` in the file ``code``."""
    module_name, _, function_name = handler.partition(":")
    spec = importlib.util.spec_from_file_location(module_name or "main", code)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {code}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(Path(code).parent))
    spec.loader.exec_module(module)
    return module, getattr(module, function_name or "handler")


def encode(result: Any) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of whatever a handler returned."""
    status, headers, content_type = 200, {}, ""
    if hasattr(result, "status_code") and hasattr(result, "body"):
        status = int(result.status_code or 200)
        headers = {str(k): str(v) for k, v in (getattr(result, "headers", None) or {}).items()}
        content_type = str(getattr(result, "content_type", "") or "")
        result = result.body
    if result is None:
        body = b""
    elif isinstance(result, bytes):
        body = result
    elif isinstance(result, str):
        body = result.encode("utf-8")
        content_type = content_type or "text/plain; charset=utf-8"
    else:
        body = json.dumps(result, default=str).encode("utf-8")
        content_type = content_type or "application/json"
    if content_type:
        headers["Content-Type"] = content_type
    return status, headers, body


def serve(settings: dict[str, Any]) -> None:
    context = Context(os.environ.get("HOSTNAME", "function"))
    module, handler = load_handler(str(settings["code"]), str(settings["handler"]))
    init = getattr(module, "init_context", None)
    if callable(init):
        init(context)
    slots = threading.BoundedSemaphore(max(1, int(settings.get("workers") or 1)))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            event = Event(self.command, self.path, dict(self.headers.items()), body)
            with slots:
                try:
                    status, headers, payload = encode(handler(context, event))
                except Exception as exc:  # a handler's error is the caller's 500, not the server's end
                    context.logger.error_with("handler failed", error=repr(exc))
                    status, headers, payload = 500, {"Content-Type": "text/plain"}, repr(exc).encode()
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _answer

        def log_message(self, format: str, *args: Any) -> None:
            context.logger.debug(format, *args)

    server = ThreadingHTTPServer(("0.0.0.0", int(settings.get("port") or 8080)), Handler)
    context.logger.info_with("serving", handler=settings["handler"], port=server.server_port)
    server.serve_forever()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = json.loads(os.environ["MLCTL_SERVE"])
    except (KeyError, ValueError) as exc:
        print(f"mlctl shim: MLCTL_SERVE is missing or not JSON ({exc})", file=sys.stderr)
        return 2
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
