"""Request checks of the emulated Assistants API, with OpenAI's error texts.

Kept apart from the handlers so each rule (fields, limits, types) reads on its own. Every check
raises :class:`~.common.EmulatorError` with the status, message, ``param`` and ``code`` OpenAI
used, through the helpers both APIs share (:mod:`.common`: types, lengths, metadata, pages).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .common import (
    array_too_long,
    bad_request,
    check_metadata,
    invalid_type,
    invalid_value,
    missing,
    page,
    too_long,
)
from .http import Request

MAX_CONTENT_CHARS = 256_000
_SET_BETA = "Please try again by setting the header 'OpenAI-Beta: assistants=v2'."
BETA_MISSING = f"You must provide the 'OpenAI-Beta' header to access the Assistants API. {_SET_BETA}"
BETA_V1 = f"The v1 Assistants API has been deprecated. {_SET_BETA}"
TOOL_TYPES = ("code_interpreter", "function", "file_search")


class Listed(Protocol):
    id: str

    def to_dict(self) -> dict[str, Any]: ...


# The body fields each request takes (the spec's request schemas, all ``additionalProperties: false``).
_ASSISTANT = frozenset(
    {
        "model",
        "name",
        "description",
        "instructions",
        "reasoning_effort",
        "tools",
        "tool_resources",
        "metadata",
        "temperature",
        "top_p",
        "response_format",
    }
)
_RUN_COMMON = frozenset(
    {
        "assistant_id",
        "model",
        "instructions",
        "tools",
        "metadata",
        "temperature",
        "top_p",
        "stream",
        "max_prompt_tokens",
        "max_completion_tokens",
        "truncation_strategy",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
    }
)
BODY_FIELDS: dict[str, frozenset[str]] = {
    "assistant": _ASSISTANT,
    "thread": frozenset({"messages", "metadata", "tool_resources"}),
    "modify_thread": frozenset({"metadata", "tool_resources"}),
    "message": frozenset({"role", "content", "attachments", "metadata"}),
    "metadata_only": frozenset({"metadata"}),
    "run": _RUN_COMMON | {"additional_instructions", "additional_messages", "reasoning_effort"},
    "thread_and_run": _RUN_COMMON | {"thread", "tool_resources"},
    "tool_outputs": frozenset({"tool_outputs", "stream"}),
}


def known_fields(body: Any, kind: str, *, prefix: str = "") -> dict[str, Any]:
    """``body`` when it is an object of known fields; OpenAI refuses any other field with a 400."""
    if not isinstance(body, dict):
        raise invalid_type(prefix.rstrip(".") or "body", "an object", body)
    for name in body:
        if name not in BODY_FIELDS[kind]:
            raise bad_request(f"Unknown parameter: '{prefix}{name}'.", f"{prefix}{name}", "unknown_parameter")
    return body


def require_beta(request: Request) -> None:
    beta = request.headers.get("openai-beta", "").replace(" ", "")
    if "assistants=v2" in beta.split(","):
        return
    message = BETA_V1 if "assistants=v1" in beta else BETA_MISSING
    raise bad_request(message, code="invalid_beta")


def optional_str(body: dict[str, Any], name: str, *, limit: int = MAX_CONTENT_CHARS) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_type(name, "a string", value)
    if len(value) > limit:
        raise too_long(name, value, limit)
    return value


def tools(body: dict[str, Any], *, limit: int) -> list[dict[str, Any]] | None:
    value = body.get("tools")
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid_type("tools", "an array", value)
    if len(value) > limit:
        raise array_too_long("tools", value, limit)
    for i, tool in enumerate(value):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind not in TOOL_TYPES:
            raise invalid_value(f"tools[{i}].type", kind, TOOL_TYPES)
        if kind == "function" and not isinstance((tool.get("function") or {}).get("name"), str):
            raise missing(f"tools[{i}].function.name")
    return list(value)


def message_content(value: Any, param: str = "content") -> list[dict[str, Any]]:
    """A CreateMessageRequest ``content`` (a string or an array of parts) as MessageObject content."""
    if isinstance(value, str):
        if len(value) > MAX_CONTENT_CHARS:
            raise too_long(param, value, MAX_CONTENT_CHARS)
        return [{"type": "text", "text": {"value": value, "annotations": []}}]
    if not isinstance(value, list):
        raise invalid_type(param, "one of a string or array of objects", value)
    if not value:
        raise bad_request(
            f"Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param,
            "empty_array",
        )
    parts: list[dict[str, Any]] = []
    total = 0
    for i, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            total += len(part["text"])
            parts.append({"type": "text", "text": {"value": part["text"], "annotations": []}})
        elif kind == "image_file" and isinstance((part.get("image_file") or {}).get("file_id"), str):
            parts.append(
                {
                    "type": "image_file",
                    "image_file": {
                        "file_id": part["image_file"]["file_id"],
                        "detail": part["image_file"].get("detail", "auto"),
                    },
                }
            )
        elif kind == "image_url" and isinstance((part.get("image_url") or {}).get("url"), str):
            parts.append(
                {
                    "type": "image_url",
                    "image_url": {"url": part["image_url"]["url"], "detail": part["image_url"].get("detail", "auto")},
                }
            )
        else:
            raise bad_request(
                f"Invalid content part at '{param}[{i}]': expected a text, image_file or image_url part.",
                f"{param}[{i}]",
                "invalid_value",
            )
    if total > MAX_CONTENT_CHARS:
        raise bad_request(
            f"Invalid '{param}': text too long. Expected at most {MAX_CONTENT_CHARS} characters, "
            f"but got {total} instead.",
            param,
            "string_above_max_length",
        )
    return parts


def new_message(value: Any, param: str) -> dict[str, Any]:
    """One message of ``thread.messages`` / ``additional_messages`` / POST messages (``param="body"``), checked."""
    prefix = "" if param == "body" else f"{param}."
    known_fields(value, "message", prefix=prefix)
    role = value.get("role")
    if role is None:
        raise missing(f"{prefix}role")
    if role not in ("user", "assistant"):
        raise invalid_value(f"{prefix}role", role, ("user", "assistant"))
    if "content" not in value:
        raise missing(f"{prefix}content")
    attachments = value.get("attachments")
    if attachments is not None and not isinstance(attachments, list):
        raise invalid_type(f"{prefix}attachments", "an array", attachments)
    return {
        "role": role,
        "content": message_content(value["content"], f"{prefix}content"),
        "attachments": attachments or [],
        "metadata": check_metadata(value.get("metadata"), f"{prefix}metadata"),
    }


def new_messages(value: Any, param: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    return [new_message(m, f"{param}[{i}]") for i, m in enumerate(value)]


def records_page(items: Sequence[Listed], request: Request) -> dict[str, Any]:
    """A cursor page of assistants, messages, runs or steps (stored oldest first), per the request's query."""
    return page(items, request.query, id_of=lambda item: item.id, render=lambda chosen: [i.to_dict() for i in chosen])
