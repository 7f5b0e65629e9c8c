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
400 about ``stream``: the backend then remembers to create runs plainly and poll.

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
- ``max_wait_time`` is a hard deadline: a watchdog aborts a stream at it (a read timeout
  restarts with every event, so it cannot); on expiry the run is cancelled (``POST .../cancel``), the cancel confirmed for at most
  :data:`CANCEL_CONFIRM_SECONDS`, and DeadlineExceededError raised; nothing of ours is left
  running. A run that completed in that very moment is returned instead. Single requests get
  at least 2 s (a poll just before the deadline may end up to that much after it).
- Busy thread (400 "already has an active run run_Y" or "Can't add messages ... while a run
  run_Y is active"): run_Y belongs to someone else, so it is never cancelled. We poll it until
  it ends, then retry; ThreadBusyError if the deadline passes first. Concurrent asks on one
  thread thus take turns.
- 404 from api.openai.com: OpenAI shut the Assistants API down on 2026-08-26;
  AssistantsApiShutDownError says how to switch to the Responses backend.

One backend serves many threads at once: all per-question state lives in a :class:`_Ask`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import openai

from .. import errors
from ..waiting import WATCHDOG, Clock, Deadline, PollInterval, Sleep
from ..question import Question
from ..results import AskResult, Message, Usage
from ..settings import Settings
from ..wire import ASSISTANTS_BETA, EventStream, StreamInterrupted, Wire
from .assistants_output import (
    busy_run_id,
    ended_error,
    is_openai_host,
    render,
    shutdown_error,
)
from .assistants_stream import TERMINAL_STATUSES, RunStreamState
from .common import (
    build_response,
    normalize_format,
    pending_calls_answerable,
    read_timeout,
    refuses_streaming,
    request_timeout,
    tool_output_text,
)

log = logging.getLogger("keep_openaiassistant")

#: After a deadline cancel, how long we wait for the server to confirm ``cancelled``.
CANCEL_CONFIRM_SECONDS = 1.0
#: The API's largest page; the contract's ``messages`` of a continued thread are the newest this many.
MESSAGES_PAGE = 100


class AssistantsBackend:
    """The :class:`~keep_openaiassistant.engine.Backend` for the Assistants API v2."""

    name = "assistants"

    def __init__(
        self, settings: Settings, client: openai.OpenAI, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        self.settings = settings
        self.client = client
        self.wire = Wire(client, headers=ASSISTANTS_BETA)
        self.clock = clock
        self.sleep = sleep
        # Cleared for good when the server answers a streamed request with "stream not supported":
        # from then on runs are created plainly and polled, saving a refused request per question.
        self.streams = True

    def ask(self, question: Question, deadline: Deadline) -> AskResult:
        with self._shutdown_translated():
            return _Ask(self, question, deadline).run()

    def check_access(self, deadline: Deadline) -> dict[str, bool | str]:
        """GET the assistant: proves the key, the server and the assistant id in one request."""
        assistant_id = self.settings.assistant_id or ""
        try:
            with self._shutdown_translated():
                self.wire.call("GET", f"/assistants/{assistant_id}", timeout=10.0)
        except errors.AuthenticationError as exc:
            return {"authenticated": exc.message, "assistant": "not checked: the key was refused"}
        except errors.NotFoundError as exc:  # includes the shutdown
            return {"authenticated": True, "assistant": exc.message}
        except errors.AssistantError as exc:
            return {"authenticated": exc.message, "assistant": exc.message}
        return {"authenticated": True, "assistant": True}

    @contextmanager
    def _shutdown_translated(self) -> Iterator[None]:
        try:
            yield
        except errors.AssistantsApiShutDownError:
            raise
        except errors.NotFoundError as exc:
            if is_openai_host(self.client):
                raise shutdown_error(exc, assistant_id=self.settings.assistant_id) from exc
            raise


class _Ask:
    """One question's state: its own stack, so one backend serves many threads at once."""

    def __init__(self, backend: AssistantsBackend, question: Question, deadline: Deadline) -> None:
        self.backend = backend
        self.settings = backend.settings
        self.wire = backend.wire
        self.question = question
        self.deadline = deadline
        self.state = RunStreamState(thread_id=question.thread_id)
        self.ask_id = uuid.uuid4().hex[:16]
        self.new_thread = question.thread_id is None
        self.history_has_more = False
        self.waited_for: str | None = None  # another run we waited for on a busy thread
        self.answered_calls: list[dict[str, Any]] = []  # {id, name, arguments, output} submitted
        # Set when a plain (not streamed) POST just returned the run: its poll hint, "" if none.
        self.fresh_hint: str | None = None

    # -- the flow ---------------------------------------------------------------------------

    def run(self) -> AskResult:
        try:
            self._start()
            while True:
                if not self.state.finished:
                    self._poll()
                if self.state.status != "requires_action":
                    break
                calls = self.state.pending_tool_calls()
                if not pending_calls_answerable(self.question.tool_outputs, [c["name"] for c in calls]):
                    self._refuse_action(calls)
                if self.deadline.expired:  # a model that calls functions forever meets the deadline here
                    self._expire()
                self._submit_tool_outputs(calls)
        except _LateAnswer:
            log.info("the run completed while being cancelled at the deadline", extra=self._extra())
        return self._result()

    def _start(self) -> None:
        """Create the run (streaming), waiting out another run on a busy thread."""
        if self.new_thread and self.question.additional_instructions:
            self._create_thread()
        path, body = self._create_request()
        while True:
            if self.deadline.expired:
                if self.waited_for is not None:
                    self._raise_busy(self.waited_for)
                self._expire()
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
        reply = self.wire.call(
            "POST",
            "/threads",
            body={
                "messages": [{"role": "user", "content": self.question.prompt}],
                "metadata": {"keep_ask_id": self.ask_id},
            },
            timeout=request_timeout(self.deadline),
        )
        self.state.thread_id = str(reply.data["id"])

    def _send(self, path: str, body: dict[str, Any]) -> None:
        """POST a request that starts or resumes the run (streamed if the server streams) and follow it."""
        if self.backend.streams:
            try:
                stream = self.wire.stream(
                    "POST",
                    path,
                    body=body,
                    read_timeout=read_timeout(self.settings, self.deadline),
                    context=self._ids(),
                )
            except errors.InvalidRequestError as exc:
                if not refuses_streaming(exc):
                    raise
                log.warning("the server refuses to stream; this backend polls from now on", extra=self._extra())
                self.backend.streams = False
            else:
                log.info("run streaming", extra=self._extra(ask_id=self.ask_id, path=path))
                self._consume(stream)
                return
        reply = self.wire.call("POST", path, body=body, timeout=request_timeout(self.deadline), context=self._ids())
        self.state.update_run(reply.data)
        self.fresh_hint = reply.poll_after_ms or ""  # the run was just seen: wait before the first poll
        log.info("run polled", extra=self._extra(ask_id=self.ask_id, path=path))

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
        plain = stream.json_body()
        if plain is not None:  # the server ignored stream=true and answered with the run
            state.update_run(plain)
            self._note_fallback("the server does not stream")
            return
        # The read timeout restarts with every event; the watchdog ends the stream at the deadline.
        try:
            with stream, WATCHDOG.guard(self.deadline.remaining(), stream.abort):
                for event in stream:
                    state.handle(event)
                    if self.deadline.expired and not state.finished:
                        break
        except StreamInterrupted as exc:
            if not state.finished and not self.deadline.expired:
                self._note_fallback(str(exc))
        if state.error is not None and not state.finished:
            self._note_fallback(f"the stream reported an error: {state.error.get('message', state.error)}")
        if state.run_id is None:
            self._recover_run_id()

    def _poll(self) -> None:
        """GET the run until it stops (terminal or requires_action), within the deadline.

        Right after a broken stream the first GET goes at once (the run may have ended while
        the stream was silent); right after a plain POST it waits one interval first.
        """
        interval = PollInterval(self.settings.first_poll_interval, self.settings.max_poll_interval)
        if self.fresh_hint is not None:
            self.deadline.sleep(interval.next(self.fresh_hint))
            self.fresh_hint = None
        while True:
            if self.deadline.expired:
                self._expire()
            reply = self.wire.call("GET", self._run_path(), timeout=request_timeout(self.deadline), context=self._ids())
            self.state.update_run(reply.data)
            if self.state.finished:
                return
            self.deadline.sleep(interval.next(reply.poll_after_ms))

    def _submit_tool_outputs(self, calls: list[dict[str, Any]]) -> None:
        outputs = self.question.tool_outputs or {}
        answered = [{**call, "output": tool_output_text(outputs[call["name"]])} for call in calls]
        body = {"tool_outputs": [{"tool_call_id": c["id"], "output": c["output"]} for c in answered]}
        self.answered_calls.extend(answered)
        log.info("submitting tool outputs", extra=self._extra(functions=[c["name"] for c in calls]))
        self.state.expect_more()
        self._send(self._run_path() + "/submit_tool_outputs", body)

    # -- recovering from a stream that broke early -------------------------------------------

    def _recover_run_id(self) -> None:
        """Find our run among the thread's runs by its ``keep_ask_id`` tag."""
        thread_id = self.state.thread_id
        if thread_id is None:
            raise errors.ConnectionFailedError(
                "The stream of a new thread broke before the server named the thread or the run, so this run "
                "cannot be followed or cancelled; the server expires it after 10 minutes. What to do: retry the "
                "step, and check the network between Keep and base_url if it happens again.",
            )
        reply = self.wire.call(
            "GET",
            f"/threads/{thread_id}/runs",
            query={"order": "desc", "limit": 20},
            timeout=request_timeout(self.deadline),
            context=self._ids(),
        )
        for run in reply.data.get("data") or []:
            if (run.get("metadata") or {}).get("keep_ask_id") == self.ask_id:
                self.state.update_run(run)
                return
        raise errors.ConnectionFailedError(
            f"The stream broke before the server named the run, and no run of this step is on thread {thread_id}: "
            "the prompt was probably not accepted. What to do: retry the step.",
            thread_id=thread_id,
        )

    def _note_fallback(self, why: str) -> None:
        log.warning("stream ended early; polling the run", extra=self._extra(reason=why))

    # -- busy threads --------------------------------------------------------------------------

    def _wait_for_other_run(self, other: str) -> bool:
        """Poll someone else's run on our thread until it ends; never cancel it.

        True when the "other" run carries our ``keep_ask_id``: the SDK retried our POST after a
        dropped connection although the first attempt had started the run. That run is then
        adopted (followed by polling) instead of asking the same question twice.
        """
        thread_id = self.state.thread_id
        log.info("thread busy; waiting for the other run", extra=self._extra(other_run_id=other))
        interval = PollInterval(self.settings.first_poll_interval, self.settings.max_poll_interval)
        while not self.deadline.expired:
            try:
                reply = self.wire.call(
                    "GET",
                    f"/threads/{thread_id}/runs/{other}",
                    timeout=request_timeout(self.deadline),
                    context=self._ids(),
                )
            except errors.NotFoundError:
                return False  # gone: try again
            if (reply.data.get("metadata") or {}).get("keep_ask_id") == self.ask_id:
                log.warning(
                    "the busy run is this step's own (a retried request): following it",
                    extra=self._extra(other_run_id=other),
                )
                self.state.update_run(reply.data)
                return True
            if reply.data.get("status") in TERMINAL_STATUSES:
                return False
            self.deadline.sleep(interval.next(reply.poll_after_ms))
        self._raise_busy(other)

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

    def _expire(self) -> NoReturn:
        """The deadline passed: cancel our run, confirm briefly, raise (or return a late answer)."""
        if self.state.run_id is None and self.state.thread_id is not None and self.state.events_seen:
            try:
                self._recover_run_id()
            except errors.AssistantError:
                log.warning("could not find the run to cancel", extra=self._extra())
        waited = self.deadline.elapsed()
        cancelled = self._cancel() if self.state.run_id else False
        if self.state.status == "completed":
            raise _LateAnswer()
        where = (
            f"thread {self.state.thread_id}, run {self.state.run_id}"
            if self.state.run_id
            else f"thread {self.state.thread_id}"
        )
        if cancelled:
            outcome = "The run was cancelled on the server."
        elif not self.state.run_id:
            outcome = "No run was started."
        elif self.state.status in TERMINAL_STATUSES:
            outcome = f"The run had just ended by itself with status {self.state.status}."
        else:
            outcome = (
                f"Cancelling was requested but not confirmed within {CANCEL_CONFIRM_SECONDS:g} s (status "
                f"{self.state.status}); the server ends the run itself within 10 minutes of its creation."
            )
        raise errors.DeadlineExceededError(
            f"No answer within max_wait_time={self.question.max_wait_time:g} s ({where}). {outcome} "
            "What to do: raise max_wait_time for this step, or ask a shorter question.",
            waited=waited,
            cancelled=cancelled,
            thread_id=self.state.thread_id,
            run_id=self.state.run_id,
        )

    def _cancel(self) -> bool:
        """POST cancel, then poll at most CANCEL_CONFIRM_SECONDS for a terminal status."""
        grace = Deadline(CANCEL_CONFIRM_SECONDS, clock=self.backend.clock, sleep=self.backend.sleep)
        try:
            reply = self.wire.call(
                "POST", self._run_path() + "/cancel", timeout=CANCEL_CONFIRM_SECONDS, max_retries=0, context=self._ids()
            )
            self.state.update_run(reply.data)
        except errors.AssistantError as exc:
            # 400 "Cannot cancel run with status ..." means it already ended: look at it.
            log.info("cancel refused", extra=self._extra(error=exc.message))
        interval = PollInterval(self.settings.first_poll_interval, self.settings.max_poll_interval)
        while self.state.status not in TERMINAL_STATUSES and not grace.expired:
            grace.sleep(interval.next())
            try:
                reply = self.wire.call(
                    "GET", self._run_path(), timeout=max(0.2, grace.remaining()), max_retries=0, context=self._ids()
                )
            except errors.AssistantError:
                break
            self.state.update_run(reply.data)
        log.info("run cancelled after the deadline", extra=self._extra(status=self.state.status))
        return self.state.status == "cancelled"

    def _refuse_action(self, calls: list[dict[str, Any]]) -> NoReturn:
        """The assistant called functions nobody answered: cancel the run and say which."""
        cancelled = self._cancel()
        listed = "; ".join(f"{c['name']}({c['arguments']})" for c in calls) or "(none listed)"
        missing = sorted({c["name"] for c in calls} - set(self.question.tool_outputs or {}))
        raise errors.ActionRequiredError(
            f"The assistant called functions this step has no answer for: {listed}{self._where()}. "
            f"{'The run was cancelled.' if cancelled else 'Cancelling the run was not confirmed; it expires within 10 minutes.'} What to do: give their outputs in the step's tool_outputs, by function name "
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
            history = self._history()
            self._list_run_messages(history)
        text, citations, files = render(state.messages())
        failure = ended_error(run, partial_text=text)
        if failure is not None:
            raise failure
        if not text:
            log.warning("the run completed with an empty answer", extra=self._extra())
        response = build_response(text, self.question, thread_id=state.thread_id, run_id=state.run_id)
        usage = run.get("usage") or {}
        if history is None and not self.new_thread:
            try:
                history = self._history()
            except errors.AssistantError as exc:
                # The answer is here; only the listing for ``messages`` failed: do not lose the answer.
                log.warning(
                    "listing the thread's messages failed; messages holds this turn only",
                    extra=self._extra(error=exc.message),
                )
        messages = self._thread_messages(history)
        log.info(
            "run completed",
            extra=self._extra(
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
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                total_tokens=int(usage.get("total_tokens") or 0),
            ),
            citations=tuple(citations),
            files=tuple(files),
            tool_calls=tuple(self.answered_calls),
            assistant_id=str(run.get("assistant_id") or self.settings.assistant_id or ""),
            model=str(run.get("model") or ""),
        )

    # -- messages ----------------------------------------------------------------------------

    def _history(self) -> list[dict[str, Any]] | None:
        """A continued thread's newest messages, oldest first (one GET); None for a new thread."""
        if self.new_thread:
            return None
        reply = self.wire.call(
            "GET",
            f"/threads/{self.state.thread_id}/messages",
            query={"order": "desc", "limit": MESSAGES_PAGE},
            timeout=request_timeout(self.deadline),
            context=self._ids(),
        )
        listed = list(reversed(reply.data.get("data") or []))
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
        reply = self.wire.call(
            "GET",
            f"/threads/{self.state.thread_id}/messages",
            query={"run_id": run_id, "order": "asc", "limit": MESSAGES_PAGE},
            timeout=request_timeout(self.deadline),
            context=self._ids(),
        )
        self.state.set_messages([m for m in reply.data.get("data") or [] if m.get("role") == "assistant"])

    def _thread_messages(self, history: list[dict[str, Any]] | None) -> tuple[Message, ...]:
        ours = self.state.messages()
        if history is None:
            return (Message("user", self.question.prompt),) + tuple(
                Message("assistant", render([m])[0], m.get("id", "")) for m in ours
            )
        rendered = {m.get("id"): render([m])[0] for m in ours}
        return tuple(
            Message(str(m.get("role", "")), rendered.get(m.get("id")) or render([m])[0], str(m.get("id", "")))
            for m in history
        )

    # -- small things ------------------------------------------------------------------------

    def _run_path(self) -> str:
        return f"/threads/{self.state.thread_id}/runs/{self.state.run_id}"

    def _ids(self) -> dict[str, str | None]:
        return {"thread_id": self.state.thread_id, "run_id": self.state.run_id}

    def _extra(self, **more: Any) -> dict[str, Any]:
        return {**self._ids(), **more}

    def _where(self) -> str:
        return f" (thread {self.state.thread_id}, run {self.state.run_id})"


class _LateAnswer(Exception):
    """Internal: the run completed while we were cancelling it at the deadline."""
