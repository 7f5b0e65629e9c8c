"""The emulated Vector stores API: stores, their files, file batches, and search.

| route | |
|---|---|
| ``POST/GET /v1/vector_stores``, ``GET/POST/DELETE /v1/vector_stores/{id}`` | stores (``VectorStoreObject``) |
| ``POST/GET .../files``, ``GET/POST/DELETE .../files/{file_id}`` | attach, list (``filter``), attributes, detach |
| ``GET .../files/{file_id}/content`` | the indexed text (``VectorStoreFileContentResponse``) |
| ``POST .../file_batches``, ``GET .../file_batches/{id}``, ``POST .../cancel``, ``GET .../files`` | batches |
| ``POST .../search`` | ranked chunks (``VectorStoreSearchResultsPage``) |

Indexing follows the clock (:class:`~.knowledge.Knowledge`): a new file is ``in_progress`` for
``index_time`` seconds, then ``completed`` or ``failed`` with ``last_error``. Detaching a file
(``DELETE .../files/{id}``) keeps the file itself, as OpenAI does; ``DELETE /v1/files/{id}``
deletes it.
"""

from __future__ import annotations

from typing import Any

from .common import (
    EmulatorError,
    above_maximum,
    array_too_long,
    bad_request,
    below_minimum,
    check_metadata,
    deleted,
    invalid_type,
    invalid_value,
    missing,
    new_id,
    page,
)
from .http import JsonReply, Request, Router
from .knowledge import DEFAULT_RANKER, Batch, Knowledge, StoreFile, VectorStore

MAX_ATTRIBUTES = 16
FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")
_FILTER_TYPES = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "and", "or")


