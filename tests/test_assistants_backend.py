"""The Assistants engine over real HTTP against the bundled emulator (127.0.0.1)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from keep_openaiassistant import AskResult, Assistant, Settings, errors
from keep_openaiassistant.backends.assistants import AssistantsBackend, is_openai_host
from keep_openaiassistant.emulator import DEFAULT_ASSISTANT_ID, Emulator
from keep_openaiassistant.wire import _http_module

MakeAssistant = Callable[..., Assistant]


def requests(emulator: Emulator) -> dict[str, int]:
    return emulator.stats.snapshot()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Wait on the emulator's state (not on the clock) for another thread to get ahead."""
    give_up = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < give_up, f"never happened: {what}"
        time.sleep(0.005)


#: The hard deadline's promise: the error comes at max_wait_time plus the cancel's 1 s grace.
#: Tests allow that plus slack for a busy machine: far below the 5 s the model would take.
DEADLINE_SLACK = 2.5


def run_statuses(emulator: Emulator) -> list[str]:
    store = emulator.assistants.store
    with store.lock:
        for run in store.runs.values():
            store.advance(run)
        return [run.status for run in store.runs.values()]


# -- requests per question ----------------------------------------------------------------------


def test_new_thread_is_one_streamed_request(make_assistant: MakeAssistant, emulator: Emulator) -> None:
    result = make_assistant().ask("Disk full on db-1")
    assert requests(emulator) == {"POST /v1/threads/runs": 1}
    assert result.status == "completed" and result.thread_id.startswith("thread_") and result.run_id.startswith("run_")
    assert "Disk full on db-1" in result.text and "turn 1" in result.text
    assert [(m.role, m.content) for m in result.messages] == [("user", "Disk full on db-1"), ("assistant", result.text)]
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens > 0


