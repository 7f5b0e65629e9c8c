"""``keep-openaiassistant`` / ``python -m keep_openaiassistant``: smoke test, emulator, discovery.

    ask PROMPT [--thread-id ID] [--emulator] [--json] [--api A] [--max-wait-time S] [--via V]
    emulator [--port N] [--host H] [--model-time S]
    link | unlink [--providers-dir DIR]
    doctor [--no-listing] [--json]

Exit codes: 0 success; 1 the assistant (or Keep discovery) failed — the message says why;
2 usage or configuration error (missing key, bad option, misconfigured provider); 130
interrupted (Ctrl-C, SIGTERM); doctor only: 3 Keep is not importable from this Python, 4 Keep
finds the provider but the openai SDK cannot work. Errors are one ``error: ...`` line on
stderr (``interrupted; ...`` for an interrupted ask), never a traceback and never a secret.

``ask`` goes through Keep's provider class when Keep is importable (as Keep's own provider
smoke blocks do), else straight through the engine; ``--via`` forces one. ``--emulator`` starts
the bundled emulator on 127.0.0.1 and ignores the OPENAI_* server variables: no key, no network.
It answers as the emulator's default assistant (Assistants API) unless ``--api responses``.
Ctrl-C or SIGTERM during ``ask`` interrupts the ask: the engine cancels the run it started and
the command says so. This module imports no Keep code; the Keep paths (``--via keep``,
``doctor``) are in :mod:`keep_openaiassistant.keep_adapter`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .errors import AskInterrupted, AssistantError, ConfigurationError
from .settings import API_CHOICES
from .waiting import INTERRUPTS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class UsageError(Exception):
    """Exit 2 with this one line."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    ask.add_argument("--thread-id", help="continue this thread_... or conv_...")
    ask.add_argument("--emulator", action="store_true", help="start the bundled emulator on 127.0.0.1 and ask it")
    ask.add_argument("--json", action="store_true", help="compact JSON on one line")
    ask.add_argument("--api", choices=API_CHOICES, help="backend (default: auto; with --emulator: assistants)")
    ask.add_argument("--max-wait-time", type=float, default=120.0, metavar="S", help="seconds (default 120)")
    ask.add_argument(
        "--via",
        choices=("auto", "keep", "engine"),
        default="auto",
        help="through Keep's provider class or the engine (default: keep when importable)",
    )

    emu = sub.add_parser("emulator", help="serve the OpenAI emulator until interrupted")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    emu.add_argument("--model-time", type=float, default=0.3, metavar="S", help="seconds a run takes (default 0.3)")

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
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose, err)
    handlers = {"ask": _ask, "emulator": _emulator, "link": _link, "unlink": _link, "doctor": _doctor}
    try:
        return handlers[args.command](args, out, err)
    except UsageError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # Interrupted outside an ask (starting the emulator, reading the config): nothing to cancel.
        print("interrupted", file=err)
        return EXIT_INTERRUPTED


def _configure_logging(verbose: bool, err: TextIO) -> None:
    """Quiet unless -v: the one error line is the output. Handler level, not logger level,
    because Keep's providers set their own logger's level (INFO) and propagate to the root."""
    handler = logging.StreamHandler(err)
    handler.setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


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


@contextmanager
def _maybe_emulator(enabled: bool) -> Iterator[str | None]:
    if not enabled:
        yield None
        return
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


def _ask(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    via = args.via
    if via == "auto":
        via = "keep" if _keep_importable() else "engine"
    elif via == "keep" and not _keep_importable():
        raise UsageError(f"--via keep: Keep is not importable from {sys.executable}; use --via engine.")
    step = {"prompt": args.prompt, "thread_id": args.thread_id, "max_wait_time": args.max_wait_time}
    with _interrupted_by_signals(), _maybe_emulator(args.emulator) as emulator_url:
        auth = _authentication(args, emulator_url)
        try:
            result = _ask_via_keep(auth, step) if via == "keep" else _ask_via_engine(auth, step)
        except ConfigurationError as exc:
            raise UsageError(str(exc)) from None
        except AskInterrupted as exc:
            print(_interrupted_line(exc), file=err)
            return EXIT_INTERRUPTED
        except AssistantError as exc:
            print(f"error: {exc}", file=err)
            return EXIT_FAILED
    text = (
        json.dumps(result, ensure_ascii=False, separators=(",", ":"))
        if args.json
        else json.dumps(result, ensure_ascii=False, indent=2)
    )
    print(text, file=out)
    return EXIT_OK


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


# -- emulator ------------------------------------------------------------------------------------


def _emulator(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .emulator import DEFAULT_ASSISTANT_ID, Emulator

    try:
        emu = Emulator(host=args.host, port=args.port, model_time=args.model_time)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}.") from None
    emu.start()
    url = emu.base_url
    print(
        f"OpenAI emulator (Assistants API v2, Responses + Conversations) serving at {url}\n"
        f"Point a provider at it: base_url: {url}, api_key: any value not starting with 'bad', "
        f"assistant_id: {DEFAULT_ASSISTANT_ID} (Assistants API) or none (Responses API).\n"
        f"Try: OPENAI_BASE_URL={url} OPENAI_API_KEY=sk-emulator ASSISTANT_ID={DEFAULT_ASSISTANT_ID} "
        f'keep-openaiassistant ask "Disk full on db-1"\n'
        "Ctrl-C stops it.",
        file=out,
        flush=True,
    )
    # Ctrl-C (SIGINT) and SIGTERM (docker stop) both stop it. Both handlers are set here: a
    # process started in the background by a shell inherits SIGINT *ignored*, and Python then
    # never raises KeyboardInterrupt. The wait is timed because a signal the kernel hands to
    # another thread only runs its handler when the main thread next executes bytecode.
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
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
