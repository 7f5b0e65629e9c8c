"""The profile's Responses options: sent when set, absent when not, validated before any request.

Units on the request builder (no sockets), then the engine against the emulator: every option
reaches the server in the field OpenAI names, and the emulator's echo (or its effect) shows it
was taken. Values are the openai SDK 3.57 types' (``openai/types/responses/``) and the vendored
spec's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from wire_recorder import Recorder

from keep_openaiassistant import Assistant, Settings, errors, options, params
from keep_openaiassistant.auth_config import settings_from_authentication
from keep_openaiassistant.backends import responses_request as request
from keep_openaiassistant.emulator import Emulator
from keep_openaiassistant.question import Question

CREATE = "/v1/responses"

#: option -> (Settings value, the body fields it becomes)
SENT: dict[str, tuple[Any, dict[str, Any]]] = {
    "reasoning_effort": ("high", {"reasoning": {"effort": "high"}}),
    "max_output_tokens": (2000, {"max_output_tokens": 2000}),
    "max_tool_calls": (4, {"max_tool_calls": 4}),
    "service_tier": ("priority", {"service_tier": "priority"}),
    "prompt_cache_key": ("oncall-triage", {"prompt_cache_key": "oncall-triage"}),
    "truncation": ("disabled", {"truncation": "disabled"}),
    "compact_threshold": (5000, {"context_management": [{"type": "compaction", "compact_threshold": 5000}]}),
    "include": (("code_interpreter_call.outputs",), {"include": ["code_interpreter_call.outputs"]}),
    "safety_identifier": ("team-sre", {"safety_identifier": "team-sre"}),
    "metadata": ({"team": "sre"}, {"metadata": {"team": "sre"}}),
    "extra_body": ({"top_p": 0.5}, {"top_p": 0.5}),
}
OPTION_FIELDS = {"reasoning", "max_output_tokens", "max_tool_calls", "service_tier", "prompt_cache_key"} | {
    "truncation",
    "context_management",
    "include",
    "safety_identifier",
    "metadata",
    "top_p",
}


def body(question: Question | None = None, **profile: Any) -> dict[str, Any]:
    settings = Settings(api_key="sk-test", api="responses", **profile)
    settings.check()
    question = question or Question("Disk full")
    return request.response_body(
        settings, question, conversation_id="conv_1", input_items=request.user_input(question.prompt)
    )


# -- the request builder ---------------------------------------------------------------------------


@pytest.mark.parametrize("option", sorted(SENT))
def test_each_option_is_sent_in_openais_field_when_set(option: str) -> None:
    value, fields = SENT[option]
    sent = body(**{option: value})
    for name, expected in fields.items():
        assert sent[name] == expected
    assert not (OPTION_FIELDS - set(fields)) & set(sent), "only the option that was set"


def test_no_option_is_sent_when_none_is_set() -> None:
    assert not OPTION_FIELDS & set(body())


def test_truncation_auto_is_sent_only_once_the_server_refused_the_thread_as_too_long() -> None:
    assert "truncation" not in body(truncation="auto")
    settings = Settings(api_key="sk-test", api="responses", truncation="auto")
    resent = request.response_body(settings, Question("x"), conversation_id="conv_1", input_items=[], truncation="auto")
    assert resent["truncation"] == "auto"


def test_the_steps_reasoning_effort_and_max_output_tokens_override_the_profiles() -> None:
    step = Question("x", reasoning_effort="low", max_output_tokens=300)
    sent = body(step, reasoning_effort="high", max_output_tokens=4000)
    assert sent["reasoning"] == {"effort": "low"} and sent["max_output_tokens"] == 300
    assert body(Question("x"), reasoning_effort="high")["reasoning"] == {"effort": "high"}
    assert body(Question("x", reasoning_effort="minimal"))["reasoning"] == {"effort": "minimal"}


def test_include_adds_to_the_search_results_a_knowledge_base_needs() -> None:
    sent = body(vector_store_ids=("vs_1",), include=("code_interpreter_call.outputs", "file_search_call.results"))
    assert sent["include"] == ["code_interpreter_call.outputs", "file_search_call.results"]
    assert body(vector_store_ids=("vs_1",))["include"] == ["file_search_call.results"]


def test_extra_body_adds_fields_but_never_replaces_a_named_option() -> None:
    sent = body(service_tier="flex", extra_body={"service_tier": "priority", "prompt_cache_retention": "24h"})
    assert sent["service_tier"] == "flex" and sent["prompt_cache_retention"] == "24h"


def test_a_chain_sends_previous_response_id_and_no_conversation() -> None:
    settings = Settings(api_key="sk-test", api="responses")
    sent = request.response_body(settings, Question("x"), previous_response_id="resp_1", input_items=[])
    assert sent["previous_response_id"] == "resp_1" and "conversation" not in sent
    first = request.response_body(settings, Question("x"), input_items=[])
    assert "previous_response_id" not in first and "conversation" not in first


# -- validation, before any request --------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("reasoning_effort", "extreme", "none, minimal, low, medium, high, xhigh, max"),
        ("reasoning_effort", "High", "none, minimal, low, medium, high, xhigh, max"),
        ("max_output_tokens", 8, "at least 16"),
        ("max_tool_calls", -1, "at least 0"),
        ("service_tier", "turbo", "auto, default, flex, scale, priority, fast"),
        ("truncation", "sometimes", "auto, disabled"),
        ("compact_threshold", 10, "at least 1000"),
        ("include", ("file_search_call.quotes",), "does not know"),
        ("safety_identifier", "u" * 65, "at most 64"),
        ("metadata", {str(i): "v" for i in range(17)}, "at most 16"),
        ("metadata", {"k": "v" * 513}, "at most 512"),
        ("extra_body", {"stream": False}, "sets stream"),
        ("thread_mode", "threads", "auto, conversations, previous_response_id"),
    ],
)
def test_a_bad_profile_option_fails_locally_naming_the_field(field: str, value: Any, says: str) -> None:
    """Settings built in code are held to the API's exact words (the form and steps normalise case)."""
    with pytest.raises(errors.ConfigurationError) as caught:
        Settings(api_key="sk-test", api="responses", **{field: value}).check()
    assert caught.value.field == field and says in caught.value.message


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("max_output_tokens", "lots", "whole number"),
        ("compact_threshold", "1.5k", "whole number"),
        ("metadata", "{team: sre}", "not valid JSON"),
        ("metadata", '["sre"]', "JSON object"),
        ("extra_body", '{"model": "x"}', "sets model"),
        ("reasoning_effort", "HIGHEST", "none, minimal"),
    ],
)
def test_a_bad_install_form_value_is_a_clear_error(field: str, value: str, says: str) -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        settings_from_authentication({"api_key": "sk-test", field: value})
    assert caught.value.field == field and says in caught.value.message


