"""From the answer's text to ``response`` (answer.py): formats, their check, strict JSON, schemas."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Any

import pytest

from keep_openaiassistant import errors
from keep_openaiassistant.answer import (
    MAX_VIOLATIONS_CONSIDERED,
    check_format,
    first_violation,
    format_schema,
    normalize_format,
    parse_answer,
)

SCHEMA = {"type": "object", "properties": {"severity": {"type": "string"}}}
COUNT = {
    "type": "object",
    "properties": {"count": {"type": "integer", "minimum": 10}, "host": {"type": "string"}},
    "required": ["count"],
    "additionalProperties": False,
}
KEEP_SHAPE = {"type": "json_schema", "json_schema": {"name": "t", "schema": COUNT, "strict": True}}


def parse(text: str, fmt: Any = None, *, parse_json: bool = True) -> Any:
    return parse_answer(text, parse_json=parse_json, structured_output_format=fmt, thread_id="thread_1", run_id="run_1")


def assert_sentences(message: str) -> None:
    """Says what to do; no sentence ends in '..' (an ellipsis '...' in an example is fine)."""
    assert "What to do:" in message and not re.search(r"(?<!\.)\.\.(?!\.)", message), message


def config_error(fmt: Any) -> errors.ConfigurationError:
    with pytest.raises(errors.ConfigurationError) as caught:
        check_format(fmt)
    assert caught.value.field == "structured_output_format"
    assert_sentences(str(caught.value))
    return caught.value


def format_error(text: str, fmt: Any) -> errors.ResponseFormatError:
    with pytest.raises(errors.ResponseFormatError) as caught:
        parse(text, fmt)
    error = caught.value
    assert error.text == text and error.thread_id == "thread_1" and error.run_id == "run_1"
    assert_sentences(str(error))
    return error


# -- normalize_format -----------------------------------------------------------------------------


def test_keeps_shape_and_the_other_format_types_pass_through() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "t", "schema": SCHEMA, "strict": True}}
    assert normalize_format(fmt) == fmt
    assert normalize_format({"type": "json_object"}) == {"type": "json_object"}
    assert normalize_format({"type": "text"}) == {"type": "text"}
    flat = {"type": "json_schema", "name": "t", "schema": SCHEMA}
    assert normalize_format(flat) == flat and format_schema(flat) == SCHEMA


def test_inner_object_and_bare_schema_are_wrapped() -> None:
    assert normalize_format({"name": "triage", "schema": SCHEMA}) == {
        "type": "json_schema",
        "json_schema": {"name": "triage", "schema": SCHEMA, "strict": True},
    }
    assert normalize_format(SCHEMA) == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
    }
    assert normalize_format(None) is None and normalize_format({}) is None


def test_normalize_does_not_change_its_argument() -> None:
    fmt = {"name": "triage", "schema": SCHEMA}
    normalize_format(fmt)
    assert fmt == {"name": "triage", "schema": SCHEMA}


# -- check_format: before any request -------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt",
    [
        None,
        {},
        {"type": "text"},
        {"type": "json_object"},
        KEEP_SHAPE,
        {"name": "t", "schema": COUNT},
        COUNT,
        {"type": "json_schema", "name": "t", "schema": COUNT, "strict": True},  # the Responses shape
        {"$defs": {"n": {"type": "string"}}, "type": "object", "properties": {"a": {"$ref": "#/$defs/n"}}},
        {"$defs": {"n": {"$anchor": "name", "type": "string"}}, "properties": {"a": {"$ref": "#name"}}},
        {"enum": ["low", "high"]},
        {"anyOf": [{"type": "string"}, {"type": "null"}]},
        {"type": ["string", "null"]},
    ],
)
def test_usable_formats_pass_the_check(fmt: Any) -> None:
    check_format(fmt)


def test_a_mapping_with_no_schema_keyword_is_refused() -> None:
    """{"foo": 1} is a valid JSON Schema that allows everything: nearly always a mistake."""
    error = config_error({"foo": 1})
    assert "is no JSON Schema" in str(error) and "foo" in str(error) and "type, properties" in str(error)
    assert "its schema is {}" in str(config_error({"name": "t", "schema": {}}))
    config_error({"type": "json_schema", "json_schema": {"name": "t", "schema": {"title": "T", "description": "d"}}})


def test_a_schema_the_meta_schema_rejects_is_refused_naming_the_place() -> None:
    error = config_error({"type": "object", "properties": {"count": {"type": "integr"}}})
    assert "not a valid JSON Schema" in str(error) and "$.properties.count.type" in str(error)
    assert "$.required" in str(config_error({"type": "object", "required": "count"}))
    assert "$.minimum" in str(config_error({"type": "integer", "minimum": "10"}))


def test_a_misspelt_type_gets_did_you_mean() -> None:
    assert "did you mean 'string'?" in str(config_error({"type": "strin"}))
    assert "did you mean 'json_schema'?" in str(config_error({"type": "jsonschema", "json_schema": {}}))
    inner = str(config_error({"name": "t", "schema": {"type": "objet"}}))
    assert "did you mean 'object'?" in inner and "format type" not in inner


def test_a_json_schema_format_without_a_schema_is_refused() -> None:
    assert "json_schema.schema" in str(config_error({"type": "json_schema", "json_schema": {"name": "t"}}))
    assert "json_schema must be an object" in str(config_error({"type": "json_schema", "json_schema": "x"}))
    assert "must be a JSON object" in str(config_error({"name": "t", "schema": True}))


def test_a_format_that_is_no_mapping_is_refused() -> None:
    assert "must be a mapping" in str(config_error('{"type": "json_object"}'))
    assert "must be a mapping" in str(config_error(["type"]))


def test_references_must_resolve_inside_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a $ref was fetched")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert "'#/$defs/missing'" in str(
        config_error({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}})
    )
    assert "not fetched" in str(config_error({"$ref": "https://example.com/schema.json"}))
    # a reference inside enum/const is data, not a reference
    check_format({"enum": [{"$ref": "https://example.com/x"}]})


# -- parse_answer without a format ----------------------------------------------------------------


def test_parse_json_returns_json_answers_parsed_and_prose_as_text() -> None:
    assert parse('{"a": 1}') == {"a": 1}
    assert parse('Here is the triage:\n```json\n{"a": 1}\n```') == {"a": 1}
    assert parse('Result: {"a": 1}.') == 'Result: {"a": 1}.'  # prose that contains JSON
    assert parse("42") == "42"
    assert parse('{"a": 1}', parse_json=False) == '{"a": 1}'


def test_a_text_format_asks_for_no_json() -> None:
    assert parse("plain", {"type": "text"}) == "plain"
    assert parse('{"a": 1}', {"type": "text"}) == {"a": 1}
    assert parse('{"a": 1}', {"type": "text"}, parse_json=False) == '{"a": 1}'


def test_deep_json_without_a_format_is_text() -> None:
    deep = "[" * 5000 + "]" * 5000
    assert parse(deep) == deep


# -- parse_answer with a format: strict -----------------------------------------------------------


def test_structured_output_requires_json_whatever_parse_json_says() -> None:
    assert parse('{"count": 12}', KEEP_SHAPE, parse_json=False) == {"count": 12}
    error = format_error("Sorry, I cannot.", KEEP_SHAPE)
    assert error.violation is None and "is not JSON although structured_output_format requires it" in str(error)
    assert "(thread thread_1, run run_1)" in str(error)


def test_structured_output_accepts_a_fenced_answer() -> None:
    assert parse('Here it is:\n```json\n{"count": 12}\n```', KEEP_SHAPE) == {"count": 12}


def test_structured_output_refuses_json_inside_prose() -> None:
    format_error('The result is {"count": 12} as requested.', KEEP_SHAPE)


def test_an_answer_violating_the_schema_fails_with_the_first_violation() -> None:
    error = format_error('{"count": 0}', KEEP_SHAPE)
    assert error.violation == "$.count: 0 is less than the minimum of 10"
    message = str(error)
    assert message.startswith("The answer (thread thread_1, run run_1) does not match the schema")
    assert "$.count: 0 is less than the minimum of 10. What to do:" in message


@pytest.mark.parametrize(
    ("text", "violation"),
    [
        ("{}", "$: 'count' is a required property"),
        ('{"count": "12"}', "$.count: '12' is not of type 'integer'"),
        ('{"count": 12, "extra": 1}', "$: Additional properties are not allowed ('extra' was unexpected)"),
        ("[1]", "$: [1] is not of type 'object'"),
    ],
)
def test_each_kind_of_violation_is_named(text: str, violation: str) -> None:
    assert format_error(text, KEEP_SHAPE).violation == violation


def test_every_accepted_shape_validates_the_same() -> None:
    for fmt in (KEEP_SHAPE, {"name": "t", "schema": COUNT}, COUNT, {"type": "json_schema", "schema": COUNT}):
        assert parse('{"count": 10}', fmt) == {"count": 10}
        assert format_error('{"count": 9}', fmt).violation == "$.count: 9 is less than the minimum of 10"


def test_a_scalar_answer_is_checked_by_its_schema() -> None:
    assert parse('"ok"', {"type": "string"}) == "ok"
    assert parse("42", {"type": "integer"}) == 42
    assert format_error("42", {"type": "string"}).violation == "$: 42 is not of type 'string'"


def test_json_object_mode_requires_an_object() -> None:
    assert parse('{"a": 1}', {"type": "json_object"}) == {"a": 1}
    assert "(it is a JSON array)" in str(format_error("[1, 2]", {"type": "json_object"}))
    assert "is not a JSON object" in str(format_error("42", {"type": "json_object"}))
    format_error("no json", {"type": "json_object"})


def test_a_bad_format_is_a_configuration_error_at_parse_time_too() -> None:
    with pytest.raises(errors.ConfigurationError):
        parse('{"foo": 1}', {"foo": 1})


def test_deep_json_with_a_format_is_a_format_error_not_a_recursion_error() -> None:
    recursive = {"$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}}, "$ref": "#/$defs/n"}
    assert "nested deeper than" in str(format_error("[" * 5000 + "]" * 5000, recursive))
    assert parse("[" * 64 + "]" * 64, recursive) is not None


def test_violation_messages_quote_at_most_200_characters_of_the_answer() -> None:
    text = json.dumps({"count": 12, "host": 7, "pad": "x" * 10_000})
    error = format_error(text, {"type": "object", "properties": {"pad": {"maxLength": 5}}})
    assert error.violation is not None and len(error.violation) <= 210 and "xxxxx" in error.violation
    assert len(str(error)) < 500
    big = json.dumps(list(range(100_000)))
    error = format_error(big, {"type": "object"})
    assert (
        error.violation is not None and len(error.violation) < 120 and error.violation.endswith("not of type 'object'")
    )


# -- validation cost ------------------------------------------------------------------------------


def test_many_violations_are_not_all_collected() -> None:
    items = {"type": "array", "items": {"type": "string"}}
    started = time.perf_counter()
    violation = first_violation(items, list(range(200_000)))
    assert violation is not None and re.fullmatch(r"\$\[(\d+)\]: \1 is not of type 'string'", violation)
    assert time.perf_counter() - started < 2.0  # 200,000 errors would take seconds
    assert MAX_VIOLATIONS_CONSIDERED <= 100


def test_a_huge_answer_against_many_branches_is_not_printed_in_each() -> None:
    """jsonschema writes repr(instance) into each message: 20 branches x 1 MB would be 20 MB."""
    big = json.dumps(list(range(150_000)))
    started = time.perf_counter()
    error = format_error(big, {"anyOf": [{"type": "object"}] * 20})
    assert time.perf_counter() - started < 2.0
    assert error.violation is not None and len(error.violation) < 200


def test_a_valid_megabyte_answer_validates_in_linear_time() -> None:
    schema = {"type": "array", "items": {"type": "object", "properties": {"i": {"type": "integer"}}}}
    text = json.dumps([{"i": i, "host": f"db-{i}", "note": "disk full"} for i in range(25_000)])
    started = time.perf_counter()
    assert len(parse(text, schema)) == 25_000
    assert time.perf_counter() - started < 5.0  # ~0.5 s: jsonschema's own per-node cost
