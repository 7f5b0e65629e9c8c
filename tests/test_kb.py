"""``kb sync|ls|search|rm`` against the emulator, and the pure plan behind sync.

The sync's requests are counted by the emulator (``Emulator.stats``), so "a second run with no
change sends no upload" is what the server saw, not what the client meant to do.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from keep_openaiassistant.cli import main
from keep_openaiassistant.emulator import Emulator
from keep_openaiassistant.kb.manifest import ATTR_HASH, ATTR_PATH, LocalFile, RemoteFile, content_hash, plan, scan
from keep_openaiassistant.kb.sync import Progress

RUNBOOKS = Path(__file__).resolve().parent.parent / "examples" / "runbooks"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(model_time=0.02, index_time=0.05) as emu:
        yield emu


@pytest.fixture
def env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-emulator")
    monkeypatch.setenv("OPENAI_BASE_URL", emulator.base_url)
    for name in ("OPENAI_VECTOR_STORE_IDS", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    return emulator


def kb(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["kb", *argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def folder_of(tmp_path: Path, count: int) -> Path:
    """``count`` runbooks: the five samples, then numbered variants of them."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    samples = sorted(RUNBOOKS.glob("*.md"))
    for i in range(count):
        sample = samples[i % len(samples)]
        name = sample.name if i < len(samples) else f"team-{i:02d}/{sample.stem}-{i:02d}.md"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(sample.read_text() + f"\nRevision {i}.\n")
    return folder


def writes(emulator: Emulator) -> dict[str, int]:
    return {k: v for k, v in emulator.stats.snapshot().items() if not k.startswith("GET ")}


# -- the plan (pure) ------------------------------------------------------------------------------


def _local(path: str, text: str) -> LocalFile:
    return LocalFile(path, Path(path), len(text), content_hash(text.encode()))


def _remote(file_id: str, path: str | None, text: str, status: str = "completed") -> RemoteFile:
    attributes = {} if path is None else {ATTR_PATH: path, ATTR_HASH: content_hash(text.encode())}
    return RemoteFile(file_id, status, attributes)


def test_the_plan_uploads_new_replaces_changed_keeps_unchanged_and_prunes_only_when_asked() -> None:
    local = [_local("a.md", "A"), _local("b.md", "B2"), _local("c.md", "C")]
    remote = [_remote("file-a", "a.md", "A"), _remote("file-b", "b.md", "B1"), _remote("file-d", "d.md", "D")]
    kept = plan(local, remote, prune=False)
    assert [f.path for f in kept.upload] == ["c.md"] and [f.path for f in kept.unchanged] == ["a.md"]
    assert [(lf.path, [r.file_id for r in old]) for lf, old in kept.replace] == [("b.md", ["file-b"])]
    assert kept.remove == [] and [r.file_id for r in kept.stale] == ["file-d"]
    pruned = plan(local, remote, prune=True)
    assert [r.file_id for r in pruned.remove] == ["file-d"]


def test_the_plan_resends_a_copy_that_failed_to_index_and_judges_foreign_files_stale() -> None:
    local = [_local("a.md", "A")]
    remote = [_remote("file-a", "a.md", "A", status="failed"), _remote("file-x", None, "X")]
    todo = plan(local, remote, prune=True)
    assert [(lf.path, [r.file_id for r in old]) for lf, old in todo.replace] == [("a.md", ["file-a"])]
    assert [r.file_id for r in todo.remove] == ["file-x"]


def test_scan_skips_hidden_unsupported_empty_and_oversized_files(tmp_path: Path) -> None:
    (tmp_path / "ok.md").write_text("fine")
    (tmp_path / "big.txt").write_text("x" * 50)
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "chart.png").write_bytes(b"\x89PNG")
    (tmp_path / ".secret.md").write_text("hidden")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD.md").write_text("hidden")
    found, skipped = scan(tmp_path, max_bytes=20)
    assert [f.path for f in found] == ["ok.md"]
    assert {s.path: s.reason for s in skipped} == {
        "big.txt": "50 bytes is over the 20-byte limit of one file",
        "chart.png": "file search does not read .png",
        "empty.txt": "the file is empty",
    }
    with pytest.raises(FileNotFoundError):
        scan(tmp_path / "nope")


# -- sync against the emulator --------------------------------------------------------------------


