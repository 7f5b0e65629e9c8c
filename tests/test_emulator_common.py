"""What both emulated APIs share (``emulator/common.py``): the clock, ids, list pages, request checks.

The pure helpers are tested directly; the shared clock and the one JSON-object check over real
HTTP, on both APIs, so a test fails if either API grows its own copy again.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from keep_openaiassistant.emulator import Clock, Emulator
from keep_openaiassistant.emulator.common import (
    EmulatorError,
    check_metadata,
    invalid_value,
    long_id,
    new_id,
    page,
    text_chunks,
)

BETA = {"OpenAI-Beta": "assistants=v2"}


def call(emu: Emulator, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    """One request over stdlib HTTP (any body, even one no SDK would send): ``(status, JSON reply)``."""
    host, port = emu.server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=10)
    payload = None if body is None else json.dumps(body)
    conn.request(method, "/v1" + path, payload, {"Authorization": "Bearer sk-test", **(headers or {})})
    reply = conn.getresponse()
    status, data = reply.status, json.loads(reply.read())
    conn.close()
    return status, data


@pytest.fixture
def now() -> list[float]:
    return [1000.0]


@pytest.fixture
def emu(now: list[float]) -> Iterator[Emulator]:
    with Emulator(model_time=10.0, clock=lambda: now[0]) as emulator:
        yield emulator


# -- the clock --------------------------------------------------------------------------------


def test_clock_stamps_are_unix_seconds_that_move_with_the_injected_time() -> None:
    now = [50.0]
    clock = Clock(lambda: now[0])
    first = clock.stamp()
    now[0] += 90

    assert clock.stamp() == first + 90 and clock.stamp(50.0) == first
    assert abs(first - time.time()) < 5  # Unix seconds, not the injected scale


def test_both_apis_read_the_one_injected_clock(emu: Emulator, now: list[float]) -> None:
    assert emu.assistants.store.clock is emu.clock and emu.responses.state.clock is emu.clock

    _, thread = call(emu, "POST", "/threads", {}, BETA)
    _, conv = call(emu, "POST", "/conversations", {})
    now[0] += 100
    _, later_thread = call(emu, "POST", "/threads", {}, BETA)
    _, later_conv = call(emu, "POST", "/conversations", {})

    assert thread["created_at"] == conv["created_at"]
    assert later_thread["created_at"] - thread["created_at"] == 100
    assert later_conv["created_at"] - conv["created_at"] == 100


def test_a_response_completes_at_its_finish_time_on_the_injected_clock(emu: Emulator, now: list[float]) -> None:
    _, created = call(emu, "POST", "/responses", {"model": "gpt-5.4-mini", "input": "Disk full", "background": True})
    now[0] += 60  # polled long after it finished

    _, done = call(emu, "GET", f"/responses/{created['id']}")

    assert done["status"] == "completed" and done["completed_at"] == created["created_at"] + 10


class FakeTime:
    """An injected clock whose ``sleep`` moves it: the emulator's waits take no real time."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def test_the_injected_sleep_drives_a_blocking_response_and_a_streamed_run() -> None:
    fake = FakeTime()
    with Emulator(model_time=30.0, clock=fake.clock, sleep=fake.sleep) as emu:
        _, response = call(emu, "POST", "/responses", {"model": "gpt-5.4-mini", "input": "Disk full"})
        waited_for_response = fake.slept
        thread = {"messages": [{"role": "user", "content": "Disk full"}]}
        status, _ = call_sse(emu, "/threads/runs", {"assistant_id": "asst_emulator", "thread": thread, "stream": True})
        run = emu.assistants.store.runs[next(iter(emu.assistants.store.runs))]

    # Each waited its model time on the fake clock (to the last wake-up slice), no more.
    assert response["status"] == "completed" and waited_for_response == pytest.approx(30.0, abs=0.05)
    assert (
        status == 200
        and run.status == "completed"
        and fake.slept - waited_for_response == pytest.approx(30.0, abs=0.05)
    )


def call_sse(emu: Emulator, path: str, body: dict[str, Any]) -> tuple[int, str]:
    """POST a streaming request and read the whole event stream: ``(status, raw text)``."""
    host, port = emu.server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=10)
    conn.request("POST", "/v1" + path, json.dumps(body), {"Authorization": "Bearer sk-test", **BETA})
    reply = conn.getresponse()
    status, text = reply.status, reply.read().decode()
    conn.close()
    return status, text


# -- ids --------------------------------------------------------------------------------------


def test_ids_carry_the_prefix_and_24_or_48_hex_digits() -> None:
    short, long = new_id("thread"), long_id("resp")

    assert short.startswith("thread_") and len(short) == len("thread_") + 24
    assert long.startswith("resp_") and len(long) == len("resp_") + 48
    assert int(short.split("_")[1], 16) >= 0 and new_id("thread") != short


# -- list pages -------------------------------------------------------------------------------


@dataclass
class Item:
    id: str


ITEMS = [Item(f"i{n}") for n in range(5)]  # stored oldest first


