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
    """Token usage of the step: every request it made (function-call rounds included), summed.

    ``prompt_tokens``/``completion_tokens``/``total_tokens`` are the contract's names (the
    Assistants API's); the Responses API's ``input_tokens``/``output_tokens`` are the same
    counts under its own names, with the details it reports (zero where a server does not):
    input tokens read from the prompt cache, written to it, and output tokens spent reasoning.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    #: How many responses (or runs) the counts add up.
    requests: int = 0

    def plus(self, other: Usage) -> Usage:
        """Both usages summed, field by field."""
        return Usage(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(Usage)})


@dataclass(frozen=True)
class Context:
    """What the server did to fit a long thread into the model's context window (Responses).

    ``truncation``: the mode the server applied (``auto``: it may drop the oldest items;
    ``disabled``; "" when it did not say). ``truncated``: the thread outgrew the window and the
    step went on with ``truncation: auto`` (the server dropped its oldest items). ``compacted``:
    the server compacted the thread (a ``compaction`` item in the output).
    """

    truncation: str = ""
    truncated: bool = False
    compacted: bool = False


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
    context: Context = field(default_factory=Context)

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
            # The ids waiting for a person, comma-separated: what a later step's ``approve`` takes as it is
            # (Keep's enrich_alert can store a string on the alert, not an item of a list).
            "pending_call_ids": ",".join(str(c["id"]) for c in self.pending_calls if c.get("needs_approval")),
            "assistant_id": self.assistant_id,
            "model": self.model,
            "context": dataclasses.asdict(self.context),
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
