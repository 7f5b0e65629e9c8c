"""``keep-openaiassistant`` / ``python -m keep_openaiassistant``: smoke test, emulator, discovery.

    ask PROMPT [--thread-id ID] [--emulator [--emulator-port N]] [--json] [--api A] [--via V]
               [--max-wait-time S] [--additional-instructions TEXT] [--parse-json | --no-parse-json]
               [--structured-output-format JSON|@FILE] [--tool-outputs JSON|@FILE] [--history H] ...
    emulator [--port N] [--host H] [--model-time S] [--knowledge DIR]
    kb sync DIR | ls | search QUERY | rm PATH...  [--vector-store vs_...|NAME]  (:mod:`.kb.cli`)
    link | unlink [--providers-dir DIR]
    doctor [--no-listing] [--json]

``-v`` (log to stderr) goes before or after the command. Exit codes: 0 success; 1 the
assistant (or Keep discovery) failed — the message says why; 2 usage or configuration error
(missing key, bad option, misconfigured provider); 130 interrupted (Ctrl-C, SIGTERM); doctor
only: 3 Keep is not importable from this Python, 4 Keep finds the provider but the openai SDK
cannot work. Errors are one ``error: ...`` line on stderr (``interrupted; ...`` for an
interrupted ask), never a traceback and never a secret; with ``--json`` that line is a JSON
object ``{"error": {"type", "message", "exit_code", ...}}``. Messages name what the user of
this command sets (``OPENAI_BASE_URL``, ``--thread-id``), not the provider's form fields.

``ask`` has a flag for every step parameter (:data:`keep_openaiassistant.params.PARAMETERS`,
``--name-with-dashes``; booleans also ``--no-...``; mappings as JSON or ``@file``); the values
go through the same coercion as a workflow's ``with:``. While it waits, and only when stderr is
a terminal, one progress line says what it is doing and for how long.

``ask`` goes through Keep's provider class when Keep is importable (as Keep's own provider
smoke blocks do), else straight through the engine; ``--via`` forces one. ``--emulator`` asks
the emulator a ``keep-openaiassistant emulator`` serves on 127.0.0.1:8765 (``--emulator-port``)
when one is running — so threads live on between asks and ``--thread-id`` continues them — and
else starts a fresh one in process for this one ask; it ignores the OPENAI_* server variables:
no key, no network. It answers as the emulator's default assistant (Assistants API) unless
``--api responses``. Ctrl-C or SIGTERM during ``ask`` interrupts the ask: the engine cancels
the run it started and the command says so. This module imports no Keep code; the Keep paths
(``--via keep``, ``doctor``) are in :mod:`keep_openaiassistant.keep_adapter`.
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn, TextIO

from . import __version__, params
from .errors import AskInterrupted, AssistantError, ConfigurationError
from .settings import API_CHOICES
from .waiting import INTERRUPTS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Where ``emulator`` serves by default, and where ``ask --emulator`` looks for one to reuse.
EMULATOR_PORT = 8765
_PROBE_SECONDS = 0.5


class UsageError(Exception):
    """Exit 2 with this one line."""


class _BadArguments(Exception):
    """argparse refused the command line; ``main`` reports it (as JSON with ``--json``)."""

    def __init__(self, message: str, parser: argparse.ArgumentParser) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _BadArguments(message, self)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="keep-openaiassistant",
        description="OpenAI Assistant provider for Keep: smoke test, local emulator, Keep discovery.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr (debug level)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ask = sub.add_parser(
        "ask",
        help="ask the assistant once and print the step result",
        description="Ask once, print the step result Keep would store. Reads OPENAI_API_KEY, ASSISTANT_ID "
        "(or OPENAI_ASSISTANT_ID), OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_INSTRUCTIONS, "
        "OPENAI_VECTOR_STORE_IDS, OPENAI_ORG_ID, OPENAI_PROJECT_ID.",
    )
    ask.add_argument("prompt", metavar="PROMPT")
    ask.add_argument(
        "--emulator",
        action="store_true",
        help="ask the emulator serving on 127.0.0.1:--emulator-port if one runs (threads persist), "
        "else a fresh one started for this ask",
    )
    ask.add_argument(
        "--emulator-port",
        type=int,
        metavar="N",
        help=f"the port of a running `keep-openaiassistant emulator` to reuse (default {EMULATOR_PORT})",
    )
    ask.add_argument("--json", action="store_true", help="compact JSON on one line; errors as JSON too")
    ask.add_argument("--api", choices=API_CHOICES, help="backend (default: auto; with --emulator: assistants)")
    _add_step_flags(ask)
    ask.add_argument(
        "--via",
        choices=("auto", "keep", "engine"),
        default="auto",
        help="through Keep's provider class or the engine (default: keep when importable)",
    )

    emu = sub.add_parser("emulator", help="serve the OpenAI emulator until interrupted (-v: log each request)")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=EMULATOR_PORT, help=f"0 picks a free port (default {EMULATOR_PORT})")
    emu.add_argument("--model-time", type=float, default=0.3, metavar="S", help="seconds a run takes (default 0.3)")
    emu.add_argument(
        "--knowledge", type=Path, metavar="DIR", help="load DIR's files into the default assistant's vector store"
    )

    for name, text in (
        ("link", "symlink the provider into Keep's providers folder (source/editable Keep)"),
        ("unlink", "remove that symlink"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument(
            "--providers-dir", type=Path, help="Keep's keep/providers folder (default: the importable Keep's)"
        )

    doc = sub.add_parser("doctor", help="does Keep find the provider, and if not, why")
    doc.add_argument(
        "--no-listing", action="store_true", help="skip Keep's full provider listing (slow: imports every provider)"
    )
    doc.add_argument("--json", action="store_true", help="the report as JSON")
    from .kb.cli import add_parser as add_kb_parser  # the knowledge base (kb sync|ls|search|rm)

    add_kb_parser(sub)
    return parser


def _verbose_after_every_command(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``-v`` after the command too, on every command however it was registered.

    ``default=SUPPRESS``: a command's ``-v`` sets ``verbose`` only when given there, so a
    top-level ``-v`` is never reset by the command's parser.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                with suppress(argparse.ArgumentError):  # the command has a -v of its own
                    command.add_argument(
                        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log to stderr"
                    )
    return parser


def _add_step_flags(ask: argparse.ArgumentParser) -> None:
    """One flag per step parameter but the prompt (positional), described by :mod:`.params`.

    Values stay strings here, exactly like a workflow's rendered ``with:`` values, and go
    through the same :func:`params.coerce_step`: one set of rules and messages for both.
    """
    group = ask.add_argument_group("step parameters (as in a workflow step's with:)")
    for parameter in params.PARAMETERS:
        if parameter.name == "prompt":
            continue
        flag = "--" + parameter.name.replace("_", "-")
        default = f" (default {parameter.default})" if parameter.default is not None else ""
        text = parameter.description.replace("%", "%%") + default
        if parameter.type == "boolean":
            group.add_argument(flag, dest=parameter.name, action=argparse.BooleanOptionalAction, help=text)
        elif parameter.type in ("object", "array"):
            group.add_argument(flag, dest=parameter.name, metavar="JSON|@FILE", help=text)
        else:
            group.add_argument(flag, dest=parameter.name, metavar=_metavar(parameter), help=text)


def _metavar(parameter: params.Parameter) -> str:
    return {"number": "S" if parameter.name.endswith("time") else "N", "boolean": "BOOL"}.get(parameter.type, "TEXT")


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _verbose_after_every_command(_parser())
    as_json = "--json" in argv
    try:
        args = parser.parse_args(argv)
    except _BadArguments as exc:
        if as_json:
            _report(err, EXIT_USAGE, "UsageError", str(exc), as_json=True)
        else:
            exc.parser.print_usage(err)
            print(f"{exc.parser.prog}: error: {exc}", file=err)
        return EXIT_USAGE
    as_json = bool(getattr(args, "json", False))
    _configure_logging(args.verbose, err)
    handlers = {"ask": _ask, "emulator": _emulator, "link": _link, "unlink": _link, "doctor": _doctor, "kb": _kb}
    try:
        return handlers[args.command](args, out, err)
    except UsageError as exc:
        return _report(err, EXIT_USAGE, "UsageError", str(exc), as_json=as_json)
    except KeyboardInterrupt:
        # Interrupted outside an ask (starting the emulator, reading the config): nothing to cancel.
        if as_json:
            return _report(err, EXIT_INTERRUPTED, "KeyboardInterrupt", "interrupted", as_json=True)
        print("interrupted", file=err)
        return EXIT_INTERRUPTED


def _report(err: TextIO, code: int, kind: str, message: str, *, as_json: bool, **ids: str | None) -> int:
    """The one error line: ``error: MESSAGE``, or with ``--json`` one JSON object."""
    if as_json:
        body: dict[str, Any] = {"type": kind, "message": message, "exit_code": code}
        body.update({k: v for k, v in ids.items() if v})
        print(json.dumps({"error": body}, ensure_ascii=False, separators=(",", ":")), file=err)
    else:
        print(f"error: {message}", file=err)
    return code


def _configure_logging(verbose: bool, err: TextIO) -> None:
    """Quiet unless -v: the one error line is the output. Handler level, not logger level,
    because Keep's providers set their own logger's level (INFO) and propagate to the root."""
    handler = logging.StreamHandler(err)
    handler.setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for previous in _log_handlers:  # main() called again in one process (tests, tools): one handler
        root.removeHandler(previous)
    _log_handlers[:] = [handler]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


_log_handlers: list[logging.Handler] = []


# -- ask -----------------------------------------------------------------------------------------


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _authentication(args: argparse.Namespace, emulator_url: str | None) -> dict[str, Any]:
    """The provider's install form, from the environment (or the emulator)."""
    auth: dict[str, Any] = {
        "model": _env("OPENAI_MODEL"),
        "instructions": _env("OPENAI_INSTRUCTIONS"),
        "vector_store_ids": _env("OPENAI_VECTOR_STORE_IDS"),
    }
    if emulator_url is not None:
        from .emulator import DEFAULT_ASSISTANT_ID

        api = args.api or "assistants"
        auth.update(api_key="sk-emulator", base_url=emulator_url, api=api)
        if api != "responses":
            auth["assistant_id"] = DEFAULT_ASSISTANT_ID
    else:
        key = _env("OPENAI_API_KEY")
        if not key:
            raise UsageError(
                "OPENAI_API_KEY is not set: export your OpenAI API key, or add --emulator to ask the "
                "bundled emulator (no key, no network)."
            )
        auth.update(
            api_key=key,
            base_url=_env("OPENAI_BASE_URL"),
            organization_id=_env("OPENAI_ORG_ID"),
            project_id=_env("OPENAI_PROJECT_ID"),
            assistant_id=_env("ASSISTANT_ID", "OPENAI_ASSISTANT_ID"),
            api=args.api or "auto",
        )
    return {k: v for k, v in auth.items() if v is not None}


