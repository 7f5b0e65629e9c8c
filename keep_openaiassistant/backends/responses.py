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
- ``max_wait_time`` is a hard deadline over every request and retry: on expiry the response is
  cancelled (``POST /responses/{id}/cancel``, only ever for an id the server gave), the cancel
  confirmed for at most :data:`.base.CANCEL_CONFIRM_SECONDS`, and DeadlineExceededError
  raised. A response that completed in that very moment is returned instead.
- Busy conversation (400 ``conversation_locked``: another response is running on it): wait with
  growing, jittered pauses and retry; ThreadBusyError at the deadline. Concurrent steps on one
  conversation thus take turns, each getting its own answer.

One backend serves many questions at once: all per-question state lives in an :class:`_Ask`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Collection
from typing import Any, NoReturn

import openai

from .. import errors, options
from ..question import Question
from ..results import AskResult, Context, Message, Usage, bound_messages
from ..settings import Settings
from ..tools import mcp
from ..tools.dispatch import Call, Outcome, awaiting_text, pending_call, toolbox_for
from ..waiting import Clock, Deadline, OutOfTime, Sleep, follow_stream
from ..wire import Event, EventStream, Reply, StreamInterrupted
from . import responses_request as request
from .base import AskBase, BackendBase
from .common import build_response, check_format, ending_error
from .responses_output import FunctionCall, Output, add_usage, compacted, conversation_messages, read_output
from .responses_stream import TERMINAL_STATUSES, ResponseStreamState

log = logging.getLogger("keep_openaiassistant")

#: Resumes of a broken stream before falling back to polling.
MAX_RESUMES = 2
#: The API's largest page; a continued conversation's ``messages`` are its newest this many items.
MESSAGES_PAGE = 100
#: Seconds to add a round's outputs to the conversation after the deadline (no model run).
CLOSE_CALLS_SECONDS = 1.0
#: Follow-up responses answering function calls before we call it a loop.
MAX_FUNCTION_ROUNDS = 10
#: Output text of a function call the step had no answer for (closes the call, see above).
UNANSWERED_OUTPUT = "No output: the Keep workflow step gave no tool_outputs for this function."
#: The error code of an input longer than the model's context window.
CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"


class ThreadMode:
    """How this server keeps threads: Conversations, or responses chained by ``previous_response_id``.

    ``thread_mode: auto`` learns it once per backend (one provider instance, one base_url): the
    first new thread's ``POST /conversations`` answering 404 or 405 switches every later new
    thread to chaining, logged once. ``conversations`` / ``previous_response_id`` set it.
    """

    def __init__(self, setting: str, server: str) -> None:
        self.setting = setting
        self.server = server
        self._lock = threading.Lock()
        #: None: not known yet (auto, before the first new thread).
        self.chained: bool | None = {"conversations": False, "previous_response_id": True}.get(setting)

    def may_learn(self) -> bool:
        return self.setting == "auto"

    def learned(self, *, chained: bool, why: str = "") -> None:
        with self._lock:
            if self.chained is chained:
                return
            self.chained = chained
        if chained:
            log.warning(
                "the server has no Conversations API; threads are chains of responses (previous_response_id)",
                extra={"server": self.server, "reason": why, "backend": "responses"},
            )


