"""Engine settings: which server, which backend, which assistant (or profile).

Plain frozen dataclass, no Keep and no pydantic: the Keep adapter builds one from its auth
config, the CLI from environment variables, tests directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import options
from .errors import ConfigurationError

API_CHOICES = ("auto", "responses", "assistants")
# Not on OpenAI's deprecations list (gpt-4.1*, gpt-4o*, gpt-5, gpt-5-mini/nano are scheduled to
# shut down); the install check names GET /models when a server does not know it.
DEFAULT_MODEL = "gpt-5.4-mini"


@dataclass(frozen=True)
class Settings:
    api_key: str = field(repr=False)
    organization_id: str | None = None
    project_id: str | None = None
    base_url: str | None = None
    api: str = "auto"
    assistant_id: str | None = None
    # The assistant profile of the Responses backend.
    model: str | None = None
    instructions: str | None = None
    vector_store_ids: tuple[str, ...] = ()
    code_interpreter: bool = False
    # Responses options of the profile (keep_openaiassistant.options), each sent only when set;
    # a step may override reasoning_effort and max_output_tokens.
    reasoning_effort: str | None = None
    max_output_tokens: int | None = None
    max_tool_calls: int | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    truncation: str | None = None
    compact_threshold: int | None = None
    include: tuple[str, ...] = ()
    safety_identifier: str | None = None
    metadata: Mapping[str, str] | None = field(default=None, hash=False)
    extra_body: Mapping[str, Any] | None = field(default=None, hash=False)
    # Hosted MCP servers every ask of this profile may use (Responses backend), as the API takes
    # them: {"type": "mcp", "server_label", "server_url", "allowed_tools", "headers", "require_approval"}.
    mcp_servers: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)
    # auto | conversations | previous_response_id (servers without the Conversations API).
    thread_mode: str = "auto"
    # Transport knobs (not in Keep's form; sensible for an incident tool). Retries happen
    # within the step's deadline (keep_openaiassistant.waiting), never past it.
    max_retries: int = 2
    connect_timeout: float = 5.0
    # A stream that stays silent this long is given up for polling (bounds deadline overshoot).
    stream_stall_timeout: float = 5.0
    # Start polling fast; the server's openai-poll-after-ms hint takes over when present.
    first_poll_interval: float = 0.05
    max_poll_interval: float = 1.0
    # The result's ``messages`` hold at most this many bytes of history (UTF-8), newest kept:
    # Keep stores every step result with every execution.
    max_history_bytes: int = 64 * 1024

    @property
    def backend(self) -> str:
        """The backend in force: ``auto`` resolves to assistants iff an assistant_id is set."""
        if self.api == "auto":
            return "assistants" if self.assistant_id else "responses"
        return self.api

    @property
    def effective_model(self) -> str:
        return self.model or DEFAULT_MODEL

    def check(self) -> None:
        """Raise ConfigurationError naming the field when the combination cannot work."""
        if not self.api_key:
            raise ConfigurationError(
                "api_key is empty: set the OpenAI API key (any non-empty value for the local emulator).",
                field="api_key",
            )
        if self.api not in API_CHOICES:
            raise ConfigurationError(f"api is {self.api!r}: choose one of auto, responses, assistants.", field="api")
        if self.backend == "assistants" and not self.assistant_id:
            raise ConfigurationError(
                "api is 'assistants' but assistant_id is empty: set assistant_id (asst_...), "
                "or set api to 'responses' and describe the assistant with model/instructions.",
                field="assistant_id",
            )
        if self.assistant_id and not self.assistant_id.startswith("asst_") and self.backend == "assistants":
            raise ConfigurationError(
                f"assistant_id {self.assistant_id!r} does not look like an assistant id: it starts with 'asst_'.",
                field="assistant_id",
            )
        for vs in self.vector_store_ids:
            if not vs.startswith("vs_"):
                raise ConfigurationError(
                    f"vector_store_ids holds {vs!r}, which is not a vector store id (vs_...): "
                    "give a comma-separated list of vs_... ids.",
                    field="vector_store_ids",
                )
        self._check_options()
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"base_url {self.base_url!r} is not an http(s) URL, e.g. https://api.openai.com/v1.",
                field="base_url",
            )

    def _check_options(self) -> None:
        """The Responses options' values, each with a message naming the field."""
        options.check_choice("reasoning_effort", self.reasoning_effort, options.REASONING_EFFORTS)
        options.check_choice("service_tier", self.service_tier, options.SERVICE_TIERS)
        options.check_choice("truncation", self.truncation, options.TRUNCATIONS)
        options.parse_int("max_output_tokens", self.max_output_tokens, minimum=options.MIN_OUTPUT_TOKENS)
        options.parse_int("max_tool_calls", self.max_tool_calls, minimum=0)
        options.parse_identifier("prompt_cache_key", self.prompt_cache_key)
        options.parse_int("compact_threshold", self.compact_threshold, minimum=options.MIN_COMPACT_THRESHOLD)
        options.parse_include(self.include)
        options.parse_identifier("safety_identifier", self.safety_identifier, max_length=options.MAX_SAFETY_IDENTIFIER)
        if self.metadata is not None:
            options.check_metadata(self.metadata)
        if self.extra_body is not None:
            options.check_extra_body(self.extra_body)
        options.check_choice("thread_mode", self.thread_mode, options.THREAD_MODES)


def split_ids(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """'vs_1, vs_2' or ['vs_1', 'vs_2'] -> ('vs_1', 'vs_2')."""
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(s.strip() for s in items if s and s.strip())
