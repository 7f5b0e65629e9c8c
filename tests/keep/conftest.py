"""Tests through a real Keep: they need Keep importable (keephq 0.2.7 from PyPI, or a current
Keep source checkout installed with its locked dependencies; see docs/keep.md).

Without Keep every test here is skipped with the reason. With Keep installed but broken (a
dependency missing) they fail: that is a finding, not a reason to skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _keepenv import KEEP_PRESENT, SKIP_REASON


@pytest.fixture(autouse=True)
def keep_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep writes/reads state and providers_cache.json relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROVIDERS_CACHE_FILE", str(tmp_path / "providers_cache.json"))
    yield


# Other providers whose imports a bare Keep install satisfies. Keep's listing imports every
# provider folder, and Keep 0.2.7 aborts on the first one whose SDK is missing.
LIGHT_NEIGHBOURS = {"console_provider", "mock_provider", "http_provider"}


@pytest.fixture
def light_providers_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let Keep's listing see our entry and a few light neighbours only (see LIGHT_NEIGHBOURS).

    With KEEP_FULL_LISTING=1 (a Keep with every provider's SDK, like its Docker image) the
    whole folder is listed. Either way the listing code that runs is Keep's own.
    """
    from keep.providers.providers_factory import ProvidersFactory

    from keep_openaiassistant.discovery import ENTRY, keep_providers_dir

    if hasattr(ProvidersFactory, "_loaded_providers_cache"):
        monkeypatch.setattr(ProvidersFactory, "_loaded_providers_cache", None)
    if os.environ.get("KEEP_FULL_LISTING") == "1":
        return
    folder = os.path.abspath(str(keep_providers_dir()))
    real_listdir = os.listdir

    def listdir(path: Any = ".") -> list[str]:
        entries = real_listdir(path)
        if os.path.abspath(str(path)) == folder:
            return [e for e in entries if e == ENTRY or e in LIGHT_NEIGHBOURS]
        return entries

    monkeypatch.setattr(os, "listdir", listdir)


@pytest.fixture
def context_manager() -> Any:
    import inspect

    from keep.contextmanager.contextmanager import ContextManager

    kwargs: dict[str, Any] = {"tenant_id": "singletenant", "workflow_id": "keep-openaiassistant-tests"}
    if "load_state" in inspect.signature(ContextManager).parameters:
        kwargs["load_state"] = False
    return ContextManager(**kwargs)


@pytest.fixture
def make_provider(context_manager: Any, emulator: Any) -> Iterator[Callable[..., Any]]:
    """A provider built the way Keep builds one: ``ProvidersFactory.get_provider`` with a config dict."""
    from keep.providers.providers_factory import ProvidersFactory

    from keep_openaiassistant.emulator import DEFAULT_ASSISTANT_ID

    made: list[Any] = []

    def make(api: str = "assistants", provider_id: str = "oncall_assistant", **auth: Any) -> Any:
        authentication: dict[str, Any] = {"api_key": "sk-emulator", "base_url": emulator.base_url, "api": api}
        if api == "assistants":
            authentication["assistant_id"] = DEFAULT_ASSISTANT_ID
        authentication.update(auth)
        provider = ProvidersFactory.get_provider(
            context_manager=context_manager,
            provider_id=provider_id,
            provider_type="openaiassistant",
            provider_config={"authentication": authentication},
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.dispose()


def pytest_report_header(config: pytest.Config) -> str:
    if not KEEP_PRESENT:
        return f"keep: not importable ({SKIP_REASON})"
    from keep_openaiassistant.discovery import keep_providers_dir, keep_version

    source = os.environ.get("KEEP_SOURCE", "-")
    return f"keep: {keep_version() or 'version unknown'} at {keep_providers_dir()} (KEEP_SOURCE={source})"
