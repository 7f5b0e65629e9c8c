"""The emulator's Assistants API v2, driven over real HTTP by the real openai SDK's typed methods.

If the SDK's own helpers (create_and_run_poll, runs.stream with an AssistantEventHandler,
submit_tool_outputs_and_poll, paginated lists) work against the emulator on both the lowest
(1.37.1) and newest (3.x) SDK, the engine's tests against it mean something. Replies and stream
events are also checked against OpenAI's published spec (``openapi_check``).
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import AssistantEventHandler
from openapi_check import OpenAPISpec, format_problems

from keep_openaiassistant.emulator import DEFAULT_ASSISTANT_ID, Clock, Emulator, EmulatorConfig
from keep_openaiassistant.emulator.assistants_store import AssistantsStore, RunRec
from keep_openaiassistant.emulator.assistants_stream import WAKE_SLICE, RunStream

# The Assistants methods are deprecated in the SDK (the API was shut down); they still work.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
warnings.filterwarnings("ignore", category=DeprecationWarning, module="openai")

POLL_MS = 10


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(model_time=0.03, poll_after_ms=POLL_MS) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[openai.OpenAI]:
    sdk = openai.OpenAI(api_key="sk-test-key", base_url=emu.base_url, max_retries=0)
    yield sdk
    sdk.close()


def ask(client: openai.OpenAI, prompt: str, **kw: Any) -> Any:
    thread = {"messages": [{"role": "user", "content": prompt}]}
    return client.beta.threads.create_and_run_poll(
        assistant_id=DEFAULT_ASSISTANT_ID, thread=thread, poll_interval_ms=POLL_MS, **kw
    )


def texts(messages: Any) -> list[tuple[str, str]]:
    return [(m.role, m.content[0].text.value) for m in messages.data]


def raw_sse(emu: Emulator, path: str, body: dict[str, Any]) -> list[tuple[str | None, Any]]:
    """POST ``body`` with stream=true and read every SSE event (stdlib HTTP, independent of the SDK)."""
    host, port = emu.server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    headers = {
        "Authorization": "Bearer sk-test-key",
        "OpenAI-Beta": "assistants=v2",
        "Content-Type": "application/json",
    }
    conn.request("POST", path, json.dumps({**body, "stream": True}), headers)
    raw = conn.getresponse().read().decode()
    conn.close()
    events: list[tuple[str | None, Any]] = []
    for frame in filter(None, (f.strip() for f in raw.split("\n\n"))):
        fields = dict(line.split(": ", 1) for line in frame.split("\n"))
        data = fields["data"]
        events.append((fields.get("event"), data if data == "[DONE]" else json.loads(data)))
    return events


class Collector(AssistantEventHandler):
    """Records every event name and the streamed text, as a user of runs.stream would."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.text = ""
        self.on_each: Any = None

    def on_event(self, event: Any) -> None:
        self.names.append(event.event)
        if self.on_each is not None:
            self.on_each(event)

    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.text += delta.value or ""


# -- the basic flow -------------------------------------------------------------------------


def test_create_and_run_poll_completes_with_usage_and_answer_in_thread(client: openai.OpenAI) -> None:
    run = ask(client, "Disk full on db-1")

    assert run.status == "completed"
    assert run.usage is not None and run.usage.total_tokens == run.usage.prompt_tokens + run.usage.completion_tokens > 0
    assert run.completed_at is not None and run.started_at is not None
    messages = client.beta.threads.messages.list(thread_id=run.thread_id)
    assert [m.role for m in messages.data] == ["assistant", "user"]
    answer = messages.data[0]
    assert answer.run_id == run.id and answer.assistant_id == DEFAULT_ASSISTANT_ID
    assert 'Triage of "Disk full on db-1" (turn 1' in answer.content[0].text.value


def test_usage_is_null_until_the_run_ends(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "slow [[delay:0.3]]"}])

    run = client.beta.threads.runs.create(thread.id, assistant_id=DEFAULT_ASSISTANT_ID)

    assert run.status == "queued" and run.usage is None and run.expires_at == run.created_at + 600


