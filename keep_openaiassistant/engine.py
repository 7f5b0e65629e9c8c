"""The engine's front door: ask the assistant one question, get a typed result.

Knows nothing of Keep. One :class:`Assistant` per provider instance: it owns one SDK client
(one connection pool) and is safe to share between threads — every ``ask`` keeps its state on
its own stack.

    assistant = Assistant(Settings(api_key=..., assistant_id="asst_..."))
    result = assistant.ask("Disk full on db-1", max_wait_time=60)
    result.response, result.thread_id, result.run_id, result.usage
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import openai

from .waiting import Clock, Deadline, Sleep
from .question import DEFAULT_MAX_WAIT_TIME, Backend, History, Question
from .results import AskResult
from .settings import Settings
from .wire import make_client

class Assistant:
    def __init__(
        self,
        settings: Settings,
        *,
        client: openai.OpenAI | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        settings.check()
        self.settings = settings
        self.client = client or make_client(settings)
        self._clock = clock
        self._sleep = sleep
        self.backend = self._make_backend()

    def _make_backend(self) -> Backend:
        if self.settings.backend == "assistants":
            from .backends.assistants import AssistantsBackend

            return AssistantsBackend(self.settings, self.client, clock=self._clock, sleep=self._sleep)
        from .backends.responses import ResponsesBackend

        return ResponsesBackend(self.settings, self.client, clock=self._clock, sleep=self._sleep)

    def ask(
        self,
        prompt: str,
        *,
        thread_id: str | None = None,
        max_wait_time: float = DEFAULT_MAX_WAIT_TIME,
        additional_instructions: str | None = None,
        parse_json: bool = True,
        structured_output_format: Mapping[str, Any] | None = None,
        tool_outputs: Mapping[str, Any] | None = None,
        history: History = "full",
    ) -> AskResult:
        question = Question(
            prompt=prompt,
            thread_id=thread_id or None,
            max_wait_time=max_wait_time,
            additional_instructions=additional_instructions or None,
            parse_json=parse_json,
            structured_output_format=structured_output_format or None,
            tool_outputs=tool_outputs or None,
            history=history,
        )
        deadline = Deadline(max_wait_time, clock=self._clock, sleep=self._sleep)
        return self.backend.ask(question, deadline)

    def check_access(self) -> dict[str, bool | str]:
        return self.backend.check_access(Deadline(10.0, clock=self._clock, sleep=self._sleep))

    def close(self) -> None:
        self.client.close()
