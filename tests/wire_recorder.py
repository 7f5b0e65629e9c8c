"""Record what crosses the emulator's wire, and talk to it with the standard library only.

:class:`Recorder` installs the emulator server's ``exchange_hook`` and ``event_hook`` and keeps
a JSON snapshot of every request, JSON reply and SSE event, for checks after the fact (a check
that raised inside a hook would break the reply instead of failing the test). :class:`Raw`
sends requests with ``http.client``: no SDK in between, so what a test sees is exactly what
the server sent, and malformed or unauthenticated requests can be made on purpose.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from keep_openaiassistant.emulator import Emulator


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    request_body: Any
    status: int
    reply: Any


@dataclass(frozen=True)
class Event:
    method: str
    path: str
    name: str | None
    data: Any
    stream: str  # which reply the event belongs to: "POST /v1/responses#<id>"


def _snapshot(value: Any) -> Any:
    """A deep copy as it went over the wire: the emulator keeps mutating its live objects."""
    return value if isinstance(value, str) else json.loads(json.dumps(value))


class Recorder:
    """Installs the server's hooks; the hooks only record (a raising hook would break the reply)."""

    def __init__(self, emulator: Emulator) -> None:
        self._lock = threading.Lock()
        self.exchanges: list[Exchange] = []
        self.events: list[Event] = []
        self._streamed: list[Any] = []
        self._stream_requests: list[Exchange] = []
        emulator.server.exchange_hook = self._on_exchange
        emulator.server.event_hook = self._on_event

    def _on_exchange(self, request: Any, status: int, body: Any) -> None:
        try:
            item = Exchange(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                _snapshot(request.body),
                status,
                _snapshot(body),
            )
        except (TypeError, ValueError) as exc:  # not JSON: worth a failure, not a broken reply
            item = Exchange(request.method, request.path, {}, {}, None, status, {"unserialisable": str(exc)})
        with self._lock:
            self.exchanges.append(item)

    def _on_event(self, request: Any, name: str | None, data: Any) -> None:
        try:
            snapshot = _snapshot(data)
        except (TypeError, ValueError) as exc:
            snapshot = {"unserialisable": str(exc)}
        item = Event(request.method, request.path, name, snapshot, f"{request.method} {request.path}#{id(request)}")
        with self._lock:
            self.events.append(item)
            if not any(r is request for r in self._streamed):
                # A request answered with a stream: no JSON reply, so exchange_hook never saw it.
                self._streamed.append(request)
                self._stream_requests.append(
                    Exchange(
                        request.method,
                        request.path,
                        dict(request.query),
                        dict(request.headers),
                        _snapshot(request.body),
                        200,
                        None,
                    )
                )

    def api_exchanges(self) -> list[Exchange]:
        """JSON exchanges with the emulated OpenAI API (not the emulator's /_emulator controls)."""
        with self._lock:
            return [e for e in self.exchanges if e.path.startswith("/v1/")]

    def requests(self) -> list[Exchange]:
        """Every API request that reached the server and was answered, JSON or stream."""
        with self._lock:
            return [e for e in self.exchanges + self._stream_requests if e.path.startswith("/v1/")]


class Raw:
    """Requests with the standard library only: what is checked is exactly what the server sent."""

    def __init__(self, base_url: str, *, key: str = "sk-emulator") -> None:
        split = urlsplit(base_url)
        self.host, self.port = split.hostname or "127.0.0.1", split.port or 80
        self.key = key

    def _send(
        self, method: str, path: str, body: Any, query: dict[str, Any] | None, beta: bool, key: str | None
    ) -> tuple[int, bytes]:
        """One request on its own connection: (status, the whole body, however it ended)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            url = "/v1" + path + ("?" + urlencode(query) if query else "")
            headers = {"authorization": f"Bearer {key or self.key}", "content-type": "application/json"}
            if beta:
                headers["openai-beta"] = "assistants=v2"
            conn.request(method, url, body=json.dumps(body) if body is not None else None, headers=headers)
            resp = conn.getresponse()
            try:
                return resp.status, resp.read()
            except http.client.IncompleteRead as cut:  # [[stream_cut]]: the server drops the connection
                return resp.status, cut.partial
        finally:
            conn.close()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        beta: bool = True,
        key: str | None = None,
    ) -> tuple[int, Any]:
        status, raw = self._send(method, path, body, query, beta, key)
        return status, (json.loads(raw) if raw else None)

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, reply = self.call(method, path, body, **kw)
        assert status == 200, f"{method} {path} -> {status} {reply}"
        return reply

    def stream(
        self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None
    ) -> list[tuple[str | None, Any]]:
        """The SSE events of one reply, parsed (data as JSON when it is JSON)."""
        status, raw = self._send(method, path, body, query, True, None)
        assert status == 200, f"{method} {path} -> {status} {raw[:300]!r}"
        text = raw.decode()
        events: list[tuple[str | None, Any]] = []
        for frame in text.split("\n\n"):
            name, data = None, []
            for line in frame.splitlines():
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
            if data:
                joined = "\n".join(data)
                try:
                    events.append((name, json.loads(joined)))
                except ValueError:
                    events.append((name, joined))
        return events


def wait_for(get: Callable[[], dict[str, Any]], terminal: set[str], timeout: float = 5.0) -> dict[str, Any]:
    """Poll ``get`` until its status is in ``terminal`` (or ``timeout`` passes): the last object."""
    deadline = time.monotonic() + timeout
    while True:
        obj = get()
        if obj.get("status") in terminal or time.monotonic() > deadline:
            return obj
        time.sleep(0.02)
