"""The Responses request options the emulator checks and acts on (no I/O, no state).

Checked as OpenAI checks them (values from the spec's ``CreateResponse``): ``reasoning.effort``,
``service_tier``, ``truncation``, ``context_management``, ``safety_identifier`` (at most 64
characters), ``prompt_cache_key``, ``max_tool_calls``. What they do here:

- ``reasoning.effort``: the model "thinks" a fixed number of tokens per effort, reported as
  ``output_tokens_details.reasoning_tokens`` (and counted in ``output_tokens``);
- ``prompt_cache_key``: the input not read from the cache is reported as written to it
  (``input_tokens_details.cache_write_tokens``);
- ``context_management: [{type: compaction, compact_threshold}]``: once the history read plus
  the input pass the threshold, the history is replaced by one ``compaction`` item, the first
  item of the output (later responses read from it on);
- ``truncation``: a context larger than ``EmulatorConfig.context_window`` is a 400
  ``context_length_exceeded`` (``disabled``, the default), or loses its oldest items (``auto``);
- ``service_tier``: echoed as served (``auto`` -> ``default``, ``fast`` -> ``priority``);
- ``max_tool_calls``, ``safety_identifier``: checked and echoed only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .common import EmulatorError, bad_request, below_minimum, invalid_type, invalid_value, long_id, missing, too_long
from .model import count_tokens
from .responses_items import history_chars

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority", "fast")
TRUNCATIONS = ("auto", "disabled")
#: Tokens the emulated model reasons per effort.
REASONING_TOKENS = {"none": 0, "minimal": 8, "low": 32, "medium": 64, "high": 128, "xhigh": 256, "max": 512}
_SERVED_TIER = {"auto": "default", "fast": "priority"}
MIN_COMPACT_THRESHOLD = 1000
MAX_SAFETY_IDENTIFIER = 64
CONTEXT_LENGTH_EXCEEDED = "Your input exceeds the context window of this model. Please adjust your input and try again."


@dataclass(frozen=True)
class RequestOptions:
    reasoning_effort: str | None = None
    service_tier: str | None = None
    truncation: str = "disabled"
    compact_threshold: int | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    max_tool_calls: int | None = None

    def echo(self) -> dict[str, Any]:
        """The Response object's copy of the options."""
        tier = self.service_tier or "auto"
        return {
            "reasoning": {"effort": self.reasoning_effort, "summary": None} if self.reasoning_effort else None,
            "service_tier": _SERVED_TIER.get(tier, tier),
            "truncation": self.truncation,
            "safety_identifier": self.safety_identifier,
            "prompt_cache_key": self.prompt_cache_key,
            "max_tool_calls": self.max_tool_calls,
        }

    def reasoning_tokens(self) -> int:
        return REASONING_TOKENS.get(self.reasoning_effort or "none", 0)


def _choice(body: dict[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_type(name, "a string", value)
    if value not in choices:
        raise invalid_value(name, value, choices)
    return value


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid_type(name, "a string", value)
    return value


def _integer(value: Any, name: str, minimum: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid_type(name, "an integer", value)
    if value < minimum:
        raise below_minimum(name, value, minimum)
    return value


def parse_options(body: dict[str, Any]) -> RequestOptions:
    reasoning = body.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, dict):
        raise invalid_type("reasoning", "an object", reasoning)
    effort = _choice(reasoning or {}, "effort", REASONING_EFFORTS)
    threshold: int | None = None
    management = body.get("context_management")
    if management is not None:
        if not isinstance(management, list) or not management:
            raise invalid_type("context_management", "a non-empty array", management)
        for i, entry in enumerate(management):
            if not isinstance(entry, dict) or "type" not in entry:
                raise missing(f"context_management[{i}].type")
            if entry["type"] != "compaction":
                raise invalid_value(f"context_management[{i}].type", entry["type"], ("compaction",))
            threshold = _integer(
                entry.get("compact_threshold"), f"context_management[{i}].compact_threshold", MIN_COMPACT_THRESHOLD
            )
    safety = _text(body, "safety_identifier")
    if safety is not None and len(safety) > MAX_SAFETY_IDENTIFIER:
        raise too_long("safety_identifier", safety, MAX_SAFETY_IDENTIFIER)
    return RequestOptions(
        reasoning_effort=effort,
        service_tier=_choice(body, "service_tier", SERVICE_TIERS),
        truncation=_choice(body, "truncation", TRUNCATIONS) or "disabled",
        compact_threshold=threshold,
        safety_identifier=safety,
        prompt_cache_key=_text(body, "prompt_cache_key"),
        max_tool_calls=_integer(body.get("max_tool_calls"), "max_tool_calls", 0),
    )


@dataclass(frozen=True)
class Fitted:
    """The history the model reads, and the compaction item that replaced the rest (if any)."""

    history: list[dict[str, Any]]
    compaction: dict[str, Any] | None = None
    dropped: int = 0


def context_tokens(history: list[dict[str, Any]], input_items: list[dict[str, Any]], instructions: str) -> int:
    return count_tokens(instructions) + (history_chars(history) + history_chars(input_items)) // 4


def since_compaction(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the model reads of a history: the items after its last compaction item."""
    for i in range(len(history) - 1, -1, -1):
        if history[i].get("type") == "compaction":
            return history[i + 1 :]
    return list(history)


def fit_context(
    history: list[dict[str, Any]],
    input_items: list[dict[str, Any]],
    instructions: str,
    options: RequestOptions,
    *,
    window: int,
) -> Fitted:
    """Compact, truncate or refuse a context that is too large, as the options say."""
    visible = since_compaction(history)
    compaction: dict[str, Any] | None = None
    threshold = options.compact_threshold
    if threshold is not None and visible and context_tokens(visible, input_items, instructions) > threshold:
        compaction = {
            "type": "compaction",
            "id": long_id("cmp"),
            "encrypted_content": "gAAAAA" + long_id("enc")[4:],
            "created_by": "emulator",
        }
        visible = []
    dropped = 0
    while context_tokens(visible, input_items, instructions) > window:
        if options.truncation != "auto" or not visible:
            raise _too_long()
        visible = visible[1:]
        dropped += 1
    return Fitted(visible, compaction, dropped)


def _too_long() -> EmulatorError:
    return bad_request(CONTEXT_LENGTH_EXCEEDED, "input", "context_length_exceeded")