def test_the_install_form_turns_text_into_the_options() -> None:
    settings = settings_from_authentication(
        {
            "api_key": "sk-test",
            "reasoning_effort": "High",
            "max_output_tokens": "2000",
            "max_tool_calls": "3",
            "service_tier": "flex",
            "prompt_cache_key": " oncall ",
            "truncation": "auto",
            "compact_threshold": "200000",
            "include": "code_interpreter_call.outputs, reasoning.encrypted_content",
            "safety_identifier": "team-sre",
            "metadata": '{"team": "sre"}',
            "extra_body": '{"prompt_cache_retention": "24h"}',
            "thread_mode": "previous_response_id",
        }
    )
    assert (settings.reasoning_effort, settings.max_output_tokens, settings.max_tool_calls) == ("high", 2000, 3)
    assert (settings.service_tier, settings.prompt_cache_key, settings.truncation) == ("flex", "oncall", "auto")
    assert settings.compact_threshold == 200000
    assert settings.include == ("code_interpreter_call.outputs", "reasoning.encrypted_content")
    assert settings.metadata == {"team": "sre"} and settings.extra_body == {"prompt_cache_retention": "24h"}
    assert settings.thread_mode == "previous_response_id" and settings.safety_identifier == "team-sre"
    empty = settings_from_authentication({"api_key": "sk-test", "max_output_tokens": "", "metadata": " "})
    assert empty.max_output_tokens is None and empty.metadata is None and empty.thread_mode == "auto"


