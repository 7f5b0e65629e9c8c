"""Step parameters arrive as Keep renders them (strings, YAML mappings): coercion and its errors."""

from __future__ import annotations

from typing import Any

import pytest

from keep_openaiassistant import params
from keep_openaiassistant.errors import ConfigurationError


def step(**values: Any) -> dict[str, Any]:
    return params.coerce_step(prompt="Disk full on db-1", **values)


def error_of(**values: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        params.coerce_step(**values)
    return info.value


def test_defaults_match_the_contract() -> None:
    assert step() == {
        "prompt": "Disk full on db-1",
        "thread_id": None,
        "max_wait_time": 120.0,
        "additional_instructions": None,
        "parse_json": True,
        "structured_output_format": None,
        "tool_outputs": None,
        "history": "full",
        "tools": None,
        "approve": None,
        "reasoning_effort": None,
        "max_output_tokens": None,
    }


@pytest.mark.parametrize(
    ("raw", "expected"), [("30", 30.0), ("2.5", 2.5), (45, 45.0), (" 10 ", 10.0), ("", 120.0), (None, 120.0)]
)
def test_max_wait_time_accepts_rendered_numbers(raw: Any, expected: float) -> None:
    assert step(max_wait_time=raw)["max_wait_time"] == expected


@pytest.mark.parametrize("raw", ["soon", "-1", 0, "nan", "inf", True, [30]])
def test_max_wait_time_rejects_non_positive_or_non_numbers(raw: Any) -> None:
    error = error_of(prompt="p", max_wait_time=raw)
    assert error.field == "max_wait_time"
    assert str(error).startswith("max_wait_time must be a positive number of seconds (e.g. 120), got ")


def test_max_wait_time_beyond_a_workflows_lifetime_is_refused() -> None:
    error = error_of(prompt="p", max_wait_time="9000")
    assert error.field == "max_wait_time"
    assert "give at most 7200" in str(error)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("false", False),
        ("False", False),
        ("no", False),
        ("0", False),
        (0, False),
        (False, False),
        ("true", True),
        ("YES", True),
        ("on", True),
        (1, True),
        ("", True),
        (None, True),
    ],
)
def test_parse_json_accepts_rendered_booleans(raw: Any, expected: bool) -> None:
    assert step(parse_json=raw)["parse_json"] is expected


def test_parse_json_rejects_other_words_naming_the_parameter() -> None:
    error = error_of(prompt="p", parse_json="maybe")
    assert error.field == "parse_json"
    assert str(error) == "parse_json must be true or false, got 'maybe'."


@pytest.mark.parametrize("raw", ["", "None", "null", None, "  "])
def test_empty_rendered_thread_id_starts_a_new_thread(raw: Any) -> None:
    assert step(thread_id=raw)["thread_id"] is None


def test_thread_id_is_stripped() -> None:
    assert step(thread_id=" thread_abc\n")["thread_id"] == "thread_abc"


@pytest.mark.parametrize("raw", ["thread abc", "thread_a/../runs", 42])
def test_thread_id_that_cannot_be_an_id_is_refused(raw: Any) -> None:
    error = error_of(prompt="p", thread_id=raw)
    assert error.field == "thread_id"


def test_structured_output_format_accepts_a_mapping_unchanged() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "object"}, "strict": True}}
    assert step(structured_output_format=fmt)["structured_output_format"] == fmt


def test_structured_output_format_accepts_a_json_string() -> None:
    raw = '{"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "object"}}}'
    assert step(structured_output_format=raw)["structured_output_format"]["json_schema"]["name"] == "t"


def test_structured_output_format_bad_json_says_where() -> None:
    error = error_of(prompt="p", structured_output_format='{"type": json_schema}')
    assert error.field == "structured_output_format"
    assert str(error).startswith("structured_output_format is not valid JSON (Expecting value at line 1 column 10): ")


def test_structured_output_format_must_be_a_mapping() -> None:
    error = error_of(prompt="p", structured_output_format="[1, 2]")
    assert error.field == "structured_output_format"
    assert "must be a mapping" in str(error)