def test_messages_list_is_newest_first_by_default_and_filters_by_run_id(client: openai.OpenAI) -> None:
    first = ask(client, "first question")
    second = client.beta.threads.runs.create_and_poll(
        thread_id=first.thread_id,
        assistant_id=DEFAULT_ASSISTANT_ID,
        additional_messages=[{"role": "user", "content": "second question"}],
        poll_interval_ms=POLL_MS,
    )

    newest_first = texts(client.beta.threads.messages.list(thread_id=first.thread_id))
    of_second = texts(client.beta.threads.messages.list(thread_id=first.thread_id, run_id=second.id, order="asc"))

    assert [role for role, _ in newest_first] == ["assistant", "user", "assistant", "user"]
    assert newest_first[1][1] == "second question" and newest_first[3][1] == "first question"
    assert len(of_second) == 1 and "turn 2 of this thread" in of_second[0][1]


def test_messages_list_pages_with_limit_and_after(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": f"m{i}"} for i in range(5)])

    page = client.beta.threads.messages.list(thread_id=thread.id, limit=2, order="asc")
    every = [m.content[0].text.value for m in page]  # iterating a page fetches the next ones

    assert [m.content[0].text.value for m in page.data] == ["m0", "m1"] and page.has_more
    assert every == ["m0", "m1", "m2", "m3", "m4"]


@pytest.mark.parametrize("limit", [0, 101])
def test_list_limit_outside_1_to_100_is_refused(client: openai.OpenAI, limit: int) -> None:
    thread = client.beta.threads.create()

    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.messages.list(thread_id=thread.id, limit=limit)

    assert caught.value.body["param"] == "limit"  # type: ignore[index]


def test_message_content_may_be_an_array_of_parts(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()

    message = client.beta.threads.messages.create(
        thread.id, role="user", content=[{"type": "text", "text": "part one"}]
    )

    assert message.content[0].text.value == "part one" and message.run_id is None


def test_content_over_256000_characters_is_refused(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()

    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.messages.create(thread.id, role="user", content="x" * 256_001)

    assert "string too long" in caught.value.message and caught.value.body["param"] == "content"  # type: ignore[index]


def test_second_run_sees_the_thread_history(client: openai.OpenAI) -> None:
    first = ask(client, "db down")
    client.beta.threads.messages.create(first.thread_id, role="user", content="still down? [[json]]")

    second = client.beta.threads.runs.create_and_poll(
        thread_id=first.thread_id, assistant_id=DEFAULT_ASSISTANT_ID, poll_interval_ms=POLL_MS
    )

    assert second.usage is not None and first.usage is not None
    assert second.usage.prompt_tokens > first.usage.prompt_tokens  # the history counts
    answer = client.beta.threads.messages.list(thread_id=first.thread_id, run_id=second.id).data[0]
    assert json.loads(answer.content[0].text.value)["summary"] == "Triage of: still down?"


def test_json_schema_response_format_answers_an_instance_of_the_schema(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"severity": {"type": "string", "enum": ["sev1", "sev2"]}, "page": {"type": "boolean"}},
        "required": ["severity", "page"],
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "triage", "schema": schema, "strict": True}}

    run = ask(client, "api errors", response_format=response_format)

    answer = client.beta.threads.messages.list(thread_id=run.thread_id, run_id=run.id).data[0]
    assert json.loads(answer.content[0].text.value) == {"severity": "sev1", "page": True}


def test_run_steps_point_at_the_answer(client: openai.OpenAI) -> None:
    run = ask(client, "check steps [[multipart]]")

    steps = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=run.thread_id, order="asc").data
    answers = client.beta.threads.messages.list(thread_id=run.thread_id, run_id=run.id, order="asc").data

    assert [s.type for s in steps] == ["message_creation", "message_creation"]
    assert [s.step_details.message_creation.message_id for s in steps] == [m.id for m in answers]  # type: ignore[union-attr]
    one = client.beta.threads.runs.steps.retrieve(steps[0].id, thread_id=run.thread_id, run_id=run.id)
    assert one.status == "completed" and one.usage is not None


