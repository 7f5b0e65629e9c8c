"""The fault soak: many questions at once against the emulator in its own process, every fault mixed in.

    python -m tests.soak --questions 1000 --concurrency 32          # the long soak (~20 s quiet, 2 cores)
    python -m tests.soak --questions 120 --concurrency 16 --seed 7  # what tests/test_soak.py runs

Exit status 0 when every figure is clean, 1 otherwise (the problems are listed per question).

The emulator runs as ``python -m keep_openaiassistant emulator`` in a process of its own (same
interpreter, same package as this driver). Questions go through the public engine
(``Assistant(Settings(...)).ask``), half on the Assistants backend, half on Responses, from
``--concurrency`` threads sharing one :class:`Assistant` per backend and key, as Keep's workers
share a provider. Each question's prompt carries a unique token, which the emulator's answer
quotes: an answer without its own token, or with another question's, is cross-talk.

The mix (:data:`KINDS`, every kind on both backends): plain and JSON answers, cut streams (after
N events, and before the first), empty answers, function calls answered and unanswered,
``failed`` / ``incomplete`` / ``expired`` / ``cancelled`` runs, runs slower than their
``max_wait_time``, a bad key, several questions on one thread at once, and 429 / 5xx bursts
queued through ``/_emulator/faults`` (including a 429 whose retry-after is longer than the
deadline). Once, when half the questions have started, the emulator process is killed (SIGKILL)
and started again on the same port.

Every question must end in its own answer or in the error its fault calls for (:func:`judge`):

- a burst queued through the control API hits whichever request comes next on its route, not one
  question: a RateLimitError (ServerError) is accepted from any question whose ask overlapped a
  429 (5xx) burst's window (from its queueing until the faults were cleared) and whose message
  quotes the burst's own text; so is a DeadlineExceededError quoting it (the retries did not fit);
- on a busy thread, its answer, ThreadBusyError, or DeadlineExceededError with its own run
  cancelled (its turn came too late for its run);
- a question in flight during the restart may end in ConnectionFailedError, DeadlineExceededError
  or NotFoundError; a NotFoundError must read the 404 as an unknown id (``kind == "object"``),
  since the restarted emulator lost its state, not its routes.

Nothing else is excused. Measured per question: its outcome, its error class, the seconds from the
call to ``ask`` to its return, against its own ``max_wait_time``. Printed at the end
(:meth:`Report.render`): questions, faults by kind, answered, clear errors by class, lost (no
outcome in time, or an exception that is no AssistantError), cross-talk, worst time past the
deadline, and runs left active.

Runs left active: the emulator has no endpoint that lists every run or response (its control
API, ``/_emulator/*``, has stats, faults and switches only). So the driver asks the API itself,
after the soak, about everything the client learned: every run of every Assistants thread it knows
(``GET /v1/threads/{id}/runs``, which also finds runs whose id the client never saw), and every
response id it knows (``GET /v1/responses/{id}``). A question whose ask ended in an error with a
run id is also checked at once, before the next question starts on its worker: a run that is still
active right after its step gave up was left running by the step. Runs created before the restart
are gone with the old process and are counted apart. Not visible at all: the run of a new thread
whose stream was cut before its first event (the client never learned an id; the engine says so,
and the emulator finishes that run after its model time).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keep_openaiassistant
from keep_openaiassistant import AskResult, Assistant, Settings, errors
from keep_openaiassistant.emulator import DEFAULT_ASSISTANT_ID

GOOD_KEY = "sk-soak-emulator"
BAD_KEY = "bad-soak-key-0123456789"  # the emulator refuses every key starting with "bad"
BACKENDS = ("assistants", "responses")
TOKEN = re.compile(r"SOAK-\d{5}-[0-9a-f]{6}")
RUN_ACTIVE = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
#: After this many seconds past its own max_wait_time a question that has not returned is lost.
HANG_GRACE = 20.0
#: The product's promise: no ask returns later than max_wait_time plus this.
DEADLINE_SLACK = 1.0
#: In the message of every fault the soak queues: a RateLimitError or ServerError must quote it.
BURST_MARK = "soak burst"


# -- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One question: its fault (``kind``), backend, prompt and deadline."""

    index: int
    kind: str
    backend: str
    token: str
    prompt: str
    max_wait_time: float
    key: str = GOOD_KEY
    tool_outputs: dict[str, str] | None = None
    #: Questions with the same group ask on one thread at the same time (kind "busy").
    group: int | None = None
    #: A fault to queue through /_emulator/faults right before asking (the bursts).
    fault: dict[str, Any] | None = None
    #: The error class name the fault calls for; None: an answer.
    expect: str | None = None


