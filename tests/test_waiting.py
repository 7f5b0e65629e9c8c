"""The waiting core on a fake clock: deadlines, polling, retries, cancelling. No sockets, no waiting."""

from __future__ import annotations

from typing import Any

import pytest

from keep_openaiassistant import errors
from keep_openaiassistant.waiting import (
    Deadline,
    OutOfTime,
    PollInterval,
    RetryPolicy,
    cancel_and_confirm,
    follow_stream,
    io_time_left,
    poll_until,
    with_retries,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def deadline(clock: FakeClock, seconds: float) -> Deadline:
    return Deadline(seconds, clock=clock, sleep=clock.sleep)


def rate_limited(retry_after: float | None = None, code: str | None = None) -> errors.RateLimitError:
    return errors.RateLimitError(
        "POST /responses answered HTTP 429: slow down. What to do: wait.",
        status_code=429,
        code=code,
        retry_after=retry_after,
    )


def timed_out() -> errors.ConnectionFailedError:
    return errors.ConnectionFailedError("no answer in time.", timed_out=True)


def test_deadline_never_sleeps_past_its_end(clock: FakeClock) -> None:
    d = deadline(clock, 1.0)
    d.sleep(0.4)
    d.sleep(5.0)
    assert clock.slept == pytest.approx([0.4, 0.6])
    assert d.expired and d.remaining() == 0.0
    d.sleep(1.0)
    assert len(clock.slept) == 2


def test_bounding_io_exposes_the_time_left_to_this_thread_only_while_active(clock: FakeClock) -> None:
    d = deadline(clock, 3.0)
    assert io_time_left() is None
    with d.bounding_io():
        clock.now += 1.0
        assert io_time_left() == pytest.approx(2.0)
        with deadline(clock, 0.5).bounding_io():
            assert io_time_left() == pytest.approx(0.5)
        assert io_time_left() == pytest.approx(2.0)
    assert io_time_left() is None


def test_poll_interval_starts_fast_and_doubles_up_to_its_maximum() -> None:
    interval = PollInterval(0.05, 0.3)
    assert [interval.next() for _ in range(5)] == [0.05, 0.1, 0.2, 0.3, 0.3]


def test_poll_interval_follows_the_server_hint() -> None:
    interval = PollInterval(0.05, 1.0)
    assert interval.next("250") == 0.25
    assert interval.next(None) == 0.05
    assert interval.next("not-a-number") == 0.1


def test_no_attempt_gets_a_timeout_longer_than_the_time_left(clock: FakeClock) -> None:
    d = deadline(clock, 3.0)
    timeouts: list[float] = []

    def attempt(timeout: float) -> str:
        timeouts.append(timeout)
        clock.now += timeout  # the server never answers: each attempt uses all it was given
        raise timed_out()

    with pytest.raises(OutOfTime) as caught:
        with_retries(attempt, deadline=d, policy=RetryPolicy(max_retries=5, attempt_timeout=30.0))
    assert timeouts == [pytest.approx(3.0)]
    assert clock.now - 100.0 == pytest.approx(3.0)
    assert isinstance(caught.value.last_error, errors.ConnectionFailedError)


def test_a_retry_after_longer_than_the_time_left_gives_up_at_once_with_the_hint(clock: FakeClock) -> None:
    d = deadline(clock, 3.0)
    calls: list[float] = []

    def attempt(timeout: float) -> str:
        calls.append(timeout)
        raise rate_limited(retry_after=8.0)

    with pytest.raises(errors.RateLimitError) as caught:
        with_retries(attempt, deadline=d, policy=RetryPolicy())
    assert len(calls) == 1 and clock.slept == []
    assert caught.value.retry_after == 8.0
    assert "retry after 8 s" in caught.value.message and ".." not in caught.value.message


def test_a_short_retry_after_is_waited_and_the_request_sent_again(clock: FakeClock) -> None:
    replies: list[Any] = [rate_limited(retry_after=0.5), "ok"]

    def attempt(timeout: float) -> str:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return str(reply)

    assert with_retries(attempt, deadline=deadline(clock, 10.0), policy=RetryPolicy()) == "ok"
    assert clock.slept == [0.5]


def test_insufficient_quota_is_never_retried(clock: FakeClock) -> None:
    calls = 0

    def attempt(timeout: float) -> str:
        nonlocal calls
        calls += 1
        raise rate_limited(code="insufficient_quota")

    with pytest.raises(errors.RateLimitError):
        with_retries(attempt, deadline=deadline(clock, 10.0), policy=RetryPolicy())
    assert calls == 1


def test_a_request_that_starts_work_is_resent_only_when_the_server_surely_did_not_get_it(clock: FakeClock) -> None:
    sent = 0

    def reached(timeout: float) -> str:
        nonlocal sent
        sent += 1
        raise errors.ConnectionFailedError("reset.", reached_server=True)

    with pytest.raises(errors.ConnectionFailedError):
        with_retries(reached, deadline=deadline(clock, 10.0), policy=RetryPolicy(), resend="unsent")
    assert sent == 1

    refused: list[Any] = [errors.ConnectionFailedError("refused.", reached_server=False), "ok"]

    def never_reached(timeout: float) -> str:
        reply = refused.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return str(reply)

    assert with_retries(never_reached, deadline=deadline(clock, 10.0), policy=RetryPolicy(), resend="unsent") == "ok"


def test_retries_stop_after_the_policy_allows(clock: FakeClock) -> None:
    sent = 0

    def attempt(timeout: float) -> str:
        nonlocal sent
        sent += 1
        raise errors.ServerError("boom.", status_code=503)

    with pytest.raises(errors.ServerError):
        with_retries(attempt, deadline=deadline(clock, 60.0), policy=RetryPolicy(max_retries=2))
    assert sent == 3
    assert len(clock.slept) == 2 and clock.slept[1] > clock.slept[0]


def test_a_busy_object_is_retried_until_the_deadline_then_out_of_time(clock: FakeClock) -> None:
    locked = errors.InvalidRequestError("locked.", status_code=400, code="conversation_locked")
    sent = 0

    def attempt(timeout: float) -> str:
        nonlocal sent
        sent += 1
        raise locked

    with pytest.raises(OutOfTime) as caught:
        with_retries(
            attempt,
            deadline=deadline(clock, 2.0),
            policy=RetryPolicy(max_retries=0),
            busy=lambda e: getattr(e, "code", None) == "conversation_locked",
        )
    assert sent > 3  # not limited by max_retries
    assert caught.value.last_error is locked
    assert clock.now - 100.0 <= 2.0


def test_poll_until_follows_hints_and_ends_at_the_deadline(clock: FakeClock) -> None:
    statuses = iter(["queued", "in_progress", "completed"])
    got = poll_until(
        lambda: next(statuses),
        lambda status: status == "completed",
        deadline=deadline(clock, 10.0),
        interval=PollInterval(0.05, 1.0),
        hint=lambda status: "200",
    )
    assert got == "completed" and clock.slept == [0.2, 0.2]
    with pytest.raises(OutOfTime):
        poll_until(lambda: "queued", lambda s: False, deadline=deadline(clock, 1.0), interval=PollInterval(0.3, 1.0))


def test_cancel_and_confirm_stays_within_its_grace_period(clock: FakeClock) -> None:
    fetched = 0

    def fetch() -> dict[str, Any]:
        nonlocal fetched
        fetched += 1
        return {"status": "cancelling"}

    start = clock.now
    data = cancel_and_confirm(
        lambda: {"status": "cancelling"},
        fetch,
        {"cancelled", "completed"},
        grace=deadline(clock, 1.0),
        interval=PollInterval(0.05, 1.0),
    )
    assert data == {"status": "cancelling"} and fetched >= 2
    assert clock.now - start <= 1.0


def test_cancel_and_confirm_looks_when_the_cancel_is_refused(clock: FakeClock) -> None:
    def refuse() -> dict[str, Any]:
        raise errors.InvalidRequestError("Cannot cancel run with status 'completed'.", status_code=400)

    data = cancel_and_confirm(
        refuse, lambda: {"status": "completed"}, {"completed"}, grace=deadline(clock, 1.0), interval=PollInterval()
    )
    assert data == {"status": "completed"}


def test_follow_stream_leaves_a_chatty_stream_at_the_deadline(clock: FakeClock) -> None:
    d = deadline(clock, 1.0)
    seen: list[int] = []

    def events() -> Any:
        for n in range(1000):
            clock.now += 0.3
            yield n

    assert follow_stream(events(), seen.append, lambda: False, deadline=d) is False
    assert seen == [0, 1, 2, 3]
    assert follow_stream(iter([1, 2]), seen.append, lambda: False, deadline=deadline(clock, 5.0)) is True


def test_an_interrupt_while_a_run_is_being_named_waits_for_its_name() -> None:
    from keep_openaiassistant.waiting import InterruptGate

    gate = InterruptGate()
    assert gate.deliver() is False  # no ask being named: the handler raises at once
    with pytest.raises(KeyboardInterrupt):
        with gate.naming():
            assert gate.deliver() is True  # held: the run has no id yet
            assert gate.deliver() is False  # a second Ctrl-C is not held
            gate.named()  # the id arrived: the held interrupt goes off here
            pytest.fail("named() must raise the held interrupt")
    with gate.naming():
        gate.named()
        assert gate.deliver() is False  # once named, interrupts are not held
    with pytest.raises(KeyboardInterrupt), gate.naming():
        assert gate.deliver() is True  # held until the request is over, if never named
