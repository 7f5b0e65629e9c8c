"""A hostile HTTP server on 127.0.0.1 for tests: it misbehaves in HTTP and below it.

The emulator (:mod:`keep_openaiassistant.emulator`) answers like the API, faults included,
over a proper HTTP stack. This server is raw sockets, because what it has to do is not HTTP:
accept and never answer, trickle the status line one byte at a time, cut a body short, send
bytes that are not UTF-8 inside an event stream, 50 MB where kilobytes are expected.

Each test scripts it with a handler per method and path (glob patterns, first match wins)::

    with HostileServer() as server:
        server.route("POST", "/v1/threads/runs", sse([...]))
        server.route("*", "*", reply(200, LOGIN_PAGE, "text/html"))
        Assistant(Settings(api_key=..., base_url=server.base_url))

A handler gets the parsed :class:`Request` and the :class:`Connection` and writes what it
likes (the helpers below write the usual misbehaviours). Every connection serves one request
and is closed after it (``Connection: close``). A handler that waits does so with
:meth:`Connection.wait`, so stopping the server ends it; :meth:`HostileServer.close` shuts
every accepted socket (a black-holed one too), joins every thread, and raises when one is
left running or a handler crashed. ``assistants_api`` and ``responses_api`` script an
otherwise valid API that answers with a given text.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import http
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import pytest

#: One request line and headers at most; the SDK sends a few hundred bytes.
MAX_HEAD_BYTES = 64 * 1024
#: How long teardown waits for a connection's thread to end once its socket is shut.
JOIN_SECONDS = 5.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def bearer(self) -> str:
        """The key in ``Authorization: Bearer ...`` ("" when there is none)."""
        scheme, _, key = self.headers.get("authorization", "").partition(" ")
        return key.strip() if scheme.lower() == "bearer" else ""

    @property
    def wants_stream(self) -> bool:
        """A POST with ``"stream": true`` in its JSON body, or a GET with ``?stream=true``."""
        if self.query.get("stream") == "true":
            return True
        try:
            body = self.json()
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("stream") is True


class Connection:
    """One accepted socket, as a handler sees it."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self._sock = sock
        self._stop = stop

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def wait(self, seconds: float | None = None) -> bool:
        """Sleep ``seconds`` (None: until the server stops); True when the server is stopping."""
        return self._stop.wait(seconds)

    def head(self, status: int, headers: Sequence[tuple[str, str]]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_phrase(status)}", *(f"{k}: {v}" for k, v in headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def reply(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """A complete HTTP/1.1 reply with a Content-Length, then the connection closes."""
        fields = [("Content-Type", content_type), ("Content-Length", str(len(body))), ("Connection", "close")]
        self.send(self.head(status, [*fields, *headers]) + body)


Handler = Callable[[Request, Connection], None]


class HostileServer:
    """A scripted, misbehaving HTTP server on 127.0.0.1, one thread per connection."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._routes: list[tuple[str, str, Handler]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)
        self._closed = False
        #: "METHOD /path" of every request read, in order: for failure messages.
        self.requests: list[str] = []
        #: Exceptions raised by handlers (a bug in a test's script): close() raises the first.
        self.errors: list[BaseException] = []

    @property
    def base_url(self) -> str:
        """The API's base URL, as an OpenAI base_url is written (with /v1)."""
        return f"{self.root_url}/v1"

    @property
    def root_url(self) -> str:
        """The server without the /v1 path: a base_url someone forgot to finish."""
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, pattern: str, handler: Handler) -> Self:
        """Answer ``method`` (or ``"*"``) on paths matching the glob ``pattern`` with ``handler``.

        Routes are tried in the order added; a request no route takes gets a 501 naming it.
        """
        self._routes.append((method.upper(), pattern, handler))
        return self

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        self._acceptor.start()
        return self

    def close(self) -> None:
        """Stop accepting, shut every open connection, join every thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._acceptor.join(JOIN_SECONDS)
        self._listener.close()
        with self._lock:
            still_open = list(self._open)
        for sock in still_open:  # a blocked recv/sendall wakes up only on shutdown, not close
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(JOIN_SECONDS)
        hanging = [t.name for t in [self._acceptor, *self._threads] if t.is_alive()]
        if hanging:
            raise RuntimeError(f"hostile server: threads still running after teardown: {hanging}")
        if self.errors:
            raise RuntimeError(f"hostile server: a handler crashed: {self.errors[0]!r}") from self.errors[0]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving -----------------------------------------------------------------------------

    def _accept(self) -> None:
        for number in itertools.count(1):
            if self._stop.is_set():
                return
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._open.add(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), name=f"hostile-conn-{number}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            request = _read_request(sock, self._stop)
            if request is None:
                return
            self.requests.append(f"{request.method} {request.path}")
            sock.settimeout(None)  # writes block until the client reads; close() shuts them
            self._handler_for(request)(request, Connection(sock, self._stop))
        except OSError:
            pass  # the client went away, or teardown shut the socket: both are its right
        except Exception as exc:
            self.errors.append(exc)
        finally:
            with self._lock:
                self._open.discard(sock)
            sock.close()

    def _handler_for(self, request: Request) -> Handler:
        for method, pattern, handler in self._routes:
            if method in ("*", request.method) and fnmatch.fnmatchcase(request.path, pattern):
                return handler
        return json_reply(
            501, {"error": {"message": f"hostile test server: no route for {request.method} {request.path}"}}
        )


@pytest.fixture(name="hostile_server")
def hostile_server_fixture() -> Iterator[HostileServer]:
    """``hostile_server``: a started :class:`HostileServer` with no routes yet; ``.base_url`` is
    its /v1 URL. Import this function into a test module to use the fixture there."""
    with HostileServer() as server:
        yield server


def _read_request(sock: socket.socket, stop: threading.Event) -> Request | None:
    """Read one request (head and Content-Length body); None if the client left or we stop."""
    sock.settimeout(0.2)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = _recv(sock, stop)
        if not chunk or len(data) > MAX_HEAD_BYTES:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    while len(body) < length:
        chunk = _recv(sock, stop)
        if not chunk:
            return None
        body += chunk
    url = urlsplit(target)
    return Request(method.upper(), url.path, dict(parse_qsl(url.query)), headers, body[:length])


def _recv(sock: socket.socket, stop: threading.Event) -> bytes:
    while not stop.is_set():
        try:
            return sock.recv(65536)
        except TimeoutError:
            continue
    return b""


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# -- handlers: the misbehaviours ------------------------------------------------------------


def black_hole() -> Handler:
    """Read the request, then say nothing, ever (until teardown closes the connection)."""

    def handle(request: Request, conn: Connection) -> None:
        conn.wait()

    return handle


def slow_headers(interval: float = 0.5) -> Handler:
    """A 200 whose headers never end: one byte every ``interval`` seconds, forever."""

    def handle(request: Request, conn: Connection) -> None:
        start = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: "
        for byte in itertools.chain(start, itertools.repeat(ord("a"))):
            if conn.wait(interval):
                return
            conn.send(bytes([byte]))

    return handle


def reply(status: int, body: bytes | str, content_type: str = "application/json", **headers: str) -> Handler:
    """A complete reply; ``headers`` with underscores as dashes (``retry_after="8"``)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    extra = [(name.replace("_", "-"), value) for name, value in headers.items()]

    def handle(request: Request, conn: Connection) -> None:
        conn.reply(status, data, content_type=content_type, headers=extra)

    return handle


