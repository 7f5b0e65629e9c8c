"""All the waiting an ask does, in one place: the deadline, polling, retries, cancelling.

The backends contain no wait loop of their own; they hand this module what to send and how
to read the answer:

- :class:`Deadline` — ``max_wait_time`` on an injectable clock (and sleep), so every piece of
  timing logic is tested on a fake clock. :meth:`Deadline.bounding_io` makes the deadline
  govern the sockets too: while it is active, no socket connect, read or write of this thread
  waits past it (:mod:`.transport` caps each one at the time left), so a server that accepts
  and never answers, trickles its headers, or keeps a stream alive with heartbeats cannot hold
  an ask past ``max_wait_time``. This replaces a watchdog thread that aborted streams: it also
  covers plain requests, needs no thread, and cannot touch a connection that went back to the pool.
- :class:`PollInterval` — fast at first, then doubling; the server's ``openai-poll-after-ms``
  hint wins.
- :func:`with_retries` — the retry policy. The SDK's own retries are off (they would sleep
  past the deadline: a ``retry-after: 8`` with 3 s left); each attempt gets the time left as
  its timeout, a retry-after the deadline cannot wait for gives up at once with the server's
  hint in the error, and when time runs out :class:`OutOfTime` carries the last failure.
- :func:`poll_until` — GET until a condition holds, at the interval, within the deadline.
- :func:`cancel_and_confirm` — after the deadline (or an interrupt): cancel, then confirm for a
  short grace period of its own.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from . import errors

Clock = Callable[[], float]
Sleep = Callable[[float], None]
T = TypeVar("T")
E = TypeVar("E")

_bound = threading.local()


class Deadline:
    """``seconds`` from now on ``clock``. ``sleep`` never sleeps past the deadline."""

    def __init__(self, seconds: float, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
        self.seconds = float(seconds)
        self.clock = clock
        self._sleep = sleep
        self.started = clock()
        self.at = self.started + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())

    def elapsed(self) -> float:
        return self.clock() - self.started

    @property
    def expired(self) -> bool:
        return self.clock() >= self.at

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` or until the deadline, whichever comes first."""
        wait = min(max(0.0, seconds), self.remaining())
        if wait > 0:
            self._sleep(wait)

    def grace(self, seconds: float) -> Deadline:
        """A new, short deadline on the same clock: the budget of a cancel after this one passed."""
        return Deadline(seconds, clock=self.clock, sleep=self._sleep)

    @contextlib.contextmanager
    def bounding_io(self) -> Iterator[None]:
        """While active, this thread's socket I/O never waits past the deadline (see the module doc)."""
        previous = getattr(_bound, "deadline", None)
        _bound.deadline = self
        try:
            yield
        finally:
            _bound.deadline = previous


def io_time_left() -> float | None:
    """Seconds the current thread's socket I/O may still wait, or None when no deadline bounds it."""
    deadline: Deadline | None = getattr(_bound, "deadline", None)
    return None if deadline is None else deadline.remaining()


class PollInterval:
    """Polling intervals that start fast and grow, replaced by the server's hint when it gives one.

    ``next(hint_ms)``: a server hint (``openai-poll-after-ms``) wins; otherwise the interval
    doubles from ``first`` up to ``maximum``.
    """

    def __init__(self, first: float = 0.05, maximum: float = 1.0) -> None:
        self._current = first
        self._maximum = maximum

    def next(self, hint_ms: str | int | None = None) -> float:
        if hint_ms not in (None, ""):
            try:
                return max(0.0, int(hint_ms) / 1000.0)
            except (TypeError, ValueError):
                pass
        value = self._current
        self._current = min(self._maximum, self._current * 2)
        return value


class OutOfTime(Exception):
    """Internal: the deadline passed inside a waiting helper. ``last_error`` is the failure of
    the last attempt (a timeout, a 5xx...), None when none was made. The backend turns it into
    the public error that fits its moment (DeadlineExceededError, ThreadBusyError...)."""

    def __init__(self, last_error: errors.AssistantError | None = None) -> None:
        self.last_error = last_error
        super().__init__(last_error.message if last_error else "out of time")


# -- retries ------------------------------------------------------------------------------------