def test_sync_of_twenty_files_then_again_with_no_change_sends_no_upload(env: Emulator, tmp_path: Path) -> None:
    folder = folder_of(tmp_path, 20)
    code, out, err = kb("sync", str(folder), "--vector-store", "runbooks", "--create")
    assert (code, err) == (0, ""), out
    first = env.stats.snapshot()
    assert first["POST /v1/files"] == 20
    assert first["POST /v1/vector_stores/{vs_id}/file_batches"] == 1
    assert "synced: 20 new, 0 replaced, 0 unchanged, 0 removed, 0 failed" in out
    store = next(iter(env.knowledge.stores.values()))
    assert len(store.files) == 20 and all(f.status == "completed" for f in store.files.values())
    env.stats.reset()
    code, out, err = kb("sync", str(folder), "--vector-store", "runbooks")
    assert code == 0 and "in sync: 20 unchanged; 2 requests" in out
    assert env.stats.snapshot() == {"GET /v1/vector_stores": 1, "GET /v1/vector_stores/{vs_id}/files": 1}
    env.stats.reset()
    code, out, _ = kb("sync", str(folder), "--vector-store", store.id)
    assert code == 0 and env.stats.total() == 2  # by id: the GET of the store, and its files


def test_a_changed_file_is_replaced_and_a_removed_one_detached_and_deleted_with_prune(
    env: Emulator, tmp_path: Path
) -> None:
    folder = folder_of(tmp_path, 5)
    assert kb("sync", str(folder), "--vector-store", "runbooks", "--create")[0] == 0
    store = next(iter(env.knowledge.stores.values()))
    old = {sf.attributes[ATTR_PATH]: sf.id for sf in store.files.values() if sf.attributes}
    (folder / "oom-kills.md").write_text("# OOM\n1. Raise the memory limit by 50%.\n")
    (folder / "failed-deploy.md").unlink()
    env.stats.reset()
    code, out, _ = kb("sync", str(folder), "--vector-store", "runbooks")
    assert code == 0 and "1 changed" in out and "1 not in the folder (kept; --prune removes them)" in out
    assert writes(env)["POST /v1/files"] == 1
    new = {sf.attributes[ATTR_PATH]: sf.id for sf in store.files.values() if sf.attributes}
    assert new["oom-kills.md"] != old["oom-kills.md"] and old["oom-kills.md"] not in env.knowledge.files
    assert "failed-deploy.md" in new  # kept without --prune
    env.stats.reset()
    code, out, _ = kb("sync", str(folder), "--vector-store", "runbooks", "--prune")
    assert code == 0 and f"removed failed-deploy.md ({old['failed-deploy.md']})" in out
    assert writes(env) == {
        "DELETE /v1/vector_stores/{vs_id}/files/{file_id}": 1,
        "DELETE /v1/files/{file_id}": 1,
    }
    assert old["failed-deploy.md"] not in env.knowledge.files
    assert sorted(sf.attributes[ATTR_PATH] for sf in store.files.values() if sf.attributes) == sorted(
        p.name for p in folder.iterdir()
    )


def test_files_that_fail_to_index_are_reported_with_the_servers_reason(env: Emulator, tmp_path: Path) -> None:
    folder = folder_of(tmp_path, 2)
    (folder / "broken.txt").write_bytes(b"\xff\xfe not utf-8")
    (folder / "chart.png").write_bytes(b"\x89PNG")
    code, out, err = kb("sync", str(folder), "--vector-store", "runbooks", "--create")
    assert code == 1
    assert "skipped chart.png: file search does not read .png" in out
    assert "failed broken.txt: invalid_file: The file could not be parsed: not UTF-8 text" in out
    assert "1 failed to index and 1 skipped" in err
    store = next(iter(env.knowledge.stores.values()))
    assert sorted(sf.file.filename for sf in store.files.values()) == sorted(p.name for p in folder.glob("*.md"))
    assert not any(f.filename == "broken.txt" for f in env.knowledge.files.values())  # detached and deleted


def test_dry_run_prints_the_plan_and_sends_no_write(env: Emulator, tmp_path: Path) -> None:
    folder = folder_of(tmp_path, 3)
    code, out, _ = kb("sync", str(folder), "--vector-store", "runbooks", "--create", "--dry-run")
    assert code == 0 and "would upload disk-full.md" in out and "nothing was sent" in out
    assert writes(env) == {} and env.knowledge.stores == {}


def test_clear_errors_for_a_missing_folder_and_a_store_that_does_not_exist(env: Emulator, tmp_path: Path) -> None:
    code, _, err = kb("sync", str(tmp_path / "nope"), "--vector-store", "runbooks")
    assert code == 2 and "does not exist" in err and "What to do" in err
    code, _, err = kb("sync", str(folder_of(tmp_path, 1)), "--vector-store", "vs_missing")
    assert code == 1 and "Vector store vs_missing does not exist" in err
    code, _, err = kb("sync", str(tmp_path / "runbooks"), "--vector-store", "nameless")
    assert code == 1 and "No vector store is named 'nameless'" in err and "--create" in err
    code, _, err = kb("search", "disk")
    assert code == 2 and "no vector store given" in err


