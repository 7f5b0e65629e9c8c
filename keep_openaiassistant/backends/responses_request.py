"""Request bodies of the Responses backend, built from the profile (Settings) and one Question.

Pure functions, no I/O: what we send is decided here and tested without sockets.

Why the profile lives in our own config: OpenAI's advice after the Assistants shutdown is to
keep model, instructions and tools in your own config (reusable prompt objects are deprecated
too). So every response carries the whole profile — model, instructions, tools — and the
conversation carries only the dialogue.

Field names follow OpenAI's OpenAPI spec (``CreateResponse``, ``TextResponseFormatJsonSchema``,
``FileSearchTool``, ``CodeInterpreterTool``, ``FunctionCallOutputItemParam``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError
from ..question import Question
from ..settings import Settings
from .common import normalize_format

# Asking for the search results makes file_search_call items carry the quoted passages,
# which become Citation.quote (the file_citation annotation itself has no quote).
FILE_SEARCH_RESULTS = "file_search_call.results"

_SCHEMA_NAME = re.compile(r"[^a-zA-Z0-9_-]")
DEFAULT_SCHEMA_NAME = "answer"


def instructions(settings: Settings, question: Question) -> str | None:
    """The profile's instructions, plus this step's additional instructions (this response only).

    Responses does not carry instructions over between responses of a conversation, so
    appending here never leaks a step's extra instructions into later steps.
    """
    parts = [p.strip() for p in (settings.instructions, question.additional_instructions) if p and p.strip()]
    return "\n\n".join(parts) or None


def tools(settings: Settings) -> list[dict[str, Any]]:
    """The profile's hosted tools: file search over its vector stores, and code interpreter."""
    found: list[dict[str, Any]] = []
    if settings.vector_store_ids:
        found.append({"type": "file_search", "vector_store_ids": list(settings.vector_store_ids)})
    if settings.code_interpreter:
        found.append({"type": "code_interpreter", "container": {"type": "auto"}})
    return found


_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def function_tools(question: Question) -> list[dict[str, Any]]:
    """One function tool per name in the step's ``tool_outputs``.

    On the Assistants API the functions lived on the assistant; the Responses API has no such
    object, and a model only calls functions the request declares. The step's ``tool_outputs``
    are exactly the functions this workflow can answer, so each becomes a parameterless function
    the model may call to get that value. Names the API would refuse are left out.

    A step that declares ``tools`` sends those functions, each with its own description and
    JSON schema (``tool_outputs`` joined as parameterless values), and its hosted MCP servers.
    """
    servers = [dict(server.tool) for server in question.tools.mcp] if question.tools is not None else []
    if question.tools is not None and question.tools.declared:
        return [spec.function_tool() for spec in question.tools.functions] + servers
    tools_: list[dict[str, Any]] = servers
    for name in question.tool_outputs or {}:
        if _FUNCTION_NAME.match(str(name)):
            tools_.append(
                {
                    "type": "function",
                    "name": str(name),
                    "description": (
                        f"Returns '{name}' as provided by the Keep workflow (alert context, logs, metrics, ...)."
                    ),
                    "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
                    "strict": True,
                }
            )
    return tools_


def text_format(structured_output_format: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Keep's Chat-Completions shape -> the Responses ``text.format``.

    Keep's OpenAI provider takes ``{"type": "json_schema", "json_schema": {name, schema,
    strict}}``; Responses wants the same fields flat: ``{"type": "json_schema", name, schema,
    strict}``. What :func:`common.normalize_format` accepts (the inner object, a bare schema) is
    accepted here too, so both backends take the same step parameters; the flat Responses
    shape passes as it is, ``json_object`` too, and ``{"type": "text"}`` means no format.
    """
    fmt = normalize_format(structured_output_format)
    if fmt is None or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    inner = fmt.get("json_schema")
    spec: Mapping[str, Any] = inner if isinstance(inner, Mapping) else fmt
    schema = spec.get("schema")
    if not isinstance(schema, Mapping):
        raise ConfigurationError(
            "structured_output_format has no JSON schema: put it under json_schema.schema, e.g. "
            '{"type": "json_schema", "json_schema": {"name": "triage", "schema": {"type": "object", ...}}}.',
            field="structured_output_format",
        )
    name = _SCHEMA_NAME.sub("_", str(spec.get("name") or DEFAULT_SCHEMA_NAME))[:64]
    out: dict[str, Any] = {"type": "json_schema", "name": name, "schema": dict(schema)}
    if spec.get("description"):
        out["description"] = str(spec["description"])
    if spec.get("strict") is not None:
        out["strict"] = bool(spec["strict"])
    return out


def user_input(prompt: str) -> list[dict[str, Any]]:
    """The step's prompt as one user message item (appended to the conversation by the server)."""
    return [{"type": "message", "role": "user", "content": prompt}]


