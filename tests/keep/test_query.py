"""BaseProvider.query() through Keep against the emulator: the contract dict, threads, errors."""

from __future__ import annotations

import json
import threading
from typing import Any, cast

import pytest
from _keepenv import KEEP_PRESENT, SKIP_REASON

if not KEEP_PRESENT:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from keep_openaiassistant.emulator import Emulator


def provider_exception() -> type[Any]:
    from keep.exceptions.provider_exception import ProviderException

    return cast("type[Any]", ProviderException)  # Keep is untyped


CONTRACT_KEYS = {"response", "raw_response", "thread_id", "run_id", "status", "messages", "usage", "citations", "files"}


@pytest.mark.parametrize(("api", "thread_prefix"), [("assistants", "thread_"), ("responses", "conv_")])
def test_query_returns_the_contract_dict(make_provider: Any, api: str, thread_prefix: str) -> None:
    provider = make_provider(api)
    result = provider.query(prompt="Disk full on db-1")
    assert set(result) >= CONTRACT_KEYS
    assert json.loads(json.dumps(result)) == result, "Keep stores results as JSON"
    assert result["status"] == "completed"
    assert result["backend"] == api
    assert result["thread_id"].startswith(thread_prefix)
    assert set(result["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}  # more detail may follow
    assert result["messages"][0] == {"role": "user", "content": "Disk full on db-1"}


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_a_second_query_with_the_thread_id_continues_the_conversation(make_provider: Any, api: str) -> None:
    provider = make_provider(api)
    first = provider.query(prompt="Disk full on db-1")
    second = provider.query(prompt="Which service owns it?", thread_id=first["thread_id"])
    assert second["thread_id"] == first["thread_id"]
    assert second["run_id"] != first["run_id"]
    users = [m["content"] for m in second["messages"] if m["role"] == "user"]
    assert users == ["Disk full on db-1", "Which service owns it?"]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user", "assistant"]


def test_a_new_provider_instance_continues_a_thread(make_provider: Any) -> None:
    # A later workflow (another provider instance) continues from a thread id stored on the alert.
    first = make_provider(provider_id="first").query(prompt="Disk full on db-1")
    later = make_provider(provider_id="later").query(prompt="Is it resolved?", thread_id=first["thread_id"])
    assert later["thread_id"] == first["thread_id"]
    assert len(later["messages"]) == 4


def test_rendered_string_values_are_coerced(make_provider: Any) -> None:
    result = make_provider().query(
        prompt='Answer {"severity": "high"}', max_wait_time="30", parse_json="false", thread_id=""
    )
    assert isinstance(result["response"], str)
    assert result["response"] == result["raw_response"]


def test_structured_output_from_a_json_string(make_provider: Any) -> None:
    fmt = json.dumps(
        {
            "type": "json_schema",
            "json_schema": {
                "name": "triage",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"severity": {"type": "string"}},
                    "required": ["severity"],
                    "additionalProperties": False,
                },
            },
        }
    )
    result = make_provider().query(prompt="Disk full on db-1", structured_output_format=fmt)
    assert isinstance(result["response"], dict)
    assert "severity" in result["response"]


def test_keep_internal_keys_from_older_keep_are_ignored(make_provider: Any) -> None:
    # Keep < 0.51 passes enrich_alert/audit_enabled through to _query; current Keep's query()
    # pops those two but passes a step's enrich_incident on.
    result = make_provider()._query(prompt="Disk full", audit_enabled=True, enrich_alert=[], enrich_incident=[])
    assert result["status"] == "completed"


def test_a_misspelt_step_key_fails_before_any_request(make_provider: Any, emulator: Emulator) -> None:
    provider = make_provider()
    before = emulator.stats.snapshot()
    with pytest.raises(provider_exception()) as info:
        provider.query(prompt="Disk full", thred_id="thread_abc")
    assert str(info.value).startswith("unknown step parameter 'thred_id' (did you mean 'thread_id'?): ")
    assert (info.value.kind, emulator.stats.snapshot()) == ("ConfigurationError", before)


def test_a_step_without_a_prompt_is_a_provider_exception_naming_it(make_provider: Any) -> None:
    with pytest.raises(provider_exception()) as info:
        make_provider().query(max_wait_time="30")
    assert str(info.value) == (
        "prompt is missing or empty: give the step a `prompt:` with the message for the assistant."
    )
    assert not isinstance(info.value, TypeError)


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_history_none_returns_only_this_turn(make_provider: Any, api: str) -> None:
    provider = make_provider(api)
    first = provider.query(prompt="Disk full on db-1")
    again = provider.query(prompt="Still full?", thread_id=first["thread_id"], history="none")
    assert again["thread_id"] == first["thread_id"]
    assert [m["role"] for m in again["messages"]] == ["user", "assistant"]
    assert again["messages"][0]["content"] == "Still full?"


def test_expose_gives_the_last_thread_id(make_provider: Any) -> None:
    provider = make_provider()
    assert provider.expose() == {"thread_id": None}
    result = provider.query(prompt="Disk full")
    assert provider.expose() == {"thread_id": result["thread_id"]}


