"""The Assistants engine's rare paths, driven without sockets: a scripted wire and a fake clock.

The HTTP tests (test_assistants_backend.py) cover what the emulator can stage; these cover
moments it cannot stage deterministically — a run that completes while being cancelled at the
deadline, a cancel the server never confirms, an ``event: error`` mid-stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Self

import openai
import pytest

from keep_openaiassistant import Question, Settings, errors
from keep_openaiassistant.backends.assistants import AssistantsBackend
from keep_openaiassistant.waiting import Deadline
from keep_openaiassistant.wire import Event, Reply

Handler = Callable[[str, str, dict[str, Any]], Reply]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeStream:
    def __init__(self, events: list[Event]) -> None:
        self.events = events

    def json_body(self) -> None:
        return None

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


class ScriptedWire:
    """Streams the given events; answers calls with ``handler(method, path, query)``; logs every request."""

    def __init__(self, events: list[Event], handler: Handler) -> None:
        self.events = events
        self.handler = handler
        self.log: list[str] = []

    def stream(self, method: str, path: str, **_: Any) -> FakeStream:
        self.log.append(f"{method} {path} (stream)")
        return FakeStream(self.events)

    def call(self, method: str, path: str, *, query: dict[str, Any] | None = None, **_: Any) -> Reply:
        self.log.append(f"{method} {path}")
        return self.handler(method, path, query or {})


def run(status: str, **more: Any) -> dict[str, Any]:
    return {"id": "run_1", "thread_id": "thread_1", "status": status, "assistant_id": "asst_1", **more}


def started(*more: Event) -> list[Event]:
    return [Event("thread.created", {"id": "thread_1"}), Event("thread.run.created", run("queued")), *more]


def backend_with(wire: ScriptedWire, clock: FakeClock) -> AssistantsBackend:
    settings = Settings(api_key="sk-test", api="assistants", assistant_id="asst_1")
    backend = AssistantsBackend(
        settings, openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1"), clock=clock, sleep=clock.sleep
    )
    backend.wire = wire  # type: ignore[assignment]
    return backend


def answer(text: str) -> dict[str, Any]:
    return {
        "data": [
            {
                "id": "msg_1",
                "role": "assistant",
                "run_id": "run_1",
                "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
            }
        ]
    }


def test_run_that_completes_while_cancelled_at_the_deadline_is_returned() -> None:
    clock = FakeClock()
    state = {"status": "in_progress"}

    def handler(method: str, path: str, query: dict[str, Any]) -> Reply:
        if path.endswith("/cancel"):
            state["status"] = "completed"  # it finished just before the cancel arrived
            raise errors.InvalidRequestError("Cannot cancel run with status 'completed'.", status_code=400)
        if path.endswith("/messages"):
            assert query["run_id"] == "run_1"
            return Reply(answer("just in time"), {})
        clock.sleep(0.4)
        return Reply(run(state["status"]), {"openai-poll-after-ms": "100"})

    wire = ScriptedWire(started(), handler)
    result = backend_with(wire, clock).ask(
        Question("q", max_wait_time=1.0), Deadline(1.0, clock=clock, sleep=clock.sleep)
    )
    assert result.text == "just in time" and result.status == "completed"
    assert "POST /threads/thread_1/runs/run_1/cancel" in wire.log


def test_cancel_the_server_never_confirms_is_reported_as_such() -> None:
    clock = FakeClock()

    def handler(method: str, path: str, query: dict[str, Any]) -> Reply:
        clock.sleep(0.1)
        return Reply(run("cancelling" if path.endswith("/cancel") or clock.now > 2 else "in_progress"), {})

    wire = ScriptedWire(started(), handler)
    with pytest.raises(errors.DeadlineExceededError) as caught:
        backend_with(wire, clock).ask(Question("q", max_wait_time=2.0), Deadline(2.0, clock=clock, sleep=clock.sleep))
    assert not caught.value.cancelled and "not confirmed" in str(caught.value) and caught.value.run_id == "run_1"
    assert clock.now < 2.0 + 1.0 + 0.5  # the confirmation is bounded by CANCEL_CONFIRM_SECONDS


def test_error_event_mid_stream_is_followed_by_reading_the_run() -> None:
    clock = FakeClock()
    events = started(Event("error", {"error": {"message": "stream failed", "code": "server_error"}}))

    def handler(method: str, path: str, query: dict[str, Any]) -> Reply:
        return Reply(run("failed", last_error={"code": "server_error", "message": "The server had an error"}), {})

    wire = ScriptedWire(events, handler)
    with pytest.raises(errors.RunFailedError) as caught:
        backend_with(wire, clock).ask(Question("q"), Deadline(60, clock=clock, sleep=clock.sleep))
    assert caught.value.code == "server_error" and wire.log[-1] == "GET /threads/thread_1/runs/run_1"


def test_polling_sleeps_start_fast_then_follow_the_hint() -> None:
    clock = FakeClock()
    naps: list[float] = []
    polls = iter(
        [({}, "in_progress"), ({}, "in_progress"), ({"openai-poll-after-ms": "250"}, "in_progress"), ({}, "completed")]
    )

    def handler(method: str, path: str, query: dict[str, Any]) -> Reply:
        if path.endswith("/messages"):
            return Reply(answer("done"), {})
        headers, status = next(polls)
        return Reply(run(status), headers)

    def sleep(seconds: float) -> None:
        naps.append(round(seconds, 3))
        clock.sleep(seconds)

    wire = ScriptedWire(started(), handler)  # the stream ends before the run does
    backend = backend_with(wire, clock)
    backend.ask(Question("q"), Deadline(60, clock=clock, sleep=sleep))
    assert naps == [0.05, 0.1, 0.25]  # 50 ms, doubling, then the server's hint; never a fixed second
