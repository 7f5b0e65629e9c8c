"""The Assistants API v2 engine: one question, one run, exactly that run's answer.

Requests per question (the normal case, a server that streams):

- new thread: ONE request, ``POST /threads/runs`` (create-and-run, ``stream: true``); the
  thread's messages are known locally (the prompt plus the streamed answer). With
  ``additional_instructions`` it is two: create-and-run does not take them (OpenAI's spec,
  CreateThreadAndRunRequest), so ``POST /threads`` then ``POST /threads/{id}/runs``;
- continued thread: ``POST /threads/{id}/runs`` with ``additional_messages=[prompt]`` and
  ``stream: true``, then ONE ``GET /threads/{id}/messages?order=desc&limit=100`` for the
  contract's ``messages``. 100 is the API's page maximum: on a longer thread ``messages``
  holds the newest 100, oldest first (the answer itself is never cut).

When the stream breaks, stalls (no byte for ``Settings.stream_stall_timeout``) or the server
does not stream, the run is polled (``GET /threads/{t}/runs/{r}``) at
:class:`~keep_openaiassistant.waiting.PollInterval` intervals — fast at first, the server's
``openai-poll-after-ms`` when it gives one, never a fixed second — and this run's messages are
listed with ``GET /threads/{t}/messages?run_id=R&order=asc`` (on a continued thread they are
taken from the history listing when it surely holds them all). "Does not stream" is either a
server that answers ``stream: true`` with the plain run object, or one that refuses it with a
400 about ``stream``: the backend then creates runs plainly and polls, for a while
(:class:`.base.StreamingSwitch`). With ``history: none`` a continued thread costs ONE request:
``messages`` then holds this turn only.

The prompt is asked once. Each run carries ``metadata.keep_ask_id`` (a random id per
question): if the stream broke before the run id arrived, the run is found among the thread's
runs by that tag; if the SDK re-sent a POST whose first attempt had started the run (its
retries cover connection errors), the "busy thread" answer names our own run and it is
followed, not re-asked. What cannot be recovered: a new thread whose stream died before its
first event (no thread id): ConnectionFailedError says so, and the server expires that run
10 minutes after creation; an SDK retry of create-and-run after a dropped connection may
leave such an orphan thread too (the answer still arrives, on the retried thread).

Policies:

- Answer: all assistant messages of THIS run, all their text parts, in order (never an
  older message of a continued thread). Citation markers become ``[n]``.
- Terminal statuses: each raises its own :mod:`~keep_openaiassistant.errors` class
  (:func:`.assistants_output.ended_error`). ``requires_action``: when ``tool_outputs``
  answers every pending call by function name, the outputs are submitted (streamed) and the
  run goes on, as often as it asks; otherwise the run is cancelled and ActionRequiredError
  lists the calls.
- ``max_wait_time`` is a hard deadline over every request and retry (:mod:`..waiting`): on
  expiry the run is cancelled (``POST .../cancel``), the cancel confirmed for at most
  :data:`.base.CANCEL_CONFIRM_SECONDS`, and DeadlineExceededError raised; nothing of ours is
  left running. A run that completed in that very moment is returned instead.
- Busy thread (400 "already has an active run run_Y" or "Can't add messages ... while a run
  run_Y is active"): run_Y belongs to someone else, so it is never cancelled. We poll it until
  it ends, then retry; ThreadBusyError if the deadline passes first. Concurrent asks on one
  thread thus take turns.
- 404 from api.openai.com, or a 404 that is not the API's own (a server or proxy that does not
  serve these endpoints): OpenAI shut the Assistants API down on 2026-08-26;
  AssistantsApiShutDownError says how to switch to the Responses backend.

One backend serves many threads at once: all per-question state lives in a :class:`_Ask`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

from .. import errors
from ..citations import complete
from ..question import Question
from ..results import AskResult, Message, Usage, bound_messages
from ..tools.dispatch import Call, Outcome, awaiting_text, pending_call, toolbox_for
from ..waiting import Deadline, OutOfTime, follow_stream
from ..wire import ASSISTANTS_BETA, Event, EventStream, Reply, StreamInterrupted
from .assistants_output import (
    FILE_SEARCH_CONTENT,
    busy_run_id,
    ended_error,
    is_openai_host,
    render,
    search_passages,
    shutdown_error,
)
from .assistants_stream import TERMINAL_STATUSES, RunStreamState
from .base import CANCEL_CONFIRM_SECONDS, MESSAGES_PAGE, AskBase, BackendBase
from .common import build_response, check_format, normalize_format

log = logging.getLogger("keep_openaiassistant")

#: The Assistants API's limit on a message's content and on instructions (characters).
MAX_CONTENT_CHARS = 256_000
#: How long an assistant's function names are trusted before the step's tools are checked again.
FUNCTIONS_CACHE_SECONDS = 60.0


class AssistantsBackend(BackendBase):
    """The :class:`~keep_openaiassistant.question.Backend` for the Assistants API v2."""

    name = "assistants"
    headers = ASSISTANTS_BETA
    #: assistant id -> (when read, its function names): the step's tools are checked against it.
    _functions: dict[str, tuple[float, frozenset[str]]]

    def ask(self, question: Question, deadline: Deadline) -> AskResult:
        with self._shutdown_translated():
            return super().ask(question, deadline)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._functions = {}

    def new_ask(self, question: Question, deadline: Deadline) -> _Ask:
        return _Ask(self, question, deadline)

    def check_question(self, question: Question) -> None:
        super().check_question(question)
        thread_id = question.thread_id
        if thread_id and not thread_id.startswith("thread_"):
            kind = (
                "a Responses API conversation, and this provider uses the Assistants API, whose threads are thread_..."
                if thread_id.startswith("conv_")
                else "not an Assistants API thread id (thread_...)"
            )
            raise errors.ConfigurationError(
                f"thread_id {thread_id[:60]!r} is {kind}; threads and conversations do not carry over. What to do: "
                "pass the thread_id of an earlier step of this provider, or leave it empty to start a new thread.",
                field="thread_id",
            )
        for field, text in (("prompt", question.prompt), ("additional_instructions", question.additional_instructions)):
            if text and len(text) > MAX_CONTENT_CHARS:
                raise errors.ConfigurationError(
                    f"{field} has {len(text):,} characters; the Assistants API takes at most {MAX_CONTENT_CHARS:,}. "
                    "What to do: shorten it (e.g. send the alert's summary, not its whole payload).",
                    field=field,
                )
        check_format(question.structured_output_format)
        if question.tools is not None and question.tools.mcp:
            raise errors.ConfigurationError(
                "tools.mcp: hosted MCP servers are a Responses API tool; the Assistants API has none. What to do: use "
                "api: responses, or declare the MCP server's operations as functions answered by an HTTP endpoint.",
                field="tools",
            )

    def access_probe(self) -> tuple[str, str]:
        return f"/assistants/{self.settings.assistant_id or ''}", "assistant"

    def check_functions(self, declared: Mapping[str, Any], call: Callable[..., Reply]) -> None:
        """The step's tools must be functions of the assistant: on this API the model calls what
        the assistant defines (its definitions are used, not the step's). One GET, cached a while."""
        assistant_id = self.settings.assistant_id or ""
        cached = self._functions.get(assistant_id)
        if cached is None or time.monotonic() - cached[0] > FUNCTIONS_CACHE_SECONDS:
            reply = call("GET", f"/assistants/{assistant_id}")
            names = frozenset(
                str((t.get("function") or {}).get("name"))
                for t in reply.data.get("tools") or []
                if isinstance(t, dict) and t.get("type") == "function"
            )
            cached = self._functions[assistant_id] = (time.monotonic(), names)
        missing = sorted(set(declared) - cached[1])
        if missing:
            raise errors.ConfigurationError(
                f"The step declares tools the assistant {assistant_id} does not have: {', '.join(missing)}. On the "
                "Assistants API the model calls only the assistant's own functions. What to do: add them to the "
                f"assistant (it has {', '.join(sorted(cached[1])) or 'no functions'}), or remove them from the step.",
                field="tools",
            )

    def access_not_found(self, exc: errors.NotFoundError) -> str:
        return self._explained(exc).message

    def access_authenticated(self, exc: errors.NotFoundError) -> bool:
        # OpenAI checks the key before the route: its shutdown 404s come to accepted keys.
        return is_openai_host(self.client) or super().access_authenticated(exc)

    def _explained(self, exc: errors.NotFoundError) -> errors.NotFoundError:
        """A 404 where the Assistants API is not served at all gets the migration advice."""
        if isinstance(exc, errors.AssistantsApiShutDownError):
            return exc
        if is_openai_host(self.client) or exc.kind == "route":
            return shutdown_error(exc, assistant_id=self.settings.assistant_id, openai_host=is_openai_host(self.client))
        return exc

    @contextmanager
    def _shutdown_translated(self) -> Iterator[None]:
        try:
            yield
        except errors.NotFoundError as exc:
            explained = self._explained(exc)
            if explained is exc:
                raise
            raise explained from exc


class _Ask(AskBase):
    """One question's state: its own stack, so one backend serves many threads at once."""

    noun = "run"

    def __init__(self, backend: AssistantsBackend, question: Question, deadline: Deadline) -> None:
        super().__init__(backend, question, deadline)
        self.state = RunStreamState(thread_id=question.thread_id)
        self.ask_id = uuid.uuid4().hex[:16]
        self.new_thread = question.thread_id is None
        self.history_has_more = False
        self.waited_for: str | None = None  # another run we waited for on a busy thread
        self.toolbox = toolbox_for(question)  # the step's tools; its records are the result's tool_calls
        self.functions_of = backend  # the assistant's own functions, checked against the step's tools
        self.awaiting: list[Outcome] | None = None  # the calls of a round stopped for approval
        # Set when a plain (not streamed) POST just returned the run: its poll hint, "" if none.
        self.fresh_hint: str | None = None

    @property
    def thread_id(self) -> str | None:  # type: ignore[override]
        return self.state.thread_id

    @property
    def run_id(self) -> str | None:  # type: ignore[override]
        return self.state.run_id

    # -- the flow ---------------------------------------------------------------------------

    def run(self) -> AskResult:
        try:
            try:
                if self.toolbox is not None and self.toolbox.tools.declared:
                    self.functions_of.check_functions(self.toolbox.specs, self.call)
                if self.question.approve:
                    self._resume_pending_run()
                else:
                    self._start()
                while True:  # one round per batch of function calls; the deadline ends it in _poll
                    if not self.state.finished:
                        self._poll()
                    if self.state.status != "requires_action":
                        break
                    calls = self.state.pending_tool_calls()
                    if self.toolbox is None or not self.toolbox.answers_all([c["name"] for c in calls]):
                        self._refuse_action(calls)
                    if self.deadline.expired:  # a model that calls functions forever meets the deadline here
                        self._expire()
                    if self.toolbox.over_limit():
                        self._stop_round_limit()
                    tool_calls = [Call(c["id"], c["name"], c["arguments"]) for c in calls]
                    if self.toolbox.needs_approval(tool_calls):
                        self.awaiting = self.toolbox.pending(tool_calls)
                        return self._awaiting_result()
                    outcomes = self.toolbox.answer(tool_calls, self.deadline)
                    if self.deadline.expired:  # the tools took the time left: cancel the run between rounds
                        self._expire()
                    self._submit_tool_outputs(outcomes)
            except OutOfTime as exc:
                self._out_of_time(exc)
        except _LateAnswer:
            log.info("the run completed while being cancelled at the deadline", extra=self.extra())
            self.deadline = self.grace or self.deadline  # read it within the cancel's grace period
        return self._result()

    def _start(self) -> None:
        """Create the run (streaming), waiting out another run on a busy thread."""
        if self.new_thread and self.question.additional_instructions:
            self._create_thread()
        path, body = self._create_request()
        while True:  # a busy thread: wait for the other run to end, then send again
            try:
                self._send(path, body)
            except errors.InvalidRequestError as exc:
                other = busy_run_id(exc)
                if other is None or self.state.thread_id is None:
                    raise
                self.waited_for = other
                if self._wait_for_other_run(other):
                    return  # it was ours after all: follow it
                continue
            return

    def _create_thread(self) -> None:
        """A new thread holding the prompt, for a run that needs ``additional_instructions``.

        ``POST /threads/runs`` (CreateThreadAndRunRequest) does not accept
        ``additional_instructions``; only ``POST /threads/{id}/runs`` does. So a new thread with
        additional instructions costs one more request.
        """
        body = {
            "messages": [{"role": "user", "content": self.question.prompt}],
            "metadata": {"keep_ask_id": self.ask_id},
        }
        reply = self.call("POST", "/threads", body=body, resend="unsent")
        thread_id = reply.data.get("id")
        if not isinstance(thread_id, str) or not thread_id:
            raise errors.MalformedResponseError(
                f"POST /threads answered without a thread id. What to do: check that base_url "
                f"({self.wire.base_url}) serves the Assistants API."
            )
        self.state.thread_id = thread_id

    def _send(self, path: str, body: dict[str, Any]) -> None:
        """POST a request that starts or resumes the run (streamed if the server streams) and follow it.

        A continued thread's run may be re-sent after a lost reply: the run is tagged with this
        ask's id, and a re-sent request that finds it ("busy with run_Y" — our own) follows it.
        A new thread's create-and-run is re-sent only when the server surely did not get it.
        """
        with self.naming():
            opened = self.open(path, body, resend="unsent" if self.state.thread_id is None else "any")
            if not isinstance(opened, Reply):
                log.info("run streaming", extra=self.extra(ask_id=self.ask_id, path=path))
                self._consume(opened)
                return
            self._take_run(opened)
        self.fresh_hint = opened.poll_after_ms or ""  # the run was just seen: wait before the first poll
        log.info("run polled", extra=self.extra(ask_id=self.ask_id, path=path))

    def _take_run(self, reply: Reply) -> None:
        if not reply.data.get("id") or not reply.data.get("status"):
            raise errors.MalformedResponseError(
                f"The server answered the run request without a run (no id or status) {self._where()}. What to do: "
                f"check that base_url ({self.wire.base_url}) serves the Assistants API v2.",
                thread_id=self.thread_id,
                run_id=self.run_id,
            )
        self.state.update_run(reply.data)

    def _create_request(self) -> tuple[str, dict[str, Any]]:
        q = self.question
        body: dict[str, Any] = {"assistant_id": self.settings.assistant_id, "metadata": {"keep_ask_id": self.ask_id}}
        prompt = {"role": "user", "content": q.prompt}
        create_and_run = self.new_thread and self.state.thread_id is None
        if q.additional_instructions and not create_and_run:
            body["additional_instructions"] = q.additional_instructions
        fmt = normalize_format(q.structured_output_format)
        if fmt is not None:
            body["response_format"] = fmt
        if create_and_run:
            body["thread"] = {"messages": [prompt]}
            return "/threads/runs", body
        if self.new_thread:  # made by _create_thread, the prompt already in it
            return f"/threads/{self.state.thread_id}/runs", body
        body["additional_messages"] = [prompt]
        return f"/threads/{q.thread_id}/runs", body

    def _consume(self, stream: EventStream) -> None:
        """Feed the stream to the state until it ends; a broken stream leaves polling to do."""
        state = self.state

        def handle(event: Event) -> None:
            state.handle(event)
            self.check_named()

        broke: str | None = None
        try:
            plain = stream.json_body()
            if plain is not None:  # the server ignored stream=true and answered with the run
                self._take_run(Reply(plain, {}))
                self._note_fallback("the server does not stream")
                return
            with stream:
                follow_stream(stream, handle, lambda: state.finished, deadline=self.deadline)
        except StreamInterrupted as exc:
            broke = str(exc)
            if not state.finished and not self.deadline.expired:
                self._note_fallback(broke)
        if state.error is not None and not state.finished:
            self._note_fallback(f"the stream reported an error: {state.error.get('message', state.error)}")
        if state.run_id is None:
            if broke is None and not state.events_seen:
                raise errors.MalformedResponseError(
                    "The server answered the run request with an event stream that held no events, so no thread "
                    f"or run was named. What to do: check that base_url ({self.wire.base_url}) serves the "
                    "Assistants API v2 and that no proxy stands in between.",
                    thread_id=self.thread_id,
                )
            self._recover_run_id(broke)

    def _poll(self) -> None:
        """GET the run until it stops (terminal or requires_action), within the deadline.

        Right after a broken stream the first GET goes at once (the run may have ended while
        the stream was silent); right after a plain POST it waits one interval first.
        """
        first_hint, self.fresh_hint = self.fresh_hint, None

        def stopped(reply: Reply) -> bool:
            self._take_run(reply)
            return self.state.finished

        self.poll(self._run_path(), stopped, first_hint=first_hint)

    def _submit_tool_outputs(self, outcomes: list[Outcome]) -> None:
        body = {"tool_outputs": [{"tool_call_id": o.call.id, "output": o.output} for o in outcomes]}
        log.info("submitting tool outputs", extra=self.extra(functions=[o.call.name for o in outcomes]))
        self.state.expect_more()
        self._send(self._run_path() + "/submit_tool_outputs", body)

    # -- tools: approvals and bounds ---------------------------------------------------------

    def _resume_pending_run(self) -> None:
        """An approval step: the thread's newest run must be waiting for these calls."""
        reply = self.call("GET", f"/threads/{self.question.thread_id}/runs", query={"order": "desc", "limit": 1})
        runs = [r for r in reply.data.get("data") or [] if isinstance(r, dict)]
        run = runs[0] if runs else {}
        if run.get("status") != "requires_action":
            raise errors.ConfigurationError(
                f"approve was given, but no run of thread {self.question.thread_id} waits for approval (the newest "
                f"run is {run.get('id') or 'absent'}, status {run.get('status') or 'none'}). An Assistants run waits "
                "at most 10 minutes from its creation, then expires. What to do: ask again on the thread.",
                field="approve",
            )
        self.state.update_run(run)
        pending = {c["id"] for c in self.state.pending_tool_calls()}
        unknown = sorted(set(self.question.approve or {}) - pending)
        if unknown:
            raise errors.ConfigurationError(
                f"approve names {', '.join(unknown)}, which run {run.get('id')} does not wait for (it waits for "
                f"{', '.join(sorted(pending)) or 'nothing'}). What to do: pass the ids from the stopped step's "
                "results.pending_calls.",
                field="approve",
            )

    def _awaiting_result(self) -> AskResult:
        """The run waits for a person: nothing cancelled, the pending calls in the result."""
        assert self.awaiting is not None and self.toolbox is not None
        text = awaiting_text(self.awaiting)
        log.info("tool calls await approval", extra=self.extra(calls=[o.call.id for o in self.awaiting]))
        return AskResult(
            text=text,
            response=text,
            thread_id=self.state.thread_id or "",
            run_id=self.state.run_id or "",
            status="requires_approval",
            backend="assistants",
            messages=(Message("user", self.question.prompt),) if self.question.prompt else (),
            tool_calls=tuple(self.toolbox.records),
            pending_calls=tuple(pending_call(o) for o in self.awaiting),
            assistant_id=str((self.state.run or {}).get("assistant_id") or self.settings.assistant_id or ""),
            model=str((self.state.run or {}).get("model") or ""),
        )

    def _stop_round_limit(self) -> NoReturn:
        """The model kept calling after it was told the round limit was reached: cancel, say so."""
        cancelled = self._cancel_run()
        limit = self.toolbox.limits.max_rounds if self.toolbox else 0
        raise errors.RunFailedError(
            f"The assistant kept calling tools after {limit} rounds{self._where()}; stopped to avoid a loop "
            f"({'the run was cancelled' if cancelled else 'cancelling the run was not confirmed'}). What to do: raise "
            "tools.limits.max_rounds, or check the tools' outputs and the instructions.",
            code="tool_round_limit",
            detail=None,
            **self.ids(),
        )

    # -- recovering from a stream that broke early -------------------------------------------

    def _recover_run_id(self, why: str | None = None) -> None:
        """Find our run among the thread's runs by its ``keep_ask_id`` tag."""
        thread_id = self.state.thread_id
        if thread_id is None:
            if self.deadline.expired:
                raise OutOfTime()
            raise errors.ConnectionFailedError(
                f"The stream of a new thread broke ({why or 'it ended early'}) before the server named the thread or "
                "the run, so this run cannot be followed or cancelled; if the server started it, it expires it after "
                "10 minutes. What to do: retry the step, and check the network between Keep and base_url if it "
                "happens again.",
            )
        reply = self.call("GET", f"/threads/{thread_id}/runs", query={"order": "desc", "limit": 20})
        for run in reply.data.get("data") or []:
            if isinstance(run, dict) and (run.get("metadata") or {}).get("keep_ask_id") == self.ask_id:
                self.state.update_run(run)
                return
        raise errors.ConnectionFailedError(
            f"The stream broke before the server named the run, and no run of this step is on thread {thread_id}: "
            "the prompt was probably not accepted. What to do: retry the step.",
            thread_id=thread_id,
        )

    def _note_fallback(self, why: str) -> None:
        log.warning("stream ended early; polling the run", extra=self.extra(reason=why))

    # -- busy threads --------------------------------------------------------------------------

    def _wait_for_other_run(self, other: str) -> bool:
        """Poll someone else's run on our thread until it ends; never cancel it.

        True when the "other" run carries our ``keep_ask_id``: the SDK retried our POST after a
        dropped connection although the first attempt had started the run. That run is then
        adopted (followed by polling) instead of asking the same question twice.
        """
        log.info("thread busy; waiting for the other run", extra=self.extra(other_run_id=other))

        def ours(reply: Reply) -> bool:
            return bool((reply.data.get("metadata") or {}).get("keep_ask_id") == self.ask_id)

        try:
            reply = self.poll(
                f"/threads/{self.state.thread_id}/runs/{other}",
                lambda reply: ours(reply) or reply.data.get("status") in TERMINAL_STATUSES,
            )
        except errors.NotFoundError:
            return False  # gone: try again
        except OutOfTime:
            self._raise_busy(other)
        if ours(reply):
            log.warning("the busy run is this step's own (a retried request): following it", extra=self.extra())
            self.state.update_run(reply.data)
            return True
        return False

    def _raise_busy(self, other: str) -> NoReturn:
        thread_id = self.state.thread_id
        raise errors.ThreadBusyError(
            f"Thread {thread_id} stayed busy with another run, {other}, for the whole max_wait_time of "
            f"{self.question.max_wait_time:g} s, so this step's prompt was never added. That run was left alone. "
            "What to do: raise max_wait_time, or give concurrent workflows their own threads.",
            waited=self.deadline.elapsed(),
            cancelled=False,
            thread_id=thread_id,
            run_id=other,
        )

    # -- endings -----------------------------------------------------------------------------

    def _out_of_time(self, exc: OutOfTime) -> NoReturn:
        """The deadline passed somewhere in the flow: say why, cancel what we started."""
        if self.state.run_id is None and self.waited_for is not None:
            self._raise_busy(self.waited_for)
        self._expire(exc.last_error)

    def _expire(self, last_error: errors.AssistantError | None = None) -> NoReturn:
        """The deadline passed: cancel our run, confirm briefly, raise (or return a late answer)."""
        if self.state.run_id is None and self.state.thread_id is not None and self.state.events_seen:
            try:
                self._recover_run_id()
            except (errors.AssistantError, OutOfTime):
                log.warning("could not find the run to cancel", extra=self.extra())
        waited = self.deadline.elapsed()
        cancelled = self._cancel_run() if self.state.run_id else False
        if self.state.status == "completed":
            raise _LateAnswer()
        if self.state.run_id:
            where = f"thread {self.state.thread_id}, run {self.state.run_id}"
        else:
            where = f"thread {self.state.thread_id}" if self.state.thread_id else "no thread yet"
        if cancelled:
            outcome = "The run was cancelled on the server."
        elif not self.state.run_id:
            outcome = (
                "The server sent no answer in time, so no run is known to have started."
                if last_error is not None and _silent(last_error)
                else "No run was started."
            )
        elif self.state.status in TERMINAL_STATUSES:
            outcome = f"The run had just ended by itself with status {self.state.status}."
        else:
            outcome = (
                f"Cancelling was requested but not confirmed within {CANCEL_CONFIRM_SECONDS:g} s (status "
                f"{self.state.status}); the server ends the run itself within 10 minutes of its creation."
            )
        raise errors.DeadlineExceededError(
            f"No answer within max_wait_time={self.question.max_wait_time:g} s ({where}). {outcome} "
            f"{_advice(last_error)}",
            waited=waited,
            cancelled=cancelled,
            thread_id=self.state.thread_id,
            run_id=self.state.run_id,
        )

    def _cancel_run(self) -> bool:
        """POST cancel, then confirm within the grace period; True when the server says cancelled."""
        data = self.cancel(self._run_path(), TERMINAL_STATUSES)
        if data is not None and data.get("id"):
            self.state.update_run(data)
        return self.state.status == "cancelled"

    def _refuse_action(self, calls: list[dict[str, Any]]) -> NoReturn:
        """The assistant called functions nobody answered: cancel the run and say which."""
        cancelled = self._cancel_run()
        listed = "; ".join(f"{c['name']}({c['arguments']})" for c in calls) or "(none listed)"
        missing = sorted({c["name"] for c in calls} - set(self.question.tool_outputs or {}))
        outcome = (
            "The run was cancelled."
            if cancelled
            else "Cancelling the run was not confirmed; it expires within 10 minutes."
        )
        raise errors.ActionRequiredError(
            f"The assistant called functions this step has no answer for: {listed}{self._where()}. {outcome} "
            "What to do: give their outputs in the step's tool_outputs, by function name "
            f"(missing: {', '.join(missing) or 'none'}), or remove the functions from the assistant.",
            tool_calls=calls,
            thread_id=self.state.thread_id,
            run_id=self.state.run_id,
        )

    def _result(self) -> AskResult:
        """The answer of a run that stopped: this run's messages rendered, or its error."""
        state = self.state
        run = state.run or {}
        failure = ended_error(run) if state.status in ("failed", "expired", "cancelled") else None
        if failure is not None:  # no answer to read: no more requests
            raise failure
        history: list[dict[str, Any]] | None = None
        if not state.messages_complete:
            history = self._history() if self.question.history == "full" else None
            self._list_run_messages(history)
        text, citations, files = render(state.messages())
        if any(c.type == "file_citation" for c in citations):
            citations = list(complete(citations, text, self._search_passages()))
        failure = ended_error(run, partial_text=text)
        if failure is not None:
            raise failure
        if not text:
            log.warning("the run completed with an empty answer", extra=self.extra())
        response = build_response(text, self.question, thread_id=state.thread_id, run_id=state.run_id)
        usage = run.get("usage") or {}
        if history is None and not self.new_thread and self.question.history == "full":
            try:
                history = self._history()
            except (errors.AssistantError, OutOfTime) as exc:
                # The answer is here; only the listing for ``messages`` failed: do not lose the answer.
                log.warning(
                    "listing the thread's messages failed; messages holds this turn only",
                    extra=self.extra(error=str(exc)),
                )
        messages, cut = bound_messages(self._thread_messages(history), self.settings.max_history_bytes)
        log.info(
            "run completed",
            extra=self.extra(
                prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens")
            ),
        )
        return AskResult(
            text=text,
            response=response,
            thread_id=state.thread_id or "",
            run_id=state.run_id or "",
            status="completed",
            backend="assistants",
            messages=messages,
            messages_truncated=cut,
            usage=_usage(usage),
            citations=tuple(citations),
            files=tuple(files),
            tool_calls=tuple(self.toolbox.records if self.toolbox else ()),
            assistant_id=str(run.get("assistant_id") or self.settings.assistant_id or ""),
            model=str(run.get("model") or ""),
        )

    # -- messages ----------------------------------------------------------------------------

    def _search_passages(self) -> dict[str, tuple[str, str]]:
        """What this run's file search read, by file (one GET of its steps): the citations' quotes."""
        try:
            query = {"include[]": FILE_SEARCH_CONTENT, "order": "asc", "limit": 20}
            reply = self.call("GET", f"{self._run_path()}/steps", query=query)
        except (errors.AssistantError, OutOfTime) as exc:
            log.warning("listing the run's steps failed; citations have no quotes", extra=self.extra(error=str(exc)))
            return {}
        return search_passages(reply.data.get("data") or [])

    def _history(self) -> list[dict[str, Any]] | None:
        """A continued thread's newest messages, oldest first (one GET); None for a new thread."""
        if self.new_thread:
            return None
        reply = self.call(
            "GET", f"/threads/{self.state.thread_id}/messages", query={"order": "desc", "limit": MESSAGES_PAGE}
        )
        listed = [m for m in reversed(reply.data.get("data") or []) if isinstance(m, dict)]
        self.history_has_more = bool(reply.data.get("has_more"))
        return listed

    def _list_run_messages(self, history: list[dict[str, Any]] | None) -> None:
        """This run's messages after a broken stream: from the history when it surely holds all."""
        run_id = self.state.run_id
        if history is not None:
            ours = [m for m in history if m.get("run_id") == run_id and m.get("role") == "assistant"]
            if not self.history_has_more or (history and history[0].get("run_id") != run_id):
                self.state.set_messages(ours)
                return
        try:
            reply = self.call(
                "GET",
                f"/threads/{self.state.thread_id}/messages",
                query={"run_id": run_id, "order": "asc", "limit": MESSAGES_PAGE},
            )
        except OutOfTime:
            self._expire_after_answer()
        listed = reply.data.get("data") or []
        self.state.set_messages([m for m in listed if isinstance(m, dict) and m.get("role") == "assistant"])

    def _expire_after_answer(self) -> NoReturn:
        raise errors.DeadlineExceededError(
            f"The run completed{self._where()}, but max_wait_time={self.question.max_wait_time:g} s passed before "
            "its answer could be read. What to do: raise max_wait_time; the answer is in the thread.",
            waited=self.deadline.elapsed(),
            cancelled=False,
            **self.ids(),
        )

    def _thread_messages(self, history: list[dict[str, Any]] | None) -> tuple[Message, ...]:
        ours = self.state.messages()
        if history is None:
            answer = (Message("assistant", render([m])[0], m.get("id", "")) for m in ours)
            return (Message("user", self.question.prompt), *answer)
        rendered = {m.get("id"): render([m])[0] for m in ours}
        return tuple(
            Message(str(m.get("role", "")), rendered.get(m.get("id")) or render([m])[0], str(m.get("id", "")))
            for m in history
        )

    # -- small things ------------------------------------------------------------------------

    def object_path(self) -> str | None:
        return self._run_path() if self.state.run_id and self.state.thread_id else None

    def terminal_statuses(self) -> Collection[str]:
        return TERMINAL_STATUSES

    def _run_path(self) -> str:
        return f"/threads/{self.state.thread_id}/runs/{self.state.run_id}"

    def _where(self) -> str:
        return f" (thread {self.state.thread_id}, run {self.state.run_id})"


def _usage(usage: dict[str, Any]) -> Usage:
    """A run's usage (RunCompletionUsage: the run's whole work, tool rounds included) under both
    the contract's and the Responses API's names; the Assistants API reports no cache or
    reasoning detail, so those stay 0."""
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    details = usage.get("prompt_token_details") or {}
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=int(usage.get("total_tokens") or 0),
        input_tokens=prompt,
        output_tokens=completion,
        cached_input_tokens=int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
        requests=1 if usage else 0,
    )


def _silent(error: errors.AssistantError) -> bool:
    return isinstance(error, errors.ConnectionFailedError) and error.timed_out


def _advice(last_error: errors.AssistantError | None) -> str:
    """What to do, by what the last request met: a silent server is not a slow model."""
    if last_error is not None and _silent(last_error):
        return (
            "What to do: check that base_url is the API and reachable from Keep (the server accepted the request but "
            "did not answer), then retry the step."
        )
    if isinstance(last_error, errors.ConnectionFailedError):
        return (
            f"The server could not be reached in time: {last_error.message.split(' What to do:')[0]} What to do: "
            "check base_url and the network between Keep and the server, then retry the step."
        )
    if isinstance(last_error, (errors.ServerError, errors.RateLimitError)):
        return f"The last request failed: {last_error.message.split(' What to do:')[0]} What to do: retry the step."
    return "What to do: raise max_wait_time for this step, or ask a shorter question."


class _LateAnswer(Exception):
    """Internal: the run completed while we were cancelling it at the deadline."""
