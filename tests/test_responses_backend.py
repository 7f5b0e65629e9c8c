"""The Responses engine over real HTTP against the bundled emulator (127.0.0.1)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from keep_openaiassistant import AskResult, Assistant, Settings, errors
from keep_openaiassistant.backends.responses import ResponsesBackend
from keep_openaiassistant.emulator import Emulator
from keep_openaiassistant.emulator.model import plan_answer
from keep_openaiassistant.emulator.oncall_tools import response_tools

MakeAssistant = Callable[..., Assistant]
CREATE = "POST /v1/responses"
RETRIEVE = "GET /v1/responses/{response_id}"
ITEMS = "GET /v1/conversations/{conversation_id}/items"
SCHEMA = {
    "type": "object",
    "properties": {"severity": {"type": "string", "enum": ["high", "low"]}, "summary": {"type": "string"}},
}


@pytest.fixture
def make(make_assistant: MakeAssistant) -> MakeAssistant:
    return lambda **settings: make_assistant("responses", **settings)


def requests(emulator: Emulator) -> dict[str, int]:
    return emulator.stats.snapshot()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Wait on the emulator's state (not on the clock) for another thread to get ahead."""
    give_up = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < give_up, f"never happened: {what}"
        time.sleep(0.005)


#: The hard deadline's promise: the error comes at max_wait_time plus the cancel's 1 s grace.
#: Tests allow that plus slack for a busy machine: far below the 5 s the model would take.
DEADLINE_SLACK = 2.5


def statuses(emulator: Emulator) -> list[str]:
    state = emulator.responses.state
    with state.lock:
        for rec in state.responses.values():
            state.settle(rec)
        return [rec.status for rec in state.responses.values()]


def sent_bodies(emulator: Emulator) -> list[dict[str, Any]]:
    """Bodies of POST /v1/responses, recorded from the first SSE event of each."""
    seen: list[dict[str, Any]] = []
    emulator.server.event_hook = lambda request, event, data: (
        seen.append(request.json()) if event == "response.created" else None
    )
    return seen


# -- requests per question ----------------------------------------------------------------------


def test_new_conversation_is_two_requests_and_messages_are_known_locally(
    make: MakeAssistant, emulator: Emulator
) -> None:
    result = make().ask("Disk full on db-1")
    assert requests(emulator) == {"POST /v1/conversations": 1, CREATE: 1}
    assert result.status == "completed" and result.backend == "responses"
    assert result.thread_id.startswith("conv_") and result.run_id.startswith("resp_")
    assert result.text == plan_answer("Disk full on db-1").text  # exactly the model's answer
    assert [(m.role, m.content) for m in result.messages] == [("user", "Disk full on db-1"), ("assistant", result.text)]
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens > 0
    assert result.model == "gpt-5.4-mini"


def test_continued_conversation_is_two_requests_and_answers_only_this_response(
    make: MakeAssistant, emulator: Emulator
) -> None:
    assistant = make()
    first = assistant.ask("Disk full on db-1")
    emulator.stats.reset()
    second = assistant.ask("Is it fixed?", thread_id=first.thread_id)
    assert requests(emulator) == {CREATE: 1, ITEMS: 1}
    assert second.thread_id == first.thread_id and second.run_id != first.run_id
    assert "Is it fixed?" in second.text and "turn 2" in second.text and "Disk full" not in second.text
    assert [(m.role, m.content) for m in second.messages] == [
        ("user", "Disk full on db-1"),
        ("assistant", first.text),
        ("user", "Is it fixed?"),
        ("assistant", second.text),
    ]


def test_messages_of_a_long_conversation_are_the_newest_hundred_items(make: MakeAssistant, emulator: Emulator) -> None:
    assistant = make()
    thread_id = assistant.ask("turn 0").thread_id
    conv = emulator.responses.state.conversations[thread_id]
    filler = [
        {
            "type": "message",
            "id": f"msg_old{i}",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_text", "text": f"old {i}"}],
        }
        for i in range(120)
    ]
    conv.items[:0] = filler
    result = assistant.ask("latest", thread_id=thread_id)
    assert (
        len(result.messages) == 100
        and result.messages[-1].content == result.text
        and result.messages[-2].content == "latest"
    )


