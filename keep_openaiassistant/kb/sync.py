"""``kb sync``: make a vector store hold exactly a folder's files, sending only what changed.

1. scan the folder (:func:`.manifest.scan`) and list the store's files with their attributes;
2. plan (:func:`.manifest.plan`): same path and hash -> nothing; new -> upload; changed -> upload
   the new copy, then detach and delete the old one; gone -> removed with ``prune``;
3. upload each new copy (``POST /files``), attach them in file batches of at most
   :data:`BATCH_SIZE` with their attributes, and wait until the batch is indexed;
4. files that failed to index are reported with the server's reason, detached and deleted (an old
   copy they were to replace is kept: the assistant does not lose a runbook to a bad edit);
5. remove what the plan removes.

A second run with no change lists the store and sends nothing else: 1 request for a store given
by id (2 by name, with the lookup), plus one per extra page of 100 files.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .. import errors
from ..waiting import OutOfTime
from .manifest import MAX_FILE_BYTES, LocalFile, Plan, RemoteFile, Skipped, plan, scan
from .store import KbError, KbStore, Store

BATCH_SIZE = 500


class Progress:
    """A bar redrawn in place on a terminal; one plain line per event otherwise (logs, CI, Keep)."""

    def __init__(self, out: TextIO, *, tty: bool | None = None, width: int = 24) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.width = width
        self._drawn = False

    def line(self, text: str) -> None:
        if self._drawn:
            self.out.write("\n")
            self._drawn = False
        self.out.write(text + "\n")
        self.out.flush()

    def bar(self, label: str, done: int, total: int, detail: str = "") -> None:
        """On a terminal: the bar; otherwise nothing (the caller prints plain lines)."""
        if not self.tty:
            return
        filled = self.width * done // max(total, 1)
        text = f"\r{label:<10} [{'#' * filled}{'-' * (self.width - filled)}] {done}/{total} {detail}"
        self.out.write(text[:100].ljust(100))
        self.out.flush()
        self._drawn = True

    def end(self) -> None:
        if self._drawn:
            self.out.write("\n")
            self.out.flush()
            self._drawn = False


@dataclass
class SyncReport:
    store: Store | None
    plan: Plan
    skipped: list[Skipped]
    dry_run: bool = False
    uploaded: list[tuple[LocalFile, str]] = field(default_factory=list)  # (file, new file id)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    removed: list[RemoteFile] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)  # file batch ids, one per BATCH_SIZE uploads
    requests: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


def sync(
    kb: KbStore,
    folder: Path,
    store_ref: str,
    *,
    create: bool = False,
    prune: bool = False,
    dry_run: bool = False,
    progress: Progress,
    requests: Counter[str] | None = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> SyncReport:
    started = time.monotonic()
    try:
        local, skipped = scan(folder, max_bytes=max_bytes)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise KbError(
            f"kb sync: {exc}. What to do: give the folder of your runbooks, e.g. kb sync examples/runbooks.",
            usage=True,
        ) from None
    for s in skipped:
        progress.line(f"skipped {s.path}: {s.reason}")
    store: Store | None
    try:
        store = kb.find(store_ref, create=create and not dry_run)
    except KbError:
        if not (dry_run and create):
            raise
        store = None  # a dry run does not create the store it would create
    remote = kb.files(store.id) if store is not None else []
    todo = plan(local, remote, prune=prune)
    report = SyncReport(store, todo, skipped, dry_run=dry_run, requests=requests if requests is not None else Counter())
    where = f"vector store {store.id} ({store.name or 'no name'})" if store else f"new vector store {store_ref!r}"
    progress.line(
        f"{where}: {len(local)} files in {folder}: {len(todo.upload)} new, {len(todo.replace)} changed, "
        f"{len(todo.unchanged)} unchanged, {len(todo.remove)} to remove"
        + (f", {len(todo.stale)} not in the folder (kept; --prune removes them)" if todo.stale else "")
    )
    if dry_run:
        for lf in todo.upload:
            progress.line(f"would upload {lf.path} ({lf.size} bytes)")
        for lf, old in todo.replace:
            progress.line(f"would replace {lf.path} ({', '.join(rf.file_id for rf in old)})")
        for rf in todo.remove:
            progress.line(f"would remove {rf.path or rf.file_id} ({rf.file_id})")
        report.seconds = time.monotonic() - started
        return report
    assert store is not None
    if not todo.empty:
        _send(kb, store, todo, report, progress)
    report.seconds = time.monotonic() - started
    return report


def _send(kb: KbStore, store: Store, todo: Plan, report: SyncReport, progress: Progress) -> None:
    attached: set[str] = set()
    try:
        _upload_and_attach(kb, store, todo.sends, report, progress, attached=attached)
    except (errors.AssistantError, OutOfTime, KeyboardInterrupt):
        # What was uploaded but never attached would stay behind unseen: delete it (best effort).
        progress.end()
        for _, file_id in report.uploaded:
            if file_id not in attached:
                with contextlib.suppress(errors.AssistantError, OutOfTime):
                    kb.delete_file(file_id)
        raise
    failed_ids: set[str] = set()
    for batch, part in _batches(report, attached):
        seen: list[str] = []

        def show(counts: Mapping[str, int], part: list[tuple[LocalFile, str]] = part, seen: list[str] = seen) -> None:
            done = int(counts.get("completed", 0)) + int(counts.get("failed", 0)) + int(counts.get("cancelled", 0))
            progress.bar("indexing", done, len(part))
            text = f"indexing: {done}/{len(part)} done, {counts.get('failed', 0)} failed"
            if not progress.tty and (not seen or seen[-1] != text):
                seen.append(text)
                progress.line(text)

        kb.wait_batch(store.id, batch, on_progress=show)
        progress.end()
        by_id = {file_id: lf for lf, file_id in part}
        for rf in kb.failed_in_batch(store.id, batch):
            failed_ids.add(rf.file_id)
            sent = by_id.get(rf.file_id)
            path = sent.path if sent else rf.file_id
            report.failed.append((path, rf.last_error or "failed without a reason"))
            progress.line(f"failed {path}: {rf.last_error or 'the server gave no reason'}")
            kb.detach(store.id, rf.file_id)
            kb.delete_file(rf.file_id)
    failed_paths = {lf.path for lf, file_id in report.uploaded if file_id in failed_ids}
    old = [rf for lf, copies in todo.replace if lf.path not in failed_paths for rf in copies]
    for rf in old + todo.remove:
        kb.detach(store.id, rf.file_id)
        kb.delete_file(rf.file_id)
        report.removed.append(rf)
        if rf in todo.remove:
            progress.line(f"removed {rf.path or rf.file_id} ({rf.file_id})")


def _upload_and_attach(
    kb: KbStore, store: Store, sends: list[LocalFile], report: SyncReport, progress: Progress, *, attached: set[str]
) -> None:
    """Upload every new copy, then attach them in batches of :data:`BATCH_SIZE` (ids into ``attached``)."""
    for n, lf in enumerate(sends, 1):
        progress.bar("uploading", n - 1, len(sends), lf.path)
        file_id = kb.upload(lf)
        report.uploaded.append((lf, file_id))
        if not progress.tty:
            progress.line(f"uploaded {lf.path} -> {file_id}")
    progress.bar("uploading", len(sends), len(sends))
    progress.end()
    for start in range(0, len(report.uploaded), BATCH_SIZE):
        part = report.uploaded[start : start + BATCH_SIZE]
        report.batches.append(kb.attach_batch(store.id, [(file_id, lf.attributes()) for lf, file_id in part]))
        attached.update(file_id for _, file_id in part)


def _batches(report: SyncReport, attached: set[str]) -> list[tuple[str, list[tuple[LocalFile, str]]]]:
    """Each batch id with the (file, file id) pairs it attached."""
    parts = [report.uploaded[i : i + BATCH_SIZE] for i in range(0, len(report.uploaded), BATCH_SIZE)]
    return list(zip(report.batches, parts, strict=True))


def summary(report: SyncReport) -> str:
    """The closing line: what changed, how many requests, how long."""
    p = report.plan
    if report.dry_run:
        return f"dry run: {len(p.sends)} to upload, {len(p.remove)} to remove; nothing was sent"
    replaced = len(p.replace)
    total = sum(report.requests.values())
    if p.empty:
        head = f"in sync: {len(p.unchanged)} unchanged"
    else:
        head = (
            f"synced: {len(p.upload)} new, {replaced} replaced, {len(p.unchanged)} unchanged, "
            f"{len([r for r in report.removed if r in p.remove])} removed, {len(report.failed)} failed"
        )
    return f"{head}; {total} requests in {report.seconds:.1f} s"
