"""The Responses options of the profile and of a step: their names, allowed values and checks.

One home for what OpenAI accepts (checked against the openai SDK 3.57 types under
``openai/types/responses/`` and the vendored spec ``tests/spec/openapi.yaml``, 2026-08-21):

| option | wire field | values |
|---|---|---|
| ``reasoning_effort`` | ``reasoning.effort`` | none, minimal, low, medium, high, xhigh, max |
| ``max_output_tokens`` | ``max_output_tokens`` | integer >= 16 |
| ``max_tool_calls`` | ``max_tool_calls`` | integer >= 0 (built-in tool calls per response) |
| ``service_tier`` | ``service_tier`` | auto, default, flex, scale, priority, fast |
| ``prompt_cache_key`` | ``prompt_cache_key`` | text |
| ``truncation`` | ``truncation`` | auto, disabled |
| ``compact_threshold`` | ``context_management: [{type: compaction, compact_threshold}]`` | integer >= 1000 |
| ``include`` | ``include`` | file_search_call.results, code_interpreter_call.outputs, ... |
| ``safety_identifier`` | ``safety_identifier`` | text, up to 64 characters |
| ``metadata`` | ``metadata`` | up to 16 pairs, keys up to 64 and values up to 512 characters |
| ``extra_body`` | merged into the body | a JSON object of fields the form does not name yet |

SDK 3.57 also names ``service_tier: ultrafast``; the spec does not, so it goes through
``extra_body``. Values arrive as text from Keep's form and templates; :func:`parse_int`,
:func:`parse_choice`, ... turn them into their types or raise ConfigurationError naming the
field. No I/O, no Keep, no pydantic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import ConfigurationError

REASONING_EFFORTS: tuple[str, ...] = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
SERVICE_TIERS: tuple[str, ...] = ("auto", "default", "flex", "scale", "priority", "fast")
TRUNCATIONS: tuple[str, ...] = ("auto", "disabled")
INCLUDABLE: tuple[str, ...] = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)
#: How threads are kept: ``auto`` uses the Conversations API where the server has it and chains
#: responses with ``previous_response_id`` where it answers ``POST /conversations`` with 404/405.
THREAD_MODES: tuple[str, ...] = ("auto", "conversations", "previous_response_id")

MIN_OUTPUT_TOKENS = 16
MIN_COMPACT_THRESHOLD = 1000
MAX_SAFETY_IDENTIFIER = 64
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
#: Body fields the engine owns (its waiting, threads and answers depend on them): never from
#: ``extra_body``.
RESERVED_BODY_FIELDS = frozenset(
    {"model", "input", "conversation", "previous_response_id", "background", "stream", "store", "tools", "text"}
)


def _show(value: Any) -> str:
    if isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) <= 40):
        return repr(value)
    return f"a {type(value).__name__}"


def parse_int(name: str, value: Any, *, minimum: int) -> int | None:
    """A whole number >= ``minimum`` from an int or its text; absent ("" or None) -> None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    if number is None or number < minimum:
        raise ConfigurationError(
            f"{name} must be a whole number of at least {minimum}, got {_show(value)}.", field=name
        )
    return number


def parse_choice(name: str, value: Any, choices: tuple[str, ...]) -> str | None:
    """One of ``choices`` (any case); absent -> None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    word = value.strip().lower() if isinstance(value, str) else None
    if word not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {_show(value)}.", field=name)
    return word


def check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    """A value that is sent as it is: absent, or exactly one of ``choices``."""
    if value is not None and value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {_show(value)}.", field=name)


def parse_identifier(name: str, value: Any, *, max_length: int | None = None) -> str | None:
    """An opaque text (``prompt_cache_key``, ``safety_identifier``); absent -> None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be text, got {_show(value)}.", field=name)
    text = value.strip()
    if max_length is not None and len(text) > max_length:
        raise ConfigurationError(
            f"{name} is {len(text)} characters long; the API takes at most {max_length} (hash a longer identifier).",
            field=name,
        )
    return text


def parse_include(value: Any) -> tuple[str, ...]:
    """Comma-separated (or a list of) ``include`` values, each one the API knows."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    found = tuple(dict.fromkeys(str(s).strip() for s in items if str(s).strip()))
    for item in found:
        if item not in INCLUDABLE:
            raise ConfigurationError(
                f"include holds {_show(item)}, which the Responses API does not know: choose from "
                f"{', '.join(INCLUDABLE)}.",
                field="include",
            )
    return found


def loads_json(name: str, text: str, *, wanted: str) -> Any:
    """``text`` decoded as JSON, or ConfigurationError naming the field, where the JSON breaks,
    and ``wanted`` (what to give instead): the one decoder of every JSON-as-text setting."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{name} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): give {wanted}.",
            field=name,
        ) from None


def parse_object(name: str, value: Any) -> dict[str, Any] | None:
    """A JSON object given as a mapping or as its text; absent -> None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        value = loads_json(name, value, wanted='a JSON object such as {"team": "sre"}')
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f'{name} must be a JSON object such as {{"team": "sre"}}, got {_show(value)}.', field=name
        )
    return dict(value)


def check_metadata(metadata: Mapping[str, Any]) -> None:
    """OpenAI's limits: at most 16 pairs, keys up to 64 characters, string values up to 512."""
    if len(metadata) > MAX_METADATA_PAIRS:
        raise ConfigurationError(
            f"metadata has {len(metadata)} pairs; the API takes at most {MAX_METADATA_PAIRS}.", field="metadata"
        )
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise ConfigurationError(
                f"metadata value of {_show(key)} must be text, got {_show(value)}.", field="metadata"
            )
        if not key or len(key) > MAX_METADATA_KEY:
            raise ConfigurationError(
                f"metadata key {_show(key)} must be 1 to {MAX_METADATA_KEY} characters long.", field="metadata"
            )
        if len(value) > MAX_METADATA_VALUE:
            raise ConfigurationError(
                f"metadata value of {_show(key)} is {len(value)} characters long; the API takes at most "
                f"{MAX_METADATA_VALUE}.",
                field="metadata",
            )


def check_extra_body(extra: Mapping[str, Any]) -> None:
    """``extra_body`` may add fields, never replace the ones the engine's flow depends on."""
    taken = sorted(k for k in extra if k in RESERVED_BODY_FIELDS)
    if taken:
        raise ConfigurationError(
            f"extra_body sets {', '.join(taken)}, which the provider sets itself (its threads, waiting and answers "
            "depend on them): remove them from extra_body; model and tools have their own fields.",
            field="extra_body",
        )
    try:
        json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError):
        raise ConfigurationError("extra_body must hold plain JSON values only.", field="extra_body") from None
