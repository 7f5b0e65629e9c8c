"""The emulator answers, and the engine asks, in the shapes OpenAI's own OpenAPI spec declares.

The emulator is the ground every other test stands on, so a wrong shape there (a missing
``last_error``, a stream event OpenAI never sends) would be copied faithfully into the engine and
only show up against the real service. Here the server's hooks record every JSON reply, every SSE
event and every request body; each is checked against ``tests/spec/openapi.yaml`` by
:mod:`openapi_check`. A failure lists each departure once, with the field and the spec's rule.

Emulator replies are driven through raw HTTP (no SDK in between), so what is checked is exactly
what went over the wire, and error bodies can be provoked on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openapi_check import OpenAPISpec, Problem, sequence_problems, status_invariants, undeclared_function_calls
from wire_recorder import Event, Exchange, Raw, Recorder, wait_for

from keep_openaiassistant.emulator import DEFAULT_ASSISTANT_ID, Emulator

RUN_TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete", "requires_action"}
RESPONSE_TERMINAL = {"completed", "failed", "cancelled", "incomplete"}


# ---------------------------------------------------------------------------------------------
# Checking what was recorded


class _Problems:
    """Problems grouped: the same departure on 30 run objects is reported once, with a count."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str, str], tuple[Problem, int]] = {}

    def add(self, key: str, problems: list[Problem]) -> None:
        for p in problems:
            # Long messages quote the whole instance, which differs each time: group those by rule.
            k = (key, p.field, p.message if len(p.message) < 120 else p.expected)
            first, n = self.seen.get(k, (p, 0))
            self.seen[k] = (first, n + 1)

    def report(self) -> str:
        lines = []
        for (_, _, _), (p, n) in sorted(self.seen.items(), key=lambda kv: kv[0]):
            lines.append(f"{p}" + (f"\n    ({n} times)" if n > 1 else ""))
        return "\n".join(lines)

    def __bool__(self) -> bool:
        return bool(self.seen)


def _template(spec: OpenAPISpec, method: str, path: str) -> str:
    op = spec.match(method, path)
    return f"{method} {op.template if op else path}"


def _check_replies(found: _Problems, spec: OpenAPISpec, replies: list[Exchange], events: list[Event]) -> None:
    for ex in replies:
        where = _template(spec, ex.method, ex.path)
        found.add(where, spec.check_response(ex.method, ex.path, ex.status, ex.reply))
        found.add(where, status_invariants(ex.reply, f"{ex.method} {ex.path} -> {ex.status}"))
    for ev in events:
        found.add(f"SSE {ev.name}", spec.check_event(ev.name, ev.data))
        payload = ev.data.get("response") if isinstance(ev.data, dict) and "sequence_number" in ev.data else ev.data
        found.add(f"SSE {ev.name}", status_invariants(payload, f"SSE {ev.name}"))
    found.add("SSE", sequence_problems((ev.stream, ev.data) for ev in events))


def assert_replies_conform(recorder: Recorder, spec: OpenAPISpec, *, min_replies: int = 1, min_events: int = 0) -> None:
    """Every JSON reply and SSE event the emulator sent fits the spec."""
    found = _Problems()
    replies = recorder.api_exchanges()
    _check_replies(found, spec, replies, recorder.events)
    assert len(replies) >= min_replies, f"only {len(replies)} JSON replies were recorded"
    assert len(recorder.events) >= min_events, f"only {len(recorder.events)} SSE events were recorded"
    assert not found, "the emulator departs from OpenAI's OpenAPI spec:\n" + found.report()


@pytest.fixture(scope="session")
def spec() -> OpenAPISpec:
    return OpenAPISpec.default()


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """One emulator for the module (overrides conftest's per-test one): every test makes its own
    objects, and stopping a server costs up to half a second each time."""
    with Emulator(model_time=0.05) as emu:
        yield emu


@pytest.fixture
def recorder(emulator: Emulator) -> Recorder:
    return Recorder(emulator)


@pytest.fixture
def raw(emulator: Emulator) -> Raw:
    return Raw(emulator.base_url)


# ---------------------------------------------------------------------------------------------
# The emulator's Assistants API v2


ASSISTANT_SCENARIOS = [
    "plain",
    "[[json]]",
    "[[fenced_json]]",
    "[[multipart]]",
    "[[citations]]",
    "[[file]]",
    "[[failed]]",
    "[[failed:rate_limit_exceeded]]",
    "[[failed:invalid_prompt]]",
    "[[incomplete]]",
    "[[incomplete:max_prompt_tokens]]",
    "[[expired]]",
    "[[cancelled]]",
    "[[empty]]",
    "[[prose_json]] [[multipart]] [[citations]]",
]


