"""The engine against a hostile server (tests/hostile.py): real sockets on 127.0.0.1, the real
openai SDK, both backends where the case applies.

Each test is one thing a server can do to us — never answer, trickle its headers, send bytes
that are not UTF-8, HTML, nothing, a list, half a body, 50 MB, an answer nested 5,000 deep, our
own key back, 429 with a retry-after past the deadline, the 404s of a wrong base_url or a
server without the Assistants API — and the promise that must hold: a deadline that holds, an
error of the exception tree that says what came back and what to do, never the key.

Every ask runs in a thread joined with a timeout (:func:`bounded`), so a case the engine does
not handle yet fails in seconds instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hostile import (
    CONVERSATION_ID,
    Handler,
    HostileServer,
    Request,
    assistants_api,
    assistants_run,
    black_hole,
    echo_key_401,
    hostile_server_fixture,  # noqa: F401  (the hostile_server fixture)
    huge_body,
    invalid_url_404,
    json_reply,
    rate_limited,
    reply,
    responses_api,
    responses_response,
    slow_headers,
    sse,
    sse_frame,
    truncated,
)

from keep_openaiassistant import Assistant, Settings, errors

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
ASSISTANT_ID = "asst_hostile"
PROMPT = "Disk full on db-1: what now?"
BACKENDS = pytest.mark.parametrize("api", ["assistants", "responses"])
#: What a deadline may overshoot by: the purpose of these tests, not a tolerance to tighten.
SLACK = 1.5
#: How long any one ask may take before the test calls it hung.
HANG_LIMIT = 20.0
#: max_wait_time for the cases that are not about the deadline.
WAIT = 10.0
#: The CLI test's budget: a Python start-up (with Keep's import) and one ask.
CLI_LIMIT = 60.0
REPO = Path(__file__).resolve().parents[1]

LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head>"
    '<body><form action="/login" method="post"><input name="user"></form></body></html>'
)
#: A JSON-looking body whose bytes are not UTF-8.
GARBAGE = b'{"id": "run_hostile", "object": "thread.run", "status": "\xff\xfe\xfd\xc3("}'
NOT_UTF8 = b"\xff\xfe\xfd\xc3("

SILENT = re.compile(r"server\b[^.]*\b(?:sent no|did not|didn't|never) (?:answer|repl)", re.IGNORECASE)
EIGHT_SECONDS = re.compile(r"(?<![\d.])8(?:\.0+)?\s*(?:s|sec|secs|seconds)\b")
MIGRATION = re.compile(r"api: responses")
#: Two full stops that are not an ellipsis, at the end or before a space ("'asst_nope'.. What").
DOUBLE_STOP = re.compile(r"(?<!\.)\.\.(?!\.)(?:\s|$)")


# -- harness -------------------------------------------------------------------------------


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None
    elapsed: float = 0.0
    requests: tuple[str, ...] = ()

    def describe(self) -> str:
        got = (
            f"{type(self.error).__module__}.{type(self.error).__name__}: {str(self.error)[:500]}"
            if self.error is not None
            else f"returned {self.value!r:.200}"
        )
        return f"{got} — after {self.elapsed:.2f} s; requests: {list(self.requests[:10])}"


def bounded(server: HostileServer, fn: Callable[[], Any], limit: float = HANG_LIMIT) -> Outcome:
    """Run ``fn`` in a thread; its outcome and time, or fail the test if it is still running at ``limit``."""
    outcome = Outcome()

    def target() -> None:
        started = time.monotonic()
        try:
            outcome.value = fn()
        except BaseException as exc:
            outcome.error = exc
        finally:
            outcome.elapsed = time.monotonic() - started

    thread = threading.Thread(target=target, name="hostile-ask", daemon=True)
    thread.start()
    thread.join(limit)
    outcome.requests = tuple(server.requests)
    if thread.is_alive():
        pytest.fail(f"hung: no outcome after {limit:g} s; requests: {list(outcome.requests[:10])}")
    return outcome


def expect_error(outcome: Outcome, cls: type[errors.AssistantError] = errors.AssistantError) -> errors.AssistantError:
    """The outcome's error, which must be a ``cls`` and a class of the tree below its root."""
    error = outcome.error
    assert isinstance(error, cls), f"expected {cls.__name__}, got {outcome.describe()}"
    assert type(error) is not errors.AssistantError, f"unclassified error: {outcome.describe()}"
    assert_clean(error.message)
    return error


