"""The step's tools end to end, over real HTTP against the emulator, on both backends.

The emulated model calls what its prompt tags say (``[[tool:NAME]]``, rounds split by
``[[then]]``, ``[[tool_loop:NAME]]``, ``[[tool_badjson:NAME]]`` ...) with arguments that are
instances of each function's schema, and answers with the outputs it got ("Tool NAME said: ...").
Endpoints are a real server on 127.0.0.1 (tests/tools_server.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tools_server import ToolServer

from keep_openaiassistant import Assistant, errors
from keep_openaiassistant.emulator import Emulator
from keep_openaiassistant.emulator.oncall_tools import ONCALL_FUNCTIONS
from keep_openaiassistant.tools import ProviderSource

MakeAssistant = Callable[..., Assistant]
BACKENDS = ["assistants", "responses"]
SCHEMAS = {f["name"]: f["parameters"] for f in ONCALL_FUNCTIONS}


@pytest.fixture
def server() -> Iterator[ToolServer]:
    with ToolServer() as s:
        yield s


def owner_tool(server: ToolServer, path: str = "/owner", **more: Any) -> dict[str, Any]:
    return {
        "name": "lookup_owner",
        "description": "The team that owns a service.",
        "parameters": SCHEMAS["lookup_owner"],
        "http": {"url": server.url(path), "query": {"service": "${args.service}"}},
        **more,
    }


def logs_tool(value: Any = "12 errors: OOMKilled") -> dict[str, Any]:
    return {"name": "get_logs", "parameters": SCHEMAS["get_logs"], "value": value}


def run_statuses(emulator: Emulator) -> list[str]:
    store = emulator.assistants.store
    with store.lock:
        for run in store.runs.values():
            store.advance(run)
        return [run.status for run in store.runs.values()]


def error_of(record: dict[str, Any]) -> str:
    return str(record.get("error"))


@pytest.mark.parametrize("api", BACKENDS)
def test_a_single_call_is_answered_by_an_http_endpoint(
    make_assistant: MakeAssistant, server: ToolServer, api: str
) -> None:
    result = make_assistant(api).ask("checkout slow [[tool:lookup_owner]]", tools=[owner_tool(server)])
    assert result.status == "completed" and 'Tool lookup_owner said: {"service": "checkout slow"' in result.text
    [call] = result.to_dict()["tool_calls"]
    assert (call["name"], call["source"], call["status"], call["answered"], call["round"]) == (
        "lookup_owner",
        "http",
        "ok",
        True,
        1,
    )
    assert json.loads(call["arguments"]) == {"service": "checkout slow"} and call["output_bytes"] > 0


@pytest.mark.parametrize("api", BACKENDS)
def test_parallel_calls_in_one_round(make_assistant: MakeAssistant, server: ToolServer, api: str) -> None:
    result = make_assistant(api).ask(
        "checkout down [[tool:lookup_owner]] [[tool:get_logs]]", tools=[owner_tool(server), logs_tool()]
    )
    assert [(c["name"], c["round"]) for c in result.tool_calls] == [("lookup_owner", 1), ("get_logs", 1)]
    assert "Tool get_logs said: 12 errors: OOMKilled" in result.text and "Tool lookup_owner said" in result.text


@pytest.mark.parametrize("api", BACKENDS)
def test_several_rounds(make_assistant: MakeAssistant, server: ToolServer, api: str) -> None:
    result = make_assistant(api).ask(
        "checkout down [[tool:get_logs]] [[then]] [[tool:lookup_owner]]", tools=[owner_tool(server), logs_tool()]
    )
    assert [(c["name"], c["round"]) for c in result.tool_calls] == [("get_logs", 1), ("lookup_owner", 2)]
    assert result.status == "completed" and "Tool lookup_owner said" in result.text


@pytest.mark.parametrize("api", BACKENDS)
def test_the_round_bound_stops_a_loop(make_assistant: MakeAssistant, emulator: Emulator, api: str) -> None:
    tools = {"functions": [logs_tool()], "limits": {"max_rounds": 2}}
    with pytest.raises(errors.RunFailedError, match="kept calling tools after 2 rounds") as info:
        make_assistant(api).ask("loop [[tool_loop:get_logs]]", tools=tools)
    assert info.value.code == "tool_round_limit"
    if api == "assistants":
        assert run_statuses(emulator) == ["cancelled"]


@pytest.mark.parametrize("api", BACKENDS)
def test_an_unknown_function_gets_an_error_and_the_model_goes_on(make_assistant: MakeAssistant, api: str) -> None:
    result = make_assistant(api).ask("x [[tool_any:drop_database]]", tools=[logs_tool()])
    [call] = result.tool_calls
    assert call["source"] == "undeclared" and "no function 'drop_database' is available" in error_of(call)
    assert result.status == "completed" and "Tool drop_database said" in result.text


@pytest.mark.parametrize("api", BACKENDS)
def test_invalid_arguments_get_an_error(make_assistant: MakeAssistant, server: ToolServer, api: str) -> None:
    result = make_assistant(api).ask(
        "x [[tool_badjson:get_logs]] [[tool_badargs:lookup_owner]]", tools=[owner_tool(server), logs_tool()]
    )
    bad_json, bad_args = result.tool_calls
    assert "not valid JSON" in error_of(bad_json) and "'service' is a required property" in error_of(bad_args)
    assert server.received == [] and result.status == "completed"


@pytest.mark.parametrize("api", BACKENDS)
def test_a_provider_query_that_raises_is_told_to_the_model(make_assistant: MakeAssistant, api: str) -> None:
    seen: list[dict[str, Any]] = []

    def runner(source: ProviderSource, with_: dict[str, Any], *, timeout: float) -> Any:
        seen.append(with_)
        raise ConnectionError("prometheus unreachable")

    tool = {
        "name": "get_logs",
        "parameters": SCHEMAS["get_logs"],
        "provider": {"type": "prometheus", "config": "prom", "with": {"query": "errors{service='${args.service}'}"}},
    }
    result = make_assistant(api).ask("checkout [[tool:get_logs]]", tools=[tool], provider_runner=runner)
    assert seen == [{"query": "errors{service='checkout'}"}]
    assert "ConnectionError: prometheus unreachable" in error_of(result.tool_calls[0]) and result.status == "completed"


@pytest.mark.parametrize("api", BACKENDS)
@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/fail", "error", "HTTP 503: upstream down"),
        ("/slow", "timeout", "did not answer within 0.3 s"),
        ("/redirect-other", "refused", "redirects to other hosts are not followed"),
    ],
)
def test_an_endpoint_that_fails_is_told_to_the_model(
    make_assistant: MakeAssistant, server: ToolServer, api: str, path: str, status: str, says: str
) -> None:
    result = make_assistant(api).ask("x [[tool:lookup_owner]]", tools=[owner_tool(server, path, timeout=0.3)])
    [call] = result.tool_calls
    assert call["status"] == status and says in error_of(call) and result.status == "completed"


@pytest.mark.parametrize("api", BACKENDS)
def test_an_oversized_output_is_cut(make_assistant: MakeAssistant, server: ToolServer, api: str) -> None:
    tools = {"functions": [owner_tool(server, "/big")], "limits": {"max_output_bytes": 2000}}
    result = make_assistant(api).ask("x [[tool:lookup_owner]]", tools=tools)
    [call] = result.tool_calls
    assert call["truncated"] and call["output_bytes"] == 100_000 and "output cut at 2000 bytes" in result.text


@pytest.mark.parametrize("api", BACKENDS)
def test_a_deadline_that_expires_between_rounds(
    make_assistant: MakeAssistant, emulator: Emulator, server: ToolServer, api: str
) -> None:
    with pytest.raises(errors.DeadlineExceededError) as info:
        make_assistant(api).ask("x [[tool:lookup_owner]]", tools=[owner_tool(server, "/slow")], max_wait_time=1.5)
    if api == "assistants":
        assert info.value.cancelled and run_statuses(emulator) == ["cancelled"]
        assert "The run was cancelled on the server" in str(info.value)
    else:
        assert "between rounds; no response is running" in str(info.value)


@pytest.mark.parametrize("api", BACKENDS)
def test_an_approval_round_continued_by_a_later_step(
    make_assistant: MakeAssistant, emulator: Emulator, server: ToolServer, api: str
) -> None:
    restart = {
        "name": "restart_service",
        "parameters": SCHEMAS["restart_service"],
        "approval": "required",
        "http": {"url": server.url("/echo"), "method": "POST"},
    }
    tools = [restart, logs_tool()]
    assistant = make_assistant(api)
    first = assistant.ask("checkout OOM [[tool:restart_service]]", tools=tools)
    assert first.status == "requires_approval" and server.received == []
    [pending] = first.to_dict()["pending_calls"]
    assert pending["name"] == "restart_service" and pending["needs_approval"]
    assert json.loads(pending["arguments"])["service"] == "checkout OOM"
    assert f"approve: {{{pending['id']}: true}}" in first.text
    if api == "assistants":
        assert run_statuses(emulator) == ["requires_action"]  # kept, not cancelled

    second = make_assistant(api).ask("", thread_id=first.thread_id, approve={pending["id"]: True}, tools=tools)
    assert second.status == "completed" and server.received == [("POST", "/echo")]
    assert 'Tool restart_service said: {"method": "POST"' in second.text
    assert second.tool_calls[0]["status"] == "ok"


@pytest.mark.parametrize("api", BACKENDS)
def test_a_denied_call_is_not_run_and_the_model_is_told(
    make_assistant: MakeAssistant, server: ToolServer, api: str
) -> None:
    restart = {
        "name": "restart_service",
        "approval": "required",
        "http": {"url": server.url("/echo"), "method": "POST"},
    }
    first = make_assistant(api).ask("checkout OOM [[tool:restart_service]]", tools=[restart])
    call_id = first.pending_calls[0]["id"]
    second = make_assistant(api).ask("", thread_id=first.thread_id, approve={call_id: False}, tools=[restart])
    assert server.received == [] and second.tool_calls[0]["status"] == "denied" and "a person denied" in second.text


@pytest.mark.parametrize("api", BACKENDS)
def test_approving_a_call_that_is_not_pending_is_refused(make_assistant: MakeAssistant, api: str) -> None:
    first = make_assistant(api).ask("hello", tools=[logs_tool()])
    with pytest.raises(errors.ConfigurationError, match="approve"):
        make_assistant(api).ask("", thread_id=first.thread_id, approve={"call_nope": True}, tools=[logs_tool()])


def test_the_assistants_backend_refuses_a_tool_the_assistant_lacks(make_assistant: MakeAssistant) -> None:
    with pytest.raises(errors.ConfigurationError, match="does not have: rotate_keys"):
        make_assistant("assistants").ask("x", tools=[{"name": "rotate_keys", "value": 1}])


def test_the_responses_request_carries_the_declared_functions(
    make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    result = make_assistant("responses").ask("x [[tool:get_logs]]", tools=[logs_tool()], tool_outputs={"runbook": "r"})
    store = emulator.responses.state
    with store.lock:
        sent = store.response(result.run_id).echo["tools"]
    assert [(t["name"], t["parameters"]) for t in sent] == [
        ("get_logs", SCHEMAS["get_logs"]),
        ("runbook", {"type": "object", "properties": {}, "additionalProperties": False}),
    ]


def test_an_approval_round_on_a_server_without_conversations(server: ToolServer) -> None:
    # The thread is a chain of responses (previous_response_id): the stopped step's thread_id is
    # its response, and the approval step answers the calls read from it.
    from keep_openaiassistant import Settings

    restart = {
        "name": "restart_service",
        "approval": "required",
        "http": {"url": server.url("/echo"), "method": "POST"},
    }
    with Emulator(model_time=0.05, conversations=False) as emu:
        settings = Settings(api_key="sk-emulator", base_url=emu.base_url, api="responses")
        with Assistant(settings) as assistant:
            first = assistant.ask("checkout OOM [[tool:restart_service]]", tools=[restart])
            assert first.status == "requires_approval" and first.thread_id.startswith("resp_")
            call_id = first.pending_calls[0]["id"]
            second = assistant.ask("", thread_id=first.thread_id, approve={call_id: True}, tools=[restart])
    assert second.status == "completed" and server.received == [("POST", "/echo")]
    assert "Tool restart_service said" in second.text