def function_outputs(outputs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """``[(call_id, output text)]`` -> ``function_call_output`` input items."""
    return [{"type": "function_call_output", "call_id": call_id, "output": text} for call_id, text in outputs]


def response_body(
    settings: Settings,
    question: Question,
    *,
    conversation_id: str | None = None,
    previous_response_id: str | None = None,
    input_items: list[dict[str, Any]],
    truncation: str | None = None,
) -> dict[str, Any]:
    """The body of ``POST /responses`` (``stream`` is added by the wire).

    The thread is a conversation (``conversation_id``) or a chain of responses
    (``previous_response_id``, on servers without the Conversations API), never both; neither:
    a first response on a new chain.

    ``background`` + ``store``: the response lives on the server independently of our
    connection, so a dropped stream is resumed (never re-sent) and the deadline can cancel it;
    a chain needs its responses stored as well. So ``store`` is not an option here.

    ``truncation``: overrides the profile's (the re-send after ``context_length_exceeded``).
    """
    body: dict[str, Any] = {"model": settings.effective_model}
    if conversation_id:
        body["conversation"] = conversation_id
    elif previous_response_id:
        body["previous_response_id"] = previous_response_id
    body.update({"input": input_items, "background": True, "store": True})
    text = instructions(settings, question)
    if text:
        body["instructions"] = text
    declared = tools(settings) + function_tools(question)
    if declared:
        body["tools"] = declared
    included = include(settings)
    if included:
        body["include"] = included
    fmt = text_format(question.structured_output_format)
    if fmt:
        body["text"] = {"format": fmt}
    body.update(option_fields(settings, question, truncation=truncation))
    return body


def include(settings: Settings) -> list[str]:
    """The profile's ``include``, plus the search results file search's quotes need."""
    found = list(settings.include)
    if settings.vector_store_ids and FILE_SEARCH_RESULTS not in found:
        found.insert(0, FILE_SEARCH_RESULTS)
    return found


def option_fields(settings: Settings, question: Question, *, truncation: str | None = None) -> dict[str, Any]:
    """The profile's Responses options (the step's overrides first), each only when set.

    Names and values are OpenAI's (``CreateResponse`` in the spec; ``ResponseCreateParams``
    of SDK 3.57); they were checked when the settings and the step were (options.py).
    ``extra_body`` comes last: fields the form does not name yet, never the engine's own.
    """
    fields: dict[str, Any] = {}
    effort = question.reasoning_effort or settings.reasoning_effort
    if effort:
        fields["reasoning"] = {"effort": effort}
    max_output = question.max_output_tokens or settings.max_output_tokens
    if max_output is not None:
        fields["max_output_tokens"] = max_output
    if settings.max_tool_calls is not None:
        fields["max_tool_calls"] = settings.max_tool_calls
    if settings.service_tier:
        fields["service_tier"] = settings.service_tier
    if settings.prompt_cache_key:
        fields["prompt_cache_key"] = settings.prompt_cache_key
    # ``truncation: auto`` is sent once the server refused the thread as too long (the backend
    # re-sends with it), so the result can say the server truncated; ``disabled`` is sent as set.
    mode = truncation or (settings.truncation if settings.truncation != "auto" else None)
    if mode:
        fields["truncation"] = mode
    if settings.compact_threshold is not None:
        fields["context_management"] = [{"type": "compaction", "compact_threshold": settings.compact_threshold}]
    if settings.safety_identifier:
        fields["safety_identifier"] = settings.safety_identifier
    if settings.metadata:
        fields["metadata"] = dict(settings.metadata)
    for key, value in (settings.extra_body or {}).items():
        fields.setdefault(key, value)
    return fields