def check_attributes(value: Any, param: str = "attributes") -> dict[str, Any] | None:
    """``VectorStoreFileAttributes``: at most 16 pairs, keys up to 64, values str (512) / number / bool."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    if len(value) > MAX_ATTRIBUTES:
        raise bad_request(
            f"Invalid '{param}': too many properties. Expected an object with at most {MAX_ATTRIBUTES} properties, "
            f"but got an object with {len(value)} properties instead.",
            param,
            "object_above_max_properties",
        )
    for key, item in value.items():
        if len(key) > 64:
            raise bad_request(f"Invalid '{param}': key '{key[:16]}...' is longer than 64 characters.", param)
        if not isinstance(item, str | int | float | bool):
            raise invalid_type(f"{param}.{key}", "a string, number or boolean", item)
        if isinstance(item, str) and len(item) > 512:
            raise bad_request(f"Invalid '{param}.{key}': string longer than 512 characters.", param)
    return dict(value)


def _chunking(value: Any, param: str = "chunking_strategy") -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in ("auto", "static"):
        raise invalid_value(
            f"{param}.type", (value or {}).get("type") if isinstance(value, dict) else value, ("auto", "static")
        )
    if value["type"] == "static":
        static = value.get("static")
        if not isinstance(static, dict):
            raise missing(f"{param}.static")
        size, overlap = static.get("max_chunk_size_tokens"), static.get("chunk_overlap_tokens")
        if not isinstance(size, int) or not 100 <= size <= 4096:
            raise bad_request(f"Invalid '{param}.static.max_chunk_size_tokens': expected 100 to 4096.", param)
        if not isinstance(overlap, int) or overlap < 0 or overlap > size // 2:
            raise bad_request(
                f"Invalid '{param}.static.chunk_overlap_tokens': expected 0 to half of max_chunk_size_tokens.", param
            )
    return dict(value)


def _check_filter(value: Any, param: str = "filters") -> None:
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    kind = value.get("type")
    if kind not in _FILTER_TYPES:
        raise invalid_value(f"{param}.type", kind, _FILTER_TYPES)
    if kind in ("and", "or"):
        inner = value.get("filters")
        if not isinstance(inner, list):
            raise missing(f"{param}.filters")
        for i, f in enumerate(inner):
            _check_filter(f, f"{param}.filters[{i}]")
    elif not isinstance(value.get("key"), str) or "value" not in value:
        raise missing(f"{param}.key" if not isinstance(value.get("key"), str) else f"{param}.value")


def _query_text(value: Any) -> list[str]:
    if isinstance(value, str) and value.strip():
        return [value]
    if isinstance(value, list) and value and all(isinstance(q, str) and q for q in value):
        return list(value)
    if value in (None, "", []):
        raise missing("query")
    raise invalid_type("query", "one of a string or array of strings", value)


class VectorStoresApi:
    def __init__(self, knowledge: Knowledge) -> None:
        self.k = knowledge

    def register(self, router: Router) -> None:
        base = "/v1/vector_stores"
        for method, template, handler in (
            ("POST", base, self.create),
            ("GET", base, self.list_stores),
            ("GET", base + "/{vs_id}", self.retrieve),
            ("POST", base + "/{vs_id}", self.modify),
            ("DELETE", base + "/{vs_id}", self.delete),
            ("POST", base + "/{vs_id}/search", self.search),
            ("POST", base + "/{vs_id}/files", self.attach),
            ("GET", base + "/{vs_id}/files", self.list_files),
            ("GET", base + "/{vs_id}/files/{file_id}", self.retrieve_file),
            ("POST", base + "/{vs_id}/files/{file_id}", self.update_file),
            ("DELETE", base + "/{vs_id}/files/{file_id}", self.detach),
            ("GET", base + "/{vs_id}/files/{file_id}/content", self.file_content),
            ("POST", base + "/{vs_id}/file_batches", self.create_batch),
            ("GET", base + "/{vs_id}/file_batches/{batch_id}", self.retrieve_batch),
            ("POST", base + "/{vs_id}/file_batches/{batch_id}/cancel", self.cancel_batch),
            ("GET", base + "/{vs_id}/file_batches/{batch_id}/files", self.batch_files),
        ):
            router.add(method, template, handler)

    # -- lookups (lock held) ------------------------------------------------------------------
    def _store(self, req: Request) -> VectorStore:
        found = self.k.stores.get(req.params["vs_id"])
        if found is None:
            raise EmulatorError(404, f"No vector store found with id '{req.params['vs_id']}'.")
        return self.k.advance_store(found)

    def _store_file(self, store: VectorStore, file_id: str) -> StoreFile:
        found = store.files.get(file_id)
        if found is None:
            raise EmulatorError(404, f"No file found with id '{file_id}' in vector store '{store.id}'.")
        return found

    def _batch(self, store: VectorStore, batch_id: str) -> Batch:
        found = self.k.batches.get(batch_id)
        if found is None or found.vector_store_id != store.id:
            raise EmulatorError(404, f"No file batch found with id '{batch_id}'.")
        return found

    def _attach_ids(
        self, store: VectorStore, specs: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]], batch: str
    ) -> None:
        """Check every file exists before attaching any (a batch is all or nothing)."""
        for file_id, _, _ in specs:
            if file_id not in self.k.files:
                raise EmulatorError(404, f"No such File object: {file_id}", param="file_id")
        for file_id, attributes, chunking in specs:
            self.k.attach(
                store, self.k.files[file_id], attributes=attributes, chunking_strategy=chunking, batch_id=batch or None
            )

    # -- stores -------------------------------------------------------------------------------
    def create(self, req: Request) -> JsonReply:
        body = req.json()
        name = body.get("name") or ""
        if not isinstance(name, str):
            raise invalid_type("name", "a string", name)
        file_ids = body.get("file_ids") or []
        if not isinstance(file_ids, list) or not all(isinstance(f, str) for f in file_ids):
            raise invalid_type("file_ids", "an array of strings", file_ids)
        if len(file_ids) > 500:
            raise array_too_long("file_ids", file_ids, 500)
        chunking = _chunking(body.get("chunking_strategy"))
        with self.k.lock:
            store = self.k.new_store(name=name, metadata=check_metadata(body.get("metadata")))
            store.expires_after = body.get("expires_after")
            try:
                self._attach_ids(store, [(f, None, chunking) for f in file_ids], "")
            except EmulatorError:
                del self.k.stores[store.id]
                raise
            return JsonReply(store.to_dict())

    def list_stores(self, req: Request) -> JsonReply:
        with self.k.lock:
            stores = [self.k.advance_store(s) for s in self.k.stores.values()]
            return JsonReply(page(stores, req.query, id_of=lambda s: s.id, render=lambda c: [s.to_dict() for s in c]))

    def retrieve(self, req: Request) -> JsonReply:
        with self.k.lock:
            return JsonReply(self._store(req).to_dict())

    def modify(self, req: Request) -> JsonReply:
        body = req.json()
        with self.k.lock:
            store = self._store(req)
            if body.get("name") is not None:
                store.name = str(body["name"])
            if "metadata" in body:
                store.metadata = check_metadata(body["metadata"])
            if "expires_after" in body:
                store.expires_after = body["expires_after"]
            return JsonReply(store.to_dict())

    def delete(self, req: Request) -> JsonReply:
        with self.k.lock:
            store = self._store(req)
            del self.k.stores[store.id]
        return JsonReply(deleted(store.id, "vector_store"))

    # -- files of a store ---------------------------------------------------------------------
    def attach(self, req: Request) -> JsonReply:
        body = req.json()
        file_id = body.get("file_id")
        if not isinstance(file_id, str) or not file_id:
            raise missing("file_id")
        attributes, chunking = check_attributes(body.get("attributes")), _chunking(body.get("chunking_strategy"))
        with self.k.lock:
            store = self._store(req)
            self._attach_ids(store, [(file_id, attributes, chunking)], "")
            return JsonReply(store.files[file_id].to_dict())

    def _files_page(self, files: list[StoreFile], req: Request) -> dict[str, Any]:
        wanted = req.query.get("filter")
        if wanted is not None and wanted not in FILE_STATUSES:
            raise invalid_value("filter", wanted, FILE_STATUSES)
        chosen = [f for f in files if wanted is None or f.status == wanted]
        return page(chosen, req.query, id_of=lambda f: f.id, render=lambda c: [f.to_dict() for f in c])

    def list_files(self, req: Request) -> JsonReply:
        with self.k.lock:
            return JsonReply(self._files_page(list(self._store(req).files.values()), req))

    def retrieve_file(self, req: Request) -> JsonReply:
        with self.k.lock:
            return JsonReply(self._store_file(self._store(req), req.params["file_id"]).to_dict())

    def update_file(self, req: Request) -> JsonReply:
        body = req.json()
        if "attributes" not in body:
            raise missing("attributes")
        attributes = check_attributes(body["attributes"])
        with self.k.lock:
            sf = self._store_file(self._store(req), req.params["file_id"])
            sf.attributes = attributes
            return JsonReply(sf.to_dict())

    def detach(self, req: Request) -> JsonReply:
        with self.k.lock:
            store = self._store(req)
            sf = self._store_file(store, req.params["file_id"])
            del store.files[sf.id]
        return JsonReply(deleted(sf.id, "vector_store.file"))

    def file_content(self, req: Request) -> JsonReply:
        with self.k.lock:
            sf = self._store_file(self._store(req), req.params["file_id"])
            data = [{"type": "text", "text": c.text} for c in sf.chunks]
        return JsonReply(
            {"object": "vector_store.file_content.page", "data": data, "has_more": False, "next_page": None}
        )

    # -- batches ------------------------------------------------------------------------------
    def create_batch(self, req: Request) -> JsonReply:
        body = req.json()
        file_ids, files = body.get("file_ids"), body.get("files")
        if file_ids is not None and files is not None:
            raise bad_request("Only one of 'file_ids' and 'files' may be given.", "files")
        attributes, chunking = check_attributes(body.get("attributes")), _chunking(body.get("chunking_strategy"))
        specs: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = []
        if isinstance(files, list) and files:
            for i, f in enumerate(files):
                if not isinstance(f, dict) or not isinstance(f.get("file_id"), str):
                    raise missing(f"files[{i}].file_id")
                specs.append(
                    (
                        f["file_id"],
                        check_attributes(f.get("attributes"), f"files[{i}].attributes"),
                        _chunking(f.get("chunking_strategy"), f"files[{i}].chunking_strategy"),
                    )
                )
        elif isinstance(file_ids, list) and file_ids and all(isinstance(f, str) for f in file_ids):
            specs = [(f, attributes, chunking) for f in file_ids]
        else:
            raise missing("file_ids")
        if len(specs) > 2000:
            raise array_too_long("files" if files else "file_ids", specs, 2000)
        with self.k.lock:
            store = self._store(req)
            batch = Batch(new_id("vsfb", 32), store.id, self.k.clock.stamp(), [s[0] for s in specs])
            self._attach_ids(store, specs, batch.id)
            self.k.batches[batch.id] = batch
            return JsonReply(batch.to_dict(store))

    def retrieve_batch(self, req: Request) -> JsonReply:
        with self.k.lock:
            store = self._store(req)
            return JsonReply(self._batch(store, req.params["batch_id"]).to_dict(store))

    def cancel_batch(self, req: Request) -> JsonReply:
        with self.k.lock:
            store = self._store(req)
            batch = self._batch(store, req.params["batch_id"])
            self.k.cancel_batch(store, batch)
            return JsonReply(batch.to_dict(store))

    def batch_files(self, req: Request) -> JsonReply:
        with self.k.lock:
            store = self._store(req)
            batch = self._batch(store, req.params["batch_id"])
            files = [store.files[f] for f in batch.file_ids if f in store.files and store.files[f].batch_id == batch.id]
            return JsonReply(self._files_page(files, req))

    # -- search -------------------------------------------------------------------------------
    def search(self, req: Request) -> JsonReply:
        body = req.json()
        queries = _query_text(body.get("query"))
        limit = body.get("max_num_results", 10)
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise invalid_type("max_num_results", "an integer", limit)
        if limit < 1:
            raise below_minimum("max_num_results", limit, 1)
        if limit > 50:
            raise above_maximum("max_num_results", limit, 50)
        if body.get("filters") is not None:
            _check_filter(body["filters"])
        ranking = body.get("ranking_options") or {}
        if not isinstance(ranking, dict):
            raise invalid_type("ranking_options", "an object", ranking)
        ranker = ranking.get("ranker", "auto")
        if ranker not in ("none", "auto", DEFAULT_RANKER):
            raise invalid_value("ranking_options.ranker", ranker, ("none", "auto", DEFAULT_RANKER))
        threshold = ranking.get("score_threshold", 0.0)
        if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            raise bad_request(
                "Invalid 'ranking_options.score_threshold': expected a number from 0 to 1.", "ranking_options"
            )
        with self.k.lock:
            store = self._store(req)
            hits = self.k.search(
                [store.id],
                " ".join(queries),
                max_results=limit,
                filters=body.get("filters"),
                score_threshold=float(threshold),
            )
        data = [
            {
                "file_id": h.file_id,
                "filename": h.filename,
                "score": h.score,
                "attributes": dict(h.attributes),
                "content": [{"type": "text", "text": h.text}],
            }
            for h in hits
        ]
        return JsonReply(
            {
                "object": "vector_store.search_results.page",
                "search_query": queries,
                "data": data,
                "has_more": False,
                "next_page": None,
            }
        )
