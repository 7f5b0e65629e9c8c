"""Shared fixtures: a fresh emulator on 127.0.0.1 per test, and engines pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from keep_openaiassistant import Assistant, Settings
from keep_openaiassistant.emulator import DEFAULT_ASSISTANT_ID, Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A real HTTP emulator with a short model time, fresh state and no faults."""
    with Emulator(model_time=0.05) as emu:
        yield emu


@pytest.fixture
def make_assistant(emulator: Emulator) -> Iterator[Callable[..., Assistant]]:
    """Build an engine against the emulator: ``make_assistant("assistants", max_retries=0)``."""
    made: list[Assistant] = []

    def make(api: str = "assistants", **overrides: Any) -> Assistant:
        values: dict[str, Any] = {"api_key": "sk-emulator", "base_url": emulator.base_url, "api": api}
        if api == "assistants":
            values["assistant_id"] = DEFAULT_ASSISTANT_ID
        values.update(overrides)
        assistant = Assistant(Settings(**values))
        made.append(assistant)
        return assistant

    yield make
    for assistant in made:
        assistant.close()
