"""Reading the Assistants API's answers: run endings, error replies, message content.

Pure functions over the wire's plain dicts (field names from OpenAI's OpenAPI spec:
RunObject, MessageObject, MessageContentTextAnnotations*), no I/O, so that every way a run
can end and every shape of content is tested without a server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import openai

from .. import errors
from ..results import Citation
from .common import ending_error, marker_filename, replace_markers

#: Where the Assistants API is gone since 2026-08-26: OpenAI itself, and Azure OpenAI (same day).
SHUTDOWN_HOSTS = frozenset({"api.openai.com"})
SHUTDOWN_HOST_SUFFIXES = (".openai.azure.com",)

_BUSY = re.compile(r"already has an active run (run_[A-Za-z0-9_-]+)|while a run (run_[A-Za-z0-9_-]+) is active")


def busy_run_id(error: errors.AssistantError) -> str | None:
    """The other run's id when ``error`` is the Assistants API's busy-thread 400, else None."""
    if not isinstance(error, errors.InvalidRequestError):
        return None
    found = _BUSY.search(error.message)
    return (found.group(1) or found.group(2)) if found else None


def shutdown_error(
    exc: errors.NotFoundError, *, assistant_id: str | None, openai_host: bool = True
) -> errors.AssistantsApiShutDownError:
    """The 404 of a server where the Assistants API is not served (any more), explained.

    ``openai_host``: the server is OpenAI's (or Azure's), which shut the API down on 2026-08-26;
    otherwise it is a proxy or a compatible server whose routes do not include it.
    """
    if openai_host:
        what = (
            "OpenAI shut the Assistants API down on 2026-08-26 (Azure OpenAI the same day): its endpoints answer "
            f"HTTP 404 (assistant {assistant_id or '?'}){exc.where()}."
        )
    else:
        what = (
            f"The server does not serve the Assistants API: {exc.message.split(' What to do:')[0].rstrip('.')} "
            "(a 404 that is not the API's own 'no such object' answer)."
        )
    return errors.AssistantsApiShutDownError(
        f"{what} What to do: switch this provider to the "
        "Responses API — set `api: responses` (or clear `assistant_id` and leave `api` on auto), copy the "
        "assistant's model and instructions into `model` and `instructions`, its vector store ids (file_search "
        "tool resources) into `vector_store_ids`, and turn `code_interpreter` on if the assistant had that tool. "
        "Threads do not carry over: start new conversations. See docs/migration.md.",
        status_code=exc.status_code,
        request_id=exc.request_id,
        code=exc.code,
        thread_id=exc.thread_id,
        run_id=exc.run_id,
    )


def is_openai_host(client: openai.OpenAI) -> bool:
    """True when ``client`` talks to OpenAI (or Azure OpenAI), where the Assistants API is gone."""
    host = str(getattr(client.base_url, "host", "")).lower()
    return host in SHUTDOWN_HOSTS or host.endswith(SHUTDOWN_HOST_SUFFIXES)


def render(messages: list[dict[str, Any]]) -> tuple[str, list[Citation], list[str]]:
    """Text, citations and produced files of ``messages`` (message objects, in order).

    Text parts are joined with blank lines; each distinct annotation becomes one
    :class:`Citation` numbered from 1 and its marker in the text becomes ``[n]``; image_file
    parts and file_path annotations name the produced ``files``.
    """
    texts: list[str] = []
    citations: list[Citation] = []
    seen: dict[tuple[str, str, str], int] = {}
    files: list[str] = []
    for message in messages:
        for part in message.get("content") or []:
            kind = part.get("type")
            if kind == "image_file":
                file_id = (part.get("image_file") or {}).get("file_id")
                if file_id and file_id not in files:
                    files.append(file_id)
            elif kind == "refusal" and part.get("refusal"):
                texts.append(str(part["refusal"]))
            elif kind == "text":
                text = part.get("text") or {}
                for ann in text.get("annotations") or []:
                    cite = _citation(ann, len(citations) + 1)
                    if cite is None:
                        continue
                    key = (cite.type, cite.file_id, cite.marker)
                    if key not in seen:
                        seen[key] = cite.index
                        citations.append(cite)
                    if cite.type == "file_path" and cite.file_id not in files:
                        files.append(cite.file_id)
                if text.get("value"):
                    texts.append(str(text["value"]))
    joined = "\n\n".join(texts)
    return replace_markers(joined, citations), citations, files


def _citation(ann: Mapping[str, Any], index: int) -> Citation | None:
    kind = str(ann.get("type") or "")
    if kind not in ("file_citation", "file_path"):
        return None
    detail = ann.get(kind) or {}
    file_id = str(detail.get("file_id") or "")
    if not file_id:
        return None
    marker = str(ann.get("text") or "")
    filename = str(detail.get("filename") or ann.get("filename") or marker_filename(marker))
    return Citation(
        index=index, type=kind, file_id=file_id, quote=str(detail.get("quote") or ""), filename=filename, marker=marker
    )


#: The run-steps ``include[]`` that makes file search results carry the text they retrieved.
FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def search_passages(steps: list[Any]) -> dict[str, tuple[str, str]]:
    """file id -> (file name, the text file search retrieved from it) over a run's steps
    (``RunStepDetailsToolCallsFileSearchObject`` results, listed with :data:`FILE_SEARCH_CONTENT`)."""
    found: dict[str, tuple[str, str]] = {}
    for step in steps:
        details = step.get("step_details") if isinstance(step, dict) else None
        for call in (details or {}).get("tool_calls") or []:
            if not isinstance(call, dict) or call.get("type") != "file_search":
                continue
            for result in (call.get("file_search") or {}).get("results") or []:
                if not isinstance(result, dict) or not result.get("file_id"):
                    continue
                text = "\n".join(
                    str(c.get("text") or "") for c in result.get("content") or [] if isinstance(c, dict)
                )  # fmt: skip
                name, before = found.get(str(result["file_id"]), (str(result.get("file_name") or ""), ""))
                found[str(result["file_id"])] = (name, f"{before}\n{text}".strip())
    return found


def ended_error(run: Mapping[str, Any], *, partial_text: str = "") -> errors.RunError | None:
    """The error for a run that ended without an answer, or None when it completed."""
    ids = {"thread_id": run.get("thread_id"), "run_id": run.get("id")}
    return ending_error(
        str(run.get("status") or ""),
        kind="run",
        where=f" (thread {ids['thread_id']}, run {ids['run_id']})",
        ids=ids,
        error=run.get("last_error"),
        reason=(run.get("incomplete_details") or {}).get("reason"),
        partial_text=partial_text,
    )
