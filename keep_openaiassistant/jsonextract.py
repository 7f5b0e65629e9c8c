"""Is the assistant's answer JSON? The rule behind ``parse_json``, in linear time.

An answer **is** JSON when, after stripping surrounding whitespace, it has one of three forms;
anything else is text, however much JSON it quotes:

1. **whole**: the text is one JSON object or array::

       {"severity": "high"}                     -> {"severity": "high"}
       [1, 2]\\n\\n                               -> [1, 2]

2. **fenced**: the text holds exactly one ``` fence pair; the opening fence starts a line and
   names no language or ``json``/``jsonc`` (any case); the block is one JSON object or array.
   Around the block there may be a *lead-in* (at most 2 non-empty lines, at most 200
   characters) and, after the closing fence, a *closing remark* (1 line, at most 120
   characters)::

       Here is the triage:\\n```json\\n{"severity": "high"}\\n```        -> {"severity": "high"}
       Here is the triage:\\n```json\\n{...}\\n```\\nAsk me for details.  -> {...}
       ```python\\nprint(1)\\n```                                     -> text (not JSON)
       ```json\\n{...}\\n```\\nand a second block:\\n```json\\n{...}\\n``` -> text (two blocks)
       ```json\\n{...}\\n```\\nThe root cause is ... (two lines more)    -> text (prose after it)

3. **framed**: a lead-in as above, then a JSON object or array that starts a line and runs to
   the end of the text (no closing remark: without a fence nothing marks where the answer's
   JSON ends and its prose begins)::

       Here is the triage:\\n{"severity": "high"}   -> {"severity": "high"}

Text, not JSON: a sentence with JSON in it (``The deploys were [{"id": 1}] and ...``), JSON
followed by prose, a lead-in longer than two lines or 200 characters, two fenced blocks, JSON
with ``NaN``/``Infinity`` (Keep stores results as JSON; those are not JSON), JSON nested deeper
than :data:`MAX_DEPTH` levels, and — for ``parse_json`` — a bare scalar (``42``, ``"ok"``,
``true``, ``null``): a one-word answer stays the text the assistant wrote.

With ``scalars=True`` (structured output, where the schema decides what is allowed) the whole
text and a fenced block may also be a JSON string, number, boolean or null. An answer cut off
before its closing fence (```` ```json ```` line, then JSON to the end) is framed JSON.

``find_json(text, *, scalars=False)`` gives :class:`Found` (value, form) or :class:`NotFound`
(the reason, for error messages); ``extract_json(text)`` the value or the text unchanged;
``extract_json(text, strict=True)`` raises :class:`~.errors.ResponseFormatError` (text attached)
instead of returning text. :mod:`.answer` builds the step's ``response`` on these.

Cost: at most three JSON decodes of the text (one per candidate start: the text itself, the
start of its second and third non-empty lines) plus one of the fenced block, each a single
pass of the C decoder; no search "at every ``{``" (1 MB: ~15 ms for a JSON array of 25,000
objects, under 2 ms for prose or ``"{" * 500000``). Deep nesting is caught: the decoder's
``RecursionError`` (depth ~1,000) and any value deeper than :data:`MAX_DEPTH` (measured
without recursion) mean "not JSON" — jsonschema, Keep's own JSON encoding and templates
recurse over the value, so an answer nested hundreds of levels deep must not reach them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ResponseFormatError

#: Deeper answers are not JSON for a workflow step (and strict mode refuses them).
MAX_DEPTH = 64
#: The lead-in before the JSON: at most this many characters (whitespace-stripped) ...
LEAD_IN_CHARS = 200
#: ... in at most this many non-empty lines.
LEAD_IN_LINES = 2
#: A closing remark after a fenced block: one line of at most this many characters.
REMARK_CHARS = 120
#: Fence info strings that announce JSON (compared in lower case); "" is a bare fence.
JSON_FENCES = frozenset({"", "json", "jsonc"})
#: How much of the answer an error message quotes.
PREVIEW_CHARS = 200

_FENCE = "```"
# The first character of a JSON value (objects, arrays, strings, numbers, true/false/null).
_VALUE_STARTS = '[{"-0123456789tfn'
# A line (after the first) that starts with '{' or '[': where framed JSON may begin.
_LINE_STARTS_JSON = re.compile(r"\n[ \t]*([\[{])")
# How far into the text a framed JSON's start is looked for (a lead-in of 200 characters plus
# generous room for blank lines and indentation).
_HEAD = 4 * LEAD_IN_CHARS


class _Constant(ValueError):
    """NaN, Infinity or -Infinity: Python's json accepts them, JSON does not."""


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


@dataclass(frozen=True)
class Found:
    """The answer is JSON: ``value``, in ``form`` (see the module's docstring)."""

    value: Any
    form: Literal["whole", "fenced", "framed"]


@dataclass(frozen=True)
class NotFound:
    """The answer is not JSON; ``reason`` says why, as a phrase ("it is prose, ...")."""

    reason: str


class _NotJSON(Exception):
    """``reason``: a predicate ("is not valid JSON (...)") for "it" or "its fenced block"."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def find_json(text: str, *, scalars: bool = False) -> Found | NotFound:
    """Whether ``text`` is JSON by the module's rule; never raises, linear in ``len(text)``."""
    s = text.strip()
    if not s:
        return NotFound("it is empty")
    reasons: list[str] = []
    if s[0] in (_VALUE_STARTS if scalars else "[{"):
        try:
            return Found(_decode_all(s, 0, scalars=scalars), "whole")
        except _NotJSON as exc:
            reasons.append(f"it {exc.reason}")
    if _FENCE in s:
        fenced = _fenced(s, scalars=scalars)
        if isinstance(fenced, Found):
            return fenced
        reasons.append(fenced.reason)
    for start in _framed_starts(s):
        try:
            return Found(_decode_all(s, start, scalars=False), "framed")
        except _NotJSON as exc:
            reasons.append(f"the JSON after its lead-in {exc.reason}")
    return NotFound(reasons[0] if reasons else "it is text, not JSON")