def _running_emulator(port: int) -> str | None:
    """The base URL of a ``keep-openaiassistant emulator`` serving on 127.0.0.1:``port``, or None.

    Asked on its control route, and believed only when the server names itself as this
    package's emulator: anything else on that port is left alone.
    """
    url = f"http://127.0.0.1:{port}"
    request = urllib.request.Request(f"{url}/_emulator/config", headers={"Authorization": "Bearer sk-emulator"})
    try:
        with urllib.request.urlopen(request, timeout=_PROBE_SECONDS) as reply:
            server = reply.headers.get("server", "")
    except (OSError, ValueError):  # refused, timed out, not HTTP
        return None
    return f"{url}/v1" if server.startswith("keep-openaiassistant-emulator") else None


@contextmanager
def _maybe_emulator(args: argparse.Namespace) -> Iterator[str | None]:
    """The emulator to ask: a running one (threads persist between asks), else one for this ask."""
    if not args.emulator:
        yield None
        return
    port = args.emulator_port or EMULATOR_PORT
    running = _running_emulator(port)
    if running is not None:
        logging.getLogger(__name__).info("asking the emulator running at %s", running)
        yield running
        return
    if args.thread_id:
        raise UsageError(
            f"--thread-id {args.thread_id} with --emulator: no emulator is serving on 127.0.0.1:{port}, and the "
            "one this command would start is new and empty, so it cannot have that thread. Start one that keeps "
            f"its threads between asks (`keep-openaiassistant emulator --port {port}` in another terminal), then "
            "ask with --emulator again: it is used when it runs."
        )
    from .emulator import Emulator

    emu = Emulator()
    started = False
    try:
        # The emulator's threads inherit the signal mask of the thread that starts them: started
        # with SIGINT/SIGTERM blocked, they never take a signal meant for this process, which the
        # kernel then hands to the main thread, the one blocked in the ask, interrupting it at once.
        with _signals_blocked():
            emu.start()
            started = True
        yield emu.base_url
    finally:
        if started:  # stop() waits for the serving thread: only once it was started
            emu.stop()


