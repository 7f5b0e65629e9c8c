"""Is the answer JSON? The rule of jsonextract.py: what counts, what stays text, and its cost."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from keep_openaiassistant import errors
from keep_openaiassistant.jsonextract import (
    MAX_DEPTH,
    PREVIEW_CHARS,
    Found,
    NotFound,
    depth_exceeds,
    extract_json,
    find_json,
)

TRIAGE = {"severity": "high", "summary": "db-1 disk full"}
FENCED = "```json\n" + json.dumps(TRIAGE, indent=2) + "\n```"


def value_of(text: str, *, scalars: bool = False) -> Any:
    found = find_json(text, scalars=scalars)
    assert isinstance(found, Found), found
    return found.value


def reason_of(text: str, *, scalars: bool = False) -> str:
    found = find_json(text, scalars=scalars)
    assert isinstance(found, NotFound), found
    return found.reason


# -- what is JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ('{"severity": "high", "summary": "db-1 disk full"}', "whole"),
        ('\n  {"severity": "high", "summary": "db-1 disk full"}  \n\n', "whole"),  # surrounding whitespace
        (FENCED, "fenced"),
        ("```\n" + json.dumps(TRIAGE) + "\n```", "fenced"),  # a bare fence
        ("```JSON\n" + json.dumps(TRIAGE) + "\n```", "fenced"),
        ("```jsonc\n" + json.dumps(TRIAGE) + "\n```", "fenced"),
        ("Here is the triage:\n" + FENCED, "fenced"),  # a lead-in line
        ("Sure.\nHere is the triage you asked for:\n\n" + FENCED, "fenced"),  # two lines
        ("Here is the triage:\n" + FENCED + "\nAsk me for details.", "fenced"),  # a closing remark
        ("Here is the triage:\n```json\n" + json.dumps(TRIAGE) + "```", "fenced"),  # closing fence after the JSON
        ("  ```json\n" + json.dumps(TRIAGE) + "\n  ```", "fenced"),  # indented fences
        ("Here is the triage:\n" + json.dumps(TRIAGE, indent=2), "framed"),  # no fence, JSON to the end
        ("[INFO] triage\nresult:\n" + json.dumps(TRIAGE), "framed"),  # a lead-in line starting with '['
    ],
)
def test_an_answer_that_is_json_is_parsed(text: str, form: str) -> None:
    found = find_json(text)
    assert found == Found(TRIAGE, form)  # type: ignore[arg-type]
    assert extract_json(text) == TRIAGE


def test_arrays_count_as_json() -> None:
    assert extract_json('[{"id": 1}, {"id": 2}]') == [{"id": 1}, {"id": 2}]
    assert extract_json("[]") == [] and extract_json("{}") == {}
    assert extract_json("```json\n[1, 2]\n```") == [1, 2]


# -- what stays text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'The deploys in the window were [{"id": 101, "svc": "api"}, {"id": 102, "svc": "db"}]; 101 broke it.',
        'Result: {"a": 1}.',
        'The triage result is {"severity": "high"} as requested.',
        '{"severity": "high"}\nThe root cause is the 14:02 deploy.',  # JSON followed by prose
        "Here is the triage:\n" + json.dumps(TRIAGE) + "\nAsk me for details.",  # unfenced: no remark
        "How do I free space? See the runbook [1] and the policy [2].",
        "Steps:\n[1] check df\n[2] rotate logs",
        "Use `jq '.a'` on {\"a\": 1} to see it.",
        "No JSON here at all.",
    ],
)
def test_prose_that_contains_json_stays_text(text: str) -> None:
    assert isinstance(find_json(text), NotFound)
    assert extract_json(text) == text


def test_two_fenced_blocks_are_text() -> None:
    text = 'First:\n```json\n{"a": 1}\n```\nSecond:\n```json\n{"b": 2}\n```'
    assert extract_json(text) == text
    assert reason_of(text) == "it holds more than one fenced block"


def test_a_fence_followed_by_prose_is_text() -> None:
    more = FENCED + "\nThe root cause is the 14:02 deploy of api.\nRoll it back, then page the DBA."
    assert extract_json(more) == more and "followed by prose" in reason_of(more)
    long_remark = FENCED + "\n" + "x" * 121
    assert extract_json(long_remark) == long_remark


def test_a_long_lead_in_is_prose_around_the_block() -> None:
    three_lines = "Line one.\nLine two.\nLine three.\n" + FENCED
    assert extract_json(three_lines) == three_lines
    long_line = "y" * 201 + "\n" + FENCED
    assert extract_json(long_line) == long_line and "lead-in" in reason_of(long_line)
    framed = "Line one.\nLine two.\nLine three.\n" + json.dumps(TRIAGE)
    assert extract_json(framed) == framed
    assert extract_json("y" * 200 + "\n" + FENCED) == TRIAGE  # 200 characters is still a lead-in


def test_fences_that_are_not_one_json_block_are_text() -> None:
    for text, reason in [
        ("```python\nprint(1)\n```", "its fenced block is 'python', not JSON"),
        ('```json\n{"a": 1\n```', "its fenced block is not valid JSON (Expecting ',' delimiter"),
        ('```json\n{"a": 1}\n``', "its fence is not closed"),
        ('Run ```{"a": 1}``` now', "inline code span"),
        ('```json\n{"a": 1}\n``` and more', "text follows the closing fence"),
        ("```json\n42\n```", "its fenced block is a single JSON value"),
    ]:
        assert extract_json(text) == text
        assert reason in reason_of(text), (text, reason_of(text))


def test_an_unclosed_fence_before_json_to_the_end_is_a_lead_in() -> None:
    """An answer cut before its closing fence: the fence line is a one-line lead-in (framed)."""
    assert find_json('```json\n{"a": 1}') == Found({"a": 1}, "framed")


@pytest.mark.parametrize("text", ["42", "-1.5", '"ok"', "true", "false", "null"])
def test_a_scalar_answer_stays_text_unless_structured_output(text: str) -> None:
    """A one-word answer is what the assistant wrote: only objects and arrays count for
    parse_json (``null`` would otherwise look like "no response"). Structured output takes any
    JSON value: the schema decides."""
    assert extract_json(text) == text
    assert extract_json(text, strict=True) == json.loads(text)


def test_nan_and_infinity_are_not_json() -> None:
    """Python's json accepts them; Keep stores results as JSON, which does not."""
    for text in ('{"load": NaN}', "[Infinity]", '{"a": -Infinity}'):
        assert extract_json(text) == text
        assert "which JSON does not allow" in reason_of(text)


