"""The install form of the provider: what Keep's UI asks for and how it becomes Settings.

Keep builds its install form from ``dataclasses.fields(OpenaiassistantProviderAuthConfig)``:
each field's ``metadata`` dict (label, hint, masking, widget, validation, grouping) plus its
``default`` when not None. The class is a pydantic dataclass like every in-tree AI provider's,
so Keep's own validation style applies; it imports no Keep code and works on pydantic v1
(Keep's) and v2 alike: only ``str``/``bool``/``str | None`` field types, no validators.

Grouping: the three "assistant profile" fields live in one card with two tabs in Keep's UI —
"assistants api" (an existing ``asst_...``) and "responses api" (model + instructions). The
tab only arranges the form; ``api: auto`` picks the backend from what was filled in.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

import pydantic
import pydantic.dataclasses

from . import options
from .errors import ConfigurationError
from .settings import API_CHOICES, DEFAULT_MODEL, Settings, split_ids

PROFILE_GROUP = "assistant profile"
ASSISTANTS_TAB = "assistants api"
RESPONSES_TAB = "responses api"


@pydantic.dataclasses.dataclass
class OpenaiassistantProviderAuthConfig:
    """OpenAI Assistant authentication and assistant profile (Keep's install form)."""

    # repr=False: the key never shows in repr() or str() of the form (a log line, a traceback's
    # locals, an f-string); Keep's form reads only the metadata.
    api_key: str = dataclasses.field(
        repr=False,
        metadata={
            "required": True,
            "description": "OpenAI API key",
            "sensitive": True,
            "hint": "https://platform.openai.com/api-keys — any non-empty value for the local emulator",
            "placeholder": "sk-...",
        },
    )
    organization_id: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "OpenAI organization ID",
            "sensitive": False,
            "hint": "Only when the key belongs to several organizations",
            "placeholder": "org-...",
        },
    )
    project_id: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "OpenAI project ID",
            "sensitive": False,
            "hint": "Only when the key belongs to several projects",
            "placeholder": "proj_...",
        },
    )
    base_url: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "API base URL",
            "sensitive": False,
            "hint": "An OpenAI-compatible endpoint: a proxy, another server or the local emulator "
            "(keep-openaiassistant emulator). Empty: OpenAI",
            "placeholder": "https://api.openai.com/v1",
            "validation": "any_http_url",
        },
    )
    api: str = dataclasses.field(
        default="auto",
        metadata={
            "required": False,
            "description": "API",
            "sensitive": False,
            "hint": "auto: the Assistants API when an assistant ID is set, else the Responses API",
            "type": "select",
            "options": list(API_CHOICES),
        },
    )
    assistant_id: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Assistant ID",
            "sensitive": False,
            "hint": "An existing assistant of the Assistants API; required when API is 'assistants'",
            "placeholder": "asst_...",
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": ASSISTANTS_TAB,
        },
    )
    model: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Model",
            "sensitive": False,
            "hint": f"The model of the Responses API profile (default {DEFAULT_MODEL})",
            "placeholder": DEFAULT_MODEL,
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    instructions: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Instructions",
            "sensitive": False,
            "hint": "The system prompt of the Responses API profile: who the assistant is, how to answer",
            "placeholder": "You are the on-call team's triage assistant...",
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    vector_store_ids: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Knowledge base (vector store IDs)",
            "sensitive": False,
            "hint": "Comma-separated vector store IDs searched with file search (runbooks, postmortems)",
            "placeholder": "vs_abc123, vs_def456",
        },
    )
    code_interpreter: bool = dataclasses.field(
        default=False,
        metadata={
            "required": False,
            "description": "Code interpreter",
            "sensitive": False,
            "hint": "Let the assistant run Python to analyse data and draw charts",
            "type": "switch",
        },
    )
    # -- Responses options of the profile (keep_openaiassistant/options.py; docs/responses.md):
    # each sent only when set. Text fields, like the rest of the form, parsed in to_settings.
    reasoning_effort: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Reasoning effort",
            "sensitive": False,
            "hint": "How hard a reasoning model thinks (a step may override it). Empty: the model's default",
            "type": "select",
            "options": list(options.REASONING_EFFORTS),
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    max_output_tokens: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Max output tokens",
            "sensitive": False,
            "hint": "Upper bound of each response's output, reasoning included (at least 16; a step may override it)",
            "placeholder": "4000",
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    max_tool_calls: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Max built-in tool calls",
            "sensitive": False,
            "hint": "At most this many file search / code interpreter calls per response",
            "placeholder": "8",
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    service_tier: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Service tier",
            "sensitive": False,
            "hint": "Processing tier: priority for incidents, flex for cheap batch work. Empty: the project's",
            "type": "select",
            "options": list(options.SERVICE_TIERS),
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    prompt_cache_key: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Prompt cache key",
            "sensitive": False,
            "hint": "Requests with the same key share the prompt cache (the long instructions are read once)",
            "placeholder": "oncall-triage",
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    truncation: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Truncation",
            "sensitive": False,
            "hint": "auto: a thread that outgrows the context window drops its oldest items instead of failing "
            "the step (the result says so). Empty or disabled: the step fails",
            "type": "select",
            "options": list(options.TRUNCATIONS),
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    compact_threshold: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Compaction threshold (tokens)",
            "sensitive": False,
            "hint": "The server compacts a long thread once its context reaches this many tokens (at least 1000)",
            "placeholder": "200000",
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    include: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Include",
            "sensitive": False,
            "hint": "Comma-separated extra output, e.g. code_interpreter_call.outputs (file search results are "
            "always included with a knowledge base)",
            "placeholder": "code_interpreter_call.outputs",
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    safety_identifier: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Safety identifier",
            "sensitive": False,
            "hint": "A stable, hashed id of who uses this assistant (at most 64 characters), for OpenAI's abuse checks",
            "placeholder": "keep-oncall",
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    metadata: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Response metadata",
            "sensitive": False,
            "hint": "A JSON object of string values stored with every response (at most 16 pairs)",
            "placeholder": '{"team": "sre"}',
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    extra_body: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "Extra request fields",
            "sensitive": False,
            "hint": "A JSON object merged into every POST /responses: options this form does not name yet",
            "placeholder": '{"prompt_cache_retention": "24h"}',
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    mcp_servers: str | None = dataclasses.field(
        default=None,
        metadata={
            "required": False,
            "description": "MCP servers",
            "sensitive": False,
            "hint": "A JSON list of hosted MCP servers every step may use (Responses API), e.g. "
            '[{"type": "mcp", "server_label": "pagerduty", "server_url": "https://...", '
            '"require_approval": "always"}]; see docs/tools.md',
            "placeholder": '[{"type": "mcp", "server_label": "pagerduty", "server_url": "https://mcp.example/mcp"}]',
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )
    thread_mode: str = dataclasses.field(
        default="auto",
        metadata={
            "required": False,
            "description": "Threads",
            "sensitive": False,
            "hint": "auto: conversations where the server has the Conversations API, else responses chained with "
            "previous_response_id (thread_id is then the last response id)",
            "type": "select",
            "options": list(options.THREAD_MODES),
            "config_main_group": PROFILE_GROUP,
            "config_sub_group": RESPONSES_TAB,
        },
    )


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(OpenaiassistantProviderAuthConfig))


