"""The spec checker itself: a conformance gate that cannot fail would prove nothing."""

from __future__ import annotations

import pytest
from openapi_check import OpenAPISpec, sequence_problems, status_invariants, undeclared_function_calls


@pytest.fixture(scope="module")
def spec() -> OpenAPISpec:
    return OpenAPISpec.default()


def test_checker_names_the_field_and_the_spec_rule(spec: OpenAPISpec) -> None:
    run = {
        "id": "run_1",
        "object": "thread.run",
        "status": "requires_action",
        "required_action": {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {
                "tool_calls": [{"id": "c", "type": "tool", "function": {"name": "f", "arguments": "{}"}}]
            },
        },
    }
    problems = spec.check_response("POST", "/v1/threads/thread_1/runs", 200, run)
    by_field = {p.field: p for p in problems}
    bad_type = by_field["$.required_action.submit_tool_outputs.tool_calls[0].type"]
    assert bad_type.expected == '#/components/schemas/RunToolCallObject/properties/type: enum ["function"]'
    assert any(p.message == "'last_error' is a required property" for p in problems)


def test_checker_narrows_a_union_to_the_branch_the_discriminator_names(spec: OpenAPISpec) -> None:
    event = {
        "type": "response.output_text.delta",
        "sequence_number": 3,
        "item_id": "msg_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "Disk",
    }
    problems = spec.check_event("response.output_text.delta", event)
    assert [(p.field, p.message) for p in problems] == [("$", "'logprobs' is a required property")]
    assert problems[0].expected.startswith("#/components/schemas/ResponseTextDeltaEvent:")


def test_checker_rejects_unknown_request_parameters(spec: OpenAPISpec) -> None:
    body = {
        "model": "gpt-5.4-mini",
        "input": [{"type": "function_call_output", "call_id": "c", "output": "ok", "name": 1}],
        "tools": [{"type": "function", "name": "f", "parameters": {}, "strict": True, "zzz": 1}],
        "assistant_id": "asst_1",
    }
    fields = {p.field for p in spec.check_request("POST", "/v1/responses", body)}
    assert {"$.tools[0].zzz", "$.assistant_id"} <= fields
    run = {
        "assistant_id": "asst_1",
        "additional_instructions": "x",
        "thread": {"messages": [{"role": "user", "content": "hi"}]},
    }
    assert [p.field for p in spec.check_request("POST", "/v1/threads/runs", run)] == ["$.additional_instructions"]


def test_checker_checks_query_parameters_and_error_envelopes(spec: OpenAPISpec) -> None:
    query = {
        p.field
        for p in spec.check_request(
            "GET", "/v1/threads/thread_1/messages", None, {"order": "newest", "limit": "5", "page": "2"}
        )
    }
    assert query == {"?order", "?page"}
    envelope = spec.check_response(
        "GET", "/v1/threads/thread_1", 404, {"error": {"message": "No thread found", "type": "invalid_request_error"}}
    )
    assert {p.message for p in envelope} == {"'param' is a required property", "'code' is a required property"}


def test_checker_prefers_literal_path_segments_over_parameters(spec: OpenAPISpec) -> None:
    assert spec.match("POST", "/v1/threads/runs").template == "/threads/runs"  # type: ignore[union-attr]
    assert spec.match("POST", "/v1/threads/thread_1/runs").template == "/threads/{thread_id}/runs"  # type: ignore[union-attr]
    assert spec.match("GET", "/v1/responses/resp_1?stream=true").template == "/responses/{response_id}"  # type: ignore[union-attr]
    assert spec.match("PATCH", "/v1/threads/thread_1") is None


def test_invariants_flag_status_fields_the_spec_prose_requires() -> None:
    failed_run = {
        "object": "thread.run",
        "status": "failed",
        "last_error": None,
        "failed_at": 1,
        "required_action": None,
    }
    assert [p.field for p in status_invariants(failed_run, "run")] == ["$.last_error"]
    waiting = {
        "object": "thread.run",
        "status": "in_progress",
        "required_action": {"type": "submit_tool_outputs"},
        "usage": None,
    }
    assert [p.field for p in status_invariants(waiting, "run")] == ["$.required_action"]
    assert [
        p.field for p in status_invariants({"object": "response", "status": "completed", "usage": None}, "resp")
    ] == ["$.usage"]


def test_sequence_numbers_must_increase_within_a_stream() -> None:
    events = [("s1", {"type": "response.created", "sequence_number": n}) for n in (0, 1, 1)]
    events += [("s2", {"type": "response.created", "sequence_number": 0})]
    assert [p.message for p in sequence_problems(events)] == ["not strictly increasing: [0, 1, 1]"]


def test_a_function_call_must_name_a_declared_function() -> None:
    response = {
        "object": "response",
        "tools": [{"type": "function", "name": "get_logs"}],
        "output": [{"type": "function_call", "name": "get_metrics"}],
    }
    assert [p.field for p in undeclared_function_calls(response, "resp")] == ["$.output[0].name"]
    run = {
        "object": "thread.run",
        "tools": [{"type": "function", "function": {"name": "get_metrics"}}],
        "required_action": {"submit_tool_outputs": {"tool_calls": [{"function": {"name": "get_metrics"}}]}},
    }
    assert undeclared_function_calls(run, "run") == []