def test_request_carries_the_profile_instructions_tools_and_format(make: MakeAssistant, emulator: Emulator) -> None:
    seen = sent_bodies(emulator)
    fmt = {"type": "json_schema", "json_schema": {"name": "triage", "schema": SCHEMA, "strict": True}}
    assistant = make(
        model="gpt-5.4-nano",
        instructions="You are the SRE assistant.",
        vector_store_ids=("vs_runbooks",),
        code_interpreter=True,
    )
    result = assistant.ask("db-1 down", additional_instructions="Answer in French.", structured_output_format=fmt)
    assistant.ask("and now?", thread_id=result.thread_id)
    first, second = seen
    assert first["model"] == "gpt-5.4-nano" and first["conversation"] == result.thread_id
    assert first["instructions"] == "You are the SRE assistant.\n\nAnswer in French."
    assert second["instructions"] == "You are the SRE assistant."  # extra instructions were for one response only
    assert first["tools"] == [
        {"type": "file_search", "vector_store_ids": ["vs_runbooks"]},
        {"type": "code_interpreter", "container": {"type": "auto"}},
    ]
    assert first["text"] == {"format": {"type": "json_schema", "name": "triage", "schema": SCHEMA, "strict": True}}
    assert first["background"] is True and first["stream"] is True and first["store"] is True
    assert result.response == {"severity": "high", "summary": "db-1 down"} and result.model == "gpt-5.4-nano"


# -- the answer: all of this response's output ----------------------------------------------------


def test_multipart_answer_joins_every_message_and_part_in_order(make: MakeAssistant) -> None:
    result = make().ask("Disk trend [[multipart]]")
    assert result.text == plan_answer("Disk trend [[multipart]]").text
    assert [m.role for m in result.messages] == ["user", "assistant", "assistant"]


def test_file_citations_become_numbered_references(make: MakeAssistant) -> None:
    result = make(vector_store_ids=("vs_runbooks",)).ask("How do I free space? [[citations]]")
    assert result.text == "Free space on the volume first[1], then page the storage team[2]."
    assert result.response == result.text  # "[1]" in prose is not mistaken for JSON
    assert [(c.index, c.type, c.file_id, c.filename) for c in result.citations] == [
        (1, "file_citation", "file-runbookdisk", "runbook-disk.md"),
        (2, "file_citation", "file-oncallpolicy", "oncall-policy.md"),
    ]


def test_produced_files_are_listed(make: MakeAssistant) -> None:
    result = make(code_interpreter=True).ask("Plot disk usage [[file]]")
    assert result.files == ("file-chartdiskusage",)
    assert "sandbox:" not in result.text and "chart [1]" in result.text
    assert result.citations[0].type == "file_path" and result.citations[0].filename == "disk_usage.png"


def test_empty_answer_completes_with_empty_text(make: MakeAssistant) -> None:
    result = make().ask("Disk full [[empty]]")
    assert result.status == "completed" and result.text == "" and result.response == ""


# -- JSON -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["[[json]]", "[[fenced_json]]"])
def test_json_answers_are_parsed(make: MakeAssistant, tag: str) -> None:
    result = make().ask(f"Disk full {tag}")
    assert isinstance(result.response, dict) and result.response["severity"] == "high"
    assert result.to_dict()["raw_response"] == result.text


def test_prose_that_quotes_json_stays_text(make: MakeAssistant) -> None:
    """An answer that is a sentence quoting JSON is the sentence, not the fragment (issue 10)."""
    result = make().ask("Disk full [[prose_json]]")
    assert result.response == result.text and isinstance(result.response, str)


def test_parse_json_false_returns_the_text(make: MakeAssistant) -> None:
    result = make().ask("Disk full [[json]]", parse_json=False)
    assert result.response == result.text and isinstance(result.response, str)


def test_structured_output_is_an_instance_of_the_schema(make: MakeAssistant) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "triage", "schema": SCHEMA, "strict": True}}
    result = make().ask("db-1 down", structured_output_format=fmt, parse_json=False)
    assert result.response == json.loads(result.text) == {"severity": "high", "summary": "db-1 down"}


def test_structured_output_without_a_schema_fails_before_any_request(make: MakeAssistant, emulator: Emulator) -> None:
    with pytest.raises(errors.ConfigurationError, match="structured_output_format"):
        make().ask("x", structured_output_format={"type": "json_schema", "json_schema": {"name": "t"}})
    assert requests(emulator) == {}