def test_each_thread_sees_the_thread_of_its_own_ask(make_provider: Any) -> None:
    # One provider instance serves several workflow threads: after both asks have finished,
    # each thread's expose() must still give its own ask's thread, not the last one to finish.
    provider = make_provider()
    both_asked = threading.Barrier(2, timeout=60)
    seen: dict[str, tuple[str, dict[str, Any]]] = {}

    def step(name: str) -> None:
        result = provider.query(prompt=f"Disk full on {name}")
        both_asked.wait()
        seen[name] = (result["thread_id"], provider.expose())

    workers = [threading.Thread(target=step, args=(name,)) for name in ("db-1", "db-2")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len({thread_id for thread_id, _ in seen.values()}) == 2
    for thread_id, exposed in seen.values():
        assert exposed == {"thread_id": thread_id}


def test_a_refused_key_is_a_provider_exception_without_the_key(make_provider: Any) -> None:
    provider = make_provider(api_key="bad-secret-123")
    with pytest.raises(provider_exception()) as info:
        provider.query(prompt="Disk full")
    message = str(info.value)
    assert "401" in message and "What to do" in message
    assert "bad-secret-123" not in message


@pytest.mark.parametrize(
    ("api", "unknown"), [("assistants", "thread_doesnotexist"), ("responses", "conv_doesnotexist")]
)
def test_an_unknown_thread_is_a_provider_exception_naming_it(make_provider: Any, api: str, unknown: str) -> None:
    provider = make_provider(api)
    with pytest.raises(provider_exception()) as info:
        provider.query(prompt="Disk full", thread_id=unknown)
    assert "404" in str(info.value) and unknown in str(info.value) and "What to do" in str(info.value)
    assert (info.value.thread_id, info.value.kind) == (unknown, "NotFoundError")
    assert provider.expose() == {"thread_id": unknown}


def test_a_bad_step_value_is_a_provider_exception_naming_the_parameter(make_provider: Any) -> None:
    with pytest.raises(provider_exception()) as info:
        make_provider().query(prompt="Disk full", max_wait_time="soon")
    assert str(info.value) == "max_wait_time must be a positive number of seconds (e.g. 120), got 'soon'."


def test_a_bad_config_fails_at_construction_naming_the_field(make_provider: Any) -> None:
    from keep.exceptions.provider_config_exception import ProviderConfigException

    with pytest.raises(provider_exception()) as info:
        make_provider(api="assistants", assistant_id="")
    assert isinstance(info.value, ProviderConfigException)
    assert info.value.field == "assistant_id"
    assert str(info.value).startswith(
        "Provider oncall_assistant is misconfigured: api is 'assistants' but assistant_id is empty"
    )


def test_a_bad_config_at_install_names_the_provider_the_operator_typed(context_manager: Any, emulator: Any) -> None:
    # Keep's install route builds the provider with the type as provider_id and the form's
    # provider name as config.name (keep/providers/providers_service.py, install_provider).
    from keep.providers.providers_factory import ProvidersFactory

    with pytest.raises(provider_exception()) as info:
        ProvidersFactory.get_provider(
            context_manager=context_manager,
            provider_id="openaiassistant",
            provider_type="openaiassistant",
            provider_config={
                "authentication": {"api_key": "sk-emulator", "base_url": emulator.base_url, "api": "assistants"},
                "name": "On-call assistant",
            },
        )
    assert str(info.value).startswith(
        "Provider 'On-call assistant' is misconfigured: api is 'assistants' but assistant_id is empty"
    )
    assert info.value.reason.startswith("api is 'assistants' but assistant_id is empty")


def test_validate_scopes_all_true(make_provider: Any) -> None:
    assert make_provider().validate_scopes() == {"authenticated": True, "assistant": True}


def test_validate_scopes_reports_a_refused_key_without_raising(make_provider: Any) -> None:
    scopes = make_provider(api_key="bad-key").validate_scopes()
    assert "401" in scopes["authenticated"]
    assert scopes["assistant"] is not True


def test_validate_scopes_reports_a_missing_assistant(make_provider: Any) -> None:
    scopes = make_provider(assistant_id="asst_missing").validate_scopes()
    assert scopes["authenticated"] is True
    assert "asst_missing" in scopes["assistant"]


def test_validate_scopes_never_raises_on_a_dead_server(make_provider: Any) -> None:
    scopes = make_provider(base_url="http://127.0.0.1:9/v1").validate_scopes()
    assert set(scopes) >= {"authenticated", "assistant"}
    assert all(v is not True for v in scopes.values())


def test_validate_scopes_has_no_side_effects(make_provider: Any, emulator: Emulator) -> None:
    provider = make_provider()
    before = emulator.stats.snapshot()
    provider.validate_scopes()
    after = emulator.stats.snapshot()
    added = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert added and all(route.startswith("GET ") for route in added), added


def test_one_engine_per_provider_even_across_threads(make_provider: Any) -> None:
    provider = make_provider()
    seen: list[Any] = []
    threads = [threading.Thread(target=lambda: seen.append(provider._get_engine())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(e) for e in seen}) == 1


def test_dispose_is_idempotent(make_provider: Any) -> None:
    provider = make_provider()
    provider.query(prompt="Disk full")
    provider.dispose()
    provider.dispose()


def keep_install_scope_check() -> Any:
    """Keep's install-time scope check (ProvidersService.validate_scopes), in Keep versions that have it."""
    try:
        from keep.providers.providers_service import ProvidersService
    except ImportError:
        pytest.skip("this Keep has no ProvidersService (added after 0.2.7)")
    return ProvidersService.validate_scopes


def test_keeps_install_check_accepts_a_working_provider(make_provider: Any) -> None:
    assert keep_install_scope_check()(make_provider()) == {"authenticated": True, "assistant": True}


def test_keeps_install_check_refuses_a_wrong_assistant_with_412(make_provider: Any) -> None:
    check = keep_install_scope_check()
    from fastapi import HTTPException  # type: ignore[import-not-found, unused-ignore]

    with pytest.raises(HTTPException) as info:
        check(make_provider(assistant_id="asst_missing"))
    assert info.value.status_code == 412
    assert "asst_missing" in info.value.detail["assistant"]
