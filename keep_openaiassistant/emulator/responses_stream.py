"""The server-sent events of a streamed response, and their replay from a sequence number.

A response's events are a pure function of its final state (:func:`output_events`), so every
stream of it — the original and any resumed with ``starting_after=N`` — numbers the same events
the same way: resuming is "the same stream, skipping what you have". :func:`stream_events` yields
``response.created`` (then ``response.queued`` for a background response) and
``response.in_progress`` at once, waits the model time in real time (no
lock held), then the output events and the terminal event (``response.completed``,
``response.incomplete`` or ``response.failed``). A cancelled response has no terminal event in the
Responses API, so its stream simply ends; clients retrieve it to learn the status.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .common import text_chunks
from .responses_state import ResponseRecord, ResponsesState

TERMINAL_EVENTS = {"completed": "response.completed", "incomplete": "response.incomplete", "failed": "response.failed"}
_TOOL_PHASES = {"file_search_call": "searching", "code_interpreter_call": "interpreting"}


def output_events(output: list[dict[str, Any]], first_sequence: int) -> list[dict[str, Any]]:
    """The events that build ``output`` item by item, numbered from ``first_sequence``."""
    events: list[dict[str, Any]] = []

    def add(kind: str, **fields: Any) -> None:
        events.append({"type": kind, **fields, "sequence_number": first_sequence + len(events)})

    for oi, item in enumerate(output):
        kind, item_id = item["type"], item["id"]
        if kind == "message":
            add("response.output_item.added", output_index=oi, item={**item, "status": "in_progress", "content": []})
            for ci, part in enumerate(item["content"]):
                where = {"item_id": item_id, "output_index": oi, "content_index": ci}
                add("response.content_part.added", **where, part={**part, "text": "", "annotations": []})
                for delta in text_chunks(part["text"]):
                    add("response.output_text.delta", **where, delta=delta, logprobs=[])
                for ai, annotation in enumerate(part.get("annotations", [])):
                    add("response.output_text.annotation.added", **where, annotation_index=ai, annotation=annotation)
                add("response.output_text.done", **where, text=part["text"], logprobs=[])
                add("response.content_part.done", **where, part=part)
        elif kind == "function_call":
            add("response.output_item.added", output_index=oi, item={**item, "status": "in_progress", "arguments": ""})
            add("response.function_call_arguments.delta", item_id=item_id, output_index=oi, delta=item["arguments"])
            add(
                "response.function_call_arguments.done",
                item_id=item_id,
                name=item["name"],
                output_index=oi,
                arguments=item["arguments"],
            )
        elif kind == "compaction":  # done when it is added: no phases of its own
            add("response.output_item.added", output_index=oi, item=item)
        else:
            add("response.output_item.added", output_index=oi, item={**item, "status": "in_progress"})
            for phase in ("in_progress", _TOOL_PHASES.get(kind, "in_progress"), "completed"):
                add(f"response.{kind}.{phase}", output_index=oi, item_id=item_id)
        add("response.output_item.done", output_index=oi, item=item)
    return events


def stream_events(
    state: ResponsesState, rec: ResponseRecord, *, starting_after: int = -1, include: frozenset[str] = frozenset()
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(event name, data)`` for the SSE reply; events numbered ``<= starting_after`` are skipped."""
    head: list[dict[str, Any]] = [{"type": "response.created", "response": state.snapshot(rec, rec.initial_status)}]
    if rec.background:
        head.append({"type": "response.queued", "response": state.snapshot(rec, "queued")})
    head.append({"type": "response.in_progress", "response": state.snapshot(rec, "in_progress")})
    for number, event in enumerate(head):
        event["sequence_number"] = number
    for event in head:
        if event["sequence_number"] > starting_after:
            yield event["type"], event
    state.wait_until_done(rec)
    final = state.snapshot(rec, include=include)
    terminal = TERMINAL_EVENTS.get(final["status"])
    if terminal is None:
        return  # cancelled: no such event in the Responses API
    tail = output_events(final["output"], first_sequence=len(head))
    tail.append({"type": terminal, "sequence_number": len(head) + len(tail), "response": final})
    interval = float(state.config.delta_interval or 0)
    for event in tail:
        if event["sequence_number"] > starting_after:
            if interval and event["type"] == "response.output_text.delta":
                state.clock.sleep(interval)
            yield event["type"], event
