"""The install form (what Keep's UI renders) and its conversion to engine Settings."""

from __future__ import annotations

import dataclasses

import pytest

from keep_openaiassistant.auth_config import (
    FIELD_NAMES,
    OpenaiassistantProviderAuthConfig,
    build_auth_config,
    form_fields,
    ignored_fields,
    settings_from_authentication,
    to_settings,
)
from keep_openaiassistant.errors import ConfigurationError

CONTRACT_FIELDS = (
    "api_key",
    "organization_id",
    "project_id",
    "base_url",
    "api",
    "assistant_id",
    "model",
    "instructions",
    "vector_store_ids",
    "code_interpreter",
)
# The Responses options of the profile (issue 13), grouped with it in the "responses api" tab.
RESPONSES_OPTIONS = (
    "reasoning_effort",
    "max_output_tokens",
    "max_tool_calls",
    "service_tier",
    "prompt_cache_key",
    "truncation",
    "compact_threshold",
    "include",
    "safety_identifier",
    "metadata",
    "extra_body",
    "mcp_servers",  # issue 11: hosted MCP servers of the profile
    "thread_mode",
)


def test_every_contract_field_is_in_the_form() -> None:
    assert FIELD_NAMES == CONTRACT_FIELDS + RESPONSES_OPTIONS


def test_it_is_a_dataclass_keep_can_read() -> None:
    # Keep's listing calls dataclasses.fields() on the class itself.
    assert [f.name for f in dataclasses.fields(OpenaiassistantProviderAuthConfig)] == [
        *CONTRACT_FIELDS,
        *RESPONSES_OPTIONS,
    ]


def test_every_field_has_the_metadata_keeps_ui_reads() -> None:
    for name, meta in form_fields().items():
        assert isinstance(meta["required"], bool), name
        assert meta["description"], name
        assert isinstance(meta["sensitive"], bool), name
        assert meta["hint"], name


def test_only_the_api_key_is_required_and_sensitive() -> None:
    form = form_fields()
    assert [n for n, m in form.items() if m["required"]] == ["api_key"]
    assert [n for n, m in form.items() if m["sensitive"]] == ["api_key"]


def test_widgets_and_defaults() -> None:
    form = form_fields()
    assert form["api"]["type"] == "select"
    assert form["api"]["options"] == ["auto", "responses", "assistants"]
    assert form["api"]["default"] == "auto"
    assert form["code_interpreter"]["type"] == "switch"
    assert form["code_interpreter"]["default"] is False
    assert form["base_url"]["validation"] == "any_http_url"
    # None defaults are not shown by Keep's listing.
    assert "default" not in form["assistant_id"]


def test_the_profile_fields_are_grouped_in_tabs() -> None:
    form = form_fields()
    groups = {
        n: (m.get("config_main_group"), m.get("config_sub_group"))
        for n, m in form.items()
        if m.get("config_main_group")
    }
    assert groups == {
        "assistant_id": ("assistant profile", "assistants api"),
        "model": ("assistant profile", "responses api"),
        "instructions": ("assistant profile", "responses api"),
        **{n: ("assistant profile", "responses api") for n in RESPONSES_OPTIONS},
    }


def test_a_grouped_field_always_has_a_tab() -> None:
    # Keep's UI drops a grouped field that has no sub group once any sibling has one.
    for name, meta in form_fields().items():
        if meta.get("config_main_group"):
            assert meta.get("config_sub_group"), name


def test_build_does_not_mutate_keeps_authentication() -> None:
    # Keep writes a changed authentication dict back to its secret manager.
    authentication = {"api_key": "sk-test", "code_interpreter": "true", "vector_store_ids": "vs_1"}
    before = dict(authentication)
    build_auth_config(authentication)
    assert authentication == before


def test_string_booleans_from_providers_yaml_are_coerced() -> None:
    assert build_auth_config({"api_key": "k", "code_interpreter": "false"}).code_interpreter is False
    assert build_auth_config({"api_key": "k", "code_interpreter": "true"}).code_interpreter is True