# The functions the scenarios' [[tool:NAME]] tags call: a model only calls declared functions.
_FUNCTION_PARAMETERS = {
    "type": "object",
    "properties": {"host": {"type": "string"}},
    "required": ["host"],
    "additionalProperties": False,
}
ASSISTANT_FUNCTIONS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} of a host.",
            "parameters": _FUNCTION_PARAMETERS,
            "strict": True,
        },
    }
    for name in ("get_metrics", "get_logs")
]


def _run_and_read(raw: Raw, thread_id: str, run: dict[str, Any]) -> dict[str, Any]:
    """Poll a run to its end, then read everything a client reads about it."""
    run = wait_for(lambda: raw.ok("GET", f"/threads/{thread_id}/runs/{run['id']}"), RUN_TERMINAL)
    messages = raw.ok("GET", f"/threads/{thread_id}/messages", query={"order": "asc", "run_id": run["id"]})
    for message in messages["data"]:
        raw.ok("GET", f"/threads/{thread_id}/messages/{message['id']}")
    steps = raw.ok("GET", f"/threads/{thread_id}/runs/{run['id']}/steps")
    for step in steps["data"]:
        raw.ok("GET", f"/threads/{thread_id}/runs/{run['id']}/steps/{step['id']}")
    raw.ok("GET", f"/threads/{thread_id}/runs", query={"limit": 5})
    return run


def test_assistant_and_thread_objects_conform(raw: Raw, recorder: Recorder, spec: OpenAPISpec) -> None:
    asst = raw.ok(
        "POST",
        "/assistants",
        {
            "model": "gpt-5.4-mini",
            "name": "triage",
            "instructions": "Be brief.",
            "tools": [{"type": "code_interpreter"}],
            "metadata": {"team": "sre"},
        },
    )
    raw.ok("GET", f"/assistants/{asst['id']}")
    raw.ok("POST", f"/assistants/{asst['id']}", {"description": "on-call"})
    raw.ok("GET", "/assistants", query={"limit": 2, "order": "asc"})
    raw.ok("GET", f"/assistants/{DEFAULT_ASSISTANT_ID}")
    thread = raw.ok(
        "POST",
        "/threads",
        {"messages": [{"role": "user", "content": "Disk full on db-1"}], "metadata": {"alert": "a1"}},
    )
    raw.ok("GET", f"/threads/{thread['id']}")
    raw.ok("POST", f"/threads/{thread['id']}", {"metadata": {"alert": "a2"}})
    message = raw.ok(
        "POST",
        f"/threads/{thread['id']}/messages",
        {"role": "user", "content": [{"type": "text", "text": "And the replica?"}]},
    )
    raw.ok("GET", f"/threads/{thread['id']}/messages/{message['id']}")
    raw.ok("POST", f"/threads/{thread['id']}/messages/{message['id']}", {"metadata": {"seen": "yes"}})
    raw.ok("GET", f"/threads/{thread['id']}/messages", query={"order": "desc", "limit": 1})
    raw.ok("DELETE", f"/threads/{thread['id']}/messages/{message['id']}")
    run = raw.ok("POST", f"/threads/{thread['id']}/runs", {"assistant_id": asst["id"]})
    raw.ok("POST", f"/threads/{thread['id']}/runs/{run['id']}", {"metadata": {"alert": "a1"}})
    wait_for(lambda: raw.ok("GET", f"/threads/{thread['id']}/runs/{run['id']}"), RUN_TERMINAL)
    raw.ok("DELETE", f"/threads/{thread['id']}")
    raw.ok("DELETE", f"/assistants/{asst['id']}")
    models = raw.ok("GET", "/models")
    raw.ok("GET", f"/models/{models['data'][0]['id']}")
    assert_replies_conform(recorder, spec, min_replies=19)


def test_every_emulator_route_is_an_openai_operation(emulator: Emulator, spec: OpenAPISpec) -> None:
    """The emulator invents no endpoint (its own /_emulator controls aside)."""
    routes = [key for _, _, key, _ in emulator.router._routes]
    api = [key.split(" ", 1) for key in routes if " /v1/" in key]
    assert len(api) >= 30, routes
    invented = [f"{m} {t}" for m, t in api if spec.match(m, re.sub(r"\{(\w+)\}", r"\1_x", t)) is None]
    assert not invented, f"routes OpenAI's spec does not have: {invented}"


