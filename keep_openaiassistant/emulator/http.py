"""The emulator's HTTP plumbing: routing, JSON and SSE replies, auth, faults, request counts.

A ``ThreadingHTTPServer`` on 127.0.0.1 with HTTP/1.1 keep-alive. Every reply's status line,
headers and body leave in ONE write on a TCP_NODELAY socket: the emulator adds no Nagle /
delayed-ACK latency of its own (a Python server that writes headers and body separately on a
kept-alive connection adds ~40 ms per reply). SSE replies use chunked encoding, one chunk per
event, each flushed as it is produced.

API modules register handlers on a :class:`Router`; a handler takes a :class:`Request` and
returns a :class:`JsonReply` or an :class:`SseReply`, or raises :class:`~.common.EmulatorError`
(the OpenAI error body ``{"error": {message, type, param, code}}``). :meth:`Request.json` is the
one check that a body is a JSON object.

Every reply carries an ``x-request-id`` unique to this emulator's lifetime (a random prefix per
process and a counter), as OpenAI's do. Each request is logged at INFO on this module's logger
(method, path, status, milliseconds; ``keep-openaiassistant -v emulator`` shows them) once its
reply is sent — a stream once it ends.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import logging
import os
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .common import EmulatorError, invalid_type

log = logging.getLogger(__name__)
# Request ids: unique within the process (a counter) and across restarts (a random prefix).
_REQUEST_PREFIX = os.urandom(4).hex()
_REQUEST_NUMBERS = itertools.count(1)


def new_request_id() -> str:
    return f"req_{_REQUEST_PREFIX}{next(_REQUEST_NUMBERS):012d}"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: Any  # the parsed JSON body (a form's: :func:`form_fields`), None when there is none
    params: dict[str, str] = field(default_factory=dict)  # path parameters
    # A multipart/form-data body (file uploads): field name -> (filename or None, bytes).
    form: dict[str, tuple[str | None, bytes]] | None = None

    def json(self) -> dict[str, Any]:
        """The JSON body, which must be an object (``{}`` when there is none)."""
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise invalid_type("body", "an object", self.body)
        return self.body


@dataclass
class JsonReply:
    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SseReply:
    """``events`` yields ``(event_name or None, data)``; data is a dict (JSON) or a str ("[DONE]").

    ``cut_after``: drop the connection without ending the chunked body after that many events.
    """

    events: Iterable[tuple[str | None, Any]]
    cut_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], "JsonReply | SseReply"]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        """``template`` like ``/v1/threads/{thread_id}/runs``; the route key is ``"POST <template>"``."""
        pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")
        self._routes.append((method, pattern, f"{method} {template}", handler))

    def match(self, method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
        for m, pattern, key, handler in self._routes:
            if m == method:
                found = pattern.match(path)
                if found:
                    return key, handler, found.groupdict()
        return None


@dataclass
class Fault:
    """Answer the next ``count`` requests whose route key matches ``route`` (regex) with ``status``."""

    route: str
    status: int
    count: int = 1
    message: str = "Injected fault"
    code: str | None = None
    retry_after_ms: int | None = 1  # the SDK ignores 0 and backs off ~0.5-1 s; 1 ms keeps fault tests fast


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []

    def add(self, route: str, status: int, count: int = 1, **kw: Any) -> None:
        with self._lock:
            self._queue.append(Fault(route, status, count, **kw))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def take(self, key: str) -> Fault | None:
        with self._lock:
            for fault in self._queue:
                if fault.count > 0 and re.search(fault.route, key):
                    fault.count -= 1
                    if fault.count == 0:
                        self._queue.remove(fault)
                    return fault
        return None


class Stats:
    """Requests counted by route key, and connections accepted (for the benchmarks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.connections = 0

    def count(self, key: str) -> None:
        with self._lock:
            self.requests[key] += 1

    def connected(self) -> None:
        with self._lock:
            self.connections += 1

    def total(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.connections = 0

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.requests)


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], router: Router, *, api_keys: set[str] | None = None) -> None:
        self.router = router
        self.faults = Faults()
        self.stats = Stats()
        self.api_keys = api_keys  # None: any non-empty key; "bad" keys are always refused
        # Observers for conformance tests: every JSON reply, and every SSE event as it is sent.
        self.exchange_hook: Callable[[Request, int, Any], None] | None = None
        self.event_hook: Callable[[Request, str | None, Any], None] | None = None
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stats.connected()
        return sock, addr


