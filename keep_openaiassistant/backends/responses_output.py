"""What a finished Responses response says: answer text, citations, files, calls, usage. No I/O.

Field names are the OpenAPI spec's: ``OutputMessage`` items with ``output_text`` parts
(``text``, ``annotations``); annotations ``file_citation`` {file_id, filename, index},
``container_file_citation`` {container_id, file_id, filename, start_index, end_index},
``file_path`` {file_id, index}; ``file_search_call`` items with ``results`` [{file_id, text,
filename}]; ``code_interpreter_call`` items with ``outputs`` [{type: image, url} | {type: logs}];
``function_call`` items {call_id, name, arguments}; ``compaction`` items; ``usage``
{input_tokens, input_tokens_details, output_tokens, output_tokens_details, total_tokens}.

Citations, as the Assistants backend gives them: each cited file is numbered once (``[n]``,
1-based, in order of first citation) however many sentences cite it, and the marker ``[n]``
is put into the text where the server placed the citation (Responses gives a position, not a
marker). A produced file is both in ``files`` and a ``file_path`` citation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..citations import complete
from ..results import Citation, Message, Usage
from .common import replace_markers

# cite(kind, file_id, filename, marker) -> the citation's number
Cite = Callable[[str, str, str, str], int]

_FILE_IN_URL = re.compile(r"/files/([A-Za-z0-9_-]+)(?:/content)?/?$")
_RAW_MARKER_AT = re.compile(r"【[^】]*】")


@dataclass(frozen=True)
class FunctionCall:
    call_id: str
    name: str
    arguments: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.call_id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class Output:
    text: str
    citations: tuple[Citation, ...] = ()
    files: tuple[str, ...] = ()
    function_calls: tuple[FunctionCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    # (item id, text) of each assistant message item: the thread's new messages.
    messages: tuple[tuple[str, str], ...] = ()


def read_output(response: Mapping[str, Any]) -> Output:
    """The answer of exactly this response: all message items, all text parts, in order."""
    items = [i for i in response.get("output") or [] if isinstance(i, dict)]
    quotes = _search_quotes(items)
    numbers: dict[str, int] = {}
    citations: list[Citation] = []
    files: list[str] = []
    messages: list[tuple[str, list[str]]] = []
    calls: list[FunctionCall] = []

    def cite(kind: str, file_id: str, filename: str, marker: str) -> int:
        if file_id not in numbers:
            numbers[file_id] = len(numbers) + 1
            citations.append(
                Citation(
                    index=numbers[file_id],
                    type=kind,
                    file_id=file_id,
                    filename=filename,
                    marker=marker,
                )
            )
        return numbers[file_id]

    for item in items:
        kind = item.get("type")
        if kind == "message" and item.get("role", "assistant") == "assistant":
            texts: list[str] = []
            messages.append((str(item.get("id") or ""), texts))
            for part in item.get("content") or []:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "output_text":
                    texts.append(_cited_text(str(part.get("text") or ""), part.get("annotations") or [], cite, files))
                elif part.get("type") == "refusal":
                    texts.append(str(part.get("refusal") or ""))
        elif kind == "function_call":
            calls.append(
                FunctionCall(
                    str(item.get("call_id") or item.get("id") or ""),
                    str(item.get("name") or ""),
                    str(item.get("arguments") or ""),
                )
            )
        elif kind == "code_interpreter_call":
            for out in item.get("outputs") or []:
                found = _FILE_IN_URL.search(str(out.get("url") or "")) if isinstance(out, dict) else None
                if found and found.group(1) not in files:
                    files.append(found.group(1))
    rendered = tuple((item_id, replace_markers("\n\n".join(texts), citations)) for item_id, texts in messages)
    text = replace_markers("\n\n".join(t for _, texts in messages for t in texts), citations)
    cited = complete(citations, text, quotes)
    return Output(text, cited, tuple(files), tuple(calls), usage_of(response), rendered)


def _cited_text(text: str, annotations: Iterable[Any], cite: Cite, files: list[str]) -> str:
    """The part's text with ``[n]`` at each citation's position (raw 【…】 markers left to replace_markers)."""
    inserts: list[tuple[int, str]] = []
    for ann in annotations:
        if not isinstance(ann, dict) or not ann.get("file_id"):
            continue
        kind, file_id, filename = ann.get("type"), str(ann["file_id"]), str(ann.get("filename") or "")
        if kind == "file_citation":
            at = _position(ann.get("index"), text)
            raw = _RAW_MARKER_AT.match(text, at) if at is not None else None
            n = cite("file_citation", file_id, filename, raw.group(0) if raw else "")
            if at is not None and not raw:
                inserts.append((at, f"[{n}]"))
        elif kind in ("container_file_citation", "file_path"):
            start, end = ann.get("start_index"), ann.get("end_index")
            marker = text[start:end] if isinstance(start, int) and isinstance(end, int) and end > start else ""
            if file_id not in files:
                files.append(file_id)
            n = cite("file_path", file_id, filename or marker.rsplit("/", 1)[-1], marker)
            if not marker and isinstance(ann.get("index"), int):
                at = _position(ann.get("index"), text)
                if at is not None:
                    inserts.append((at, f"[{n}]"))
    seen: set[tuple[int, str]] = set()
    for at, tag in sorted(inserts, key=lambda x: x[0], reverse=True):
        if (at, tag) in seen or text[at : at + len(tag)] == tag:
            continue
        seen.add((at, tag))
        text = text[:at] + tag + text[at:]
    return text


def _position(index: Any, text: str) -> int | None:
    return min(max(index, 0), len(text)) if isinstance(index, int) else None


def _search_quotes(items: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """file_id -> (filename, the passages file search retrieved from it, best first) (needs
    include=file_search_call.results); the citation's quote is chosen among them."""
    quotes: dict[str, tuple[str, str]] = {}
    for item in items:
        if item.get("type") == "file_search_call":
            for result in item.get("results") or []:
                if isinstance(result, dict) and result.get("file_id") and result.get("text"):
                    name, text = quotes.get(str(result["file_id"]), (str(result.get("filename") or ""), ""))
                    quotes[str(result["file_id"])] = (name, f"{text}\n{result['text']}".strip())
    return quotes


