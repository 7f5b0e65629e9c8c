"""Citations a reader can follow: which file, the passage it quotes, where the answer used it. Pure.

Both backends number citations ``[n]`` in the answer (:mod:`.backends.common`). This module adds
what the wire leaves out:

- ``used_in``: the sentence of the answer that carries ``[n]`` (bounded to :data:`MAX_QUOTE_CHARS`);
- ``quote``: the passage of the cited file behind it. Neither API puts it on the annotation (the
  Assistants API v2 dropped ``quote``; the Responses ``file_citation`` has only file id, filename and
  index). The passages come from the file search results — the Responses ``file_search_call``
  items when the request ``include``s ``file_search_call.results``, the Assistants run step's
  ``file_search`` results with ``include[]=...results[*].content`` — and are whole chunks (up to
  ~3,200 characters); the quote is the line or sentence of the chunk that shares most words with
  the sentence that cites it, at most :data:`MAX_QUOTE_CHARS` characters, so what Keep stores
  with every execution stays small.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

from .results import Citation

MAX_QUOTE_CHARS = 300
_WORD = re.compile(r"[a-z0-9]{3,}")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_BULLET = re.compile(r"^\s*(\d+[.)]|[-*>]|#+)\s*")


def bound(text: str, limit: int = MAX_QUOTE_CHARS) -> str:
    """``text`` on one line, cut at a word before ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def excerpt(passage: str, context: str, limit: int = MAX_QUOTE_CHARS) -> str:
    """The line or sentence of ``passage`` that shares most words with ``context`` (earliest on a tie)."""
    pieces = [_BULLET.sub("", p).strip() for p in _SENTENCE_END.split(passage)]
    pieces = [p for p in pieces if len(p) > 12] or [passage]
    wanted = _words(context)
    best = max(enumerate(pieces), key=lambda ip: (len(wanted & _words(ip[1])), -ip[0]))[1]
    return bound(best, limit)


def sentence_with(text: str, tag: str) -> str:
    """The sentence of ``text`` holding ``tag`` (``[2]``), without the tags; "" when absent."""
    at = text.find(tag)
    if at < 0:
        return ""
    starts = [m.end() for m in _SENTENCE_END.finditer(text, 0, at)]
    start = starts[-1] if starts else 0
    end_match = _SENTENCE_END.search(text, at + len(tag))
    end = end_match.start() if end_match else len(text)
    return bound(re.sub(r"\s*\[\d+\]", "", text[start:end]).strip())


def complete(
    citations: Iterable[Citation], text: str, passages: Mapping[str, tuple[str, str]] | None = None
) -> tuple[Citation, ...]:
    """Each file citation with ``used_in``, a bounded ``quote`` and its filename when known.

    ``passages``: file id -> (filename, the text file search retrieved from it). A quote the
    server gave is kept (bounded); else one is taken from the passage; else it stays "".
    """
    done = []
    for c in citations:
        if c.type != "file_citation":
            done.append(c)
            continue
        used = sentence_with(text, f"[{c.index}]")
        name, passage = (passages or {}).get(c.file_id, ("", ""))
        quote = bound(c.quote) if c.quote else (excerpt(passage, used or text) if passage else "")
        done.append(dataclasses.replace(c, quote=quote, filename=c.filename or name, used_in=used))
    return tuple(done)