def parse_form(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """A multipart/form-data body: field name -> (filename or None, bytes). ValueError when malformed."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"content-type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return fields


def form_fields(form: dict[str, tuple[str | None, bytes]] | None) -> dict[str, str] | None:
    """A form as the request's ``body`` (what hooks record): each field's text, a file as its filename."""
    if form is None:
        return None
    return {name: filename if filename is not None else data.decode("utf-8", "replace")
            for name, (filename, data) in form.items()}  # fmt: skip


def _encode_sse(event: str | None, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    frame = f"{head}data: {payload}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(frame), frame)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorHTTPServer
    server_version = "keep-openaiassistant-emulator"
    sys_version = ""

    _status = 0  # of the reply being sent, for the request log

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._logged("GET")

    def do_POST(self) -> None:
        self._logged("POST")

    def do_DELETE(self) -> None:
        self._logged("DELETE")

    def _logged(self, method: str) -> None:
        if not log.isEnabledFor(logging.INFO):  # the benchmarks' path: no clock reads, no formatting
            self._dispatch(method)
            return
        started = time.perf_counter()
        self._status = 0
        try:
            self._dispatch(method)
        finally:
            ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %s %.1f ms", method, self.path, self._status or "-", ms)

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        form = None
        try:
            if headers.get("content-type", "").startswith("multipart/form-data"):
                form, raw = parse_form(headers["content-type"], raw), b""
            body = json.loads(raw) if raw else form_fields(form)
        except ValueError:
            body = None
            self._send_json(400, EmulatorError(400, "We could not parse the JSON body of your request.").body)
            return
        request = Request(method, split.path, dict(parse_qsl(split.query)), headers, body, form=form)
        found = self.server.router.match(method, split.path)
        key = found[0] if found else f"{method} {split.path}"
        self.server.stats.count(key)
        try:
            self._authenticate(headers)
            fault = self.server.faults.take(key)
            if fault is not None:
                extra = {"retry-after-ms": str(fault.retry_after_ms)} if fault.retry_after_ms is not None else {}
                err = EmulatorError(
                    fault.status,
                    fault.message,
                    type="server_error" if fault.status >= 500 else "requests",
                    code=fault.code,
                )
                self._send_json(fault.status, err.body, extra, request)
                return
            if found is None:
                raise EmulatorError(404, f"Invalid URL ({method} {split.path})", code="unknown_url")
            request.params = found[2]
            reply = found[1](request)
        except EmulatorError as err:
            self._send_json(err.status, err.body, {}, request)
            return
        if isinstance(reply, SseReply):
            self._send_sse(reply, request)
        else:
            self._send_json(reply.status, reply.body, reply.headers, request)

    def _authenticate(self, headers: dict[str, str]) -> None:
        auth = headers.get("authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else ""
        allowed = self.server.api_keys
        if not key or key.startswith("bad") or (allowed is not None and key not in allowed):
            shown = (key[:3] + "*" * 4 + key[-4:]) if len(key) > 8 else "****"
            raise EmulatorError(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    def _send_json(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None, request: Request | None = None
    ) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        self._status = status
        hook = self.server.exchange_hook
        if hook is not None and request is not None:
            hook(request, status, body)
        lines = [
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
            "content-type: application/json",
            f"content-length: {len(payload)}",
        ]
        lines += [f"x-request-id: {new_request_id()}", f"server: {self.server_version}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        self.wfile.flush()

    def _send_sse(self, reply: SseReply, request: Request | None = None) -> None:
        lines = [
            "HTTP/1.1 200 OK",
            "content-type: text/event-stream; charset=utf-8",
            "transfer-encoding: chunked",
            "cache-control: no-cache",
            f"x-request-id: {new_request_id()}",
            f"server: {self.server_version}",
        ]
        self._status = 200
        lines += [f"{k}: {v}" for k, v in reply.headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        events: Iterator[tuple[str | None, Any]] = iter(reply.events)
        sent = 0
        try:
            # Headers go out at once, as a real server's do, even when the first event is
            # minutes away (a resumed stream); TCP_NODELAY makes the extra segment free.
            self.wfile.write(head)
            self.wfile.flush()
            for event, data in events:
                if reply.cut_after is not None and sent >= reply.cut_after:
                    # Drop the connection mid-stream (the client sees the cut now, while the run
                    # is still going), then let the producer go on so server state completes.
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    for _ in events:
                        pass
                    return
                frame = _encode_sse(event, data)
                hook = self.server.event_hook
                if hook is not None and request is not None:
                    hook(request, event, data)
                self.wfile.write(frame)
                self.wfile.flush()
                sent += 1
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client went away; let the producer finish so the run's state still completes.
            for _ in events:
                pass
            self.close_connection = True
