"""Keep's ProvidersFactory finds the provider by type and lists it with the right install form."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import os
from typing import Any

import pytest
from _keepenv import KEEP_PRESENT, SKIP_REASON

if not KEEP_PRESENT:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from keep_openaiassistant import params
from keep_openaiassistant.auth_config import OpenaiassistantProviderAuthConfig, form_fields
from keep_openaiassistant.discovery import ENTRY, PROVIDER_TYPE, keep_providers_dir
from keep_openaiassistant.keep_adapter.provider import OpenaiassistantProvider


def factory() -> Any:
    from keep.providers.providers_factory import ProvidersFactory

    return ProvidersFactory


def test_the_entry_is_in_keeps_physical_providers_folder() -> None:
    folder = keep_providers_dir()
    assert folder is not None
    assert ENTRY in os.listdir(folder)


def test_get_provider_class_resolves_the_type() -> None:
    assert factory().get_provider_class(PROVIDER_TYPE) is OpenaiassistantProvider


def test_the_module_keep_imports_re_exports_both_classes() -> None:
    module = importlib.import_module(f"keep.providers.{ENTRY}.{ENTRY}")
    assert module.OpenaiassistantProvider is OpenaiassistantProvider
    assert module.OpenaiassistantProviderAuthConfig is OpenaiassistantProviderAuthConfig


def test_get_provider_required_config_is_the_auth_config() -> None:
    assert factory().get_provider_required_config(PROVIDER_TYPE) is OpenaiassistantProviderAuthConfig


def test_provider_type_derived_from_the_class_name(make_provider: Any) -> None:
    assert make_provider().provider_type == PROVIDER_TYPE


def test_get_provider_does_not_mutate_the_config(context_manager: Any, emulator: Any) -> None:
    # A changed authentication dict makes Keep write it back to its secret manager.
    config = {
        "authentication": {
            "api_key": "sk-x",
            "base_url": emulator.base_url,
            "code_interpreter": "true",
            "vector_store_ids": "vs_1, vs_2",
        }
    }
    before = copy.deepcopy(config)
    provider = factory().get_provider(
        context_manager=context_manager, provider_id="p", provider_type=PROVIDER_TYPE, provider_config=config
    )
    assert config == before
    assert provider.settings.vector_store_ids == ("vs_1", "vs_2")
    provider.dispose()


def test_the_query_signature_is_params_py() -> None:
    signature = inspect.signature(OpenaiassistantProvider._query)
    names = [n for n in signature.parameters if n != "self"]
    assert tuple(names[:-1]) == params.NAMES
    assert signature.parameters[names[-1]].kind is inspect.Parameter.VAR_KEYWORD
    for p in params.PARAMETERS:
        parameter = signature.parameters[p.name]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, p.name
        # Even the required prompt has a default (None): a step without one fails in _query,
        # naming it, instead of a TypeError from the call.
        assert parameter.default == p.default, p.name


def test_class_attributes_keep_reads() -> None:
    assert OpenaiassistantProvider.PROVIDER_DISPLAY_NAME == "OpenAI Assistant"
    assert OpenaiassistantProvider.PROVIDER_CATEGORY == ["AI"]
    assert [s.name for s in OpenaiassistantProvider.PROVIDER_SCOPES] == ["authenticated", "assistant"]
    assert OpenaiassistantProvider.__doc__ and "assistant" in OpenaiassistantProvider.__doc__


@pytest.fixture
def listing(light_providers_folder: None) -> Any:
    """Keep's provider listing (what the UI shows), run for real on Keep's folder."""
    f = factory()
    get_all = f.get_all_providers
    kwargs = {"ignore_cache_file": True} if "ignore_cache_file" in inspect.signature(get_all).parameters else {}
    return get_all(**kwargs)


def test_the_listing_includes_the_provider(listing: Any) -> None:
    ours = [p for p in listing if p.type == PROVIDER_TYPE]
    assert len(ours) == 1
    provider = ours[0]
    assert provider.display_name == "OpenAI Assistant" if hasattr(provider, "display_name") else True
    assert provider.can_query is True
    assert provider.query_params[: len(params.NAMES)] == list(params.NAMES)
    assert "data" in provider.tags


def test_the_listing_builds_the_install_form_from_the_auth_config(listing: Any) -> None:
    provider = next(p for p in listing if p.type == PROVIDER_TYPE)
    expected = form_fields()
    # Keep adds each field's non-None default (Keep 0.2.7 does not add defaults at all).
    without_defaults = {n: {k: v for k, v in f.items() if k != "default"} for n, f in expected.items()}
    assert {n: {k: v for k, v in f.items() if k != "default"} for n, f in provider.config.items()} == without_defaults
    for name, field in provider.config.items():
        # Current Keep also stores dataclasses.MISSING for a field without default (api_key).
        if "default" in field and field["default"] is not dataclasses.MISSING:
            assert field["default"] == expected[name]["default"], name
    assert provider.config["api_key"]["sensitive"] is True
    assert provider.config["api"]["options"] == ["auto", "responses", "assistants"]


def test_the_listing_shows_the_docstring_and_scopes(listing: Any) -> None:
    provider = next(p for p in listing if p.type == PROVIDER_TYPE)
    assert provider.docs == OpenaiassistantProvider.__doc__
    assert [s.name for s in provider.scopes] == ["authenticated", "assistant"]
    if hasattr(provider, "categories"):
        assert provider.categories == ["AI"]


def test_the_package_exports_the_alias() -> None:
    from keep_openaiassistant import OpenaiAssistantProvider
    from keep_openaiassistant import OpenaiassistantProvider as Provider

    assert OpenaiAssistantProvider is Provider is OpenaiassistantProvider


def test_keeps_install_form_keys_do_not_break_the_provider(make_provider: Any) -> None:
    # Keep's UI posts install_webhook/pulling_enabled inside the authentication it installs.
    provider = make_provider(install_webhook=False, pulling_enabled=True)
    assert provider.validate_scopes() == {"authenticated": True, "assistant": True}
