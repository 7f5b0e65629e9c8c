"""The emulator's knowledge base: Files, Vector stores, search ranking, file search in runs and responses.

Every reply and SSE event is checked against OpenAI's spec (``tests/spec/openapi.yaml``) with the
conformance module's recorder. Indexing follows an injected clock (no sleeps): a file attached is
``in_progress`` until the test moves the clock past ``index_time``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openapi_check import OpenAPISpec
from test_openapi_conformance import assert_replies_conform
from wire_recorder import Raw, Recorder

from keep_openaiassistant import Assistant, Settings
from keep_openaiassistant.emulator import DEFAULT_ASSISTANT_ID, RUNBOOKS_VECTOR_STORE, Emulator
from keep_openaiassistant.emulator.knowledge import Knowledge, chunk, matches, stem, terms
from keep_openaiassistant.kb.manifest import ATTR_HASH, ATTR_PATH

RUNBOOKS = Path(__file__).resolve().parent.parent / "examples" / "runbooks"
CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


@pytest.fixture(scope="module")
def spec() -> OpenAPISpec:
    return OpenAPISpec.default()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[Emulator]:
    """Model time 0 (runs end at once), indexing 5 s of the fake clock."""
    with Emulator(model_time=0.0, clock=clock, sleep=clock.sleep, index_time=5.0) as emu:
        yield emu


@pytest.fixture
def raw(emulator: Emulator) -> Raw:
    return Raw(emulator.base_url)


@pytest.fixture
def recorder(emulator: Emulator) -> Recorder:
    return Recorder(emulator)


@pytest.fixture
def client(emulator: Emulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key="sk-emulator", base_url=emulator.base_url, max_retries=0) as sdk:
        yield sdk


def upload(client: openai.OpenAI, name: str, data: bytes) -> dict[str, Any]:
    sdk: Any = client
    reply: dict[str, Any] = sdk.post(
        "/files",
        cast_to=object,
        body={"purpose": "assistants"},
        files=[("file", (name, data))],
        options={"headers": {"Content-Type": "multipart/form-data"}},
    )
    return reply


def runbook_store(client: openai.OpenAI, raw: Raw, clock: FakeClock) -> tuple[str, dict[str, str]]:
    """The sample runbooks uploaded and indexed in a new store: (store id, filename -> file id)."""
    ids = {p.name: upload(client, p.name, p.read_bytes())["id"] for p in sorted(RUNBOOKS.glob("*.md"))}
    store = raw.ok("POST", "/vector_stores", {"name": "runbooks", "file_ids": list(ids.values())}, beta=False)
    clock.now += 5
    return store["id"], ids


# -- Files ----------------------------------------------------------------------------------------


def test_multipart_upload_retrieve_list_and_delete_a_file(
    client: openai.OpenAI, raw: Raw, recorder: Recorder, spec: OpenAPISpec
) -> None:
    data = b"# Disk full\r\n1. Run df -h.\n\x00\xff"  # bytes as they are: CRLF, NUL, not UTF-8
    made = upload(client, "disk-full.md", data)
    assert made["object"] == "file" and made["id"].startswith("file-")
    assert (made["filename"], made["bytes"], made["purpose"]) == ("disk-full.md", len(data), "assistants")
    assert raw.ok("GET", f"/files/{made['id']}", beta=False) == made
    assert [f["id"] for f in raw.ok("GET", "/files", beta=False)["data"]] == [made["id"]]
    assert raw.ok("DELETE", f"/files/{made['id']}", beta=False) == {"id": made["id"], "object": "file", "deleted": True}
    status, body = raw.call("GET", f"/files/{made['id']}", beta=False)
    assert status == 404 and made["id"] in body["error"]["message"]
    assert_replies_conform(recorder, spec, min_replies=5)


def test_an_upload_without_a_file_or_with_a_bad_purpose_is_a_400(client: openai.OpenAI, raw: Raw) -> None:
    sdk: Any = client
    with pytest.raises(openai.BadRequestError, match="memes"):
        sdk.post(
            "/files",
            cast_to=object,
            body={"purpose": "memes"},
            files=[("file", ("a.md", b"x"))],
            options={"headers": {"Content-Type": "multipart/form-data"}},
        )
    status, body = raw.call("POST", "/files", {"purpose": "assistants"}, beta=False)  # JSON, not multipart
    assert status == 400 and body["error"]["param"] == "file"


# -- Vector stores and indexing -------------------------------------------------------------------


def test_a_batch_indexes_on_the_clock_and_reports_failures_with_reasons(
    client: openai.OpenAI, raw: Raw, recorder: Recorder, spec: OpenAPISpec, clock: FakeClock
) -> None:
    good = upload(client, "disk-full.md", (RUNBOOKS / "disk-full.md").read_bytes())["id"]
    binary = upload(client, "notes.txt", b"\xff\xfe\x00garbage")["id"]
    image = upload(client, "graph.png", b"\x89PNG....")["id"]
    store = raw.ok("POST", "/vector_stores", {"name": "runbooks", "metadata": {"team": "sre"}}, beta=False)
    files = [
        {"file_id": good, "attributes": {ATTR_PATH: "disk-full.md", ATTR_HASH: "abc", "rev": 3}},
        {"file_id": binary},
        {"file_id": image},
    ]
    batch = raw.ok("POST", f"/vector_stores/{store['id']}/file_batches", {"files": files}, beta=False)
    assert batch["status"] == "in_progress" and batch["file_counts"]["in_progress"] == 3
    assert raw.ok("GET", f"/vector_stores/{store['id']}", beta=False)["status"] == "in_progress"
    clock.now += 5
    done = raw.ok("GET", f"/vector_stores/{store['id']}/file_batches/{batch['id']}", beta=False)
    assert done["status"] == "completed"
    assert done["file_counts"] == {"in_progress": 0, "completed": 1, "failed": 2, "cancelled": 0, "total": 3}
    failed = raw.ok(
        "GET", f"/vector_stores/{store['id']}/file_batches/{batch['id']}/files", query={"filter": "failed"}, beta=False
    )["data"]
    reasons = {f["id"]: f["last_error"]["code"] for f in failed}
    assert reasons == {binary: "invalid_file", image: "unsupported_file"}
    listed = raw.ok("GET", f"/vector_stores/{store['id']}/files", query={"filter": "completed"}, beta=False)["data"]
    assert [(f["id"], f["attributes"]["rev"]) for f in listed] == [(good, 3)]
    content = raw.ok("GET", f"/vector_stores/{store['id']}/files/{good}/content", beta=False)
    assert "df -h" in content["data"][0]["text"]
    updated = raw.ok("POST", f"/vector_stores/{store['id']}/files/{good}", {"attributes": {"rev": 4}}, beta=False)
    assert updated["attributes"] == {"rev": 4}
    assert raw.ok("DELETE", f"/vector_stores/{store['id']}/files/{good}", beta=False)["deleted"] is True
    assert raw.ok("GET", f"/files/{good}", beta=False)["id"] == good  # detached, not deleted
    assert raw.ok("DELETE", f"/vector_stores/{store['id']}", beta=False)["object"] == "vector_store.deleted"
    assert_replies_conform(recorder, spec, min_replies=12)


def test_a_cancelled_batch_cancels_the_files_still_indexing(client: openai.OpenAI, raw: Raw) -> None:
    file_id = upload(client, "a.md", b"# A\nsome text here\n")["id"]
    store = raw.ok("POST", "/vector_stores", {"name": "x"}, beta=False)
    batch = raw.ok("POST", f"/vector_stores/{store['id']}/file_batches", {"file_ids": [file_id]}, beta=False)
    cancelled = raw.ok("POST", f"/vector_stores/{store['id']}/file_batches/{batch['id']}/cancel", beta=False)
    assert cancelled["status"] == "cancelled" and cancelled["file_counts"]["cancelled"] == 1


def test_unknown_objects_and_bad_requests_are_openai_errors(
    raw: Raw, recorder: Recorder, spec: OpenAPISpec, client: openai.OpenAI
) -> None:
    assert raw.call("GET", "/vector_stores/vs_nope", beta=False)[0] == 404
    store = raw.ok("POST", "/vector_stores", {"name": "x"}, beta=False)
    status, body = raw.call("POST", f"/vector_stores/{store['id']}/files", {"file_id": "file-nope"}, beta=False)
    assert status == 404 and "file-nope" in body["error"]["message"]
    status, body = raw.call("POST", f"/vector_stores/{store['id']}/search", {"query": ""}, beta=False)
    assert (status, body["error"]["param"]) == (400, "query")
    status, body = raw.call(
        "POST", f"/vector_stores/{store['id']}/search", {"query": "x", "max_num_results": 51}, beta=False
    )
    assert (status, body["error"]["code"]) == (400, "integer_above_max_value")
    file_id = upload(client, "a.md", b"text")["id"]
    too_many = {f"k{i}": "v" for i in range(17)}
    status, body = raw.call(
        "POST", f"/vector_stores/{store['id']}/files", {"file_id": file_id, "attributes": too_many}, beta=False
    )
    assert (status, body["error"]["code"]) == (400, "object_above_max_properties")
    assert_replies_conform(recorder, spec, min_replies=6)


# -- Ranking --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alert", "runbook"),
    [
        ("Disk full on db-1", "disk-full.md"),
        ("DiskSpaceLow: /var at 91% on web-3", "disk-full.md"),
        ("p99 latency above 2s on checkout-api", "high-latency.md"),
        ("Pod payments-7f9c OOMKilled, exit code 137", "oom-kills.md"),
        ("TLS certificate for api.example.com expires in 3 days", "certificate-expiry.md"),
        ("x509: certificate has expired", "certificate-expiry.md"),
        ("Deploy of payments v2.3 failed, error rate up", "failed-deploy.md"),
        ("Rollout stuck: ImagePullBackOff after release", "failed-deploy.md"),
    ],
)
def test_search_ranks_the_runbook_for_an_alert_first(
    alert: str, runbook: str, client: openai.OpenAI, raw: Raw, recorder: Recorder, spec: OpenAPISpec, clock: FakeClock
) -> None:
    store_id, ids = runbook_store(client, raw, clock)
    page = raw.ok("POST", f"/vector_stores/{store_id}/search", {"query": alert, "max_num_results": 3}, beta=False)
    assert page["object"] == "vector_store.search_results.page" and page["search_query"] == [alert]
    assert page["data"][0]["filename"] == runbook, [(d["filename"], d["score"]) for d in page["data"]]
    assert page["data"][0]["file_id"] == ids[runbook]
    scores = [d["score"] for d in page["data"]]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    assert_replies_conform(recorder, spec)


def test_search_filters_by_attributes_and_honours_the_score_threshold(
    client: openai.OpenAI, raw: Raw, clock: FakeClock
) -> None:
    store = raw.ok("POST", "/vector_stores", {"name": "x"}, beta=False)
    for name, team in (("disk-full.md", "storage"), ("high-latency.md", "api")):
        file_id = upload(client, name, (RUNBOOKS / name).read_bytes())["id"]
        raw.ok("POST", f"/vector_stores/{store['id']}/files", {"file_id": file_id, "attributes": {"team": team}})
    clock.now += 5
    path = f"/vector_stores/{store['id']}/search"
    only_api = raw.ok("POST", path, {"query": "disk", "filters": {"type": "eq", "key": "team", "value": "api"}})
    assert [d["filename"] for d in only_api["data"]] in ([], ["high-latency.md"])
    strict = raw.ok("POST", path, {"query": "disk full", "ranking_options": {"score_threshold": 0.99}})
    assert strict["data"] == []


def test_ranking_helpers() -> None:
    assert stem("expires") == stem("expired") == stem("expire") == "expir"
    assert stem("deployments") == stem("deploy") and stem("latencies") == stem("latency")
    assert "the" not in terms("The disk is full")
    pieces = chunk(
        "word " * 2000, {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20}}
    )
    assert len(pieces) > 1 and all(len(p) <= 400 for p in pieces)
    assert matches({"n": 3}, {"type": "and", "filters": [{"type": "gte", "key": "n", "value": 2}]})
    assert not matches({"n": 3}, {"type": "or", "filters": [{"type": "in", "key": "n", "value": [1, 2]}]})
    assert not matches({}, {"type": "gt", "key": "n", "value": 1})


def test_search_over_no_indexed_file_is_nothing_to_search(clock: FakeClock) -> None:
    from keep_openaiassistant.emulator.common import Clock

    knowledge = Knowledge(Clock(clock, clock.sleep), index_time=5.0)
    store = knowledge.new_store(name="x", metadata={})
    knowledge.attach(store, knowledge.add_file("a.md", b"# A\ndisk full"))
    search = knowledge.searcher([store.id])
    assert search is not None and search("disk") is None  # still indexing: the model finds nothing to search
    clock.now += 5
    assert [h.filename for h in search("disk") or []] == ["a.md"]
    assert knowledge.searcher(["vs_unknown"]) is None


# -- File search in runs and responses ------------------------------------------------------------


def test_a_response_with_file_search_cites_the_runbook_and_includes_the_results_when_asked(
    client: openai.OpenAI, raw: Raw, recorder: Recorder, spec: OpenAPISpec, clock: FakeClock
) -> None:
    store_id, ids = runbook_store(client, raw, clock)
    body: dict[str, Any] = {
        "model": "gpt-5.4-mini",
        "input": "Disk full on db-1",
        "tools": [{"type": "file_search", "vector_store_ids": [store_id]}],
    }
    plain = raw.ok("POST", "/responses", body, beta=False)
    search = next(i for i in plain["output"] if i["type"] == "file_search_call")
    assert search["queries"] == ["Disk full on db-1"] and search["results"] is None  # not included
    shown = raw.ok("POST", "/responses", {**body, "include": ["file_search_call.results"]}, beta=False)
    results = next(i for i in shown["output"] if i["type"] == "file_search_call")["results"]
    assert results[0]["filename"] == "disk-full.md" and results[0]["file_id"] == ids["disk-full.md"]
    assert "df -h" in results[0]["text"]
    text = next(i for i in shown["output"] if i["type"] == "message")["content"][0]
    citation = text["annotations"][0]
    assert citation == {"type": "file_citation", "file_id": ids["disk-full.md"], "filename": "disk-full.md",
                        "index": citation["index"]}  # fmt: skip
    assert "【" not in text["text"] and "disk-full.md says:" in text["text"]
    raw.stream("POST", "/responses", {**body, "include": ["file_search_call.results"], "stream": True})
    assert_replies_conform(recorder, spec, min_replies=2, min_events=10)


def test_a_run_with_file_search_records_the_search_step_and_cites_real_files(
    client: openai.OpenAI, raw: Raw, recorder: Recorder, spec: OpenAPISpec, clock: FakeClock
) -> None:
    store_id, ids = runbook_store(client, raw, clock)
    assistant = raw.ok(
        "POST",
        "/assistants",
        {"model": "gpt-5.4-mini", "tools": [{"type": "file_search"}],
         "tool_resources": {"file_search": {"vector_store_ids": [store_id]}}},
    )  # fmt: skip
    thread = raw.ok("POST", "/threads", {"messages": [{"role": "user", "content": "Pod api-1 OOMKilled"}]})
    run = raw.ok("POST", f"/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})
    clock.now += 1
    assert raw.ok("GET", f"/threads/{thread['id']}/runs/{run['id']}")["status"] == "completed"
    message = raw.ok("GET", f"/threads/{thread['id']}/messages")["data"][0]
    annotation = message["content"][0]["text"]["annotations"][0]
    assert annotation["file_citation"] == {"file_id": ids["oom-kills.md"]}
    assert annotation["text"] == "【4:0†oom-kills.md】"
    steps_path = f"/threads/{thread['id']}/runs/{run['id']}/steps"
    step = next(s for s in raw.ok("GET", steps_path)["data"] if s["type"] == "tool_calls")
    result = step["step_details"]["tool_calls"][0]["file_search"]["results"][0]
    assert result["file_name"] == "oom-kills.md" and "content" not in result
    with_content = raw.ok("GET", steps_path, query={"include[]": CONTENT})["data"]
    result = next(s for s in with_content if s["type"] == "tool_calls")["step_details"]["tool_calls"][0]
    assert "OOMKilled" in result["file_search"]["results"][0]["content"][0]["text"]
    thread2 = raw.ok("POST", "/threads", {"messages": [{"role": "user", "content": "Disk full on db-2"}]})
    events = raw.stream("POST", f"/threads/{thread2['id']}/runs", {"assistant_id": assistant["id"], "stream": True})
    deltas = [data for name, data in events if name == "thread.run.step.delta"]
    searched = deltas[0]["delta"]["step_details"]["tool_calls"][0]["file_search"]["results"]
    assert searched[0]["file_name"] == "disk-full.md" and "content" not in searched[0]
    assert_replies_conform(recorder, spec, min_replies=8, min_events=8)


def test_without_a_knowledge_base_the_default_assistant_answers_as_before(raw: Raw) -> None:
    thread = raw.ok("POST", "/threads", {"messages": [{"role": "user", "content": "Disk full on db-1"}]})
    run = raw.ok("POST", f"/threads/{thread['id']}/runs", {"assistant_id": DEFAULT_ASSISTANT_ID})
    steps = raw.ok("GET", f"/threads/{thread['id']}/runs/{run['id']}/steps")["data"]
    assert [s["type"] for s in steps] == ["message_creation"]  # the store is empty: nothing searched


def test_knowledge_loads_a_folder_into_the_default_assistants_store_with_sync_attributes() -> None:
    emu = Emulator(knowledge=RUNBOOKS)
    store = emu.knowledge.stores[RUNBOOKS_VECTOR_STORE]
    assert store.name == "runbooks"
    assert sorted(f.attributes[ATTR_PATH] for f in store.files.values() if f.attributes) == sorted(
        p.name for p in RUNBOOKS.glob("*.md")
    )
    assert all(f.status == "completed" for f in store.files.values())
    with pytest.raises(FileNotFoundError):
        Emulator(knowledge=RUNBOOKS / "missing")


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_the_engine_cites_the_runbook_with_its_file_id_filename_quote_and_sentence(api: str) -> None:
    """Both backends, real clock: the citation a Keep step gets names the file the store holds."""
    with Emulator(knowledge=RUNBOOKS, model_time=0.02) as emu:
        settings = Settings(
            api_key="sk-emulator",
            base_url=emu.base_url,
            api=api,
            assistant_id=DEFAULT_ASSISTANT_ID if api == "assistants" else None,
            vector_store_ids=(RUNBOOKS_VECTOR_STORE,) if api == "responses" else (),
        )
        with Assistant(settings) as assistant:
            result = assistant.ask("Disk full on db-1", max_wait_time=20).to_dict()
        files = {f.file.filename: f.file.id for f in emu.knowledge.stores[RUNBOOKS_VECTOR_STORE].files.values()}
    [citation] = result["citations"]
    assert citation["file_id"] == files["disk-full.md"] and citation["filename"] == "disk-full.md"
    assert citation["quote"] and citation["quote"] in (RUNBOOKS / "disk-full.md").read_text()
    assert 0 < len(citation["quote"]) <= 300
    assert citation["used_in"] and "[1]" not in citation["used_in"]
    assert "[1]" in result["raw_response"] and "【" not in result["raw_response"]
