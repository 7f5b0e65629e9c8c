"""Find the JSON in an assistant's answer: plain JSON, a fenced ```json block, or JSON in prose.

``extract_json(text)`` is best effort: the parsed value, or the text unchanged when it holds
no JSON object or array. ``extract_json(text, strict=True)`` (structured output) raises
:class:`~keep_openaiassistant.errors.ResponseFormatError` with the text attached.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import ResponseFormatError

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|jsonc)?[ \t]*\r?\n(.*?)\r?\n?[ \t]*```", re.DOTALL)
_decoder = json.JSONDecoder()


def find_json(text: str) -> tuple[bool, Any]:
    """(True, value) for the first JSON object/array found, else (False, None)."""
    stripped = text.strip()
    if not stripped:
        return False, None
    try:
        return True, json.loads(stripped)
    except ValueError:
        pass
    for block in _FENCE.findall(text):
        try:
            return True, json.loads(block.strip())
        except ValueError:
            continue
    # JSON inside prose: try each '{' or '[' in turn and take the first complete value.
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _end = _decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if (isinstance(value, dict) and value) or (isinstance(value, list) and not _reference_like(value)):
            return True, value
    return False, None


def _reference_like(value: list[Any]) -> bool:
    """[1] or [2, 3] in prose are citation references or list markers, not the answer's JSON."""
    return not value or all(isinstance(item, (int, float)) for item in value)


def extract_json(text: str, *, strict: bool = False, thread_id: str | None = None, run_id: str | None = None) -> Any:
    found, value = find_json(text)
    if found:
        return value
    if strict:
        preview = text if len(text) <= 500 else text[:500] + "…"
        raise ResponseFormatError(
            f"The answer is not valid JSON although structured output was required: {preview!r}. "
            "What to do: check structured_output_format (a JSON schema) and the assistant's instructions.",
            text=text,
            thread_id=thread_id,
            run_id=run_id,
        )
    return text