def test_structured_output_that_is_not_json_raises_response_format_error(make: MakeAssistant) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "object"}, "strict": True}}
    with pytest.raises(errors.ResponseFormatError) as caught:
        make().ask("Disk full [[empty]]", structured_output_format=fmt)
    assert caught.value.text == "" and caught.value.run_id and caught.value.thread_id


# -- terminal statuses ------------------------------------------------------------------------------


def test_failed_response_raises_run_failed_error_with_the_code(make: MakeAssistant) -> None:
    with pytest.raises(errors.RunFailedError) as caught:
        make().ask("x [[failed:rate_limit_exceeded]]")
    err = caught.value
    assert err.code == "rate_limit_exceeded" and "quota" in (err.detail or "") and err.status == "failed"
    assert (
        err.run_id
        and err.run_id in str(err)
        and err.thread_id
        and err.thread_id in str(err)
        and "What to do" in str(err)
    )


def test_incomplete_response_raises_with_the_reason_and_partial_text(make: MakeAssistant) -> None:
    with pytest.raises(errors.RunIncompleteError) as caught:
        make().ask("x [[incomplete:content_filter]]")
    err = caught.value
    assert err.reason == "content_filter" and "Triage of" in err.partial_text and "rephrase" in str(err)


def test_response_cancelled_by_the_server_raises_run_cancelled_error(make: MakeAssistant, emulator: Emulator) -> None:
    with pytest.raises(errors.RunCancelledError, match="cancelled by someone else") as caught:
        make().ask("x [[cancelled]]")
    assert caught.value.run_id and caught.value.thread_id


# -- function calls ---------------------------------------------------------------------------------


def test_tool_outputs_are_sent_as_a_follow_up_response_in_the_same_conversation(
    make: MakeAssistant, emulator: Emulator
) -> None:
    seen = sent_bodies(emulator)
    result = make().ask(
        "db-1 slow [[tool:get_logs]] [[tool:get_metrics]]",
        tool_outputs={"get_logs": "disk 99% full", "get_metrics": {"cpu": 12}},
    )
    assert "Tool get_logs said: disk 99% full" in result.text and 'Tool get_metrics said: {"cpu": 12}' in result.text
    assert requests(emulator)[CREATE] == 2 and len(seen) == 2
    assert all(b["conversation"] == result.thread_id for b in seen)
    assert [i["type"] for i in seen[1]["input"]] == ["function_call_output", "function_call_output"]
    assert [c["name"] for c in result.tool_calls] == ["get_logs", "get_metrics"] and result.tool_calls[0][
        "output"
    ] == "disk 99% full"
    assert (
        result.usage.total_tokens > 0 and result.run_id == list(emulator.responses.state.responses)[-1]
    )  # the follow-up's id


class _GatewayAddsFunctions:
    """A router in front of the emulator's: a gateway that adds organisation-wide functions to
    every ``POST /responses``. The engine declares only the functions its step answers, and a
    model calls only declared functions, so this is how a response can call a function the step
    has no output for."""

    def __init__(self, router: Any, *names: str) -> None:
        self.router, self.tools = router, response_tools(*names)

    def match(self, method: str, path: str) -> Any:
        found = self.router.match(method, path)
        if found is None or (method, path) != ("POST", "/v1/responses"):
            return found
        key, handler, params = found

        def declared(request: Any) -> Any:
            if isinstance(request.body, dict):
                request.body["tools"] = [*request.body.get("tools", []), *self.tools]
            return handler(request)

        return key, declared, params


def test_undeclared_functions_are_not_called_so_the_model_answers(make: MakeAssistant, emulator: Emulator) -> None:
    seen = sent_bodies(emulator)
    result = make().ask("db-1 slow [[tool:get_logs]] [[tool:page_oncall]]", tool_outputs={"get_logs": "disk 99% full"})
    assert [t["name"] for t in seen[0]["tools"]] == ["get_logs"]  # the step's outputs, nothing else
    assert [c["name"] for c in result.tool_calls] == ["get_logs"] and "Tool get_logs said: disk 99% full" in result.text
    assert result.text.endswith("No function page_oncall was available.") and requests(emulator)[CREATE] == 2