def form_fields() -> dict[str, dict[str, Any]]:
    """The install form exactly as Keep's provider listing builds it: metadata plus non-None default."""
    form: dict[str, dict[str, Any]] = {}
    for f in dataclasses.fields(OpenaiassistantProviderAuthConfig):
        entry = dict(f.metadata)
        if f.default is not dataclasses.MISSING and f.default is not None:
            entry["default"] = f.default
        form[f.name] = entry
    return form


# Keys Keep's own install form and provisioning leave in ``authentication`` (the UI posts
# ``install_webhook``/``pulling_enabled`` with the fields; Keep's in-tree auth configs ignore
# them because pydantic v1 dataclasses drop unknown keywords).
KEEP_FORM_KEYS = frozenset({"install_webhook", "pulling_enabled", "provider_id", "provider_name", "provider_type"})


def ignored_fields(authentication: Mapping[str, Any] | None) -> list[str]:
    """Keys of ``authentication`` that are neither form fields nor Keep's own: ignored, worth a log line."""
    return sorted(k for k in (authentication or {}) if k not in FIELD_NAMES and k not in KEEP_FORM_KEYS)


def build_auth_config(authentication: Mapping[str, Any] | None) -> OpenaiassistantProviderAuthConfig:
    """Validate Keep's ``config.authentication`` into the auth config, without touching it.

    Raises ConfigurationError naming the field: a key that is a near miss of a field name (a
    typo such as ``asistant_id`` would otherwise silently pick another backend), a missing
    api_key or a value of the wrong type. Other unknown keys are ignored, like Keep's own
    providers do: Keep's UI posts some of its own keys along with the form.
    """
    for key in ignored_fields(authentication):
        close = difflib.get_close_matches(key, FIELD_NAMES, n=1, cutoff=0.8)
        if close:
            raise ConfigurationError(
                f"unknown authentication field {key!r}: did you mean {close[0]!r}? "
                f"The fields are {', '.join(FIELD_NAMES)}.",
                field=key,
            )
    # None means "not set" (the UI and KEEP_PROVIDERS JSON send null for untouched fields).
    values = {k: v for k, v in (authentication or {}).items() if v is not None and k in FIELD_NAMES}
    if not values.get("api_key"):
        raise ConfigurationError(
            "api_key is missing: set the OpenAI API key (any non-empty value for the local emulator).",
            field="api_key",
        )
    try:
        return OpenaiassistantProviderAuthConfig(**values)
    except pydantic.ValidationError as exc:
        raise _validation_error(exc) from None


