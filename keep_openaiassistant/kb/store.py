"""The knowledge base's requests: Files and Vector stores over the engine's wire and waiting core.

Every request goes through :class:`~keep_openaiassistant.wire.Wire` (strict JSON, errors in the
public tree, secrets masked) and :func:`~keep_openaiassistant.waiting.with_retries` within the
command's one :class:`~keep_openaiassistant.waiting.Deadline`. Uploads are the one thing the wire
does not send: multipart bodies go through the SDK's generic ``post(..., files=...)`` here (the
same call the typed ``files.create`` makes, on every SDK from 1.37.1 to 3.x), with the SDK's
retries off and errors translated by the wire.

Shapes are OpenAI's spec: ``VectorStoreObject``, ``VectorStoreFileObject`` (``attributes``,
``last_error``), ``VectorStoreFileBatchObject``, ``VectorStoreSearchResultsPage``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import openai

from .. import errors
from ..waiting import Deadline, PollInterval, RetryPolicy, poll_until, with_retries
from ..wire import Reply, Wire, parse_body
from .manifest import LocalFile, RemoteFile

PAGE = 100
_VS_ID = re.compile(r"^vs_[A-Za-z0-9_-]+$")
_ID_IN_PATH = re.compile(r"/(vsfb|vs|file)[-_][A-Za-z0-9_-]+")


def _id_kind(match: re.Match[str]) -> str:
    """``/vs_abc`` -> ``/{vs}``: requests are counted by route, not by object."""
    return "/{" + match.group(1) + "}"


class KbError(Exception):
    """A knowledge-base command cannot go on: no such store, a folder that is not one, ...

    ``usage``: the command line is at fault (exit 2), not the server or the files (exit 1).
    """

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage

    @property
    def message(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class SearchHit:
    file_id: str
    filename: str
    score: float
    text: str
    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class Store:
    id: str
    name: str
    file_counts: Mapping[str, int]
    status: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Store:
        counts = data.get("file_counts")
        return cls(
            str(data.get("id") or ""),
            str(data.get("name") or ""),
            dict(counts) if isinstance(counts, dict) else {},
            str(data.get("status") or ""),
        )


def remote_file(data: Mapping[str, Any]) -> RemoteFile:
    error = data.get("last_error")
    reason = ""
    if isinstance(error, dict):
        reason = f"{error.get('code') or 'error'}: {error.get('message') or ''}".strip().rstrip(":")
    attributes = data.get("attributes")
    return RemoteFile(
        str(data.get("id") or ""),
        str(data.get("status") or ""),
        dict(attributes) if isinstance(attributes, dict) else {},
        reason,
    )


class KbStore:
    """One vector store's files, through ``wire``, every request within ``deadline``."""

    def __init__(
        self,
        wire: Wire,
        deadline: Deadline,
        *,
        policy: RetryPolicy | None = None,
        on_request: Callable[[str], None] | None = None,
    ) -> None:
        self.wire = wire
        self.deadline = deadline
        self.policy = policy or RetryPolicy()
        self._on_request = on_request or (lambda route: None)

    # -- plumbing -----------------------------------------------------------------------------
    def call(
        self, method: str, path: str, *, body: Mapping[str, Any] | None = None, query: Mapping[str, Any] | None = None
    ) -> Reply:
        self._on_request(f"{method} {_ID_IN_PATH.sub(_id_kind, path)}")
        return with_retries(
            lambda timeout: self.wire.call(method, path, body=body, query=query, timeout=timeout),
            deadline=self.deadline,
            policy=self.policy,
            resend="unsent" if method == "POST" else "any",
        )

    def pages(self, path: str, query: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a cursor list, page by page (``after`` = the last id)."""
        after: str | None = None
        while True:
            reply = self.call("GET", path, query={**(query or {}), "limit": PAGE, "order": "asc", "after": after})
            data = [d for d in reply.data.get("data") or [] if isinstance(d, dict)]
            yield from data
            if not reply.data.get("has_more") or not data:
                return
            after = str(data[-1].get("id") or "")

    # -- stores -------------------------------------------------------------------------------
    def find(self, ref: str, *, create: bool = False) -> Store:
        """``vs_...`` (must exist) or a name (the newest store of that name; made when ``create``)."""
        if _VS_ID.match(ref):
            try:
                return Store.from_dict(self.call("GET", f"/vector_stores/{ref}").data)
            except errors.NotFoundError:
                raise KbError(
                    f"Vector store {ref} does not exist on this server. What to do: check the id (kb ls lists the "
                    "stores), or pass a name to create one: --vector-store runbooks --create."
                ) from None
        named = [s for s in self.pages("/vector_stores") if s.get("name") == ref]
        if named:
            return Store.from_dict(max(named, key=lambda s: int(s.get("created_at") or 0)))
        if not create:
            raise KbError(
                f"No vector store is named {ref!r}. What to do: add --create to make it, or give its id (vs_...)."
            )
        return Store.from_dict(
            self.call(
                "POST", "/vector_stores", body={"name": ref, "metadata": {"managed_by": "keep-openaiassistant"}}
            ).data
        )

    def stores(self) -> list[Store]:
        return [Store.from_dict(s) for s in self.pages("/vector_stores")]

    def files(self, store_id: str) -> list[RemoteFile]:
        return [remote_file(f) for f in self.pages(f"/vector_stores/{store_id}/files")]

    def filenames(self, file_ids: list[str]) -> dict[str, str]:
        """file id -> filename, from the Files API (one GET per file)."""
        names: dict[str, str] = {}
        for file_id in file_ids:
            try:
                names[file_id] = str(self.call("GET", f"/files/{file_id}").data.get("filename") or "")
            except errors.NotFoundError:
                names[file_id] = ""
        return names

    # -- writing ------------------------------------------------------------------------------
    def upload(self, local: LocalFile) -> str:
        """``POST /files`` (multipart, purpose assistants): the new file's id."""
        data = local.full_path.read_bytes()
        name = local.path.rsplit("/", 1)[-1]
        self._on_request("POST /files")

        def attempt(timeout: float) -> str:
            sdk: Any = self.wire.client
            try:
                raw = sdk.post(
                    "/files",
                    cast_to=object,
                    body={"purpose": "assistants"},
                    files=[("file", (name, data))],
                    options={
                        "headers": {"Content-Type": "multipart/form-data", "X-Stainless-Raw-Response": "true"},
                        "max_retries": 0,
                        "timeout": openai.Timeout(max(timeout, 0.001), connect=min(5.0, max(timeout, 0.001))),
                    },
                )
                body = parse_body(raw.content, raw.headers.get("content-type", ""))
            except openai.OpenAIError as exc:
                raise self.wire.translate(exc, method="POST", path="/files") from exc
            file_id = body.get("id")
            if not isinstance(file_id, str) or not file_id:
                raise errors.MalformedResponseError("POST /files: the reply has no file id.")
            return file_id

        return with_retries(attempt, deadline=self.deadline, policy=self.policy, resend="unsent")

    def attach_batch(self, store_id: str, files: list[tuple[str, Mapping[str, Any]]]) -> str:
        """One file batch attaching ``(file id, attributes)`` pairs: the batch id."""
        body = {"files": [{"file_id": f, "attributes": dict(a)} for f, a in files]}
        reply = self.call("POST", f"/vector_stores/{store_id}/file_batches", body=body)
        return str(reply.data.get("id") or "")

    def wait_batch(self, store_id: str, batch_id: str, *, on_progress: Callable[[Mapping[str, int]], None]) -> None:
        """Poll the batch until no file is in progress (the server's poll hint honoured)."""
        path = f"/vector_stores/{store_id}/file_batches/{batch_id}"

        def done(reply: Reply) -> bool:
            counts = reply.data.get("file_counts") or {}
            on_progress(counts if isinstance(counts, dict) else {})
            return reply.data.get("status") != "in_progress"

        poll_until(
            lambda: self.call("GET", path),
            done,
            deadline=self.deadline,
            interval=PollInterval(0.05, 1.0),
            hint=lambda reply: reply.poll_after_ms,
        )

    def failed_in_batch(self, store_id: str, batch_id: str) -> list[RemoteFile]:
        path = f"/vector_stores/{store_id}/file_batches/{batch_id}/files"
        return [remote_file(f) for f in self.pages(path, {"filter": "failed"})]

    def detach(self, store_id: str, file_id: str) -> None:
        with contextlib.suppress(errors.NotFoundError):  # already gone: what we wanted
            self.call("DELETE", f"/vector_stores/{store_id}/files/{file_id}")

    def delete_file(self, file_id: str) -> None:
        with contextlib.suppress(errors.NotFoundError):
            self.call("DELETE", f"/files/{file_id}")

    def delete_store(self, store_id: str) -> None:
        self.call("DELETE", f"/vector_stores/{store_id}")

    # -- search -------------------------------------------------------------------------------
    def search(self, store_id: str, query: str, *, max_results: int = 5) -> list[SearchHit]:
        reply = self.call(
            "POST", f"/vector_stores/{store_id}/search", body={"query": query, "max_num_results": max_results}
        )
        hits = []
        for item in reply.data.get("data") or []:
            if not isinstance(item, dict):
                continue
            text = " ".join(str(c.get("text") or "") for c in item.get("content") or [] if isinstance(c, dict))
            attributes = item.get("attributes")
            hits.append(
                SearchHit(
                    str(item.get("file_id") or ""),
                    str(item.get("filename") or ""),
                    float(item.get("score") or 0.0),
                    text,
                    dict(attributes) if isinstance(attributes, dict) else {},
                )
            )
        return hits
