"""The helpers both backends share (backends/common.py), without sockets."""

from __future__ import annotations

from typing import Any

import pytest

from keep_openaiassistant import Question, errors
from keep_openaiassistant.backends.common import (
    build_response,
    marker_filename,
    normalize_format,
    pending_calls_answerable,
    replace_markers,
    tool_output_text,
)
from keep_openaiassistant.results import Citation

SCHEMA = {"type": "object", "properties": {"severity": {"type": "string"}}}


def test_keeps_shape_passes_through() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "t", "schema": SCHEMA, "strict": True}}
    assert normalize_format(fmt) == fmt
    assert normalize_format({"type": "json_object"}) == {"type": "json_object"}


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


def ask(**kw: Any) -> Question:
    return Question(prompt="p", **kw)


def test_response_is_parsed_json_when_asked_and_present() -> None:
    assert build_response('{"a": 1}', ask(), thread_id="t", run_id="r") == {"a": 1}
    assert build_response('Result: {"a": 1}.', ask(), thread_id="t", run_id="r") == 'Result: {"a": 1}.'  # prose
    assert build_response("no json here", ask(), thread_id="t", run_id="r") == "no json here"
    assert build_response('{"a": 1}', ask(parse_json=False), thread_id="t", run_id="r") == '{"a": 1}'


def test_structured_output_requires_json_whatever_parse_json_says() -> None:
    question = ask(parse_json=False, structured_output_format={"name": "t", "schema": SCHEMA})
    assert build_response('{"severity": "high"}', question, thread_id="t", run_id="r") == {"severity": "high"}
    with pytest.raises(errors.ResponseFormatError) as caught:
        build_response("Sorry, I cannot.", question, thread_id="thread_1", run_id="run_1")
    assert caught.value.text == "Sorry, I cannot." and caught.value.run_id == "run_1"


def test_text_format_asks_for_no_json() -> None:
    assert build_response("plain", ask(structured_output_format={"type": "text"}), thread_id="t", run_id="r") == "plain"


def test_tool_output_text_keeps_strings_and_serialises_the_rest() -> None:
    assert tool_output_text("disk 99% full") == "disk 99% full"
    assert tool_output_text({"cpu": 12, "host": "db-1"}) == '{"cpu": 12, "host": "db-1"}'
    assert tool_output_text(["é"]) == '["é"]' and tool_output_text(3) == "3"


def test_pending_calls_answerable_needs_every_name() -> None:
    assert pending_calls_answerable({"a": 1, "b": 2}, ["a", "b", "a"])
    assert not pending_calls_answerable({"a": 1}, ["a", "b"])
    assert not pending_calls_answerable(None, ["a"])
    assert not pending_calls_answerable({"a": 1}, [])  # nothing to submit is not an answer


def cite(index: int, marker: str, filename: str = "", kind: str = "file_citation") -> Citation:
    return Citation(index=index, type=kind, file_id=f"file-{index}", filename=filename, marker=marker)


def test_markers_become_numbered_references() -> None:
    text = "Free space【4:0†runbook.md】, then page【4:1†policy.md】; again【4:0†runbook.md】."
    cites = [cite(1, "【4:0†runbook.md】", "runbook.md"), cite(2, "【4:1†policy.md】", "policy.md")]
    assert replace_markers(text, cites) == "Free space[1], then page[2]; again[1]."


def test_sandbox_links_become_label_and_reference() -> None:
    link = "sandbox:/mnt/data/chart.png"
    assert (
        replace_markers(f"See the [chart]({link}).", [cite(3, link, "chart.png", "file_path")]) == "See the chart [3]."
    )


def test_stray_markers_are_matched_by_filename_or_dropped() -> None:
    text = "A【9:9†runbook.md】 b 【1:2†unknown.md】."
    assert replace_markers(text, [cite(1, "【4:0†runbook.md】", "runbook.md")]) == "A[1] b."


def test_citations_without_markers_are_skipped() -> None:
    assert replace_markers("Plain text [1].", [cite(1, "")]) == "Plain text [1]."


def test_marker_filename() -> None:
    assert marker_filename("【4:0†runbook-disk.md】") == "runbook-disk.md"
    assert marker_filename("sandbox:/mnt/data/disk_usage.png") == "disk_usage.png"
    assert marker_filename("【4:0】") == "" and marker_filename("plain") == ""


def test_ending_error_names_a_response_and_its_advice() -> None:
    from keep_openaiassistant import errors
    from keep_openaiassistant.backends.common import ending_error

    ids = {"thread_id": "conv_1", "run_id": "resp_1"}
    where = " (conversation conv_1, response resp_1)"
    assert ending_error("completed", kind="response", where=where, ids=ids) is None
    failed = ending_error(
        "failed", kind="response", where=where, ids=ids, error={"code": "invalid_prompt", "message": "no"}
    )
    incomplete = ending_error(
        "incomplete", kind="response", where=where, ids=ids, reason="max_output_tokens", partial_text="half"
    )
    assert isinstance(failed, errors.RunFailedError) and isinstance(incomplete, errors.RunIncompleteError)
    assert str(failed).startswith("The response failed (conversation conv_1, response resp_1): invalid_prompt: no.")
    assert "check the profile's instructions" in str(failed)
    assert incomplete.partial_text == "half" and "output token limit" in str(incomplete)
    assert failed.run_id == "resp_1" and failed.thread_id == "conv_1"