def _validation_error(exc: pydantic.ValidationError) -> ConfigurationError:
    # Only field names and pydantic's type message: never the submitted value (it may be the key).
    problems = exc.errors()
    loc = tuple(problems[0]["loc"]) if problems and problems[0]["loc"] else ("authentication",)
    field = str(loc[-1] if loc[0] == "__root__" else loc[0])
    kind = "a boolean (true/false)" if field == "code_interpreter" else "a string"
    return ConfigurationError(f"{field} has the wrong type: it must be {kind}.", field=field)


def _text(value: str | None) -> str | None:
    """Empty strings from the UI mean 'not set'."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def to_settings(auth: OpenaiassistantProviderAuthConfig) -> Settings:
    """The engine's settings for this auth config (not yet checked: call ``.check()``)."""
    return Settings(
        api_key=auth.api_key.strip(),
        organization_id=_text(auth.organization_id),
        project_id=_text(auth.project_id),
        base_url=_text(auth.base_url),
        api=(_text(auth.api) or "auto").lower(),
        assistant_id=_text(auth.assistant_id),
        model=_text(auth.model),
        instructions=_text(auth.instructions),
        vector_store_ids=split_ids(auth.vector_store_ids),
        code_interpreter=bool(auth.code_interpreter),
        **responses_options(auth),
    )


def responses_options(auth: OpenaiassistantProviderAuthConfig) -> dict[str, Any]:
    """The form's Responses options as Settings values: text parsed, or ConfigurationError naming the field."""
    metadata = options.parse_object("metadata", _text(auth.metadata))
    extra_body = options.parse_object("extra_body", _text(auth.extra_body))
    return {
        "reasoning_effort": options.parse_choice("reasoning_effort", auth.reasoning_effort, options.REASONING_EFFORTS),
        "max_output_tokens": options.parse_int(
            "max_output_tokens", auth.max_output_tokens, minimum=options.MIN_OUTPUT_TOKENS
        ),
        "max_tool_calls": options.parse_int("max_tool_calls", auth.max_tool_calls, minimum=0),
        "service_tier": options.parse_choice("service_tier", auth.service_tier, options.SERVICE_TIERS),
        "prompt_cache_key": options.parse_identifier("prompt_cache_key", auth.prompt_cache_key),
        "truncation": options.parse_choice("truncation", auth.truncation, options.TRUNCATIONS),
        "compact_threshold": options.parse_int(
            "compact_threshold", auth.compact_threshold, minimum=options.MIN_COMPACT_THRESHOLD
        ),
        "include": options.parse_include(_text(auth.include)),
        "safety_identifier": options.parse_identifier(
            "safety_identifier", auth.safety_identifier, max_length=options.MAX_SAFETY_IDENTIFIER
        ),
        "metadata": metadata,
        "extra_body": extra_body,
        "mcp_servers": _mcp_servers(_text(auth.mcp_servers)),
        "thread_mode": options.parse_choice("thread_mode", auth.thread_mode, options.THREAD_MODES) or "auto",
    }


def _mcp_servers(text: str | None) -> tuple[dict[str, Any], ...]:
    """The form's MCP servers: a JSON list of objects (or one object); checked by the engine."""
    if not text:
        return ()
    value = options.loads_json(
        "mcp_servers",
        text,
        wanted='a JSON list such as [{"type": "mcp", "server_label": "pagerduty", "server_url": "https://..."}]',
    )
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ConfigurationError(
            "mcp_servers must be a JSON list of objects, each {type: mcp, server_label, server_url, ...}.",
            field="mcp_servers",
        )
    return tuple(items)


def settings_from_authentication(authentication: Mapping[str, Any] | None) -> Settings:
    """Keep's ``config.authentication`` -> checked Settings, or ConfigurationError naming the field."""
    settings = to_settings(build_auth_config(authentication))
    settings.check()
    return settings
