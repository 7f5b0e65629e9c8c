"""State of the emulated Responses and Conversations APIs: records, the shared lock, the lifecycle.

A response's whole future is decided when it is created (the model is deterministic), so its
status is a function of the clock: ``queued`` for the first tenth of its model time, then
``in_progress``, then its planned terminal status. :meth:`ResponsesState.settle` applies that
lazily whenever anyone looks (a poll, a listing, a new response on the same conversation), so
background responses need no worker threads and an injected clock drives them in tests.

Settling into a terminal status happens exactly once, under the lock: it appends the response's
input and output items to its conversation (completed and incomplete responses only) and releases
the conversation for the next response. Nobody sleeps while holding the lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .common import QUEUED_SHARE, RESPONSE_TERMINAL, WITH_OUTPUT, Clock, EmulatorConfig, EmulatorError, bad_request
from .responses_items import render

WAKE_SLICE = 0.05  # longest sleep while waiting out a response, so a cancel is seen promptly


@dataclass
class Conversation:
    id: str
    created_at: int
    metadata: dict[str, str]
    items: list[dict[str, Any]] = field(default_factory=list)
    active_response: str | None = None  # the response operating on it (conversation_locked)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "object": "conversation", "created_at": self.created_at, "metadata": dict(self.metadata)}


@dataclass
class ResponseRecord:
    """One response. ``final_*`` is what it becomes at ``finish_at`` unless cancelled first."""

    id: str
    created_at: int
    started: float
    finish_at: float
    echo: dict[str, Any]  # request fields the Response object repeats (model, tools, text, ...)
    input_items: list[dict[str, Any]]
    history: list[dict[str, Any]]  # items the model read before ``input_items``
    background: bool
    store: bool
    conversation_id: str | None
    final_status: str
    final_output: list[dict[str, Any]]
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    stream_cut_after: int | None = None
    status: str = "queued"  # a foreground response starts in_progress
    output: list[dict[str, Any]] = field(default_factory=list)
    completed_at: int | None = None
    include: frozenset[str] = frozenset()  # ``include`` of the create request

    @property
    def initial_status(self) -> str:
        return "queued" if self.background else "in_progress"

    def to_json(self, status: str | None = None, include: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The Response object, as it is now or (``status``) as it was while in that status.

        ``include``: what this reply's request asks for on top of the create request's.
        """
        status = status or self.status
        done = status in RESPONSE_TERMINAL
        body: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": self.background,
            "completed_at": self.completed_at if status == "completed" else None,
            "conversation": {"id": self.conversation_id} if self.conversation_id else None,
            "error": self.error if status == "failed" else None,
            "incomplete_details": self.incomplete_details if status == "incomplete" else None,
            "output": render(self.output, self.include | include) if done else [],
            "usage": self.usage if done and self.usage is not None else None,
            **self.echo,
        }
        if body["usage"] is None:
            del body["usage"]  # ResponseUsage is not nullable in the spec: absent until known
        return body


class ResponsesState:
    """Responses and conversations by id, guarded by one lock (``clock``: the emulator's one clock)."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.responses: dict[str, ResponseRecord] = {}
        self.conversations: dict[str, Conversation] = {}

    # -- lookups (404s phrased like OpenAI's) ---------------------------------------------------

    def response(self, response_id: str) -> ResponseRecord:
        with self.lock:
            rec = self.responses.get(response_id)
            if rec is None or not rec.store:
                raise EmulatorError(404, f"Response with id '{response_id}' not found.", param="response_id")
            self.settle(rec)
            return rec

    def conversation(self, conversation_id: str, param: str = "conversation_id") -> Conversation:
        with self.lock:
            conv = self.conversations.get(conversation_id)
            if conv is None:
                raise EmulatorError(404, f"Conversation with id '{conversation_id}' not found.", param=param)
            self.settle_conversation(conv)
            return conv

    def ensure_unlocked(self, conv: Conversation) -> None:
        """400 ``conversation_locked`` while another response operates on ``conv``."""
        with self.lock:
            self.settle_conversation(conv)
            if conv.active_response is not None:
                raise bad_request(
                    "Another process is currently operating on this conversation. Please retry in a few seconds.",
                    "conversation",
                    "conversation_locked",
                )

    # -- lifecycle ------------------------------------------------------------------------------

    def settle(self, rec: ResponseRecord, *, force: bool = False) -> None:
        """Bring ``rec`` up to the clock; ``force``: its model time is over, whatever the clock says."""
        with self.lock:
            if rec.status in RESPONSE_TERMINAL:
                return
            now = self.clock.now()
            if force or now >= rec.finish_at:
                self._finish(rec, rec.final_status, min(now, rec.finish_at))
            elif now >= rec.started + (rec.finish_at - rec.started) * QUEUED_SHARE:
                rec.status = "in_progress"

    def settle_conversation(self, conv: Conversation) -> None:
        with self.lock:
            if conv.active_response is not None:
                active = self.responses.get(conv.active_response)
                if active is None:
                    conv.active_response = None
                else:
                    self.settle(active)

    def cancel(self, rec: ResponseRecord) -> None:
        with self.lock:
            self.settle(rec)
            if rec.status not in RESPONSE_TERMINAL:
                self._finish(rec, "cancelled", self.clock.now())

    def snapshot(
        self, rec: ResponseRecord, status: str | None = None, include: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """``rec.to_json`` read under the lock, so no reader sees a half-finished response."""
        with self.lock:
            return rec.to_json(status, include)

    def _finish(self, rec: ResponseRecord, status: str, at: float) -> None:
        """``rec`` ends in ``status`` at clock time ``at``."""
        rec.output = list(rec.final_output) if status in WITH_OUTPUT else []
        if status == "cancelled":
            rec.usage = None
        if status == "completed":
            rec.completed_at = self.clock.stamp(at)
        rec.status = status
        conv = self.conversations.get(rec.conversation_id or "")
        if conv is not None:
            if status in WITH_OUTPUT:
                conv.items.extend(rec.input_items)
                conv.items.extend(rec.output)
            if conv.active_response == rec.id:
                conv.active_response = None

    def wait_until_done(self, rec: ResponseRecord) -> None:
        """Sleep (lock-free) through the rest of ``rec``'s model time, then settle it."""
        budget = rec.finish_at - self.clock.now()
        slept = 0.0  # bounds the wait even when an injected sleep does not move the clock
        while rec.status not in RESPONSE_TERMINAL and slept < budget:
            remaining = rec.finish_at - self.clock.now()
            if remaining <= 0:
                break
            step = min(remaining, WAKE_SLICE, budget - slept)
            self.clock.sleep(step)
            slept += step
        self.settle(rec, force=True)