def test_an_integer_too_long_to_convert_is_not_json() -> None:
    text = "[" + "9" * 5000 + "]"
    assert extract_json(text) == text and "not valid JSON" in reason_of(text)


def test_empty_and_blank_answers_are_text() -> None:
    assert extract_json("") == "" and extract_json(" \n ") == " \n "
    assert reason_of("  ") == "it is empty"


# -- deep nesting ---------------------------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_up_to_max_depth_is_json() -> None:
    value = value_of(nested(MAX_DEPTH))
    assert not depth_exceeds(value, MAX_DEPTH) and depth_exceeds(value, MAX_DEPTH - 1)
    assert value_of('{"a": ' * (MAX_DEPTH - 1) + "[]" + "}" * (MAX_DEPTH - 1))


@pytest.mark.parametrize(
    "text",
    [
        nested(MAX_DEPTH + 1),  # parsed, then refused by its depth
        nested(500),  # the decoder copes, the depth does not
        nested(5000),  # the decoder's RecursionError
        '{"a": ' * 5000 + "1" + "}" * 5000,
        "See " + nested(5000) + " for details.",  # inside prose
        "Here:\n```json\n" + nested(5000) + "\n```",  # inside a fence
        "Here:\n" + nested(5000),  # framed
    ],
)
def test_deep_nesting_is_text_never_a_recursion_error(text: str) -> None:
    assert extract_json(text) == text
    with pytest.raises(errors.ResponseFormatError):
        extract_json(text, strict=True)


def test_deep_nesting_is_reported_as_too_deep() -> None:
    assert reason_of(nested(5000)) == f"it is nested deeper than {MAX_DEPTH} levels"
    assert reason_of(nested(MAX_DEPTH + 1)) == f"it is nested deeper than {MAX_DEPTH} levels"


