"""Items of the Responses and Conversations APIs, built as plain JSON dicts (no I/O, no state).

Input items arrive in the many shapes OpenAI accepts (a string, "easy" messages whose content is a
string, typed items); :func:`normalize_input` turns them into the stored item resources a
conversation lists (``{type, id, status, role, content: [{type: input_text, text}]}``).
:func:`output_items` turns the model's :class:`~.model.Plan` into Responses output items.

The model speaks Assistants: its citations are inline markers (``【4:0†runbook.md】``) and its
charts are ``image_file`` parts. The Responses API has neither: markers are removed from the text
and each ``file_citation`` annotation carries the ``index`` where its marker stood; a chart becomes
a ``code_interpreter_call`` item plus a ``container_file_citation`` over the sandbox link.
"""

from __future__ import annotations

import json
from typing import Any

from .common import invalid_type, invalid_value, long_id, missing, new_id
from .model import Part, Plan, strip_tags

MESSAGE_ROLES = ("assistant", "system", "developer", "user")
_INPUT_TYPES = (
    "message",
    "function_call_output",
    "function_call",
    "file_search_call",
    "code_interpreter_call",
    "mcp_list_tools",
    "mcp_call",
    "mcp_approval_request",
    "mcp_approval_response",
)


def _content_parts(role: str, content: Any, param: str) -> list[dict[str, Any]]:
    text_type = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        raw: list[Any] = [{"type": text_type, "text": content}]
    elif isinstance(content, list):
        raw = content
    else:
        raise invalid_type(param, "one of a string or array of input content", content)
    parts: list[dict[str, Any]] = []
    for i, given in enumerate(raw):
        if not isinstance(given, dict) or not isinstance(given.get("type"), str):
            raise missing(f"{param}[{i}].type")
        part = dict(given)
        if part["type"] in ("input_text", "output_text") and not isinstance(part.get("text"), str):
            raise missing(f"{param}[{i}].text")
        if part["type"] == "output_text":
            part.setdefault("annotations", [])
            part.setdefault("logprobs", [])
        parts.append(part)
    return parts


def normalize_item(item: Any, param: str) -> dict[str, Any]:
    """One input item as the stored resource (with an id and a status)."""
    if not isinstance(item, dict):
        raise invalid_type(param, "an object", item)
    kind = item.get("type", "message" if "role" in item else None)
    if kind not in _INPUT_TYPES:
        raise invalid_value(f"{param}.type", kind, _INPUT_TYPES)
    if kind == "message":
        role = item.get("role")
        if role not in MESSAGE_ROLES:
            raise invalid_value(f"{param}.role", role, MESSAGE_ROLES)
        if "content" not in item:
            raise missing(f"{param}.content")
        return {
            "type": "message",
            "id": item.get("id") or long_id("msg"),
            "status": "completed",
            "role": role,
            "content": _content_parts(role, item["content"], f"{param}.content"),
        }
    if kind == "function_call_output":
        for field in ("call_id", "output"):
            if field not in item:
                raise missing(f"{param}.{field}")
        return {
            "type": kind,
            "id": item.get("id") or long_id("fco"),
            "call_id": item["call_id"],
            "output": item["output"],
            "status": "completed",
        }
    if kind == "mcp_approval_response":
        if not isinstance(item.get("approval_request_id"), str):
            raise missing(f"{param}.approval_request_id")
        if not isinstance(item.get("approve"), bool):
            raise invalid_type(f"{param}.approve", "a boolean", item.get("approve"))
        return {"type": kind, "id": item.get("id") or long_id("mcpa"), **item}
    required = {"function_call": ("call_id", "name", "arguments")}.get(kind, ())
    for field in required:
        if not isinstance(item.get(field), str):
            raise missing(f"{param}.{field}")
    stored = dict(item)
    stored.setdefault("id", long_id({"function_call": "fc", "file_search_call": "fs"}.get(kind, "ci")))
    stored.setdefault("status", "completed")
    return stored


def normalize_input(value: Any, param: str = "input") -> list[dict[str, Any]]:
    """``input`` of ``POST /v1/responses`` (or ``items`` of a conversation) as stored items."""
    if value is None:
        return []
    if isinstance(value, str):
        return [normalize_item({"type": "message", "role": "user", "content": value}, param)]
    if isinstance(value, list):
        return [normalize_item(item, f"{param}[{i}]") for i, item in enumerate(value)]
    raise invalid_type(param, "one of a string or array of input items", value)


def item_text(item: dict[str, Any]) -> str:
    """The text of a message item (all its text parts), or "" for other items."""
    if item.get("type") != "message":
        return ""
    return "".join(
        str(p.get("text", ""))
        for p in item.get("content", [])
        if isinstance(p, dict) and p.get("type") in ("input_text", "output_text", "text")
    )


def history_chars(items: list[dict[str, Any]]) -> int:
    """Characters of history the model reads: message texts and function outputs."""
    return sum(
        len(str(i.get("output", ""))) if i.get("type") == "function_call_output" else len(item_text(i)) for i in items
    )


_CHART_CODE = (
    "import matplotlib.pyplot as plt\n# plot disk usage over the last day\nplt.savefig('/mnt/data/disk_usage.png')"
)


