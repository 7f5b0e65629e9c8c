"""The Responses stream state object and the reading of a finished response. No sockets."""

from __future__ import annotations

from typing import Any

from keep_openaiassistant.backends.responses_output import conversation_messages, read_output
from keep_openaiassistant.backends.responses_stream import ResponseStreamState
from keep_openaiassistant.results import Citation, Message, Usage
from keep_openaiassistant.wire import Event

MESSAGE = {
    "type": "message",
    "id": "msg_1",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "Disk is full.", "annotations": [], "logprobs": []}],
}


def response(status: str, output: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": "resp_1", "object": "response", "status": status, "output": output or [], **extra}


def events(*items: tuple[str, dict[str, Any]]) -> list[Event]:
    return [Event(kind, {"type": kind, "sequence_number": n, **data}) for n, (kind, data) in enumerate(items)]


def a_stream(final_status: str = "completed") -> list[Event]:
    final = response(final_status, [MESSAGE], usage={"input_tokens": 10, "output_tokens": 4, "total_tokens": 14})
    return events(
        ("response.created", {"response": response("queued")}),
        ("response.in_progress", {"response": response("in_progress")}),
        (
            "response.output_item.added",
            {"output_index": 0, "item": {**MESSAGE, "status": "in_progress", "content": []}},
        ),
        (
            "response.output_text.delta",
            {"item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Disk is "},
        ),
        ("response.output_text.delta", {"item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "full."}),
        ("response.output_item.done", {"output_index": 0, "item": MESSAGE}),
        (f"response.{final_status}", {"response": final}),
    )


# -- the state object -------------------------------------------------------------------------------


def test_first_event_names_the_response_before_it_finishes() -> None:
    state = ResponseStreamState()
    state.handle(a_stream()[0])
    assert state.response_id == "resp_1" and state.status == "queued" and not state.done
    assert state.last_sequence == 0


def test_terminal_event_finishes_with_the_whole_response() -> None:
    state = ResponseStreamState()
    for event in a_stream():
        state.handle(event)
    assert state.finished and state.done and state.status == "completed"
    assert state.final_response()["output"] == [MESSAGE] and state.last_sequence == 6


def test_replayed_events_after_a_resume_are_ignored() -> None:
    stream = a_stream()
    state = ResponseStreamState()
    for event in stream[:4]:
        state.handle(event)
    seen = state.events
    for event in stream[2:]:  # the server replays from an earlier sequence number
        state.handle(event)
    assert state.events == seen + 3 and state.finished


def test_terminal_snapshot_without_output_is_filled_from_streamed_items() -> None:
    state = ResponseStreamState()
    for event in a_stream()[:-1]:
        state.handle(event)
    state.handle(
        Event(
            "response.completed",
            {"type": "response.completed", "sequence_number": 9, "response": response("completed")},
        )
    )
    assert state.final_response()["output"] == [MESSAGE]


def test_error_event_ends_the_stream_without_a_terminal_status() -> None:
    state = ResponseStreamState()
    state.handle(a_stream()[0])
    state.handle(
        Event(
            "error", {"type": "error", "code": "server_error", "message": "boom", "param": None, "sequence_number": 1}
        )
    )
    assert state.done and not state.finished and state.error == {"code": "server_error", "message": "boom"}


def test_error_event_wrapped_by_older_sdks_is_understood() -> None:
    state = ResponseStreamState()
    state.handle(Event("error", {"error": {"code": "rate_limit_exceeded", "message": "slow down"}}))
    assert state.error == {"code": "rate_limit_exceeded", "message": "slow down"}


def test_unknown_events_are_ignored() -> None:
    state = ResponseStreamState()
    state.handle(
        Event(
            "response.reasoning_summary_text.delta",
            {"type": "response.reasoning_summary_text.delta", "delta": "hm", "sequence_number": 0},
        )
    )
    assert not state.done and state.response_id is None and state.last_sequence == 0


# -- reading the finished response ------------------------------------------------------------------


def text_part(text: str, annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": annotations or [], "logprobs": []}


def message(*parts: dict[str, Any], item_id: str = "msg_1") -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": "completed", "role": "assistant", "content": list(parts)}


def test_answer_joins_every_message_and_text_part_in_order() -> None:
    output = read_output(
        response(
            "completed", [message(text_part("one"), text_part("two")), message(text_part("three"), item_id="msg_2")]
        )
    )
    assert output.text == "one\n\ntwo\n\nthree"
    assert output.messages == (("msg_1", "one\n\ntwo"), ("msg_2", "three"))


def test_usage_maps_input_and_output_tokens() -> None:
    output = read_output(
        response("completed", [MESSAGE], usage={"input_tokens": 10, "output_tokens": 4, "total_tokens": 14})
    )
    assert output.usage == Usage(
        prompt_tokens=10, completion_tokens=4, total_tokens=14, input_tokens=10, output_tokens=4, requests=1
    )
    assert read_output(response("cancelled")).usage == Usage(requests=1), "a response without usage still counts"


def test_usage_reads_cached_cache_write_and_reasoning_tokens() -> None:
    usage = {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 40},
        "output_tokens": 30,
        "output_tokens_details": {"reasoning_tokens": 20},
        "total_tokens": 130,
    }
    got = read_output(response("completed", [MESSAGE], usage=usage)).usage
    assert (got.cached_input_tokens, got.cache_write_tokens, got.reasoning_tokens) == (60, 40, 20)
    assert got.plus(got) == Usage(200, 60, 260, 200, 60, 120, 80, 40, 2)
    odd = read_output(response("completed", [MESSAGE], usage={"input_tokens": "9", "output_tokens_details": None}))
    assert odd.usage == Usage(requests=1), "what is not a count is 0"


def test_file_citations_are_numbered_per_file_at_their_positions_with_search_quotes() -> None:
    text = "Free space first, then page storage, then free space again."
    annotations = [
        {"type": "file_citation", "file_id": "file-runbook", "filename": "runbook.md", "index": 16},
        {"type": "file_citation", "file_id": "file-policy", "filename": "policy.md", "index": 35},
        {"type": "file_citation", "file_id": "file-runbook", "filename": "runbook.md", "index": len(text) - 1},
    ]
    search = {
        "type": "file_search_call",
        "id": "fs_1",
        "status": "completed",
        "queries": ["disk"],
        "results": [{"file_id": "file-runbook", "filename": "runbook.md", "text": "Run df -h", "score": 0.9}],
    }
    output = read_output(response("completed", [search, message(text_part(text, annotations))]))
    assert output.text == "Free space first[1], then page storage[2], then free space again[1]."
    used = "Free space first, then page storage, then free space again."  # the sentence citing it, [n] removed
    assert output.citations == (
        Citation(
            index=1,
            type="file_citation",
            file_id="file-runbook",
            quote="Run df -h",
            filename="runbook.md",
            used_in=used,
        ),
        Citation(index=2, type="file_citation", file_id="file-policy", quote="", filename="policy.md", used_in=used),
    )


def test_raw_markers_left_in_text_are_replaced_not_doubled() -> None:
    text = "Free space first【4:0†runbook.md】."
    annotations = [{"type": "file_citation", "file_id": "file-runbook", "filename": "runbook.md", "index": 16}]
    output = read_output(response("completed", [message(text_part(text, annotations))]))
    assert output.text == "Free space first[1]."


def test_container_files_are_produced_files_and_their_links_become_references() -> None:
    link = "sandbox:/mnt/data/disk_usage.png"
    text = f"See the [chart]({link})."
    start = text.index(link)
    ann = {
        "type": "container_file_citation",
        "container_id": "cntr_1",
        "file_id": "cfile_1",
        "start_index": start,
        "end_index": start + len(link),
        "filename": "disk_usage.png",
    }
    call = {
        "type": "code_interpreter_call",
        "id": "ci_1",
        "status": "completed",
        "container_id": "cntr_1",
        "code": "plot()",
        "outputs": [{"type": "image", "url": "https://x/v1/containers/cntr_1/files/cfile_2/content"}],
    }
    output = read_output(response("completed", [call, message(text_part(text, [ann]))]))
    assert output.text == "See the chart [1]."
    assert output.files == ("cfile_2", "cfile_1")
    assert output.citations[0].type == "file_path" and output.citations[0].filename == "disk_usage.png"


def test_function_calls_are_read_with_their_call_ids() -> None:
    call = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "get_logs",
        "arguments": '{"host": "db-1"}',
        "status": "completed",
    }
    output = read_output(response("completed", [call]))
    assert output.text == "" and [c.to_dict() for c in output.function_calls] == [
        {"id": "call_1", "name": "get_logs", "arguments": '{"host": "db-1"}'}
    ]


def test_a_refusal_is_the_answer() -> None:
    output = read_output(response("completed", [message({"type": "refusal", "refusal": "I can't help with that."})]))
    assert output.text == "I can't help with that."


def test_conversation_items_become_user_and_assistant_messages() -> None:
    items = [
        {"type": "message", "id": "msg_u", "role": "user", "content": [{"type": "input_text", "text": "Disk full"}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_logs", "arguments": "{}"},
        {"type": "function_call_output", "id": "fco_1", "call_id": "call_1", "output": "99%"},
        {"type": "message", "id": "msg_a", "role": "assistant", "content": [text_part("Clean /var/log")]},
        {"type": "message", "id": "msg_d", "role": "developer", "content": [{"type": "input_text", "text": "hidden"}]},
    ]
    assert conversation_messages(items) == (
        Message("user", "Disk full", "msg_u"),
        Message("assistant", "Clean /var/log", "msg_a"),
    )