@contextmanager
def _signals_blocked() -> Iterator[None]:
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPT_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def _interrupted_by_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM (``kill``, ``docker stop``) both raise KeyboardInterrupt in the main thread.

    The engine turns a KeyboardInterrupt during an ask into AskInterrupted after cancelling the
    run it started. SIGINT is set too: a process started in the background by a shell inherits
    SIGINT *ignored*, and Python then never raises KeyboardInterrupt for it.
    """
    if threading.current_thread() is not threading.main_thread():  # signal.signal: main thread only
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        if INTERRUPTS.deliver():  # the server is naming the run just started: cancel it once named
            return
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in INTERRUPT_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _keep_importable() -> bool:
    try:
        return importlib.util.find_spec("keep.providers.base.base_provider") is not None
    except (ImportError, ValueError):
        return False


def _step(args: argparse.Namespace) -> dict[str, Any]:
    """The step's ``with:`` from the flags: only those given, as strings (``@FILE`` read)."""
    step: dict[str, Any] = {"prompt": args.prompt}
    for parameter in params.PARAMETERS:
        value = getattr(args, parameter.name, None)
        if parameter.name == "prompt" or value is None:
            continue
        if isinstance(value, str) and value.startswith("@") and parameter.type in ("object", "array"):
            path = Path(value[1:])
            try:
                value = path.read_text(encoding="utf-8")
            except OSError as exc:
                flag = "--" + parameter.name.replace("_", "-")
                raise UsageError(f"{flag} {value}: cannot read {path}: {exc.strerror or exc}.") from None
        step[parameter.name] = value
    return step


