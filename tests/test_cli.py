"""The command line: exit codes and exact error lines, against the in-process emulator.

``main(argv, stdout=, stderr=)`` for most tests (fast); subprocesses for what needs a process of
its own: ``emulator`` (it serves until SIGINT), ``python -m`` wiring, and Ctrl-C / SIGTERM
during ``ask``.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from keep_openaiassistant.cli import main
from keep_openaiassistant.emulator import DEFAULT_ASSISTANT_ID, Emulator

ENV_NAMES = (
    "OPENAI_API_KEY",
    "ASSISTANT_ID",
    "OPENAI_ASSISTANT_ID",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "OPENAI_INSTRUCTIONS",
    "OPENAI_VECTOR_STORE_IDS",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
)
MISSING_KEY = (
    "error: OPENAI_API_KEY is not set: export your OpenAI API key, or add --emulator to ask the "
    "bundled emulator (no key, no network).\n"
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def point_at(monkeypatch: pytest.MonkeyPatch, emulator: Emulator, **env: str) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", env.pop("key", "sk-emulator"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_ask_against_the_bundled_emulator_prints_the_step_result() -> None:
    code, out, err = run("ask", "Disk full on db-1", "--emulator", "--via", "engine")
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert out.startswith("{\n  ")  # pretty by default
    assert result["status"] == "completed"
    assert result["thread_id"].startswith("thread_")
    assert result["backend"] == "assistants"
    assert result["assistant_id"] == DEFAULT_ASSISTANT_ID
    assert [m["role"] for m in result["messages"]] == ["user", "assistant"]


def test_ask_json_is_one_compact_line() -> None:
    code, out, _ = run("ask", "Disk full on db-1", "--emulator", "--json", "--via", "engine")
    assert code == 0
    assert out.count("\n") == 1 and ", " not in out.split('"response"')[0]
    assert set(json.loads(out)) >= {
        "response",
        "raw_response",
        "thread_id",
        "run_id",
        "status",
        "messages",
        "usage",
        "citations",
        "files",
    }


def test_ask_emulator_with_the_responses_backend() -> None:
    code, out, err = run("ask", "Disk full on db-1", "--emulator", "--api", "responses", "--via", "engine")
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert result["backend"] == "responses"
    assert result["thread_id"].startswith("conv_")


def test_missing_key_is_one_line_and_exit_2() -> None:
    assert run("ask", "Disk full") == (2, "", MISSING_KEY)


def test_missing_key_is_exit_2_through_python_dash_m() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    proc = subprocess.run(
        [sys.executable, "-m", "keep_openaiassistant", "ask", "Disk full"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", MISSING_KEY)


def test_a_refused_key_is_exit_1_with_the_message_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator
) -> None:
    point_at(monkeypatch, emulator, key="bad-key-123", ASSISTANT_ID=DEFAULT_ASSISTANT_ID)
    code, out, err = run("ask", "Disk full", "--via", "engine")
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "401" in err and "Traceback" not in err
    assert "bad-key-123" not in err


def test_a_configuration_error_is_exit_2(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> None:
    point_at(monkeypatch, emulator)
    code, out, err = run("ask", "Disk full", "--api", "assistants", "--via", "engine")
    assert (code, out) == (2, "")
    assert err.startswith("error: api is 'assistants' but assistant_id is empty: ")


def test_a_bad_max_wait_time_is_exit_2_naming_the_parameter() -> None:
    code, out, err = run("ask", "Disk full", "--emulator", "--max-wait-time", "-5", "--via", "engine")
    assert (code, out) == (2, "")
    assert err == "error: max_wait_time must be a positive number of seconds (e.g. 120), got -5.0.\n"


def test_thread_id_continues_the_conversation(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> None:
    point_at(monkeypatch, emulator, OPENAI_ASSISTANT_ID=DEFAULT_ASSISTANT_ID)
    first = json.loads(run("ask", "Disk full on db-1", "--via", "engine")[1])
    code, out, _ = run("ask", "What did I ask first?", "--thread-id", first["thread_id"], "--via", "engine")
    second = json.loads(out)
    assert code == 0
    assert second["thread_id"] == first["thread_id"]
    assert second["run_id"] != first["run_id"]
    assert [m["content"] for m in second["messages"] if m["role"] == "user"] == [
        "Disk full on db-1",
        "What did I ask first?",
    ]


def test_via_keep_without_keep_is_a_usage_error() -> None:
    from keep_openaiassistant.cli import _keep_importable

    if _keep_importable():
        pytest.skip("Keep is importable here: tests/keep covers --via keep")
    code, out, err = run("ask", "x", "--emulator", "--via", "keep")
    assert (code, out) == (2, "")
    assert err.startswith("error: --via keep: Keep is not importable from ")


def test_unknown_option_is_argparse_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        run("ask", "x", "--api", "chat")
    assert info.value.code == 2


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_emulator_command_serves_until_interrupted(stop_signal: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "keep_openaiassistant", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(
            "OpenAI emulator (Assistants API v2, Responses + Conversations) serving at http://127.0.0.1:"
        )
        base_url = first.rsplit(" ", 1)[1].strip()
        hint = proc.stdout.readline()
        assert f"base_url: {base_url}" in hint and DEFAULT_ASSISTANT_ID in hint
        request = urllib.request.Request(
            f"{base_url}/assistants/{DEFAULT_ASSISTANT_ID}",
            headers={"Authorization": "Bearer sk-x", "OpenAI-Beta": "assistants=v2"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            body: dict[str, Any] = json.loads(reply.read())
        assert body["id"] == DEFAULT_ASSISTANT_ID
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_emulator_on_a_busy_port_is_exit_2(emulator: Emulator) -> None:
    port = emulator.url.rsplit(":", 1)[1]
    code, out, err = run("emulator", "--port", port)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")


def test_doctor_without_keep_is_exit_3() -> None:
    from keep_openaiassistant.discovery import keep_providers_dir

    if keep_providers_dir() is not None:
        pytest.skip("Keep is importable here: tests/keep covers doctor")
    code, out, _ = run("doctor")
    assert code == 3
    assert "FAIL  Keep importable: no module keep.providers for " in out
    assert out.endswith("Keep is not importable here: nothing else to check.\n")


def test_doctor_json() -> None:
    from keep_openaiassistant.discovery import keep_providers_dir

    if keep_providers_dir() is not None:
        pytest.skip("Keep is importable here")
    code, out, _ = run("doctor", "--json")
    report = json.loads(out)
    assert report["exit_code"] == code == 3
    assert report["checks"][-1]["ok"] is False


def test_a_keep_that_does_not_import_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Keep present on disk but missing one of its own dependencies.
    import builtins

    from keep_openaiassistant import cli

    real_import = builtins.__import__

    def broken_keep(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("keep.contextmanager"):
            raise ModuleNotFoundError("No module named 'chevron'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(cli, "_keep_importable", lambda: True)
    monkeypatch.setattr(builtins, "__import__", broken_keep)
    code, out, err = run("ask", "Disk full", "--emulator", "--via", "keep")
    assert (code, out) == (2, "")
    assert err == "error: Keep is installed but does not import (No module named 'chevron'); use --via engine.\n"


# -- Ctrl-C and SIGTERM during ask ---------------------------------------------------------------


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env.update(extra)
    return env


@pytest.fixture
def asking() -> Iterator[Any]:
    """Start ``python -m keep_openaiassistant -v ask ...``; returns it once its run request is answered.

    With ``-v`` the SDK's HTTP client logs each response as it arrives; the line for the request
    that creates the run (``.../runs`` or ``.../responses``) says the server has started it and
    the stream is open, so a signal sent now lands during the answer's wait.
    """
    procs: list[subprocess.Popen[str]] = []
    timers: list[threading.Timer] = []

    def start(*argv: str, env: dict[str, str] | None = None, creates: str = r"/runs") -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "keep_openaiassistant", "-v", "ask", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or _child_env(),
        )
        procs.append(proc)
        timers.append(threading.Timer(90, proc.kill))  # a hung child ends the reads below, not the suite
        timers[-1].start()
        assert proc.stderr is not None
        started = re.compile(rf'HTTP Request: POST \S+{creates} "HTTP/1.1 200')
        seen: list[str] = []
        for line in proc.stderr:
            seen.append(line)
            if started.search(line):
                return proc
        raise AssertionError(f"the ask ended before its run started: {proc.wait()}\n{''.join(seen[-20:])}")

    yield start
    for timer in timers:
        timer.cancel()
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _outcome(proc: subprocess.Popen[str]) -> tuple[int, str, list[str]]:
    """Exit code, stdout, and the stderr lines that are not -v log lines."""
    out, rest = proc.communicate(timeout=20)  # the run would take 30 s: an interrupted ask ends long before
    lines = [line for line in rest.splitlines() if not re.match(r"\d{4}-\d\d-\d\d \d", line) and line.strip()]
    return proc.returncode, out, lines


INTERRUPTED_RUN = re.compile(r"^interrupted; run (run_\w+) on (thread_\w+) was cancelled on the server\. ")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_during_ask_cancels_the_run_and_exits_130(asking: Any, stop_signal: signal.Signals) -> None:
    proc = asking("--emulator", "--via", "engine", "[[delay:30]] Disk full on db-1")
    proc.send_signal(stop_signal)
    code, out, lines = _outcome(proc)
    assert (code, out) == (130, "")
    assert len(lines) == 1 and INTERRUPTED_RUN.match(lines[0]), lines
    assert "Traceback" not in "\n".join(lines)


def test_ctrl_c_during_a_responses_ask_cancels_the_response(asking: Any) -> None:
    proc = asking("--emulator", "--api", "responses", "--via", "engine", "[[delay:30]] Disk full", creates="/responses")
    proc.send_signal(signal.SIGINT)
    code, out, lines = _outcome(proc)
    assert (code, out) == (130, "")
    assert len(lines) == 1 and re.match(r"^interrupted; response resp_\w+ on conv_\w+ was cancelled", lines[0]), lines


def test_sigterm_leaves_no_run_going_on_the_server(asking: Any, emulator: Emulator) -> None:
    # The server's own view: the run the interrupted ask started is cancelled, so the next ask
    # on the thread does not have to wait for it.
    env = _child_env(OPENAI_API_KEY="sk-emulator", OPENAI_BASE_URL=emulator.base_url, ASSISTANT_ID=DEFAULT_ASSISTANT_ID)
    proc = asking("--via", "engine", "[[delay:30]] Disk full on db-1", env=env)
    proc.send_signal(signal.SIGTERM)
    assert _outcome(proc)[0] == 130
    store = emulator.assistants.store
    with store.lock:
        for run in store.runs.values():
            store.advance(run)
        statuses = {run.id: run.status for run in store.runs.values()}
    assert len(statuses) == 1 and set(statuses.values()) == {"cancelled"}, statuses


def test_an_interrupt_before_the_ask_started_exits_130_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from keep_openaiassistant import cli

    def interrupted(*args: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_authentication", interrupted)
    assert run("ask", "Disk full", "--emulator", "--via", "engine") == (130, "", "interrupted\n")


def test_an_interrupted_ask_through_the_engine_path_prints_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from keep_openaiassistant import cli
    from keep_openaiassistant.errors import AskInterrupted

    def ask(auth: Any, step: Any) -> Any:
        raise AskInterrupted(
            "Interrupted; run run_1 on thread_1 was cancelled on the server. What to do: ask again when ready.",
            cancelled=True,
            thread_id="thread_1",
            run_id="run_1",
        )

    monkeypatch.setattr(cli, "_ask_via_engine", ask)
    assert run("ask", "Disk full", "--emulator", "--via", "engine") == (
        130,
        "",
        "interrupted; run run_1 on thread_1 was cancelled on the server. What to do: ask again when ready.\n",
    )


def test_sigterm_during_ask_raises_keyboard_interrupt_and_the_handlers_come_back() -> None:
    from keep_openaiassistant.cli import _interrupted_by_signals

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), _interrupted_by_signals():
        signal.raise_signal(signal.SIGTERM)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