def test_step_parameters_are_coerced_from_template_strings() -> None:
    step = params.coerce_step(prompt="x", reasoning_effort="Low", max_output_tokens="500")
    assert step["reasoning_effort"] == "low" and step["max_output_tokens"] == 500
    assert params.coerce_step(prompt="x", reasoning_effort="", max_output_tokens="")["max_output_tokens"] is None
    with pytest.raises(errors.ConfigurationError, match="max_output_tokens must be a whole number of at least 16"):
        params.coerce_step(prompt="x", max_output_tokens="5")
    with pytest.raises(errors.ConfigurationError, match="reasoning_effort must be one of"):
        params.coerce_step(prompt="x", reasoning_effort="turbo")


def test_the_option_values_are_the_sdks() -> None:
    """The lists match openai 3.57's Literal types where that SDK is installed."""
    typing = pytest.importorskip("typing")
    try:
        from openai.types.responses import response_create_params as create
        from openai.types.responses.response_includable import ResponseIncludable
        from openai.types.shared.reasoning_effort import ReasoningEffort
    except ImportError:
        pytest.skip("this openai SDK predates the 2026 Responses types")

    def literal(alias: Any) -> set[str]:
        found: set[str] = set()
        for arg in typing.get_args(alias):
            found |= set(typing.get_args(arg)) if typing.get_args(arg) else {arg}
        return {a for a in found if isinstance(a, str)}

    assert set(options.REASONING_EFFORTS) == literal(ReasoningEffort)
    assert set(options.INCLUDABLE) == literal(ResponseIncludable)
    assert set(options.SERVICE_TIERS) <= literal(create.ServiceTier)  # the spec's; SDK also has ultrafast
    assert set(options.TRUNCATIONS) == {"auto", "disabled"}


# -- against the emulator ---------------------------------------------------------------------------


@pytest.fixture
def recorder(emulator: Emulator) -> Recorder:
    return Recorder(emulator)


@pytest.fixture
def make(emulator: Emulator) -> Iterator[Callable[..., Assistant]]:
    made: list[Assistant] = []

    def build(**profile: Any) -> Assistant:
        made.append(Assistant(Settings(api_key="sk-emulator", base_url=emulator.base_url, api="responses", **profile)))
        return made[-1]

    yield build
    for assistant in made:
        assistant.close()


def created(recorder: Recorder) -> list[dict[str, Any]]:
    return [e.request_body for e in recorder.requests() if e.method == "POST" and e.path == CREATE]


def test_every_option_reaches_the_server_and_comes_back_in_the_response(
    make: Callable[..., Assistant], recorder: Recorder, emulator: Emulator
) -> None:
    assistant = make(**{option: value for option, (value, _) in SENT.items()})
    result = assistant.ask("Disk full on db-1", reasoning_effort="medium")
    (sent,) = created(recorder)
    for option, (_, fields) in SENT.items():
        for name, expected in fields.items():
            if option != "reasoning_effort":
                assert sent[name] == expected, option
    assert sent["reasoning"] == {"effort": "medium"}, "the step's effort wins"
    rec = emulator.responses.state.responses[result.run_id]
    echoed = rec.echo
    assert echoed["reasoning"] == {"effort": "medium", "summary": None}
    assert (echoed["service_tier"], echoed["prompt_cache_key"], echoed["max_tool_calls"]) == (
        "priority",
        "oncall-triage",
        4,
    )
    assert (echoed["truncation"], echoed["safety_identifier"], echoed["metadata"]) == (
        "disabled",
        "team-sre",
        {"team": "sre"},
    )
    assert echoed["top_p"] == 0.5 and echoed["max_output_tokens"] == 2000