# -- terminal statuses --------------------------------------------------------------------


def test_failed_run_carries_last_error(client: openai.OpenAI) -> None:
    run = ask(client, "boom [[failed:rate_limit_exceeded]]")

    assert run.status == "failed" and run.failed_at is not None
    assert run.last_error is not None and run.last_error.code == "rate_limit_exceeded"
    assert client.beta.threads.messages.list(thread_id=run.thread_id, run_id=run.id).data == []


def test_incomplete_run_keeps_a_partial_message(client: openai.OpenAI) -> None:
    run = ask(client, "long [[incomplete:max_prompt_tokens]]")

    assert run.status == "incomplete" and run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_prompt_tokens"
    partial = client.beta.threads.messages.list(thread_id=run.thread_id, run_id=run.id).data[0]
    assert partial.status == "incomplete" and partial.incomplete_details is not None


@pytest.mark.parametrize("status", ["expired", "cancelled"])
def test_server_side_expiry_and_cancellation(client: openai.OpenAI, status: str) -> None:
    run = ask(client, f"scenario [[{status}]]")

    assert run.status == status and run.usage is not None


def test_run_still_waiting_after_600_seconds_expires() -> None:
    now = [1000.0]
    with Emulator(model_time=0.0, clock=lambda: now[0]) as emulator:
        sdk = openai.OpenAI(api_key="sk-test", base_url=emulator.base_url, max_retries=0)
        run = sdk.beta.threads.create_and_run(
            assistant_id=DEFAULT_ASSISTANT_ID,
            thread={"messages": [{"role": "user", "content": "call [[tool:lookup_owner]]"}]},
        )
        assert sdk.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id).status == "requires_action"

        now[0] += 600
        expired = sdk.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
        sdk.close()

    assert expired.status == "expired" and expired.required_action is None


# -- function calling -----------------------------------------------------------------------


def test_requires_action_then_submit_tool_outputs_and_poll_completes_with_the_outputs(client: openai.OpenAI) -> None:
    run = ask(client, "disk alert [[tool:get_disk_usage]]")
    assert run.status == "requires_action" and run.required_action is not None
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    # The arguments are an instance of the function's schema (get_disk_usage: host, mount).
    assert call.function.name == "get_disk_usage" and json.loads(call.function.arguments)["host"] == "disk alert"

    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": call.id, "output": "97% used"}],
        poll_interval_ms=POLL_MS,
    )

    assert done.status == "completed"
    answer = client.beta.threads.messages.list(thread_id=run.thread_id, run_id=run.id).data[0]
    assert "Tool get_disk_usage said: 97% used." in answer.content[0].text.value
    tool_step = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=run.thread_id, order="asc").data[0]
    assert tool_step.type == "tool_calls" and tool_step.step_details.tool_calls[0].function.output == "97% used"  # type: ignore[union-attr]