def test_assistants_error_bodies_conform(raw: Raw, recorder: Recorder, spec: OpenAPISpec) -> None:
    """Every error the emulator can give is OpenAI's envelope {"error": {message, type, param, code}}."""
    statuses = [
        raw.call("GET", "/threads/thread_missing")[0],
        raw.call("POST", "/threads/runs", {"assistant_id": "asst_missing"})[0],
        raw.call("POST", "/threads", {}, beta=False)[0],
        raw.call("GET", f"/assistants/{DEFAULT_ASSISTANT_ID}", key="bad-key")[0],
        raw.call("POST", "/threads", {"messages": [{"role": "user", "content": "x" * 256_001}]})[0],
        raw.call("GET", "/threads/thread_missing/runs/run_missing")[0],
        raw.call("POST", "/threads/thread_missing/runs/run_missing/cancel")[0],
    ]
    run = raw.ok(
        "POST",
        "/threads/runs",
        {
            "assistant_id": DEFAULT_ASSISTANT_ID,
            "thread": {"messages": [{"role": "user", "content": "slow [[delay:5]]"}]},
        },
    )
    statuses.append(raw.call("POST", f"/threads/{run['thread_id']}/runs", {"assistant_id": DEFAULT_ASSISTANT_ID})[0])
    statuses.append(raw.call("POST", f"/threads/{run['thread_id']}/messages", {"role": "user", "content": "more"})[0])
    raw.ok("POST", f"/threads/{run['thread_id']}/runs/{run['id']}/cancel")
    assert all(s >= 400 for s in statuses), statuses
    assert_replies_conform(recorder, spec, min_replies=len(statuses))


@pytest.mark.parametrize("prompt", ASSISTANT_SCENARIOS)
def test_assistants_run_replies_conform(prompt: str, raw: Raw, recorder: Recorder, spec: OpenAPISpec) -> None:
    run = raw.ok(
        "POST",
        "/threads/runs",
        {
            "assistant_id": DEFAULT_ASSISTANT_ID,
            "thread": {"messages": [{"role": "user", "content": f"Disk full on db-1 {prompt}"}]},
        },
    )
    run = _run_and_read(raw, run["thread_id"], run)
    # A second turn on the same thread, as the engine's continued conversations do.
    again = raw.ok(
        "POST",
        f"/threads/{run['thread_id']}/runs",
        {
            "assistant_id": DEFAULT_ASSISTANT_ID,
            "additional_messages": [{"role": "user", "content": f"And now? {prompt}"}],
            "additional_instructions": "Short.",
        },
    )
    _run_and_read(raw, run["thread_id"], again)
    assert_replies_conform(recorder, spec, min_replies=8)


def test_assistants_requires_action_and_tool_outputs_conform(raw: Raw, recorder: Recorder, spec: OpenAPISpec) -> None:
    run = raw.ok(
        "POST",
        "/threads/runs",
        {
            "assistant_id": DEFAULT_ASSISTANT_ID,
            "tools": ASSISTANT_FUNCTIONS,
            "thread": {"messages": [{"role": "user", "content": "CPU high [[tool:get_metrics]]"}]},
        },
    )
    run = _run_and_read(raw, run["thread_id"], run)
    assert run["status"] == "requires_action", run
    calls = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    outputs = [{"tool_call_id": c["id"], "output": '{"cpu": 97}'} for c in calls]
    run = raw.ok("POST", f"/threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs", {"tool_outputs": outputs})
    run = _run_and_read(raw, run["thread_id"], run)
    assert run["status"] == "completed", run
    assert_replies_conform(recorder, spec, min_replies=8)


def test_assistants_cancel_replies_conform(raw: Raw, recorder: Recorder, spec: OpenAPISpec) -> None:
    run = raw.ok(
        "POST",
        "/threads/runs",
        {
            "assistant_id": DEFAULT_ASSISTANT_ID,
            "thread": {"messages": [{"role": "user", "content": "slow [[delay:5]]"}]},
        },
    )
    raw.ok("POST", f"/threads/{run['thread_id']}/runs/{run['id']}/cancel")
    run = _run_and_read(raw, run["thread_id"], run)
    assert run["status"] == "cancelled", run
    assert_replies_conform(recorder, spec, min_replies=4)


STREAM_SCENARIOS = [
    "plain",
    "[[citations]]",
    "[[file]]",
    "[[multipart]]",
    "[[failed]]",
    "[[incomplete]]",
    "[[expired]]",
    "[[cancelled]]",
    "[[tool:get_metrics]]",
]