def assert_clean(*messages: str) -> None:
    """What no user-facing message may hold: a double full stop, "this is a bug", the key."""
    for message in messages:
        assert not DOUBLE_STOP.search(message), f"double full stop in: {message}"
        assert "this is a bug" not in message.lower(), message
        assert not leaks(message), f"the key leaked into: {message}"


def leaks(text: str, key: str = KEY, window: int = 20) -> bool:
    """True when ``text`` holds ``key`` or any ``window``-character piece of it."""
    return any(key[i : i + window] in text for i in range(len(key) - window + 1))


def reasons(access: dict[str, bool | str]) -> list[str]:
    """check_access()'s reasons (the scopes that are not True), each checked clean."""
    found = [value for value in access.values() if value is not True]
    assert all(isinstance(r, str) and r for r in found), access
    assert_clean(*(str(r) for r in found))
    return [str(r) for r in found]


@pytest.fixture
def make_engine(hostile_server: HostileServer) -> Iterator[Callable[..., Assistant]]:
    """``make_engine("responses", base_url=...)``: an engine on the hostile server, the SDK's defaults."""
    made: list[Assistant] = []

    def make(api: str, **overrides: Any) -> Assistant:
        values: dict[str, Any] = {"api_key": KEY, "base_url": hostile_server.base_url, "api": api}
        if api == "assistants":
            values["assistant_id"] = ASSISTANT_ID
        values.update(overrides)
        engine = Assistant(Settings(**values))
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


def ask(server: HostileServer, engine: Assistant, max_wait_time: float = WAIT, **params: Any) -> Outcome:
    return bounded(server, lambda: engine.ask(PROMPT, max_wait_time=max_wait_time, **params))


def by_stream(streamed: Handler, plain: Handler) -> Handler:
    """``streamed`` for a request that asks for a stream, ``plain`` for the others."""

    def handle(request: Request, conn: Any) -> None:
        (streamed if request.wants_stream else plain)(request, conn)

    return handle


# -- the server itself ---------------------------------------------------------------------


def test_the_hostile_server_closes_a_black_holed_connection_at_teardown() -> None:
    server = HostileServer().start()
    server.route("*", "*", black_hole())
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=2)
    try:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for _ in range(100):
            if server.requests:
                break
            time.sleep(0.02)
        assert server.requests == ["GET /v1/models"]
        started = time.monotonic()
        server.close()  # raises if a thread is left running
        assert sock.recv(1) == b"", "the black-holed connection is closed"
        assert time.monotonic() - started < 2
    finally:
        sock.close()


# -- deadlines -----------------------------------------------------------------------------