def test_unanswered_function_call_raises_action_required_and_keeps_the_conversation_usable(
    make: MakeAssistant, emulator: Emulator
) -> None:
    emulator.server.router = _GatewayAddsFunctions(emulator.server.router, "page_oncall")
    assistant = make()
    with pytest.raises(errors.ActionRequiredError) as caught:
        assistant.ask("db-1 slow [[tool:get_logs]] [[tool:page_oncall]]", tool_outputs={"get_logs": "ok"})
    err = caught.value
    assert {c["name"] for c in err.tool_calls} == {"get_logs", "page_oncall"} and all(c["id"] for c in err.tool_calls)
    assert "page_oncall" in str(err) and "tool_outputs" in str(err) and "Nothing was cancelled" in str(err)
    assert err.run_id in str(err) and statuses(emulator) == ["completed"]
    later = assistant.ask("what now?", thread_id=err.thread_id)  # the API accepts new input: the calls were closed
    assert "what now?" in later.text


# -- the hard deadline ------------------------------------------------------------------------------


def test_max_wait_time_cancels_the_response_on_the_server(make: MakeAssistant, emulator: Emulator) -> None:
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceededError) as caught:
        make().ask("slow one [[delay:5]]", max_wait_time=0.5)
    elapsed = time.monotonic() - started
    assert elapsed < 0.5 + DEADLINE_SLACK, elapsed
    err = caught.value
    assert (
        err.cancelled
        and err.run_id
        and err.thread_id
        and "max_wait_time=0.5" in str(err)
        and "cancelled on the server" in str(err)
    )
    assert not isinstance(err, errors.ThreadBusyError)
    assert statuses(emulator) == ["cancelled"]
    assert requests(emulator)["POST /v1/responses/{response_id}/cancel"] == 1


def test_answer_that_arrives_while_cancelling_is_returned(make: MakeAssistant, emulator: Emulator) -> None:
    emulator.faults.add(r"/cancel$", 500, count=5)  # the cancel is refused; the response finishes meanwhile
    result = make(max_retries=0).ask("nearly on time [[delay:0.8]]", max_wait_time=0.5)
    assert result.status == "completed" and "nearly on time" in result.text


def test_unconfirmed_cancel_says_so(make: MakeAssistant, emulator: Emulator) -> None:
    emulator.faults.add(r"/cancel$", 500, count=5)
    with pytest.raises(errors.DeadlineExceededError) as caught:
        make(max_retries=0).ask("slow one [[delay:5]]", max_wait_time=0.3)
    assert not caught.value.cancelled and "not confirmed" in str(caught.value)


def test_deadline_while_polling_cancels_too(make: MakeAssistant, emulator: Emulator) -> None:
    emulator.config.extra["refuse_stream"] = True
    with pytest.raises(errors.DeadlineExceededError) as caught:
        make().ask("slow one [[delay:5]]", max_wait_time=0.4)
    assert caught.value.cancelled and statuses(emulator) == ["cancelled"]


# -- busy conversations -----------------------------------------------------------------------------


def test_concurrent_asks_on_one_conversation_take_turns(make: MakeAssistant, emulator: Emulator) -> None:
    assistant = make()
    thread_id = assistant.ask("Disk full on db-1").thread_id
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda i: assistant.ask(f"question {i}", thread_id=thread_id, max_wait_time=20), range(4))
        )
    for i, result in enumerate(results):
        assert f"question {i}" in result.text and result.thread_id == thread_id
    turns = sorted(int(r.text.split("(turn ")[1].split(" ")[0]) for r in results)
    assert turns == [2, 3, 4, 5]
    assert len({r.run_id for r in results}) == 4 and statuses(emulator) == ["completed"] * 5


def test_conversation_busy_until_the_deadline_raises_thread_busy_error(make: MakeAssistant, emulator: Emulator) -> None:
    assistant = make()
    thread_id = assistant.ask("first").thread_id
    other = threading.Thread(target=lambda: assistant.ask("long one [[delay:2]]", thread_id=thread_id))
    other.start()
    wait_for(lambda: len(statuses(emulator)) == 2, "the other response started")
    with pytest.raises(errors.ThreadBusyError) as caught:
        assistant.ask("impatient", thread_id=thread_id, max_wait_time=0.4)
    err = caught.value
    assert err.thread_id == thread_id and not err.cancelled and "left alone" in str(err) and err.run_id is None
    other.join()
    assert statuses(emulator) == ["completed", "completed"]  # the other response was never cancelled


# -- streams that break, stall or never start -------------------------------------------------------