def test_a_missing_key_is_the_same_usage_error_as_for_ask(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, _, err = kb("ls")
    assert code == 2 and "OPENAI_API_KEY is not set" in err


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_otherwise() -> None:
    tty, plain = io.StringIO(), io.StringIO()
    bar, lines = Progress(tty, tty=True, width=10), Progress(plain, tty=False)
    for p in (bar, lines):
        p.bar("uploading", 5, 10, "disk-full.md")
        p.end()
        p.line("done")
    assert tty.getvalue().startswith("\ruploading  [#####-----] 5/10 disk-full.md")
    assert plain.getvalue() == "done\n"


# -- ls, search, rm -------------------------------------------------------------------------------


def test_ls_search_and_rm(env: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = folder_of(tmp_path, 5)
    assert kb("sync", str(folder), "--vector-store", "runbooks", "--create")[0] == 0
    store = next(iter(env.knowledge.stores.values()))
    code, out, _ = kb("ls")
    assert code == 0 and f"{store.id}  runbooks  5 files indexed" in out
    monkeypatch.setenv("OPENAI_VECTOR_STORE_IDS", f"{store.id},vs_other")  # the same default as ask's
    code, out, _ = kb("ls", "--json")
    listed = json.loads(out)
    assert [f["path"] for f in listed["files"]] == sorted(p.name for p in folder.iterdir())
    code, out, _ = kb("search", "Pod checkout-5d OOMKilled exit code 137", "--max-results", "2")
    assert code == 0 and out.startswith("1. ") and "oom-kills.md" in out.splitlines()[0]
    code, out, _ = kb("search", "TLS certificate expires in 3 days", "--json")
    assert json.loads(out)[0]["filename"] == "certificate-expiry.md"
    code, out, err = kb("rm", "disk-full.md", "not-there.md")
    assert code == 1 and "removed disk-full.md" in out and "not-there.md" in err
    assert all(sf.attributes and sf.attributes[ATTR_PATH] != "disk-full.md" for sf in store.files.values())
    code, out, _ = kb("rm", "--all")
    assert code == 0 and store.id not in env.knowledge.stores and env.knowledge.files == {}


def test_a_synced_folder_is_what_the_assistant_cites(env: Emulator, tmp_path: Path) -> None:
    """The end to end of the feature: sync the runbooks, then the assistant's answer cites one."""
    from keep_openaiassistant import Assistant, Settings

    assert kb("sync", str(RUNBOOKS), "--vector-store", "runbooks", "--create")[0] == 0
    store = next(iter(env.knowledge.stores.values()))
    settings = Settings(api_key="sk-emulator", base_url=env.base_url, api="responses", vector_store_ids=(store.id,))
    with Assistant(settings) as assistant:
        result = assistant.ask("TLS certificate for api.example.com expires in 3 days", max_wait_time=20)
    assert [c.filename for c in result.citations] == ["certificate-expiry.md"]
    assert result.citations[0].quote in (RUNBOOKS / "certificate-expiry.md").read_text()


def test_the_emulator_command_loads_knowledge_and_refuses_a_missing_folder(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["emulator", "--port", "0", "--knowledge", str(tmp_path / "nope")], stdout=out, stderr=err)
    assert code == 2 and "--knowledge" in err.getvalue() and "does not exist" in err.getvalue()


def test_a_sync_that_fails_before_attaching_leaves_no_uploaded_file_behind(env: Emulator, tmp_path: Path) -> None:
    folder = folder_of(tmp_path, 4)
    env.faults.add(r"POST /v1/vector_stores/\{vs_id\}/file_batches$", 400, message="Invalid batch")
    code, _, err = kb("sync", str(folder), "--vector-store", "runbooks", "--create")
    assert code == 1 and "Invalid batch" in err
    assert env.stats.snapshot()["POST /v1/files"] == 4
    assert env.knowledge.files == {}  # the four uploads were deleted again
    code, out, _ = kb("sync", str(folder), "--vector-store", "runbooks")
    assert code == 0 and "4 new" in out  # and the next sync sends them again


def test_the_kb_requests_and_the_replies_they_get_conform_to_openais_spec(env: Emulator, tmp_path: Path) -> None:
    from openapi_check import OpenAPISpec
    from test_openapi_conformance import assert_requests_conform
    from wire_recorder import Recorder

    recorder = Recorder(env)
    folder = folder_of(tmp_path, 3)
    (folder / "broken.txt").write_bytes(b"\xff not utf-8")
    assert kb("sync", str(folder), "--vector-store", "runbooks", "--create")[0] == 1
    (folder / "disk-full.md").unlink()
    (folder / "broken.txt").unlink()
    (folder / "oom-kills.md").write_text("# OOM\n1. Raise the limit.\n")
    assert kb("sync", str(folder), "--vector-store", "runbooks", "--prune")[0] == 0
    assert kb("search", "OOMKilled", "--vector-store", "runbooks")[0] == 0
    assert kb("ls", "--vector-store", "runbooks")[0] == 0
    assert kb("rm", "--all", "--vector-store", "runbooks")[0] == 0
    assert_requests_conform(recorder, OpenAPISpec.default(), min_requests=20)
