"""Request checks and list pagination for the emulated Assistants API, with OpenAI's error texts.

Kept apart from the handlers so each rule (limits, types, cursors) reads on its own. Every check
raises :class:`EmulatorError` with the status, message, ``param`` and ``code`` OpenAI used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .http import EmulatorError, Request

MAX_CONTENT_CHARS = 256_000
MAX_METADATA_PAIRS = 16
BETA_MISSING = "You must provide the 'OpenAI-Beta' header to access the Assistants API. Please try again by setting the header 'OpenAI-Beta: assistants=v2'."
BETA_V1 = (
    "The v1 Assistants API has been deprecated. Please try again by setting the header 'OpenAI-Beta: assistants=v2'."
)
TOOL_TYPES = frozenset({"code_interpreter", "file_search", "function"})


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
            raise EmulatorError(
                400, f"Unknown parameter: '{prefix}{name}'.", param=f"{prefix}{name}", code="unknown_parameter"
            )
    return body


def require_beta(request: Request) -> None:
    beta = request.headers.get("openai-beta", "").replace(" ", "")
    if "assistants=v2" in beta.split(","):
        return
    message = BETA_V1 if "assistants=v1" in beta else BETA_MISSING
    raise EmulatorError(400, message, code="invalid_beta")


def missing(param: str) -> EmulatorError:
    return EmulatorError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def invalid_type(param: str, expected: str, value: Any) -> EmulatorError:
    got = {
        str: "a string",
        int: "an integer",
        float: "a decimal",
        bool: "a boolean",
        list: "an array",
        dict: "an object",
    }.get(type(value), "null")
    return EmulatorError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {got} instead.",
        param=param,
        code="invalid_type",
    )


def too_long(param: str, value: str, limit: int) -> EmulatorError:
    return EmulatorError(
        400,
        f"Invalid '{param}': string too long. Expected a string with maximum length {limit}, but got a string with length {len(value)} instead.",
        param=param,
        code="string_above_max_length",
    )


def optional_str(body: dict[str, Any], name: str, *, limit: int = MAX_CONTENT_CHARS) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_type(name, "a string", value)
    if len(value) > limit:
        raise too_long(name, value, limit)
    return value


def metadata(body: dict[str, Any], name: str = "metadata") -> dict[str, str]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_type(name, "an object", value)
    if len(value) > MAX_METADATA_PAIRS:
        raise EmulatorError(
            400,
            f"Invalid '{name}': too many properties. Expected an object with at most {MAX_METADATA_PAIRS} properties, but got an object with {len(value)} properties instead.",
            param=name,
            code="object_above_max_properties",
        )
    for key, item in value.items():
        if len(key) > 64:
            raise too_long(f"{name}.{key[:16]}", key, 64)
        if not isinstance(item, str):
            raise invalid_type(f"{name}.{key}", "a string", item)
        if len(item) > 512:
            raise too_long(f"{name}.{key}", item, 512)
    return dict(value)


def tools(body: dict[str, Any], *, limit: int) -> list[dict[str, Any]] | None:
    value = body.get("tools")
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid_type("tools", "an array", value)
    if len(value) > limit:
        raise EmulatorError(
            400,
            f"Invalid 'tools': array too long. Expected an array with maximum length {limit}, but got an array with length {len(value)} instead.",
            param="tools",
            code="array_above_max_length",
        )
    for i, tool in enumerate(value):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind not in TOOL_TYPES:
            raise EmulatorError(
                400,
                f"Invalid value: '{kind}'. Supported values are: 'code_interpreter', 'function', and 'file_search'.",
                param=f"tools[{i}].type",
                code="invalid_value",
            )
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
        raise EmulatorError(
            400,
            f"Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param=param,
            code="empty_array",
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
            raise EmulatorError(
                400,
                f"Invalid content part at '{param}[{i}]': expected a text, image_file or image_url part.",
                param=f"{param}[{i}]",
                code="invalid_value",
            )
    if total > MAX_CONTENT_CHARS:
        raise EmulatorError(
            400,
            f"Invalid '{param}': text too long. Expected at most {MAX_CONTENT_CHARS} characters, but got {total} instead.",
            param=param,
            code="string_above_max_length",
        )
    return parts


def new_message(value: Any, param: str) -> dict[str, Any]:
    """One message of ``thread.messages`` / ``additional_messages`` / POST messages, checked."""
    known_fields(value, "message", prefix="" if param == "body" else f"{param}.")
    role = value.get("role")
    if role is None:
        raise missing(f"{param}.role" if param != "body" else "role")
    if role not in ("user", "assistant"):
        raise EmulatorError(
            400,
            f"Invalid value: '{role}'. Supported values are: 'user' and 'assistant'.",
            param=f"{param}.role",
            code="invalid_value",
        )
    if "content" not in value:
        raise missing(f"{param}.content" if param != "body" else "content")
    attachments = value.get("attachments")
    if attachments is not None and not isinstance(attachments, list):
        raise invalid_type(f"{param}.attachments", "an array", attachments)
    content_param = "content" if param == "body" else f"{param}.content"
    return {
        "role": role,
        "content": message_content(value["content"], content_param),
        "attachments": attachments or [],
        "metadata": metadata(value),
    }


def new_messages(value: Any, param: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    return [new_message(m, f"{param}[{i}]") for i, m in enumerate(value)]


def page(items: Sequence[Listed], request: Request) -> dict[str, Any]:
    """A cursor page of ``items`` (oldest first) per ``order`` (default desc), ``limit``, ``after``, ``before``.

    An empty page has ``first_id`` and ``last_id`` ``""``: the spec types them as strings (api.openai.com
    sent null), and clients page by the ids in ``data`` anyway.
    """
    query = request.query
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise EmulatorError(
            400,
            f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
            param="order",
            code="invalid_value",
        )
    raw_limit = query.get("limit", "20")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise EmulatorError(
            400,
            f"Invalid 'limit': expected an integer, but got '{raw_limit}' instead.",
            param="limit",
            code="invalid_type",
        ) from None
    if not 1 <= limit <= 100:
        raise EmulatorError(
            400,
            f"Invalid 'limit': integer {'below minimum value' if limit < 1 else 'above maximum value'}. Expected a value {'>= 1' if limit < 1 else '<= 100'}, but got {limit} instead.",
            param="limit",
            code="integer_below_min_value" if limit < 1 else "integer_above_max_value",
        )
    ordered = list(items) if order == "asc" else list(reversed(items))
    ids = [item.id for item in ordered]
    start, end = 0, len(ordered)
    if "after" in query:
        start = ids.index(query["after"]) + 1 if query["after"] in ids else len(ordered)
    if "before" in query:
        end = ids.index(query["before"]) if query["before"] in ids else 0
    window = ordered[start:end]
    if "before" in query and "after" not in query:
        chosen = window[-limit:]  # the page right before the cursor
        has_more = len(window) > limit
    else:
        chosen = window[:limit]
        has_more = len(window) > limit
    data = [item.to_dict() for item in chosen]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else "",
        "last_id": data[-1]["id"] if data else "",
        "has_more": has_more,
    }