def test_stream_cut_is_resumed_without_resending_the_prompt(make: MakeAssistant, emulator: Emulator) -> None:
    baseline = make().ask("Disk full [[json]]")
    emulator.stats.reset()
    result = make().ask("Disk full [[json]] [[stream_cut:3]]")
    counts = requests(emulator)
    assert counts[CREATE] == 1 and counts[RETRIEVE] == 1  # one resume, the prompt sent once
    assert result.response == baseline.response and len(emulator.responses.state.responses) == 2


def test_refused_resume_falls_back_to_polling(make: MakeAssistant, emulator: Emulator) -> None:
    emulator.faults.add(r"^GET /v1/responses/\{response_id\}$", 500, count=1)  # the resume is refused
    result = make(max_retries=0).ask("Disk full [[stream_cut:2]]")
    assert "Disk full" in result.text
    counts = requests(emulator)
    assert counts[CREATE] == 1 and counts[RETRIEVE] >= 2


def test_stalled_stream_is_resumed_then_polled(make: MakeAssistant, emulator: Emulator) -> None:
    result = make(stream_stall_timeout=0.2).ask("slow [[delay:1]]")
    assert "slow" in result.text
    counts = requests(emulator)
    assert counts[CREATE] == 1 and counts[RETRIEVE] >= 2  # a resume that stalls too, then polls


def test_server_that_refuses_to_stream_is_polled(make: MakeAssistant, emulator: Emulator) -> None:
    emulator.config.extra["refuse_stream"] = True
    assistant = make()
    first = assistant.ask("Disk full [[tool:get_logs]]", tool_outputs={"get_logs": "99%"})
    assert "Tool get_logs said: 99%" in first.text
    emulator.stats.reset()
    second = assistant.ask("again", thread_id=first.thread_id)
    assert "turn 2" in second.text
    assert requests(emulator)[CREATE] == 1  # the refusal is remembered


def test_polling_honours_the_server_hint_else_starts_fast_and_doubles() -> None:
    for hint, expected in ((100, [0.1, 0.1, 0.1]), (None, [0.05, 0.1, 0.2])):
        slept: list[float] = []

        def sleep(seconds: float, slept: list[float] = slept) -> None:
            slept.append(round(seconds, 3))
            time.sleep(seconds)

        with Emulator(model_time=0.05, poll_after_ms=hint) as emu:
            emu.config.extra["refuse_stream"] = True
            assistant = Assistant(Settings(api_key="sk-emulator", base_url=emu.base_url, api="responses"), sleep=sleep)
            try:
                assistant.ask("slow [[delay:0.6]]")
            finally:
                assistant.close()
        assert slept[:3] == expected, (hint, slept)


# -- HTTP faults ------------------------------------------------------------------------------------


def test_rate_limit_and_server_error_bursts_are_retried(make: MakeAssistant, emulator: Emulator) -> None:
    emulator.faults.add(r"^POST /v1/responses$", 429, count=2)
    emulator.faults.add(r"^GET /v1/conversations/\{conversation_id\}/items$", 503, count=1)
    emulator.faults.add(r"^POST /v1/conversations$", 500, count=1)
    assistant = make(max_retries=2)
    first = assistant.ask("Disk full")
    second = assistant.ask("again", thread_id=first.thread_id)
    assert "turn 2" in second.text and len(second.messages) == 4
    counts = requests(emulator)
    assert counts[CREATE] == 4 and counts[ITEMS] == 2 and counts["POST /v1/conversations"] == 2
    assert len(emulator.responses.state.responses) == 2  # refused creates started nothing


def test_rate_limit_that_outlasts_the_retries_raises_rate_limit_error(make: MakeAssistant, emulator: Emulator) -> None:
    emulator.faults.add(r"^POST /v1/responses$", 429, count=5)
    with pytest.raises(errors.RateLimitError, match="What to do"):
        make(max_retries=1).ask("Disk full")
    assert requests(emulator)[CREATE] == 2


def test_bad_key_raises_authentication_error_with_advice(make: MakeAssistant) -> None:
    with pytest.raises(errors.AuthenticationError) as caught:
        make(api_key="bad-key-123456789").ask("Disk full")
    message = str(caught.value)
    assert "api_key" in message and "bad-key-123456789" not in message


def test_unknown_conversation_is_not_found(make: MakeAssistant) -> None:
    with pytest.raises(errors.NotFoundError, match="conv_doesnotexist"):
        make().ask("hello", thread_id="conv_doesnotexist")