def test_continued_thread_is_two_requests_and_answers_only_this_run(
    make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    assistant = make_assistant()
    first = assistant.ask("Disk full on db-1")
    emulator.stats.reset()
    second = assistant.ask("Is it fixed?", thread_id=first.thread_id)
    assert requests(emulator) == {"POST /v1/threads/{thread_id}/runs": 1, "GET /v1/threads/{thread_id}/messages": 1}
    assert second.thread_id == first.thread_id and second.run_id != first.run_id
    assert "Is it fixed?" in second.text and "turn 2" in second.text and second.text != first.text
    assert [m.role for m in second.messages] == ["user", "assistant", "user", "assistant"]
    assert second.messages[-1].content == second.text and second.messages[1].content == first.text


def test_request_bodies_carry_prompt_format_and_instructions(make_assistant: MakeAssistant, emulator: Emulator) -> None:
    seen: list[dict[str, Any]] = []
    emulator.server.event_hook = lambda request, event, data: (
        seen.append(request.json()) if event == "thread.run.created" else None
    )
    fmt = {
        "type": "json_schema",
        "json_schema": {
            "name": "triage",
            "schema": {"type": "object", "properties": {"severity": {"type": "string"}}},
            "strict": True,
        },
    }
    assistant = make_assistant()
    first = assistant.ask("db-1 down", structured_output_format=fmt)
    assistant.ask("and now?", thread_id=first.thread_id, additional_instructions="Answer in French.")
    new, continued = seen
    assert new["thread"] == {"messages": [{"role": "user", "content": "db-1 down"}]} and new["stream"] is True
    assert new["response_format"] == fmt and new["assistant_id"] == DEFAULT_ASSISTANT_ID
    assert continued["additional_messages"] == [{"role": "user", "content": "and now?"}] and "thread" not in continued
    assert continued["additional_instructions"] == "Answer in French."
    assert first.response == {"severity": "db-1 down"}


def test_new_thread_with_additional_instructions_creates_the_thread_first(
    make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    """POST /threads/runs does not take additional_instructions (OpenAI's spec): two requests."""
    seen: list[dict[str, Any]] = []
    emulator.server.event_hook = lambda request, event, data: (
        seen.append(request.json()) if event == "thread.run.created" else None
    )
    result = make_assistant().ask("db-1 down", additional_instructions="Answer in French.")
    assert requests(emulator) == {"POST /v1/threads": 1, "POST /v1/threads/{thread_id}/runs": 1}
    assert seen[0]["additional_instructions"] == "Answer in French." and "additional_messages" not in seen[0]
    assert "turn 1" in result.text and [m.role for m in result.messages] == ["user", "assistant"]


# -- the answer: all of this run's output ----------------------------------------------------------


def test_multipart_answer_joins_every_message_and_part_in_order(make_assistant: MakeAssistant) -> None:
    result = make_assistant().ask("Disk trend [[multipart]]")
    assert result.text.index("Part one") < result.text.index("Part two") < result.text.index("Second message")
    assert [m.role for m in result.messages] == ["user", "assistant", "assistant"]


def test_citation_markers_become_numbered_references(make_assistant: MakeAssistant) -> None:
    result = make_assistant().ask("How do I free space? [[citations]]")
    assert "【" not in result.text and "[1]" in result.text and "[2]" in result.text
    assert result.response == result.text  # "[1]" in prose is not mistaken for JSON
    assert [(c.index, c.type, c.filename) for c in result.citations] == [
        (1, "file_citation", "runbook-disk.md"),
        (2, "file_citation", "oncall-policy.md"),
    ]
    assert all(c.file_id.startswith("file-") and c.marker.startswith("【") for c in result.citations)


def test_produced_files_are_listed(make_assistant: MakeAssistant) -> None:
    result = make_assistant().ask("Plot disk usage [[file]]")
    assert result.files == ("file-chartdiskusage",)
    assert "sandbox:" not in result.text and "chart [1]" in result.text
    assert result.citations[0].type == "file_path" and result.citations[0].filename == "disk_usage.png"


# -- JSON -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["[[json]]", "[[fenced_json]]"])
def test_json_answers_are_parsed(make_assistant: MakeAssistant, tag: str) -> None:
    result = make_assistant().ask(f"Disk full {tag}")
    assert isinstance(result.response, dict) and result.response["severity"] == "high"
    assert result.to_dict()["raw_response"] == result.text


def test_prose_that_quotes_json_stays_text(make_assistant: MakeAssistant) -> None:
    """An answer that is a sentence quoting JSON is the sentence, not the fragment (issue 10)."""
    result = make_assistant().ask("Disk full [[prose_json]]")
    assert result.response == result.text and isinstance(result.response, str)


def test_parse_json_false_returns_the_text(make_assistant: MakeAssistant) -> None:
    result = make_assistant().ask("Disk full [[json]]", parse_json=False)
    assert result.response == result.text and isinstance(result.response, str)


def test_structured_output_that_is_not_json_raises_response_format_error(make_assistant: MakeAssistant) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "object"}, "strict": True}}
    with pytest.raises(errors.ResponseFormatError) as caught:
        make_assistant().ask("Disk full [[empty]]", structured_output_format=fmt)
    assert caught.value.text == "" and caught.value.run_id and caught.value.thread_id


# -- terminal statuses ------------------------------------------------------------------------------


def test_failed_run_raises_run_failed_error_with_the_code(make_assistant: MakeAssistant) -> None:
    with pytest.raises(errors.RunFailedError) as caught:
        make_assistant().ask("x [[failed:rate_limit_exceeded]]")
    err = caught.value
    assert err.code == "rate_limit_exceeded" and "quota" in (err.detail or "")
    assert err.run_id and err.run_id in str(err) and err.thread_id in str(err) and "What to do" in str(err)


def test_incomplete_run_raises_with_the_partial_text(make_assistant: MakeAssistant) -> None:
    with pytest.raises(errors.RunIncompleteError) as caught:
        make_assistant().ask("x [[incomplete:max_prompt_tokens]]")
    assert caught.value.reason == "max_prompt_tokens" and "Triage of" in caught.value.partial_text


def test_expired_run_raises_run_expired_error(make_assistant: MakeAssistant) -> None:
    with pytest.raises(errors.RunExpiredError, match="expired the run"):
        make_assistant().ask("x [[expired]]")


def test_run_cancelled_by_the_server_raises_run_cancelled_error(make_assistant: MakeAssistant) -> None:
    with pytest.raises(errors.RunCancelledError, match="cancelled by someone else"):
        make_assistant().ask("x [[cancelled]]")


# -- function calls ---------------------------------------------------------------------------------


