"""A hard deadline with an injectable clock and sleep, so waiting logic is tested without waiting."""

from __future__ import annotations

import time
from collections.abc import Callable

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
