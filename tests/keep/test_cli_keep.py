"""The CLI inside a Keep environment: ``ask`` goes through Keep's provider class; ``doctor`` passes."""

from __future__ import annotations

import io
import json
import re

import pytest
from _keepenv import KEEP_PRESENT, SKIP_REASON

if not KEEP_PRESENT:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from keep_openaiassistant.cli import main


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_ask_through_keeps_provider_class(api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from keep_openaiassistant.keep_adapter import provider as keep_provider

    queried: list[dict[str, object]] = []
    real_query = keep_provider.OpenaiassistantProvider.query

    def spy(self: keep_provider.OpenaiassistantProvider, **kw: object) -> object:
        queried.append(kw)
        return real_query(self, **kw)

    monkeypatch.setattr(keep_provider.OpenaiassistantProvider, "query", spy)
    code, out, err = run("ask", "Disk full on db-1", "--emulator", "--api", api, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["backend"] == api
    assert queried and queried[0]["prompt"] == "Disk full on db-1"


def test_a_bad_step_value_through_keep_is_exit_2() -> None:
    code, out, err = run("ask", "Disk full", "--emulator", "--max-wait-time", "-5", "--via", "keep")
    assert (code, out) == (2, "")
    assert err == "error: max_wait_time must be a positive number of seconds (e.g. 120), got -5.0.\n"


def test_a_refused_key_through_keep_is_exit_1(monkeypatch: pytest.MonkeyPatch, emulator: object) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "bad-key-42")
    monkeypatch.setenv("OPENAI_BASE_URL", emulator.base_url)  # type: ignore[attr-defined]
    monkeypatch.setenv("ASSISTANT_ID", "asst_emulator")
    code, out, err = run("ask", "Disk full", "--via", "keep")
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and "401" in err and "bad-key-42" not in err


def test_doctor_finds_the_provider(light_providers_folder: None) -> None:
    code, out, _ = run("doctor")
    assert code == 0, out
    resolved = "'openaiassistant' -> keep_openaiassistant.keep_adapter.provider.OpenaiassistantProvider"
    assert f"ok    ProvidersFactory resolves the type: {resolved}" in out
    # Keep 0.2.7's listing has no display names: the type is shown instead.
    assert re.search(
        r"^ok    provider listing \(UI\): '(OpenAI Assistant|openaiassistant)' with 10 form fields", out, re.M
    )
    assert out.endswith("Keep finds provider type 'openaiassistant'.\n")
