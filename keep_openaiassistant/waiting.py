"""A hard deadline with an injectable clock and sleep, so waiting logic is tested without waiting."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class Deadline:
    """``seconds`` from now on ``clock``. ``sleep`` never sleeps past the deadline."""

    def __init__(self, seconds: float, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
        self.seconds = float(seconds)
        self._clock = clock
        self._sleep = sleep
        self.started = clock()
        self.at = self.started + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.at - self._clock())

    def elapsed(self) -> float:
        return self._clock() - self.started

    @property
    def expired(self) -> bool:
        return self._clock() >= self.at

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` or until the deadline, whichever comes first."""
        wait = min(max(0.0, seconds), self.remaining())
        if wait > 0:
            self._sleep(wait)


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


class Watchdog:
    """Runs a callback when a deadline passes, unless cancelled first — for many asks at once.

    One daemon thread and a heap serve every pending deadline of the process: at 256
    concurrent asks that is one thread, not 256 ``threading.Timer`` threads. The backends use
    it to abort a stream exactly at the deadline (a read timeout restarts with every event,
    so it cannot end a stream at a fixed time). Uses the real monotonic clock: a stream blocked
    in a socket read waits in real time, whatever clock the deadline was given.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._cond = threading.Condition()
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Callable[[], None]:
        """Schedule ``callback`` in ``seconds``; returns a function that cancels it."""
        key = next(self._counter)
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, seconds), key, callback))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="keep-openaiassistant-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

        def cancel() -> None:
            with self._cond:
                self._cancelled.add(key)

        return cancel

    @contextlib.contextmanager
    def guard(self, seconds: float, callback: Callable[[], None]) -> Iterator[None]:
        """``with WATCHDOG.guard(deadline.remaining(), stream.abort): read the stream``."""
        cancel = self.call_later(seconds, callback)
        try:
            yield
        finally:
            cancel()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                at, key, callback = self._heap[0]
                if key in self._cancelled:
                    heapq.heappop(self._heap)
                    self._cancelled.discard(key)
                    continue
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            try:
                callback()
            except Exception:
                logging.getLogger("keep_openaiassistant").debug("watchdog callback failed", exc_info=True)


#: The process-wide watchdog.
WATCHDOG = Watchdog()