def test_default_assistant_declares_the_oncall_functions_and_hosted_tools(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.retrieve(DEFAULT_ASSISTANT_ID)
    functions = {t.function.name: t.function for t in assistant.tools if t.type == "function"}  # type: ignore[union-attr]

    assert {t.type for t in assistant.tools} == {"code_interpreter", "file_search", "function"}
    assert set(functions) == {
        "get_logs",
        "get_metrics",
        "get_disk_usage",
        "lookup_owner",
        "page_oncall",
        "recent_deploys",
        "restart_service",
    }
    params = functions["get_metrics"].parameters or {}
    assert (
        params["type"] == "object"
        and params["required"] == list(params["properties"])
        and params["additionalProperties"] is False
    )
    assert assistant.tool_resources.file_search.vector_store_ids == ["vs_emulator_runbooks"]  # type: ignore[union-attr]


def test_a_function_the_assistant_does_not_declare_is_not_called(client: openai.OpenAI) -> None:
    run = ask(client, "disk alert [[tool:restart_host]]")
    answer = client.beta.threads.messages.list(thread_id=run.thread_id, run_id=run.id).data[0].content[0].text.value  # type: ignore[union-attr]

    assert run.status == "completed" and run.required_action is None
    assert answer.endswith("No function restart_host was available.")


def test_the_runs_tools_override_the_assistants_functions(client: openai.OpenAI) -> None:
    own = [
        {"type": "function", "function": {"name": "restart_host", "parameters": {"type": "object", "properties": {}}}}
    ]
    overridden = ask(client, "disk alert [[tool:get_logs]] [[tool:restart_host]]", tools=own)
    none = ask(client, "disk alert [[tool:get_logs]]", tools=[])

    assert [c.function.name for c in overridden.required_action.submit_tool_outputs.tool_calls] == ["restart_host"]  # type: ignore[union-attr]
    assert [t.type for t in overridden.tools] == ["function"] and none.tools == []
    assert none.status == "completed" and none.required_action is None


def test_submit_tool_outputs_must_answer_every_call(client: openai.OpenAI) -> None:
    run = ask(client, "two calls [[tool:get_logs]] [[tool:get_metrics]]")
    first = run.required_action.submit_tool_outputs.tool_calls[0]

    with pytest.raises(openai.BadRequestError, match="Expected tool outputs for call_ids"):
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=run.thread_id, tool_outputs=[{"tool_call_id": first.id, "output": "x"}]
        )


def test_submit_tool_outputs_to_a_finished_run_is_refused(client: openai.OpenAI) -> None:
    run = ask(client, "no tools")

    refused = re.escape('Runs in status "completed" do not accept tool outputs.')
    with pytest.raises(openai.BadRequestError, match=refused):
        client.beta.threads.runs.submit_tool_outputs(run.id, thread_id=run.thread_id, tool_outputs=[])


def test_submit_tool_outputs_stream_continues_the_run(client: openai.OpenAI) -> None:
    run = ask(client, "stream tools [[tool:lookup_owner]]")
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    handler = Collector()

    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": call.id, "output": "found it"}],
        event_handler=handler,
    ) as stream:
        stream.until_done()

    assert handler.names[:2] == ["thread.run.step.completed", "thread.run.in_progress"]
    assert handler.names[-1] == "thread.run.completed"
    assert "Tool lookup_owner said: found it." in handler.text


# -- streaming -----------------------------------------------------------------------------

EXPECTED_ORDER = [
    "thread.run.created", "thread.run.queued", "thread.run.in_progress",
    "thread.run.step.created", "thread.run.step.in_progress",
    "thread.message.created", "thread.message.in_progress", "thread.message.delta",
]  # fmt: skip


def test_runs_stream_emits_openai_event_order_and_the_handler_accumulates_the_answer(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "runbook? [[citations]]"}])
    handler = Collector()

    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=DEFAULT_ASSISTANT_ID, event_handler=handler
    ) as stream:
        stream.until_done()
        final = stream.get_final_messages()

    assert handler.names[: len(EXPECTED_ORDER)] == EXPECTED_ORDER
    assert handler.names[-3:] == ["thread.message.completed", "thread.run.step.completed", "thread.run.completed"]
    assert handler.names.count("thread.message.delta") >= 2
    text = final[0].content[0].text  # type: ignore[union-attr]
    assert handler.text == text.value and "【4:0†runbook-disk.md】" in text.value
    assert [a.file_citation.file_id for a in text.annotations] == ["file-runbookdisk", "file-oncallpolicy"]  # type: ignore[union-attr]
    stored = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    assert stored.id == final[0].id and stored.content[0].text.value == text.value  # type: ignore[union-attr]


def test_create_and_run_stream_starts_with_thread_created(client: openai.OpenAI) -> None:
    handler = Collector()

    with client.beta.threads.create_and_run_stream(
        assistant_id=DEFAULT_ASSISTANT_ID,
        thread={"messages": [{"role": "user", "content": "hello"}]},
        event_handler=handler,
    ) as stream:
        stream.until_done()

    assert handler.names[0] == "thread.created" and handler.names[1:4] == EXPECTED_ORDER[:3]
    assert handler.names[-1] == "thread.run.completed"


