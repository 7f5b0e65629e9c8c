"""The command line: exit codes and exact error lines, against the in-process emulator.

``main(argv, stdout=, stderr=)`` for most tests (fast); subprocesses for what needs a process of
its own: ``emulator`` (it serves until SIGINT), ``python -m`` wiring, the progress line (stderr a
pseudo-terminal, from the ``pty`` module), and Ctrl-C / SIGTERM during ``ask``.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keep_openaiassistant import cli, params
from keep_openaiassistant.cli import in_cli_terms, main
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


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


NO_EMULATOR_PORT = str(_closed_port())


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    # `ask --emulator` reuses an emulator serving on EMULATOR_PORT: never one of this machine's.
    monkeypatch.setattr(cli, "EMULATOR_PORT", int(NO_EMULATOR_PORT))


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
    # In the command's terms: the flag and the environment variable, not the form's field names.
    assert err == (
        "error: --api is 'assistants' but ASSISTANT_ID is empty: set ASSISTANT_ID (asst_...), or set --api to "
        "'responses' and describe the assistant with model/instructions.\n"
    )


def test_a_bad_max_wait_time_is_exit_2_naming_the_parameter() -> None:
    code, out, err = run("ask", "Disk full", "--emulator", "--max-wait-time", "-5", "--via", "engine")
    assert (code, out) == (2, "")
    assert err == "error: --max-wait-time must be a positive number of seconds (e.g. 120), got '-5'.\n"


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
    code, out, err = run("ask", "x", "--api", "chat")
    assert (code, out) == (2, "")
    assert err.startswith("usage: keep-openaiassistant ask ")
    assert err.endswith(
        "keep-openaiassistant ask: error: argument --api: invalid choice: 'chat' "
        "(choose from 'auto', 'responses', 'assistants')\n"
    )


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


def test_emulator_on_a_busy_port_is_exit_2_and_suggests_another_port(emulator: Emulator) -> None:
    port = emulator.url.rsplit(":", 1)[1]
    code, out, err = run("emulator", "--port", port)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}: Address already in use. ")
    assert err.endswith("stop it, or pick another port with --port N (--port 0: any free port).\n")


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


# -- a flag for every step parameter -------------------------------------------------------------


def test_every_step_parameter_has_a_flag() -> None:
    ask = next(a for a in cli._parser()._actions if isinstance(a, __import__("argparse")._SubParsersAction)).choices[
        "ask"
    ]
    flags = {option for action in ask._actions for option in action.option_strings}
    for parameter in params.PARAMETERS:
        if parameter.name != "prompt":
            assert "--" + parameter.name.replace("_", "-") in flags, parameter.name


def _step(*argv: str) -> dict[str, Any]:
    args = cli._parser().parse_args(["ask", "Disk full", *argv])
    return cli._step(args)


def test_only_the_flags_given_reach_the_step_as_strings_like_rendered_with_values(tmp_path: Path) -> None:
    schema = tmp_path / "format.json"
    schema.write_text('{"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "object"}}}')
    assert _step() == {"prompt": "Disk full"}
    assert _step(
        "--thread-id",
        "thread_1",
        "--max-wait-time",
        "30",
        "--additional-instructions",
        "Be brief.",
        "--no-parse-json",
        "--structured-output-format",
        f"@{schema}",
        "--tool-outputs",
        '{"get_logs": "disk 97%"}',
        "--history",
        "none",
    ) == {
        "prompt": "Disk full",
        "thread_id": "thread_1",
        "max_wait_time": "30",
        "additional_instructions": "Be brief.",
        "parse_json": False,
        "structured_output_format": schema.read_text(),
        "tool_outputs": '{"get_logs": "disk 97%"}',
        "history": "none",
    }


def test_a_missing_at_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    code, out, err = run("ask", "x", "--emulator", "--tool-outputs", f"@{missing}", "--via", "engine")
    assert (code, out) == (2, "")
    assert err == f"error: --tool-outputs @{missing}: cannot read {missing}: No such file or directory.\n"


def test_no_parse_json_keeps_a_json_answer_as_text() -> None:
    code, out, _ = run("ask", "[[json]] Disk full", "--emulator", "--via", "engine", "--json")
    assert code == 0 and isinstance(json.loads(out)["response"], dict)
    code, out, _ = run("ask", "[[json]] Disk full", "--emulator", "--via", "engine", "--json", "--no-parse-json")
    result = json.loads(out)
    assert code == 0 and isinstance(result["response"], str) and result["response"] == result["raw_response"]


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_structured_output_format_shapes_the_answer(api: str) -> None:
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "triage",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"severity": {"type": "string", "enum": ["high", "low"]}},
                "required": ["severity"],
                "additionalProperties": False,
            },
        },
    }
    argv = ("ask", "Disk full", "--emulator", "--api", api, "--via", "engine", "--json")
    code, out, err = run(*argv, "--structured-output-format", json.dumps(schema))
    assert (code, err) == (0, "")
    assert json.loads(out)["response"] == {"severity": "high"}


def test_tool_outputs_answer_the_assistants_function_call() -> None:
    code, out, err = run(
        "ask",
        "[[tool:get_logs]] Disk full on db-1",
        "--emulator",
        "--via",
        "engine",
        "--json",
        "--tool-outputs",
        '{"get_logs": "ERROR disk 97% on /var"}',
    )
    assert (code, err) == (0, "")
    calls = json.loads(out)["tool_calls"]
    assert [c["name"] for c in calls] == ["get_logs"]
    assert "disk 97%" in json.dumps(calls[0])


def test_history_none_and_additional_instructions_reach_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    real = cli._ask_via_engine

    def spy(auth: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
        seen.update(params.coerce_step(**step))
        return real(auth, step)

    monkeypatch.setattr(cli, "_ask_via_engine", spy)
    argv = ("ask", "Disk full", "--emulator", "--via", "engine", "--json")
    code, out, _ = run(*argv, "--history", "none", "--additional-instructions", "Two sentences.")
    assert code == 0
    assert (seen["history"], seen["additional_instructions"]) == ("none", "Two sentences.")
    assert [m["role"] for m in json.loads(out)["messages"]] == ["user", "assistant"]


def test_a_bad_history_value_names_the_flag() -> None:
    code, out, err = run("ask", "x", "--emulator", "--via", "engine", "--history", "some")
    assert (code, out) == (2, "")
    assert err == (
        "error: --history must be one of full, none, got 'some': full returns the thread's messages, none only "
        "this turn.\n"
    )


# -- --emulator keeps state across asks, or says why not --------------------------------------------


def test_emulator_asks_a_running_emulator_so_a_thread_continues(emulator: Emulator) -> None:
    port = emulator.url.rsplit(":", 1)[1]
    argv = ("--emulator", "--emulator-port", port, "--via", "engine", "--json")
    code, out, _ = run("ask", "Disk full on db-1", *argv)
    first = json.loads(out)
    assert code == 0 and first["thread_id"] in emulator.assistants.store.threads
    code, out, err = run("ask", "Still full?", *argv, "--thread-id", first["thread_id"])
    second = json.loads(out)
    assert (code, err) == (0, "")
    assert second["thread_id"] == first["thread_id"]
    assert [m["content"] for m in second["messages"] if m["role"] == "user"] == ["Disk full on db-1", "Still full?"]


def test_thread_id_with_emulator_and_none_running_says_why() -> None:
    code, out, err = run("ask", "Still full?", "--emulator", "--thread-id", "thread_abc", "--via", "engine")
    assert (code, out) == (2, "")
    assert err == (
        f"error: --thread-id thread_abc with --emulator: no emulator is serving on 127.0.0.1:{NO_EMULATOR_PORT}, "
        "and the one this command would start is new and empty, so it cannot have that thread. Start one that "
        f"keeps its threads between asks (`keep-openaiassistant emulator --port {NO_EMULATOR_PORT}` in another "
        "terminal), then ask with --emulator again: it is used when it runs.\n"
    )


def test_a_server_on_the_port_that_is_not_the_emulator_is_left_alone() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Other(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        assert cli._running_emulator(server.server_address[1]) is None
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# -- --json errors, -v anywhere, messages in the command's terms ---------------------------------


def test_json_errors_are_one_json_object_on_stderr() -> None:
    code, out, err = run("ask", "Disk full", "--json")
    assert (code, out) == (2, "")
    assert json.loads(err) == {
        "error": {"type": "UsageError", "message": MISSING_KEY[len("error: ") : -1], "exit_code": 2}
    }
    assert err.count("\n") == 1


def test_json_errors_carry_the_error_type(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> None:
    point_at(monkeypatch, emulator, key="bad-key-123", ASSISTANT_ID=DEFAULT_ASSISTANT_ID)
    code, out, err = run("ask", "Disk full", "--via", "engine", "--json")
    assert (code, out) == (1, "")
    error = json.loads(err)["error"]
    assert (error["type"], error["exit_code"]) == ("AuthenticationError", 1)
    assert "401" in error["message"] and "bad-key-123" not in err
    assert "OPENAI_API_KEY" in error["message"]


def test_json_argument_errors_are_json_too() -> None:
    code, out, err = run("ask", "--json")
    assert (code, out) == (2, "")
    assert json.loads(err) == {
        "error": {"type": "UsageError", "message": "the following arguments are required: PROMPT", "exit_code": 2}
    }


def test_an_interrupted_ask_with_json_is_a_json_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from keep_openaiassistant.errors import AskInterrupted

    def ask(auth: Any, step: Any) -> Any:
        raise AskInterrupted(
            "Interrupted; run run_1 on thread_1 was cancelled on the server.",
            cancelled=True,
            thread_id="thread_1",
            run_id="run_1",
        )

    monkeypatch.setattr(cli, "_ask_via_engine", ask)
    code, out, err = run("ask", "Disk full", "--emulator", "--via", "engine", "--json")
    assert (code, out) == (130, "")
    assert json.loads(err)["error"] == {
        "type": "AskInterrupted",
        "message": "Interrupted; run run_1 on thread_1 was cancelled on the server.",
        "exit_code": 130,
        "thread_id": "thread_1",
        "run_id": "run_1",
    }


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_before_or_after_the_command(where: str) -> None:
    argv = ["ask", "Disk full", "--emulator", "--via", "engine", "--json"]
    argv = ["-v", *argv] if where == "before" else [*argv, "-v"]
    code, out, err = run(*argv)
    assert code == 0 and json.loads(out)["status"] == "completed"
    assert re.search(r"^\d{4}-\d\d-\d\d [\d:,]+ (DEBUG|INFO) ", err, re.MULTILINE), err[:500]


def test_verbose_after_doctor_and_emulator_is_accepted() -> None:
    for command in (["doctor", "--no-listing", "-v"], ["link", "--providers-dir", "/nonexistent", "-v"]):
        code, _, err = run(*command)
        assert "unrecognized arguments" not in err and code != 2, (command, err)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Incorrect API key. What to do: check api_key, organization_id and project_id in the provider config.",
            "Incorrect API key. What to do: check OPENAI_API_KEY, OPENAI_ORG_ID and OPENAI_PROJECT_ID in the "
            "environment.",
        ),
        (
            "the server failed; retry the step (Keep: on-failure retry)",
            "the server failed; ask again",
        ),
        (
            "check base_url and the network between Keep and the server, then retry the step.",
            "check OPENAI_BASE_URL and the network between this machine and the server, then ask again.",
        ),
        (
            "Provider openaiassistant_cli is misconfigured: max_wait_time must be a positive number",
            "--max-wait-time must be a positive number",
        ),
        (
            "What to do: give their outputs in the step's tool_outputs, by function name",
            "What to do: give their outputs in the command's --tool-outputs, by function name",
        ),
        ("thread thread_abc (run run_1): the api said no", "thread thread_abc (run run_1): the api said no"),
    ],
)
def test_messages_in_the_commands_terms(message: str, expected: str) -> None:
    assert in_cli_terms(message, from_env=True) == expected


def test_with_the_emulator_form_fields_are_not_called_environment_variables() -> None:
    assert in_cli_terms("check base_url", from_env=False) == "check base_url"


# -- the progress line --------------------------------------------------------------------------


def _ask_process(*argv: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "keep_openaiassistant",
        "ask",
        "--emulator",
        "--emulator-port",
        NO_EMULATOR_PORT,
        "--via",
        "engine",
        *argv,
    ]


def _read_all(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal's other end
            return data
        if not chunk:
            return data
        data += chunk


def test_a_terminal_gets_a_progress_line_with_status_and_seconds_then_it_is_cleared() -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        _ask_process("[[delay:1]] Disk full"), stdout=subprocess.PIPE, stderr=slave, env=_child_env()
    )
    os.close(slave)
    timer = threading.Timer(90, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        out = proc.stdout.read()
        shown = _read_all(master).decode()
        assert proc.wait() == 0
    finally:
        timer.cancel()
        os.close(master)
    assert json.loads(out)["status"] == "completed"  # stdout is the result alone
    frames = shown.split("\r\x1b[K")
    assert frames[0] == "" and frames[-1] == "", repr(shown)  # drawn over itself, then erased
    lines = [f for f in frames if f]
    assert lines and all(re.fullmatch(r"  waiting for the answer: [^()]+ \(\d+ s\)", f) for f in lines), lines
    assert lines[0] == "  waiting for the answer: sending the question (0 s)"


def test_no_progress_line_when_stderr_is_piped() -> None:
    proc = subprocess.run(
        _ask_process("[[delay:1]] Disk full"), capture_output=True, text=True, env=_child_env(), timeout=90, check=False
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert json.loads(proc.stdout)["status"] == "completed"


def test_no_progress_line_in_process_when_stderr_is_not_a_terminal() -> None:
    code, _, err = run("ask", "Disk full", "--emulator", "--via", "engine")
    assert (code, err) == (0, "")


# -- the emulator command: request log, request ids ------------------------------------------------


def test_emulator_verbose_logs_each_request_and_request_ids_are_unique() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "keep_openaiassistant", "emulator", "--port", "0", "-v"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        base_url = proc.stdout.readline().rsplit(" ", 1)[1].strip()
        ids = []
        for _ in range(2):
            request = urllib.request.Request(
                f"{base_url}/assistants/{DEFAULT_ASSISTANT_ID}",
                headers={"Authorization": "Bearer sk-x", "OpenAI-Beta": "assistants=v2"},
            )
            with urllib.request.urlopen(request, timeout=10) as reply:
                ids.append(reply.headers["x-request-id"])
        assert len(set(ids)) == 2 and all(re.fullmatch(r"req_[0-9a-f]{8}\d{12}", i) for i in ids), ids
        logged = []
        for line in proc.stderr:
            if "keep_openaiassistant.emulator.http" in line:
                logged.append(line)
                if len(logged) == 2:
                    break
        assert all(
            re.search(
                rf"INFO keep_openaiassistant\.emulator\.http: GET /v1/assistants/{DEFAULT_ASSISTANT_ID} 200 "
                r"\d+\.\d ms$",
                line,
            )
            for line in logged
        ), logged
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


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
        if "--emulator" in argv:
            argv = (*argv, "--emulator-port", NO_EMULATOR_PORT)
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