def _ask(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    via = args.via
    if via == "auto":
        via = "keep" if _keep_importable() else "engine"
    elif via == "keep" and not _keep_importable():
        raise UsageError(f"--via keep: Keep is not importable from {sys.executable}; use --via engine.")
    step = _step(args)
    from_env = not args.emulator

    def report(code: int, exc: Exception, line: str | None = None) -> int:
        message = in_cli_terms(str(exc), from_env=from_env, field=getattr(exc, "field", None))
        if line is not None and not args.json:
            print(in_cli_terms(line, from_env=from_env), file=err)
            return code
        ids = {"thread_id": getattr(exc, "thread_id", None), "run_id": getattr(exc, "run_id", None)}
        return _report(err, code, type(exc).__name__, message, as_json=args.json, **ids)

    with _interrupted_by_signals(), _maybe_emulator(args) as emulator_url:
        auth = _authentication(args, emulator_url)
        try:
            with Progress(err, enabled=not args.verbose):
                result = _ask_via_keep(auth, step) if via == "keep" else _ask_via_engine(auth, step)
        except ConfigurationError as exc:
            return report(EXIT_USAGE, exc)
        except AskInterrupted as exc:
            return report(EXIT_INTERRUPTED, exc, _interrupted_line(exc))
        except AssistantError as exc:
            return report(EXIT_FAILED, exc)
    text = (
        json.dumps(result, ensure_ascii=False, separators=(",", ":"))
        if args.json
        else json.dumps(result, ensure_ascii=False, indent=2)
    )
    print(text, file=out)
    return EXIT_OK


# What the engine's messages call a form field or a step parameter, as this command's user sets
# it: the environment variable or the flag. Whole words only; the form fields only when they came
# from the environment (with --emulator the command sets them itself).
_ENV_TERMS = {
    "api_key": "OPENAI_API_KEY",
    "organization_id": "OPENAI_ORG_ID",
    "project_id": "OPENAI_PROJECT_ID",
    "base_url": "OPENAI_BASE_URL",
    "assistant_id": "ASSISTANT_ID",
    "vector_store_ids": "OPENAI_VECTOR_STORE_IDS",
}
_PHRASES = (
    (r"^Provider \S+ (\([^)]*\) )?is misconfigured: ", ""),
    (r"give the step a `prompt:` with the message for the assistant", "give the PROMPT argument"),
    (r"correct or remove (it|them) in the step's `with:`", r"correct or remove \1"),
    (r"\bin the provider config\b", "in the environment"),
    (r"\s*\(Keep: on-failure retry\)", ""),
    (r"\bretry the step\b", "ask again"),
    (r"\bthe step's\b", "the command's"),
    (r"\bthe step\b", "the command"),
    (r"\bbetween Keep and\b", "between this machine and"),
    (r"\breachable from Keep\b", "reachable from here"),
    (r"\bunknown step parameter\b", "unknown parameter"),
)


def in_cli_terms(message: str, *, from_env: bool, field: str | None = None) -> str:
    """An engine or provider message in the words of this command (env var names, flags).

    ``field``: the parameter a ConfigurationError names; a one-word one (``history``) is the
    flag only where the message opens with it, since as a word it may mean something else.
    """
    for pattern, replacement in _PHRASES:
        message = re.sub(pattern, replacement, message)
    if field in params.BY_NAME and "_" not in field:
        message = re.sub(rf"^{field}\b", "--" + field, message)
    terms = {p.name: "--" + p.name.replace("_", "-") for p in params.PARAMETERS if "_" in p.name}
    terms["api"] = "--api"
    if from_env:
        terms.update(_ENV_TERMS)
    names = "|".join(sorted(map(re.escape, terms), key=len, reverse=True))
    # `api` only as the subject of a sentence about the backend ("api is 'assistants' ..."), never "the api".
    return re.sub(
        rf"(?<![\w.\-/`'\"])({names})(?![\w\-/'\"])",
        lambda m: (
            terms[m.group(1)] if m.group(1) != "api" or message[m.end() :].startswith((" is ", " to ")) else m.group(1)
        ),
        message,
    )


class Progress:
    """One line on a terminal's stderr while an ask waits: what it is doing, and for how long.

    ``  waiting for the answer: run streaming (3 s)``, redrawn every second and cleared when the
    ask ends. What it is doing comes from the engine's own INFO log records (``run streaming``,
    ``thread busy; waiting for the other run``, ``stream broken; resuming``), so the line needs no
    hook in the engine. Nothing at all when stderr is not a terminal (piped, a file, CI) or with
    ``-v`` (the log lines say it there).
    """

    LOGGER = "keep_openaiassistant"

    def __init__(self, stream: TextIO, *, enabled: bool = True, interval: float = 1.0) -> None:
        self.stream = stream
        self.active = enabled and _is_terminal(stream)
        self.status = "sending the question"
        self._interval = interval
        self._started = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._handler: logging.Handler | None = None
        self._level = logging.NOTSET

    def __enter__(self) -> Progress:
        if not self.active:
            return self
        self._started = time.monotonic()
        progress = self

        class _Status(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.name.startswith("keep_openaiassistant.emulator"):  # an in-process emulator's own log
                    return
                progress.status = record.getMessage().split(";")[0][:60]

        self._handler = _Status(logging.INFO)
        logger = logging.getLogger(self.LOGGER)
        self._level = logger.level
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)  # the root handler still shows only what -v asks for
        logger.addHandler(self._handler)
        self.draw()
        with _signals_blocked():  # signals stay with the main thread, which is blocked in the ask
            self._thread = threading.Thread(target=self._tick, name="ask-progress", daemon=True)
            self._thread.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(self._interval):
            self.draw()

    def draw(self) -> None:
        seconds = int(time.monotonic() - self._started)
        with self._lock:
            self.stream.write(f"\r\x1b[K  waiting for the answer: {self.status} ({seconds} s)")
            self.stream.flush()

    def __exit__(self, *exc: object) -> None:
        if not self.active:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        logger = logging.getLogger(self.LOGGER)
        if self._handler is not None:
            logger.removeHandler(self._handler)
        logger.setLevel(self._level)
        with self._lock:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def _interrupted_line(exc: AskInterrupted) -> str:
    """``interrupted; <what became of the run>`` (the engine's message, without its own 'Interrupted')."""
    return "interrupted; " + re.sub(r"^interrupted\b[;:,.]?\s*", "", str(exc), flags=re.IGNORECASE)


def _ask_via_engine(auth: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    from . import params
    from .auth_config import settings_from_authentication
    from .engine import Assistant

    assistant = Assistant(settings_from_authentication(auth))
    try:
        return assistant.ask(**params.coerce_step(**step)).to_dict()
    finally:
        assistant.close()


def _ask_via_keep(auth: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    """Through Keep's provider class (:mod:`.keep_adapter.cli`); its errors arrive as the engine's."""
    from .keep_adapter import cli as keep_cli

    try:
        return keep_cli.ask(auth, step)
    except keep_cli.KeepNotImportable as exc:
        raise UsageError(str(exc)) from None


# -- the knowledge base ----------------------------------------------------------------------------


def _knowledge_line(emu: Any, folder: Path | None) -> str:
    """The emulator banner's line about the folder loaded with --knowledge ("" without one)."""
    if folder is None:
        return ""
    from .emulator import DEFAULT_ASSISTANT_ID, RUNBOOKS_VECTOR_STORE

    files = emu.knowledge.stores[RUNBOOKS_VECTOR_STORE].files
    return (
        f"Knowledge: {len(files)} files of {folder} in vector store {RUNBOOKS_VECTOR_STORE}, searched by "
        f"{DEFAULT_ASSISTANT_ID} (Responses API: OPENAI_VECTOR_STORE_IDS={RUNBOOKS_VECTOR_STORE}).\n"
    )


def _kb(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .kb.cli import run

    return run(args, out, err, auth=_authentication(args, None))


# -- emulator ------------------------------------------------------------------------------------


def _emulator(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .emulator import DEFAULT_ASSISTANT_ID, Emulator

    try:
        emu = Emulator(host=args.host, port=args.port, model_time=args.model_time, knowledge=args.knowledge)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise UsageError(f"--knowledge: {exc}. What to do: give a folder of files, e.g. examples/runbooks.") from None
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = (
                " Another program (perhaps an emulator already running: `ask --emulator` uses one on "
                f"{EMULATOR_PORT}) holds it: stop it, or pick another port with --port N (--port 0: any free port)."
            )
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}.{hint}") from None
    # Ctrl-C (SIGINT) and SIGTERM (docker stop) both stop it. Both handlers are set here, before
    # the banner announces the server (a signal sent as soon as it is read must find them): a
    # process started in the background by a shell inherits SIGINT *ignored*, and Python then
    # never raises KeyboardInterrupt. The wait is timed because a signal the kernel hands to
    # another thread only runs its handler when the main thread next executes bytecode.
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    emu.start()
    url = emu.base_url
    port = int(emu.url.rsplit(":", 1)[1])
    reuse = "--emulator" if port == EMULATOR_PORT else f"--emulator --emulator-port {port}"
    print(
        f"OpenAI emulator (Assistants API v2, Responses + Conversations) serving at {url}\n"
        f"Point a provider at it: base_url: {url}, api_key: any value not starting with 'bad', "
        f"assistant_id: {DEFAULT_ASSISTANT_ID} (Assistants API) or none (Responses API).\n"
        f"Try: OPENAI_BASE_URL={url} OPENAI_API_KEY=sk-emulator ASSISTANT_ID={DEFAULT_ASSISTANT_ID} "
        f'keep-openaiassistant ask "Disk full on db-1"\n'
        f"While it runs, `keep-openaiassistant ask {reuse}` asks it: its threads persist, so --thread-id "
        "continues them.\n"
        + ("Each request is logged to stderr (-v).\n" if args.verbose else "")
        + _knowledge_line(emu, args.knowledge)
        + "Ctrl-C stops it.",
        file=out,
        flush=True,
    )
    try:
        while not stop.wait(0.2):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        emu.stop()
    print("emulator stopped", file=err)
    return EXIT_OK


# -- discovery -----------------------------------------------------------------------------------


def _link(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from . import discovery

    action = discovery.link if args.command == "link" else discovery.unlink
    try:
        print(action(args.providers_dir), file=out)
    except discovery.DiscoveryError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_FAILED
    return EXIT_OK


def _doctor(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .keep_adapter.doctor import doctor

    report = doctor(listing=not args.no_listing)
    print(json.dumps(report.as_dict(), default=str) if args.json else report.render(), file=out)
    return report.exit_code
