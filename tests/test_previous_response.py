"""Servers without the Conversations API: threads are chains of ``previous_response_id``.

Against the emulator with its Conversations API switched off (``EmulatorConfig.conversations``),
answering 404 or 405 like a gateway that only speaks Responses, and with it on for the config
switch. New, continued, history, function-call rounds, busy and deadline, each end to end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from wire_recorder import Recorder

from keep_openaiassistant import Assistant, Settings, errors
from keep_openaiassistant.emulator import Emulator

CONVERSATIONS = "POST /v1/conversations"
CREATE = "POST /v1/responses"
INPUT_ITEMS = "GET /v1/responses/{response_id}/input_items"
#: The deadline's promise (max_wait_time + the 1 s cancel grace) plus slack for a busy machine.
DEADLINE_SLACK = 2.5


@pytest.fixture(params=[404, 405], ids=["404", "405"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(model_time=0.05, conversations=False, conversations_off_status=request.param) as emu:
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


def requests(emulator: Emulator) -> dict[str, int]:
    return emulator.stats.snapshot()


def created(recorder: Recorder) -> list[dict[str, Any]]:
    return [e.request_body for e in recorder.requests() if e.method == "POST" and e.path == "/v1/responses"]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_new_thread_is_a_response_whose_id_is_the_thread(make: Callable[..., Assistant], emulator: Emulator) -> None:
    assistant = make()
    logger, seen = logging.getLogger("keep_openaiassistant"), _Records()
    level, disabled = logger.level, logger.disabled
    logger.addHandler(seen)  # its own handler: other tests may stop the logger's propagation, or
    logger.setLevel(logging.INFO)  # disable it (logging.config with disable_existing_loggers)
    logger.disabled = False
    try:
        first = assistant.ask("Disk full on db-1")
        second = assistant.ask("CPU high on web-3")
    finally:
        logger.removeHandler(seen)
        logger.setLevel(level)
        logger.disabled = disabled
    assert first.thread_id == first.run_id and first.thread_id.startswith("resp_")
    assert second.thread_id == second.run_id != first.thread_id
    assert requests(emulator)[CONVERSATIONS] == 1, "detected once per server, not per question"
    assert requests(emulator)[CREATE] == 2
    learned = [r for r in seen.records if "no Conversations API" in r.getMessage()]
    assert len(learned) == 1 and learned[0].levelno == logging.WARNING
    assert [(m.role, m.content) for m in first.messages] == [("user", "Disk full on db-1"), ("assistant", first.text)]


def test_a_later_step_continues_the_chain_with_its_history(
    make: Callable[..., Assistant], emulator: Emulator, emulator_recorder: Recorder
) -> None:
    assistant = make()
    first = assistant.ask("Disk full on db-1")
    second = assistant.ask("And the replica?", thread_id=first.thread_id)
    third = assistant.ask("Which to fix first?", thread_id=second.thread_id)
    bodies = created(emulator_recorder)
    assert "previous_response_id" not in bodies[0] and "conversation" not in bodies[0]
    assert bodies[1]["previous_response_id"] == first.thread_id and "conversation" not in bodies[1]
    assert bodies[2]["previous_response_id"] == second.thread_id
    assert third.thread_id == third.run_id not in (first.thread_id, second.thread_id)
    assert "turn 3 of this thread" in third.text, "the model read the whole chain"
    assert [m.content for m in third.messages] == [
        "Disk full on db-1",
        first.text,
        "And the replica?",
        second.text,
        "Which to fix first?",
        third.text,
    ]
    assert [m.role for m in third.messages] == ["user", "assistant"] * 3
    assert requests(emulator)[INPUT_ITEMS] == 2, "one history request per continued step"


def test_history_none_makes_no_history_request(make: Callable[..., Assistant], emulator: Emulator) -> None:
    assistant = make()
    first = assistant.ask("Disk full on db-1")
    second = assistant.ask("And the replica?", thread_id=first.thread_id, history="none")
    assert INPUT_ITEMS not in requests(emulator)
    assert [m.content for m in second.messages] == ["And the replica?", second.text]


def test_function_call_rounds_chain_from_each_other_and_sum_their_usage(
    make: Callable[..., Assistant], emulator_recorder: Recorder
) -> None:
    assistant = make()
    first = assistant.ask("Disk full on db-1")
    result = assistant.ask(
        "CPU high on web-3 [[tool:get_metrics]]", thread_id=first.thread_id, tool_outputs={"get_metrics": "cpu 97%"}
    )
    calls, answer = created(emulator_recorder)[1:]
    assert calls["previous_response_id"] == first.thread_id
    assert answer["input"][0]["type"] == "function_call_output"
    assert answer["previous_response_id"] not in (first.thread_id, result.thread_id), "the call round's response"
    assert "cpu 97%" in result.text and result.thread_id == result.run_id
    assert result.usage.requests == 2
    assert result.usage.total_tokens == result.usage.input_tokens + result.usage.output_tokens > 0


def test_a_chain_from_a_response_still_running_waits_for_it(make: Callable[..., Assistant], emulator: Emulator) -> None:
    """Busy thread: the previous response is still in progress (the server refuses to chain from
    it): the step waits its turn and never cancels the other response."""
    client = openai.OpenAI(api_key="sk-emulator", base_url=emulator.base_url, max_retries=0)
    try:
        running = client.post(
            "/responses",
            body={"model": "gpt-5.4-mini", "input": "Slow [[delay:0.6]]", "background": True},
            cast_to=object,
        )
    finally:
        client.close()
    assert isinstance(running, dict) and running["status"] in ("queued", "in_progress")
    result = make().ask("And now?", thread_id=running["id"], max_wait_time=20)
    assert result.status == "completed" and "turn 2 of this thread" in result.text
    state = emulator.responses.state
    assert state.response(running["id"]).status == "completed", "the other response was left alone"


def test_a_busy_chain_past_the_deadline_is_thread_busy(make: Callable[..., Assistant], emulator: Emulator) -> None:
    client = openai.OpenAI(api_key="sk-emulator", base_url=emulator.base_url, max_retries=0)
    try:
        running = client.post(
            "/responses",
            body={"model": "gpt-5.4-mini", "input": "Slow [[delay:30]]", "background": True},
            cast_to=object,
        )
    finally:
        client.close()
    assert isinstance(running, dict)
    started = time.monotonic()
    with pytest.raises(errors.ThreadBusyError) as caught:
        make().ask("And now?", thread_id=running["id"], max_wait_time=0.5)
    assert time.monotonic() - started < 0.5 + DEADLINE_SLACK
    assert caught.value.thread_id == running["id"] and running["id"] in caught.value.message
    assert emulator.responses.state.response(running["id"]).status != "cancelled"


def test_concurrent_steps_continuing_one_chain_each_get_their_own_answer(
    make: Callable[..., Assistant],
) -> None:
    assistant = make()
    first = assistant.ask("Disk full on db-1")
    prompts = [f"Question {i}" for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: assistant.ask(p, thread_id=first.thread_id, history="none"), prompts))
    for prompt, result in zip(prompts, results, strict=True):
        assert f'"{prompt}"' in result.text and "turn 2 of this thread" in result.text
    assert len({r.thread_id for r in results}) == 4


def test_the_deadline_cancels_the_chained_response(make: Callable[..., Assistant], emulator: Emulator) -> None:
    assistant = make()
    first = assistant.ask("Disk full on db-1")
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceededError) as caught:
        assistant.ask("Slow analysis [[delay:5]]", thread_id=first.thread_id, max_wait_time=0.3)
    assert time.monotonic() - started < 0.3 + DEADLINE_SLACK
    assert caught.value.cancelled and caught.value.thread_id == first.thread_id
    assert emulator.responses.state.response(str(caught.value.run_id)).status == "cancelled"
    after = assistant.ask("Still there?", thread_id=first.thread_id)
    assert "turn 2 of this thread" in after.text, "the cancelled response is not part of the chain"


def test_a_conversation_id_still_means_a_conversation(make: Callable[..., Assistant], emulator: Emulator) -> None:
    with pytest.raises(errors.InvalidRequestError, match="conversation"):
        make().ask("x", thread_id="conv_" + "0" * 48)


# -- the config switch, on a server that has Conversations ------------------------------------------


@pytest.fixture
def full_emulator() -> Iterator[Emulator]:
    with Emulator(model_time=0.05) as emu:
        yield emu


def test_thread_mode_previous_response_id_never_creates_a_conversation(full_emulator: Emulator) -> None:
    settings = Settings(
        api_key="sk-emulator", base_url=full_emulator.base_url, api="responses", thread_mode="previous_response_id"
    )
    with Assistant(settings) as assistant:
        first = assistant.ask("Disk full on db-1")
        second = assistant.ask("And the replica?", thread_id=first.thread_id)
    assert CONVERSATIONS not in requests(full_emulator)
    assert second.thread_id.startswith("resp_") and "turn 2 of this thread" in second.text


def test_thread_mode_auto_keeps_conversations_where_the_server_has_them(full_emulator: Emulator) -> None:
    with Assistant(Settings(api_key="sk-emulator", base_url=full_emulator.base_url, api="responses")) as assistant:
        assert assistant.ask("Disk full on db-1").thread_id.startswith("conv_")


def test_thread_mode_conversations_on_a_server_without_them_says_so(emulator: Emulator) -> None:
    settings = Settings(api_key="sk-emulator", base_url=emulator.base_url, api="responses", thread_mode="conversations")
    with Assistant(settings) as assistant, pytest.raises(errors.ApiError) as caught:
        assistant.ask("Disk full on db-1")
    assert "/conversations" in caught.value.message
    assert CREATE not in requests(emulator)


def test_the_emulator_without_conversations_refuses_a_conversation_parameter(emulator: Emulator) -> None:
    client = openai.OpenAI(api_key="sk-emulator", base_url=emulator.base_url, max_retries=0)
    try:
        with pytest.raises(openai.APIStatusError) as caught:
            client.post("/conversations", body={}, cast_to=object)
        assert caught.value.status_code == emulator.config.conversations_off_status
        with pytest.raises(openai.BadRequestError, match="conversation"):
            client.post(
                "/responses", body={"model": "gpt-5.4-mini", "input": "x", "conversation": "conv_1"}, cast_to=object
            )
    finally:
        client.close()


@pytest.fixture
def emulator_recorder(emulator: Emulator) -> Recorder:
    return Recorder(emulator)


def test_detection_is_shared_by_concurrent_first_questions(make: Callable[..., Assistant], emulator: Emulator) -> None:
    assistant = make()
    barrier = threading.Barrier(3)

    def ask(i: int) -> str:
        barrier.wait()
        return assistant.ask(f"Alert {i}").thread_id

    with ThreadPoolExecutor(3) as pool:
        threads = list(pool.map(ask, range(3)))
    assert all(t.startswith("resp_") for t in threads)
    assert requests(emulator)[CONVERSATIONS] <= 3


def test_the_switch_is_also_a_control_call_for_an_emulator_in_another_process(full_emulator: Emulator) -> None:
    """``POST /_emulator/config {"conversations": false}``: the same switch across processes."""
    import json
    import urllib.request

    def control(method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{full_emulator.url}/_emulator/config", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", "Bearer sk-emulator")
        with urllib.request.urlopen(req, timeout=5) as reply:
            answer: dict[str, Any] = json.loads(reply.read())
            return answer

    assert control("GET")["conversations"] is True
    assert control("POST", {"conversations": False, "context_window": 5000})["conversations"] is False
    with Assistant(Settings(api_key="sk-emulator", base_url=full_emulator.base_url, api="responses")) as assistant:
        assert assistant.ask("Disk full on db-1").thread_id.startswith("resp_")
    assert control("POST", {"conversations": True})["context_window"] == 5000
