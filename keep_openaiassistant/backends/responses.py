"""The Responses + Conversations engine: the live OpenAI path since the Assistants API shutdown.

The "assistant" is the profile in :class:`~keep_openaiassistant.settings.Settings` (model,
instructions, file search over ``vector_store_ids``, code interpreter), sent with every
response (:mod:`.responses_request`). A thread is a Conversation (``conv_...``); the result's
``thread_id`` is the conversation and ``run_id`` the response.

Requests per question (the normal case):

- new thread: ``POST /conversations``, then ONE streamed ``POST /responses``; the thread's
  messages are known locally (the prompt plus this answer);
- continued thread: the streamed ``POST /responses``, then ONE
  ``GET /conversations/{id}/items?order=desc&limit=100`` for the contract's ``messages``. 100
  is the API's page maximum: on a longer conversation ``messages`` holds the newest 100 items'
  messages, oldest first (the answer itself is never cut).

Waiting: responses are created with ``background``, ``stream`` and ``store``, so they live on
the server independently of our connection. We read the event stream
(:mod:`.responses_stream`); when it is cut or silent for ``Settings.stream_stall_timeout`` we
resume it (``GET /responses/{id}?stream=true&starting_after=N``, at most
:data:`MAX_RESUMES` times), then poll ``GET /responses/{id}`` at
:class:`~keep_openaiassistant.waiting.PollInterval` intervals (the server's
``openai-poll-after-ms`` when given). The prompt is never sent twice: the create request goes
out with the SDK's retries off and is retried here only when the server surely did not start
a response (429, 5xx, busy conversation, connection refused).

Policies:

- Answer: exactly this response's output — all message items, all text parts, in order
  (:mod:`.responses_output`).
- ``failed`` / ``incomplete`` / ``cancelled`` each raise their own error class.
- Function calls: each name in ``tool_outputs`` is declared as a parameterless function (a
  model only calls declared functions; there is no assistant object holding them). When
  ``tool_outputs`` answers every called name, a follow-up response with
  the ``function_call_output`` items goes on in the same conversation, as often as the model
  asks (at most :data:`MAX_FUNCTION_ROUNDS`). Otherwise ActionRequiredError lists the calls.
  Nothing needs cancelling (the response is complete), but the conversation would now end in
  unanswered calls, which the API refuses to continue; so the calls are closed with an output
  saying no answer was supplied, and the conversation stays usable.
- ``max_wait_time`` is a hard deadline: on expiry the response is cancelled
  (``POST /responses/{id}/cancel``), the cancel confirmed for at most
  :data:`CANCEL_CONFIRM_SECONDS`, and DeadlineExceededError raised. A response that completed
  in that very moment is returned instead.
- Busy conversation (400 ``conversation_locked``: another response is running on it): wait with
  growing, jittered pauses and retry; ThreadBusyError at the deadline. Concurrent steps on one
  conversation thus take turns, each getting its own answer.

One backend serves many questions at once: all per-question state lives in an :class:`_Ask`.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any, NoReturn

import openai

from .. import errors
from ..waiting import WATCHDOG, Clock, Deadline, PollInterval, Sleep
from ..question import Question
from ..results import AskResult, Message, Usage
from ..settings import Settings
from ..wire import Event, EventStream, StreamInterrupted, Wire
from . import responses_request as request
from .common import (
    build_response,
    ending_error,
    pending_calls_answerable,
    read_timeout,
    refuses_streaming,
    request_timeout,
    tool_output_text,
)
from .responses_output import (
    FunctionCall,
    Output,
    add_usage,
    conversation_messages,
    read_output,
)
from .responses_stream import TERMINAL_STATUSES, ResponseStreamState

log = logging.getLogger("keep_openaiassistant")

#: Resumes of a broken stream before falling back to polling.
MAX_RESUMES = 2
#: After a deadline cancel, how long we wait for the server to confirm ``cancelled``.
CANCEL_CONFIRM_SECONDS = 1.0
#: The API's largest page; a continued conversation's ``messages`` are its newest this many items.
MESSAGES_PAGE = 100
#: Follow-up responses answering function calls before we call it a loop.
MAX_FUNCTION_ROUNDS = 10
#: Output text of a function call the step had no answer for (closes the call, see above).
UNANSWERED_OUTPUT = "No output: the Keep workflow step gave no tool_outputs for this function."


class ResponsesBackend:
    """The :class:`~keep_openaiassistant.engine.Backend` for Responses + Conversations."""

    name = "responses"

    def __init__(
        self, settings: Settings, client: openai.OpenAI, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        self.settings = settings
        self.client = client
        self.wire = Wire(client)
        self.clock = clock
        self.sleep = sleep
        # Cleared for good when the server answers a streamed request with "stream not supported":
        # from then on responses are created plainly (still in the background) and polled.
        self.streams = True

    def ask(self, question: Question, deadline: Deadline) -> AskResult:
        return _Ask(self, question, deadline).run()

    def check_access(self, deadline: Deadline) -> dict[str, bool | str]:
        """GET the profile's model: proves the key, the server and the model in one harmless read."""
        model = self.settings.effective_model
        try:
            self.wire.call("GET", f"/models/{model}", timeout=10.0)
        except errors.AuthenticationError as exc:
            return {"authenticated": exc.message, "assistant": "not checked: the key was refused"}
        except errors.NotFoundError:
            return {
                "authenticated": True,
                "assistant": f"model {model!r} is not available to this key: set `model` to one it can use (GET /v1/models lists them)",
            }
        except errors.AssistantError as exc:
            return {"authenticated": exc.message, "assistant": exc.message}
        return {"authenticated": True, "assistant": True}


