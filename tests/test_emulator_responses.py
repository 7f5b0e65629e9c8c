"""The emulator's Responses + Conversations APIs, over real HTTP.

Two kinds of client: the SDK's generic ``client.post/get(..., cast_to=object)``, which every SDK
release has (so these flows run on openai 1.37.1 too, which has no ``client.responses``), plus a
stdlib HTTP/SSE reader for streams and headers; and the SDK's typed ``client.responses`` and
``client.conversations`` resources, skipped where the installed SDK predates them.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest

from keep_openaiassistant.emulator import Emulator
from keep_openaiassistant.emulator.common import text_chunks

MODEL = "gpt-5.4-mini"
LOCKED = "Another process is currently operating on this conversation. Please retry in a few seconds."


# -- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def client(emulator: Emulator) -> Iterator[openai.OpenAI]:
    c = openai.OpenAI(api_key="sk-emulator", base_url=emulator.base_url, max_retries=0)
    yield c
    c.close()


@pytest.fixture
def sdk(client: openai.OpenAI) -> openai.OpenAI:
    """The typed Responses/Conversations resources (openai >= 1.101)."""
    if not hasattr(client, "conversations") or not hasattr(client, "responses"):
        pytest.skip(
            f"openai {openai.__version__} has no client.responses / client.conversations "
            "(the raw-HTTP tests cover these flows)"
        )
    return client


def post(client: openai.OpenAI, path: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(path, body=body or {}, cast_to=object)


def get(client: openai.OpenAI, path: str, **params: Any) -> Any:
    return client.get(path, cast_to=object, options={"params": params})


def create(client: openai.OpenAI, prompt: str, **fields: Any) -> Any:
    return post(client, "/responses", {"model": MODEL, "input": prompt, **fields})


def raw(
    emu: Emulator, method: str, path: str, body: dict[str, Any] | None = None, key: str = "sk-emulator"
) -> tuple[int, dict[str, str], Any, list[tuple[str | None, Any]], bool]:
    """One request with the stdlib: (status, headers, JSON body or None, SSE events, stream complete)."""
    parts = urlsplit(emu.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    payload = json.dumps(body).encode() if body is not None else None
    conn.request(
        method,
        "/v1" + path,
        body=payload,
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    reply = conn.getresponse()
    headers = {k.lower(): v for k, v in reply.getheaders()}
    complete = True
    try:
        data = reply.read()
    except http.client.IncompleteRead as cut:
        data, complete = cut.partial, False
    conn.close()
    if not headers.get("content-type", "").startswith("text/event-stream"):
        return reply.status, headers, json.loads(data), [], complete
    events: list[tuple[str | None, Any]] = []
    for frame in data.decode().split("\n\n"):
        name, lines = None, []
        for line in frame.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                lines.append(line[6:])
        if lines:
            events.append((name, json.loads("\n".join(lines))))
    return reply.status, headers, None, events, complete


def wait_terminal(client: openai.OpenAI, response_id: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        resp = get(client, f"/responses/{response_id}")
        if resp["status"] not in ("queued", "in_progress") or time.monotonic() > deadline:
            return resp
        time.sleep(0.01)


def text_of(resp: dict[str, Any]) -> str:
    return "".join(p["text"] for i in resp["output"] if i["type"] == "message" for p in i["content"])


# -- plain, streamed and background responses -------------------------------------------------


def test_plain_create_waits_the_model_time_and_returns_the_completed_response(client: openai.OpenAI) -> None:
    started = time.monotonic()
    resp = create(client, "Disk full on db-1")
    assert time.monotonic() - started >= 0.05
    assert resp["object"] == "response" and resp["id"].startswith("resp_")
    assert resp["status"] == "completed" and isinstance(resp["completed_at"], int)
    assert resp["error"] is None and resp["incomplete_details"] is None
    message = resp["output"][0]
    assert message["type"] == "message" and message["role"] == "assistant" and message["status"] == "completed"
    assert 'Triage of "Disk full on db-1" (turn 1' in message["content"][0]["text"]
    usage = resp["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert (
        usage["input_tokens_details"]["cached_tokens"] == 0 and usage["output_tokens_details"]["reasoning_tokens"] == 0
    )


def test_stream_events_are_named_after_their_type_and_numbered_in_order(emulator: Emulator) -> None:
    status, headers, _, events, complete = raw(
        emulator, "POST", "/responses", {"model": MODEL, "input": "CPU high", "stream": True}
    )
    assert status == 200 and complete and headers["content-type"].startswith("text/event-stream")
    assert all(name == data["type"] for name, data in events)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    kinds = [data["type"] for _, data in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed"
    deltas = [data["delta"] for _, data in events if data["type"] == "response.output_text.delta"]
    assert len(deltas) > 1
    final = events[-1][1]["response"]
    assert "".join(deltas) == text_of(final) and final["status"] == "completed"


@pytest.mark.parametrize("text", ["", "a", "no-spaces-at-all", "hello world this is a test", "word " * 30])
def test_text_is_streamed_in_a_few_deltas_that_rejoin_exactly(text: str) -> None:
    chunks = text_chunks(text)
    assert "".join(chunks) == text and len(chunks) <= 4 and all(chunks)


def test_background_response_is_queued_then_completes_when_polled(emulator: Emulator, client: openai.OpenAI) -> None:
    status, headers, resp, _, _ = raw(
        emulator, "POST", "/responses", {"model": MODEL, "input": "Latency", "background": True}
    )
    assert status == 200 and resp["status"] == "queued" and resp["background"] is True and resp["output"] == []
    assert headers["openai-poll-after-ms"] == "100"
    assert "usage" not in resp  # unknown until the response ends
    done = wait_terminal(client, resp["id"])
    assert done["status"] == "completed" and "Latency" in text_of(done)


def test_background_status_follows_the_injected_clock() -> None:
    now = [1000.0]
    with Emulator(model_time=10.0, clock=lambda: now[0]) as emu:
        c = openai.OpenAI(api_key="sk-emulator", base_url=emu.base_url, max_retries=0)
        resp = create(c, "Slow one", background=True)
        assert get(c, f"/responses/{resp['id']}")["status"] == "queued"
        now[0] += 2
        assert get(c, f"/responses/{resp['id']}")["status"] == "in_progress"
        now[0] += 8
        assert get(c, f"/responses/{resp['id']}")["status"] == "completed"


def test_stream_cut_drops_the_connection_but_the_response_completes(emulator: Emulator, client: openai.OpenAI) -> None:
    _, _, _, events, complete = raw(
        emulator, "POST", "/responses", {"model": MODEL, "input": "Flaky [[stream_cut:3]]", "stream": True}
    )
    assert not complete and len(events) == 3
    response_id = events[0][1]["response"]["id"]
    assert wait_terminal(client, response_id)["status"] == "completed"


def test_resuming_a_background_stream_replays_the_events_after_starting_after(emulator: Emulator) -> None:
    body = {"model": MODEL, "input": "Resume me [[stream_cut:4]]", "stream": True, "background": True}
    _, _, _, first, complete = raw(emulator, "POST", "/responses", body)
    assert not complete and first[0][1]["response"]["status"] == "queued"
    response_id, last = first[0][1]["response"]["id"], first[-1][1]["sequence_number"]
    _, _, _, rest, complete = raw(emulator, "GET", f"/responses/{response_id}?stream=true&starting_after={last}")
    assert complete
    numbers = [d["sequence_number"] for _, d in first + rest]
    assert numbers == list(range(len(numbers)))
    assert rest[-1][1]["type"] == "response.completed"
    deltas = "".join(d["delta"] for _, d in first + rest if d["type"] == "response.output_text.delta")
    assert deltas == text_of(rest[-1][1]["response"])


def test_streaming_a_stored_response_needs_background(emulator: Emulator, client: openai.OpenAI) -> None:
    resp = create(client, "Not background")
    status, _, body, _, _ = raw(emulator, "GET", f"/responses/{resp['id']}?stream=true")
    assert status == 400 and "background" in body["error"]["message"]


def test_store_false_responses_cannot_be_retrieved(client: openai.OpenAI) -> None:
    resp = create(client, "Ephemeral", store=False)
    assert resp["status"] == "completed" and resp["store"] is False
    with pytest.raises(openai.NotFoundError):
        get(client, f"/responses/{resp['id']}")


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_stops_a_background_response(client: openai.OpenAI) -> None:
    resp = create(client, "Long [[delay:5]]", background=True)
    cancelled = post(client, f"/responses/{resp['id']}/cancel")
    assert cancelled["status"] == "cancelled" and cancelled["output"] == []
    assert get(client, f"/responses/{resp['id']}")["status"] == "cancelled"


def test_cancelling_a_finished_response_returns_it_unchanged(client: openai.OpenAI) -> None:
    resp = wait_terminal(client, create(client, "Quick", background=True)["id"])
    again = post(client, f"/responses/{resp['id']}/cancel")
    assert again["status"] == "completed" and again["output"] == resp["output"]


def test_only_background_responses_can_be_cancelled(client: openai.OpenAI) -> None:
    resp = create(client, "Foreground")
    with pytest.raises(openai.BadRequestError, match="background"):
        post(client, f"/responses/{resp['id']}/cancel")


def test_cancelled_background_stream_ends_without_a_terminal_event(emulator: Emulator, client: openai.OpenAI) -> None:
    resp = create(client, "Long [[delay:5]]", background=True)
    cancelled: list[Any] = []
    canceller = threading.Timer(0.1, lambda: cancelled.append(post(client, f"/responses/{resp['id']}/cancel")))
    canceller.start()
    _, _, _, events, complete = raw(emulator, "GET", f"/responses/{resp['id']}?stream=true")
    canceller.join()
    assert cancelled[0]["status"] == "cancelled"
    assert complete and [d["type"] for _, d in events] == [
        "response.created",
        "response.queued",
        "response.in_progress",
    ]


# -- terminal statuses and output shapes ----------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "status", "detail"),
    [
        ("[[failed:rate_limit_exceeded]]", "failed", {"code": "rate_limit_exceeded"}),
        ("[[failed]]", "failed", {"code": "server_error"}),
        ("[[expired]]", "failed", {"code": "server_error"}),
        ("[[incomplete]]", "incomplete", {"reason": "max_output_tokens"}),
        ("[[incomplete:content_filter]]", "incomplete", {"reason": "content_filter"}),
        ("[[cancelled]]", "cancelled", None),
    ],
)
def test_each_scripted_outcome_maps_to_a_responses_status(
    client: openai.OpenAI, tag: str, status: str, detail: dict[str, str] | None
) -> None:
    resp = create(client, f"Outcome {tag}")
    assert resp["status"] == status
    if status == "failed":
        assert resp["error"]["code"] == detail["code"] and resp["error"]["message"]  # type: ignore[index]
        assert resp["output"] == []
    elif status == "incomplete":
        assert resp["incomplete_details"] == detail and resp["output"][0]["status"] == "incomplete"
    else:
        assert resp["output"] == [] and resp["error"] is None


@pytest.mark.parametrize(
    ("tag", "terminal"), [("[[failed]]", "response.failed"), ("[[incomplete]]", "response.incomplete")]
)
def test_streams_end_with_the_matching_terminal_event(emulator: Emulator, tag: str, terminal: str) -> None:
    _, _, _, events, _ = raw(emulator, "POST", "/responses", {"model": MODEL, "input": f"x {tag}", "stream": True})
    assert events[-1][0] == terminal


def test_citation_markers_become_indexed_file_citations(client: openai.OpenAI) -> None:
    resp = create(
        client, "Disk full [[citations]]", tools=[{"type": "file_search", "vector_store_ids": ["vs_runbooks"]}]
    )
    search, message = resp["output"]
    assert (
        search["type"] == "file_search_call" and search["status"] == "completed" and search["queries"] == ["Disk full"]
    )
    part = message["content"][0]
    assert "【" not in part["text"]
    first, second = part["annotations"]
    assert first == {
        "type": "file_citation",
        "file_id": "file-runbookdisk",
        "filename": "runbook-disk.md",
        "index": part["text"].index(", then"),
    }
    assert second["index"] == len(part["text"]) - 1  # just before the final full stop


def test_charts_become_a_code_interpreter_call_and_a_container_file_citation(client: openai.OpenAI) -> None:
    resp = create(client, "Plot it [[file]]", tools=[{"type": "code_interpreter", "container": "cntr_team"}])
    call, message = resp["output"]
    assert call["type"] == "code_interpreter_call" and call["container_id"] == "cntr_team"
    part = message["content"][0]
    (annotation,) = part["annotations"]
    assert annotation["type"] == "container_file_citation" and annotation["file_id"] == "file-chartdiskusage"
    assert part["text"][annotation["start_index"] : annotation["end_index"]] == "sandbox:/mnt/data/disk_usage.png"
    assert annotation["filename"] == "disk_usage.png"


def test_search_results_and_code_outputs_appear_only_when_included(client: openai.OpenAI) -> None:
    plain = create(client, "Disk full [[citations]]")
    assert plain["output"][0]["results"] is None
    resp = create(client, "Disk full [[citations]]", include=["file_search_call.results"])
    assert [(r["file_id"], r["text"]) for r in resp["output"][0]["results"]] == [
        ("file-runbookdisk", "Run `df -h` and clear /var/log"),
        ("file-oncallpolicy", "Storage pages go to #storage-oncall"),
    ]
    assert get(client, f"/responses/{plain['id']}", **{"include[]": "file_search_call.results"})["output"][0]["results"]
    chart = create(client, "Plot [[file]]", include=["code_interpreter_call.outputs"])
    assert chart["output"][0]["outputs"][0]["url"].endswith("/files/file-chartdiskusage/content")
    with pytest.raises(openai.BadRequestError, match="Supported values"):
        create(client, "x", include=["everything"])


def test_json_schema_format_answers_with_an_instance(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"severity": {"type": "string", "enum": ["low", "high"]}, "count": {"type": "integer"}},
    }
    resp = create(
        client, "Classify", text={"format": {"type": "json_schema", "name": "triage", "schema": schema, "strict": True}}
    )
    assert json.loads(text_of(resp)) == {"severity": "low", "count": 1}
    assert resp["text"]["format"]["name"] == "triage"


def test_json_object_format_needs_the_word_json_in_the_input(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="json"):
        create(client, "Classify", text={"format": {"type": "json_object"}})
    assert isinstance(
        json.loads(text_of(create(client, "Classify as JSON", text={"format": {"type": "json_object"}}))), dict
    )


def test_max_output_tokens_cuts_the_answer_short_as_incomplete(client: openai.OpenAI) -> None:
    resp = create(client, "A very long alert description " * 5, max_output_tokens=16)
    assert resp["status"] == "incomplete" and resp["incomplete_details"] == {"reason": "max_output_tokens"}
    assert len(text_of(resp)) == 64 and resp["usage"]["output_tokens"] == 16


def test_multipart_answers_keep_their_messages_and_parts(client: openai.OpenAI) -> None:
    resp = create(client, "Split [[multipart]]")
    assert [len(i["content"]) for i in resp["output"]] == [2, 1]


# -- function calls ---------------------------------------------------------------------------

PING = [
    {
        "type": "function",
        "name": "ping",
        "description": "Ping a host.",
        "parameters": {"type": "object", "properties": {}},
    }
]


def test_the_model_calls_only_functions_the_request_declares(client: openai.OpenAI) -> None:
    bare = create(client, "Check [[tool:ping]]")
    other = create(
        client, "Check [[tool:ping]] [[tool:lookup_owner]]", tools=[{"type": "function", "name": "lookup_owner"}]
    )
    assert bare["status"] == "completed" and [i["type"] for i in bare["output"]] == ["message"]
    assert text_of(bare).endswith("No function ping was available.") and bare["tools"] == []
    assert [(i["type"], i.get("name")) for i in other["output"]] == [("function_call", "lookup_owner")]
    answered = create(
        client,
        [{"type": "function_call_output", "call_id": other["output"][0]["call_id"], "output": "team-storage"}],
        previous_response_id=other["id"],
    )
    assert "Tool lookup_owner said: team-storage. No function ping was available." in text_of(answered)


def test_function_call_round_trip_with_previous_response_id(client: openai.OpenAI) -> None:
    tools = [{"type": "function", "name": "lookup_owner", "parameters": {"type": "object", "properties": {}}}]
    first = create(client, "Who owns db-1? [[tool:lookup_owner]]", tools=tools)
    (call,) = first["output"]
    assert first["status"] == "completed"
    assert call["type"] == "function_call" and call["name"] == "lookup_owner" and call["status"] == "completed"
    assert json.loads(call["arguments"]) == {}  # an instance of its schema: no properties
    second = create(
        client,
        [{"type": "function_call_output", "call_id": call["call_id"], "output": "team-storage"}],
        previous_response_id=first["id"],
        tools=tools,
    )
    assert "Tool lookup_owner said: team-storage." in text_of(second)


def test_function_call_round_trip_on_a_conversation(client: openai.OpenAI) -> None:
    conv = post(client, "/conversations")
    first = create(client, "Check [[tool:ping]]", conversation=conv["id"], tools=PING)
    call_id = first["output"][0]["call_id"]
    second = create(
        client,
        [{"type": "function_call_output", "call_id": call_id, "output": "pong"}],
        conversation={"id": conv["id"]},
    )
    assert "Tool ping said: pong." in text_of(second) and second["conversation"] == {"id": conv["id"]}
    kinds = [i["type"] for i in get(client, f"/conversations/{conv['id']}/items", order="asc")["data"]]
    assert kinds == ["message", "function_call", "function_call_output", "message"]


def test_streamed_function_calls_carry_their_arguments(emulator: Emulator) -> None:
    _, _, _, events, _ = raw(
        emulator, "POST", "/responses", {"model": MODEL, "input": "Check [[tool:ping]]", "tools": PING, "stream": True}
    )
    kinds = [d["type"] for _, d in events]
    assert kinds[2:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    done = events[4][1]
    assert done["name"] == "ping" and json.loads(done["arguments"]) == {}
    assert events[5][1]["item"]["arguments"] == done["arguments"]


def test_an_unknown_previous_response_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match=re.escape("Previous response with id 'resp_gone' not found.")):
        create(client, "x", previous_response_id="resp_gone")


def test_an_output_for_an_unknown_call_is_rejected(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="No tool call found"):
        create(client, [{"type": "function_call_output", "call_id": "call_nope", "output": "x"}])


def test_a_pending_call_must_be_answered_before_moving_on(client: openai.OpenAI) -> None:
    first = create(client, "Check [[tool:ping]]", tools=PING)
    with pytest.raises(openai.BadRequestError, match="No tool output found"):
        create(client, "Something else", previous_response_id=first["id"])


# -- conversations ----------------------------------------------------------------------------


def test_conversation_items_are_the_history_and_grow_with_each_response(client: openai.OpenAI) -> None:
    conv = post(
        client,
        "/conversations",
        {"items": [{"type": "message", "role": "user", "content": "Earlier alert"}], "metadata": {"team": "sre"}},
    )
    assert conv["object"] == "conversation" and conv["id"].startswith("conv_") and conv["metadata"] == {"team": "sre"}
    resp = create(client, "Disk full", conversation=conv["id"])
    assert "(turn 2 of this thread)" in text_of(resp)
    assert resp["usage"]["input_tokens_details"]["cached_tokens"] > 0
    newest_first = get(client, f"/conversations/{conv['id']}/items")
    assert [(i["type"], i.get("role")) for i in newest_first["data"]] == [
        ("message", "assistant"),
        ("message", "user"),
        ("message", "user"),
    ]
    assert newest_first["data"][1]["content"] == [{"type": "input_text", "text": "Disk full"}]
    oldest_first = get(client, f"/conversations/{conv['id']}/items", order="asc")
    assert oldest_first["data"] == list(reversed(newest_first["data"]))


def test_conversation_items_paginate_with_limit_and_after(client: openai.OpenAI) -> None:
    conv = post(client, "/conversations", {"items": [{"role": "user", "content": f"m{i}"} for i in range(5)]})
    page = get(client, f"/conversations/{conv['id']}/items", order="asc", limit=2)
    assert page["has_more"] is True and [i["content"][0]["text"] for i in page["data"]] == ["m0", "m1"]
    rest = get(client, f"/conversations/{conv['id']}/items", order="asc", limit=100, after=page["last_id"])
    assert rest["has_more"] is False and [i["content"][0]["text"] for i in rest["data"]] == ["m2", "m3", "m4"]
    with pytest.raises(openai.BadRequestError, match="limit"):
        get(client, f"/conversations/{conv['id']}/items", limit=101)


def test_conversation_can_be_updated_added_to_and_deleted(client: openai.OpenAI) -> None:
    conv = post(client, "/conversations")
    assert post(client, f"/conversations/{conv['id']}", {"metadata": {"incident": "INC-7"}})["metadata"] == {
        "incident": "INC-7"
    }
    added = post(
        client,
        f"/conversations/{conv['id']}/items",
        {"items": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]},
    )
    assert added["object"] == "list" and added["first_id"] == added["data"][0]["id"]
    item = get(client, f"/conversations/{conv['id']}/items/{added['first_id']}")
    assert item["content"][0]["text"] == "hi"
    assert client.delete(f"/conversations/{conv['id']}", cast_to=object) == {
        "id": conv["id"],
        "object": "conversation.deleted",
        "deleted": True,
    }
    with pytest.raises(openai.NotFoundError, match="Conversation with id"):
        get(client, f"/conversations/{conv['id']}")


def test_a_conversation_takes_at_most_20_new_items(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="maximum length 20"):
        post(client, "/conversations", {"items": [{"role": "user", "content": "x"}] * 21})


def test_a_conversation_is_locked_while_a_response_runs_on_it(client: openai.OpenAI) -> None:
    conv = post(client, "/conversations")
    running = create(client, "First [[delay:5]]", conversation=conv["id"], background=True)
    with pytest.raises(openai.BadRequestError) as raised:
        create(client, "Second", conversation=conv["id"])
    assert raised.value.code == "conversation_locked" and LOCKED in str(raised.value)
    with pytest.raises(openai.BadRequestError, match="conversation"):
        post(client, f"/conversations/{conv['id']}/items", {"items": [{"role": "user", "content": "x"}]})
    post(client, f"/responses/{running['id']}/cancel")
    # Unlocked; the cancelled response left nothing behind, so this is turn 1 again.
    assert "(turn 1 of this thread)" in text_of(create(client, "Second", conversation=conv["id"]))


def test_a_finished_response_unlocks_its_conversation(client: openai.OpenAI) -> None:
    conv = post(client, "/conversations")
    wait_terminal(client, create(client, "First", conversation=conv["id"], background=True)["id"])
    assert "(turn 2 of this thread)" in text_of(create(client, "Second", conversation=conv["id"]))


def test_failed_responses_leave_the_conversation_unchanged(client: openai.OpenAI) -> None:
    conv = post(client, "/conversations")
    assert create(client, "Boom [[failed]]", conversation=conv["id"])["status"] == "failed"
    assert get(client, f"/conversations/{conv['id']}/items")["data"] == []


def test_concurrent_responses_on_one_conversation_let_exactly_one_through(emulator: Emulator) -> None:
    c = openai.OpenAI(api_key="sk-emulator", base_url=emulator.base_url, max_retries=0)
    conv = post(c, "/conversations")
    results: list[str] = []

    def ask() -> None:
        request = {"model": MODEL, "input": "race [[delay:5]]", "conversation": conv["id"], "background": True}
        status, _, body, _, _ = raw(emulator, "POST", "/responses", request)
        results.append(body["status"] if status == 200 else body["error"]["code"])

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conversation_locked"] * 5 + ["queued"]


# -- request validation, errors, faults ---------------------------------------------------------


def test_conversation_and_previous_response_id_are_mutually_exclusive(client: openai.OpenAI) -> None:
    conv = post(client, "/conversations")
    with pytest.raises(openai.BadRequestError, match="Mutually exclusive"):
        create(client, "x", conversation=conv["id"], previous_response_id="resp_x")


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/responses/resp_missing", "Response with id 'resp_missing' not found."),
        ("POST", "/responses/resp_missing/cancel", "Response with id 'resp_missing' not found."),
        ("GET", "/conversations/conv_missing", "Conversation with id 'conv_missing' not found."),
        ("GET", "/conversations/conv_missing/items", "Conversation with id 'conv_missing' not found."),
        ("POST", "/responses", "Conversation with id 'conv_missing' not found."),
    ],
)
def test_unknown_ids_answer_404_with_openai_messages(emulator: Emulator, method: str, path: str, message: str) -> None:
    body = {"model": MODEL, "input": "x", "conversation": "conv_missing"} if path == "/responses" else None
    status, _, reply, _, _ = raw(emulator, method, path, body)
    assert status == 404 and reply["error"]["message"] == message and reply["error"]["type"] == "invalid_request_error"


def test_a_bad_api_key_is_refused_with_401(emulator: Emulator) -> None:
    c = openai.OpenAI(api_key="bad-key-123456", base_url=emulator.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        create(c, "x")
    assert raised.value.code == "invalid_api_key"


def test_an_injected_429_is_retried_by_the_sdk_then_succeeds(emulator: Emulator) -> None:
    emulator.faults.add(r"^POST /v1/responses$", 429, count=1)
    c = openai.OpenAI(api_key="sk-emulator", base_url=emulator.base_url, max_retries=1)
    assert create(c, "Retry me")["status"] == "completed"
    assert emulator.stats.snapshot()["POST /v1/responses"] == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"input": [{"type": "function_call", "call_id": "c1"}]}, "'input[0].name'"),
        ({"input": [{"type": "message", "role": "user"}]}, "'input[0].content'"),
        ({"input": 5}, "Invalid type for 'input'"),
        ({"tools": [{"type": "web"}]}, "Invalid value: 'web'"),
        ({"text": {"format": {"type": "json_schema", "schema": {}}}}, "'text.format.name'"),
        ({"metadata": {"k": 1}}, "'metadata.k'"),
        ({"background": True, "store": False}, "store=true"),
        ({"max_output_tokens": 5}, "Expected a value >= 16"),
    ],
)
def test_malformed_requests_are_400_naming_the_parameter(
    client: openai.OpenAI, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(openai.BadRequestError, match=re.escape(message)):
        post(client, "/responses", {"model": MODEL, "input": "x", **fields})


def test_model_is_required(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="'model'"):
        post(client, "/responses", {"input": "x"})


# -- the typed SDK resources ------------------------------------------------------------------


def test_sdk_responses_create_returns_a_typed_response(sdk: openai.OpenAI) -> None:
    resp = sdk.responses.create(model=MODEL, input="Disk full", instructions="Be brief.", metadata={"alert": "A-1"})
    assert resp.status == "completed" and "Disk full" in resp.output_text
    assert resp.instructions == "Be brief." and resp.metadata == {"alert": "A-1"}
    assert resp.usage is not None and resp.usage.total_tokens > 0


def test_sdk_stream_helper_yields_text_deltas_and_the_final_response(sdk: openai.OpenAI) -> None:
    with sdk.responses.stream(model=MODEL, input="Stream it [[citations]]") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text
    assert [a.type for a in final.output[1].content[0].annotations] == ["file_citation", "file_citation"]  # type: ignore[union-attr]


def test_sdk_background_create_poll_and_cancel(sdk: openai.OpenAI) -> None:
    resp = sdk.responses.create(model=MODEL, input="Background", background=True)
    while resp.status in ("queued", "in_progress"):
        time.sleep(0.01)
        resp = sdk.responses.retrieve(resp.id)
    assert resp.status == "completed"
    slow = sdk.responses.create(model=MODEL, input="Slow [[delay:5]]", background=True)
    assert sdk.responses.cancel(slow.id).status == "cancelled"


def test_sdk_resumes_a_dropped_stream_with_retrieve(sdk: openai.OpenAI) -> None:
    seen: list[Any] = []
    with pytest.raises(openai.APIConnectionError):
        for event in sdk.responses.create(model=MODEL, input="Drop [[stream_cut:3]]", stream=True, background=True):
            seen.append(event)
    response_id = seen[0].response.id
    rest = list(sdk.responses.retrieve(response_id, stream=True, starting_after=seen[-1].sequence_number))
    assert [e.sequence_number for e in seen + rest] == list(range(len(seen) + len(rest)))
    assert rest[-1].type == "response.completed"


def test_sdk_conversations_and_items(sdk: openai.OpenAI) -> None:
    conv = sdk.conversations.create(
        metadata={"incident": "INC-1"}, items=[{"type": "message", "role": "user", "content": "Earlier"}]
    )
    assert sdk.conversations.retrieve(conv.id).metadata == {"incident": "INC-1"}
    sdk.conversations.items.create(conv.id, items=[{"type": "message", "role": "user", "content": "More context"}])
    resp = sdk.responses.create(model=MODEL, input="Now?", conversation=conv.id)
    assert "(turn 3 of this thread)" in resp.output_text
    items = list(sdk.conversations.items.list(conv.id, order="asc", limit=2))  # the pager follows last_id
    assert [getattr(i, "role", None) for i in items] == ["user", "user", "user", "assistant"]


def test_sdk_conversation_locked_is_a_bad_request(sdk: openai.OpenAI) -> None:
    conv = sdk.conversations.create()
    sdk.responses.create(model=MODEL, input="Busy [[delay:5]]", conversation=conv.id, background=True)
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.responses.create(model=MODEL, input="Again", conversation=conv.id)
    assert raised.value.code == "conversation_locked"


def test_sdk_function_call_round_trip(sdk: openai.OpenAI) -> None:
    tools: Any = [
        {"type": "function", "name": "runbook", "parameters": {"type": "object", "properties": {}}, "strict": False}
    ]
    first = sdk.responses.create(model=MODEL, input="Fix [[tool:runbook]]", tools=tools)
    call = first.output[0]
    assert call.type == "function_call"
    second = sdk.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        tools=tools,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "restart it"}],
    )
    assert "Tool runbook said: restart it." in second.output_text


# -- conformance with OpenAI's published spec --------------------------------------------------


def test_every_reply_and_event_fits_the_openapi_spec(emulator: Emulator, client: openai.OpenAI) -> None:
    checker = pytest.importorskip("openapi_check", reason="tests/openapi_check.py (the spec checker) is not available")
    spec = checker.OpenAPISpec.default()
    problems: list[Any] = []
    # DELETE /responses/{id} declares no body; OpenAI sends a small JSON one, and so do we.
    emulator.server.exchange_hook = lambda req, status, body: problems.extend(
        [] if (req.method, status) == ("DELETE", 200) else spec.check_response(req.method, req.path, status, body)
    )
    conv = post(client, "/conversations", {"items": [{"role": "user", "content": "before"}]})
    tools = [
        {"type": "file_search", "vector_store_ids": ["vs_1"]},
        {"type": "code_interpreter", "container": {"type": "auto"}},
        {"type": "function", "name": "f", "parameters": {}, "strict": True},
    ]
    for tag in [
        "",
        "[[citations]]",
        "[[file]]",
        "[[multipart]]",
        "[[failed]]",
        "[[incomplete]]",
        "[[expired]]",
        "[[cancelled]]",
        "[[empty]]",
        "[[tool:f]]",
    ]:
        body = {"model": MODEL, "input": f"Disk full {tag}", "tools": tools}
        for _, data in raw(emulator, "POST", "/responses", {**body, "stream": True})[3]:
            problems.extend(spec.check_event(data["type"], data))
        create(client, body["input"], tools=tools)
    create(
        client,
        "json",
        conversation=conv["id"],
        text={
            "format": {
                "type": "json_schema",
                "name": "t",
                "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
                "strict": True,
            }
        },
    )
    bg = create(client, "bg", background=True)
    get(client, f"/responses/{bg['id']}")
    for _, data in raw(emulator, "GET", f"/responses/{bg['id']}?stream=true&starting_after=0")[3]:
        problems.extend(spec.check_event(data["type"], data))
    post(client, f"/responses/{bg['id']}/cancel")
    get(client, f"/responses/{bg['id']}/input_items")
    get(client, f"/conversations/{conv['id']}/items")
    post(client, f"/conversations/{conv['id']}/items", {"items": [{"role": "user", "content": "x"}]})
    raw(emulator, "GET", "/conversations/conv_missing")
    assert not problems, checker.format_problems(problems)
