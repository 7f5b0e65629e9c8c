"""The wire over real HTTP: SSE events in one shape on every SDK release, and connection reuse."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from keep_openaiassistant import Assistant
from keep_openaiassistant.emulator import Emulator
from keep_openaiassistant.settings import Settings
from keep_openaiassistant.wire import ASSISTANTS_BETA, Wire, make_client


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_consecutive_questions_reuse_one_connection(
    api: str, emulator: Emulator, make_assistant: Callable[..., Assistant]
) -> None:
    """A stream read to the end returns its connection to the pool (the SDK 3.x's own sync
    stream closes it at ``[DONE]``, which would cost a TLS handshake per question on OpenAI)."""
    assistant = make_assistant(api)
    thread_id = None
    for prompt in ("Disk full on db-1", "And now? [[citations]]", "Thanks [[json]]"):
        thread_id = assistant.ask(prompt, thread_id=thread_id).thread_id
    assert emulator.stats.connections == 1


def test_stream_events_come_named_with_their_data_on_every_sdk(emulator: Emulator) -> None:
    wire = Wire(make_client(Settings(api_key="sk-emulator", base_url=emulator.base_url)), headers=ASSISTANTS_BETA)
    body = {"assistant_id": "asst_emulator", "thread": {"messages": [{"role": "user", "content": "hi"}]}}
    with wire.stream("POST", "/threads/runs", body=body) as stream:
        events = list(stream)
    names = [e.name for e in events]
    assert names[0] == "thread.created" and names[-1] == "thread.run.completed"
    assert all(isinstance(e.data, dict) and e.data for e in events)
    completed = events[-1].data
    assert completed["object"] == "thread.run" and completed["status"] == "completed"


def test_response_events_carry_their_type_as_name(emulator: Emulator) -> None:
    wire = Wire(make_client(Settings(api_key="sk-emulator", base_url=emulator.base_url)))
    with wire.stream("POST", "/responses", body={"model": "gpt-5.4-mini", "input": "hi"}) as stream:
        events = list(stream)
    assert [e.name for e in events] == [e.data["type"] for e in events]
    assert events[0].name == "response.created" and events[-1].name == "response.completed"
    assert [e.data["sequence_number"] for e in events] == sorted(e.data["sequence_number"] for e in events)
