"""RunStreamState and render(): the Assistants stream logic, without sockets."""

from __future__ import annotations

from typing import Any

from keep_openaiassistant.backends.assistants_output import render
from keep_openaiassistant.backends.assistants_stream import RunStreamState
from keep_openaiassistant.wire import Event


def run_obj(status: str, **more: Any) -> dict[str, Any]:
    return {"id": "run_1", "object": "thread.run", "thread_id": "thread_1", "status": status, **more}


def message(mid: str, *texts: str, run_id: str = "run_1", role: str = "assistant") -> dict[str, Any]:
    return {
        "id": mid,
        "object": "thread.message",
        "role": role,
        "run_id": run_id,
        "content": [{"type": "text", "text": {"value": t, "annotations": []}} for t in texts],
    }


def delta(mid: str, index: int, value: str, **text: Any) -> Event:
    part = {"index": index, "type": "text", "text": {"value": value, **text}}
    return Event("thread.message.delta", {"id": mid, "object": "thread.message.delta", "delta": {"content": [part]}})


def feed(state: RunStreamState, *events: Event) -> RunStreamState:
    for event in events:
        state.handle(event)
    return state


def test_thread_and_run_ids_come_from_the_first_events() -> None:
    state = feed(
        RunStreamState(), Event("thread.created", {"id": "thread_1"}), Event("thread.run.created", run_obj("queued"))
    )
    assert (state.thread_id, state.run_id, state.status) == ("thread_1", "run_1", "queued")
    assert not state.finished


def test_deltas_accumulate_text_by_part_index() -> None:
    state = feed(
        RunStreamState(),
        Event("thread.run.created", run_obj("in_progress")),
        Event("thread.message.created", {**message("msg_1"), "content": []}),
        delta("msg_1", 0, "Hello "),
        delta("msg_1", 0, "world"),
        delta("msg_1", 1, "second part"),
    )
    [msg] = state.messages()
    assert [p["text"]["value"] for p in msg["content"]] == ["Hello world", "second part"]


def test_delta_before_message_created_opens_the_message() -> None:
    """The SDK's accumulator raises here; a tolerant state keeps the text."""
    state = feed(RunStreamState(), Event("thread.run.created", run_obj("in_progress")), delta("msg_1", 0, "early"))
    assert render(state.messages())[0] == "early"


def test_completed_message_replaces_the_deltas() -> None:
    state = feed(
        RunStreamState(),
        Event("thread.run.created", run_obj("in_progress")),
        delta("msg_1", 0, "partial"),
        Event("thread.message.completed", message("msg_1", "the full text")),
    )
    assert render(state.messages())[0] == "the full text"


def test_in_progress_message_object_does_not_wipe_streamed_text() -> None:
    state = feed(
        RunStreamState(),
        Event("thread.run.created", run_obj("in_progress")),
        delta("msg_1", 0, "kept"),
        Event("thread.message.in_progress", {**message("msg_1"), "content": []}),
    )
    assert render(state.messages())[0] == "kept"


def test_messages_of_other_runs_and_users_are_ignored() -> None:
    state = feed(
        RunStreamState(),
        Event("thread.run.created", run_obj("in_progress")),
        Event("thread.message.completed", message("msg_old", "older answer", run_id="run_0")),
        Event("thread.message.completed", message("msg_user", "the prompt", run_id="", role="user")),
        Event("thread.message.completed", message("msg_1", "ours")),
    )
    assert [m["id"] for m in state.messages()] == ["msg_1"]


def test_terminal_run_event_finishes_and_completes_the_messages() -> None:
    state = feed(
        RunStreamState(),
        Event("thread.run.created", run_obj("queued")),
        Event("thread.run.completed", run_obj("completed")),
    )
    assert state.finished and state.messages_complete


def test_polled_terminal_run_does_not_vouch_for_the_messages() -> None:
    state = RunStreamState()
    state.update_run(run_obj("completed"))
    assert state.finished and not state.messages_complete


def test_requires_action_lists_the_pending_calls_and_expect_more_reopens() -> None:
    action = {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_logs", "arguments": '{"host": "db-1"}'}}
            ]
        },
    }
    state = feed(
        RunStreamState(), Event("thread.run.requires_action", run_obj("requires_action", required_action=action))
    )
    assert state.finished and not state.messages_complete
    assert state.pending_tool_calls() == [{"id": "call_1", "name": "get_logs", "arguments": '{"host": "db-1"}'}]
    state.expect_more()
    assert not state.finished
    feed(state, Event("thread.run.queued", run_obj("queued")))
    assert state.pending_tool_calls() == []


def test_error_event_is_recorded_in_either_shape() -> None:
    wrapped = feed(RunStreamState(), Event("error", {"error": {"message": "boom", "code": "server_error"}}))
    bare = feed(RunStreamState(), Event("error", {"message": "boom", "code": "server_error"}))
    assert wrapped.error == bare.error == {"message": "boom", "code": "server_error"}


def test_step_events_are_ignored() -> None:
    state = feed(
        RunStreamState(), Event("thread.run.step.created", {"id": "step_1", "status": "in_progress", "run_id": "run_1"})
    )
    assert state.run is None


def test_streamed_annotations_are_merged_by_index() -> None:
    marker = "【4:0†runbook.md】"
    ann = {
        "index": 0,
        "type": "file_citation",
        "text": marker,
        "file_citation": {"file_id": "file-1", "quote": "df -h"},
    }
    state = feed(
        RunStreamState(),
        Event("thread.run.created", run_obj("in_progress")),
        delta("msg_1", 0, f"Free space{marker}."),
        delta("msg_1", 0, "", annotations=[ann]),
    )
    text, citations, _files = render(state.messages())
    assert text == "Free space[1]."
    assert citations[0].file_id == "file-1" and citations[0].filename == "runbook.md" and citations[0].quote == "df -h"


def test_render_joins_all_parts_of_all_messages_in_order() -> None:
    text, _c, _f = render([message("msg_1", "one", "two"), message("msg_2", "three")])
    assert text == "one\n\ntwo\n\nthree"


def test_render_numbers_citations_and_collects_files() -> None:
    link = "sandbox:/mnt/data/chart.png"
    marker = "【4:0†runbook.md】"
    msg = {
        "id": "msg_1",
        "role": "assistant",
        "content": [
            {"type": "image_file", "image_file": {"file_id": "file-img"}},
            {
                "type": "text",
                "text": {
                    "value": f"See{marker} and [chart]({link}); again{marker}.",
                    "annotations": [
                        {"type": "file_citation", "text": marker, "file_citation": {"file_id": "file-rb"}},
                        {"type": "file_path", "text": link, "file_path": {"file_id": "file-chart"}},
                        {"type": "file_citation", "text": marker, "file_citation": {"file_id": "file-rb"}},
                    ],
                },
            },
        ],
    }
    text, citations, files = render([msg])
    assert text == "See[1] and chart [2]; again[1]."
    assert [(c.index, c.type, c.file_id, c.filename) for c in citations] == [
        (1, "file_citation", "file-rb", "runbook.md"),
        (2, "file_path", "file-chart", "chart.png"),
    ]
    assert files == ["file-img", "file-chart"]
