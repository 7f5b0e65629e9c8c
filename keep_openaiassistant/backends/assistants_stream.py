"""What one Assistants run's SSE stream has told us so far: a state object with no I/O.

The backend feeds it every :class:`~keep_openaiassistant.wire.Event` of a run's stream(s)
(the create stream, then one per ``submit_tool_outputs``) and the run objects it polls;
the state keeps the thread id, the latest run object and this run's assistant messages
rebuilt from ``thread.message.*`` events. Kept apart from the HTTP so the event handling is
tested without sockets (as openai-python's ChatCompletionStreamState is).

Tolerant where servers differ from OpenAI: a delta before its ``thread.message.created``
(the SDK's own accumulator raises there) opens the message; a completed message object
replaces what the deltas built; messages of other runs (or the user's) are ignored.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ..wire import Event

# Run statuses after which the run does nothing more on its own.
TERMINAL_STATUSES = frozenset({"completed", "failed", "incomplete", "expired", "cancelled"})
# Statuses at which waiting for the run stops: terminal, or the run needs our tool outputs.
STOP_STATUSES = TERMINAL_STATUSES | {"requires_action"}


@dataclass
class RunStreamState:
    """Thread, run and this run's assistant messages, from stream events and polled run objects.

    ``finished`` is True once the current stream (or poll) showed the run at a stop status;
    :meth:`expect_more` clears it when tool outputs were submitted and the run goes on.
    ``messages_complete`` is True when a stream delivered the run's terminal event: every
    message of the run was streamed before it, so no message listing is needed.
    """

    thread_id: str | None = None
    run: dict[str, Any] | None = None
    finished: bool = False
    messages_complete: bool = False
    error: dict[str, Any] | None = None
    events_seen: int = 0
    _messages: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- reading ----------------------------------------------------------------------------

    @property
    def run_id(self) -> str | None:
        return str(self.run["id"]) if self.run and self.run.get("id") else None

    @property
    def status(self) -> str | None:
        return str(self.run["status"]) if self.run and self.run.get("status") else None

    def messages(self) -> list[dict[str, Any]]:
        """This run's assistant messages, in the order the server created them."""
        run_id = self.run_id
        return [
            m
            for m in self._messages.values()
            if m.get("role", "assistant") == "assistant" and m.get("run_id") in (None, run_id)
        ]

    def pending_tool_calls(self) -> list[dict[str, Any]]:
        """``[{"id", "name", "arguments"}]`` of the function calls the run waits for."""
        if self.status != "requires_action" or not self.run:
            return []
        action = self.run.get("required_action") or {}
        calls = (action.get("submit_tool_outputs") or {}).get("tool_calls") or []
        pending = []
        for call in calls:
            function = call.get("function") or {}
            pending.append(
                {"id": call.get("id", ""), "name": function.get("name", ""), "arguments": function.get("arguments", "")}
            )
        return pending

    # -- feeding ----------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Apply one stream event."""
        self.events_seen += 1
        name, data = event.name, event.data
        if name == "thread.created":
            self.thread_id = data.get("id") or self.thread_id
        elif name.startswith("thread.run.step"):
            return  # steps carry tool details we do not report
        elif name.startswith("thread.run."):
            self.update_run(data, streamed=True)
        elif name == "thread.message.delta":
            self._apply_delta(data)
        elif name.startswith("thread.message."):
            self._put_message(data)
        elif name == "error":
            inner = data.get("error", data)
            self.error = inner if isinstance(inner, dict) else {"message": str(inner)}

    def update_run(self, run: dict[str, Any], *, streamed: bool = False) -> None:
        """A newer run object (from a ``thread.run.*`` event or a GET)."""
        if not run.get("id"):
            return
        self.run = run
        self.thread_id = run.get("thread_id") or self.thread_id
        if run.get("status") in STOP_STATUSES:
            self.finished = True
            if streamed and run.get("status") in TERMINAL_STATUSES:
                self.messages_complete = True

    def expect_more(self) -> None:
        """Tool outputs were submitted: the run goes on."""
        self.finished = False

    def set_messages(self, messages: list[dict[str, Any]]) -> None:
        """This run's messages as listed by the server (after a broken stream)."""
        self._messages = {m["id"]: m for m in messages if m.get("id")}
        self.messages_complete = True

    # -- messages from events ---------------------------------------------------------------

    def _belongs(self, message: dict[str, Any]) -> bool:
        run_id = message.get("run_id")
        return message.get("role", "assistant") == "assistant" and (
            run_id is None or self.run_id is None or run_id == self.run_id
        )

    def _put_message(self, message: dict[str, Any]) -> None:
        if not message.get("id") or not self._belongs(message):
            return
        known = self._messages.get(message["id"])
        if known is not None and not message.get("content") and known.get("content"):
            # An in_progress/created object with empty content must not wipe streamed deltas.
            message = {**message, "content": known["content"]}
        self._messages[message["id"]] = copy.deepcopy(message)

    def _apply_delta(self, data: dict[str, Any]) -> None:
        message_id = data.get("id")
        if not message_id:
            return
        message = self._messages.get(message_id)
        if message is None:
            delta_role = (data.get("delta") or {}).get("role", "assistant")
            if delta_role != "assistant":
                return
            message = {"id": message_id, "role": "assistant", "run_id": self.run_id, "content": []}
            self._messages[message_id] = message
        parts: list[dict[str, Any]] = message.setdefault("content", [])
        for chunk in (data.get("delta") or {}).get("content") or []:
            index = chunk.get("index", len(parts))
            while len(parts) <= index:
                parts.append({})
            _merge_part(parts[index], chunk)


def _merge_part(part: dict[str, Any], chunk: dict[str, Any]) -> None:
    """Merge one content delta into its part: text is appended, annotations set by index."""
    kind = chunk.get("type") or part.get("type")
    part["type"] = kind
    if kind == "text":
        text = part.setdefault("text", {"value": "", "annotations": []})
        incoming = chunk.get("text") or {}
        text["value"] = text.get("value", "") + (incoming.get("value") or "")
        annotations: list[dict[str, Any]] = text.setdefault("annotations", [])
        for ann in incoming.get("annotations") or []:
            position = ann.get("index", len(annotations))
            while len(annotations) <= position:
                annotations.append({})
            annotations[position].update({k: v for k, v in ann.items() if k != "index"})
    elif kind in ("image_file", "image_url", "refusal"):
        value = chunk.get(kind)
        if isinstance(value, dict):
            part.setdefault(kind, {}).update(value)
        elif value is not None:
            part[kind] = (part.get(kind) or "") + str(value) if kind == "refusal" else value
