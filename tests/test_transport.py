"""Socket I/O bounded by the ask's deadline: a real socket on 127.0.0.1 that trickles its reply."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import openai
import pytest

from keep_openaiassistant import errors
from keep_openaiassistant.settings import Settings
from keep_openaiassistant.transport import bound_by_deadlines
from keep_openaiassistant.waiting import Deadline
from keep_openaiassistant.wire import Wire, make_client


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """Answers every connection with one header byte every 0.2 s, forever (until teardown)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    conns: list[socket.socket] = []

    def drip(conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 10_000:
                if stop.wait(0.2):
                    return
                conn.send(bytes([byte]))
        except OSError:
            return

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conns.append(conn)
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join(5)
    for conn in conns:
        conn.close()
    listener.close()


def test_a_trickling_server_cannot_hold_a_request_past_the_deadline(trickling_server: str) -> None:
    wire = Wire(make_client(Settings(api_key="sk-test", base_url=trickling_server)))
    deadline = Deadline(1.0)
    started = time.monotonic()
    with pytest.raises(errors.ConnectionFailedError) as caught, deadline.bounding_io():
        wire.call("GET", "/models/gpt-5.4-mini", timeout=30.0)  # a read timeout alone would never fire
    elapsed = time.monotonic() - started
    assert caught.value.timed_out
    assert elapsed < 1.0 + 1.0, elapsed  # the purpose: ends at the deadline, not after 30 s or never


def test_without_a_deadline_the_per_read_timeout_still_applies(trickling_server: str) -> None:
    """Outside an ask nothing changes: the cap only ever shortens a wait."""
    wire = Wire(make_client(Settings(api_key="sk-test", base_url=trickling_server)))
    with pytest.raises(errors.ConnectionFailedError):
        wire.call("GET", "/models/gpt-5.4-mini", timeout=0.1)


def test_every_transport_of_the_sdk_client_is_bounded() -> None:
    http_client = openai.DefaultHttpxClient()
    assert bound_by_deadlines(http_client) is True
    assert bound_by_deadlines(http_client) is True  # idempotent: wrapped once
    backend = http_client._transport._pool._network_backend  # type: ignore[attr-defined]
    assert type(backend).__name__ == "_BoundedBackend"
    assert type(backend.inner).__name__ != "_BoundedBackend"
    http_client.close()


def test_a_client_without_a_connection_pool_is_left_alone() -> None:
    class Bare:
        _transport = object()
        _mounts: ClassVar[dict[str, object]] = {}

    assert bound_by_deadlines(Bare()) is False
