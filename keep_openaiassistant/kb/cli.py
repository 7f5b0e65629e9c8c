"""The ``kb`` command: ``sync``, ``ls``, ``search``, ``rm`` (registered by :mod:`keep_openaiassistant.cli`).

    kb sync DIR [--vector-store vs_...|NAME] [--create] [--prune] [--dry-run]
    kb ls [--vector-store REF]          the stores, or one store's files
    kb search QUERY [--vector-store REF] [--max-results N]
    kb rm --vector-store REF (PATH ... | --all)

The server and key come from the same environment as ``ask`` (OPENAI_API_KEY, OPENAI_BASE_URL,
OPENAI_ORG_ID, OPENAI_PROJECT_ID); ``--vector-store`` defaults to the first id of
OPENAI_VECTOR_STORE_IDS. Vector stores are shared by both APIs, so the knowledge base is the
same for the Assistants and the Responses backends. ``--max-wait-time`` bounds the whole
command, retries and indexing included.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # the SDK loads only when a kb command runs, not to build the CLI's parser
    from .store import KbStore

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class _Command:
    """One kb action's context: the store client, the parsed flags, the streams, the config."""

    kb: KbStore
    args: argparse.Namespace
    out: TextIO
    err: TextIO
    auth: Mapping[str, Any]
    requests: Counter[str]


def add_parser(sub: Any) -> None:
    """The ``kb`` subcommand and its four actions, on the CLI's subparsers."""
    kb = sub.add_parser("kb", help="the knowledge base: sync a folder of runbooks to a vector store, list, search")
    actions = kb.add_subparsers(dest="kb_action", required=True, metavar="ACTION")

    def store_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--vector-store",
            metavar="vs_...|NAME",
            help="the vector store, by id or name (default: the first of OPENAI_VECTOR_STORE_IDS)",
        )
        p.add_argument("--max-wait-time", type=float, default=600.0, metavar="S", help="seconds (default 600)")
        p.set_defaults(api=None)

    s = actions.add_parser("sync", help="upload what changed in DIR, wait until it is indexed")
    s.add_argument("folder", type=Path, metavar="DIR")
    store_option(s)
    s.add_argument("--create", action="store_true", help="create the vector store when no store has that name")
    s.add_argument("--prune", action="store_true", help="remove files no longer in DIR")
    s.add_argument("--dry-run", action="store_true", help="print the plan, send nothing")
    ls = actions.add_parser(
        "ls", help="the vector stores; the files of one with --vector-store (or OPENAI_VECTOR_STORE_IDS)"
    )
    store_option(ls)
    ls.add_argument("--json", action="store_true")
    q = actions.add_parser("search", help="which runbook would file search find for this text?")
    q.add_argument("query", metavar="QUERY")
    store_option(q)
    q.add_argument("--max-results", type=int, default=5, metavar="N", help="1 to 50 (default 5)")
    q.add_argument("--json", action="store_true")
    rm = actions.add_parser("rm", help="remove files (by path) from the store, or the whole store")
    rm.add_argument("paths", nargs="*", metavar="PATH")
    store_option(rm)
    rm.add_argument("--all", action="store_true", help="delete the vector store and every file synced to it")


def _store_ref(args: argparse.Namespace, auth: Mapping[str, Any]) -> str:
    from .store import KbError

    if args.vector_store:
        return str(args.vector_store)
    ids = [v.strip() for v in str(auth.get("vector_store_ids") or "").split(",") if v.strip()]
    if ids:
        return ids[0]
    raise KbError("no vector store given: pass --vector-store vs_...|NAME, or set OPENAI_VECTOR_STORE_IDS.", usage=True)


def run(args: argparse.Namespace, out: TextIO, err: TextIO, *, auth: Mapping[str, Any]) -> int:
    """Run one kb action; ``auth`` is the provider form the CLI read from the environment."""
    from .. import errors
    from ..settings import Settings
    from ..waiting import Deadline, OutOfTime
    from ..wire import Wire, make_client
    from .store import KbError, KbStore

    settings = Settings(
        api_key=str(auth["api_key"]),
        base_url=auth.get("base_url"),
        organization_id=auth.get("organization_id"),
        project_id=auth.get("project_id"),
    )
    if args.kb_action == "search" and not 1 <= args.max_results <= 50:
        print("error: --max-results is 1 to 50.", file=err)
        return EXIT_USAGE
    if args.kb_action == "rm" and not args.paths and not args.all:
        print("error: kb rm needs the PATHs to remove, or --all for the whole store.", file=err)
        return EXIT_USAGE
    requests: Counter[str] = Counter()
    client = make_client(settings)
    try:
        kb = KbStore(
            Wire(client, connect_timeout=settings.connect_timeout),
            Deadline(args.max_wait_time),
            on_request=lambda route: requests.update([route]),
        )
        return _ACTIONS[args.kb_action](_Command(kb, args, out, err, auth, requests))
    except KbError as exc:
        print(f"error: {exc.message}", file=err)
        return EXIT_USAGE if exc.usage else EXIT_FAILED
    except OutOfTime as exc:
        last = f" (last: {exc.last_error.message})" if exc.last_error else ""
        print(
            f"error: --max-wait-time={args.max_wait_time:g} s passed before kb {args.kb_action} finished{last}. "
            "What to do: raise --max-wait-time and run it again; what was done is kept.",
            file=err,
        )
        return EXIT_FAILED
    except errors.AssistantError as exc:
        print(f"error: {exc.message}", file=err)
        return EXIT_FAILED
    finally:
        client.close()