def test_stream_with_tool_call_ends_at_requires_action(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "[[tool:lookup_owner]]"}])
    handler = Collector()

    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=DEFAULT_ASSISTANT_ID, event_handler=handler
    ) as stream:
        stream.until_done()
        run = stream.current_run

    assert handler.names[-4:] == [
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.requires_action",
    ]
    assert run is not None and run.required_action.submit_tool_outputs.tool_calls[0].function.name == "lookup_owner"  # type: ignore[union-attr]


def test_stream_cut_drops_the_connection_but_the_run_completes(emu: Emulator, client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "flaky network [[stream_cut:3]]"}])
    handler = Collector()

    stream = client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=DEFAULT_ASSISTANT_ID, event_handler=handler
    )
    with pytest.raises(Exception) as caught, stream as events:  # the HTTP library's "incomplete chunked read"
        events.until_done()

    assert "thread.run.completed" not in handler.names and len(handler.names) == 3
    assert "chunk" in repr(caught.value).lower() or "closed" in repr(caught.value).lower()
    run_id = client.beta.threads.runs.list(thread_id=thread.id).data[0].id
    run = client.beta.threads.runs.poll(run_id, thread_id=thread.id, poll_interval_ms=POLL_MS)
    assert run.status == "completed"


def test_cancel_during_a_stream_emits_cancelling_then_cancelled(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "slow [[delay:2]]"}])
    handler = Collector()

    def cancel_when_started(event: Any) -> None:
        if event.event == "thread.run.in_progress":
            client.beta.threads.runs.cancel(event.data.id, thread_id=thread.id)

    handler.on_each = cancel_when_started
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=DEFAULT_ASSISTANT_ID, event_handler=handler
    ) as stream:
        stream.until_done()

    assert handler.names[-2:] == ["thread.run.cancelling", "thread.run.cancelled"]


def test_every_reply_and_stream_event_matches_the_openapi_spec(emu: Emulator, client: openai.OpenAI) -> None:
    spec = OpenAPISpec.default()
    problems: list[Any] = []
    emu.server.exchange_hook = lambda request, status, body: problems.extend(
        spec.check_response(request.method, request.path, status, body)
    )
    assistant = client.beta.assistants.create(
        model="gpt-5.4", name="triage", tools=[{"type": "function", "function": {"name": "lookup_owner"}}]
    )
    client.beta.assistants.list()
    for tag in (
        "[[citations]]",
        "[[file]]",
        "[[multipart]]",
        "[[failed]]",
        "[[incomplete]]",
        "[[tool:lookup_owner]]",
        "[[empty]]",
    ):
        run = ask(client, f"alert {tag}")
        client.beta.threads.messages.list(thread_id=run.thread_id)
        client.beta.threads.runs.steps.list(run_id=run.id, thread_id=run.thread_id)
        for name, data in raw_sse(
            emu,
            "/v1/threads/runs",
            {"assistant_id": assistant.id, "thread": {"messages": [{"role": "user", "content": f"alert {tag}"}]}},
        ):
            if name != "done":
                problems.extend(spec.check_event(name, data))
    run = client.beta.threads.create_and_run(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "slow [[delay:1]]"}]}
    )
    client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
    client.beta.threads.runs.list(thread_id=run.thread_id)
    message = client.beta.threads.messages.list(thread_id=run.thread_id).data[0]
    client.beta.threads.messages.update(message.id, thread_id=run.thread_id, metadata={"alert": "a1"})
    client.beta.threads.messages.delete(message.id, thread_id=run.thread_id)
    client.beta.threads.delete(run.thread_id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve("thread_missing")

    assert not problems, format_problems(problems)


# -- busy threads, cancel ---------------------------------------------------------------------


def test_busy_thread_refuses_new_runs_and_messages_with_openai_texts(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "slow [[delay:1]]"}])
    run = client.beta.threads.runs.create(thread.id, assistant_id=DEFAULT_ASSISTANT_ID)

    with pytest.raises(openai.BadRequestError) as second_run:
        client.beta.threads.runs.create(thread.id, assistant_id=DEFAULT_ASSISTANT_ID)
    with pytest.raises(openai.BadRequestError) as new_message:
        client.beta.threads.messages.create(thread.id, role="user", content="more")

    assert second_run.value.body["message"] == f"Thread {thread.id} already has an active run {run.id}."  # type: ignore[index]
    assert new_message.value.body["message"] == f"Can't add messages to {thread.id} while a run {run.id} is active."  # type: ignore[index]