def _output_text(part: Part, container_id: str) -> dict[str, Any]:
    """An ``output_text`` part: citation markers removed, annotations in Responses' shapes."""
    text, annotations, removed = part.text, [], 0
    for ann in sorted(part.annotations, key=lambda a: a.start_index):
        if ann.type == "file_citation":
            index = ann.start_index - removed
            text = text[:index] + text[index + len(ann.text) :]
            removed += len(ann.text)
            annotations.append(
                {"type": "file_citation", "file_id": ann.file_id, "filename": ann.filename, "index": index}
            )
        else:  # file_path: a link into the code interpreter's sandbox
            start = ann.start_index - removed
            annotations.append(
                {
                    "type": "container_file_citation",
                    "container_id": container_id,
                    "file_id": ann.file_id,
                    "start_index": start,
                    "end_index": start + len(ann.text),
                    "filename": ann.text.rsplit("/", 1)[-1],
                }
            )
    return {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}


def output_items(
    plan: Plan, *, prompt: str, container_id: str, message_status: str = "completed"
) -> list[dict[str, Any]]:
    """The Responses ``output`` for a plan: tool-call items first, then the assistant messages."""
    if plan.tool_calls:
        return [
            {
                "type": "function_call",
                "id": long_id("fc"),
                "call_id": new_id("call"),
                "name": name,
                "arguments": args if isinstance(args, str) else json.dumps(args),
                "status": "completed",
            }
            for name, args in plan.tool_calls
        ]
    parts = [p for message in plan.messages for p in message]
    items: list[dict[str, Any]] = []
    for query, hits in plan.searches:  # a real file search: the ranked chunks it read
        items.append(
            {
                "type": "file_search_call",
                "id": long_id("fs"),
                "status": "completed",
                "queries": [query],
                "results": [
                    {
                        "file_id": h.file_id,
                        "filename": h.filename,
                        "text": h.text,
                        "score": h.score,
                        "attributes": dict(h.attributes),
                    }
                    for h in hits
                ],
            }
        )
    if not plan.searches and any(a.type == "file_citation" for p in parts for a in p.annotations):
        results: list[dict[str, Any]] = []  # the scripted [[citations]]: files that do not exist
        for ann in (a for p in parts for a in p.annotations if a.type == "file_citation"):
            if all(r["file_id"] != ann.file_id for r in results):
                results.append(
                    {
                        "file_id": ann.file_id,
                        "filename": ann.filename,
                        "text": ann.quote,
                        "score": round(0.92 - 0.1 * len(results), 2),
                        "attributes": {},
                    }
                )
        items.append(
            {
                "type": "file_search_call",
                "id": long_id("fs"),
                "status": "completed",
                "queries": [strip_tags(prompt)],
                "results": results,
            }
        )
    if any(p.kind == "image_file" or any(a.type == "file_path" for a in p.annotations) for p in parts):
        items.append(
            {
                "type": "code_interpreter_call",
                "id": long_id("ci"),
                "status": "completed",
                "container_id": container_id,
                "code": _CHART_CODE,
                "outputs": [
                    {"type": "image", "url": f"/v1/containers/{container_id}/files/{p.file_id}/content"}
                    for p in parts
                    if p.kind == "image_file"
                ],
            }
        )
    for message in plan.messages:
        content = [_output_text(p, container_id) for p in message if p.kind == "text"]
        if content:
            items.append(
                {
                    "type": "message",
                    "id": long_id("msg"),
                    "status": message_status,
                    "role": "assistant",
                    "content": content,
                }
            )
    return items


# Item fields the API leaves null unless the request's ``include`` names them.
INCLUDABLE = {
    "file_search_call": ("results", "file_search_call.results"),
    "code_interpreter_call": ("outputs", "code_interpreter_call.outputs"),
}
INCLUDE_VALUES = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)


def parse_include(value: Any, param: str = "include") -> frozenset[str]:
    """``include`` from a body (a list) or a query (``include`` / ``include[]``, one value kept)."""
    if value is None:
        return frozenset()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list):
        raise invalid_type(param, "an array of strings", values)
    for v in values:
        if v not in INCLUDE_VALUES:
            raise invalid_value(param, v, INCLUDE_VALUES)
    return frozenset(values)


def query_include(query: dict[str, str]) -> frozenset[str]:
    return parse_include([query[k] for k in ("include", "include[]") if k in query])


def render(items: list[dict[str, Any]], include: frozenset[str]) -> list[dict[str, Any]]:
    """Items as a reply shows them: search results and code outputs only when included."""
    shown = []
    for item in items:
        rule = INCLUDABLE.get(item.get("type", ""))
        shown.append({**item, rule[0]: None} if rule and rule[1] not in include else item)
    return shown


def truncate_output(items: list[dict[str, Any]], max_chars: int) -> list[dict[str, Any]]:
    """The output cut to ``max_chars`` characters of text (what ``max_output_tokens`` leaves)."""
    left = max_chars
    cut: list[dict[str, Any]] = []
    for item in items:
        if item["type"] != "message":
            cut.append(item)
            continue
        content = []
        for part in item["content"]:
            if left <= 0:
                break
            text = part["text"][:left]
            left -= len(text)
            annotations = [a for a in part["annotations"] if a.get("index", a.get("end_index", 0)) <= len(text)]
            content.append({**part, "text": text, "annotations": annotations})
        if content:
            cut.append({**item, "status": "incomplete", "content": content})
    return cut


def usage(input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached_tokens, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def output_text_of(items: list[dict[str, Any]]) -> str:
    return "".join(
        p.get("text", "")
        for i in items
        if i.get("type") == "message"
        for p in i.get("content", [])
        if p.get("type") == "output_text"
    )
