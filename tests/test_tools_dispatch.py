"""tools/dispatch.py and the HTTP source against a real endpoint on 127.0.0.1: every failure is data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tools_server import ToolServer

from keep_openaiassistant.tools import Call, ProviderSource, Toolbox, parse_tools
from keep_openaiassistant.waiting import Deadline

SERVICE = {"type": "object", "properties": {"service": {"type": "string"}}, "required": ["service"]}


@pytest.fixture
def server() -> Iterator[ToolServer]:
    with ToolServer() as s:
        yield s


def box(tools: Any, **kw: Any) -> Toolbox:
    parsed = parse_tools(tools)
    assert parsed is not None
    return Toolbox(parsed, **kw)


def one(toolbox: Toolbox, name: str, arguments: Any = None, *, seconds: float = 10.0) -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    [outcome] = toolbox.answer([Call("call_1", name, text)], Deadline(seconds))
    return {**outcome.record, "model_output": outcome.output}


def error(record: dict[str, Any]) -> str:
    return str(json.loads(record["model_output"])["error"])


def http_tool(server: ToolServer, path: str, **more: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"url": server.url(path), "query": {"service": "${args.service}"}}
    spec.update(more.pop("http", {}))
    return {"name": "owner", "parameters": SERVICE, "http": spec, **more}


def test_an_http_endpoint_gets_the_arguments_in_its_declared_query(server: ToolServer) -> None:
    record = one(box([http_tool(server, "/owner")]), "owner", {"service": "checkout"})
    assert record["status"] == "ok" and record["source"] == "http" and record["answered"]
    assert json.loads(record["model_output"])["service"] == "checkout" and record["output_bytes"] > 0


def test_a_post_sends_the_arguments_as_json(server: ToolServer) -> None:
    tool = {"name": "restart", "http": {"url": server.url("/echo?fixed=1"), "method": "POST"}}
    record = one(box([tool]), "restart", {"service": "checkout", "reason": "oom"})
    assert json.loads(record["model_output"]) == {
        "method": "POST",
        "query": {"fixed": "1"},
        "body": {"service": "checkout", "reason": "oom"},
    }


def test_a_failing_endpoint_is_an_error_output(server: ToolServer) -> None:
    record = one(box([http_tool(server, "/fail")]), "owner", {"service": "x"})
    assert record["status"] == "error" and "HTTP 503: upstream down" in error(record)


def test_a_slow_endpoint_times_out_at_the_tools_bound(server: ToolServer) -> None:
    record = one(box([http_tool(server, "/slow", timeout=0.3)]), "owner", {"service": "x"})
    assert record["status"] == "timeout" and "did not answer within 0.3 s" in error(record)


def test_the_deadline_bounds_a_call_below_its_own_timeout(server: ToolServer) -> None:
    record = one(box([http_tool(server, "/slow", timeout=30)]), "owner", {"service": "x"}, seconds=0.3)
    assert record["status"] == "timeout" and record["seconds"] < 5


def test_a_redirect_to_another_host_is_not_followed(server: ToolServer) -> None:
    record = one(box([http_tool(server, "/redirect-other")]), "owner", {"service": "x"})
    assert record["status"] == "refused" and "another host (http://localhost)" in error(record)
    assert ("GET", "/owner") not in server.received


def test_a_redirect_on_the_same_host_is_followed(server: ToolServer) -> None:
    record = one(box([http_tool(server, "/redirect-same")]), "owner", {"service": "checkout"})
    assert record["status"] == "ok" and json.loads(record["model_output"])["service"] == "checkout"


def test_an_oversized_output_is_cut_for_the_model_and_the_result(server: ToolServer) -> None:
    tools = {"functions": [http_tool(server, "/big")], "limits": {"max_output_bytes": 1000}}
    record = one(box(tools), "owner", {"service": "x"})
    assert record["status"] == "ok" and record["truncated"] and record["output_bytes"] == 100_000
    assert (
        len(record["model_output"].encode()) <= 1000 and "output cut at 1000 bytes of 100000" in record["model_output"]
    )
    assert len(record["output"].encode()) <= 2000


def test_a_reply_over_the_response_cap_is_refused_unread(server: ToolServer) -> None:
    record = one(box([http_tool(server, "/huge")]), "owner", {"service": "x"})
    assert record["status"] == "error" and "over the cap of 1,000,000" in error(record)


def test_an_unreachable_endpoint_is_an_error_output() -> None:
    tool = {"name": "owner", "http": {"url": "http://127.0.0.1:9/"}}
    record = one(box([tool]), "owner", {})
    assert record["status"] == "error" and "could not be reached" in error(record)


def test_an_undeclared_function_is_told_what_is_available() -> None:
    record = one(box([{"name": "a", "value": 1}]), "nope", {})
    assert record["source"] == "undeclared" and "no function 'nope' is available in this step (available: a)" in error(
        record
    )


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ('{"service": "x",', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"service": 3}, "do not match the function's parameters: $.service: 3 is not of type 'string'"),
        ({}, "'service' is a required property"),
    ],
)
def test_arguments_that_are_not_json_or_miss_the_schema_are_refused(arguments: Any, says: str) -> None:
    record = one(box([{"name": "a", "value": 1, "parameters": SERVICE}]), "a", arguments)
    assert record["status"] == "error" and says in error(record)


def test_a_provider_query_that_raises_is_an_error_output() -> None:
    def runner(source: ProviderSource, with_: dict[str, Any], *, timeout: float) -> Any:
        assert with_ == {"query": "service:checkout", "limit": 5}
        raise RuntimeError("Datadog said 403")

    tool = {
        "name": "logs",
        "parameters": SERVICE,
        "provider": {"type": "datadog", "config": "dd", "with": {"query": "service:${args.service}", "limit": 5}},
    }
    record = one(box([tool], provider_runner=runner), "logs", {"service": "checkout"})
    assert record["status"] == "error" and record["source"] == "provider"
    assert "the tool failed: RuntimeError: Datadog said 403" in error(record)


def test_without_keep_a_provider_tool_says_so() -> None:
    record = one(box([{"name": "logs", "provider": {"type": "datadog", "config": "dd"}}]), "logs", {})
    assert "run only inside Keep" in error(record)


def test_calls_of_one_round_run_concurrently(server: ToolServer) -> None:
    # /meet answers only when two requests are in at once: sequential calls would both fail.
    tools = [
        {"name": "a", "http": {"url": server.url("/meet")}},
        {"name": "b", "http": {"url": server.url("/meet")}},
    ]
    outcomes = box(tools).answer([Call("1", "a", "{}"), Call("2", "b", "{}")], Deadline(10))
    assert [o.output for o in outcomes] == ["met", "met"]


def test_calls_past_the_round_bound_are_refused_and_rounds_are_counted() -> None:
    toolbox = box({"functions": [{"name": "a", "value": "v"}], "limits": {"max_calls_per_round": 2, "max_rounds": 1}})
    first = toolbox.answer([Call(str(i), "a", "{}") for i in range(3)], Deadline(5))
    assert [o.record["status"] for o in first] == ["ok", "ok", "refused"] and not toolbox.over_limit()
    second = toolbox.answer([Call("4", "a", "{}")], Deadline(5))
    assert second[0].record["status"] == "refused" and "limit of 1 rounds" in second[0].output
    assert toolbox.over_limit() and [r["round"] for r in toolbox.records] == [1, 1, 1, 2]


def test_a_call_needing_approval_stops_the_round_and_a_decision_runs_or_denies_it() -> None:
    tools = [{"name": "restart", "value": "restarted", "approval": "required"}, {"name": "logs", "value": "ok"}]
    calls = [Call("c1", "restart", "{}"), Call("c2", "logs", "{}")]
    waiting = box(tools)
    assert [c.id for c in waiting.needs_approval(calls)] == ["c1"]
    assert [o.record["status"] for o in waiting.pending(calls)] == ["pending_approval", "not_run"]
    approved = box(tools, approvals={"c1": True})
    assert not approved.needs_approval(calls) and [o.output for o in approved.answer(calls, Deadline(5))] == [
        "restarted",
        "ok",
    ]
    denied = box(tools, approvals={"c1": False}).answer(calls, Deadline(5))
    assert denied[0].record["status"] == "denied" and "a person denied this call" in denied[0].output
