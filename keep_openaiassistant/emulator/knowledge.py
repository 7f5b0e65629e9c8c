"""The emulator's knowledge base: uploaded files, vector stores, chunks and their ranking. No I/O.

One :class:`Knowledge` holds the Files API's files and the vector stores that index them, on the
emulator's one clock. Like runs, indexing is advanced lazily: a file attached to a store is
``in_progress`` until ``index_time`` seconds have passed on the clock, then ``completed`` (its
chunks searchable) or ``failed`` with the reason OpenAI gives (``unsupported_file`` for a type file
search does not read, ``invalid_file`` for one whose text cannot be read). The HTTP shapes are in
:mod:`.files_api` and :mod:`.vector_stores_api`; runs and responses call :meth:`Knowledge.search`.

Ranking is Okapi BM25 (k1 1.2, b 0.75) over the chunks of the completed files of the stores
searched, with a small suffix-stripping stemmer so that "expires", "expired" and "expiry" meet.
Written here rather than taken from rank-bm25 (numpy, last release 2022) or bm25s (numpy, scipy):
forty lines, no dependency, deterministic. The raw score ``s`` is shown as ``s / (s + 4)``, in
[0, 1) as the API's ``score`` is, and monotonic, so ``score_threshold`` keeps its meaning.

Chunking follows the file's ``chunking_strategy``: ``static`` {max_chunk_size_tokens,
chunk_overlap_tokens}, ``auto`` meaning 800 and 400 as OpenAI documents; a token is about four
characters (:func:`.model.count_tokens`), and chunks end at a line or a space where possible.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..kb.manifest import FILE_SEARCH_EXTENSIONS, MAX_FILE_BYTES, scan
from .common import Clock, new_id

__all__ = ["MAX_FILE_BYTES", "Knowledge", "load_folder"]

SUPPORTED_EXTENSIONS = FILE_SEARCH_EXTENSIONS
AUTO_CHUNKING = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}
DEFAULT_RANKER = "default-2024-11-15"

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "then",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)
K1, B = 1.2, 0.75


def stem(word: str) -> str:
    """A light stemmer: expiry/expires/expired -> expir, deployments -> deploy, latencies -> latenci."""
    if len(word) <= 3:
        return word
    if word.endswith("ies"):
        word = word[:-3] + "i"
    elif word.endswith("y") and word[-2] not in "aeiou":  # latency -> latenci, but deploy stays
        word = word[:-1] + "i"
    else:
        for suffix in ("ments", "ment", "ing", "ed", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def terms(text: str) -> list[str]:
    """The words BM25 counts: lower-cased, stop words out, stemmed."""
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP]


@dataclass
class FileRec:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "file", "bytes": len(self.content), "created_at": self.created_at,
            "filename": self.filename, "purpose": self.purpose, "status": "processed",
        }  # fmt: skip


@dataclass
class Chunk:
    file_id: str
    filename: str
    text: str
    counts: Counter[str]
    length: int


@dataclass
class StoreFile:
    """A file attached to a vector store (``VectorStoreFileObject``), indexed lazily."""

    file: FileRec
    vector_store_id: str
    created_at: int
    ready_at: float  # clock time indexing ends
    attributes: dict[str, Any] | None
    chunking_strategy: dict[str, Any]
    status: str = "in_progress"
    last_error: dict[str, str] | None = None
    chunks: list[Chunk] = field(default_factory=list)
    batch_id: str | None = None

    @property
    def id(self) -> str:
        return self.file.id

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.file.id, "object": "vector_store.file", "usage_bytes": sum(len(c.text) for c in self.chunks),
            "created_at": self.created_at, "vector_store_id": self.vector_store_id, "status": self.status,
            "last_error": self.last_error, "chunking_strategy": self.chunking_strategy,
            "attributes": self.attributes or {},
        }  # fmt: skip


@dataclass
class VectorStore:
    id: str
    name: str
    created_at: int
    metadata: dict[str, str]
    expires_after: dict[str, Any] | None = None
    last_active_at: int | None = None
    files: dict[str, StoreFile] = field(default_factory=dict)  # by file id, oldest first

    def counts(self, files: Iterable[StoreFile] | None = None) -> dict[str, int]:
        listed = list(self.files.values() if files is None else files)
        found = Counter(f.status for f in listed)
        statuses = ("in_progress", "completed", "failed", "cancelled")
        return {**{s: found.get(s, 0) for s in statuses}, "total": len(listed)}

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts()
        data = {
            "id": self.id, "object": "vector_store", "created_at": self.created_at, "name": self.name,
            "usage_bytes": sum(len(c.text) for f in self.files.values() for c in f.chunks),
            "file_counts": counts, "status": "in_progress" if counts["in_progress"] else "completed",
            "expires_at": None, "last_active_at": self.last_active_at, "metadata": self.metadata,
        }  # fmt: skip
        if self.expires_after is not None:
            data["expires_after"] = self.expires_after
        return data


@dataclass
class Batch:
    id: str
    vector_store_id: str
    created_at: int
    file_ids: list[str]
    cancelled: bool = False

    def to_dict(self, store: VectorStore) -> dict[str, Any]:
        files = [store.files[f] for f in self.file_ids if f in store.files]
        counts = store.counts(files)
        status = "cancelled" if self.cancelled else ("in_progress" if counts["in_progress"] else "completed")
        return {
            "id": self.id, "object": "vector_store.files_batch", "created_at": self.created_at,
            "vector_store_id": self.vector_store_id, "status": status, "file_counts": counts,
        }  # fmt: skip


@dataclass(frozen=True)
class Hit:
    """One search result: a chunk of a file, its score in [0, 1]."""

    file_id: str
    filename: str
    score: float
    text: str
    attributes: Mapping[str, Any]


def file_text(filename: str, content: bytes) -> tuple[str | None, dict[str, str] | None]:
    """The text file search reads from a file, or ``(None, last_error)`` as OpenAI reports it."""
    ext = PurePosixPath(filename).suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        shown = ext or "(none)"
        return None, {"code": "unsupported_file", "message": f"The file type {shown} is not supported for file search."}
    if ext == ".pdf":
        # The emulator reads only the literal strings of a PDF's text operators: enough for test PDFs.
        text = " ".join(
            s.decode("latin-1") for s in re.findall(rb"\(((?:[^()\\]|\\.)*)\)\s*T[jJ]", content)
        )  # fmt: skip
    else:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, {"code": "invalid_file", "message": f"The file could not be parsed: not UTF-8 text ({exc})."}
    if not text.strip():
        return None, {"code": "invalid_file", "message": "The file contains no text to index."}
    return text, None


def chunk(text: str, strategy: Mapping[str, Any]) -> list[str]:
    """``text`` cut per a static strategy (tokens of ~4 characters), at line ends or spaces where possible."""
    static: Mapping[str, Any] = strategy.get("static") or {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}
    size = max(100, int(static["max_chunk_size_tokens"])) * 4
    overlap = min(int(static["chunk_overlap_tokens"]) * 4, size // 2)
    pieces, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = max(text.rfind("\n", start + size // 2, end), text.rfind(" ", start + size // 2, end))
            end = cut + 1 if cut > start else end
        piece = text[start:end].strip()
        if piece:
            pieces.append(piece)
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
        space = text.find(" ", start, end)
        start = space + 1 if 0 <= space < end else start
    return pieces


def matches(attributes: Mapping[str, Any] | None, flt: Mapping[str, Any] | None) -> bool:
    """``ComparisonFilter`` (eq ne gt gte lt lte in nin) / ``CompoundFilter`` (and or) over attributes."""
    if not flt:
        return True
    kind = flt.get("type")
    if kind in ("and", "or"):
        results = (matches(attributes, f) for f in flt.get("filters") or [])
        return all(results) if kind == "and" else any(results)
    have = (attributes or {}).get(str(flt.get("key")))
    want = flt.get("value")
    try:
        if kind == "eq":
            return bool(have == want)
        if kind == "ne":
            return bool(have != want)
        if kind == "in":
            return have in (want or [])
        if kind == "nin":
            return have not in (want or [])
        if have is None:
            return False
        return bool(
            {"gt": have > want, "gte": have >= want, "lt": have < want, "lte": have <= want}[str(kind)]
        )  # fmt: skip
    except (TypeError, KeyError):
        return False


class Knowledge:
    """Files and vector stores; all access under :attr:`lock` (held briefly, never while sleeping)."""

    def __init__(self, clock: Clock, *, index_time: float = 0.1) -> None:
        self.clock = clock
        self.index_time = index_time
        self.lock = threading.RLock()
        self.files: dict[str, FileRec] = {}
        self.stores: dict[str, VectorStore] = {}
        self.batches: dict[str, Batch] = {}

    # -- files --------------------------------------------------------------------------------
    def add_file(self, filename: str, content: bytes, purpose: str = "assistants") -> FileRec:
        rec = FileRec(new_id("file", 22).replace("file_", "file-"), filename, purpose, content, self.clock.stamp())
        self.files[rec.id] = rec
        return rec

    def delete_file(self, file_id: str) -> None:
        """The file goes; stores keep no chunk of it (OpenAI also stops serving them)."""
        del self.files[file_id]
        for store in self.stores.values():
            store.files.pop(file_id, None)

    # -- stores -------------------------------------------------------------------------------
    def new_store(self, *, name: str, metadata: dict[str, str], store_id: str | None = None) -> VectorStore:
        at = self.clock.stamp()
        store = VectorStore(store_id or new_id("vs"), name, at, metadata, last_active_at=at)
        self.stores[store.id] = store
        return store

    def attach(
        self,
        store: VectorStore,
        file: FileRec,
        *,
        attributes: dict[str, Any] | None = None,
        chunking_strategy: Mapping[str, Any] | None = None,
        batch_id: str | None = None,
        ready: bool = False,
    ) -> StoreFile:
        """Attach ``file`` (again: re-indexed); ``ready``: indexed at once (a store loaded at start)."""
        strategy = dict(chunking_strategy) if chunking_strategy and chunking_strategy.get("type") == "static" else None
        now = self.clock.now()
        sf = StoreFile(
            file, store.id, self.clock.stamp(now), now if ready else now + self.index_time, attributes,
            strategy or AUTO_CHUNKING, batch_id=batch_id,
        )  # fmt: skip
        store.files.pop(file.id, None)
        store.files[file.id] = sf
        self.advance(sf)
        return sf

    def advance(self, sf: StoreFile) -> None:
        """Indexing done by now: chunks made, status completed or failed."""
        if sf.status != "in_progress" or self.clock.now() < sf.ready_at:
            return
        text, error = file_text(sf.file.filename, sf.file.content)
        if text is None:
            sf.status, sf.last_error = "failed", error
            return
        # The file's name counts as words of each chunk (failed-deploy.md: "failed", "deploy").
        title = terms(PurePosixPath(sf.file.filename).stem.replace("-", " ").replace("_", " "))
        sf.chunks = []
        for piece in chunk(text, sf.chunking_strategy):
            words = terms(piece) + title * 2
            sf.chunks.append(Chunk(sf.file.id, sf.file.filename, piece, Counter(words), len(words)))
        sf.status = "completed"

    def advance_store(self, store: VectorStore) -> VectorStore:
        for sf in store.files.values():
            self.advance(sf)
        return store

    def cancel_batch(self, store: VectorStore, batch: Batch) -> None:
        batch.cancelled = True
        for file_id in batch.file_ids:
            sf = store.files.get(file_id)
            if sf is not None:
                self.advance(sf)
                if sf.status == "in_progress":
                    sf.status = "cancelled"

    # -- search -------------------------------------------------------------------------------
    def searcher(
        self, store_ids: Iterable[str], *, max_results: int = 20, score_threshold: float = 0.0
    ) -> Callable[[str], list[Hit] | None] | None:
        """File search over these stores for a run or a response; None when none of them exists."""
        ids = [i for i in dict.fromkeys(store_ids) if i in self.stores]
        if not ids:
            return None

        def search(query: str) -> list[Hit] | None:
            with self.lock:
                indexed = any(
                    sf.status == "completed" for i in ids if i in self.stores
                    for sf in self.advance_store(self.stores[i]).files.values()
                )  # fmt: skip
                if not indexed:
                    return None
                return self.search(ids, query, max_results=max_results, score_threshold=score_threshold)

        return search

    def search(
        self,
        store_ids: Iterable[str],
        query: str,
        *,
        max_results: int = 10,
        filters: Mapping[str, Any] | None = None,
        score_threshold: float = 0.0,
    ) -> list[Hit]:
        """The best chunks for ``query`` in the completed files of these stores, best first."""
        chunks: list[tuple[Chunk, StoreFile]] = []
        for store_id in dict.fromkeys(store_ids):
            store = self.stores.get(store_id)
            if store is None:
                continue
            store.last_active_at = self.clock.stamp()
            for sf in self.advance_store(store).files.values():
                if sf.status == "completed" and matches(sf.attributes, filters):
                    chunks.extend((c, sf) for c in sf.chunks)
        wanted = list(dict.fromkeys(terms(query)))
        if not chunks or not wanted:
            return []
        n = len(chunks)
        average = sum(c.length for c, _ in chunks) / n or 1.0
        df = Counter(t for c, _ in chunks for t in set(c.counts) & set(wanted))
        scored: list[tuple[float, Chunk, StoreFile]] = []
        for c, sf in chunks:
            s = 0.0
            for t in wanted:
                tf = c.counts.get(t, 0)
                if tf:
                    idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                    s += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * c.length / average))
            score = round(s / (s + 4), 4)
            if s > 0 and score >= score_threshold:
                scored.append((score, c, sf))
        scored.sort(key=lambda x: (-x[0], x[1].filename, x[1].file_id))
        return [Hit(c.file_id, c.filename, score, c.text, dict(sf.attributes or {})) for score, c, sf in scored][
            :max_results
        ]


def best_sentence(text: str, query: str, limit: int = 240) -> str:
    """The passage of ``text`` the model quotes for ``query``: the step of a list (a runbook's
    actions) that shares most terms with it, the earliest on a tie; else such a sentence."""
    wanted = set(terms(query))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    steps = [re.sub(r"^(\d+[.)]|[-*])\s+", "", line) for line in lines if re.match(r"^(\d+[.)]|[-*])\s+", line)]
    candidates = steps or [c for line in lines for c in re.split(r"(?<=[.!?])\s+", line) if len(c) > 12]
    if not candidates:
        return text.strip()[:limit]
    best = max(enumerate(candidates), key=lambda ic: (len(wanted & set(terms(ic[1]))), -ic[0]))[1]
    return best if len(best) <= limit else best[: limit - 1].rsplit(" ", 1)[0] + "…"


def load_folder(knowledge: Knowledge, folder: str | os.PathLike[str], store_id: str) -> VectorStore:
    """Upload a folder's files into vector store ``store_id`` (made if absent), indexed at once.

    Each file carries the attributes a ``kb sync`` writes (path and content hash), so a sync of
    the same folder against this emulator finds nothing to send. Raises FileNotFoundError /
    NotADirectoryError for a folder that is not one.
    """
    local, _ = scan(Path(folder))
    with knowledge.lock:
        store = knowledge.stores.get(store_id) or knowledge.new_store(
            name=Path(folder).resolve().name, metadata={}, store_id=store_id
        )
        for lf in local:
            rec = knowledge.add_file(PurePosixPath(lf.path).name, lf.full_path.read_bytes())
            knowledge.attach(store, rec, attributes=lf.attributes(), ready=True)
    return store
