"""What both layers need to speak of one ask: the :class:`Question` and the :class:`Backend`.

Below the engine and the backends (imports only results, waiting and errors), so neither
imports the other: the engine picks a backend, a backend answers a Question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .results import AskResult
from .waiting import Deadline

if TYPE_CHECKING:
    from .tools import ProviderRunner, ToolSet

DEFAULT_MAX_WAIT_TIME = 120.0
History = Literal["full", "none"]
HISTORY_CHOICES: tuple[str, ...] = ("full", "none")


@dataclass(frozen=True)
class Question:
    """One step's parameters, already coerced to their types."""

    prompt: str
    thread_id: str | None = None
    max_wait_time: float = DEFAULT_MAX_WAIT_TIME
    additional_instructions: str | None = None
    parse_json: bool = True
    structured_output_format: Mapping[str, Any] | None = None
    # Answers for the assistant's function calls, by function name (str, or JSON-able value).
    tool_outputs: Mapping[str, Any] | None = None
    # "full": the result's ``messages`` hold the thread's history (one more request on a
    # continued thread); "none": only this turn, no extra request.
    history: History = "full"
    # Responses options this step overrides (the profile's otherwise); see options.py.
    reasoning_effort: str | None = None
    max_output_tokens: int | None = None
    # The step's tools (tools/: declarations, bounds; tool_outputs merged in as values).
    tools: ToolSet | None = None
    # Decisions on calls pending approval, by call id: the run goes on where it stopped.
    approve: Mapping[str, bool] | None = None
    # Runs a Keep provider's query for a tool (handed in by the Keep adapter).
    provider_runner: ProviderRunner | None = None


class Backend(Protocol):
    """One API behind the engine: answers a Question within its Deadline."""

    @property
    def name(self) -> str: ...

    def ask(self, question: Question, deadline: Deadline) -> AskResult: ...

    def check_access(self, deadline: Deadline) -> dict[str, bool | str]:
        """Cheap, side-effect-free checks for Keep's validate_scopes: {scope: True | why not}."""
        ...