def test_an_assistants_thread_id_is_refused_before_any_request(make: MakeAssistant, emulator: Emulator) -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        make().ask("hello", thread_id="thread_abc123")
    assert caught.value.field == "thread_id" and "conv_" in str(caught.value) and "migration" in str(caught.value)
    assert requests(emulator) == {}


def test_one_connection_serves_many_questions(make: MakeAssistant, emulator: Emulator) -> None:
    assistant = make()
    thread_id = assistant.ask("first").thread_id
    for i in range(4):
        assistant.ask(f"more {i}", thread_id=thread_id)
    assert emulator.stats.connections == 1  # streams are read to their end, so the connection is reused


def test_connection_refused_is_a_clear_connection_error() -> None:
    with Emulator() as emu:
        base_url = emu.base_url
    assistant = Assistant(Settings(api_key="sk-emulator", base_url=base_url, api="responses", max_retries=0))
    with pytest.raises(errors.ConnectionFailedError, match="base_url"):
        assistant.ask("Disk full", max_wait_time=3)
    assistant.close()


# -- scopes and concurrency -------------------------------------------------------------------------


def test_check_access_proves_key_and_model_with_one_read(make: MakeAssistant, emulator: Emulator) -> None:
    assert make().check_access() == {"authenticated": True, "assistant": True}
    unknown = make(model="gpt-nope").check_access()
    assert unknown["authenticated"] is True and "gpt-nope" in str(unknown["assistant"])
    refused = make(api_key="bad-key-000000000").check_access()
    assert refused["authenticated"] is not True and refused["assistant"] is not True
    assert set(requests(emulator)) == {"GET /v1/models/{model}"}  # nothing but reads


def test_sixteen_concurrent_asks_on_new_conversations_share_one_backend(
    make: MakeAssistant, emulator: Emulator
) -> None:
    assistant = make()
    assert isinstance(assistant.backend, ResponsesBackend)
    with ThreadPoolExecutor(16) as pool:
        results: list[AskResult] = list(pool.map(lambda i: assistant.ask(f"alert {i}"), range(16)))
    assert [r.text == plan_answer(f"alert {i}").text for i, r in enumerate(results)] == [True] * 16
    assert len({r.thread_id for r in results}) == 16 and len({r.run_id for r in results}) == 16
    assert requests(emulator) == {"POST /v1/conversations": 16, CREATE: 16}


# -- the wire against OpenAI's published spec -------------------------------------------------------


def test_every_request_the_engine_sends_fits_openais_spec(make: MakeAssistant, emulator: Emulator) -> None:
    from openapi_check import OpenAPISpec, format_problems

    sent: dict[int, Any] = {}

    def record(request: Any, *_: Any) -> None:
        sent[id(request)] = request

    emulator.server.exchange_hook = record
    emulator.server.event_hook = record
    assistant = make(instructions="SRE", vector_store_ids=("vs_1",), code_interpreter=True)
    first = assistant.ask(
        "Disk full [[tool:get_logs]]", tool_outputs={"get_logs": "99%"}, additional_instructions="Be brief."
    )
    assistant.ask(
        "again [[stream_cut:3]]",
        thread_id=first.thread_id,
        structured_output_format={"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "object"}}},
    )
    direct = emulator.server.router
    emulator.server.router = _GatewayAddsFunctions(direct, "page_oncall")
    with pytest.raises(errors.ActionRequiredError):
        assistant.ask("call [[tool:page_oncall]]", thread_id=first.thread_id)
    emulator.server.router = direct
    with pytest.raises(errors.DeadlineExceededError):
        assistant.ask("slow [[delay:5]]", max_wait_time=0.3)
    emulator.config.extra["refuse_stream"] = True
    assistant.ask("polled", thread_id=first.thread_id)
    assistant.check_access()
    spec = OpenAPISpec.default()
    problems = [p for r in sent.values() for p in spec.check_request(r.method, r.path, r.body, r.query)]
    routes = {(r.method, r.path.split("/")[2], r.path.rsplit("/", 1)[-1]) for r in sent.values()}
    assert {
        ("POST", "responses", "responses"),
        ("POST", "responses", "cancel"),
        ("GET", "conversations", "items"),
        ("POST", "conversations", "items"),
        ("POST", "conversations", "conversations"),
    } <= routes
    assert not problems, format_problems(problems)