#: What may be re-sent after a failure:
#: ``"any"``: a read or an idempotent write; every transient failure is retried.
#: ``"unsent"``: a request that starts work on the server (a run, a response): retried only when
#: the server surely did not act on it (429, 5xx it answered, a connection never made).
Resend = str
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` re-sends after the first attempt; backoff doubles from ``first_backoff``
    up to ``max_backoff`` with jitter, unless the server's retry-after says otherwise."""

    max_retries: int = 2
    first_backoff: float = 0.5
    max_backoff: float = 8.0
    #: No attempt waits longer than this for its reply (the deadline's time left, if sooner).
    attempt_timeout: float = 30.0

    def backoff(self, retry: int) -> float:
        base = min(self.max_backoff, self.first_backoff * 2.0 ** (retry - 1))
        return float(base * random.uniform(0.75, 1.25))


def retry_wait(error: errors.AssistantError, *, resend: Resend, retry: int, policy: RetryPolicy) -> float | None:
    """Seconds to wait before re-sending after ``error``, or None when it must not be re-sent."""
    if isinstance(error, errors.ConnectionFailedError):
        if resend == "any" or not error.reached_server:
            return policy.backoff(retry)
        return None
    if not isinstance(error, errors.ApiError) or isinstance(error, errors.MalformedResponseError):
        return None
    if error.status_code not in RETRYABLE_STATUSES or error.code == "insufficient_quota":
        return None
    if resend != "any" and error.status_code in (408, 409):
        return None
    return error.retry_after if error.retry_after is not None else policy.backoff(retry)


def with_retries(
    attempt: Callable[[float], T],
    *,
    deadline: Deadline,
    policy: RetryPolicy,
    resend: Resend = "any",
    busy: Callable[[errors.AssistantError], bool] | None = None,
) -> T:
    """``attempt(timeout)`` until it succeeds, under the policy and within the deadline.

    Each attempt's timeout is the policy's ``attempt_timeout`` or the time left, whichever is
    shorter, and its socket I/O is bounded by the deadline. Raises the attempt's error when it
    is not retryable or the retries are used up; RateLimitError at once (``retry_after`` set)
    when the server asks for a pause longer than the time left; OutOfTime when time ran out.

    ``busy(error)``: True for an error that means "someone else holds the object, try again"
    (a locked conversation): those are retried until the deadline, with growing, jittered
    pauses (concurrent waiters must not retry in step), not counted as retries.
    """
    retry = 0
    last: errors.AssistantError | None = None
    busy_pause = PollInterval(0.05, 1.0)
    while True:
        left = deadline.remaining()
        if left <= 0:
            raise OutOfTime(last)
        try:
            with deadline.bounding_io():
                return attempt(min(policy.attempt_timeout, left))
        except errors.AssistantError as exc:
            last = exc
            if busy is not None and busy(exc):
                pause = busy_pause.next() * random.uniform(0.5, 1.5)
                if pause >= deadline.remaining():
                    raise OutOfTime(exc) from exc
                deadline.sleep(pause)
                continue
            wait = retry_wait(exc, resend=resend, retry=retry + 1, policy=policy)
            if wait is None or retry >= policy.max_retries:
                if deadline.expired and _is_timeout(exc):
                    raise OutOfTime(exc) from exc
                raise
            if isinstance(exc, errors.RateLimitError) and exc.retry_after is not None and wait > deadline.remaining():
                raise _rate_limited_past_deadline(exc, deadline) from exc
            if wait >= deadline.remaining():
                raise OutOfTime(exc) from exc
            deadline.sleep(wait)
            retry += 1


def _is_timeout(error: errors.AssistantError) -> bool:
    return isinstance(error, errors.ConnectionFailedError) and error.timed_out


def _rate_limited_past_deadline(exc: errors.RateLimitError, deadline: Deadline) -> errors.RateLimitError:
    said = exc.message.split(" What to do:", 1)[0].rstrip(".")
    return errors.RateLimitError(
        f"{said}. The server asks to retry after {exc.retry_after:g} s, and only {deadline.remaining():.1f} s of "
        f"the {deadline.seconds:g} s deadline (max_wait_time) are left, so the step gave up at once instead of "
        "waiting past it. "
        "What to do: retry the step later, raise max_wait_time, or raise the key's rate limit.",
        retry_after=exc.retry_after,
        status_code=exc.status_code,
        request_id=exc.request_id,
        code=exc.code,
        thread_id=exc.thread_id,
        run_id=exc.run_id,
    )


# -- streams and polling ------------------------------------------------------------------------


def follow_stream(
    events: Iterable[E], handle: Callable[[E], None], finished: Callable[[], bool], *, deadline: Deadline
) -> bool:
    """Feed ``events`` to ``handle`` until the stream ends; False when the deadline passed first.

    The stream's socket reads are bounded by the deadline, so a silent or trickling server
    cannot hold it past its end; a chatty one is left after the first event past it. Errors of
    the stream (StreamInterrupted) propagate. A stream is read to its very end even after its
    terminal event: a fully read response returns its connection to the pool.
    """
    with deadline.bounding_io():
        for event in events:
            handle(event)
            if deadline.expired and not finished():
                return False
    return True


def poll_until(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    *,
    deadline: Deadline,
    interval: PollInterval,
    hint: Callable[[T], str | None] = lambda _: None,
    first_wait: float = 0.0,
) -> T:
    """``fetch()`` until ``done(reply)``, sleeping the interval (or the reply's ``hint``) between.

    ``first_wait``: how long to wait before the first fetch (e.g. the hint of a reply that just
    created the object). Raises OutOfTime with the last reply unseen when the deadline passes.
    """
    if first_wait > 0:
        deadline.sleep(first_wait)
    while True:
        if deadline.expired:
            raise OutOfTime()
        reply = fetch()
        if done(reply):
            return reply
        deadline.sleep(interval.next(hint(reply)))


def cancel_and_confirm(
    cancel: Callable[[], dict[str, Any] | None],
    fetch: Callable[[], dict[str, Any]],
    terminal: Collection[str],
    *,
    grace: Deadline,
    interval: PollInterval,
) -> dict[str, Any] | None:
    """Cancel, then fetch until the object reaches a terminal status or the grace period ends.

    ``cancel()`` returns the object it got back (or None when the server refused: it may have
    ended meanwhile, which the fetch shows). Returns the last object seen; never raises an
    AssistantError (the caller reports what it knows).
    """
    data: dict[str, Any] | None = None
    with grace.bounding_io():
        try:
            data = cancel()
        except errors.AssistantError:
            data = None
        while (data is None or data.get("status") not in terminal) and not grace.expired:
            if data is not None:
                grace.sleep(interval.next())
            try:
                data = fetch()
            except errors.AssistantError:
                break
    return data


# -- interrupts ---------------------------------------------------------------------------------


class InterruptGate:
    """Ctrl-C that waits, briefly, for the server to name what it started, so it can be cancelled.

    Between sending a request that starts a run (or response) and reading the run's id from the
    reply, an interrupt would leave a run nobody can cancel. A signal handler that asks
    :meth:`deliver` first lets the ask finish that moment (:meth:`naming`): the interrupt is
    held, and raised as KeyboardInterrupt as soon as the id is known (:meth:`named`) or the
    request is over. A second signal while one is held raises at once. Only the main thread
    (where Python runs signal handlers) holds interrupts; elsewhere this does nothing.
    """

    def __init__(self) -> None:
        self._depth = 0
        self._pending = False
        self._named = False

    @contextlib.contextmanager
    def naming(self) -> Iterator[None]:
        """Around a request that starts work, until the server has named it."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        if self._depth == 0:
            self._named = False
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._pending:
                self._pending = False
                raise KeyboardInterrupt

    def named(self) -> None:
        """The server named the run: from now on interrupts go off at once, and one held
        meanwhile is raised now."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._named = True
        if self._pending:
            self._pending = False
            raise KeyboardInterrupt

    def deliver(self) -> bool:
        """For a signal handler: True when the interrupt is held (an ask is being named), False
        when the handler should raise KeyboardInterrupt itself."""
        if self._depth and not self._named and not self._pending:
            self._pending = True
            return True
        return False


#: The process's gate; the CLI's signal handlers ask it before raising KeyboardInterrupt.
INTERRUPTS = InterruptGate()