def test_settings_from_a_full_form() -> None:
    settings = settings_from_authentication(
        {
            "api_key": " sk-test ",
            "organization_id": "",
            "project_id": "proj_1",
            "base_url": "http://127.0.0.1:9/v1",
            "api": "Assistants",
            "assistant_id": "asst_1",
            "model": "",
            "instructions": "Be brief.",
            "vector_store_ids": "vs_1, vs_2,",
            "code_interpreter": True,
        }
    )
    assert settings.api_key == "sk-test"
    assert settings.organization_id is None  # the UI sends "" for untouched fields
    assert settings.project_id == "proj_1"
    assert settings.api == "assistants"
    assert settings.backend == "assistants"
    assert settings.model is None
    assert settings.vector_store_ids == ("vs_1", "vs_2")
    assert settings.code_interpreter is True


def test_auto_picks_the_backend_from_the_assistant_id() -> None:
    assert settings_from_authentication({"api_key": "k", "assistant_id": "asst_1"}).backend == "assistants"
    assert settings_from_authentication({"api_key": "k", "model": "gpt-5.4"}).backend == "responses"


def test_the_secret_never_appears_in_repr() -> None:
    settings = to_settings(build_auth_config({"api_key": "sk-very-secret"}))
    assert "sk-very-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("authentication", "field", "message"),
    [
        ({}, "api_key", "api_key is missing: set the OpenAI API key (any non-empty value for the local emulator)."),
        (
            {"api_key": ""},
            "api_key",
            "api_key is missing: set the OpenAI API key (any non-empty value for the local emulator).",
        ),
        ({"api_key": "k", "api": "chat"}, "api", "api is 'chat': choose one of auto, responses, assistants."),
        (
            {"api_key": "k", "code_interpreter": "maybe"},
            "code_interpreter",
            "code_interpreter has the wrong type: it must be a boolean (true/false).",
        ),
        ({"api_key": "k", "base_url": "localhost:8080"}, "base_url", None),
        ({"api_key": "k", "api": "assistants"}, "assistant_id", None),
        ({"api_key": "k", "vector_store_ids": "runbooks"}, "vector_store_ids", None),
    ],
)
def test_bad_configuration_names_the_field(authentication: dict[str, object], field: str, message: str | None) -> None:
    with pytest.raises(ConfigurationError) as info:
        settings_from_authentication(authentication)
    assert info.value.field == field
    if message is not None:
        assert str(info.value) == message


def test_a_misspelt_field_is_refused_instead_of_silently_ignored() -> None:
    with pytest.raises(ConfigurationError) as info:
        settings_from_authentication({"api_key": "k", "asistant_id": "asst_1"})
    assert info.value.field == "asistant_id"
    assert str(info.value).startswith(
        "unknown authentication field 'asistant_id': did you mean 'assistant_id'? The fields are api_key, "
    )


def test_keys_keeps_ui_posts_with_the_form_are_ignored() -> None:
    # Keep's install form posts install_webhook and pulling_enabled inside the authentication.
    authentication = {"api_key": "k", "install_webhook": False, "pulling_enabled": True, "provider_name": "ai"}
    assert settings_from_authentication(authentication).api_key == "k"
    assert ignored_fields(authentication) == []


def test_other_unknown_keys_are_ignored_and_reported() -> None:
    authentication = {"api_key": "k", "region": "eu"}
    assert settings_from_authentication(authentication).api_key == "k"
    assert ignored_fields(authentication) == ["region"]


def test_a_type_error_never_echoes_the_value() -> None:
    with pytest.raises(ConfigurationError) as info:
        build_auth_config({"api_key": "k", "code_interpreter": "sk-leaked-into-the-wrong-field"})
    assert "sk-leaked" not in str(info.value)


def test_null_fields_mean_not_set() -> None:
    settings = settings_from_authentication({"api_key": "k", "api": None, "code_interpreter": None, "model": None})
    assert (settings.api, settings.code_interpreter, settings.model) == ("auto", False, None)


def test_repr_never_shows_the_api_key() -> None:
    # pydantic v1 (Keep's) and v2 dataclasses both honour dataclasses.field(repr=False).
    auth = build_auth_config({"api_key": "sk-proj-secret-123", "assistant_id": "asst_1"})
    assert "sk-proj-secret-123" not in repr(auth) and "sk-proj-secret-123" not in str(auth)
    assert "api_key" not in repr(auth)
    assert "assistant_id='asst_1'" in repr(auth), "the other fields still show"
    assert auth.api_key == "sk-proj-secret-123"


def test_only_the_secret_field_is_hidden_from_repr() -> None:
    hidden = [f.name for f in dataclasses.fields(OpenaiassistantProviderAuthConfig) if not f.repr]
    assert hidden == [n for n, m in form_fields().items() if m["sensitive"]] == ["api_key"]
