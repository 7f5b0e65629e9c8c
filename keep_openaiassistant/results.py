"""Typed, frozen results of one question to the assistant.

The engine returns an :class:`AskResult`; the Keep adapter flattens it with
:meth:`AskResult.to_dict` into the JSON-serialisable dict of the contract.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Usage:
    """Token usage of this run (Responses' input/output tokens are mapped to these names)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class Citation:
    """A passage of the knowledge base (file_citation) or a produced file (file_path).

    ``marker`` is the text the server put in the answer (e.g. ``【4:0†runbook.md】``); the
    engine replaces it in the answer text by ``[n]`` where n is ``index``.
    """

    index: int
    type: str  # "file_citation" | "file_path"
    file_id: str
    quote: str = ""
    filename: str = ""
    marker: str = ""
    #: The sentence of the answer that cites it (with its ``[n]`` removed); "" for produced files.
    used_in: str = ""


@dataclass(frozen=True)
class Message:
    """One message of the thread, oldest first in :attr:`AskResult.messages`."""

    role: str
    content: str
    id: str = ""


@dataclass(frozen=True)
class AskResult:
    """The answer of exactly one run (or response), and where it lives."""

    text: str
    response: Any  # parsed JSON when requested and present, else ``text``
    thread_id: str
    run_id: str
    status: str
    backend: str  # "assistants" | "responses"
    messages: tuple[Message, ...] = ()
    #: True when older history was left out (or a message cut) to keep ``messages`` bounded.
    messages_truncated: bool = False
    usage: Usage = field(default_factory=Usage)
    citations: tuple[Citation, ...] = ()
    files: tuple[str, ...] = ()
    tool_calls: tuple[dict[str, Any], ...] = ()
    #: ``status == "requires_approval"``: the round's calls ({id, name, arguments, needs_approval}).
    pending_calls: tuple[dict[str, Any], ...] = ()
    assistant_id: str = ""
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The step result of the contract: plain JSON types only."""
        return {
            "response": self.response,
            "raw_response": self.text,
            "thread_id": self.thread_id,
            "run_id": self.run_id,
            "status": self.status,
            "backend": self.backend,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "messages_truncated": self.messages_truncated,
            "usage": dataclasses.asdict(self.usage),
            "citations": [dataclasses.asdict(c) for c in self.citations],
            "files": list(self.files),
            "tool_calls": [dict(c) for c in self.tool_calls],
            "pending_calls": [dict(c) for c in self.pending_calls],
            "assistant_id": self.assistant_id,
            "model": self.model,
        }


#: The marker that ends a message cut to fit the history's byte budget.
CUT_MARKER = " … [cut to keep the step result small]"


def bound_messages(messages: tuple[Message, ...], max_bytes: int) -> tuple[tuple[Message, ...], bool]:
    """The newest messages whose contents fit in ``max_bytes`` (UTF-8), oldest first, and
    whether anything was left out.

    Keep stores every step result with every execution, so the history is bounded; the answer
    itself is always in ``raw_response``. When even the newest message does not fit, its
    content is cut (at a character boundary) and ends with :data:`CUT_MARKER`.
    """
    kept: list[Message] = []
    left = max_bytes
    for message in reversed(messages):
        size = len(message.content.encode("utf-8"))
        if size <= left:
            kept.append(message)
            left -= size
            continue
        if not kept:  # the newest alone is too big: keep its beginning
            budget = max(0, left - len(CUT_MARKER.encode("utf-8")))
            head = message.content.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
            kept.append(dataclasses.replace(message, content=head + CUT_MARKER))
        return tuple(reversed(kept)), True
    return tuple(reversed(kept)), False
