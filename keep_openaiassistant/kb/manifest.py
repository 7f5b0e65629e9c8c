"""Which files of a folder go to the knowledge base, and what a sync must do. Pure: no network.

A synced file carries two attributes on its vector-store file (``VectorStoreFileAttributes``):
:data:`ATTR_PATH`, its path relative to the folder (``db/disk-full.md``), and :data:`ATTR_HASH`,
the SHA-256 of its bytes (64 hex characters, within the 512-character limit of a value). A later
sync compares hashes: same path and hash, nothing is sent; another hash, the file is replaced;
a path no longer in the folder is removed with ``--prune``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

ATTR_PATH = "kb_path"
ATTR_HASH = "kb_sha256"

#: The file types file search reads (OpenAI's supported-files list), by extension.
FILE_SEARCH_EXTENSIONS = frozenset(
    [
        ".c",
        ".cpp",
        ".cs",
        ".css",
        ".doc",
        ".docx",
        ".go",
        ".html",
        ".java",
        ".js",
        ".json",
        ".md",
        ".pdf",
        ".php",
        ".pptx",
        ".py",
        ".rb",
        ".sh",
        ".tex",
        ".ts",
        ".txt",
    ]
)
#: OpenAI's limit for one uploaded file.
MAX_FILE_BYTES = 512 * 1024 * 1024


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class LocalFile:
    path: str  # relative, POSIX separators
    full_path: Path
    size: int
    sha256: str

    def attributes(self) -> dict[str, str]:
        return {ATTR_PATH: self.path, ATTR_HASH: self.sha256}


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class RemoteFile:
    """A file of the vector store, as listed (``VectorStoreFileObject``)."""

    file_id: str
    status: str
    attributes: Mapping[str, Any]
    last_error: str = ""

    @property
    def path(self) -> str | None:
        value = self.attributes.get(ATTR_PATH)
        return value if isinstance(value, str) else None

    @property
    def sha256(self) -> str | None:
        value = self.attributes.get(ATTR_HASH)
        return value if isinstance(value, str) else None


def scan(folder: Path, *, max_bytes: int = MAX_FILE_BYTES) -> tuple[list[LocalFile], list[Skipped]]:
    """The folder's files file search accepts (sorted by path), and the ones left out with why.

    Hidden files and folders (``.git``, ``.DS_Store``) are not part of the knowledge base.
    Raises FileNotFoundError / NotADirectoryError for a missing folder or a file given as one.
    """
    if not folder.exists():
        raise FileNotFoundError(f"the folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a folder")
    found: list[LocalFile] = []
    skipped: list[Skipped] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            full = Path(root) / name
            rel = full.relative_to(folder).as_posix()
            ext = PurePosixPath(name).suffix.lower()
            if ext not in FILE_SEARCH_EXTENSIONS:
                skipped.append(Skipped(rel, f"file search does not read {ext or 'files without an extension'}"))
                continue
            size = full.stat().st_size
            if size > max_bytes:
                skipped.append(Skipped(rel, f"{size} bytes is over the {max_bytes}-byte limit of one file"))
                continue
            if size == 0:
                skipped.append(Skipped(rel, "the file is empty"))
                continue
            found.append(LocalFile(rel, full, size, content_hash(full.read_bytes())))
    found.sort(key=lambda f: f.path)
    return found, skipped


@dataclass
class Plan:
    """What a sync does. ``replace``: (local file, the remote files it replaces)."""

    upload: list[LocalFile] = field(default_factory=list)
    replace: list[tuple[LocalFile, list[RemoteFile]]] = field(default_factory=list)
    unchanged: list[LocalFile] = field(default_factory=list)
    remove: list[RemoteFile] = field(default_factory=list)  # only with prune
    stale: list[RemoteFile] = field(default_factory=list)  # would be removed with prune

    @property
    def sends(self) -> list[LocalFile]:
        return self.upload + [local for local, _ in self.replace]

    @property
    def empty(self) -> bool:
        return not (self.upload or self.replace or self.remove)


def plan(local: Iterable[LocalFile], remote: Iterable[RemoteFile], *, prune: bool) -> Plan:
    """Compare the folder with the store by path and hash.

    A remote copy that failed to index is replaced (sent again) even when its hash matches: the
    store has no usable copy. Remote files without our path attribute are not ours to judge: kept,
    and listed as stale (removed with prune) — a store synced from one folder holds that folder.
    """
    by_path: dict[str, list[RemoteFile]] = {}
    foreign: list[RemoteFile] = []
    for rf in remote:
        if rf.path is None:
            foreign.append(rf)
        else:
            by_path.setdefault(rf.path, []).append(rf)
    result = Plan()
    seen: set[str] = set()
    for lf in local:
        seen.add(lf.path)
        copies = by_path.get(lf.path, [])
        good = [rf for rf in copies if rf.sha256 == lf.sha256 and rf.status in ("completed", "in_progress")]
        if good and len(copies) == 1:
            result.unchanged.append(lf)
        elif not copies:
            result.upload.append(lf)
        elif good:  # duplicates of the same content: keep one
            result.unchanged.append(lf)
            (result.remove if prune else result.stale).extend(rf for rf in copies if rf is not good[0])
        else:
            result.replace.append((lf, copies))
    gone = [rf for path, copies in by_path.items() if path not in seen for rf in copies] + foreign
    (result.remove if prune else result.stale).extend(gone)
    return result