def test_cancel_goes_through_cancelling_to_cancelled_and_frees_the_thread(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "slow [[delay:1]]"}])
    run = client.beta.threads.runs.create(thread.id, assistant_id=DEFAULT_ASSISTANT_ID)

    cancelling = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    final = client.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=POLL_MS)

    assert cancelling.status == "cancelling" and final.status == "cancelled" and final.cancelled_at is not None
    client.beta.threads.messages.create(thread.id, role="user", content="the thread is free again")


def test_cancelling_a_finished_run_is_refused(client: openai.OpenAI) -> None:
    run = ask(client, "quick")

    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)

    assert caught.value.body["message"] == "Cannot cancel run with status 'completed'."  # type: ignore[index]


def test_many_threads_run_at_once(emu: Emulator) -> None:
    results: list[str] = []

    def one(i: int) -> None:
        with openai.OpenAI(api_key="sk-test", base_url=emu.base_url, max_retries=0) as sdk:
            results.append(ask(sdk, f"alert {i}").status)

    workers = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=10)

    assert results == ["completed"] * 8


# -- errors and headers ------------------------------------------------------------------------


def test_missing_beta_header_is_invalid_beta(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.get("/threads/thread_x", cast_to=object)  # the generic call sends no beta header

    assert caught.value.code == "invalid_beta" and "OpenAI-Beta: assistants=v2" in caught.value.message


def test_bad_api_key_is_401(emu: Emulator) -> None:
    with (
        openai.OpenAI(api_key="bad-key-123456", base_url=emu.base_url, max_retries=0) as sdk,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        sdk.beta.assistants.retrieve(DEFAULT_ASSISTANT_ID)

    assert caught.value.code == "invalid_api_key" and "bad-key-123456" not in caught.value.message


def test_unknown_ids_are_404_with_openai_texts(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match=r"No assistant found with id 'asst_nope'\."):
        client.beta.assistants.retrieve("asst_nope")
    with pytest.raises(openai.NotFoundError, match=r"No thread found with id 'thread_nope'\."):
        client.beta.threads.runs.create("thread_nope", assistant_id=DEFAULT_ASSISTANT_ID)


def test_429_fault_is_retried_by_the_sdk_then_succeeds(emu: Emulator) -> None:
    emu.faults.add(r"^POST /v1/threads/runs$", 429, count=2, retry_after_ms=1)

    with openai.OpenAI(api_key="sk-test", base_url=emu.base_url, max_retries=2) as sdk:
        run = ask(sdk, "after a rate limit")

    assert run.status == "completed" and emu.stats.snapshot()["POST /v1/threads/runs"] == 3


def test_run_replies_carry_the_poll_after_header(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])

    created = client.beta.threads.runs.with_raw_response.create(thread.id, assistant_id=DEFAULT_ASSISTANT_ID)
    fetched = client.beta.threads.runs.with_raw_response.retrieve(created.parse().id, thread_id=thread.id)

    assert created.headers["openai-poll-after-ms"] == fetched.headers["openai-poll-after-ms"] == str(POLL_MS)


def test_assistants_can_be_created_listed_and_used(client: openai.OpenAI) -> None:
    made = client.beta.assistants.create(model="gpt-5.4", name="db helper", instructions="Answer briefly.")

    listed = [a.id for a in client.beta.assistants.list(order="asc")]
    run = client.beta.threads.create_and_run_poll(
        assistant_id=made.id, thread={"messages": [{"role": "user", "content": "hi"}]}, poll_interval_ms=POLL_MS
    )

    assert listed == [DEFAULT_ASSISTANT_ID, made.id]
    assert run.status == "completed" and run.model == "gpt-5.4" and run.instructions == "Answer briefly."


def test_thread_metadata_can_be_modified_and_the_thread_deleted(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(metadata={"alert": "a1"})

    updated = client.beta.threads.update(thread.id, metadata={"alert": "a2"})
    deleted = client.beta.threads.delete(thread.id)

    assert updated.metadata == {"alert": "a2"} and deleted.deleted
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread.id)


def test_messages_can_be_tagged_and_deleted(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "keep"}, {"role": "user", "content": "drop"}]
    )
    keep, drop = client.beta.threads.messages.list(thread_id=thread.id, order="asc").data

    tagged = client.beta.threads.messages.update(keep.id, thread_id=thread.id, metadata={"alert": "a1"})
    deleted = client.beta.threads.messages.delete(drop.id, thread_id=thread.id)

    assert tagged.metadata == {"alert": "a1"} and deleted.deleted
    assert [m.id for m in client.beta.threads.messages.list(thread_id=thread.id)] == [keep.id]