def test_no_option_is_sent_to_the_server_when_none_is_set(make: Callable[..., Assistant], recorder: Recorder) -> None:
    make().ask("Disk full on db-1")
    (sent,) = created(recorder)
    assert not OPTION_FIELDS & set(sent)


def test_the_emulator_refuses_what_openai_refuses(emulator: Emulator) -> None:
    """Values past the local checks (through extra_body) meet the server's own."""
    bad = {
        "reasoning": {"effort": "extreme"},
        "service_tier": "turbo",
        "truncation": "sometimes",
        "context_management": [{"type": "compaction", "compact_threshold": 10}],
        "safety_identifier": "u" * 65,
        "max_tool_calls": -1,
    }
    import openai

    client = openai.OpenAI(api_key="sk-emulator", base_url=emulator.base_url, max_retries=0)
    try:
        for field, value in bad.items():
            with pytest.raises(openai.BadRequestError) as caught:
                client.post(CREATE[3:], body={"model": "gpt-5.4-mini", "input": "x", field: value}, cast_to=object)
            assert caught.value.status_code == 400, field
    finally:
        client.close()


def test_reasoning_tokens_and_cache_writes_are_in_the_usage(make: Callable[..., Assistant]) -> None:
    plain = make().ask("Disk full on db-1").usage
    assert (plain.reasoning_tokens, plain.cache_write_tokens) == (0, 0)
    thinking = make(reasoning_effort="high", prompt_cache_key="oncall").ask("Disk full on db-1").usage
    assert thinking.reasoning_tokens == 128 and thinking.output_tokens == plain.output_tokens + 128
    assert thinking.cache_write_tokens == thinking.input_tokens - thinking.cached_input_tokens > 0
    assert thinking.completion_tokens == thinking.output_tokens and thinking.prompt_tokens == thinking.input_tokens


def test_max_output_tokens_from_the_step_ends_the_answer_incomplete(make: Callable[..., Assistant]) -> None:
    with pytest.raises(errors.RunIncompleteError) as caught:
        make().ask("Disk full on db-1", max_output_tokens=16)
    assert "max_output_tokens" in caught.value.message


def test_a_bad_step_option_fails_before_any_request(make: Callable[..., Assistant], recorder: Recorder) -> None:
    with pytest.raises(errors.ConfigurationError, match="reasoning_effort"):
        make().ask("x", reasoning_effort="extreme")
    with pytest.raises(errors.ConfigurationError, match="max_output_tokens"):
        make().ask("x", max_output_tokens=3)
    assert not recorder.requests()


def test_the_install_check_names_an_unknown_model_and_where_to_find_one(make: Callable[..., Assistant]) -> None:
    scopes = make(model="gpt-nope").check_access()
    assert scopes["authenticated"] is True
    assert "gpt-nope" in str(scopes["assistant"]) and "GET /v1/models" in str(scopes["assistant"])
    assert "shut down" in str(scopes["assistant"])
    assert make().check_access() == {"authenticated": True, "assistant": True}, "the default model is known"


def test_reasoning_counts_against_max_output_tokens(make: Callable[..., Assistant]) -> None:
    """max_output_tokens bounds reasoning and answer together (the emulator as OpenAI documents it)."""
    answer = make().ask("Disk full on db-1").usage.output_tokens
    assert answer + 128 > 150 > 128, "the answer fits the bound alone, not with high reasoning"
    assert make(max_output_tokens=150).ask("Disk full on db-1").status == "completed"
    with pytest.raises(errors.RunIncompleteError) as caught:
        make(reasoning_effort="high", max_output_tokens=150).ask("Disk full on db-1")
    assert "max_output_tokens" in caught.value.message
