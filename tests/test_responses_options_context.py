"""Long threads: a thread that outgrows the context window does not fail the step when the
profile asks for ``truncation: auto`` or compaction, and the result says what the server did.

The emulator's context window is made small (``EmulatorConfig.context_window``) so a few turns
outgrow it; both thread kinds (conversations, previous_response_id chains) are run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from wire_recorder import Recorder

from keep_openaiassistant import Assistant, Settings, errors
from keep_openaiassistant.emulator import Emulator

WINDOW = 150  # tokens: instructions + history + input; three or four turns of the emulated model
LONG = "x" * 2400  # ~600 tokens of alert payload


@pytest.fixture(params=[True, False], ids=["conversations", "previous_response_id"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(model_time=0.02, context_window=WINDOW, conversations=request.param) as emu:
        yield emu


@pytest.fixture
def make(emulator: Emulator) -> Iterator[Callable[..., Assistant]]:
    made: list[Assistant] = []

    def build(**profile: Any) -> Assistant:
        made.append(Assistant(Settings(api_key="sk-emulator", base_url=emulator.base_url, api="responses", **profile)))
        return made[-1]

    yield build
    for assistant in made:
        assistant.close()


def grow(assistant: Assistant, turns: int) -> str:
    """A thread of ``turns`` exchanges; returns its id."""
    thread = assistant.ask("Disk full on db-1").thread_id
    for i in range(turns - 1):
        thread = assistant.ask(f"Update {i}: still full", thread_id=thread, history="none").thread_id
    return thread


def outgrow(assistant: Assistant) -> str:
    """A thread one more turn would not fit into the window."""
    thread = assistant.ask("Disk full on db-1").thread_id
    for i in range(20):
        try:
            thread = assistant.ask(f"Update {i}: still full", thread_id=thread, history="none").thread_id
        except errors.InvalidRequestError as exc:
            assert exc.code == "context_length_exceeded"
            return thread
    raise AssertionError("the thread never outgrew the emulator's context window")


def test_without_truncation_an_outgrown_thread_fails_with_what_to_do(make: Callable[..., Assistant]) -> None:
    assistant = make()
    thread = outgrow(assistant)
    with pytest.raises(errors.InvalidRequestError) as caught:
        assistant.ask("One more", thread_id=thread)
    assert caught.value.code == "context_length_exceeded"
    assert "truncation: auto" in caught.value.message and "compact_threshold" in caught.value.message


def test_truncation_auto_goes_on_and_says_the_server_truncated(
    make: Callable[..., Assistant], emulator: Emulator
) -> None:
    thread = outgrow(make())
    recorder = Recorder(emulator)
    result = make(truncation="auto").ask("One more", thread_id=thread)
    assert result.status == "completed"
    assert result.context.truncated and result.context.truncation == "auto" and not result.context.compacted
    assert result.to_dict()["context"] == {"truncation": "auto", "truncated": True, "compacted": False}
    sent = [e.request_body for e in recorder.requests() if e.method == "POST" and e.path == "/v1/responses"]
    assert [b.get("truncation") for b in sent] == [None, "auto"], "re-sent once, with truncation auto"


def test_a_thread_that_fits_is_not_reported_truncated(make: Callable[..., Assistant]) -> None:
    assistant = make(truncation="auto")
    result = assistant.ask("Again", thread_id=grow(assistant, 2))
    assert result.context.truncated is False and result.context.truncation == "disabled"


def test_compaction_is_reported_and_later_turns_read_from_it(
    make: Callable[..., Assistant], emulator: Emulator
) -> None:
    emulator.config.context_window = 128_000
    assistant = make(compact_threshold=1000)
    first = assistant.ask(f"Disk full on db-1, logs: {LONG}")
    assert not first.context.compacted
    second = assistant.ask(f"More logs: {LONG}", thread_id=first.thread_id, history="none")
    assert second.context.compacted, "the history passed the threshold: the server compacted it"
    assert second.usage.input_tokens < first.usage.input_tokens + first.usage.output_tokens, "read compacted"
    third = assistant.ask("Summary?", thread_id=second.thread_id, history="none")
    assert not third.context.compacted and third.status == "completed"


def test_usage_is_summed_over_every_request_of_the_step(make: Callable[..., Assistant]) -> None:
    result = make(reasoning_effort="low").ask(
        "CPU high [[tool:get_metrics]] [[tool:get_logs]]", tool_outputs={"get_metrics": "97%", "get_logs": "OOM"}
    )
    usage = result.usage
    assert usage.requests == 2
    assert usage.reasoning_tokens == 2 * 32, "each response of the step reasoned"
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert (usage.prompt_tokens, usage.completion_tokens) == (usage.input_tokens, usage.output_tokens)
    assert result.to_dict()["usage"]["reasoning_tokens"] == 64 and result.model == "gpt-5.4-mini"
