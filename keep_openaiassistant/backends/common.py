"""Helpers both backends share: the step's ``response``, tool outputs, citation markers.

``check_format`` and ``normalize_format`` are :mod:`..answer`'s, re-exported for the backends.

Pure functions, no I/O: what turns a server's answer into the contract's result must not
depend on which API produced it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .. import errors
from ..answer import check_format, normalize_format, parse_answer
from ..results import Citation

if TYPE_CHECKING:
    from ..question import Question

# The file-search marker the Assistants API leaves in text: 【4:0†runbook.md】 (also seen
# with ASCII brackets or without the filename).
_RAW_MARKER = re.compile(r"【\d+(?::\d+)?(?:†([^】]*))?】")
_STRAY_MARKER = re.compile(r"([ \t]?)【\d+(?::\d+)?(?:†([^】]*))?】")


def build_response(text: str, question: Question, *, thread_id: str | None, run_id: str | None) -> Any:
    """The contract's ``response`` for this question's answer (see :func:`..answer.parse_answer`)."""
    return parse_answer(
        text,
        parse_json=question.parse_json,
        structured_output_format=question.structured_output_format,
        thread_id=thread_id,
        run_id=run_id,
    )


def tool_output_text(value: Any) -> str:
    """A function call's output as the APIs take it: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def pending_calls_answerable(tool_outputs: Mapping[str, Any] | None, names: Iterable[str]) -> bool:
    """True when ``tool_outputs`` (by function name) has an answer for every pending call.

    An empty list of calls is not answerable: there is nothing to submit, and a run asking for
    nothing is a server bug we should surface, not paper over.
    """
    wanted = list(names)
    return bool(wanted) and bool(tool_outputs) and all(name in tool_outputs for name in wanted)  # type: ignore[operator]


def marker_filename(marker: str) -> str:
    """'【4:0†runbook.md】' -> 'runbook.md'; 'sandbox:/mnt/data/chart.png' -> 'chart.png'; else ''."""
    found = _RAW_MARKER.fullmatch(marker.strip())
    if found:
        return (found.group(1) or "").strip()
    if marker.startswith("sandbox:"):
        return marker.rsplit("/", 1)[-1]
    return ""


def replace_markers(text: str, citations: Iterable[Citation]) -> str:
    """Replace each citation's raw marker in ``text`` by ``[n]`` (n = ``Citation.index``).

    - ``【4:0†runbook.md】`` -> ``[1]``;
    - a markdown link to a produced file, ``[chart](sandbox:/mnt/data/x.png)``, -> ``chart [2]``
      (the link only works inside OpenAI's sandbox; the file id is in ``citations``/``files``);
    - markers the server left without an annotation become ``[n]`` when their filename matches
      a citation, and are dropped otherwise — a raw 【…】 helps no reader of a Keep alert.

    Citations with an empty marker (the Responses API gives positions, not markers) are skipped.
    """
    cites = [c for c in citations if c.marker]
    for cite in cites:
        tag = f"[{cite.index}]"
        link = re.compile(r"\[([^\]]*)\]\(" + re.escape(cite.marker) + r"\)")
        text = link.sub(lambda m: f"{m.group(1)} {tag}" if m.group(1) else tag, text)  # noqa: B023 - used at once
        text = text.replace(cite.marker, tag)
    by_name = {c.filename: c.index for c in cites if c.filename}

    def stray(match: re.Match[str]) -> str:
        index = by_name.get((match.group(2) or "").strip())
        return f"{match.group(1)}[{index}]" if index is not None else ""

    return _STRAY_MARKER.sub(stray, text)


_FAILED_ADVICE: Mapping[str, str] = {
    "rate_limit_exceeded": "the key's quota or rate limit is exhausted; check billing and limits, then retry",
    "server_error": "the server failed; retry the step (Keep: on-failure retry)",
    "invalid_prompt": "the prompt was refused; rephrase it or check the {subject}'s instructions",
}
_INCOMPLETE_ADVICE: Mapping[str, str] = {
    "max_completion_tokens": "raise the {subject}'s token limits or ask for a shorter answer",
    "max_prompt_tokens": "raise the {subject}'s token limits or start a new thread (the history is too long)",
    "max_output_tokens": "the answer hit the output token limit; ask for a shorter answer",
    "content_filter": "the content filter stopped the answer; rephrase the prompt",
}
_RUN_WORDS = {"run": ("run", "assistant"), "response": ("response", "profile")}


def ending_error(
    status: str,
    *,
    kind: str,
    where: str,
    ids: Mapping[str, Any],
    error: Mapping[str, Any] | None = None,
    reason: str | None = None,
    partial_text: str = "",
) -> errors.RunError | None:
    """The error for a run (``kind="run"``) or response (``"response"``) that ended without an
    answer, or None when it completed. One class per terminal status; the message names the ids
    (``where``) and says what to do. ``error`` is the server's last_error / error object."""
    noun, subject = _RUN_WORDS[kind]
    if status == "completed":
        return None
    if status == "failed":
        code = (error or {}).get("code")
        detail = (error or {}).get("message")
        advice = _FAILED_ADVICE.get(
            str(code), "retry the step; if it keeps failing, check the {subject} and the prompt"
        )
        return errors.RunFailedError(
            f"The {noun} failed{where}: {code or 'unknown error'}: {_sentence(detail or 'no detail')} "
            f"What to do: {advice.format(subject=subject)}.",
            code=code,
            detail=detail,
            **ids,
        )
    if status == "incomplete":
        advice = _INCOMPLETE_ADVICE.get(str(reason), "retry the step, or ask for a shorter answer")
        return errors.RunIncompleteError(
            f"The {noun} stopped before finishing its answer{where}: {reason or 'no reason given'}. The partial "
            f"answer is attached. What to do: {advice.format(subject=subject)}.",
            reason=reason,
            partial_text=partial_text,
            **ids,
        )
    if status == "expired":
        return errors.RunExpiredError(
            f"The server expired the {noun}{where} (Assistants runs expire 10 minutes after creation). "
            "What to do: retry the step; answer function calls quickly (tool_outputs).",
            **ids,
        )
    if status == "cancelled":
        return errors.RunCancelledError(
            f"The {noun} was cancelled by someone else (another client or the server){where}. "
            "What to do: retry the step.",
            **ids,
        )
    return errors.RunError(
        f"The {noun} ended with unexpected status {status!r}{where}. What to do: retry the step.", status=status, **ids
    )


def _sentence(text: str) -> str:
    """``text`` ending with one full stop (server messages come with or without one)."""
    text = str(text).strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def refuses_streaming(error: errors.AssistantError) -> bool:
    """True for a 400 saying the server (or a proxy in front of it) does not support ``stream``."""
    if not isinstance(error, errors.InvalidRequestError):
        return False
    text = error.message.lower()
    return "stream" in text and (
        error.code in ("unsupported_parameter", "unsupported_value") or "not supported" in text or "unsupported" in text
    )


__all__ = [
    "build_response",
    "check_format",
    "ending_error",
    "normalize_format",
    "pending_calls_answerable",
    "refuses_streaming",
    "replace_markers",
    "tool_output_text",
]