def _sync(c: _Command) -> int:
    kb, args, out, err, auth = c.kb, c.args, c.out, c.err, c.auth
    from .sync import Progress, summary, sync

    report = sync(
        kb,
        args.folder,
        _store_ref(args, auth),
        create=args.create,
        prune=args.prune,
        dry_run=args.dry_run,
        progress=Progress(out),
        requests=c.requests,
    )
    print(summary(report), file=out)
    if report.failed or report.skipped:
        problems = [f"{len(report.failed)} failed to index"] if report.failed else []
        problems += [f"{len(report.skipped)} skipped (not a type file search reads, empty or too large)"] * bool(
            report.skipped
        )
        print(f"error: {' and '.join(problems)}; the lines above name them. The other files are synced.", file=err)
        return EXIT_FAILED
    return EXIT_OK


def _ls(c: _Command) -> int:
    kb, args, out, auth = c.kb, c.args, c.out, c.auth
    if not args.vector_store and not auth.get("vector_store_ids"):
        stores = kb.stores()
        if args.json:
            print(json.dumps([s.__dict__ for s in stores]), file=out)
        for s in [] if args.json else stores:
            counts = s.file_counts
            print(
                f"{s.id}  {s.name or '(no name)'}  {counts.get('completed', 0)} files indexed, "
                f"{counts.get('in_progress', 0)} in progress, {counts.get('failed', 0)} failed",
                file=out,
            )
        if not stores and not args.json:
            print("no vector stores", file=out)
        return EXIT_OK
    store = kb.find(_store_ref(args, auth))
    files = kb.files(store.id)
    names = kb.filenames([f.file_id for f in files if f.path is None])
    rows = [
        {
            "path": f.path or names.get(f.file_id, ""),
            "file_id": f.file_id,
            "status": f.status,
            "sha256": f.sha256 or "",
            "error": f.last_error,
        }
        for f in files
    ]
    rows.sort(key=lambda r: r["path"])
    if args.json:
        print(json.dumps({"vector_store": store.id, "name": store.name, "files": rows}), file=out)
        return EXIT_OK
    print(f"{store.id}  {store.name or '(no name)'}  {len(rows)} files", file=out)
    for r in rows:
        error = f"  {r['error']}" if r["error"] else ""
        print(f"  {r['status']:<11} {r['file_id']}  {r['path']}{error}", file=out)
    return EXIT_OK


def _search(c: _Command) -> int:
    from ..citations import excerpt

    kb, args, out, auth = c.kb, c.args, c.out, c.auth
    store = kb.find(_store_ref(args, auth))
    hits = kb.search(store.id, args.query, max_results=args.max_results)
    if args.json:
        print(json.dumps([h.__dict__ for h in hits]), file=out)
        return EXIT_OK
    if not hits:
        print(f"no match in {store.id} for {args.query!r}", file=out)
    for n, h in enumerate(hits, 1):
        name = str(h.attributes.get("kb_path") or h.filename)
        print(f"{n}. {h.score:.2f}  {name}  ({h.file_id})\n   {excerpt(h.text, args.query, 110)}", file=out)
    return EXIT_OK


def _rm(c: _Command) -> int:
    kb, args, out, err, auth = c.kb, c.args, c.out, c.err, c.auth
    store = kb.find(_store_ref(args, auth))
    files = kb.files(store.id)
    if args.all:
        for f in files:
            kb.delete_file(f.file_id)
        kb.delete_store(store.id)
        print(f"deleted {store.id} ({store.name or 'no name'}) and its {len(files)} files", file=out)
        return EXIT_OK
    wanted = {p.replace("\\", "/").strip("/") for p in args.paths}
    chosen = [f for f in files if (f.path or "") in wanted or f.file_id in wanted]
    missing = sorted(wanted - {f.path for f in chosen} - {f.file_id for f in chosen})
    for f in chosen:
        kb.detach(store.id, f.file_id)
        kb.delete_file(f.file_id)
        print(f"removed {f.path or f.file_id} ({f.file_id})", file=out)
    if missing:
        print(f"error: not in {store.id}: {', '.join(missing)} (kb ls lists its files)", file=err)
        return EXIT_FAILED
    return EXIT_OK


_ACTIONS = {"sync": _sync, "ls": _ls, "search": _search, "rm": _rm}
