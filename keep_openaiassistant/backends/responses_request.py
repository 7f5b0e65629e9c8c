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
    if question.tools is not None and question.tools.declared:
        declared = [spec.function_tool() for spec in question.tools.functions]
        return declared + [dict(server.tool) for server in question.tools.mcp]
    tools_: list[dict[str, Any]] = []
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
    conversation_id: str,
    input_items: list[dict[str, Any]],
) -> dict[str, Any]:
    """The body of ``POST /responses`` (``stream`` is added by the wire).

    ``background`` + ``store``: the response lives on the server independently of our
    connection, so a dropped stream is resumed (never re-sent) and the deadline can cancel it.
    """
    body: dict[str, Any] = {
        "model": settings.effective_model,
        "conversation": conversation_id,
        "input": input_items,
        "background": True,
        "store": True,
    }
    text = instructions(settings, question)
    if text:
        body["instructions"] = text
    declared = tools(settings) + function_tools(question)
    if declared:
        body["tools"] = declared
    if settings.vector_store_ids:
        body["include"] = [FILE_SEARCH_RESULTS]
    fmt = text_format(question.structured_output_format)
    if fmt:
        body["text"] = {"format": fmt}
    return body
