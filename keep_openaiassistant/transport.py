"""Socket I/O that never waits past the ask's deadline.

HTTP timeouts are per operation: a read timeout restarts with every byte, so a server that
trickles its headers one byte a second, or keeps a stream alive with heartbeats, holds a
request forever. Here each connect, read and write of the SDK's connection pool is given at
most the time left of the deadline that bounds the current thread
(:meth:`~keep_openaiassistant.waiting.Deadline.bounding_io`); when none does, nothing changes.

It wraps the pool's network backend (``httpcore.ConnectionPool(network_backend=...)`` is
httpcore's own extension point; httpx does not expose it, so it is set on the transport's pool
after construction). httpcore (httpx, SDK 1.x/2.x) and httpcore2 (httpx2, SDK 3.x) have the same
interface. A client whose transport has no such pool (a mock transport) is left as it is.
"""

from __future__ import annotations

import logging
from typing import Any

from .waiting import io_time_left

log = logging.getLogger("keep_openaiassistant")

#: A read at the deadline still gets this long, so data that already arrived is taken, and
#: the socket raises its own timeout instead of blocking.
_AT_DEADLINE = 0.001


def _cap(timeout: float | None) -> float | None:
    left = io_time_left()
    if left is None:
        return timeout
    left = max(left, _AT_DEADLINE)
    return left if timeout is None else min(timeout, left)


class _BoundedStream:
    """A network stream whose every operation waits at most until the thread's deadline."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data: bytes = self._inner.read(max_bytes, _cap(timeout))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cap(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        return _BoundedStream(self._inner.start_tls(ssl_context, server_hostname, _cap(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _BoundedBackend:
    """httpcore's NetworkBackend interface around the pool's own backend."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> _BoundedStream:
        stream = self.inner.connect_tcp(host, port, _cap(timeout), local_address, socket_options)
        return _BoundedStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> _BoundedStream:
        return _BoundedStream(self.inner.connect_unix_socket(path, _cap(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def bound_by_deadlines(http_client: Any) -> bool:
    """Make the socket I/O of ``http_client`` (an httpx or httpx2 Client) obey deadlines.

    Every transport of the client (the default one and those mounted for proxies) is covered.
    Returns False when no transport could be covered (then only per-attempt timeouts apply).
    """
    transports = [getattr(http_client, "_transport", None), *(getattr(http_client, "_mounts", None) or {}).values()]
    covered = False
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            continue
        if not isinstance(backend, _BoundedBackend):
            pool._network_backend = _BoundedBackend(backend)  # type: ignore[union-attr]
        covered = True
    if not covered:
        log.debug("the HTTP client has no connection pool to bound; per-attempt timeouts only")
    return covered