@pytest.mark.parametrize("prompt", STREAM_SCENARIOS)
def test_assistants_stream_events_conform(prompt: str, raw: Raw, recorder: Recorder, spec: OpenAPISpec) -> None:
    events = raw.stream(
        "POST",
        "/threads/runs",
        {
            "assistant_id": DEFAULT_ASSISTANT_ID,
            "stream": True,
            "tools": ASSISTANT_FUNCTIONS,
            "thread": {"messages": [{"role": "user", "content": f"Disk full {prompt}"}]},
        },
    )
    run = next(d for n, d in events if n == "thread.run.created")
    if any(n == "thread.run.requires_action" for n, _ in events):
        calls = [d for n, d in events if n == "thread.run.requires_action"][-1]["required_action"][
            "submit_tool_outputs"
        ]["tool_calls"]
        events += raw.stream(
            "POST",
            f"/threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs",
            {"stream": True, "tool_outputs": [{"tool_call_id": c["id"], "output": "ok"} for c in calls]},
        )
    else:
        events += raw.stream(
            "POST",
            f"/threads/{run['thread_id']}/runs",
            {
                "assistant_id": DEFAULT_ASSISTANT_ID,
                "stream": True,
                "tools": ASSISTANT_FUNCTIONS,
                "additional_messages": [{"role": "user", "content": f"again {prompt}"}],
            },
        )
    assert events[-1] == ("done", "[DONE]"), events[-1]
    assert_replies_conform(recorder, spec, min_replies=0, min_events=len(events))


# ---------------------------------------------------------------------------------------------
# The emulator's Responses and Conversations APIs


RESPONSE_SCENARIOS = [
    "plain",
    "[[json]]",
    "[[multipart]]",
    "[[citations]]",
    "[[file]]",
    "[[failed]]",
    "[[failed:rate_limit_exceeded]]",
    "[[failed:invalid_prompt]]",
    "[[incomplete]]",
    "[[incomplete:content_filter]]",
    "[[incomplete:max_prompt_tokens]]",
    "[[cancelled]]",
    "[[expired]]",
    "[[empty]]",
    "[[tool:get_metrics]]",
    "[[tool:get_metrics]] [[tool:get_logs]]",
]
RESPONSE_FUNCTIONS = [
    {
        "type": "function",
        "name": name,
        "description": f"{name} of a host.",
        "parameters": _FUNCTION_PARAMETERS,
        "strict": True,
    }
    for name in ("get_metrics", "get_logs")
]


def _response_body(prompt: str, **extra: Any) -> dict[str, Any]:
    tools = [
        *RESPONSE_FUNCTIONS,
        {"type": "file_search", "vector_store_ids": ["vs_runbooks"]},
        {"type": "code_interpreter", "container": {"type": "auto"}},
    ]
    return {
        "model": "gpt-5.4-mini",
        "instructions": "You are the on-call assistant.",
        "input": f"Disk full on db-1 {prompt}",
        "tools": tools,
        "include": ["file_search_call.results"],
        **extra,
    }


@pytest.mark.parametrize("prompt", RESPONSE_SCENARIOS)
def test_responses_replies_conform(prompt: str, raw: Raw, recorder: Recorder, spec: OpenAPISpec) -> None:
    conv = raw.ok("POST", "/conversations", {"metadata": {"alert": "a1"}})
    resp = raw.ok("POST", "/responses", _response_body(prompt, conversation=conv["id"]))
    raw.ok("GET", f"/responses/{resp['id']}")
    raw.ok("GET", f"/responses/{resp['id']}/input_items", query={"order": "asc"})
    calls = [item for item in resp.get("output", []) if item.get("type") == "function_call"]
    if calls:
        outputs = [{"type": "function_call_output", "call_id": c["call_id"], "output": '{"cpu": 97}'} for c in calls]
        resp = raw.ok(
            "POST",
            "/responses",
            {"model": "gpt-5.4-mini", "conversation": conv["id"], "input": outputs, "tools": RESPONSE_FUNCTIONS},
        )
        assert resp["status"] == "completed", resp
    # previous_response_id chaining, the other way to continue.
    raw.ok(
        "POST",
        "/responses",
        {
            "model": "gpt-5.4-mini",
            "previous_response_id": resp["id"],
            "input": "And now? Answer in JSON.",
            "text": {"format": {"type": "json_object"}},
        },
    )
    raw.ok("GET", f"/conversations/{conv['id']}/items", query={"order": "asc", "limit": 50})
    assert_replies_conform(recorder, spec, min_replies=6)


