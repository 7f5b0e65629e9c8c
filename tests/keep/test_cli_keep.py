"""The CLI inside a Keep environment: ``ask`` goes through Keep's provider class; ``doctor`` passes."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest
from _keepenv import KEEP_PRESENT, SKIP_REASON

if not KEEP_PRESENT:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from keep_openaiassistant import cli
from keep_openaiassistant.cli import main

NO_EMULATOR_PORT = "9"  # discard: nothing serves it here, so `ask --emulator` starts its own


@pytest.fixture(autouse=True)
def no_running_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ask --emulator` reuses an emulator serving on EMULATOR_PORT: never one of this machine's."""
    monkeypatch.setattr(cli, "EMULATOR_PORT", int(NO_EMULATOR_PORT))


def _form_fields() -> int:
    import dataclasses

    from keep_openaiassistant.auth_config import OpenaiassistantProviderAuthConfig

    return len(dataclasses.fields(OpenaiassistantProviderAuthConfig))


FORM_FIELDS = _form_fields()  # every field of the install form, as Keep's listing builds it


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
    # The same message as through the engine, in the command's terms (the flag, not the parameter).
    assert err == "error: --max-wait-time must be a positive number of seconds (e.g. 120), got '-5'.\n"


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
        rf"^ok    provider listing \(UI\): '(OpenAI Assistant|openaiassistant)' with {FORM_FIELDS} form fields",
        out,
        re.M,
    )
    assert out.endswith("Keep finds provider type 'openaiassistant'.\n")


def test_an_interrupted_ask_through_keep_is_one_line_and_exit_130(monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine's AskInterrupted reaches Keep as the provider's ProviderException; the CLI
    # turns it back into the same one line the engine path prints.
    from keep_openaiassistant.engine import Assistant
    from keep_openaiassistant.errors import AskInterrupted

    def interrupted(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise AskInterrupted(
            "Interrupted; run run_1 on thread_1 was cancelled on the server. What to do: ask again when ready.",
            cancelled=True,
            thread_id="thread_1",
            run_id="run_1",
        )

    monkeypatch.setattr(Assistant, "ask", interrupted)
    code, out, err = run("ask", "Disk full", "--emulator", "--via", "keep")
    assert (code, out) == (130, "")
    assert err == "interrupted; run run_1 on thread_1 was cancelled on the server. What to do: ask again when ready.\n"


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_during_an_ask_through_keep_exits_130(stop_signal: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ASSISTANT_ID"))}
    emulator = ["--emulator", "--emulator-port", NO_EMULATOR_PORT]
    proc = subprocess.Popen(
        [sys.executable, "-m", "keep_openaiassistant", "-v", "ask", *emulator, "--via", "keep", "[[delay:30]] hi"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    watchdog = threading.Timer(90, proc.kill)  # a hung child ends the reads below, not the suite
    watchdog.start()
    try:
        assert proc.stderr is not None
        started = re.compile(r'HTTP Request: POST \S+/runs "HTTP/1.1 200')
        for line in proc.stderr:
            if started.search(line):
                break
        else:
            raise AssertionError(f"the ask ended before its run started (exit {proc.wait()})")
        proc.send_signal(stop_signal)
        out, rest = proc.communicate(timeout=20)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines = [line for line in rest.splitlines() if line.strip() and not re.match(r"\d{4}-\d\d-\d\d \d", line)]
    assert (proc.returncode, out) == (130, "")
    assert len(lines) == 1 and lines[0].startswith("interrupted; "), lines