def extract_json(text: str, *, strict: bool = False, thread_id: str | None = None, run_id: str | None = None) -> Any:
    """The parsed JSON when ``text`` is JSON (objects and arrays), else ``text`` unchanged.

    ``strict=True`` (structured output): any JSON value counts, and an answer that is not JSON
    raises :class:`ResponseFormatError` with the text attached.
    """
    found = find_json(text, scalars=strict)
    if isinstance(found, Found):
        return found.value
    if strict:
        raise not_json_error(text, found.reason, thread_id=thread_id, run_id=run_id)
    return text


def not_json_error(
    text: str, reason: str, *, thread_id: str | None, run_id: str | None, wanted: str = "JSON"
) -> ResponseFormatError:
    """The error for an answer that structured output required to be ``wanted`` and is not."""
    return ResponseFormatError(
        f"The answer{where(thread_id, run_id)} is not {wanted} although structured_output_format requires it "
        f"({reason}): {preview(text)}. What to do: check structured_output_format (a JSON schema) "
        "and tell the assistant to answer with JSON only (its instructions or the prompt).",
        text=text,
        thread_id=thread_id,
        run_id=run_id,
    )


def preview(text: str) -> str:
    """``repr`` of the answer's first :data:`PREVIEW_CHARS` characters, '…' marking a cut."""
    text = text.strip()
    return repr(text) if len(text) <= PREVIEW_CHARS else repr(text[:PREVIEW_CHARS] + "…")


def where(thread_id: str | None, run_id: str | None) -> str:
    """' (thread t, run r)' or '' — for composing messages."""
    parts = [f"thread {thread_id}" if thread_id else "", f"run {run_id}" if run_id else ""]
    parts = [p for p in parts if p]
    return f" ({', '.join(parts)})" if parts else ""


# -- the forms ------------------------------------------------------------------------------------


def _fenced(s: str, *, scalars: bool) -> Found | NotFound:
    if s.count(_FENCE) != 2:
        return NotFound("it holds more than one fenced block" if s.count(_FENCE) > 2 else "its fence is not closed")
    opening = s.find(_FENCE)
    closing = s.rfind(_FENCE)
    line_start = s.rfind("\n", 0, opening) + 1
    info_end = s.find("\n", opening)
    if s[line_start:opening].strip() or info_end < 0 or info_end > closing:
        return NotFound("it is prose with an inline code span, not a fenced block")
    info = s[opening + len(_FENCE) : info_end].strip().lower()
    if info not in JSON_FENCES:
        return NotFound(f"its fenced block is {info[:20]!r}, not JSON")
    remark = s[closing + len(_FENCE) :]
    closing_line_end = remark.find("\n")
    if remark[: closing_line_end if closing_line_end >= 0 else len(remark)].strip():
        return NotFound("text follows the closing fence on its line")
    if not _is_lead_in(s[:line_start]):
        return NotFound("it is prose around a fenced block, more than a short lead-in")
    remark = remark.strip()
    if "\n" in remark or len(remark) > REMARK_CHARS:
        return NotFound("it is a fenced block followed by prose, more than a closing remark")
    try:
        value = _decode_all(s[info_end + 1 : closing].strip(), 0, scalars=scalars)
    except _NotJSON as exc:
        return NotFound(f"its fenced block {exc.reason}")
    return Found(value, "fenced")


def _framed_starts(s: str) -> list[int]:
    """Where framed JSON may start: a line after a lead-in, at most 2 lines and 200 characters."""
    starts = []
    for match in _LINE_STARTS_JSON.finditer(s, 0, _HEAD):
        lead = s[: match.start(1)]
        if not _is_lead_in(lead):
            break  # every later line has a longer lead-in
        starts.append(match.start(1))
    return starts


def _is_lead_in(lead: str) -> bool:
    lead = lead.strip()
    if len(lead) > LEAD_IN_CHARS:
        return False
    return sum(1 for line in lead.splitlines() if line.strip()) <= LEAD_IN_LINES


# -- decoding -------------------------------------------------------------------------------------


def _decode_all(s: str, start: int, *, scalars: bool) -> Any:
    """The JSON value that fills ``s[start:]`` (``s`` stripped), or _NotJSON with the reason."""
    try:
        value, end = _DECODER.raw_decode(s, start)
    except RecursionError:
        raise _NotJSON(f"is nested deeper than {MAX_DEPTH} levels") from None
    except _Constant as exc:
        raise _NotJSON(f"holds {exc}, which JSON does not allow") from None
    except ValueError as exc:  # JSONDecodeError; also an integer too long to convert
        raise _NotJSON(f"is not valid JSON ({exc})") from None
    if end != len(s):
        raise _NotJSON(f"has text after the JSON (from character {end})")
    if not scalars and not isinstance(value, (dict, list)):
        raise _NotJSON("is a single JSON value, not an object or array")
    if _brackets(s, start, end) > MAX_DEPTH and depth_exceeds(value, MAX_DEPTH):  # a bound first: C-fast
        raise _NotJSON(f"is nested deeper than {MAX_DEPTH} levels")
    return value


def _brackets(s: str, start: int, end: int) -> int:
    """An upper bound of the nesting depth of ``s[start:end]``, counted in C."""
    return s.count("[", start, end) + s.count("{", start, end)


def depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests lists/dicts more than ``limit`` deep; level by level, no recursion."""
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, (dict, list))
        ]
        depth += 1
    return False