@pytest.mark.parametrize(
    "prompt",
    [
        "plain",
        "[[citations]]",
        "[[file]]",
        "[[multipart]]",
        "[[failed]]",
        "[[failed:rate_limit_exceeded]]",
        "[[incomplete]]",
        "[[cancelled]]",
        "[[expired]]",
        "[[tool:get_metrics]]",
        "[[stream_cut:5]]",
    ],
)
def test_responses_stream_events_conform(prompt: str, raw: Raw, recorder: Recorder, spec: OpenAPISpec) -> None:
    events = raw.stream("POST", "/responses", _response_body(prompt, stream=True))
    assert events and events[0][0] == "response.created", events[:1]
    assert_replies_conform(recorder, spec, min_replies=0, min_events=len(events))


def test_responses_background_cancel_and_resume_conform(raw: Raw, recorder: Recorder, spec: OpenAPISpec) -> None:
    slow = raw.ok("POST", "/responses", _response_body("[[delay:5]]", background=True))
    raw.ok("GET", f"/responses/{slow['id']}")
    cancelled = raw.ok("POST", f"/responses/{slow['id']}/cancel")
    assert cancelled["status"] == "cancelled", cancelled
    quick = raw.ok("POST", "/responses", _response_body("[[citations]]", background=True))
    quick = wait_for(lambda: raw.ok("GET", f"/responses/{quick['id']}"), RESPONSE_TERMINAL)
    resumed = raw.stream("GET", f"/responses/{quick['id']}", query={"stream": "true", "starting_after": 2})
    assert resumed and resumed[0][1]["sequence_number"] == 3, resumed[:1]
    structured = {
        "type": "json_schema",
        "name": "triage",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"summary": {"type": "string"}},
            "required": ["summary"],
            "additionalProperties": False,
        },
    }
    raw.ok(
        "POST",
        "/responses",
        {
            "model": "gpt-5.4-mini",
            "input": "Disk full",
            "text": {"format": structured},
            "store": True,
            "metadata": {"alert": "a1"},
        },
    )
    assert_replies_conform(recorder, spec, min_replies=5, min_events=1)


def test_conversation_objects_conform(raw: Raw, recorder: Recorder, spec: OpenAPISpec) -> None:
    conv = raw.ok(
        "POST",
        "/conversations",
        {"items": [{"type": "message", "role": "user", "content": "Disk full on db-1"}], "metadata": {"alert": "a1"}},
    )
    raw.ok("GET", f"/conversations/{conv['id']}")
    raw.ok("POST", f"/conversations/{conv['id']}", {"metadata": {"alert": "a2"}})
    added = raw.ok(
        "POST",
        f"/conversations/{conv['id']}/items",
        {
            "items": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "And the replica?"}]}
            ]
        },
    )
    item_id = added["data"][0]["id"]
    raw.ok("GET", f"/conversations/{conv['id']}/items/{item_id}")
    raw.ok("GET", f"/conversations/{conv['id']}/items", query={"limit": 1, "order": "desc"})
    raw.ok("DELETE", f"/conversations/{conv['id']}/items/{item_id}")
    raw.ok("DELETE", f"/conversations/{conv['id']}")
    raw.ok("DELETE", "/responses/" + raw.ok("POST", "/responses", _response_body("plain"))["id"])
    assert_replies_conform(recorder, spec, min_replies=10)


def test_responses_error_bodies_conform(raw: Raw, recorder: Recorder, spec: OpenAPISpec) -> None:
    conv = raw.ok("POST", "/conversations", {})
    busy = raw.ok("POST", "/responses", _response_body("[[delay:5]]", background=True, conversation=conv["id"]))
    statuses = [
        raw.call("GET", "/responses/resp_missing")[0],
        raw.call("POST", "/responses/resp_missing/cancel")[0],
        raw.call("GET", "/conversations/conv_missing")[0],
        raw.call(
            "POST",
            "/responses",
            {"model": "gpt-5.4-mini", "input": "x", "conversation": conv["id"], "previous_response_id": busy["id"]},
        )[0],
        raw.call("POST", "/responses", {"model": "gpt-5.4-mini", "input": "x", "conversation": conv["id"]})[
            0
        ],  # conversation_locked
        raw.call("POST", "/responses", {"model": "gpt-5.4-mini", "input": "x", "tools": [{"type": "nope"}]})[0],
        raw.call("GET", "/responses/resp_missing", key="bad-key")[0],
    ]
    raw.ok("POST", f"/responses/{busy['id']}/cancel")
    assert all(s >= 400 for s in statuses), statuses
    assert_replies_conform(recorder, spec, min_replies=len(statuses))


