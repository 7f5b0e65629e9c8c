"""Deadline, PollInterval and the shared Watchdog: no sockets, fake clocks where time is logic."""

from __future__ import annotations

import threading
import time

import pytest

from keep_openaiassistant.waiting import Deadline, PollInterval, Watchdog


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_deadline_never_sleeps_past_its_end() -> None:
    clock = FakeClock()
    deadline = Deadline(1.0, clock=clock, sleep=clock.sleep)
    deadline.sleep(0.4)
    deadline.sleep(5.0)
    assert clock.slept == pytest.approx([0.4, 0.6])
    assert deadline.expired and deadline.remaining() == 0.0
    deadline.sleep(1.0)
    assert len(clock.slept) == 2


def test_poll_interval_starts_fast_and_doubles_up_to_its_maximum() -> None:
    interval = PollInterval(0.05, 0.3)
    assert [interval.next() for _ in range(5)] == [0.05, 0.1, 0.2, 0.3, 0.3]


def test_poll_interval_follows_the_server_hint() -> None:
    interval = PollInterval(0.05, 1.0)
    assert interval.next("250") == 0.25
    assert interval.next(None) == 0.05
    assert interval.next("not-a-number") == 0.1


def test_watchdog_fires_at_the_deadline_and_not_when_cancelled() -> None:
    watchdog = Watchdog()
    fired: list[str] = []
    done = threading.Event()
    start = time.monotonic()
    cancel_early = watchdog.call_later(0.02, lambda: fired.append("cancelled one"))
    watchdog.call_later(0.08, lambda: (fired.append("due"), done.set()))
    cancel_early()
    assert done.wait(2.0)
    assert fired == ["due"]
    assert 0.07 <= time.monotonic() - start < 1.0


def test_watchdog_serves_many_deadlines_with_one_thread() -> None:
    watchdog = Watchdog()
    before = threading.active_count()
    hits: list[int] = []
    lock = threading.Lock()
    all_done = threading.Event()

    def hit(i: int) -> None:
        with lock:
            hits.append(i)
            if len(hits) == 200:
                all_done.set()

    for i in range(200):
        watchdog.call_later(0.01 + (i % 10) / 1000, lambda i=i: hit(i))
    assert threading.active_count() <= before + 1
    assert all_done.wait(2.0)
    assert sorted(hits) == list(range(200))


def test_a_failing_callback_does_not_stop_the_watchdog() -> None:
    watchdog = Watchdog()
    done = threading.Event()
    watchdog.call_later(0.0, lambda: 1 / 0)
    watchdog.call_later(0.01, done.set)
    assert done.wait(2.0)
