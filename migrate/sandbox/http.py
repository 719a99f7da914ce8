"""The HTTP plumbing both emulators share: routing, request log, latency and fault injection.

An `App` is a list of routes (method + regex over the path) and handler functions
`(Request) -> Response`. `SandboxServer` serves one App on 127.0.0.1 with a thread per request,
records every request (method, path, status, time) for `GET /_sandbox/requests`, and applies
injected faults before or after the handler:

- `fail`: answer the next N matching requests with a status (and optional Retry-After) without
  running the handler;
- `drop_after`: run the handler (the write is applied) and then close the connection without an
  answer, so the client cannot know whether it happened;
- `hang_after`: run the handler and then hold the connection without answering (until
  `release_hung()`, the server stops, or `delay_s`), so a test can kill the client process at the
  very point where the write is done and unacknowledged;
- latency: a fixed delay per request, plus per-fault extra delay (`mode: delay` only delays);
- `rate`: a fault applies to each matching request with that probability (random 5xx, slow
  responses), instead of to the next N.

Handlers mutate state under `App.lock` (one lock per emulator keeps the state consistent; the
emulators are not meant to be fast, only faithful).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)


@dataclass
class Request:
    method: str
    path: str  # percent-decoded path without the query
    raw_path: str  # as sent, still percent-encoded
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # regex groups of the matched route

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def json(self) -> Any:
        if not self.body:
            return {}
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    def data(self) -> dict[str, Any]:
        """The body as a dict whatever the content type (JSON or form), merged over the query."""
        merged: dict[str, Any] = {k: v[-1] for k, v in self.query.items()}
        ctype = self.headers.get("content-type", "")
        if self.body:
            if "json" in ctype or self.body[:1] in (b"{", b"["):
                body = self.json()
                if isinstance(body, dict):
                    merged.update(body)
            else:
                merged.update(self.form())
        return merged


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return cls(status, json.dumps(data).encode("utf-8"), h)

    @classmethod
    def text(cls, text: str | bytes, status: int = 200, content_type: str = "text/plain") -> Response:
        body = text.encode("utf-8") if isinstance(text, str) else text
        return cls(status, body, {"Content-Type": content_type})


Handler = Callable[[Request], Response]


@dataclass
class Fault:
    """An injected fault for requests whose method and path match."""

    method: str  # "*" for any
    path_regex: str
    status: int = 500
    count: int = 1  # remaining; -1 = forever
    mode: str = "fail"  # "fail" | "drop_after" | "hang_after" | "delay"
    retry_after: int | None = None
    delay_s: float = 0.0
    body: Any = None
    rate: float = 1.0  # probability that a matching request gets the fault (random faults: 0.05)

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and re.search(self.path_regex, path) is not None


FAULT_MODES = ("fail", "drop_after", "hang_after", "delay")


@dataclass
class LogEntry:
    method: str
    path: str
    status: int
    time: float
    duration_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "status": self.status,
                "time": self.time, "duration_ms": round(self.duration_ms, 2)}


class App:
    """Routes + state lock + request log + faults for one emulator."""

    name = "app"

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.lock = threading.RLock()
        self.log: list[LogEntry] = []
        self._log_lock = threading.Lock()
        self.faults: list[Fault] = []
        self._rng = random.Random(0)  # for `Fault.rate`; seeded so fault runs are repeatable
        self.latency_s = 0.0
        self.hung = threading.Event()  # set: `hang_after` connections let go
        self.base_url = ""  # set when served
        # Optional hook run before routing (rate limiting, auth); may return a Response.
        self.before: list[Callable[[Request], Response | None]] = []
        self.route("GET", r"/_sandbox/requests", self._requests)
        self.route("DELETE", r"/_sandbox/requests", self._clear_requests)
        self.route("POST", r"/_sandbox/faults", self._add_fault)
        self.route("DELETE", r"/_sandbox/faults", self._clear_faults)

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    # --- introspection -------------------------------------------------------------------
    def state(self) -> Any:  # overridden by emulators
        return {}

    def requests_log(self) -> list[dict[str, Any]]:
        with self._log_lock:
            return [e.to_dict() for e in self.log]

    def mutating_requests(self) -> list[dict[str, Any]]:
        """Requests that could change state (not GET/HEAD, and not our own /_sandbox routes)."""
        return [e for e in self.requests_log()
                if e["method"] not in ("GET", "HEAD") and not e["path"].startswith("/_sandbox")]

    def _requests(self, req: Request) -> Response:
        return Response.json(self.requests_log())

    def _clear_requests(self, req: Request) -> Response:
        with self._log_lock:
            self.log.clear()
        return Response(204)

    def _add_fault(self, req: Request) -> Response:
        data = req.json()
        try:
            fault = Fault(**data)
        except TypeError as exc:
            return Response.json({"error": f"bad fault: {exc}"}, 400)
        if fault.mode not in FAULT_MODES:
            return Response.json({"error": f"bad fault: mode must be one of {', '.join(FAULT_MODES)}"}, 400)
        self.add_fault(fault)
        return Response.json({"ok": True}, 201)

    def _clear_faults(self, req: Request) -> Response:
        self.faults.clear()
        return Response(204)

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        if path.startswith("/_sandbox"):
            return None
        with self.lock:
            for fault in self.faults:
                if fault.count != 0 and fault.matches(method, path):
                    if fault.rate < 1.0 and self._rng.random() >= fault.rate:
                        continue
                    if fault.count > 0:
                        fault.count -= 1
                    return fault
        return None

    # --- dispatch ------------------------------------------------------------------------
    def dispatch(self, req: Request) -> Response:
        for hook in self.before:
            early = hook(req)
            if early is not None:
                return early
        allowed = False
        for method, pattern, handler in self.routes:
            m = pattern.match(req.path)
            if m is None:
                continue
            allowed = True
            if method != req.method:
                continue
            req.params = {k: v for k, v in m.groupdict().items() if v is not None}
            return handler(req)
        if allowed:
            return self.error(405, "Method Not Allowed")
        return self.error(404, "404 Not Found")

    def error(self, status: int, message: str) -> Response:  # overridden per API's error shape
        return Response.json({"message": message}, status)


class _Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr access log
        return

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm plus
        # the client's delayed ACK stalls every keep-alive response by ~40 ms.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        app = self.server.app
        started = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=unquote(split.path),
            raw_path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        if app.latency_s and not req.path.startswith("/_sandbox"):
            time.sleep(app.latency_s)
        fault = app._take_fault(req.method, req.raw_path)
        drop = False
        if fault is not None and fault.delay_s and fault.mode != "hang_after":
            time.sleep(fault.delay_s)
        if fault is not None and fault.mode == "fail":
            resp = app.error(fault.status, "injected fault") if fault.body is None \
                else Response.json(fault.body, fault.status)
            if fault.retry_after is not None:
                resp.headers["Retry-After"] = str(fault.retry_after)
        else:
            try:
                resp = app.dispatch(req)
            except Exception as exc:  # an emulator bug must look like a 500, and be visible in logs
                log.exception("sandbox handler failed: %s %s", req.method, req.path)
                resp = app.error(500, f"sandbox internal error: {type(exc).__name__}")
            drop = fault is not None and fault.mode in ("drop_after", "hang_after")
        with app._log_lock:
            app.log.append(LogEntry(req.method, req.raw_path, 0 if drop else resp.status, started,
                                    (time.time() - started) * 1000))
        if drop:
            # The write happened; the client never hears about it.
            if fault is not None and fault.mode == "hang_after":
                app.hung.wait(fault.delay_s or 300.0)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class SandboxServer(ThreadingHTTPServer):
    """Serves one App on 127.0.0.1 (ephemeral port by default) in a background thread."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.app = app
        self.url = f"http://{host}:{self.server_address[1]}"
        app.base_url = self.url
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        # A short poll interval: `shutdown()` waits up to one interval, and tests stop many servers.
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"sandbox-{self.app.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.app.hung.set()
        self.shutdown()
        self.server_close()