def test_emulator_calls_only_functions_the_request_declares(raw: Raw) -> None:
    """[[tool:NAME]] calls NAME only when a function tool NAME is in force; otherwise the model answers."""
    bare = raw.ok("POST", "/responses", {"model": "gpt-5.4-mini", "input": "CPU high [[tool:get_metrics]]"})
    other = raw.ok(
        "POST",
        "/responses",
        {"model": "gpt-5.4-mini", "input": "CPU high [[tool:get_metrics]]", "tools": RESPONSE_FUNCTIONS[1:]},
    )
    declared = raw.ok(
        "POST",
        "/responses",
        {"model": "gpt-5.4-mini", "input": "CPU high [[tool:get_metrics]]", "tools": RESPONSE_FUNCTIONS},
    )
    runs = [
        # The default assistant declares get_metrics but not restart_host.
        {
            "assistant_id": DEFAULT_ASSISTANT_ID,
            "thread": {"messages": [{"role": "user", "content": "CPU high [[tool:restart_host]]"}]},
        },
        # The run's tools override the assistant's: get_metrics is not among them.
        {
            "assistant_id": DEFAULT_ASSISTANT_ID,
            "tools": ASSISTANT_FUNCTIONS[1:],
            "thread": {"messages": [{"role": "user", "content": "CPU high [[tool:get_metrics]]"}]},
        },
        {
            "assistant_id": DEFAULT_ASSISTANT_ID,
            "tools": [],
            "thread": {"messages": [{"role": "user", "content": "CPU high [[tool:get_metrics]]"}]},
        },
        {
            "assistant_id": DEFAULT_ASSISTANT_ID,
            "thread": {"messages": [{"role": "user", "content": "CPU high [[tool:get_metrics]]"}]},
        },
    ]
    ended = []
    for body in runs:
        run = raw.ok("POST", "/threads/runs", body)
        ended.append(
            wait_for(lambda run=run: raw.ok("GET", f"/threads/{run['thread_id']}/runs/{run['id']}"), RUN_TERMINAL)
        )
    problems = [p for resp in (bare, other, declared) for p in undeclared_function_calls(resp, "POST /v1/responses")]
    problems += [p for run in ended for p in undeclared_function_calls(run, "GET run")]
    assert not problems, "\n".join(map(str, problems))
    assert [r["status"] for r in (bare, other)] == ["completed", "completed"] and [
        i["type"] for i in bare["output"] + other["output"]
    ] == ["message", "message"]
    assert [i["name"] for i in declared["output"] if i["type"] == "function_call"] == ["get_metrics"]
    assert [r["status"] for r in ended] == ["completed", "completed", "completed", "requires_action"], ended
    assert [c["function"]["name"] for c in ended[3]["required_action"]["submit_tool_outputs"]["tool_calls"]] == [
        "get_metrics"
    ]


# ---------------------------------------------------------------------------------------------
# What the engine sends


def _engine_backend_landed(api: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"keep_openaiassistant.backends.{api}") is not None


def assert_requests_conform(recorder: Recorder, spec: OpenAPISpec, *, min_requests: int) -> None:
    """Every request the engine sent has a body (and query) its operation accepts, and every
    Assistants request carries ``OpenAI-Beta: assistants=v2`` (required, though undeclared);
    the replies it got fit the spec as well."""
    found = _Problems()
    sent = recorder.requests()
    for ex in sent:
        where = _template(spec, ex.method, ex.path)
        found.add(where, spec.check_request(ex.method, ex.path, ex.request_body, ex.query))
        if ex.path.startswith(("/v1/threads", "/v1/assistants")) and ex.headers.get("openai-beta") != "assistants=v2":
            found.add(
                where,
                [
                    Problem(
                        f"{ex.method} {ex.path} request",
                        "header OpenAI-Beta",
                        f"sent {ex.headers.get('openai-beta')!r}",
                        "assistants=v2 (required by the service, not declared in the spec)",
                    )
                ],
            )
    assert len(sent) >= min_requests, f"only {len(sent)} requests were recorded"
    # The replies the engine got are held to the spec too: its flows reach states (polled runs,
    # file search results) the raw tests above may not.
    _check_replies(found, spec, recorder.api_exchanges(), recorder.events)
    assert not found, (
        "the engine's requests (or the replies it got) depart from OpenAI's OpenAPI spec:\n" + found.report()
    )


