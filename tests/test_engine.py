"""The engine's front door: its lifecycle, its client, and what an ask promises end to end."""

from __future__ import annotations

import _thread
import threading
import time
from collections.abc import Callable

import openai
import pytest

from keep_openaiassistant import Assistant, Settings, errors
from keep_openaiassistant.emulator import Emulator
from keep_openaiassistant.results import CUT_MARKER

MakeAssistant = Callable[..., Assistant]


def test_an_assistant_is_a_context_manager_that_closes_its_own_client(emulator: Emulator) -> None:
    with Assistant(Settings(api_key="sk-emulator", base_url=emulator.base_url, api="responses")) as assistant:
        assert assistant.ask("Disk full on db-1").status == "completed"
        client = assistant.client
    assert client.is_closed()
    with pytest.raises(errors.ConfigurationError, match="closed"):
        assistant.ask("again")
    assistant.close()  # idempotent


def test_a_client_given_to_the_assistant_is_left_open(emulator: Emulator) -> None:
    client = openai.OpenAI(api_key="sk-emulator", base_url=emulator.base_url)
    with Assistant(Settings(api_key="sk-emulator", base_url=emulator.base_url, api="responses"), client=client) as a:
        a.ask("Disk full on db-1")
    assert not client.is_closed()
    client.close()


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_history_none_makes_one_request_on_a_continued_thread(
    api: str, make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    assistant = make_assistant(api)
    first = assistant.ask("Disk full on db-1")
    before = emulator.stats.total()
    second = assistant.ask("And the replica?", thread_id=first.thread_id, history="none")
    assert emulator.stats.total() - before == 1
    assert [m.role for m in second.messages] == ["user", "assistant"]
    assert second.messages[0].content == "And the replica?"


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_messages_stay_within_their_byte_budget_with_a_marker(
    api: str, make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    assistant = make_assistant(api, max_history_bytes=2_000)
    thread_id = None
    for n in range(6):
        result = assistant.ask(f"Alert {n}: " + "x" * 600, thread_id=thread_id)
        thread_id = result.thread_id
    size = sum(len(m.content.encode()) for m in result.messages)
    assert size <= 2_000 and result.messages_truncated
    assert result.to_dict()["messages_truncated"] is True
    assert result.messages[-1].content == result.text  # the newest turn is kept whole
    tiny = make_assistant(api, max_history_bytes=50).ask("A long alert " + "y" * 500)
    assert tiny.messages[-1].content.endswith(CUT_MARKER) or len(tiny.messages[-1].content.encode()) <= 50


@pytest.mark.parametrize(
    ("api", "thread_id", "says"),
    [
        ("assistants", "conv_123", "Responses API conversation"),
        ("assistants", "resp_123", "not an Assistants API thread"),
        ("responses", "thread_123", "Assistants API thread"),
        ("responses", "nope", "not a conversation id"),
    ],
)
def test_a_thread_id_of_the_other_api_fails_before_any_request(
    api: str, thread_id: str, says: str, make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    assistant = make_assistant(api)
    before = emulator.stats.total()
    with pytest.raises(errors.ConfigurationError, match=says) as caught:
        assistant.ask("hi", thread_id=thread_id)
    assert caught.value.field == "thread_id" and emulator.stats.total() == before


def test_a_prompt_over_the_assistants_limit_fails_before_any_request(
    make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    assistant = make_assistant("assistants")
    before = emulator.stats.total()
    with pytest.raises(errors.ConfigurationError, match="256,000") as caught:
        assistant.ask("x" * 256_001)
    assert caught.value.field == "prompt" and emulator.stats.total() == before


def _interrupt_when(condition: Callable[[], bool]) -> threading.Thread:
    """Raise KeyboardInterrupt in the main thread (as Ctrl-C does) once ``condition()`` holds."""

    def watch() -> None:
        give_up = time.monotonic() + 20
        while not condition() and time.monotonic() < give_up:
            time.sleep(0.01)
        _thread.interrupt_main()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


POLLS = {"assistants": "GET /v1/threads/{thread_id}/runs/{run_id}", "responses": "GET /v1/responses/{response_id}"}
OBJECT = {"assistants": "/threads/{thread_id}/runs/{run_id}", "responses": "/responses/{run_id}"}


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_an_interrupt_cancels_the_run_it_started(api: str, make_assistant: MakeAssistant, emulator: Emulator) -> None:
    """Ctrl-C arrives while the engine polls (a server that does not stream): by then the
    server has named the run, which the emulator's count of polls proves without guessing."""
    emulator.config.extra["refuse_stream"] = True
    assistant = make_assistant(api)
    watcher = _interrupt_when(lambda: emulator.stats.snapshot().get(POLLS[api], 0) >= 1)
    with pytest.raises(errors.AskInterrupted) as caught:
        assistant.ask("Disk full on db-1 [[delay:30]]", max_wait_time=60)
    watcher.join(5)
    error = caught.value
    assert error.cancelled and error.run_id and error.run_id in error.message, error.message
    path = OBJECT[api].format(thread_id=error.thread_id, run_id=error.run_id)
    assert assistant.backend.wire.call("GET", path).data["status"] == "cancelled"  # type: ignore[attr-defined]


def test_the_install_check_has_its_own_short_budget() -> None:
    from keep_openaiassistant.engine import ACCESS_CHECK_SECONDS

    assert ACCESS_CHECK_SECONDS <= 10


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_a_format_that_is_no_json_schema_fails_before_any_request(
    api: str, make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    assistant = make_assistant(api)
    before = emulator.stats.total()
    with pytest.raises(errors.ConfigurationError) as caught:
        assistant.ask("Disk full [[json]]", structured_output_format={"foo": 1})
    assert caught.value.field == "structured_output_format" and emulator.stats.total() == before


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_an_answer_that_violates_the_schema_fails_with_the_violation(api: str, make_assistant: MakeAssistant) -> None:
    """The emulator answers a schema with an instance it makes up: 0 for an integer, which a
    ``minimum: 10`` refuses — the case the issue saw returned as success."""
    schema = {"type": "object", "properties": {"count": {"type": "integer", "minimum": 10}}, "required": ["count"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "triage", "schema": schema, "strict": True}}
    with pytest.raises(errors.ResponseFormatError) as caught:
        make_assistant(api).ask("Disk full [[json]]", structured_output_format=fmt)
    assert caught.value.violation and "count" in caught.value.violation and "10" in caught.value.violation
    assert '"count"' in caught.value.text and caught.value.run_id


def test_profile_mcp_servers_are_checked_and_refused_on_the_assistants_backend(emulator: Emulator) -> None:
    good = {"type": "mcp", "server_label": "pagerduty", "server_url": "https://mcp.example/mcp"}
    with pytest.raises(errors.ConfigurationError, match="Responses API tool") as caught:
        Assistant(
            Settings(
                api_key="sk-x",
                base_url=emulator.base_url,
                api="assistants",
                assistant_id="asst_emulator",
                mcp_servers=(good,),
            )
        )
    assert caught.value.field == "mcp_servers"
    with pytest.raises(errors.ConfigurationError, match=r"mcp_servers\[0\]\.server_url") as caught:
        Assistant(
            Settings(
                api_key="sk-x",
                base_url=emulator.base_url,
                api="responses",
                mcp_servers=({"type": "mcp", "server_label": "x", "server_url": "ftp://x"},),
            )
        )
    assert caught.value.field == "mcp_servers"


def test_the_install_form_takes_mcp_servers_as_json() -> None:
    from keep_openaiassistant.auth_config import settings_from_authentication

    servers = '[{"type": "mcp", "server_label": "pagerduty", "server_url": "https://mcp.example/mcp"}]'
    settings = settings_from_authentication({"api_key": "sk-x", "mcp_servers": servers})
    assert settings.mcp_servers[0]["server_label"] == "pagerduty"
    with pytest.raises(errors.ConfigurationError) as caught:
        settings_from_authentication({"api_key": "sk-x", "mcp_servers": "[1, 2]"})
    assert caught.value.field == "mcp_servers"


def test_assistants_usage_is_reported_under_both_names(make_assistant: MakeAssistant) -> None:
    usage = make_assistant("assistants").ask("Disk full on db-1").usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert (usage.input_tokens, usage.output_tokens, usage.requests) == (
        usage.prompt_tokens,
        usage.completion_tokens,
        1,
    )
