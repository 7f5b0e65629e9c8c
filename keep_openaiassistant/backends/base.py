"""What both backends share: construction, the streaming switch, requests under the deadline,
following a stream, polling, cancelling, the access check, the interrupt, ids for errors.

A backend module keeps only what differs between the APIs: its request bodies, its event
state, its flow. Every wait goes through :mod:`..waiting`; no backend sleeps or loops on a
deadline itself.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar

import openai

from .. import errors
from ..question import Question
from ..results import AskResult
from ..settings import Settings
from ..waiting import (
    INTERRUPTS,
    Clock,
    Deadline,
    OutOfTime,
    PollInterval,
    Resend,
    RetryPolicy,
    Sleep,
    cancel_and_confirm,
    poll_until,
    with_retries,
)
from ..wire import EventStream, Reply, Wire
from .common import refuses_streaming

log = logging.getLogger("keep_openaiassistant")

#: After a deadline (or an interrupt), how long a cancel may take to be confirmed.
CANCEL_CONFIRM_SECONDS = 1.0
#: The API's largest page; a continued thread's ``messages`` are its newest this many.
MESSAGES_PAGE = 100


class StreamingSwitch:
    """Whether this backend's server streams. A server that refuses ``stream`` (a 400 about it)
    is polled for ``relearn_after`` seconds, then tried again: one refusal never turns streaming
    off for good, and every change is logged."""

    def __init__(self, server: str, *, relearn_after: float = 300.0, clock: Clock = time.monotonic) -> None:
        self.server = server
        self.relearn_after = relearn_after
        self._clock = clock
        self._refused_at: float | None = None
        self._lock = threading.Lock()

    @property
    def on(self) -> bool:
        with self._lock:
            if self._refused_at is None:
                return True
            if self._clock() - self._refused_at >= self.relearn_after:
                self._refused_at = None
                log.info("trying to stream again", extra={"server": self.server})
                return True
            return False

    def refused(self, why: str) -> None:
        with self._lock:
            first = self._refused_at is None
            self._refused_at = self._clock()
        if first:
            log.warning(
                "the server refuses to stream; polling it for the next %g s",
                self.relearn_after,
                extra={"server": self.server, "reason": why},
            )


class BackendBase:
    """One API behind the engine (:class:`~keep_openaiassistant.question.Backend`)."""

    name: ClassVar[str]
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self, settings: Settings, client: openai.OpenAI, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        self.settings = settings
        self.client = client
        self.wire = Wire(
            client, headers=self.headers, secrets=(settings.api_key,), connect_timeout=settings.connect_timeout
        )
        self.clock = clock
        self.sleep = sleep
        self.policy = RetryPolicy(max_retries=settings.max_retries)
        self.streaming = StreamingSwitch(self.wire.base_url, clock=clock)

    # -- the ask -----------------------------------------------------------------------------

    def ask(self, question: Question, deadline: Deadline) -> AskResult:
        self.check_question(question)
        ask = self.new_ask(question, deadline)
        try:
            return ask.run()
        except KeyboardInterrupt:
            raise ask.interrupted() from None

    def check_question(self, question: Question) -> None:
        """Refuse, before any request, what this API cannot take. Overridden per API."""
        if question.approve:  # the run goes on where it stopped: no new prompt is sent
            if not question.thread_id:
                raise errors.ConfigurationError(
                    "approve needs the thread: give thread_id: {{ steps.<the step that stopped>.results.thread_id }}.",
                    field="approve",
                )
            if question.tools is None:
                raise errors.ConfigurationError(
                    "approve needs the step's tools: give the same tools: as the step that stopped, so the approved "
                    "calls can be run.",
                    field="approve",
                )
            return
        if not question.prompt or not question.prompt.strip():
            raise errors.ConfigurationError("prompt is empty: give the step a prompt.", field="prompt")

    def new_ask(self, question: Question, deadline: Deadline) -> AskBase:
        raise NotImplementedError

    # -- the install check -------------------------------------------------------------------

    def check_access(self, deadline: Deadline) -> dict[str, bool | str]:
        """One harmless GET proves the key, the server and the assistant (or model).

        Never raises, never writes; bounded by ``deadline`` (the install check's own budget).
        A reply that is not the API's object (a login page, another service) fails both scopes.
        """
        path, expected_object = self.access_probe()
        try:
            reply = with_retries(
                lambda timeout: self.wire.call("GET", path, timeout=timeout), deadline=deadline, policy=self.policy
            )
        except OutOfTime as exc:
            why = exc.last_error.message if exc.last_error else "no answer"
            reason = (
                f"no answer from {self.wire.base_url} within the install check's {deadline.seconds:g} s ({why}). "
                "What to do: check base_url and the network between Keep and the server."
            )
            return {"authenticated": reason, "assistant": reason}
        except errors.AuthenticationError as exc:
            return {"authenticated": exc.message, "assistant": "not checked: the key was refused"}
        except errors.NotFoundError as exc:
            reason = self.access_not_found(exc)
            return {"authenticated": True if self.access_authenticated(exc) else reason, "assistant": reason}
        except errors.AssistantError as exc:
            return {"authenticated": exc.message, "assistant": exc.message}
        if reply.data.get("object") != expected_object:
            reason = (
                f"GET {path} answered, but not with the API's {expected_object} object (object: "
                f"{str(reply.data.get('object'))[:40]!r}): {self.wire.base_url} is not an OpenAI-compatible API. "
                "What to do: check base_url (it usually ends in /v1)."
            )
            return {"authenticated": reason, "assistant": reason}
        return {"authenticated": True, "assistant": True}

    def access_probe(self) -> tuple[str, str]:
        """(path, object) of the GET that proves access. Overridden per API."""
        raise NotImplementedError

    def access_not_found(self, exc: errors.NotFoundError) -> str:
        return exc.message

    def access_authenticated(self, exc: errors.NotFoundError) -> bool:
        """Whether this 404 proves the key was accepted: only the API's own "no such object" does."""
        return exc.kind == "object"


class AskBase:
    """One question's state and the requests it makes, all under its deadline.

    Subclasses hold the ids (``thread_id``, ``run_id``), the flow (:meth:`run`) and what to
    say when time runs out (:meth:`out_of_time`).
    """

    #: "run" (Assistants) or "response" (Responses): for messages.
    noun: ClassVar[str]
    thread_id: str | None
    run_id: str | None

    def __init__(self, backend: BackendBase, question: Question, deadline: Deadline) -> None:
        self.backend = backend
        self.settings = backend.settings
        self.wire = backend.wire
        self.question = question
        self.deadline = deadline
        #: The grace period of the last cancel: a run that completed while being cancelled is
        #: read within what is left of it, never on a new budget.
        self.grace: Deadline | None = None

    def run(self) -> AskResult:
        raise NotImplementedError

    # -- requests ----------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        resend: Resend = "any",
        busy: Callable[[errors.AssistantError], bool] | None = None,
    ) -> Reply:
        """One JSON request, retried under the policy within the deadline (OutOfTime past it)."""
        return with_retries(
            lambda timeout: self.wire.call(method, path, body=body, query=query, timeout=timeout, context=self.ids()),
            deadline=self.deadline,
            policy=self.backend.policy,
            resend=resend,
            busy=busy,
        )

    def open(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        resend: Resend = "unsent",
        busy: Callable[[errors.AssistantError], bool] | None = None,
    ) -> EventStream | Reply:
        """POST a request that starts work: streamed while the server streams, else plain."""
        streaming = self.backend.streaming
        if streaming.on:
            try:
                return with_retries(
                    lambda timeout: self.wire.stream(
                        "POST", path, body=body, read_timeout=self.stall_timeout(timeout), context=self.ids()
                    ),
                    deadline=self.deadline,
                    policy=self.backend.policy,
                    resend=resend,
                    busy=busy,
                )
            except errors.InvalidRequestError as exc:
                if not refuses_streaming(exc):
                    raise
                streaming.refused(exc.message)
        return self.call("POST", path, body=body, resend=resend, busy=busy)

    def stream_get(self, path: str, query: Mapping[str, Any]) -> EventStream:
        """GET an SSE stream (a resume), one attempt: a resume that fails is given up for polling."""
        return self.wire.stream(
            "GET", path, query=query, read_timeout=self.stall_timeout(self.deadline.remaining()), context=self.ids()
        )

    def stall_timeout(self, left: float) -> float:
        """A silent stream is given up after the stall timeout, or at the deadline if sooner."""
        return max(0.05, min(self.settings.stream_stall_timeout, left))

    def poll(
        self,
        path: str,
        done: Callable[[Reply], bool],
        *,
        query: Mapping[str, Any] | None = None,
        first_hint: str | None = None,
    ) -> Reply:
        """GET ``path`` until ``done(reply)``, at the server's hint or growing intervals.

        ``first_hint``: the object was just seen in a reply carrying this hint ("" for none):
        wait one interval before the first GET. OutOfTime when the deadline passes.
        """
        interval = self.interval()
        first_wait = interval.next(first_hint) if first_hint is not None else 0.0
        return poll_until(
            lambda: self.call("GET", path, query=query),
            done,
            deadline=self.deadline,
            interval=interval,
            hint=lambda reply: reply.poll_after_ms,
            first_wait=first_wait,
        )

    def cancel(self, path: str, terminal: Collection[str]) -> dict[str, Any] | None:
        """Cancel the object at ``path`` (an id the server gave) and confirm within the grace period."""
        grace = self.grace = self.deadline.grace(CANCEL_CONFIRM_SECONDS)

        def attempt(method: str, suffix: str) -> dict[str, Any]:
            timeout = max(0.05, grace.remaining())
            return self.wire.call(method, path + suffix, timeout=timeout, context=self.ids()).data

        data = cancel_and_confirm(
            lambda: attempt("POST", "/cancel"),
            lambda: attempt("GET", ""),
            terminal,
            grace=grace,
            interval=self.interval(),
        )
        log.info(f"{self.noun} cancelled", extra={**self.extra(), "status": (data or {}).get("status")})
        return data

    def interval(self) -> PollInterval:
        return PollInterval(self.settings.first_poll_interval, self.settings.max_poll_interval)

    # -- interrupts --------------------------------------------------------------------------

    def naming(self) -> contextlib.AbstractContextManager[None]:
        """Around a request that starts a run: an interrupt waits until the server names it."""
        return INTERRUPTS.naming()

    def check_named(self) -> None:
        """After each event: once the run has an id, an interrupt held meanwhile goes off."""
        if self.object_path() is not None:
            INTERRUPTS.named()

    def interrupted(self) -> errors.AskInterrupted:
        """Ctrl-C / SIGTERM: cancel what this ask started (an id the server gave), say so."""
        cancelled = False
        path = self.object_path()
        if path is not None:
            data = self.cancel(path, self.terminal_statuses())
            cancelled = (data or {}).get("status") == "cancelled"
        if path is None:
            outcome = f"no {self.noun} had been started"
        elif cancelled:
            outcome = f"{self.noun} {self.run_id} on {self.thread_id} was cancelled on the server"
        else:
            outcome = f"cancelling {self.noun} {self.run_id} was not confirmed; it may still finish on {self.thread_id}"
        return errors.AskInterrupted(
            f"Interrupted; {outcome}. What to do: ask again when ready.", cancelled=cancelled, **self.ids()
        )

    def object_path(self) -> str | None:
        """The path of the run (or response) this ask started, None before the server named it."""
        raise NotImplementedError

    def terminal_statuses(self) -> Collection[str]:
        raise NotImplementedError

    # -- ids for errors and logs -------------------------------------------------------------

    def ids(self) -> dict[str, str | None]:
        return {"thread_id": self.thread_id, "run_id": self.run_id}

    def extra(self, **more: Any) -> dict[str, Any]:
        return {**self.ids(), "backend": self.backend.name, **more}
