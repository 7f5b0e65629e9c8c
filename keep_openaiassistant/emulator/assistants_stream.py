"""Server-sent events for a streamed run, in the order OpenAI sent them.

The stream does not own the run: it watches the same record a poller sees, sleeping (outside the
lock, through the emulator's ``clock.sleep``) until the run's next state change, then describes
what changed::

    [thread.created] thread.run.created thread.run.queued thread.run.in_progress
    per output message: thread.run.step.created, .step.in_progress, thread.message.created,
        .message.in_progress, thread.message.delta x N, .message.completed|.incomplete, .step.completed
    thread.run.completed | .incomplete | .failed | .expired | .cancelled
        (or a tool_calls step: .step.created, .step.in_progress, .step.delta, thread.run.requires_action)
    event: done, data: [DONE]

A client that cancels the run mid-stream sees thread.run.cancelling then thread.run.cancelled.
Because the run advances by the clock, a stream the client drops (or the emulator cuts) leaves
the run to finish on the server exactly as if it had been polled.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .assistants_store import AssistantsStore, MessageRec, RunRec, StepRec, without_search_content
from .common import RUN_ACTIVE, text_chunks

Event = tuple[str | None, Any]

WAKE_SLICE = 0.02  # longest sleep between looks at the run, so a cancel is seen promptly


def run_snapshot(run: RunRec, status: str) -> dict[str, Any]:
    """The run as it was when it had ``status`` (before its outcome fields were set)."""
    data = run.to_dict()
    data.update(
        status=status,
        completed_at=None,
        failed_at=None,
        cancelled_at=None,
        usage=None,
        last_error=None,
        incomplete_details=None,
        required_action=None,
        expires_at=run.expires_at,
    )
    if status == "queued":
        data["started_at"] = None
    return data


def _step_started(step: StepRec) -> dict[str, Any]:
    data = step.to_dict()
    data.update(status="in_progress", completed_at=None, cancelled_at=None, failed_at=None, expired_at=None, usage=None)
    if step.type == "tool_calls":
        data["step_details"] = {"type": "tool_calls", "tool_calls": []}
    return data


def _message_started(message: MessageRec) -> dict[str, Any]:
    data = message.to_dict()
    data.update(status="in_progress", content=[], completed_at=None, incomplete_at=None, incomplete_details=None)
    return data


def message_deltas(message: MessageRec) -> Iterator[dict[str, Any]]:
    """MessageDeltaObjects whose accumulation is the message's content."""
    for index, part in enumerate(message.content):
        if part["type"] != "text":
            yield _delta(message, {"index": index, **part})
            continue
        pieces = text_chunks(part["text"]["value"]) or [""]  # an empty text still has its one delta
        for n, piece in enumerate(pieces):
            annotations = (
                [{"index": i, **a} for i, a in enumerate(part["text"]["annotations"])] if n == len(pieces) - 1 else []
            )
            yield _delta(
                message, {"index": index, "type": "text", "text": {"value": piece, "annotations": annotations}}
            )


def _delta(message: MessageRec, content: dict[str, Any]) -> dict[str, Any]:
    return {"id": message.id, "object": "thread.message.delta", "delta": {"content": [content]}}


class RunStream:
    """Watches one run and yields its events until it ends or waits for tool outputs."""

    def __init__(
        self, store: AssistantsStore, run: RunRec, *, announced: str, seen_steps: dict[str, str] | None = None
    ) -> None:
        self._store = store
        self._run = run
        self._announced = announced  # the last run status the client was told about
        self._seen_steps = dict(seen_steps or {})  # step id -> status the client was told about
        self._sleep = store.clock.sleep
        self._delta_interval = float(store.config.delta_interval or 0)

    def events(self) -> Iterator[Event]:
        while True:
            with self._store.lock:
                self._store.advance(self._run)
                batch = self._changes()
                status = self._run.status
                next_at = self._store.next_event_at(self._run)
                now = self._store.clock.now()
            for event in batch:
                if event[0] == "thread.message.delta" and self._delta_interval:
                    self._sleep(self._delta_interval)
                yield event
            if status not in RUN_ACTIVE or status == "requires_action":
                yield "done", "[DONE]"
                return
            self._sleep(max(0.0, min(WAKE_SLICE, (next_at if next_at is not None else now + WAKE_SLICE) - now)))

    def _changes(self) -> list[Event]:
        """Events for everything that happened since the client was last told (lock held)."""
        run = self._run
        out: list[Event] = []
        if self._announced == "queued" and run.started_at is not None:
            out.append(("thread.run.in_progress", run_snapshot(run, "in_progress")))
            self._announced = "in_progress"
        for step in run.steps:
            out.extend(self._step_events(step))
        if run.cancel_due is not None and run.status == "cancelled" and self._announced != "cancelling":
            # A client's cancel that completed between two looks: still say it was cancelling.
            out.append(
                (
                    "thread.run.cancelling",
                    {
                        **run.to_dict(),
                        "status": "cancelling",
                        "cancelled_at": None,
                        "usage": None,
                        "expires_at": run.expires_at,
                    },
                )
            )
            self._announced = "cancelling"
        if run.status != self._announced and not (run.status == "in_progress" and self._announced == "in_progress"):
            data = run.to_dict() if run.status != "in_progress" else run_snapshot(run, "in_progress")
            out.append((f"thread.run.{run.status}", data))
            self._announced = run.status
        return out

    def _step_events(self, step: StepRec) -> list[Event]:
        told = self._seen_steps.get(step.id)
        out: list[Event] = []
        if told is None:
            out.append(("thread.run.step.created", _step_started(step)))
            out.append(("thread.run.step.in_progress", _step_started(step)))
            if step.type == "message_creation":
                message = self._store.message(step.step_details["message_creation"]["message_id"])
                if message is not None:
                    out.append(("thread.message.created", _message_started(message)))
                    out.append(("thread.message.in_progress", _message_started(message)))
                    out.extend(("thread.message.delta", d) for d in message_deltas(message))
                    out.append((f"thread.message.{message.status}", message.to_dict()))
            else:
                shown = without_search_content(step.step_details)["tool_calls"]  # results' text: only when included
                calls = [{"index": i, **call} for i, call in enumerate(shown)]
                delta = {
                    "id": step.id,
                    "object": "thread.run.step.delta",
                    "delta": {"step_details": {"type": "tool_calls", "tool_calls": calls}},
                }
                out.append(("thread.run.step.delta", delta))
            told = "in_progress"
        if step.status != told:
            out.append((f"thread.run.step.{step.status}", step.to_dict()))
        self._seen_steps[step.id] = step.status
        return out