class ResponsesBackend(BackendBase):
    """The :class:`~keep_openaiassistant.question.Backend` for Responses + Conversations."""

    name = "responses"

    def __init__(
        self, settings: Settings, client: openai.OpenAI, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        super().__init__(settings, client, clock=clock, sleep=sleep)
        self.threads = ThreadMode(settings.thread_mode, self.wire.base_url)

    def new_ask(self, question: Question, deadline: Deadline) -> _Ask:
        return _Ask(self, question, deadline)

    def check_question(self, question: Question) -> None:
        super().check_question(question)
        thread_id = question.thread_id
        if thread_id and thread_id.startswith("thread_"):
            raise errors.ConfigurationError(
                f"thread_id {thread_id} is an Assistants API thread, and this provider uses the Responses API, "
                "whose threads are conversations (conv_...); threads do not carry over. What to do: leave thread_id "
                "empty to start a new conversation (see docs/migration.md), or set api: assistants on a server that "
                "still speaks the Assistants API.",
                field="thread_id",
            )
        if thread_id and not thread_id.startswith(("conv_", "resp_")):
            raise errors.ConfigurationError(
                f"thread_id {thread_id[:60]!r} is not a conversation id (conv_...) nor a response id (resp_..., on "
                "servers without the Conversations API). What to do: pass the thread_id of an earlier step of this "
                "provider, or leave it empty to start a new conversation.",
                field="thread_id",
            )
        options.check_choice("reasoning_effort", question.reasoning_effort, options.REASONING_EFFORTS)
        options.parse_int("max_output_tokens", question.max_output_tokens, minimum=options.MIN_OUTPUT_TOKENS)
        check_format(question.structured_output_format)
        request.text_format(question.structured_output_format)

    def access_probe(self) -> tuple[str, str]:
        return f"/models/{self.settings.effective_model}", "model"

    def access_not_found(self, exc: errors.NotFoundError) -> str:
        if exc.kind != "object":
            return exc.message
        model = self.settings.effective_model
        return (
            f"the server does not know model {model!r} for this key (a misspelt name, a model this project may not "
            "use, or one OpenAI has shut down): set `model` to one it lists under GET /v1/models"
        )


class _Ask(AskBase):
    """One question: its conversation, its response(s), its deadline."""

    noun = "response"

    def __init__(self, backend: ResponsesBackend, question: Question, deadline: Deadline) -> None:
        super().__init__(backend, question, deadline)
        self.threads = backend.threads
        self.thread_id: str | None = question.thread_id
        self.run_id: str | None = None
        self.usage = Usage()
        self.answered: list[dict[str, Any]] = []
        self.toolbox = toolbox_for(question)  # the step's tools; its records are the result's tool_calls
        self.awaiting: list[Outcome] | None = None  # the calls of a round stopped for approval
        # A chain of responses (previous_response_id) instead of a conversation: ``previous``
        # is the response the next one continues from; the step's thread_id is its last one.
        self.chain = bool(self.thread_id and self.thread_id.startswith("resp_"))
        self.previous: str | None = self.thread_id if self.chain else None
        #: ``truncation: auto`` in force after the server refused the thread as too long.
        self.truncation: str | None = None
        self.compacted = False

    def run(self) -> AskResult:
        new = self.thread_id is None
        if new:
            self.chain = self.threads.chained is True
            if not self.chain:
                self.thread_id = self._create_conversation()
                self.chain = self.thread_id is None
        items = self._approved_items() if self.question.approve else request.user_input(self.question.prompt)
        for _ in range(max(MAX_FUNCTION_ROUNDS, self.toolbox.limits.max_rounds + 1 if self.toolbox else 0) + 1):
            response = self._respond(items)
            if _overflowed(response):  # a response that failed on the thread's length
                response = self._respond_truncated(items, None)
            output = read_output(response)
            self.usage = add_usage(self.usage, output.usage)
            self.compacted = self.compacted or compacted(response)
            self._raise_for_status(response, output)
            if self.chain:
                self.previous = self.run_id
            if self.toolbox is not None and self.toolbox.tools.mcp:  # what the MCP servers did, what waits
                mcp.record_calls(self.toolbox, response.get("output") or [])
                requests = mcp.open_requests(response.get("output") or [])
                if requests and not output.function_calls:
                    self.awaiting = mcp.pending(self.toolbox, requests)
                    return self._awaiting_result(response)
            if not output.function_calls:
                return self._result(response, output, new=new)
            answered = self._answer_calls(output.function_calls)
            if answered is None:  # calls that need a person's approval: the step stops here
                return self._awaiting_result(response)
            items = answered
        raise errors.RunFailedError(
            f"The assistant kept calling functions for {MAX_FUNCTION_ROUNDS} rounds{self._where()}; stopped to avoid "
            "a loop. What to do: check the tool_outputs the step gives (the model may not accept them) and the "
            "instructions.",
            code="function_call_loop",
            detail=None,
            **self.ids(),
        )

    # -- conversation and response creation ---------------------------------------------------

    def _create_conversation(self) -> str | None:
        """A new conversation's id; None when the server has no Conversations API (chain instead)."""
        try:
            reply = self.call("POST", "/conversations", body={"metadata": {"created_by": "keep-openaiassistant"}})
        except OutOfTime as exc:
            self._raise_not_started(exc)
        except errors.ApiError as exc:
            if not (self.threads.may_learn() and _no_conversations_api(exc)):
                raise
            self.threads.learned(chained=True, why=f"POST /conversations answered HTTP {exc.status_code}")
            return None
        conversation_id = reply.data.get("id")
        if not isinstance(conversation_id, str) or not conversation_id:
            raise errors.MalformedResponseError(
                "POST /conversations answered without a conversation id. What to do: check that base_url "
                f"({self.wire.base_url}) serves the Conversations API."
            )
        log.info("conversation created", extra={"thread_id": conversation_id, "backend": "responses"})
        if self.threads.may_learn():
            self.threads.learned(chained=False)
        return conversation_id

    def _respond(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Create one response with ``items`` as input and wait for its terminal state; a thread
        the server refuses as too long is re-sent once with ``truncation: auto`` when the
        profile allows it."""
        try:
            return self._respond_once(items)
        except errors.InvalidRequestError as exc:
            if exc.code != CONTEXT_LENGTH_EXCEEDED:
                raise
            return self._respond_truncated(items, exc)

    def _respond_truncated(self, items: list[dict[str, Any]], refused: errors.AssistantError | None) -> dict[str, Any]:
        if self.settings.truncation != "auto" or self.truncation == "auto":
            raise errors.InvalidRequestError(
                f"The thread has outgrown the model's context window{self._where()}, so the server refused it. "
                "What to do: set truncation: auto in the provider's profile (the server then drops the oldest items) "
                "or compact_threshold (it compacts the thread), or start a new thread.",
                status_code=refused.status_code if isinstance(refused, errors.ApiError) else None,
                code=CONTEXT_LENGTH_EXCEEDED,
                thread_id=self.thread_id,
                run_id=self.run_id,
            )
        self.truncation = "auto"
        log.info("the thread outgrew the context window; re-sending with truncation auto", extra=self.extra())
        return self._respond_once(items)

    def _respond_once(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        body = request.response_body(
            self.settings,
            self.question,
            conversation_id=None if self.chain else self.thread_id,
            previous_response_id=self.previous if self.chain else None,
            input_items=items,
            truncation=self.truncation,
        )
        self.run_id = None
        state = ResponseStreamState()
        with self.naming():
            try:
                created = self.open("/responses", body, resend="unsent", busy=_thread_busy)
            except OutOfTime as exc:
                self._raise_not_started(exc)
            if not isinstance(created, Reply):
                return self._follow(created, state)
            state.handle(Event("response.snapshot", {"type": "response.snapshot", "response": created.data}))
            self.run_id = state.response_id
        if state.finished:
            return state.final_response()
        if self.run_id is None:
            raise self._lost("the server answered without a response id")
        return self._poll()

    # -- waiting ------------------------------------------------------------------------------

    def _follow(self, stream: EventStream, state: ResponseStreamState) -> dict[str, Any]:
        """Read the stream to the terminal event; resume or poll when it breaks or stalls."""
        resumes = 0
        while True:  # one pass per (resumed) stream, at most MAX_RESUMES + 1
            try:
                ended = self._read(stream, state)
            except StreamInterrupted as exc:
                if state.finished:
                    return state.final_response()  # broke after the terminal event: nothing lost
                if self.deadline.expired:
                    return self._expire()
                if self.run_id is None:
                    raise self._lost(str(exc)) from exc
                if resumes < MAX_RESUMES:
                    resumes += 1
                    log.info("stream broken; resuming", extra=self.extra(after=state.last_sequence, reason=str(exc)))
                    resumed = self._resume(state)
                    if resumed is not None:
                        stream = resumed
                        continue
                return self._poll()
            if state.finished:
                return state.final_response()
            if not ended or self.deadline.expired:
                return self._expire()
            if self.run_id is None:
                if state.error:
                    raise errors.RunFailedError(
                        f"The server ended the stream with an error before the response started{self._where()}: "
                        f"{state.error.get('code') or 'error'}: {_clause(state.error.get('message'))}. "
                        "What to do: retry the step.",
                        code=state.error.get("code"),
                        detail=state.error.get("message"),
                        **self.ids(),
                    )
                raise self._lost("the stream ended without any event")
            # An `error` event, or a stream that ended cleanly without a terminal event (a
            # cancelled response has none): the response itself says what happened.
            return self._poll()

    def _read(self, stream: EventStream, state: ResponseStreamState) -> bool:
        """Feed one stream to the state; False when the deadline passed before it ended."""
        with stream:
            plain = stream.json_body()
            if plain is not None:  # a server that ignored stream=true answered with the response
                state.handle(Event("response.snapshot", {"type": "response.snapshot", "response": plain}))
                self.run_id = state.response_id
                return True

            def handle(event: Event) -> None:
                state.handle(event)
                self.run_id = state.response_id
                self.check_named()

            return follow_stream(stream, handle, lambda: state.finished, deadline=self.deadline)

    def _resume(self, state: ResponseStreamState) -> EventStream | None:
        after = -1 if state.last_sequence is None else state.last_sequence
        query: dict[str, Any] = {"stream": "true", "starting_after": after, **self._include()}
        try:
            # One attempt: a resume that fails or stalls is given up for polling.
            return self.stream_get(f"/responses/{self.run_id}", query)
        except errors.AssistantError as exc:
            log.info("resume refused; polling", extra=self.extra(error=exc.message))
            return None

    def _poll(self) -> dict[str, Any]:
        try:
            reply = self.poll(
                f"/responses/{self.run_id}",
                lambda reply: reply.data.get("status") in TERMINAL_STATUSES,
                query=self._include(),
            )
        except OutOfTime:
            return self._expire()
        return reply.data

    # -- endings ------------------------------------------------------------------------------

    def _expire(self) -> dict[str, Any]:
        """The deadline passed: cancel, confirm briefly, raise — or return what ended meanwhile."""
        waited = self.deadline.elapsed()
        if self.run_id is None:  # nothing the server named: nothing to cancel
            raise errors.DeadlineExceededError(
                f"No answer within max_wait_time={self.question.max_wait_time:g} s (conversation {self.thread_id}): "
                "the server named no response before the deadline. If it started one, that response will finish "
                "and be added to the conversation. What to do: raise max_wait_time for this step.",
                waited=waited,
                cancelled=False,
                **self.ids(),
            )
        final = self.cancel(f"/responses/{self.run_id}", TERMINAL_STATUSES)
        status = (final or {}).get("status")
        if final is not None and status in TERMINAL_STATUSES and status != "cancelled":
            log.info("response ended while being cancelled", extra=self.extra(status=status))
            return final  # completed (a late answer) or failed/incomplete: its own story
        cancelled = status == "cancelled"
        outcome = (
            "The response was cancelled on the server."
            if cancelled
            else f"Cancelling was requested but not confirmed (status {status or 'unknown'}); the response may still "
            "finish and be added to the conversation."
        )
        raise errors.DeadlineExceededError(
            f"No answer within max_wait_time={self.question.max_wait_time:g} s{self._where()}. {outcome} "
            "What to do: raise max_wait_time for this step, or ask a shorter question.",
            waited=waited,
            cancelled=cancelled,
            **self.ids(),
        )

    def _raise_not_started(self, exc: OutOfTime) -> NoReturn:
        waited = self.deadline.elapsed()
        last = exc.last_error
        if last is not None and _thread_busy(last):
            raise errors.ThreadBusyError(
                f"{self._thread()} stayed busy with another response for the whole max_wait_time of "
                f"{self.question.max_wait_time:g} s, so this step's prompt was never added; the other response was "
                "left alone. What to do: raise max_wait_time, or give concurrent workflows their own conversations.",
                waited=waited,
                cancelled=False,
                thread_id=self.thread_id,
            )
        where = self._thread().lower() if self.thread_id else "no conversation yet"
        if isinstance(last, errors.ConnectionFailedError) and last.timed_out:
            detail = (
                "The server accepted the request but sent no answer in time; if it started a response, that response "
                "will finish and be added to the conversation. What to do: check that base_url is the API and "
                "reachable from Keep, then retry the step."
            )
        elif last is not None:
            detail = f"No response was started; the last attempt failed: {last.message}"
        else:
            detail = "No response was started. What to do: raise max_wait_time for this step."
        raise errors.DeadlineExceededError(
            f"No answer within max_wait_time={self.question.max_wait_time:g} s ({where}). {detail}",
            waited=waited,
            cancelled=False,
            thread_id=self.thread_id,
        )

    def _lost(self, why: str) -> errors.ConnectionFailedError:
        return errors.ConnectionFailedError(
            f"The stream broke before the server named the response ({why}), so it cannot be followed or cancelled "
            f"(conversation {self.thread_id}). What to do: retry the step; check the network between Keep and "
            "base_url if it happens again.",
            thread_id=self.thread_id,
        )

    def _raise_for_status(self, response: dict[str, Any], output: Output) -> None:
        failure = ending_error(
            str(response.get("status") or ""),
            kind="response",
            where=self._where(),
            ids=self.ids(),
            error=response.get("error"),
            reason=(response.get("incomplete_details") or {}).get("reason"),
            partial_text=output.text,
        )
        if failure is not None:
            raise failure

    # -- function calls -----------------------------------------------------------------------

    def _answer_calls(self, calls: tuple[FunctionCall, ...]) -> list[dict[str, Any]] | None:
        """The outputs of one round of calls (the step's tools), or None when calls wait for approval."""
        outputs = self.question.tool_outputs or {}
        toolbox = self.toolbox
        if toolbox is not None and toolbox.answers_all([c.name for c in calls]):
            tool_calls = [Call(c.call_id, c.name, c.arguments) for c in calls]
            if toolbox.over_limit():
                self._close_calls(calls)
                raise errors.RunFailedError(
                    f"The assistant kept calling tools after {toolbox.limits.max_rounds} rounds{self._where()}; "
                    "stopped to avoid a loop (the calls were closed; nothing is running). What to do: raise "
                    "tools.limits.max_rounds, or check the tools' outputs and the instructions.",
                    code="tool_round_limit",
                    detail=None,
                    **self.ids(),
                )
            if toolbox.needs_approval(tool_calls):
                self.awaiting = toolbox.pending(tool_calls)
                return None
            outcomes = toolbox.answer(tool_calls, self.deadline)
            answered = request.function_outputs([(o.call.id, o.output) for o in outcomes])
            if self.deadline.expired:  # the tools took the time left: nothing runs between rounds
                self._expire_between_rounds(answered)
            return answered
        closed = self._close_calls(calls)
        listed = "; ".join(f"{c.name}({c.arguments})" for c in calls)
        missing = sorted({c.name for c in calls} - set(outputs))
        raise errors.ActionRequiredError(
            f"The assistant called functions this step has no answer for: {listed}{self._where()}. Nothing was "
            "cancelled: the response is complete and simply asks for these outputs. "
            + ("The calls were closed with a 'no output' answer so the conversation can go on. " if closed else "")
            + f"What to do: give their outputs in the step's tool_outputs, by function name (missing: "
            f"{', '.join(missing)}).",
            tool_calls=[c.to_dict() for c in calls],
            **self.ids(),
        )

    # -- tools: approvals and the deadline between rounds ---------------------------------------

    def _approved_items(self) -> list[dict[str, Any]]:
        """An approval step: the thread's open calls, answered (approved ones run, denied ones told so)."""
        items = self._last_items()
        pending = _open_calls(items)
        requests = mcp.open_requests(items)
        unknown = sorted(set(self.question.approve or {}) - {c.id for c in pending} - {r.id for r in requests})
        if not (pending or requests) or unknown:
            raise errors.ConfigurationError(
                f"approve names {', '.join(unknown) or 'calls'} that {self._thread()} does not wait for (its open "
                f"calls: {', '.join(c.id for c in pending) or 'none'}). What to do: pass the ids from the stopped "
                "step's results.pending_calls, on the thread_id it returned.",
                field="approve",
            )
        assert self.toolbox is not None
        answered: list[dict[str, Any]] = []
        if pending:
            outcomes = self.toolbox.answer(pending, self.deadline)
            answered += request.function_outputs([(o.call.id, o.output) for o in outcomes])
        approvals = self.question.approve or {}
        answered += mcp.approval_items(requests, approvals)
        log.info("approvals sent", extra=self.extra(approved=sorted(k for k, v in approvals.items() if v)))
        return answered

    def _last_items(self) -> list[dict[str, Any]]:
        """The thread's newest items, oldest first (one GET): where open calls and requests are."""
        if self.chain:
            data = self.call("GET", f"/responses/{self.previous}").data.get("output") or []
        else:
            listed = self.call("GET", f"/conversations/{self.thread_id}/items", query={"order": "desc", "limit": 20})
            data = list(reversed(listed.data.get("data") or []))
        return [i for i in data if isinstance(i, dict)]

    def _awaiting_result(self, response: dict[str, Any]) -> AskResult:
        """Calls wait for a person: the response is complete, its calls open in the thread."""
        assert self.toolbox is not None and self.awaiting is not None
        text = awaiting_text(self.awaiting)
        log.info("tool calls await approval", extra=self.extra(calls=[o.call.id for o in self.awaiting]))
        if self.chain:
            self.thread_id = self.run_id  # the approval step continues from this response
        return AskResult(
            text=text,
            response=text,
            thread_id=self.thread_id or "",
            run_id=self.run_id or "",
            status="requires_approval",
            backend="responses",
            messages=(Message("user", self.question.prompt),) if self.question.prompt else (),
            usage=self.usage,
            tool_calls=tuple(self.toolbox.records),
            pending_calls=tuple(pending_call(o) for o in self.awaiting),
            model=str(response.get("model") or self.settings.effective_model),
        )

    def _expire_between_rounds(self, answered: list[dict[str, Any]]) -> NoReturn:
        """max_wait_time passed while tools ran: no response is running; the outputs close the calls."""
        closed = False
        if not self.chain:
            try:
                self.wire.call(
                    "POST",
                    f"/conversations/{self.thread_id}/items",
                    body={"items": answered},
                    timeout=CLOSE_CALLS_SECONDS,
                    context=self.ids(),
                )
                closed = True
            except errors.AssistantError as exc:
                log.warning("could not close the calls at the deadline", extra=self.extra(error=str(exc)))
        raise errors.DeadlineExceededError(
            f"No answer within max_wait_time={self.question.max_wait_time:g} s{self._where()}: the time ran out while "
            "the tools ran, between rounds; no response is running. "
            + ("The tools' outputs were added to the conversation. " if closed else "")
            + "What to do: raise max_wait_time, or lower the tools' timeouts (tools.limits.call_timeout).",
            waited=self.deadline.elapsed(),
            cancelled=False,
            **self.ids(),
        )

    def _close_calls(self, calls: tuple[FunctionCall, ...]) -> bool:
        """Answer unanswerable calls with UNANSWERED_OUTPUT (no model run): the API refuses new input
        after open calls."""
        if self.chain:
            # No conversation to close them in: the thread stays at the response before the
            # calls (the step's thread_id), which continues cleanly.
            return False
        items = request.function_outputs([(c.call_id, UNANSWERED_OUTPUT) for c in calls])
        try:
            self.call("POST", f"/conversations/{self.thread_id}/items", body={"items": items})
        except (errors.AssistantError, OutOfTime) as exc:
            log.warning("could not close unanswered function calls", extra=self.extra(error=str(exc)))
            return False
        return True

    # -- the result ---------------------------------------------------------------------------

    def _result(self, response: dict[str, Any], output: Output, *, new: bool) -> AskResult:
        if not output.text:
            log.warning("the response completed with an empty answer", extra=self.extra())
        value = build_response(output.text, self.question, thread_id=self.thread_id, run_id=self.run_id)
        log.info(
            "response completed",
            extra=self.extra(
                prompt_tokens=self.usage.prompt_tokens,
                completion_tokens=self.usage.completion_tokens,
                elapsed=round(self.deadline.elapsed(), 3),
            ),
        )
        messages, cut = bound_messages(self._messages(output, new=new), self.settings.max_history_bytes)
        if self.chain:
            self.thread_id = self.run_id  # the chain's last response: a later step continues from it
        return AskResult(
            text=output.text,
            response=value,
            thread_id=self.thread_id or "",
            run_id=self.run_id or "",
            status="completed",
            backend="responses",
            messages=messages,
            messages_truncated=cut,
            usage=self.usage,
            citations=output.citations,
            files=output.files,
            tool_calls=tuple(self.toolbox.records if self.toolbox else ()),
            model=str(response.get("model") or self.settings.effective_model),
            context=Context(
                truncation=str(response.get("truncation") or ""),
                truncated=self.truncation == "auto",
                compacted=self.compacted,
            ),
        )

    def _messages(self, output: Output, *, new: bool) -> tuple[Message, ...]:
        """The thread's messages, oldest first: known locally for a new conversation, else ONE listing."""
        ours = tuple(Message("assistant", text, item_id) for item_id, text in output.messages)
        local = (Message("user", self.question.prompt), *ours)
        if new or self.question.history == "none":
            return local
        # A chain's history is the last response's input items: the chain before it, then its input.
        path = f"/responses/{self.run_id}/input_items" if self.chain else f"/conversations/{self.thread_id}/items"
        try:
            reply = self.call("GET", path, query={"order": "desc", "limit": MESSAGES_PAGE})
        except (errors.AssistantError, OutOfTime) as exc:
            # The answer is in hand; a failed history read must not throw it away.
            log.warning(
                "could not list the conversation; messages holds this exchange only", extra=self.extra(error=str(exc))
            )
            return local
        rendered = {m.id: m.content for m in ours if m.id}
        listed = conversation_messages(reversed(reply.data.get("data") or []))
        known = tuple(Message(m.role, rendered.get(m.id, m.content), m.id) for m in listed)
        if self.chain:  # the input items end before this response's output
            return known + tuple(m for m in ours if m.id not in {k.id for k in known})
        return known

    # -- small things -------------------------------------------------------------------------

    def object_path(self) -> str | None:
        return f"/responses/{self.run_id}" if self.run_id else None

    def terminal_statuses(self) -> Collection[str]:
        return TERMINAL_STATUSES

    def _include(self) -> dict[str, Any]:
        included = request.include(self.settings)
        return {"include": included} if included else {}

    def _where(self) -> str:
        response = f", response {self.run_id}" if self.run_id else ""
        if self.chain:
            return f" (response chain after {self.previous or 'none'}{response})"
        return f" (conversation {self.thread_id}{response})"

    def _thread(self) -> str:
        return f"Response {self.previous}" if self.chain else f"Conversation {self.thread_id}"


def _open_calls(items: list[dict[str, Any]]) -> list[Call]:
    """Function calls among ``items`` that have no output yet."""
    answered = {i.get("call_id") for i in items if i.get("type") == "function_call_output"}
    return [
        Call(str(i.get("call_id")), str(i.get("name")), str(i.get("arguments") or ""))
        for i in items
        if i.get("type") == "function_call" and i.get("call_id") not in answered
    ]


def _conversation_locked(error: errors.AssistantError) -> bool:
    """Another response is running on the conversation: wait and re-send (it was not ours)."""
    return isinstance(error, errors.InvalidRequestError) and error.code == "conversation_locked"


_PREVIOUS_IN_PROGRESS = re.compile(r"previous response .{0,120}\bin progress", re.IGNORECASE | re.DOTALL)


def _thread_busy(error: errors.AssistantError) -> bool:
    """The thread is busy: its conversation is locked, or the response a chain continues from
    has not finished yet (a 400 that says so). Wait and re-send: nothing was started."""
    return _conversation_locked(error) or (
        isinstance(error, errors.InvalidRequestError) and bool(_PREVIOUS_IN_PROGRESS.search(error.message))
    )


def _no_conversations_api(error: errors.ApiError) -> bool:
    """``POST /conversations`` is not served: a 404 that names no object, or 405."""
    if isinstance(error, errors.NotFoundError):
        return error.kind != "object"
    return error.status_code == 405


def _overflowed(response: dict[str, Any]) -> bool:
    failure = response.get("error")
    return (
        response.get("status") == "failed"
        and isinstance(failure, dict)
        and failure.get("code") == CONTEXT_LENGTH_EXCEEDED
    )


def _clause(text: Any) -> str:
    return " ".join(str(text or "no detail").split()).rstrip(".")