def test_deep_nesting_with_the_stack_nearly_full_raises_no_recursion_error() -> None:
    """Keep calls us from deep inside its own stack; the decoder then meets its limit sooner."""
    results: list[Any] = []

    def descend(levels: int) -> None:
        if levels:
            descend(levels - 1)
        else:
            results.append(extract_json(nested(5000)))
            results.append(extract_json('{"ok": true}'))

    descend(sys.getrecursionlimit() - 80)
    assert results == [nested(5000), {"ok": True}]


def test_depth_is_measured_without_recursion() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert depth_exceeds(deep, MAX_DEPTH)
    assert not depth_exceeds({"a": [1, {"b": []}]}, 4) and depth_exceeds({"a": [1, {"b": []}]}, 3)
    assert not depth_exceeds("[[[[", 1)


# -- cost: linear, whatever the text --------------------------------------------------------------

MB = 1_000_000
ADVERSARIAL: dict[str, Callable[[], str]] = {
    "json": lambda: json.dumps([{"i": i, "host": f"db-{i}", "note": "disk full"} for i in range(25_000)]),
    "prose": lambda: ("The disk on db-1 is full; see the runbook. " * 25_000)[:MB],
    "prose with brackets": lambda: ("Disk full [1]. Check {the} runbook [2] and {x: 1}. " * 20_000)[:MB],
    "open braces": lambda: "{" * 500_000,
    "open brackets": lambda: "[" * 500_000,
    "unclosed arrays": lambda: "[1," * 300_000,
    "lines of braces": lambda: "ok\n" + "{\n" * 400_000,
    "lines of arrays": lambda: "x\n" + "[\n" * 200 + "1,\n" * 300_000,
    "fences": lambda: "```json\n" * 100_000,
    "deep json": lambda: nested(400_000),
    "prose then deep json": lambda: "See:\n" + nested(400_000),
    "unterminated string": lambda: '{"a": "' + "x" * MB,
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_a_megabyte_answer_is_decided_in_linear_time(name: str) -> None:
    """Figures (well under 100 ms each) are in the change's report; this bound only proves that
    nothing is quadratic (the old search took 4-36 s on some of these) without flaking."""
    text = ADVERSARIAL[name]()
    started = time.perf_counter()
    extract_json(text)
    with contextlib.suppress(errors.ResponseFormatError):
        extract_json(text, strict=True)
    assert time.perf_counter() - started < 2.0


# -- strict mode (structured output) --------------------------------------------------------------


def test_strict_mode_returns_json_in_the_same_forms() -> None:
    assert extract_json(json.dumps(TRIAGE), strict=True) == TRIAGE
    assert extract_json("Here is the triage:\n" + FENCED, strict=True) == TRIAGE


def test_strict_mode_refuses_text_with_the_text_and_ids_attached() -> None:
    text = 'The triage result is {"severity": "high"} as requested.'
    with pytest.raises(errors.ResponseFormatError) as caught:
        extract_json(text, strict=True, thread_id="thread_1", run_id="run_1")
    error = caught.value
    assert error.text == text and error.thread_id == "thread_1" and error.run_id == "run_1"
    assert error.violation is None
    assert str(error).startswith(
        "The answer (thread thread_1, run run_1) is not JSON although structured_output_format"
    )
    assert "What to do:" in str(error) and ".." not in str(error)


def test_strict_mode_error_quotes_at_most_200_characters() -> None:
    text = "Sorry, " + "no. " * 100_000
    with pytest.raises(errors.ResponseFormatError) as caught:
        extract_json(text, strict=True)
    message = str(caught.value)
    assert len(message) < PREVIEW_CHARS + 400 and "…" in message and ".." not in message
    assert caught.value.text == text


def test_strict_mode_names_what_is_wrong_with_json_like_text() -> None:
    with pytest.raises(errors.ResponseFormatError, match="has text after the JSON"):
        extract_json('{"a": 1} Hope this helps!', strict=True)
    with pytest.raises(errors.ResponseFormatError, match=r"not valid JSON \(Expecting"):
        extract_json('{"a": 1,}', strict=True)
