"""Control endpoints of the emulator, for tools that drive it from another process.

The benchmarks run the emulator in its own process (so that the server's work does not share
a GIL with the client being measured) and still need to read what the server saw and to
switch its behaviour between runs. Every route lives under ``/_emulator/`` and takes the same
``Authorization: Bearer <any key>`` as the API:

| route                          | does                                                              |
|--------------------------------|-------------------------------------------------------------------|
| ``GET /_emulator/stats``       | requests by route key since the last reset, their total, and the  |
|                                | connections accepted — all excluding the control calls themselves |
|                                | — and the CPU seconds the emulator's process has used             |
| ``POST /_emulator/reset``      | zero the counters and drop queued faults (threads and runs stay)  |
| ``POST /_emulator/faults``     | queue a fault: ``{"route": regex, "status": 429, "count": 1, ...}``|
|                                | (fields of :class:`.http.Fault`)                                  |
| ``DELETE /_emulator/faults``   | drop queued faults                                                |
| ``GET /_emulator/config``      | the switches below                                                |
| ``POST /_emulator/config``     | set some of them:                                                 |
|                                | ``{"model_time": 2.0, "poll_after_ms": 100, "refuse_stream": true}``|
|                                | ``{"conversations": false, "context_window": 2000}``              |

``refuse_stream``: the emulator then behaves like a server (or proxy) that does not stream:
any API request whose body asks for ``"stream": true`` is answered HTTP 400 before it touches
any state, so a client must get its answer by polling.

``conversations``: false serves no Conversations API (404 on its routes, like a gateway that
speaks only Responses), so clients chain responses with ``previous_response_id``;
``context_window``: the model's window in tokens (truncation and compaction, docs/responses.md).

Connections: the counter of the HTTP core counts every accepted connection, control calls
included. Control clients open one connection per call (``urllib`` does not keep connections
alive), so ``stats`` subtracts one connection per control request counted since the reset.
"""

from __future__ import annotations

import time
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from .common import bad_request
from .http import Fault, Handler, JsonReply, Request, Router, SseReply

if TYPE_CHECKING:
    from . import Emulator

PREFIX = "/_emulator"
_SWITCHES = ("model_time", "poll_after_ms", "refuse_stream", "conversations", "context_window")


class StreamGate:
    """A router in front of the API router: refuses ``stream: true`` while ``refuse_stream`` is on.

    Wrapping the match (instead of editing each API module) keeps the switch in one place and
    applies it to every streaming route, Assistants and Responses alike.
    """

    def __init__(self, router: Router, emulator: Emulator) -> None:
        self._router = router
        self._emulator = emulator

    def add(self, method: str, template: str, handler: Handler) -> None:
        self._router.add(method, template, handler)

    def match(self, method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
        found = self._router.match(method, path)
        if found is None or not self._emulator.config.extra.get("refuse_stream"):
            return found
        key, handler, params = found

        def gated(request: Request) -> JsonReply | SseReply:
            if request.json().get("stream") is True or request.query.get("stream") == "true":
                raise bad_request(
                    "Streaming is not supported by this server: send the request without 'stream'.",
                    "stream",
                    "unsupported_parameter",
                )
            return handler(request)

        return key, gated, params


class ControlApi:
    """The ``/_emulator/*`` routes of one :class:`~keep_openaiassistant.emulator.Emulator`."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def install(self) -> None:
        """Register the routes and put the stream gate in front of the server's router."""
        router = self.emulator.router
        router.add("GET", PREFIX + "/stats", self.stats)
        router.add("POST", PREFIX + "/reset", self.reset)
        router.add("POST", PREFIX + "/faults", self.add_fault)
        router.add("DELETE", PREFIX + "/faults", self.clear_faults)
        router.add("GET", PREFIX + "/config", self.get_config)
        router.add("POST", PREFIX + "/config", self.set_config)
        self.emulator.server.router = StreamGate(router, self.emulator)  # type: ignore[assignment]

    def stats(self, request: Request) -> JsonReply:
        stats = self.emulator.stats
        snapshot = stats.snapshot()
        control_calls = sum(n for key, n in snapshot.items() if _is_control(key))
        requests = {key: n for key, n in snapshot.items() if not _is_control(key)}
        connections = stats.connections
        return JsonReply(
            {
                "requests": requests,
                "total": sum(requests.values()),
                "connections": max(0, connections - control_calls),
                # Process-wide: meaningful when the emulator has a process of its own (the bench).
                "cpu_s": time.process_time(),
            }
        )

    def reset(self, request: Request) -> JsonReply:
        self.emulator.stats.reset()
        self.emulator.faults.clear()
        return JsonReply({"reset": True})

    def add_fault(self, request: Request) -> JsonReply:
        body = request.json()
        allowed = {f.name for f in fields(Fault)}
        unknown = sorted(set(body) - allowed)
        if unknown or "route" not in body or "status" not in body:
            optional = sorted(allowed - {"route", "status"})
            raise bad_request(f"A fault takes route, status and optionally {optional}; got unknown {unknown}.")
        self.emulator.faults.add(**body)
        return JsonReply({"queued": body})

    def clear_faults(self, request: Request) -> JsonReply:
        self.emulator.faults.clear()
        return JsonReply({"cleared": True})

    def get_config(self, request: Request) -> JsonReply:
        return JsonReply(self._switches())

    def set_config(self, request: Request) -> JsonReply:
        body = request.json()
        unknown = sorted(set(body) - set(_SWITCHES))
        if unknown:
            raise bad_request(f"Unknown switches {unknown}; known: {list(_SWITCHES)}.")
        config = self.emulator.config
        if "model_time" in body:
            config.model_time = float(body["model_time"])
        if "poll_after_ms" in body:
            value = body["poll_after_ms"]
            config.poll_after_ms = None if value is None else int(value)
        if "refuse_stream" in body:
            config.extra["refuse_stream"] = bool(body["refuse_stream"])
        if "conversations" in body:
            config.conversations = bool(body["conversations"])
        if "context_window" in body:
            config.context_window = int(body["context_window"])
        return JsonReply(self._switches())

    def _switches(self) -> dict[str, Any]:
        config = self.emulator.config
        return {
            "model_time": config.model_time,
            "poll_after_ms": config.poll_after_ms,
            "refuse_stream": bool(config.extra.get("refuse_stream")),
            "conversations": config.conversations,
            "context_window": config.context_window,
        }


def _is_control(route_key: str) -> bool:
    return route_key.split(" ", 1)[-1].startswith(PREFIX + "/")