class _Ask:
    """One question: its conversation, its response(s), its deadline."""

    def __init__(self, backend: ResponsesBackend, question: Question, deadline: Deadline) -> None:
        self.backend = backend
        self.settings = backend.settings
        self.wire = backend.wire
        self.question = question
        self.deadline = deadline
        self.conversation_id: str | None = question.thread_id
        self.response_id: str | None = None
        self.usage = Usage()
        self.answered: list[dict[str, Any]] = []

    def run(self) -> AskResult:
        if self.conversation_id and self.conversation_id.startswith("thread_"):
            raise errors.ConfigurationError(
                f"thread_id {self.conversation_id} is an Assistants API thread, and this provider uses the Responses API, "
                "whose threads are conversations (conv_...); threads do not carry over. What to do: leave thread_id empty "
                "to start a new conversation (see docs/migration.md), or set api: assistants on a server that still "
                "speaks the Assistants API.",
                field="thread_id",
            )
        request.text_format(self.question.structured_output_format)  # a bad format fails before any request
        new = self.conversation_id is None
        if new:
            self.conversation_id = self._create_conversation()
        items = request.user_input(self.question.prompt)
        for _ in range(MAX_FUNCTION_ROUNDS + 1):
            response = self._respond(items)
            output = read_output(response)
            self.usage = add_usage(self.usage, output.usage)
            self._raise_for_status(response, output)
            if not output.function_calls:
                return self._result(response, output, new=new)
            items = self._answer_calls(output.function_calls)
        raise errors.RunFailedError(
            f"The assistant kept calling functions for {MAX_FUNCTION_ROUNDS} rounds{self._where()}; stopped to avoid a loop. "
            "What to do: check the tool_outputs the step gives (the model may not accept them) and the instructions.",
            code="function_call_loop",
            detail=None,
            **self._ids(),
        )

    # -- conversation and response creation ---------------------------------------------------

    def _create_conversation(self) -> str:
        reply = self.wire.call(
            "POST",
            "/conversations",
            body={"metadata": {"created_by": "keep-openaiassistant"}},
            timeout=request_timeout(self.deadline),
        )
        conversation_id = str(reply.data.get("id") or "")
        if not conversation_id:
            raise errors.ApiError(
                "POST /conversations answered without a conversation id. What to do: check that base_url serves the Conversations API."
            )
        log.info("conversation created", extra={"thread_id": conversation_id, "backend": "responses"})
        return conversation_id

    def _respond(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Create one response with ``items`` as input and wait for its terminal state."""
        body = request.response_body(
            self.settings, self.question, conversation_id=self.conversation_id or "", input_items=items
        )
        self.response_id = None
        state = ResponseStreamState()
        created = self._create(body)
        if isinstance(created, EventStream):
            return self._follow(created, state)
        state.handle(Event("response.snapshot", {"type": "response.snapshot", "response": created}))
        self.response_id = state.response_id
        if state.finished:
            return state.final_response()
        if self.response_id is None:
            raise self._lost("the server answered without a response id")
        return self._poll()

    def _create(self, body: dict[str, Any]) -> EventStream | dict[str, Any]:
        """``POST /responses`` (streamed; plain when the server refuses to stream), retried only
        when no response can have started."""
        busy = PollInterval(self.settings.first_poll_interval, self.settings.max_poll_interval)
        retries = 0
        was_busy = False
        while True:
            if self.deadline.expired:
                self._raise_not_started(was_busy)
            try:
                if self.backend.streams:
                    return self.wire.stream(
                        "POST",
                        "/responses",
                        body=body,
                        read_timeout=read_timeout(self.settings, self.deadline),
                        max_retries=0,
                        context=self._ids(),
                    )
                return self.wire.call(
                    "POST",
                    "/responses",
                    body=body,
                    timeout=request_timeout(self.deadline),
                    max_retries=0,
                    context=self._ids(),
                ).data
            except errors.InvalidRequestError as exc:
                if self.backend.streams and refuses_streaming(exc):
                    self.backend.streams = False  # remembered: saves a refused request per question
                    log.warning("the server refuses to stream; polling from now on", extra=self._extra())
                    continue
                if exc.code != "conversation_locked":
                    raise
                was_busy = True
                wait = busy.next() * random.uniform(0.5, 1.5)  # jitter: concurrent waiters must not retry in step
                log.info("conversation busy; waiting", extra={**self._extra(), "wait": round(wait, 3)})
            except (errors.RateLimitError, errors.ServerError) as exc:
                if retries >= self.settings.max_retries:
                    raise
                retries += 1
                hint = _retry_after(exc)
                wait = hint if hint is not None else min(8.0, 0.5 * 2 ** (retries - 1))
                log.info("create refused; retrying", extra={**self._extra(), "status": exc.status_code, "wait": wait})
            except errors.ConnectionFailedError as exc:
                if self.deadline.expired and not _never_connected(exc):
                    self._raise_not_started(was_busy, maybe_started=True)
                if not _never_connected(exc) or retries >= self.settings.max_retries:
                    raise
                retries += 1
                wait = min(8.0, 0.5 * 2 ** (retries - 1))
            self.deadline.sleep(wait)

    # -- waiting ------------------------------------------------------------------------------

    def _follow(self, stream: EventStream, state: ResponseStreamState) -> dict[str, Any]:
        """Read the stream to the terminal event; resume or poll when it breaks or stalls."""
        resumes = 0
        while True:
            try:
                self._read(stream, state)
            except StreamInterrupted as exc:
                if state.finished:
                    return state.final_response()  # broke after the terminal event: nothing lost
                if self.deadline.expired:
                    return self._expire()
                if self.response_id is None:
                    raise self._lost(str(exc)) from exc
                if resumes < MAX_RESUMES:
                    resumes += 1
                    log.info(
                        "stream broken; resuming",
                        extra={**self._extra(), "after": state.last_sequence, "reason": str(exc)},
                    )
                    resumed = self._resume(state)
                    if resumed is not None:
                        stream = resumed
                        continue
                return self._poll()
            if state.finished:
                return state.final_response()
            if self.deadline.expired:
                return self._expire()
            if self.response_id is None:
                if state.error:
                    raise errors.RunFailedError(
                        f"The server ended the stream with an error before the response started{self._where()}: "
                        f"{state.error.get('code') or 'error'}: {state.error.get('message')}. What to do: retry the step.",
                        code=state.error.get("code"),
                        detail=state.error.get("message"),
                        **self._ids(),
                    )
                raise self._lost("the stream ended without any event")
            # An `error` event, or a stream that ended cleanly without a terminal event (a
            # cancelled response has none): the response itself says what happened.
            return self._poll()

    def _read(self, stream: EventStream, state: ResponseStreamState) -> None:
        with stream:
            plain = stream.json_body()
            if plain is not None:  # a server that ignored stream=true answered with the response
                state.handle(Event("response.snapshot", {"type": "response.snapshot", "response": plain}))
                self.response_id = state.response_id
                return
            # The read timeout (stall) restarts with every event; the watchdog ends the stream
            # exactly at the deadline, however chatty the server is.
            with WATCHDOG.guard(self.deadline.remaining(), stream.abort):
                for event in stream:
                    state.handle(event)
                    self.response_id = state.response_id
                    if self.deadline.expired and not state.finished:
                        return
            # Read to the end even after the terminal event (the server ends the body right
            # after it): a fully read response returns its connection to the pool, while
            # closing it early costs a new connection — a TLS handshake — on the next request.

    def _resume(self, state: ResponseStreamState) -> EventStream | None:
        query: dict[str, Any] = {
            "stream": "true",
            "starting_after": -1 if state.last_sequence is None else state.last_sequence,
            **self._include(),
        }
        try:
            # No SDK retries: a resume that fails or stalls is given up for polling, which is
            # cheaper than the SDK's backoff and bounded by our own deadline.
            return self.wire.stream(
                "GET",
                f"/responses/{self.response_id}",
                query=query,
                read_timeout=read_timeout(self.settings, self.deadline),
                max_retries=0,
                context=self._ids(),
            )
        except errors.AssistantError as exc:
            log.info("resume refused; polling", extra={**self._extra(), "error": exc.message})
            return None

    def _poll(self) -> dict[str, Any]:
        interval = PollInterval(self.settings.first_poll_interval, self.settings.max_poll_interval)
        while True:
            reply = self.wire.call(
                "GET",
                f"/responses/{self.response_id}",
                query=self._include(),
                timeout=request_timeout(self.deadline),
                context=self._ids(),
            )
            if reply.data.get("status") in TERMINAL_STATUSES:
                return reply.data
            if self.deadline.expired:
                return self._expire()
            self.deadline.sleep(interval.next(reply.poll_after_ms))

    # -- endings ------------------------------------------------------------------------------

    def _expire(self) -> dict[str, Any]:
        """The deadline passed: cancel, confirm briefly, raise — or return what ended meanwhile."""
        waited = self.deadline.elapsed()
        final = self._cancel()
        status = (final or {}).get("status")
        if final is not None and status in TERMINAL_STATUSES and status != "cancelled":
            log.info("response ended while being cancelled", extra={**self._extra(), "status": status})
            return final  # completed (a late answer) or failed/incomplete: its own story
        cancelled = status == "cancelled"
        outcome = (
            "The response was cancelled on the server."
            if cancelled
            else f"Cancelling was requested but not confirmed (status {status or 'unknown'}); the response may still finish "
            "and be added to the conversation."
        )
        raise errors.DeadlineExceededError(
            f"No answer within max_wait_time={self.question.max_wait_time:g} s{self._where()}. {outcome} "
            "What to do: raise max_wait_time for this step, or ask a shorter question.",
            waited=waited,
            cancelled=cancelled,
            **self._ids(),
        )

    def _cancel(self) -> dict[str, Any] | None:
        """POST cancel (twice at most), then poll at most CANCEL_CONFIRM_SECONDS for a terminal status."""
        grace = Deadline(CANCEL_CONFIRM_SECONDS, clock=self.backend.clock, sleep=self.backend.sleep)
        path = f"/responses/{self.response_id}"
        data: dict[str, Any] | None = None
        for _ in range(2):
            try:
                data = self.wire.call(
                    "POST", path + "/cancel", timeout=max(0.5, grace.remaining()), max_retries=0, context=self._ids()
                ).data
                break
            except (errors.InvalidRequestError, errors.NotFoundError) as exc:
                log.info("cancel refused", extra={**self._extra(), "error": exc.message})
                break  # e.g. it already finished: look at it below
            except errors.AssistantError as exc:
                log.warning("cancel failed", extra={**self._extra(), "error": exc.message})
        interval = PollInterval(self.settings.first_poll_interval, self.settings.max_poll_interval)
        while (data is None or data.get("status") not in TERMINAL_STATUSES) and not grace.expired:
            grace.sleep(interval.next())
            try:
                data = self.wire.call(
                    "GET", path, timeout=max(0.2, grace.remaining()), max_retries=0, context=self._ids()
                ).data
            except errors.AssistantError:
                break
        log.info("response cancelled after the deadline", extra={**self._extra(), "status": (data or {}).get("status")})
        return data

    def _raise_not_started(self, was_busy: bool, *, maybe_started: bool = False) -> NoReturn:
        waited = self.deadline.elapsed()
        if was_busy:
            raise errors.ThreadBusyError(
                f"Conversation {self.conversation_id} stayed busy with another response for the whole max_wait_time of "
                f"{self.question.max_wait_time:g} s, so this step's prompt was never added; the other response was left alone. "
                "What to do: raise max_wait_time, or give concurrent workflows their own conversations.",
                waited=waited,
                cancelled=False,
                thread_id=self.conversation_id,
            )
        detail = (
            "The server did not acknowledge the request in time; if it started a response, that response will finish and "
            "be added to the conversation."
            if maybe_started
            else "No response was started."
        )
        raise errors.DeadlineExceededError(
            f"No answer within max_wait_time={self.question.max_wait_time:g} s (conversation {self.conversation_id}). {detail} "
            "What to do: raise max_wait_time for this step.",
            waited=waited,
            cancelled=False,
            thread_id=self.conversation_id,
        )

    def _lost(self, why: str) -> errors.ConnectionFailedError:
        return errors.ConnectionFailedError(
            f"The stream broke before the server named the response ({why}), so it cannot be followed or cancelled "
            f"(conversation {self.conversation_id}). What to do: retry the step; check the network between Keep and "
            "base_url if it happens again.",
            thread_id=self.conversation_id,
        )

    def _raise_for_status(self, response: dict[str, Any], output: Output) -> None:
        failure = ending_error(
            str(response.get("status") or ""),
            kind="response",
            where=self._where(),
            ids=self._ids(),
            error=response.get("error"),
            reason=(response.get("incomplete_details") or {}).get("reason"),
            partial_text=output.text,
        )
        if failure is not None:
            raise failure

    # -- function calls -----------------------------------------------------------------------

    def _answer_calls(self, calls: tuple[FunctionCall, ...]) -> list[dict[str, Any]]:
        outputs = self.question.tool_outputs or {}
        if pending_calls_answerable(outputs, [c.name for c in calls]):
            answers = [(c.call_id, tool_output_text(outputs[c.name])) for c in calls]
            self.answered.extend({**c.to_dict(), "output": text} for c, (_, text) in zip(calls, answers))
            log.info("answering function calls", extra={**self._extra(), "functions": [c.name for c in calls]})
            return request.function_outputs(answers)
        closed = self._close_calls(calls)
        listed = "; ".join(f"{c.name}({c.arguments})" for c in calls)
        missing = sorted({c.name for c in calls} - set(outputs))
        raise errors.ActionRequiredError(
            f"The assistant called functions this step has no answer for: {listed}{self._where()}. Nothing was cancelled: "
            "the response is complete and simply asks for these outputs. "
            + ("The calls were closed with a 'no output' answer so the conversation can go on. " if closed else "")
            + f"What to do: give their outputs in the step's tool_outputs, by function name (missing: {', '.join(missing)}).",
            tool_calls=[c.to_dict() for c in calls],
            **self._ids(),
        )

    def _close_calls(self, calls: tuple[FunctionCall, ...]) -> bool:
        """Answer unanswerable calls with UNANSWERED_OUTPUT (no model run): the API refuses new input after open calls."""
        items = request.function_outputs([(c.call_id, UNANSWERED_OUTPUT) for c in calls])
        try:
            self.wire.call(
                "POST",
                f"/conversations/{self.conversation_id}/items",
                body={"items": items},
                timeout=request_timeout(self.deadline),
                context=self._ids(),
            )
        except errors.AssistantError as exc:
            log.warning("could not close unanswered function calls", extra={**self._extra(), "error": exc.message})
            return False
        return True

    # -- the result ---------------------------------------------------------------------------

    def _result(self, response: dict[str, Any], output: Output, *, new: bool) -> AskResult:
        if not output.text:
            log.warning("the response completed with an empty answer", extra=self._extra())
        value = build_response(output.text, self.question, thread_id=self.conversation_id, run_id=self.response_id)
        log.info(
            "response completed",
            extra={
                **self._extra(),
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "elapsed": round(self.deadline.elapsed(), 3),
            },
        )
        return AskResult(
            text=output.text,
            response=value,
            thread_id=self.conversation_id or "",
            run_id=self.response_id or "",
            status="completed",
            backend="responses",
            messages=self._messages(output, new=new),
            usage=self.usage,
            citations=output.citations,
            files=output.files,
            tool_calls=tuple(self.answered),
            model=str(response.get("model") or self.settings.effective_model),
        )

    def _messages(self, output: Output, *, new: bool) -> tuple[Message, ...]:
        """The thread's messages, oldest first: known locally for a new conversation, else ONE listing."""
        ours = tuple(Message("assistant", text, item_id) for item_id, text in output.messages)
        local = (Message("user", self.question.prompt),) + ours
        if new:
            return local
        try:
            reply = self.wire.call(
                "GET",
                f"/conversations/{self.conversation_id}/items",
                query={"order": "desc", "limit": MESSAGES_PAGE},
                timeout=request_timeout(self.deadline),
                context=self._ids(),
            )
        except errors.AssistantError as exc:
            # The answer is in hand; a failed history read must not throw it away.
            log.warning(
                "could not list the conversation; messages holds this exchange only",
                extra={**self._extra(), "error": exc.message},
            )
            return local
        rendered = {m.id: m.content for m in ours if m.id}
        listed = conversation_messages(reversed(reply.data.get("data") or []))
        return tuple(Message(m.role, rendered.get(m.id, m.content), m.id) for m in listed)

    # -- small things -------------------------------------------------------------------------

    def _include(self) -> dict[str, Any]:
        return {"include": [request.FILE_SEARCH_RESULTS]} if self.settings.vector_store_ids else {}

    def _ids(self) -> dict[str, str | None]:
        return {"thread_id": self.conversation_id, "run_id": self.response_id}

    def _extra(self) -> dict[str, Any]:
        return {**self._ids(), "backend": "responses"}

    def _where(self) -> str:
        return f" (conversation {self.conversation_id}, response {self.response_id})"


def _retry_after(exc: errors.ApiError) -> float | None:
    """The server's retry-after(-ms) hint from the SDK error behind ``exc``, in seconds."""
    response = getattr(exc.__cause__, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, min(60.0, float(value) * scale))
            except ValueError:
                continue
    return None


def _never_connected(exc: BaseException) -> bool:
    """True when the request surely never reached the server (connection refused, DNS)."""
    seen: BaseException | None = exc
    while seen is not None:
        if any(cls.__name__ == "ConnectError" for cls in type(seen).__mro__):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
