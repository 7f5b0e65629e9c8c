"""Request bodies of the Responses backend, built from the profile and one question. No sockets."""

from __future__ import annotations

from typing import Any

import pytest

from keep_openaiassistant import Question, Settings, errors
from keep_openaiassistant.backends import responses_request as request

SCHEMA = {"type": "object", "properties": {"severity": {"type": "string"}}, "required": ["severity"]}


def settings(**overrides: Any) -> Settings:
    return Settings(api_key="sk-test", api="responses", **overrides)


def body(question: Question, **overrides: Any) -> dict[str, Any]:
    return request.response_body(
        settings(**overrides), question, conversation_id="conv_1", input_items=request.user_input(question.prompt)
    )


def test_minimal_profile_sends_model_conversation_and_prompt_in_the_background() -> None:
    assert body(Question("Disk full")) == {
        "model": "gpt-5.4-mini",
        "conversation": "conv_1",
        "input": [{"type": "message", "role": "user", "content": "Disk full"}],
        "background": True,
        "store": True,
    }


def test_profile_model_and_instructions_are_sent_with_every_response() -> None:
    sent = body(Question("x"), model="gpt-5.4-nano", instructions="You are the SRE assistant.")
    assert sent["model"] == "gpt-5.4-nano" and sent["instructions"] == "You are the SRE assistant."


def test_additional_instructions_are_appended_for_this_response_only() -> None:
    sent = body(Question("x", additional_instructions="Answer in French."), instructions="You are the SRE assistant.")
    assert sent["instructions"] == "You are the SRE assistant.\n\nAnswer in French."
    alone = body(Question("x", additional_instructions="  Answer in French. "))
    assert alone["instructions"] == "Answer in French."


def test_vector_stores_become_file_search_with_its_results_included() -> None:
    sent = body(Question("x"), vector_store_ids=("vs_runbooks", "vs_policies"))
    assert sent["tools"] == [{"type": "file_search", "vector_store_ids": ["vs_runbooks", "vs_policies"]}]
    assert sent["include"] == ["file_search_call.results"]


def test_code_interpreter_gets_an_automatic_container() -> None:
    sent = body(Question("x"), code_interpreter=True)
    assert sent["tools"] == [{"type": "code_interpreter", "container": {"type": "auto"}}]
    assert "include" not in sent


def test_tool_outputs_are_declared_as_functions_the_model_may_call() -> None:
    sent = body(Question("x", tool_outputs={"get_logs": "disk 99% full", "bad name!": 1}), code_interpreter=True)
    assert sent["tools"] == [
        {"type": "code_interpreter", "container": {"type": "auto"}},
        {
            "type": "function",
            "name": "get_logs",
            "description": "Returns 'get_logs' as provided by the Keep workflow (alert context, logs, metrics, ...).",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
            "strict": True,
        },
    ]


def test_keeps_structured_output_format_is_flattened_into_text_format() -> None:
    keep_shape = {"type": "json_schema", "json_schema": {"name": "triage", "schema": SCHEMA, "strict": True}}
    sent = body(Question("x", structured_output_format=keep_shape))
    assert sent["text"] == {"format": {"type": "json_schema", "name": "triage", "schema": SCHEMA, "strict": True}}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"type": "json_schema", "name": "triage", "schema": SCHEMA},
            {"type": "json_schema", "name": "triage", "schema": SCHEMA},
        ),
        (
            {"name": "triage", "schema": SCHEMA},
            {"type": "json_schema", "name": "triage", "schema": SCHEMA, "strict": True},
        ),
        (SCHEMA, {"type": "json_schema", "name": "answer", "schema": SCHEMA, "strict": True}),
        ({"type": "json_object"}, {"type": "json_object"}),
        ({"type": "text"}, None),
        (None, None),
    ],
    ids=["flat-responses-shape", "inner-object", "bare-schema", "json-object", "text", "none"],
)
def test_text_format_accepts_what_the_assistants_backend_accepts(given: Any, expected: Any) -> None:
    assert request.text_format(given) == expected


def test_schema_name_is_made_acceptable_to_the_api() -> None:
    fmt = request.text_format({"type": "json_schema", "json_schema": {"name": "triage result!", "schema": SCHEMA}})
    assert fmt is not None and fmt["name"] == "triage_result_"


def test_json_schema_format_without_a_schema_names_the_parameter() -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        request.text_format({"type": "json_schema", "json_schema": {"name": "triage"}})
    assert caught.value.field == "structured_output_format" and "json_schema.schema" in str(caught.value)


def test_function_outputs_answer_calls_by_call_id() -> None:
    assert request.function_outputs([("call_1", "disk 99% full"), ("call_2", '{"cpu": 12}')]) == [
        {"type": "function_call_output", "call_id": "call_1", "output": "disk 99% full"},
        {"type": "function_call_output", "call_id": "call_2", "output": '{"cpu": 12}'},
    ]


def test_every_body_fits_openais_create_response_schema() -> None:
    from openapi_check import OpenAPISpec, format_problems

    spec = OpenAPISpec.default()
    question = Question(
        "Disk full",
        additional_instructions="Be brief.",
        tool_outputs={"get_logs": "ok"},
        structured_output_format={
            "type": "json_schema",
            "json_schema": {"name": "triage", "schema": SCHEMA, "strict": True},
        },
    )
    full = body(question, model="gpt-5.4-nano", instructions="SRE", vector_store_ids=("vs_1",), code_interpreter=True)
    follow_up = request.response_body(
        settings(), Question("x"), conversation_id="conv_1", input_items=request.function_outputs([("call_1", "ok")])
    )
    problems = [
        p for b in (full, follow_up) for p in spec.check_request("POST", "/v1/responses", {**b, "stream": True})
    ]
    assert not problems, format_problems(problems)