#: kind -> (weight in the mix, what the question looks like). The builder gets
#: (rng, backend, subject) and returns Spec fields.
Builder = Callable[[random.Random, str, str], dict[str, Any]]


def _answer(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    tag = rng.choice(["", "", "", " [[json]]", " [[fenced_json]]", " [[multipart]]"])
    return {"prompt": subject + tag}


def _stream_cut(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    return {"prompt": f"{subject} [[stream_cut:{rng.randint(1, 8)}]]"}


def _stream_cut_first(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    # Cut before the first event of a new thread: the server never named the run, so it
    # cannot be followed (documented in both backends): a ConnectionFailedError that says so.
    return {"prompt": f"{subject} [[stream_cut:0]]", "expect": "ConnectionFailedError"}


def _empty(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    return {"prompt": f"{subject} [[empty]]"}


def _tool_answered(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    token = subject.rsplit(maxsplit=1)[-1]
    return {"prompt": f"{subject} [[tool:get_logs]]", "tool_outputs": {"get_logs": f"logs of {token}"}}


def _tool_unanswered(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    # Assistants: the default assistant declares get_logs, nobody answers it. Responses: only
    # tool_outputs declare functions, so none is in force and the model answers in prose.
    return {
        "prompt": f"{subject} [[tool:get_logs]]",
        "expect": "ActionRequiredError" if backend == "assistants" else None,
    }


def _failed(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    tag = rng.choice(["[[failed]]", "[[failed:rate_limit_exceeded]]", "[[failed:invalid_prompt]]"])
    return {"prompt": f"{subject} {tag}", "expect": "RunFailedError"}


def _incomplete(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    tag = rng.choice(["[[incomplete]]", "[[incomplete:content_filter]]"])
    return {"prompt": f"{subject} {tag}", "expect": "RunIncompleteError"}


def _expired(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    # The Responses API has no "expired": the emulator fails such a response (server_error).
    return {
        "prompt": f"{subject} [[expired]]",
        "expect": "RunExpiredError" if backend == "assistants" else "RunFailedError",
    }


def _cancelled(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    return {"prompt": f"{subject} [[cancelled]]", "expect": "RunCancelledError"}


def _slow(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    # Model time well past the deadline; short enough that the emulator's "cancelling" (a tenth
    # of the model time) ends within the engine's 1 s confirmation.
    return {
        "prompt": f"{subject} [[delay:{rng.choice([3, 3.5, 4])}]]",
        "max_wait_time": rng.choice([1.0, 1.5, 2.0]),
        "expect": "DeadlineExceededError",
    }


def _bad_key(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    return {"prompt": subject, "key": BAD_KEY, "expect": "AuthenticationError"}


def _create_route(backend: str) -> str:
    return r"^POST /v1/threads/runs$" if backend == "assistants" else r"^POST /v1/(conversations|responses)$"


def _burst_429(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    fault = {"route": _create_route(backend), "status": 429, "count": rng.randint(1, 3), "retry_after_ms": 100}
    fault["message"] = f"Rate limit reached for requests ({BURST_MARK})."
    return {"prompt": subject, "fault": fault}


def _burst_5xx(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    poll = r"^GET /v1/threads/\{thread_id\}/runs/\{run_id\}$" if backend == "assistants" else r"^GET /v1/responses/"
    route = rng.choice([_create_route(backend), _create_route(backend), poll])
    status = rng.choice([500, 502, 503])
    fault = {"route": route, "status": status, "count": rng.randint(1, 3), "retry_after_ms": None}
    fault["message"] = f"The server had an error ({BURST_MARK})."
    prompt = subject if route != poll else f"{subject} [[stream_cut:2]]"  # a cut stream polls
    return {"prompt": prompt, "fault": fault}


def _burst_retry_after(rng: random.Random, backend: str, subject: str) -> dict[str, Any]:
    # A retry-after (60 s) the deadline cannot wait for: RateLimitError at once, with the hint.
    fault = {"route": _create_route(backend), "status": 429, "count": 1, "retry_after_ms": 60_000}
    fault["message"] = f"Rate limit reached for requests ({BURST_MARK}, retry-after 60 s)."
    return {"prompt": subject, "fault": fault}


KINDS: dict[str, tuple[int, Builder]] = {
    "answer": (30, _answer),
    "stream_cut": (10, _stream_cut),
    "stream_cut_first": (2, _stream_cut_first),
    "empty": (2, _empty),
    "tool_answered": (4, _tool_answered),
    "tool_unanswered": (3, _tool_unanswered),
    "failed": (5, _failed),
    "incomplete": (5, _incomplete),
    "expired": (4, _expired),
    "cancelled": (3, _cancelled),
    "slow": (6, _slow),
    "bad_key": (3, _bad_key),
    "busy": (10, _answer),  # groups of 3-4 on one thread (plan)
    "burst_429": (5, _burst_429),
    "burst_5xx": (5, _burst_5xx),
    "burst_retry_after": (3, _burst_retry_after),
}
#: The deadline of every question whose kind does not set one.
DEFAULT_WAIT = 10.0


def plan(questions: int, *, seed: int = 1) -> list[Spec]:
    """``questions`` specs in the mix of :data:`KINDS`, shuffled: every kind on both backends at
    least once (from 36 questions on), busy groups of 2-4 alternating between the backends, the
    members of a group adjacent (they are asked together)."""
    rng = random.Random(seed)
    names = [name for name in KINDS if name != "busy"]
    weights = [KINDS[name][0] for name in names]
    busy_left = max(6, round(questions * KINDS["busy"][0] / sum(w for w, _ in KINDS.values())))
    singles = [(name, backend) for name in names for backend in BACKENDS]
    while len(singles) < questions - busy_left:
        singles.append((rng.choices(names, weights)[0], BACKENDS[rng.randrange(2)]))
    units: list[list[tuple[str, str, int | None]]] = [[(name, backend, None)] for name, backend in singles]
    group = 0
    while busy_left > 0:
        size = busy_left if busy_left <= 4 else rng.randint(3, 4)
        units.append([("busy", BACKENDS[group % 2], group)] * size)
        busy_left -= size
        group += 1
    rng.shuffle(units)
    specs: list[Spec] = []
    for kind, backend, group_no in [member for unit in units for member in unit][:questions]:
        i = len(specs)
        token = f"SOAK-{i:05d}-{rng.getrandbits(24):06x}"
        subject = f"Disk full on db-{i % 17} {token}"
        fields: dict[str, Any] = {"max_wait_time": DEFAULT_WAIT, **KINDS[kind][1](rng, backend, subject)}
        if group_no is not None:
            # Most groups have the time to take turns; some do not (ThreadBusyError is their answer).
            fields.update(group=group_no, max_wait_time=0.8 if group_no % 3 == 2 else 8.0)
        specs.append(Spec(index=i, kind=kind, backend=backend, token=token, **fields))
    return specs


# -- the emulator process and its API --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmulatorProcess:
    """``python -m keep_openaiassistant emulator --port PORT`` of this package, startable again on its port."""

    def __init__(self, port: int, *, model_time: float = 0.3) -> None:
        self.port = port
        self.model_time = model_time
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._root = Path(keep_openaiassistant.__file__).resolve().parent.parent

    def start(self, *, timeout: float = 30.0) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(self._root), os.environ.get("PYTHONPATH", "")])}
        command = [sys.executable, "-m", "keep_openaiassistant", "emulator", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--model-time", str(self.model_time)],
            cwd=self._root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited with {self.process.returncode} on port {self.port}")
            try:
                api_call(self.url, "GET", "/_emulator/config", timeout=1.0)
                return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the emulator did not answer on port {self.port} within {timeout:g} s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> EmulatorProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def api_call(
    url: str, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float = 5.0
) -> tuple[int, dict[str, Any]]:
    """One request to the emulator with the good key (stdlib only): (status, JSON body)."""
    headers = {
        "Authorization": f"Bearer {GOOD_KEY}",
        "Content-Type": "application/json",
        "OpenAI-Beta": "assistants=v2",
    }
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}


# -- one question ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    spec: Spec
    started: float = 0.0
    ended: float | None = None
    result: AskResult | None = None
    error: BaseException | None = None
    #: The run's (response's) status on the server right after an ask that ended in an error.
    status_after: str | None = None
    thread_id: str | None = None  # the thread a busy group asked on
    thread_created: float | None = None  # when that thread was made
    setup_error: str | None = None  # the driver could not set the question up (e.g. its busy thread)

    @property
    def elapsed(self) -> float | None:
        return None if self.ended is None else self.ended - self.started

    @property
    def error_class(self) -> str | None:
        return None if self.error is None else type(self.error).__name__


@dataclass
class Window:
    """When a fault was possible: a burst (``"429"``/``"5xx"``) or the restart."""

    kind: str
    opened: float
    closed: float = float("inf")

    def overlaps(self, outcome: Outcome) -> bool:
        ended = outcome.ended if outcome.ended is not None else float("inf")
        return outcome.started < self.closed and ended > self.opened


class Group:
    """A busy thread: created by the first member that starts, asked on by all at once."""

    def __init__(self, size: int) -> None:
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(size)
        self.thread_id: str | None = None
        self.created = 0.0


# -- the soak ---------------------------------------------------------------------------------------


class Soak:
    """Runs the plan against one emulator process, with one restart; :meth:`run` returns the Report."""

    def __init__(
        self,
        specs: list[Spec],
        *,
        concurrency: int,
        restart: bool = True,
        model_time: float = 0.3,
        downtime: float = 0.5,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.specs = specs
        self.concurrency = concurrency
        self.restart = restart
        self.downtime = downtime
        self.log = log
        self.emulator = EmulatorProcess(free_port(), model_time=model_time)
        self.outcomes = [Outcome(spec) for spec in specs]
        self.windows: list[Window] = []
        self.windows_lock = threading.Lock()
        sizes = Counter(spec.group for spec in specs if spec.group is not None)
        self.groups = {number: Group(size) for number, size in sizes.items()}
        self.started = 0
        self.started_lock = threading.Lock()
        self.restart_due = threading.Event()
        self.restart_times: tuple[float, float] | None = None
        self.assistants: dict[tuple[str, str], Assistant] = {}

    # -- running ---------------------------------------------------------------------------------

    def run(self) -> Report:
        began = time.monotonic()
        with self.emulator:
            base_url = self.emulator.url + "/v1"
            for backend in BACKENDS:
                for key in (GOOD_KEY, BAD_KEY):
                    assistant_id = DEFAULT_ASSISTANT_ID if backend == "assistants" else None
                    settings = Settings(api_key=key, base_url=base_url, api=backend, assistant_id=assistant_id)
                    self.assistants[backend, key] = Assistant(settings)
            try:
                self._run_all()
                with contextlib.suppress(OSError):
                    api_call(self.emulator.url, "DELETE", "/_emulator/faults")
                checks = self._server_check()
            finally:
                for assistant in self.assistants.values():
                    assistant.close()
        return Report(self.outcomes, self.windows, self.restart_times, checks, wall=time.monotonic() - began, soak=self)

    def _run_all(self) -> None:
        pending = iter(self.outcomes)
        take = threading.Lock()

        def worker() -> None:
            while True:
                with take:
                    outcome = next(pending, None)
                if outcome is None:
                    return
                try:
                    self._ask(outcome)
                except Exception as exc:  # the driver's own set-up failed (not the engine): say so
                    outcome.setup_error = f"{type(exc).__name__}: {exc}"

        threads = [threading.Thread(target=worker, name=f"soak-{n}", daemon=True) for n in range(self.concurrency)]
        restarter = threading.Thread(target=self._restart_when_due, name="soak-restart", daemon=True)
        if self.restart:
            restarter.start()
        for thread in threads:
            thread.start()
        last_progress, done_before = time.monotonic(), -1
        while any(t.is_alive() for t in threads):
            time.sleep(0.1)
            now = time.monotonic()
            done = sum(o.ended is not None for o in self.outcomes)
            if done != done_before:
                last_progress, done_before = now, done
            in_flight = [o for o in self.outcomes if o.started and o.ended is None]
            hung = in_flight and all(now - o.started > o.spec.max_wait_time + HANG_GRACE for o in in_flight)
            if hung and now - last_progress > HANG_GRACE:
                self.log(f"giving up on {len(in_flight)} hung question(s)")
                break
        self.restart_due.set()  # a soak that ends before the restart point does not restart
        if self.restart:
            restarter.join(timeout=60)

    def _restart_when_due(self) -> None:
        self.restart_due.wait()
        if self.restart_times is not None or all(o.ended is not None for o in self.outcomes):
            return
        down = time.monotonic()
        with self.windows_lock:
            for window in self.windows:  # the new process has no queued faults
                window.closed = min(window.closed, down)
            self.emulator.kill()
            in_flight = sum(bool(o.started) and o.ended is None for o in self.outcomes)
            self.log(f"emulator killed with {in_flight} questions in flight")
        time.sleep(self.downtime)
        self.emulator.start()
        up = time.monotonic()
        self.restart_times = (down, up)
        with self.windows_lock:
            self.windows.append(Window("restart", down, up))
        self.log(f"emulator back after {up - down:.2f} s")

    def _note_started(self) -> None:
        with self.started_lock:
            self.started += 1
            if self.started >= len(self.specs) // 2:
                self.restart_due.set()

    def _ask(self, outcome: Outcome) -> None:
        spec = outcome.spec
        thread_id = None
        if spec.group is not None:
            thread_id = self._group_thread(spec)
            outcome.thread_id, outcome.thread_created = thread_id, self.groups[spec.group].created
        assistant = self.assistants[spec.backend, spec.key]
        if spec.fault is not None:
            self._open_burst(spec.fault)
        self._note_started()
        outcome.started = time.monotonic()
        try:
            outcome.result = assistant.ask(
                spec.prompt, thread_id=thread_id, max_wait_time=spec.max_wait_time, tool_outputs=spec.tool_outputs
            )
        except BaseException as exc:  # judged later: anything but an AssistantError is a finding
            outcome.error = exc
        outcome.ended = time.monotonic()
        if spec.fault is not None:
            self._close_bursts()
        if isinstance(outcome.error, errors.AssistantError) and not isinstance(outcome.error, errors.ThreadBusyError):
            outcome.status_after = self._status_of(spec.backend, outcome.error.thread_id, outcome.error.run_id)

    def _group_thread(self, spec: Spec) -> str | None:
        """The busy group's thread (made by its first member), once every member is ready to ask."""
        assert spec.group is not None
        group = self.groups[spec.group]
        with group.lock:
            if group.thread_id is None:
                group.thread_id = self._create_thread(spec.backend)
                group.created = time.monotonic()
        with contextlib.suppress(threading.BrokenBarrierError):
            group.barrier.wait(timeout=60)
        return group.thread_id

    def _create_thread(self, backend: str) -> str:
        path = "/v1/threads" if backend == "assistants" else "/v1/conversations"
        until = time.monotonic() + 30
        while True:  # set-up, not under test: wait out the restart if it is under way
            try:
                status, body = api_call(self.emulator.url, "POST", path, {})
                if status == 200:
                    return str(body["id"])
            except OSError:
                pass
            if time.monotonic() > until:
                raise RuntimeError(f"could not create a {backend} thread for a busy group")
            time.sleep(0.1)

    def _open_burst(self, fault: dict[str, Any]) -> None:
        kind = "429" if fault["status"] == 429 else "5xx"
        with self.windows_lock:
            try:
                status, _ = api_call(self.emulator.url, "POST", "/_emulator/faults", fault)
            except OSError:
                return  # the emulator is restarting: no fault queued
            if status == 200:
                self.windows.append(Window(kind, time.monotonic()))

    def _close_bursts(self) -> None:
        with self.windows_lock:
            try:
                api_call(self.emulator.url, "DELETE", "/_emulator/faults")
            except OSError:
                return  # restarting: the restart closes the windows
            now = time.monotonic()
            for window in self.windows:
                if window.kind != "restart":
                    window.closed = min(window.closed, now)

    def _status_of(self, backend: str, thread_id: str | None, run_id: str | None) -> str | None:
        """The run's (response's) status on the server now; "gone" for a 404, None if unknown."""
        if not run_id:
            return None
        if backend == "assistants":
            if not thread_id:
                return None
            path = f"/v1/threads/{thread_id}/runs/{run_id}"
        else:
            path = f"/v1/responses/{run_id}"
        for _ in range(5):  # this GET may meet a burst queued for the questions: ask again
            try:
                status, body = api_call(self.emulator.url, "GET", path)
            except OSError:
                return None
            if status == 404:
                return "gone"
            if status == 200:
                return str(body.get("status"))
            time.sleep(0.1)
        return None

    # -- after the soak ----------------------------------------------------------------------------

    def _server_check(self) -> ServerCheck:
        """Every run the client knows about, asked of the emulator once all questions ended."""
        check = ServerCheck()
        down = self.restart_times[0] if self.restart_times else float("inf")
        threads: dict[str, float] = {}
        responses: dict[str, float] = {}
        for outcome in self.outcomes:
            ids = _ids_of(outcome)
            if ids is None:
                continue
            thread_id, run_id = ids
            if outcome.spec.backend == "assistants" and thread_id:
                threads[thread_id] = min(threads.get(thread_id, outcome.started), outcome.started)
            elif outcome.spec.backend == "responses" and run_id and run_id.startswith("resp_"):
                responses[run_id] = outcome.started
        for group in self.groups.values():
            if group.thread_id and group.thread_id.startswith("thread_"):
                threads[group.thread_id] = min(threads.get(group.thread_id, group.created), group.created)
        for thread_id, since in threads.items():
            status, body = api_call(self.emulator.url, "GET", f"/v1/threads/{thread_id}/runs?limit=100")
            if status == 404:
                check.gone[since < down] += 1
                continue
            for run in body.get("data") or []:
                check.runs += 1
                if run.get("status") in RUN_ACTIVE:
                    check.active.append(f"assistants {thread_id} {run.get('id')} {run.get('status')}")
        for response_id, since in responses.items():
            status, body = api_call(self.emulator.url, "GET", f"/v1/responses/{response_id}")
            if status == 404:
                check.gone[since < down] += 1
                continue
            check.runs += 1
            if body.get("status") in RUN_ACTIVE:
                check.active.append(f"responses {response_id} {body.get('status')}")
        return check


def _ids_of(outcome: Outcome) -> tuple[str | None, str | None] | None:
    if outcome.result is not None:
        return outcome.result.thread_id, outcome.result.run_id
    if isinstance(outcome.error, errors.AssistantError):
        return outcome.error.thread_id or outcome.thread_id, outcome.error.run_id
    return (outcome.thread_id, None) if outcome.thread_id else None


@dataclass
class ServerCheck:
    runs: int = 0  # runs and responses the emulator still knows, after the soak
    active: list[str] = field(default_factory=list)
    #: Threads/responses the emulator no longer knows: {True: created before the restart, False: after}.
    gone: Counter[bool] = field(default_factory=Counter)


# -- judging --------------------------------------------------------------------------------------

#: Errors a question in flight during the restart may end in, besides its own outcome.
RESTART_ERRORS = frozenset({"ConnectionFailedError", "DeadlineExceededError", "NotFoundError"})


def judge(outcome: Outcome, windows: list[Window]) -> list[str]:
    """What is wrong with this question's ending ([] when it is what its fault calls for)."""
    spec = outcome.spec
    if outcome.setup_error is not None:
        return [f"not asked: the soak's set-up failed ({outcome.setup_error})"]
    if outcome.ended is None:
        return ["lost: no outcome (hung)"]
    problems: list[str] = []
    late = (outcome.elapsed or 0.0) - spec.max_wait_time
    if late > DEADLINE_SLACK:
        problems.append(f"ended {late:.2f} s past its max_wait_time of {spec.max_wait_time:g} s")
    exposed = {w.kind for w in windows if w.overlaps(outcome)}
    error = outcome.error
    if error is not None and not isinstance(error, errors.AssistantError):
        return [*problems, f"lost: raised {type(error).__name__}, not an AssistantError: {error!r}"[:400]]
    if outcome.result is not None:
        if spec.expect is not None:
            problems.append(f"answered, but its fault calls for {spec.expect}")
        problems += _check_answer(outcome)
        return problems
    assert isinstance(error, errors.AssistantError)
    name = type(error).__name__
    allowed = {spec.expect} if spec.expect else set()
    if spec.kind == "busy":
        allowed.add("ThreadBusyError")
        if isinstance(error, errors.DeadlineExceededError) and error.cancelled:
            allowed.add(name)  # its turn came, but too late for its own run: cancelled at the deadline
    if "429" in exposed:
        allowed.add("RateLimitError")
    if "5xx" in exposed:
        allowed.add("ServerError")
    if exposed & {"429", "5xx"} and BURST_MARK in str(error):
        allowed.add("DeadlineExceededError")  # a burst's retries did not fit in the time left
    restart = "restart" in exposed
    if restart:
        allowed |= RESTART_ERRORS
    # A thread made before the restart is unknown to the new process: its question's NotFoundError.
    state_lost = outcome.thread_created is not None and any(
        w.kind == "restart" and outcome.thread_created < w.opened for w in windows
    )
    if name not in allowed and not ((restart or state_lost) and isinstance(error, errors.NotFoundError)):
        exposure = f" (exposed to: {', '.join(sorted(exposed))})" if exposed else ""
        problems.append(f"{name} but its fault calls for {spec.expect or 'an answer'}{exposure}: {error}"[:600])
        return problems
    problems += _check_error(outcome, error, restart)
    return problems


def _check_answer(outcome: Outcome) -> list[str]:
    spec, result = outcome.spec, outcome.result
    assert result is not None
    problems = []
    tokens = set(TOKEN.findall(result.text))
    if spec.kind == "empty":
        if result.text:
            problems.append(f"an [[empty]] answer came back with text {result.text[:120]!r}")
    elif spec.token not in tokens:
        problems.append(f"answer without its own token {spec.token}: {result.text[:200]!r}")
    if tokens - {spec.token}:
        problems.append(f"cross-talk: answer holds {sorted(tokens - {spec.token})}: {result.text[:200]!r}")
    if result.backend != spec.backend:
        problems.append(f"answered by backend {result.backend}, asked on {spec.backend}")
    if outcome.thread_id and result.thread_id != outcome.thread_id:
        problems.append(f"cross-talk: asked on {outcome.thread_id}, answered on {result.thread_id}")
    if spec.kind == "tool_answered" and f"logs of {spec.token}" not in result.text:
        problems.append(f"the function's output is not in the answer: {result.text[:200]!r}")
    return problems


def _check_error(outcome: Outcome, error: errors.AssistantError, restart: bool) -> list[str]:
    spec = outcome.spec
    problems = []
    message = str(error)
    if not message or "This is a bug" in message:
        problems.append(f"unclear message: {message[:300]!r}")
    if BAD_KEY in message or GOOD_KEY in message:
        problems.append("the key is in the message")
    tokens = set(TOKEN.findall(message + getattr(error, "partial_text", "")))
    if tokens - {spec.token}:
        problems.append(f"cross-talk in the error: {sorted(tokens - {spec.token})}")
    name = type(error).__name__
    if isinstance(error, errors.DeadlineExceededError) and not isinstance(error, errors.ThreadBusyError):
        if error.cancelled and outcome.status_after not in ("cancelled", None):
            problems.append(f"says the run was cancelled, the server says {outcome.status_after}: {message[:300]}")
        # A slow run that started must be cancelled, unless the restart took the server away;
        # none may start when a burst's retries did not fit (the message then quotes the burst).
        started = error.run_id is not None
        if spec.kind == "slow" and not restart and not error.cancelled and (started or BURST_MARK not in message):
            problems.append(f"slow run not confirmed cancelled (server says {outcome.status_after}): {message[:300]}")
    if isinstance(error, errors.NotFoundError) and error.kind != "object":
        # Only a forgotten thread, run or response is expected here (the restart lost the state).
        advice = message.rpartition("What to do:")[2].strip()
        problems.append(f"a 404 for an unknown id read as {error.kind!r}: the advice is {advice!r}; {message[:200]}")
    if name in ("RateLimitError", "ServerError") and BURST_MARK not in message:
        problems.append(f"{name} that no queued burst explains: {message[:300]}")
    if name == "RateLimitError" and spec.kind == "burst_retry_after":
        assert isinstance(error, errors.RateLimitError)
        if error.retry_after is None or abs(error.retry_after - 60) > 1:
            problems.append(f"RateLimitError without the server's retry-after of 60 s: {error.retry_after}")
    if outcome.status_after in RUN_ACTIVE:  # (a run the restart took away reads "gone")
        problems.append(f"its run was left {outcome.status_after} on the server: {message[:300]}")
    return problems


# -- the report -----------------------------------------------------------------------------------


@dataclass
class Report:
    outcomes: list[Outcome]
    windows: list[Window]
    restart_times: tuple[float, float] | None
    server: ServerCheck
    wall: float
    soak: Soak | None = None
    problems: dict[int, list[str]] = field(default_factory=dict)

    def __repr__(self) -> str:  # the figures are in render(); a repr of every outcome helps nobody
        return f"Report({self.questions} questions, {len(self.problems)} with problems)"

    def __post_init__(self) -> None:
        for outcome in self.outcomes:
            found = judge(outcome, self.windows)
            if found:
                self.problems[outcome.spec.index] = found

    # -- figures ---------------------------------------------------------------------------------

    @property
    def questions(self) -> int:
        return len(self.outcomes)

    @property
    def answered(self) -> int:
        return sum(o.result is not None for o in self.outcomes)

    @property
    def errors_by_class(self) -> Counter[str]:
        return Counter(
            o.error_class for o in self.outcomes if isinstance(o.error, errors.AssistantError) and o.ended is not None
        )

    @property
    def lost(self) -> list[Outcome]:
        return [
            o
            for o in self.outcomes
            if (o.ended is None and o.setup_error is None)
            or (o.error is not None and not isinstance(o.error, errors.AssistantError))
        ]

    @property
    def cross_talk(self) -> list[int]:
        return [i for i, found in self.problems.items() if any("cross-talk" in p for p in found)]

    @property
    def past_deadline(self) -> list[int]:
        return [i for i, found in self.problems.items() if any("past its max_wait_time" in p for p in found)]

    @property
    def mismatched(self) -> dict[int, list[str]]:
        """Questions whose ending is not what their fault calls for (lost ones apart)."""
        lost = {o.spec.index for o in self.lost}
        return {i: p for i, p in self.problems.items() if i not in lost}

    @property
    def worst_past_deadline(self) -> float:
        return max((o.elapsed - o.spec.max_wait_time for o in self.outcomes if o.elapsed is not None), default=0.0)

    @property
    def left_active(self) -> list[str]:
        right_after = [
            f"{o.spec.backend} run of question {o.spec.index} {o.status_after} right after {o.error_class}"
            for o in self.outcomes
            if o.status_after in RUN_ACTIVE
        ]
        return [*self.server.active, *right_after]

    def faults(self) -> Counter[str]:
        return Counter(o.spec.kind for o in self.outcomes)

    def render(self) -> str:
        kinds = self.faults()
        bursts = Counter(w.kind for w in self.windows if w.kind != "restart")
        at_restart = [o for o in self.outcomes if any(w.kind == "restart" and w.overlaps(o) for w in self.windows)]
        restart_ends = Counter(o.error_class or "answered" for o in at_restart)
        exposed = Counter(kind for o in self.outcomes for kind in {w.kind for w in self.windows if w.overlaps(o)})
        lines = [
            f"questions            {self.questions} in {self.wall:.1f} s "
            f"({sum(o.spec.backend == 'assistants' for o in self.outcomes)} assistants, "
            f"{sum(o.spec.backend == 'responses' for o in self.outcomes)} responses)",
            "faults by kind       " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])),
            f"bursts queued        429 x{bursts['429']}, 5xx x{bursts['5xx']}; questions inside a burst's window: "
            f"429 {exposed['429']}, 5xx {exposed['5xx']}",
            "restart              "
            + (
                f"1 (SIGKILL, back after {self.restart_times[1] - self.restart_times[0]:.2f} s); "
                f"{len(at_restart)} questions in flight ended: "
                + ", ".join(f"{k} {n}" for k, n in sorted(restart_ends.items(), key=lambda kv: -kv[1]))
                if self.restart_times
                else "none"
            ),
            f"answered             {self.answered}",
            f"clear errors         {sum(self.errors_by_class.values())}: "
            + ", ".join(f"{k} {n}" for k, n in sorted(self.errors_by_class.items(), key=lambda kv: -kv[1])),
            f"lost                 {len(self.lost)}",
            f"cross-talk           {len(self.cross_talk)}",
            f"wrong outcome        {len(self.mismatched)}",
            f"worst past deadline  {self.worst_past_deadline:+.2f} s (past deadline + {DEADLINE_SLACK:g} s: "
            f"{len(self.past_deadline)})",
            f"runs left active     {len(self.left_active)} (the emulator still knows {self.server.runs} runs/responses "
            f"of this soak; {self.server.gone[True]} threads/responses gone with the restart, "
            f"{self.server.gone[False]} gone otherwise)",
        ]
        by_kind: dict[str, Counter[str]] = {}
        for o in self.outcomes:
            by_kind.setdefault(o.spec.kind, Counter())[o.error_class or ("answered" if o.result else "none")] += 1
        lines.append("outcomes by kind:")
        for kind, ends in by_kind.items():
            lines.append(
                f"  {kind:<18} " + ", ".join(f"{k} {n}" for k, n in sorted(ends.items(), key=lambda kv: -kv[1]))
            )
        for index, found in sorted(self.problems.items()):
            o = self.outcomes[index]
            head = (
                f"  question {index} [{o.spec.kind}, {o.spec.backend}, max_wait_time {o.spec.max_wait_time:g}, "
                f"{f'{o.elapsed:.2f} s' if o.elapsed is not None else 'no end'}] {o.spec.prompt!r}"
            )
            lines.append(head)
            lines += [f"    - {p}" for p in found]
        lines += [f"  left active: {line}" for line in self.left_active]
        return "\n".join(lines)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.left_active and not self.server.gone[False]


def soak(questions: int, concurrency: int, *, seed: int = 1, restart: bool = True, **options: Any) -> Report:
    return Soak(plan(questions, seed=seed), concurrency=concurrency, restart=restart, **options).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model-time", type=float, default=0.3, help="the emulator's model time per run (s)")
    parser.add_argument("--no-restart", action="store_true", help="do not restart the emulator mid-soak")
    parser.add_argument("--verbose", action="store_true", help="show the engine's log lines")
    args = parser.parse_args(argv)
    if not args.verbose:  # the engine's warnings (a stream cut, an empty answer) are the soak's normal
        logging.getLogger("keep_openaiassistant").addHandler(logging.NullHandler())

    def log(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    report = soak(
        args.questions,
        args.concurrency,
        seed=args.seed,
        restart=not args.no_restart,
        model_time=args.model_time,
        log=log,
    )
    print(report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