def json_reply(status: int, obj: Any, **headers: str) -> Handler:
    return reply(status, json.dumps(obj), "application/json", **headers)


def truncated(body: bytes, *, sent: int, content_type: str = "application/json") -> Handler:
    """Announce ``len(body)`` bytes, send the first ``sent``, close: a reply cut mid-body."""

    def handle(request: Request, conn: Connection) -> None:
        fields = [("Content-Type", content_type), ("Content-Length", str(len(body))), ("Connection", "close")]
        conn.send(conn.head(200, fields) + body[:sent])

    return handle


def sse_frame(event: str | None, data: Any) -> bytes:
    """One server-sent event; ``data`` as given when bytes (garbage included), else as JSON."""
    raw = data if isinstance(data, bytes) else json.dumps(data).encode("utf-8")
    return (f"event: {event}\n".encode() if event else b"") + b"data: " + raw + b"\n\n"


def sse(frames: Sequence[bytes], *, cut: bool = False, then_hold: bool = False) -> Handler:
    """A 200 ``text/event-stream`` sending ``frames`` (chunked), then ending the stream.

    ``cut``: the last frame's chunk announces the whole frame, half of it is sent and the
    connection closes (a stream cut mid-event, at the HTTP level). ``then_hold``: after the frames, stay silent
    until teardown instead of ending.
    """

    def handle(request: Request, conn: Connection) -> None:
        fields = [
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-cache"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "close"),
        ]
        conn.send(conn.head(200, fields))
        whole, last = (frames[:-1], frames[-1]) if cut and frames else (frames, b"")
        for frame in whole:
            conn.send(b"%x\r\n%s\r\n" % (len(frame), frame))
        if cut:  # announce the last frame whole, send half of it, hang up
            conn.send(b"%x\r\n%s" % (len(last), last[: len(last) // 2]))
            return
        if then_hold:
            conn.wait()
            return
        conn.send(b"0\r\n\r\n")

    return handle


@functools.cache
def huge_body(megabytes: int = 50) -> bytes:
    """A well-formed JSON object of ``megabytes`` MB: only its size is wrong."""
    pad = megabytes * 1024 * 1024
    return b'{"id": "run_huge", "object": "thread.run", "status": "queued", "pad": "' + b"x" * pad + b'"}'


def echo_key_401() -> Handler:
    """401 as OpenAI words it, but echoing the whole bearer key (and a slice of it) back."""

    def handle(request: Request, conn: Connection) -> None:
        key = request.bearer
        message = (
            f"Incorrect API key provided: {key}. You can find your API key at "
            f"https://platform.openai.com/account/api-keys. (fragment: {key[6:30]})"
        )
        error = {"message": message, "type": "invalid_request_error", "param": key, "code": "invalid_api_key"}
        conn.reply(401, json.dumps({"error": error}).encode())

    return handle


def rate_limited(retry_after: str = "8") -> Handler:
    """429 rate_limit_exceeded with ``retry-after``, every time."""
    error = {
        "message": "Rate limit reached for requests. Please try again later.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    return json_reply(429, {"error": error}, retry_after=retry_after)


def invalid_url_404() -> Handler:
    """OpenAI's answer to a path it does not serve, e.g. a base_url without /v1."""

    def handle(request: Request, conn: Connection) -> None:
        error = {
            "message": f"Invalid URL ({request.method} {request.path})",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
        conn.reply(404, json.dumps({"error": error}).encode())

    return handle


# -- an otherwise valid API -----------------------------------------------------------------

THREAD_ID = "thread_hostile"
RUN_ID = "run_hostile"
MESSAGE_ID = "msg_hostile"
CONVERSATION_ID = "conv_hostile"
RESPONSE_ID = "resp_hostile"
MODEL = "gpt-5.4-mini"
USAGE = {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}


def _now() -> int:
    return int(time.time())


def assistants_run(status: str, *, assistant_id: str, metadata: Any = None) -> dict[str, Any]:
    done = status == "completed"
    return {
        "id": RUN_ID,
        "object": "thread.run",
        "created_at": _now(),
        "thread_id": THREAD_ID,
        "assistant_id": assistant_id,
        "status": status,
        "model": MODEL,
        "instructions": "",
        "tools": [],
        "metadata": metadata or {},
        "required_action": None,
        "last_error": None,
        "incomplete_details": None,
        "completed_at": _now() if done else None,
        "usage": USAGE if done else None,
    }


def assistants_message(text: str, *, assistant_id: str) -> dict[str, Any]:
    return {
        "id": MESSAGE_ID,
        "object": "thread.message",
        "created_at": _now(),
        "thread_id": THREAD_ID,
        "run_id": RUN_ID,
        "assistant_id": assistant_id,
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
        "attachments": [],
        "metadata": {},
    }


def assistants_api(server: HostileServer, answer: str, *, assistant_id: str) -> None:
    """Route the Assistants API v2 endpoints of one question, answered with ``answer``."""
    thread = {"id": THREAD_ID, "object": "thread", "created_at": _now(), "metadata": {}, "tool_resources": {}}
    message = assistants_message(answer, assistant_id=assistant_id)

    def run_stream(new_thread: bool) -> Handler:
        def handle(request: Request, conn: Connection) -> None:
            body = request.json() or {}
            metadata = body.get("metadata")
            completed = assistants_run("completed", assistant_id=assistant_id, metadata=metadata)
            if not request.wants_stream:
                conn.reply(200, json.dumps(completed).encode())
                return
            frames = [
                *([sse_frame("thread.created", thread)] if new_thread else []),
                sse_frame("thread.run.created", assistants_run("queued", assistant_id=assistant_id, metadata=metadata)),
                sse_frame(
                    "thread.run.in_progress",
                    assistants_run("in_progress", assistant_id=assistant_id, metadata=metadata),
                ),
                sse_frame("thread.message.created", {**message, "status": "in_progress", "content": []}),
                sse_frame("thread.message.completed", message),
                sse_frame("thread.run.completed", completed),
                sse_frame("done", b"[DONE]"),
            ]
            sse(frames)(request, conn)

        return handle

    completed = assistants_run("completed", assistant_id=assistant_id)
    listing = {"object": "list", "data": [message], "first_id": MESSAGE_ID, "last_id": MESSAGE_ID, "has_more": False}
    runs = {"object": "list", "data": [completed], "first_id": RUN_ID, "last_id": RUN_ID, "has_more": False}
    assistant = {"id": assistant_id, "object": "assistant", "created_at": _now(), "model": MODEL, "tools": []}
    server.route("POST", "/v1/threads/runs", run_stream(new_thread=True))
    server.route("POST", "/v1/threads", json_reply(200, thread))
    server.route("POST", "/v1/threads/*/runs", run_stream(new_thread=False))
    server.route("POST", "/v1/threads/*/runs/*/cancel", json_reply(200, completed))
    server.route("GET", "/v1/threads/*/runs/*", json_reply(200, completed))
    server.route("GET", "/v1/threads/*/runs", json_reply(200, runs))
    server.route("GET", "/v1/threads/*/messages", json_reply(200, listing))
    server.route("GET", "/v1/assistants/*", json_reply(200, assistant))


def responses_response(status: str, answer: str) -> dict[str, Any]:
    done = status == "completed"
    item = {
        "type": "message",
        "id": MESSAGE_ID,
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": answer, "annotations": []}],
    }
    return {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": _now(),
        "status": status,
        "model": MODEL,
        "background": True,
        "store": True,
        "conversation": {"id": CONVERSATION_ID},
        "output": [item] if done else [],
        "error": None,
        "incomplete_details": None,
        "usage": {"input_tokens": 12, "output_tokens": 34, "total_tokens": 46} if done else None,
    }


def responses_api(server: HostileServer, answer: str) -> None:
    """Route the Responses + Conversations endpoints of one question, answered with ``answer``."""
    conversation = {"id": CONVERSATION_ID, "object": "conversation", "created_at": _now(), "metadata": {}}
    completed = responses_response("completed", answer)

    def respond(request: Request, conn: Connection) -> None:
        if not request.wants_stream:
            conn.reply(200, json.dumps(completed).encode())
            return
        events = [
            ("response.created", {"response": responses_response("queued", answer)}),
            ("response.in_progress", {"response": responses_response("in_progress", answer)}),
            ("response.output_item.done", {"output_index": 0, "item": completed["output"][0]}),
            ("response.completed", {"response": completed}),
        ]
        frames = [
            sse_frame(name, {"type": name, "sequence_number": n, **data}) for n, (name, data) in enumerate(events)
        ]
        sse(frames)(request, conn)

    items = {"object": "list", "data": completed["output"], "has_more": False}
    model = {"id": MODEL, "object": "model", "created": _now(), "owned_by": "system"}
    server.route("POST", "/v1/conversations", json_reply(200, conversation))
    server.route("POST", "/v1/responses", respond)
    server.route("POST", "/v1/responses/*/cancel", json_reply(200, completed))
    server.route("GET", "/v1/responses/*", respond)
    server.route("GET", "/v1/conversations/*/items", json_reply(200, items))
    server.route("GET", "/v1/models/*", json_reply(200, model))