def ids_of(query: dict[str, str], *, with_before: bool = True) -> tuple[list[str], bool]:
    got = page(
        ITEMS,
        query,
        id_of=lambda i: i.id,
        render=lambda chosen: [{"id": i.id} for i in chosen],
        with_before=with_before,
    )
    assert got["object"] == "list"
    data = [d["id"] for d in got["data"]]
    assert (got["first_id"], got["last_id"]) == ((data[0], data[-1]) if data else ("", ""))
    return data, got["has_more"]


def test_a_page_is_newest_first_by_default_and_follows_after_and_before() -> None:
    assert ids_of({"limit": "2"}) == (["i4", "i3"], True)
    assert ids_of({"limit": "2", "after": "i3"}) == (["i2", "i1"], True)
    assert ids_of({"order": "asc", "after": "i2"}) == (["i3", "i4"], False)
    assert ids_of({"order": "asc", "limit": "2", "before": "i4"}) == (["i2", "i3"], True)  # right before the cursor
    assert ids_of({"order": "asc", "after": "i0", "before": "i3"}) == (["i1", "i2"], False)


def test_a_route_without_a_before_cursor_ignores_it() -> None:
    assert ids_of({"order": "asc", "before": "i1"}, with_before=False) == (["i0", "i1", "i2", "i3", "i4"], False)


@pytest.mark.parametrize("cursor", ["after", "before"])
def test_a_cursor_that_names_no_item_is_refused(cursor: str) -> None:
    with pytest.raises(EmulatorError) as caught:
        ids_of({cursor: "gone"})

    assert caught.value.status == 400 and caught.value.body["error"]["param"] == cursor


@pytest.mark.parametrize(
    ("limit", "code"),
    [("0", "integer_below_min_value"), ("101", "integer_above_max_value"), ("ten", "invalid_type")],
)
def test_a_limit_outside_1_to_100_is_refused(limit: str, code: str) -> None:
    with pytest.raises(EmulatorError) as caught:
        ids_of({"limit": limit})

    assert caught.value.body["error"]["code"] == code and caught.value.body["error"]["param"] == "limit"


def test_an_unknown_order_names_the_supported_values() -> None:
    with pytest.raises(EmulatorError, match=r"^Invalid value: 'up'\. Supported values are: 'asc' and 'desc'\.$"):
        ids_of({"order": "up"})


# -- request checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "param", "code"),
    [
        ("tags", "metadata", "invalid_type"),
        ({f"k{n}": "v" for n in range(17)}, "metadata", "object_above_max_properties"),
        ({"k" * 65: "v"}, "metadata." + "k" * 16, "string_above_max_length"),
        ({"k": 1}, "metadata.k", "invalid_type"),
        ({"k": "v" * 513}, "metadata.k", "string_above_max_length"),
    ],
)
def test_metadata_over_openais_limits_is_refused(metadata: Any, param: str, code: str) -> None:
    with pytest.raises(EmulatorError) as caught:
        check_metadata(metadata)

    assert (caught.value.body["error"]["param"], caught.value.body["error"]["code"]) == (param, code)


def test_metadata_within_the_limits_is_kept_and_absent_metadata_is_empty() -> None:
    assert check_metadata({"alert": "a1"}) == {"alert": "a1"} and check_metadata(None) == {}


def test_an_invalid_value_lists_three_or_more_supported_values_with_a_final_and() -> None:
    error = invalid_value("tools[0].type", "web", ("function", "file_search", "code_interpreter"))

    assert (
        str(error) == "Invalid value: 'web'. Supported values are: 'function', 'file_search', and 'code_interpreter'."
    )


@pytest.mark.parametrize(
    ("path", "headers"), [("/threads", BETA), ("/threads/runs", BETA), ("/responses", {}), ("/conversations", {})]
)
def test_a_body_that_is_not_a_json_object_is_one_400_on_both_apis(
    emu: Emulator, path: str, headers: dict[str, str]
) -> None:
    status, reply = call(emu, "POST", path, ["not", "an", "object"], headers)

    assert status == 400
    assert reply["error"]["message"] == "Invalid type for 'body': expected an object, but got an array instead."
    assert (reply["error"]["param"], reply["error"]["code"]) == ("body", "invalid_type")


def test_the_stream_switch_answers_a_non_object_body_with_a_400(emu: Emulator) -> None:
    emu.config.extra["refuse_stream"] = True

    status, reply = call(emu, "POST", "/responses", [{"stream": True}])

    assert status == 400 and reply["error"]["param"] == "body"


# -- streams ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Disk full on db-1: free space under /var first", "x", "unbroken" * 9])
def test_text_chunks_are_a_few_pieces_that_rejoin_to_the_text(text: str) -> None:
    chunks = text_chunks(text)

    assert "".join(chunks) == text and 1 <= len(chunks) <= 4 and all(chunks)


def test_an_empty_text_has_no_chunks() -> None:
    assert text_chunks("") == []
