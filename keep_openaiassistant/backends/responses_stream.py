"""The state of one streamed Responses response, fed event by event. No I/O.

The backend reads SSE events (``response.created`` ... ``response.completed``) from the wire
and hands each to :meth:`ResponseStreamState.handle`; this object keeps what matters for
recovery and for the answer:

- ``response_id``: needed to resume (``GET /responses/{id}?stream=true&starting_after=N``),
  poll or cancel. Known from the first event (``response.created``/``response.queued``).
- ``last_sequence``: the highest ``sequence_number`` seen, the ``starting_after`` of a resume.
  Events at or below it are ignored, so a resumed stream that replays an event is harmless.
- ``response``: the latest response snapshot; terminal once ``status`` is completed, failed,
  incomplete or cancelled.
- ``error``: an ``error`` event (the server gave up on the stream); the backend then asks the
  response itself what happened.

The terminal events carry the whole response, output included. ``output_item.done`` items are
kept as well, so a terminal snapshot without ``output`` still yields the answer.
"""

from __future__ import annotations

from typing import Any

from ..wire import Event

TERMINAL_STATUSES = frozenset({"completed", "failed", "incomplete", "cancelled"})


class ResponseStreamState:
    """Accumulates one response's events; feed it with :meth:`handle`, read its properties."""

    def __init__(self, response_id: str | None = None) -> None:
        self.response_id = response_id
        self.last_sequence: int | None = None
        self.response: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.events = 0
        self._items: dict[int, dict[str, Any]] = {}

    def handle(self, event: Event) -> None:
        """Take one event into account. Unknown event types are ignored (forward compatible)."""
        data = event.data
        kind = str(data.get("type") or event.name)
        seq = data.get("sequence_number")
        if isinstance(seq, int):
            if self.last_sequence is not None and seq <= self.last_sequence:
                return  # replayed after a resume
            self.last_sequence = seq
        self.events += 1
        snapshot = data.get("response")
        if isinstance(snapshot, dict):
            self._take_snapshot(snapshot)
        if kind in ("response.output_item.added", "response.output_item.done"):
            item = data.get("item")
            index = data.get("output_index")
            if (
                isinstance(item, dict)
                and isinstance(index, int)
                and (kind.endswith(".done") or index not in self._items)
            ):
                self._items[index] = item
        elif kind == "error":
            self.error = _error_of(data)

    def _take_snapshot(self, snapshot: dict[str, Any]) -> None:
        if snapshot.get("id"):
            self.response_id = str(snapshot["id"])
        self.response = snapshot

    @property
    def status(self) -> str | None:
        return str(self.response.get("status")) if self.response and self.response.get("status") else None

    @property
    def finished(self) -> bool:
        """The response reached a terminal status (its snapshot is complete)."""
        return self.status in TERMINAL_STATUSES

    @property
    def done(self) -> bool:
        """Nothing more will come on this stream: finished, or an ``error`` event arrived."""
        return self.finished or self.error is not None

    def final_response(self) -> dict[str, Any]:
        """The terminal snapshot, its ``output`` filled from the streamed items if it came empty."""
        response = dict(self.response or {})
        if not response.get("output") and self._items:
            response["output"] = [self._items[i] for i in sorted(self._items)]
        return response


def _error_of(data: dict[str, Any]) -> dict[str, Any]:
    """``{code, message}`` of an ``error`` event, bare (Responses) or wrapped in ``error`` (older SDKs)."""
    inner = data.get("error")
    source = inner if isinstance(inner, dict) else data
    return {"code": source.get("code"), "message": str(source.get("message") or "the server reported a stream error")}
