"""tools/spec.py and the placeholders: what a step may declare, and what fails before any request."""

from __future__ import annotations

from typing import Any

import pytest

from keep_openaiassistant import params
from keep_openaiassistant.errors import ConfigurationError
from keep_openaiassistant.tools import Limits, parse_tools, substitute


def error_of(value: Any) -> str:
    with pytest.raises(ConfigurationError) as info:
        parse_tools(value)
    assert info.value.field == "tools"
    return str(info.value)


def test_each_source_is_parsed() -> None:
    tools = parse_tools(
        [
            {"name": "runbook", "value": "https://wiki/runbook"},
            {"name": "owner", "http": {"url": "https://catalog.example/owner", "query": {"s": "${args.service}"}}},
            {
                "name": "logs",
                "description": "Recent error logs.",
                "parameters": {"type": "object", "properties": {"service": {"type": "string"}}},
                "provider": {"type": "datadog", "config": "dd-prod", "with": {"query": "service:${args.service}"}},
                "timeout": "5",
            },
        ]
    )
    assert tools is not None and tools.declared
    runbook, owner, logs = tools.functions
    assert (runbook.kind, owner.kind, logs.kind) == ("value", "http", "provider")
    assert (
        owner.http is not None and owner.http.method == "GET" and owner.http.host == ("https", "catalog.example", None)
    )
    assert logs.provider is not None and logs.provider.config_name == "dd-prod" and logs.timeout == 5.0
    assert logs.function_tool() == {
        "type": "function",
        "name": "logs",
        "description": "Recent error logs.",
        "parameters": {"type": "object", "properties": {"service": {"type": "string"}}},
    }


def test_tool_outputs_join_as_values_and_alone_are_not_declared_tools() -> None:
    tools = parse_tools(None, tool_outputs={"get_logs": "disk full"})
    assert tools is not None and not tools.declared and tools.functions[0].value == "disk full"
    both = parse_tools([{"name": "a", "value": 1}], tool_outputs={"a": 2, "b": 3})
    assert both is not None and [(f.name, f.value) for f in both.functions] == [("a", 1), ("b", 3)]
    assert parse_tools(None) is None and parse_tools("") is None


def test_a_mapping_carries_limits_and_mcp_servers() -> None:
    tools = parse_tools(
        {
            "functions": [{"name": "a", "value": 1}],
            "mcp": [{"type": "mcp", "server_label": "pd", "server_url": "https://mcp.pagerduty.example/mcp"}],
            "limits": {"max_rounds": "3", "call_timeout": 2.5},
        }
    )
    assert tools is not None and tools.limits == Limits(max_rounds=3, call_timeout=2.5)
    assert tools.mcp[0].tool["require_approval"] == "always" and tools.mcp[0].needs_approval


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([{"name": "a"}], "exactly one source"),
        ([{"name": "a", "value": 1, "http": "https://x"}], "exactly one source"),
        ([{"name": "bad name", "value": 1}], "name must be 1-64"),
        ([{"name": "a", "value": 1}, {"name": "a", "value": 2}], "more than once"),
        ([{"name": "a", "value": 1, "colour": "red"}], "unknown keys ['colour']"),
        ([{"name": "a", "http": {"url": "https://x/${args.host}"}}], "fixed URL"),
        ([{"name": "a", "http": {"url": "ftp://x"}}], "http(s) URL"),
        ([{"name": "a", "http": {"url": "https://x", "method": "TRACE"}}], "method must be"),
        ([{"name": "a", "provider": {"config": "dd"}}], "type is required"),
        ([{"name": "a", "provider": {"type": "datadog", "config": ""}}], "names no provider"),
        ([{"name": "a", "provider": {"type": "openaiassistant"}}], "does not call itself"),
        ([{"name": "a", "value": 1, "parameters": {"type": "string"}}], "type object"),
        ([{"name": "a", "value": 1, "parameters": {"type": "object", "properties": 3}}], "not a valid JSON schema"),
        ([{"name": "a", "value": 1, "approval": "maybe"}], "approval must be"),
        ({"functions": [], "limits": {"max_rounds": 0}}, "positive number"),
        ({"functions": [], "limits": {"rounds": 2}}, "is not a limit"),
        ({"funcs": []}, "unknown keys"),
        ("[not json", "not valid JSON"),
        ([{"type": "mcp", "server_label": "x", "server_url": "nope"}], "server_url"),
    ],
)
def test_a_declaration_that_cannot_work_is_refused_naming_it(value: Any, says: str) -> None:
    assert says in error_of(value)


def test_placeholders_keep_types_whole_and_become_text_inside() -> None:
    arguments = {"service": "checkout", "minutes": 15, "labels": {"env": "prod"}}
    template = {
        "query": "service:${args.service} status:error",
        "since": "${args.minutes}",
        "labels": "${args.labels}",
        "all": "${args}",
        "missing": "${args.nope}",
        "inside": "x${args.nope}y",
        "list": ["${args.service}", 3],
    }
    assert substitute(template, arguments) == {
        "query": "service:checkout status:error",
        "since": 15,
        "labels": {"env": "prod"},
        "all": arguments,
        "missing": None,
        "inside": "xy",
        "list": ["checkout", 3],
    }


def test_the_step_parameters_take_tools_and_approve() -> None:
    step = params.coerce_step(prompt="p", tools='[{"name": "a", "value": 1}]', approve={"call_1": "true"})
    assert step["tools"] == [{"name": "a", "value": 1}] and step["approve"] == {"call_1": True}
    approval = params.coerce_step(approve='{"call_1": false}', thread_id="thread_1")
    assert approval["prompt"] == "" and approval["approve"] == {"call_1": False}
    # A stopped step's pending_call_ids, as enrich_alert keeps it on the alert:
    assert params.coerce_step(approve="call_1, call_2=false", thread_id="t")["approve"] == {
        "call_1": True,
        "call_2": False,
    }
    with pytest.raises(ConfigurationError, match=r"approve\.call_1 must be true or false"):
        params.coerce_step(prompt="p", approve={"call_1": "perhaps"})
    with pytest.raises(ConfigurationError, match="exactly one source"):
        params.coerce_step(prompt="p", tools=[{"name": "a"}])