@BACKENDS
def test_a_black_hole_fails_at_the_deadline(
    api: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    hostile_server.route("*", "*", black_hole())
    outcome = ask(hostile_server, make_engine(api), max_wait_time=3)
    error = expect_error(outcome, errors.DeadlineExceededError)
    assert outcome.elapsed < 3 + SLACK, outcome.describe()
    assert SILENT.search(error.message), error.message


@BACKENDS
def test_slow_headers_fail_at_the_deadline(
    api: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    hostile_server.route("*", "*", slow_headers(0.5))
    outcome = ask(hostile_server, make_engine(api), max_wait_time=3)
    error = expect_error(outcome, errors.DeadlineExceededError)
    assert outcome.elapsed < 3 + SLACK, outcome.describe()
    assert SILENT.search(error.message), error.message


@BACKENDS
def test_the_access_check_against_a_black_hole_ends_within_its_budget(
    api: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    hostile_server.route("*", "*", black_hole())
    engine = make_engine(api)
    outcome = bounded(hostile_server, engine.check_access)
    assert outcome.error is None, outcome.describe()
    assert outcome.elapsed < 12, outcome.describe()
    access = outcome.value
    assert access and all(value is not True for value in access.values()), access
    reasons(access)


@BACKENDS
def test_a_retry_after_past_the_deadline_fails_at_once_with_the_servers_hint(
    api: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    hostile_server.route("*", "*", rate_limited(retry_after="8"))
    outcome = ask(hostile_server, make_engine(api), max_wait_time=3)
    error = expect_error(outcome, errors.RateLimitError)
    assert outcome.elapsed < 3 + SLACK, outcome.describe()
    assert error.retry_after == 8.0, outcome.describe()
    assert EIGHT_SECONDS.search(error.message), error.message


# -- bytes that are not the API's ----------------------------------------------------------


def _garbage_stream(api: str, where: str) -> Handler:
    """An SSE stream whose first event, or an event after the run started, is not UTF-8."""
    bad = sse_frame("thread.message.delta" if api == "assistants" else None, b'{"delta": "' + NOT_UTF8 + b'"}')
    if where == "first-event":
        return sse([bad])
    if api == "assistants":
        thread = {"id": "thread_hostile", "object": "thread", "created_at": 0, "metadata": {}}
        started = [
            sse_frame("thread.created", thread),
            sse_frame("thread.run.created", assistants_run("in_progress", assistant_id=ASSISTANT_ID)),
        ]
    else:
        created = {"type": "response.created", "sequence_number": 0, "response": responses_response("in_progress", "")}
        started = [sse_frame("response.created", created)]
    return sse([*started, bad])


@BACKENDS
@pytest.mark.parametrize("where", ["first-event", "mid-stream"])
def test_invalid_utf8_in_the_stream_is_a_clear_error(
    api: str, where: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    """The stream turns to garbage, and so does every reply after it (polls, resumes, cancels)."""
    stream = _garbage_stream(api, where)
    if api == "responses":
        hostile_server.route(
            "POST", "/v1/conversations", json_reply(200, {"id": CONVERSATION_ID, "object": "conversation"})
        )
    hostile_server.route("*", "*", by_stream(stream, reply(200, GARBAGE)))
    outcome = ask(hostile_server, make_engine(api))
    expect_error(outcome)


NOT_THE_API: dict[str, tuple[Handler, str]] = {
    "html": (reply(200, LOGIN_PAGE, "text/html; charset=utf-8"), r"HTML"),
    "text": (reply(200, "Service Unavailable", "text/plain"), r"not JSON"),
    "empty": (reply(200, b"", "application/json"), r"empty"),
    "list": (json_reply(200, [{"id": "run_1", "status": "queued"}]), r"\blist\b|\barray\b"),
    "string": (json_reply(200, "ok"), r"\bstr(?:ing)?\b"),
}


@BACKENDS
@pytest.mark.parametrize("kind", list(NOT_THE_API))
def test_a_body_that_is_not_the_apis_is_a_malformed_response_error(
    api: str, kind: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    handler, says = NOT_THE_API[kind]
    hostile_server.route("*", "*", handler)
    outcome = ask(hostile_server, make_engine(api))
    error = expect_error(outcome, errors.MalformedResponseError)
    assert re.search(says, error.message), error.message
    assert "base_url" in error.message, error.message


NOT_AN_API: dict[str, Handler] = {
    "html": reply(200, LOGIN_PAGE, "text/html; charset=utf-8"),
    "text": reply(200, "OK", "text/plain"),
    "list": json_reply(200, []),
    "foreign-object": json_reply(200, {"status": "ok", "version": "2.4.1"}),
}


@BACKENDS
@pytest.mark.parametrize("kind", list(NOT_AN_API))
def test_a_server_that_does_not_speak_the_api_fails_the_access_check(
    api: str, kind: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    hostile_server.route("*", "*", NOT_AN_API[kind])
    outcome = bounded(hostile_server, make_engine(api).check_access)
    assert outcome.error is None, outcome.describe()
    access = outcome.value
    assert access.get("authenticated") is not True, access
    assert all(value is not True for value in access.values()), access
    reasons(access)


@BACKENDS
@pytest.mark.parametrize("what", ["json", "sse"])
def test_a_truncated_body_is_a_clear_error(
    api: str, what: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    """Every JSON reply is cut mid-body; with ``sse`` the stream is cut mid-event as well."""
    body = json.dumps({**assistants_run("queued", assistant_id=ASSISTANT_ID), "pad": "x" * 2000}).encode()
    cut_json = truncated(body, sent=len(body) // 2)
    if what == "sse":
        if api == "assistants":
            thread = {"id": "thread_hostile", "object": "thread", "created_at": 0, "metadata": {}}
            frames = [
                sse_frame("thread.created", thread),
                sse_frame("thread.run.created", assistants_run("in_progress", assistant_id=ASSISTANT_ID)),
                sse_frame("thread.message.delta", {"id": "msg_hostile", "delta": {"content": []}}),
            ]
        else:
            conversation = {"id": CONVERSATION_ID, "object": "conversation"}
            hostile_server.route("POST", "/v1/conversations", json_reply(200, conversation))
            response = responses_response("in_progress", "")
            frames = [
                sse_frame("response.created", {"type": "response.created", "sequence_number": 0, "response": response}),
                sse_frame("response.in_progress", {"type": "response.in_progress", "sequence_number": 1}),
            ]
        hostile_server.route("*", "*", by_stream(sse(frames, cut=True), cut_json))
    else:
        hostile_server.route("*", "*", cut_json)
    outcome = ask(hostile_server, make_engine(api))
    expect_error(outcome)


@BACKENDS
def test_a_50_mb_body_is_a_clear_error(
    api: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    hostile_server.route("*", "*", reply(200, huge_body(50)))
    outcome = ask(hostile_server, make_engine(api))
    expect_error(outcome)


@BACKENDS
@pytest.mark.parametrize("shape", ["bare", "in-prose"])
def test_a_deeply_nested_json_answer_is_returned_or_a_clear_error(
    api: str, shape: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    """The API's replies are valid; the assistant's answer is JSON nested 5,000 levels deep."""
    deep = "[" * 5000 + "1" + "]" * 5000 if shape == "bare" else '{"a": ' * 5000 + "1" + "}" * 5000
    answer = deep if shape == "bare" else f"Here is the data you asked for: {deep} That is all."
    if api == "assistants":
        assistants_api(hostile_server, answer, assistant_id=ASSISTANT_ID)
    else:
        responses_api(hostile_server, answer)
    outcome = ask(hostile_server, make_engine(api))
    if outcome.error is not None:
        expect_error(outcome)
        return
    result = outcome.value
    assert result.text == answer, outcome.describe()
    if isinstance(result.response, str):
        assert result.response == answer, outcome.describe()
    else:  # parsed: never compared here, a comparison 5,000 deep recurses
        assert isinstance(result.response, list | dict), outcome.describe()
    result.to_dict()


# -- the key -------------------------------------------------------------------------------


@BACKENDS
def test_an_echoed_key_never_reaches_the_error(
    api: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    hostile_server.route("*", "*", echo_key_401())
    outcome = ask(hostile_server, make_engine(api))
    error = expect_error(outcome, errors.AuthenticationError)
    assert not leaks(str(error)), str(error)
    assert not leaks(repr(error)), repr(error)


@BACKENDS
def test_an_echoed_key_never_reaches_the_access_check(
    api: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    hostile_server.route("*", "*", echo_key_401())
    outcome = bounded(hostile_server, make_engine(api).check_access)
    assert outcome.error is None, outcome.describe()
    assert reasons(outcome.value), outcome.value  # refused, and said so without the key
    assert not leaks(repr(outcome.value)), outcome.value


@BACKENDS
@pytest.mark.parametrize("via", ["engine", "auto"])
def test_an_echoed_key_never_reaches_the_cli(api: str, via: str, hostile_server: HostileServer) -> None:
    """``--via auto`` goes through Keep's provider class when Keep is importable."""
    hostile_server.route("*", "*", echo_key_401())
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and k != "ASSISTANT_ID"}
    env.update(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=hostile_server.base_url)
    if api == "assistants":
        env["ASSISTANT_ID"] = ASSISTANT_ID
    argv = [
        sys.executable,
        "-m",
        "keep_openaiassistant",
        "ask",
        PROMPT,
        "--api",
        api,
        "--max-wait-time",
        str(WAIT),
        "--via",
        via,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=CLI_LIMIT, check=False)
    assert hostile_server.requests, "the CLI asked the hostile server"
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert proc.stderr.startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not leaks(proc.stderr), proc.stderr
    assert not leaks(proc.stdout), proc.stdout
    assert_clean(proc.stderr.strip())


# -- advice that matches the cause ---------------------------------------------------------


@BACKENDS
def test_a_base_url_without_v1_is_told_to_add_v1(
    api: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    hostile_server.route("*", "*", invalid_url_404())
    outcome = ask(hostile_server, make_engine(api, base_url=hostile_server.root_url))
    error = expect_error(outcome, errors.NotFoundError)
    assert "/v1" in error.message and "base_url" in error.message, error.message
    assert "check the id" not in error.message, error.message


@BACKENDS
def test_the_access_check_on_a_base_url_without_v1_says_add_v1(
    api: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    hostile_server.route("*", "*", invalid_url_404())
    outcome = bounded(hostile_server, make_engine(api, base_url=hostile_server.root_url).check_access)
    assert outcome.error is None, outcome.describe()
    found = reasons(outcome.value)
    assert found, outcome.value
    for reason in found:
        assert "/v1" in reason and "check the id" not in reason, reason


ROUTE_404: dict[str, Handler] = {
    "plain": reply(404, "404 page not found", "text/plain; charset=utf-8"),
    "fastapi": json_reply(404, {"detail": "Not Found"}),
}


@pytest.mark.parametrize("shape", list(ROUTE_404))
def test_a_route_404_on_a_non_openai_host_gives_the_migration_advice(
    shape: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    hostile_server.route("*", "*", ROUTE_404[shape])
    outcome = ask(hostile_server, make_engine("assistants"))
    error = expect_error(outcome, errors.NotFoundError)
    assert MIGRATION.search(error.message), error.message
    assert "check the id" not in error.message, error.message


@pytest.mark.parametrize("shape", list(ROUTE_404))
def test_the_access_check_on_a_route_404_gives_the_migration_advice(
    shape: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    hostile_server.route("*", "*", ROUTE_404[shape])
    outcome = bounded(hostile_server, make_engine("assistants").check_access)
    assert outcome.error is None, outcome.describe()
    assistant = outcome.value.get("assistant")
    assert isinstance(assistant, str) and MIGRATION.search(assistant), outcome.value
    reasons(outcome.value)


NEW_THREAD_CREATES: dict[str, tuple[str, dict[str, Any], str, type[errors.AssistantError]]] = {
    # id: (api, ask parameters, content type of the non-JSON 200, the error expected)
    "assistants-create-and-run": ("assistants", {}, "text/plain", errors.MalformedResponseError),
    "assistants-create-thread": (
        "assistants",
        {"additional_instructions": "Answer briefly."},
        "text/plain",
        errors.MalformedResponseError,
    ),
    "assistants-create-and-run-as-event-stream": ("assistants", {}, "text/event-stream", errors.AssistantError),
    "responses-create-conversation": ("responses", {}, "text/plain", errors.MalformedResponseError),
}


@pytest.mark.parametrize("case", list(NEW_THREAD_CREATES))
def test_a_non_json_reply_to_creating_a_thread_does_not_speak_of_a_run(
    case: str, hostile_server: HostileServer, make_engine: Callable[..., Assistant]
) -> None:
    """None was created, so no run "expires after 10 minutes"."""
    api, params, content_type, expected = NEW_THREAD_CREATES[case]
    hostile_server.route("*", "*", reply(200, "Service Unavailable\n", content_type))
    outcome = ask(hostile_server, make_engine(api), **params)
    error = expect_error(outcome, expected)
    assert not re.search(r"10 minutes|expires?\b", error.message), error.message