def test_tool_outputs_are_submitted_and_the_run_goes_on(make_assistant: MakeAssistant, emulator: Emulator) -> None:
    result = make_assistant().ask(
        "db-1 slow [[tool:get_logs]] [[tool:get_metrics]]",
        tool_outputs={"get_logs": "disk 99% full", "get_metrics": {"cpu": 12}},
    )
    assert "Tool get_logs said: disk 99% full" in result.text and 'Tool get_metrics said: {"cpu": 12}' in result.text
    assert requests(emulator)["POST /v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"] == 1
    assert [(c["name"], c["output"]) for c in result.to_dict()["tool_calls"]] == [
        ("get_logs", "disk 99% full"),
        ("get_metrics", '{"cpu": 12}'),
    ]
    # The emulated model's arguments are instances of each function's schema (get_logs: service, ...).
    assert all(c["id"].startswith("call_") and '"service"' in c["arguments"] for c in result.tool_calls[:1])


def test_unanswered_tool_call_cancels_the_run_and_raises_action_required(
    make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    with pytest.raises(errors.ActionRequiredError) as caught:
        make_assistant().ask("db-1 slow [[tool:get_logs]] [[tool:page_oncall]]", tool_outputs={"get_logs": "ok"})
    err = caught.value
    assert {c["name"] for c in err.tool_calls} == {"get_logs", "page_oncall"}  # one submit must answer all
    assert "page_oncall" in str(err) and "tool_outputs" in str(err) and err.run_id in str(err)
    assert run_statuses(emulator) == ["cancelled"]


# -- the hard deadline ------------------------------------------------------------------------------


def test_max_wait_time_cancels_the_run_on_the_server(make_assistant: MakeAssistant, emulator: Emulator) -> None:
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceededError) as caught:
        make_assistant().ask("slow one [[delay:5]]", max_wait_time=0.5)
    elapsed = time.monotonic() - started
    assert elapsed < 0.5 + DEADLINE_SLACK, elapsed
    err = caught.value
    assert err.cancelled and err.run_id and err.thread_id and "max_wait_time=0.5" in str(err)
    assert run_statuses(emulator) == ["cancelled"]


def test_deadline_ends_a_stream_that_is_still_sending_events(make_assistant: MakeAssistant, emulator: Emulator) -> None:
    """thread.run.in_progress arrives at 0.5 s and restarts the read timeout (30 s); the socket
    reads, bounded by the deadline, still end the stream at 1 s."""
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceededError) as caught:
        make_assistant(stream_stall_timeout=30).ask("slow one [[delay:5]]", max_wait_time=1.0)
    assert time.monotonic() - started < 1.0 + DEADLINE_SLACK and caught.value.cancelled
    assert run_statuses(emulator) == ["cancelled"]


# -- busy threads -----------------------------------------------------------------------------------


def test_concurrent_asks_on_one_thread_take_turns(make_assistant: MakeAssistant, emulator: Emulator) -> None:
    assistant = make_assistant()
    thread_id = assistant.ask("Disk full on db-1").thread_id
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda i: assistant.ask(f"question {i}", thread_id=thread_id, max_wait_time=20), range(4))
        )
    for i, result in enumerate(results):
        assert f"question {i}" in result.text
    turns = sorted(int(r.text.split("(turn ")[1].split(" ")[0]) for r in results)
    assert turns == [2, 3, 4, 5]
    assert len({r.run_id for r in results}) == 4
    assert "cancelled" not in run_statuses(emulator)