def test_json_object_mode_answers_json(client: openai.OpenAI) -> None:
    run = ask(client, "cpu high [[delay:0.01]]", response_format={"type": "json_object"})

    answer = client.beta.threads.messages.list(thread_id=run.thread_id, run_id=run.id).data[0]
    assert json.loads(answer.content[0].text.value)["summary"] == "Triage of: cpu high"


def test_the_default_assistant_cannot_be_deleted(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.beta.assistants.delete(DEFAULT_ASSISTANT_ID)

    assert client.beta.assistants.retrieve(DEFAULT_ASSISTANT_ID).model == "gpt-5.4-mini"


def test_unknown_request_fields_are_refused_like_openai(client: openai.OpenAI) -> None:
    thread = {"messages": [{"role": "user", "content": "hi"}]}

    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.create_and_run(
            assistant_id=DEFAULT_ASSISTANT_ID, thread=thread, extra_body={"additional_instructions": "Be brief."}
        )

    assert caught.value.body["message"] == "Unknown parameter: 'additional_instructions'."  # type: ignore[index]
    assert caught.value.code == "unknown_parameter"


# -- the state machine without sockets -------------------------------------------------------


class FakeTime:
    """An injected clock; ``sleep`` moves it, so a stream's waits take no real time."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def started_run(fake: FakeTime, prompt: str, model_time: float = 1.0) -> tuple[AssistantsStore, RunRec]:
    store = AssistantsStore(EmulatorConfig(model_time=model_time), Clock(fake.clock, fake.sleep))
    thread = store.new_thread(metadata={}, tool_resources=None)
    store.add_message(thread, role="user", content=[{"type": "text", "text": {"value": prompt, "annotations": []}}])
    return store, store.start_run(thread, store.assistants[DEFAULT_ASSISTANT_ID], {})


def test_a_run_is_queued_then_in_progress_then_completed_by_the_clock() -> None:
    fake = FakeTime()
    store, run = started_run(fake, "disk full")
    seen = []
    for at in (0.0, 0.09, 0.1, 0.99, 1.0):
        fake.now = 100.0 + at
        store.advance(run)
        seen.append(run.status)

    assert seen == ["queued", "queued", "in_progress", "in_progress", "completed"]
    assert run.completed_at == run.created_at + 1 and run.usage is not None


def test_a_streamed_run_waits_the_model_time_through_the_injected_sleep() -> None:
    fake = FakeTime()
    store, run = started_run(fake, "disk full [[multipart]]", model_time=2.0)

    names = [name for name, _ in RunStream(store, run, announced="queued").events()]

    assert 2.0 <= fake.slept < 2.0 + WAKE_SLICE
    assert names[0] == "thread.run.in_progress" and names[-2:] == ["thread.run.completed", "done"]
    assert names.count("thread.message.completed") == 2 and run.status == "completed"
