"""Client side of the emulator's ``/_emulator/*`` control endpoints (stdlib only).

Used by the orchestrator and by the workers, whatever their virtualenv: it needs nothing but
``urllib``. One connection per call (urllib does not keep alive), which is what the server's
connection count assumes when it leaves control calls out.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

CONTROL_KEY = "sk-emulator-bench"


@dataclass(frozen=True)
class ServerStats:
    """What the emulator saw since the last reset, control calls excluded."""

    requests: dict[str, int]
    total: int
    connections: int
    cpu_s: float  # CPU seconds used by the emulator's process so far (not reset)


class Control:
    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + "/_emulator" + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {CONTROL_KEY}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                result: dict[str, Any] = json.load(reply)
                return result
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"emulator control {method} {path}: HTTP {exc.code} {exc.read()[:300]!r}") from exc

    def stats(self) -> ServerStats:
        raw = self._call("GET", "/stats")
        return ServerStats(
            dict(raw["requests"]), int(raw["total"]), int(raw["connections"]), float(raw.get("cpu_s", 0.0))
        )

    def reset(self) -> None:
        self._call("POST", "/reset", {})

    def configure(self, **switches: Any) -> dict[str, Any]:
        """E.g. ``configure(refuse_stream=True)``; returns all switches."""
        return self._call("POST", "/config", switches)

    def config(self) -> dict[str, Any]:
        return self._call("GET", "/config")