def usage_of(response: Mapping[str, Any]) -> Usage:
    """``usage`` of one response: ``ResponseUsage`` {input_tokens, input_tokens_details
    {cached_tokens, cache_write_tokens}, output_tokens, output_tokens_details {reasoning_tokens},
    total_tokens}; what a server leaves out counts 0. A response without usage still counts as
    one request."""
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return Usage(requests=1)
    prompt = _count(usage.get("input_tokens"))
    completion = _count(usage.get("output_tokens"))
    total = _count(usage.get("total_tokens")) or prompt + completion
    inputs = usage.get("input_tokens_details")
    outputs = usage.get("output_tokens_details")
    inputs = inputs if isinstance(inputs, dict) else {}
    outputs = outputs if isinstance(outputs, dict) else {}
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        input_tokens=prompt,
        output_tokens=completion,
        cached_input_tokens=_count(inputs.get("cached_tokens")),
        cache_write_tokens=_count(inputs.get("cache_write_tokens")),
        reasoning_tokens=_count(outputs.get("reasoning_tokens")),
        requests=1,
    )


def _count(value: Any) -> int:
    """A token count as the server gave it; anything but a non-negative whole number is 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def add_usage(a: Usage, b: Usage) -> Usage:
    return a.plus(b)


def compacted(response: Mapping[str, Any]) -> bool:
    """The server compacted the thread for this response (``context_management``): a
    ``compaction`` item in its output."""
    return any(isinstance(i, dict) and i.get("type") == "compaction" for i in response.get("output") or [])


def conversation_messages(items: Iterable[Any]) -> tuple[Message, ...]:
    """Conversation items (oldest first) -> the thread's user/assistant messages with their text."""
    messages: list[Message] = []
    for item in items:
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            continue
        role = str(item.get("role") or "")
        if role not in ("user", "assistant"):
            continue
        messages.append(Message(role=role, content=message_text(item.get("content")), id=str(item.get("id") or "")))
    return tuple(messages)


def message_text(content: Any) -> str:
    """A message item's text: a plain string, or its text-bearing parts joined."""
    if isinstance(content, str):
        return content
    texts = []
    for part in content or []:
        if isinstance(part, dict):
            value = part.get("text") if part.get("type") != "refusal" else part.get("refusal")
            if isinstance(value, str):
                texts.append(value)
    return "\n\n".join(texts)