def test_tool_outputs_from_json_string_and_mapping() -> None:
    assert step(tool_outputs='{"recent_deploys": [1, 2]}')["tool_outputs"] == {"recent_deploys": [1, 2]}
    assert step(tool_outputs={"lookup": "ok"})["tool_outputs"] == {"lookup": "ok"}
    assert step(tool_outputs="")["tool_outputs"] is None


def test_tool_outputs_needs_function_names_as_keys() -> None:
    error = error_of(prompt="p", tool_outputs={"": "x"})
    assert error.field == "tool_outputs"


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_missing_prompt_is_named(raw: Any) -> None:
    error = error_of(prompt=raw)
    assert error.field == "prompt"
    assert str(error) == "prompt is missing or empty: give the step a `prompt:` with the message for the assistant."


def test_a_mapping_prompt_is_sent_as_json() -> None:
    assert params.coerce_step(prompt={"name": "disk", "n": 1})["prompt"] == '{"name": "disk", "n": 1}'


def test_additional_instructions_empty_means_none() -> None:
    assert step(additional_instructions="")["additional_instructions"] is None
    assert step(additional_instructions="Be brief.")["additional_instructions"] == "Be brief."


@pytest.mark.parametrize(
    ("key", "suggestion"), [("thred_id", "thread_id"), ("max_wait_tme", "max_wait_time"), ("promt", "prompt")]
)
def test_a_misspelt_parameter_fails_with_a_suggestion(key: str, suggestion: str) -> None:
    error = error_of(prompt="p", **{key: "x"})
    assert error.field == key
    assert str(error) == (
        f"unknown step parameter {key!r} (did you mean {suggestion!r}?): correct or remove it in the step's "
        f"`with:`. The parameters are {', '.join(params.NAMES)}."
    )


def test_an_unknown_parameter_without_a_near_name_fails_too() -> None:
    error = error_of(prompt="p", temperature="0.2")
    assert str(error).startswith("unknown step parameter 'temperature': correct or remove it in the step's `with:`.")


def test_every_unknown_parameter_is_named_at_once() -> None:
    error = error_of(prompt="p", thred_id="t", colour="red")
    assert str(error).startswith(
        "unknown step parameters 'colour', 'thred_id' (did you mean 'thread_id'?): correct or remove them"
    )


def test_a_long_unknown_key_is_shortened_in_the_message() -> None:
    key = "k" * 200
    assert key not in str(error_of(prompt="p", **{key: 1}))


@pytest.mark.parametrize("key", sorted(params.KEEP_INTERNAL_KEYS))
def test_keeps_own_step_keys_are_left_to_keep(key: str) -> None:
    assert step(**{key: [{"key": "assistant_thread_id", "value": "results.thread_id"}]}) == step()


def test_keeps_own_keys_are_the_ones_its_code_passes_to_query() -> None:
    # keephq 0.2.7 and current Keep (keep/providers/base/base_provider.py, keep/step/step.py).
    assert {"enrich_alert", "enrich_incident", "audit_enabled"} == params.KEEP_INTERNAL_KEYS
    assert not params.KEEP_INTERNAL_KEYS & set(params.NAMES)


@pytest.mark.parametrize(
    ("raw", "expected"), [("full", "full"), ("none", "none"), (" None ", "none"), ("FULL", "full")]
)
def test_history_accepts_its_two_words_in_any_case(raw: str, expected: str) -> None:
    assert step(history=raw)["history"] == expected


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_absent_history_means_full(raw: Any) -> None:
    assert step(history=raw)["history"] == "full"


@pytest.mark.parametrize("raw", ["some", "last", True, 0])
def test_history_rejects_anything_else_naming_the_choices(raw: Any) -> None:
    error = error_of(prompt="p", history=raw)
    assert error.field == "history"
    assert str(error).startswith("history must be one of full, none, got ")


def test_long_values_are_never_echoed() -> None:
    secretish = "x" * 200
    error = error_of(prompt="p", max_wait_time=secretish)
    assert secretish not in str(error)


def test_parameter_names_are_the_contracts() -> None:
    assert params.NAMES == (
        "prompt",
        "thread_id",
        "max_wait_time",
        "additional_instructions",
        "parse_json",
        "structured_output_format",
        "tool_outputs",
        "history",
        "tools",
        "approve",
        "reasoning_effort",
        "max_output_tokens",
    )
    assert [p.name for p in params.PARAMETERS if p.required] == ["prompt"]