def test_thread_busy_until_the_deadline_raises_thread_busy_error(
    make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    assistant = make_assistant()
    thread_id = assistant.ask("first").thread_id
    other = threading.Thread(target=lambda: assistant.ask("long one [[delay:2]]", thread_id=thread_id))
    other.start()
    wait_for(lambda: len(run_statuses(emulator)) == 2, "the other run started")
    with pytest.raises(errors.ThreadBusyError) as caught:
        assistant.ask("impatient", thread_id=thread_id, max_wait_time=0.4)
    assert caught.value.thread_id == thread_id and not caught.value.cancelled and "left alone" in str(caught.value)
    other.join()
    assert run_statuses(emulator) == ["completed", "completed"]  # the other run was never cancelled


# -- streams that break, stall or never start -------------------------------------------------------


def test_stream_cut_mid_run_completes_by_polling_without_rerunning(
    make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    baseline = make_assistant().ask("Disk full [[json]]")
    emulator.stats.reset()
    result = make_assistant().ask("Disk full [[json]] [[stream_cut:3]] [[delay:0.5]]")
    counts = requests(emulator)
    assert counts["POST /v1/threads/runs"] == 1  # the prompt was sent once
    assert counts["GET /v1/threads/{thread_id}/runs/{run_id}"] >= 2  # polled while the run went on
    assert counts["GET /v1/threads/{thread_id}/messages"] == 1
    assert result.response == baseline.response and len(emulator.assistants.store.runs) == 2


def test_stream_cut_before_the_run_id_finds_the_run_by_its_tag(
    make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    """A new thread's stream cut after thread.created: the run is found among the thread's runs."""
    result = make_assistant().ask("Disk full [[stream_cut:1]]")
    assert "Disk full" in result.text
    assert requests(emulator)["GET /v1/threads/{thread_id}/runs"] == 1


def test_stalled_stream_falls_back_to_polling(make_assistant: MakeAssistant, emulator: Emulator) -> None:
    result = make_assistant(stream_stall_timeout=0.2).ask("slow [[delay:0.8]]")
    assert "slow" in result.text
    assert requests(emulator)["GET /v1/threads/{thread_id}/runs/{run_id}"] >= 1


def test_server_that_refuses_to_stream_is_polled(make_assistant: MakeAssistant, emulator: Emulator) -> None:
    emulator.config.extra["refuse_stream"] = True
    assistant = make_assistant()
    first = assistant.ask("Disk full [[tool:get_logs]]", tool_outputs={"get_logs": "99%"})
    assert "Tool get_logs said: 99%" in first.text
    emulator.stats.reset()
    second = assistant.ask("again", thread_id=first.thread_id)
    assert "turn 2" in second.text
    counts = requests(emulator)
    assert counts["POST /v1/threads/{thread_id}/runs"] == 1  # the refusal is remembered


class _IgnoresStream:
    """A router in front of the emulator's that drops ``stream`` from bodies: a server (or proxy)
    that silently answers a streamed request with the plain JSON object."""

    def __init__(self, router: Any) -> None:
        self.router = router

    def match(self, method: str, path: str) -> Any:
        found = self.router.match(method, path)
        if found is None:
            return None
        key, handler, params = found

        def plain(request: Any) -> Any:
            if isinstance(request.body, dict):
                request.body.pop("stream", None)
            return handler(request)

        return key, plain, params


def test_server_that_ignores_stream_true_is_polled(make_assistant: MakeAssistant, emulator: Emulator) -> None:
    emulator.server.router = _IgnoresStream(emulator.server.router)
    assistant = make_assistant()
    first = assistant.ask("Disk full [[tool:get_logs]]", tool_outputs={"get_logs": "99%"})
    second = assistant.ask("again [[citations]]", thread_id=first.thread_id)
    assert "Tool get_logs said: 99%" in first.text and "[1]" in second.text and second.citations
    assert requests(emulator)["GET /v1/threads/{thread_id}/runs/{run_id}"] >= 2


def test_polling_honours_the_server_hint_else_starts_fast_and_doubles() -> None:
    for hint, expected in ((100, [0.1, 0.1, 0.1]), (None, [0.05, 0.1, 0.2])):
        slept: list[float] = []

        def sleep(seconds: float, slept: list[float] = slept) -> None:
            slept.append(round(seconds, 3))
            time.sleep(seconds)

        with Emulator(model_time=0.05, poll_after_ms=hint) as emu:
            emu.config.extra["refuse_stream"] = True
            settings = Settings(
                api_key="sk-emulator", base_url=emu.base_url, api="assistants", assistant_id=DEFAULT_ASSISTANT_ID
            )
            assistant = Assistant(settings, sleep=sleep)
            try:
                assistant.ask("slow [[delay:0.6]]")
            finally:
                assistant.close()
        assert slept[:3] == expected, (hint, slept)
        assert 1 not in slept


# -- HTTP faults ------------------------------------------------------------------------------------


def test_rate_limit_and_server_error_bursts_are_retried_by_the_sdk(
    make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    emulator.faults.add(r"^POST /v1/threads/runs$", 429, count=2, retry_after_ms=10)
    emulator.faults.add(r"^GET /v1/threads/\{thread_id\}/messages$", 503, count=1, retry_after_ms=10)
    assistant = make_assistant(max_retries=2)
    first = assistant.ask("Disk full")
    second = assistant.ask("again", thread_id=first.thread_id)
    assert "turn 2" in second.text
    counts = requests(emulator)
    assert counts["POST /v1/threads/runs"] == 3 and counts["GET /v1/threads/{thread_id}/messages"] == 2


def test_rate_limit_that_outlasts_the_retries_raises_rate_limit_error(
    make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    emulator.faults.add(r"^POST /v1/threads/runs$", 429, count=5)
    with pytest.raises(errors.RateLimitError, match="What to do"):
        make_assistant(max_retries=1).ask("Disk full")


def test_bad_key_raises_authentication_error_with_advice(make_assistant: MakeAssistant) -> None:
    with pytest.raises(errors.AuthenticationError) as caught:
        make_assistant(api_key="bad-key-123456789").ask("Disk full")
    message = str(caught.value)
    assert "api_key" in message and "bad-key-123456789" not in message


def test_unknown_thread_is_a_plain_not_found_error_off_openai(make_assistant: MakeAssistant) -> None:
    with pytest.raises(errors.NotFoundError) as caught:
        make_assistant().ask("hello", thread_id="thread_doesnotexist")
    assert not isinstance(caught.value, errors.AssistantsApiShutDownError)


# -- OpenAI's shutdown of the Assistants API --------------------------------------------------------


def _openai_lookalike_client(emulator: Emulator) -> openai.OpenAI:
    """A client whose base_url is https://api.openai.com/v1 but whose transport goes to the emulator."""
    http = _http_module()
    target = http.URL(emulator.url)

    class ToEmulator(http.HTTPTransport):  # type: ignore[misc, name-defined]
        def handle_request(self, request: Any) -> Any:
            request.url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
            return super().handle_request(request)

    return openai.OpenAI(
        api_key="sk-emulator",
        base_url="https://api.openai.com/v1",
        http_client=http.Client(transport=ToEmulator()),
        max_retries=0,
    )


def test_404_from_openai_means_the_assistants_api_shut_down(emulator: Emulator) -> None:
    """Faked: the client believes it talks to api.openai.com (base_url) while its transport
    reaches the emulator, which answers 404 on the Assistants routes by an injected fault."""
    client = _openai_lookalike_client(emulator)
    assert is_openai_host(client)
    settings = Settings(api_key="sk-emulator", api="assistants", assistant_id=DEFAULT_ASSISTANT_ID)
    assistant = Assistant(settings, client=client)
    emulator.faults.add(r"/v1/(threads|assistants)", 404, count=2, message="Invalid URL (POST /v1/threads/runs)")
    with pytest.raises(errors.AssistantsApiShutDownError) as caught:
        assistant.ask("Disk full")
    message = str(caught.value)
    for needle in (
        "2026-08-26",
        "api: responses",
        "`model`",
        "`instructions`",
        "`vector_store_ids`",
        "code_interpreter",
        "docs/migration.md",
    ):
        assert needle in message, needle
    scopes = assistant.check_access()
    assert scopes["authenticated"] is True and "2026-08-26" in str(scopes["assistant"])
    assistant.close()


# -- scopes and concurrency -------------------------------------------------------------------------


def test_check_access_proves_key_and_assistant(make_assistant: MakeAssistant, emulator: Emulator) -> None:
    assert make_assistant().check_access() == {"authenticated": True, "assistant": True}
    unknown = make_assistant(assistant_id="asst_nope").check_access()
    assert unknown["authenticated"] is True and "asst_nope" in str(unknown["assistant"])
    refused = make_assistant(api_key="bad-key-000000000").check_access()
    assert refused["authenticated"] is not True and refused["assistant"] is not True
    assert set(requests(emulator)) == {"GET /v1/assistants/{assistant_id}"}  # nothing but reads


def test_sixteen_concurrent_asks_on_new_threads_share_one_backend(make_assistant: MakeAssistant) -> None:
    assistant = make_assistant()
    assert isinstance(assistant.backend, AssistantsBackend)
    with ThreadPoolExecutor(16) as pool:
        results: list[AskResult] = list(pool.map(lambda i: assistant.ask(f"alert {i}"), range(16)))
    assert [f"alert {i}" in r.text for i, r in enumerate(results)] == [True] * 16
    assert len({r.thread_id for r in results}) == 16


# -- the wire against OpenAI's published spec -------------------------------------------------------


def test_every_request_the_engine_sends_fits_openais_spec(make_assistant: MakeAssistant, emulator: Emulator) -> None:
    from openapi_check import OpenAPISpec, format_problems

    sent: dict[int, Any] = {}

    def record(request: Any, *_: Any) -> None:
        sent[id(request)] = request

    emulator.server.exchange_hook = record
    emulator.server.event_hook = record
    assistant = make_assistant()
    first = assistant.ask(
        "Disk full [[tool:get_logs]]", tool_outputs={"get_logs": "99%"}, additional_instructions="Be brief."
    )
    assistant.ask(
        "again [[stream_cut:3]]",
        thread_id=first.thread_id,
        structured_output_format={"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "object"}}},
    )
    with pytest.raises(errors.DeadlineExceededError):
        assistant.ask("slow [[delay:5]]", max_wait_time=0.3)
    emulator.config.extra["refuse_stream"] = True
    assistant.ask("polled", thread_id=first.thread_id)
    spec = OpenAPISpec.default()
    problems = [p for r in sent.values() for p in spec.check_request(r.method, r.path, r.body, r.query)]
    routes = {(r.method, r.path.rsplit("/", 1)[-1]) for r in sent.values()}
    assert {("POST", "runs"), ("POST", "submit_tool_outputs"), ("POST", "cancel"), ("GET", "messages")} <= routes
    assert not problems, format_problems(problems)


class _DropsFirstRunReply:
    """A router in front of the emulator's: the first ``POST /threads/{id}/runs`` starts the run,
    then the connection drops without a reply (a proxy timing out), so the SDK retries the POST."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self.dropped = 0

    def match(self, method: str, path: str) -> Any:
        found = self.router.match(method, path)
        if found is None or found[0] != "POST /v1/threads/{thread_id}/runs" or self.dropped:
            return found
        key, handler, params = found

        def start_then_drop(request: Any) -> Any:
            handler(request)
            self.dropped += 1
            raise ConnectionAbortedError("dropped by the test proxy")  # the server closes without a reply

        return key, start_then_drop, params


def test_retried_request_whose_first_attempt_started_the_run_is_followed_not_rerun(
    make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    """The SDK's retry meets our own run on the thread ("already has an active run"): it is
    recognised by its keep_ask_id and followed, not asked a second time."""
    assistant = make_assistant(max_retries=1)
    thread_id = assistant.ask("first").thread_id
    emulator.server.router = _DropsFirstRunReply(emulator.server.router)
    emulator.stats.reset()
    result = assistant.ask("flaky network [[delay:1.5]]", thread_id=thread_id)
    assert "turn 2" in result.text
    assert requests(emulator)["POST /v1/threads/{thread_id}/runs"] == 2  # the SDK's retry ...
    assert len(emulator.assistants.store.runs) == 2  # ... started no second run


def test_stream_cut_before_the_run_id_on_a_continued_thread_finds_the_run_by_its_tag(
    make_assistant: MakeAssistant, emulator: Emulator
) -> None:
    assistant = make_assistant()
    thread_id = assistant.ask("first").thread_id
    emulator.stats.reset()
    result = assistant.ask("cut at once [[stream_cut:0]]", thread_id=thread_id)
    assert "turn 2" in result.text
    counts = requests(emulator)
    assert counts["POST /v1/threads/{thread_id}/runs"] == 1 and counts["GET /v1/threads/{thread_id}/runs"] == 1


def test_answer_survives_a_failed_history_listing(make_assistant: MakeAssistant, emulator: Emulator) -> None:
    """The continued thread's answer arrived; the GET for ``messages`` failing must not lose it."""
    assistant = make_assistant(max_retries=0)
    thread_id = assistant.ask("first").thread_id
    emulator.faults.add(r"^GET /v1/threads/\{thread_id\}/messages$", 500, count=1)
    result = assistant.ask("second", thread_id=thread_id)
    assert "turn 2" in result.text
    assert [(m.role, m.content) for m in result.messages] == [("user", "second"), ("assistant", result.text)]
