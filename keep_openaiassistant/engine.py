"""The engine's front door: ask the assistant one question, get a typed result.

Knows nothing of Keep. One :class:`Assistant` per provider instance: it owns one SDK client
(one connection pool) and is safe to share between threads — every ``ask`` keeps its state on
its own stack.

    with Assistant(Settings(api_key=..., assistant_id="asst_...")) as assistant:
        result = assistant.ask("Disk full on db-1", max_wait_time=60)
        result.response, result.thread_id, result.run_id, result.usage
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any, Self

import openai

from .backends.assistants import AssistantsBackend
from .backends.responses import ResponsesBackend
from .errors import ConfigurationError
from .question import DEFAULT_MAX_WAIT_TIME, Backend, History, Question
from .results import AskResult
from .settings import Settings
from .tools import ProviderRunner, ToolSet, parse_tools
from .tools.spec import parse_mcp
from .transport import bound_by_deadlines
from .waiting import Clock, Deadline, Sleep
from .wire import make_client

#: The install check's whole budget (Keep's validate_scopes), retries included.
ACCESS_CHECK_SECONDS = 8.0


class Assistant:
    """Ask questions with one configuration. A context manager; ``close()`` is idempotent and
    closes the SDK client only when this object created it."""

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
        self._owns_client = client is None
        if client is None:
            client = make_client(settings)
        else:
            bound_by_deadlines(getattr(client, "_client", None))  # the SDK's httpx client, when it has one
        self.client = client
        self._clock = clock
        self._sleep = sleep
        self._closed = False
        try:
            self._profile_mcp = tuple(
                parse_mcp(raw, where=f"mcp_servers[{i}]") for i, raw in enumerate(settings.mcp_servers)
            )
        except ConfigurationError as exc:
            raise ConfigurationError(exc.message, field="mcp_servers") from None
        if self._profile_mcp and settings.backend == "assistants":
            raise ConfigurationError(
                "mcp_servers is set, but hosted MCP servers are a Responses API tool and this provider uses the "
                "Assistants API. What to do: clear mcp_servers, or set api: responses.",
                field="mcp_servers",
            )
        backend_class = AssistantsBackend if settings.backend == "assistants" else ResponsesBackend
        self.backend: Backend = backend_class(settings, client, clock=clock, sleep=sleep)

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
        tools: Any = None,
        approve: Mapping[str, bool] | None = None,
        provider_runner: ProviderRunner | None = None,
        reasoning_effort: str | None = None,
        max_output_tokens: int | None = None,
    ) -> AskResult:
        """Ask one question and wait at most ``max_wait_time`` seconds, every request included.

        Raises an :class:`~keep_openaiassistant.errors.AssistantError`; a KeyboardInterrupt
        during the ask cancels the run and raises AskInterrupted.

        ``tools``: the step's functions (docs/tools.md; a ToolSet or its YAML/JSON form),
        ``tool_outputs`` joining them as values; ``approve``: decisions on calls a previous
        step left pending (``status: requires_approval``), by call id; ``provider_runner``: runs
        Keep provider queries (the Keep adapter's). ``reasoning_effort`` and
        ``max_output_tokens`` override the profile's for this step (Responses backend).
        """
        if self._closed:
            raise ConfigurationError("This Assistant is closed: create a new one.")
        question = Question(
            prompt=prompt,
            thread_id=thread_id or None,
            max_wait_time=max_wait_time,
            additional_instructions=additional_instructions or None,
            parse_json=parse_json,
            structured_output_format=structured_output_format or None,
            tool_outputs=tool_outputs or None,
            history=history,
            tools=self._with_profile_mcp(
                tools if isinstance(tools, ToolSet) else parse_tools(tools, tool_outputs=tool_outputs or None)
            ),
            approve=dict(approve) if approve else None,
            provider_runner=provider_runner,
            reasoning_effort=reasoning_effort or None,
            max_output_tokens=max_output_tokens,
        )
        deadline = Deadline(max_wait_time, clock=self._clock, sleep=self._sleep)
        return self.backend.ask(question, deadline)

    def _with_profile_mcp(self, tools: ToolSet | None) -> ToolSet | None:
        """The step's tools plus the profile's MCP servers (a step's server of the same label wins)."""
        if not self._profile_mcp:
            return tools
        tools = tools or ToolSet()
        labels = {server.label for server in tools.mcp}
        profile = tuple(server for server in self._profile_mcp if server.label not in labels)
        return dataclasses.replace(tools, mcp=profile + tools.mcp)

    def check_access(self) -> dict[str, bool | str]:
        """Cheap, side-effect-free checks for Keep's validate_scopes, within their own budget."""
        return self.backend.check_access(Deadline(ACCESS_CHECK_SECONDS, clock=self._clock, sleep=self._sleep))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