TRIAGE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "triage",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"summary": {"type": "string"}, "severity": {"type": "string", "enum": ["low", "high"]}},
            "required": ["summary", "severity"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture(params=["assistants", "responses"])
def engine_api(request: pytest.FixtureRequest) -> str:
    api = str(request.param)
    if not _engine_backend_landed(api):
        pytest.skip(f"the {api} backend (keep_openaiassistant/backends/{api}.py) has not landed yet")
    return api


@pytest.fixture
def refuse_stream(emulator: Emulator, request: pytest.FixtureRequest) -> Iterator[bool]:
    """Run an engine test twice: streamed, and with the server refusing streams (so polled)."""
    refuse = bool(getattr(request, "param", False))
    emulator.config.extra["refuse_stream"] = refuse
    try:
        yield refuse
    finally:
        emulator.config.extra.pop("refuse_stream", None)


def _profile(api: str, raw: Raw) -> dict[str, Any]:
    """The assistant as a user would configure it; on the Assistants API its functions live on
    the assistant object, so one is created with the functions the scenarios call."""
    if api == "responses":
        return {
            "model": "gpt-5.4-mini",
            "instructions": "You are the on-call assistant.",
            "vector_store_ids": ("vs_runbooks",),
            "code_interpreter": True,
        }
    created = raw.ok(
        "POST",
        "/assistants",
        {
            "model": "gpt-5.4-mini",
            "name": "triage",
            "instructions": "You are the on-call assistant.",
            "tools": [*ASSISTANT_FUNCTIONS, {"type": "code_interpreter"}],
        },
    )
    return {"assistant_id": created["id"]}


@pytest.mark.parametrize("refuse_stream", [False, True], indirect=True, ids=["stream", "polling"])
def test_engine_requests_conform_new_and_continued_thread(
    engine_api: str,
    refuse_stream: bool,
    make_assistant: Callable[..., Any],
    raw: Raw,
    recorder: Recorder,
    spec: OpenAPISpec,
) -> None:
    assistant = make_assistant(engine_api, **_profile(engine_api, raw))
    first = assistant.ask("Disk full on db-1 [[json]]")
    assistant.ask(
        "And the replica?",
        thread_id=first.thread_id,
        additional_instructions="Answer briefly.",
        structured_output_format=TRIAGE_FORMAT,
    )
    assistant.ask("Summarise [[citations]]", thread_id=first.thread_id, parse_json=False)
    assert_requests_conform(recorder, spec, min_requests=3)


def test_engine_requests_conform_tool_outputs(
    engine_api: str, make_assistant: Callable[..., Any], raw: Raw, recorder: Recorder, spec: OpenAPISpec
) -> None:
    assistant = make_assistant(engine_api, **_profile(engine_api, raw))
    result = assistant.ask(
        "CPU high on web-3 [[tool:get_metrics]] [[tool:get_logs]]",
        tool_outputs={"get_metrics": {"cpu": 97}, "get_logs": "OOM killer at 09:12"},
    )
    assistant.ask(
        "Anything else? [[tool:get_metrics]]", thread_id=result.thread_id, tool_outputs={"get_metrics": "cpu 40%"}
    )
    assert_requests_conform(recorder, spec, min_requests=4)


def test_engine_requests_conform_cancel_on_deadline(
    engine_api: str, make_assistant: Callable[..., Any], raw: Raw, recorder: Recorder, spec: OpenAPISpec
) -> None:
    from keep_openaiassistant.errors import AssistantError

    assistant = make_assistant(engine_api, **_profile(engine_api, raw))
    with pytest.raises(AssistantError):
        assistant.ask("Slow analysis [[delay:5]]", max_wait_time=0.3)
    if engine_api == "assistants":
        with pytest.raises(AssistantError):  # the assistant's function, unanswered: the engine cancels the run
            assistant.ask("Needs data [[tool:get_metrics]]", max_wait_time=2)
    else:  # a response declares only the functions the step answers: with none, the model answers
        assert not assistant.ask("Needs data [[tool:get_metrics]]", max_wait_time=2).tool_calls
    sent = recorder.requests()
    assert any(ex.path.endswith("/cancel") for ex in sent), [f"{ex.method} {ex.path}" for ex in sent]
    assert_requests_conform(recorder, spec, min_requests=3)


def test_engine_requests_conform_check_access(
    engine_api: str, make_assistant: Callable[..., Any], raw: Raw, recorder: Recorder, spec: OpenAPISpec
) -> None:
    make_assistant(engine_api, **_profile(engine_api, raw)).check_access()
    assert_requests_conform(recorder, spec, min_requests=0)


# ---------------------------------------------------------------------------------------------
# The Responses options (issue 13): every request of every option, and the replies they shape

RESPONSES_OPTIONS: dict[str, Any] = {
    "reasoning_effort": "xhigh",
    "max_output_tokens": 4000,
    "max_tool_calls": 4,
    "service_tier": "flex",
    "prompt_cache_key": "oncall-triage",
    "truncation": "auto",
    "compact_threshold": 1000,
    "include": ("code_interpreter_call.outputs", "reasoning.encrypted_content", "message.output_text.logprobs"),
    "safety_identifier": "team-sre",
    "metadata": {"team": "sre", "service": "db"},
    "extra_body": {"prompt_cache_retention": "24h", "top_p": 0.9},
}


@pytest.fixture
def small_context(emulator: Emulator) -> Iterator[Callable[[int], None]]:
    """A context window a few turns outgrow, so truncation happens (settable in the test)."""

    def set_window(tokens: int) -> None:
        emulator.config.context_window = tokens

    set_window(400)
    try:
        yield set_window
    finally:
        set_window(128_000)


@pytest.fixture
def no_conversations(emulator: Emulator, request: pytest.FixtureRequest) -> Iterator[bool]:
    off = bool(getattr(request, "param", False))
    emulator.config.conversations = not off
    try:
        yield off
    finally:
        emulator.config.conversations = True


@pytest.mark.parametrize("no_conversations", [False, True], indirect=True, ids=["conversations", "chained"])
@pytest.mark.parametrize("option", sorted(RESPONSES_OPTIONS))
def test_engine_requests_conform_each_responses_option(
    option: str,
    no_conversations: bool,
    small_context: Callable[[int], None],
    make_assistant: Callable[..., Any],
    raw: Raw,
    recorder: Recorder,
    spec: OpenAPISpec,
) -> None:
    if not _engine_backend_landed("responses"):
        pytest.skip("the responses backend has not landed yet")
    profile = {**_profile("responses", raw), "truncation": "auto", option: RESPONSES_OPTIONS[option]}
    assistant = make_assistant("responses", **profile)
    thread = assistant.ask("Disk full on db-1 [[citations]]").thread_id
    if option == "compact_threshold":  # the window fits; the threshold is passed
        small_context(128_000)
    compacted = truncated = False
    for i in range(4):  # long enough to be truncated or compacted
        result = assistant.ask(f"Update {i}: {'log line ' * 120}", thread_id=thread, max_output_tokens=2000)
        thread = result.thread_id
        compacted, truncated = compacted or result.context.compacted, truncated or result.context.truncated
    assert compacted if option == "compact_threshold" else truncated
    assistant.ask(
        "CPU [[tool:get_metrics]]", thread_id=thread, tool_outputs={"get_metrics": "97%"}, reasoning_effort="low"
    )
    sent = [e.request_body for e in recorder.requests() if e.method == "POST" and e.path == "/v1/responses"]
    kinds = [("previous_response_id" in b, "conversation" in b) for b in sent]
    assert (True, True) not in kinds
    assert kinds.count((False, False)) == (1 if no_conversations else 0), "only a new chain's first response"
    assert_requests_conform(recorder, spec, min_requests=6)


def test_responses_option_replies_conform(raw: Raw, recorder: Recorder, spec: OpenAPISpec) -> None:
    """Reasoning, tiers, cache keys and a compaction item, as the emulator answers them."""
    base = {"model": "gpt-5.4-mini", "store": True}
    first = raw.ok(
        "POST",
        "/responses",
        {
            **base,
            "input": "Disk full " + "log line " * 600,
            "reasoning": {"effort": "max"},
            "service_tier": "fast",
            "prompt_cache_key": "k",
            "safety_identifier": "s",
            "truncation": "auto",
            "max_tool_calls": 2,
        },
    )
    assert first["usage"]["output_tokens_details"]["reasoning_tokens"] == 512 and first["service_tier"] == "priority"
    compacted = raw.ok(
        "POST",
        "/responses",
        {
            **base,
            "input": "More",
            "previous_response_id": first["id"],
            "context_management": [{"type": "compaction", "compact_threshold": 1000}],
        },
    )
    assert compacted["output"][0]["type"] == "compaction"
    raw.stream(
        "POST",
        "/responses",
        {
            **base,
            "input": "Again",
            "previous_response_id": first["id"],
            "stream": True,
            "context_management": [{"type": "compaction", "compact_threshold": 1000}],
        },
    )
    raw.ok("GET", f"/responses/{compacted['id']}/input_items")
    assert_replies_conform(recorder, spec, min_replies=3, min_events=5)
