"""The workflow examples in examples/workflows/, parsed and run by Keep against the emulator.

Parsing builds every step's provider from its config the way Keep does, so a wrong provider
type, a config reference or a `with:` shape Keep cannot take fails here. Running goes through
Keep's own workflow runner (steps, actions, templates, enrich_alert into Keep's database) with
the provider names the README uses (`oncall_assistant`, `deploy_api`). Only the deploy API of
the function-outputs example is not ours: its URL is pointed at a stub on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from _keepenv import KEEP_PRESENT, SKIP_REASON

if not KEEP_PRESENT:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from test_workflow import alert, parse_workflow, step_result

from keep_openaiassistant.emulator import DEFAULT_ASSISTANT_ID, Emulator

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workflows"
TRIAGE = EXAMPLES / "ai_alert_triage_with_assistant.yaml"
DEPLOYS = EXAMPLES / "assistant_with_function_outputs.yaml"
DEPLOY_API = "https://deploys.internal.example"
RECENT_DEPLOYS = [{"service": "checkout", "version": "v2.14.0", "at": "2026-08-01T09:55:00Z"}]


@pytest.fixture(params=["assistants", "responses"])
def providers(
    request: pytest.FixtureRequest, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, light_providers_folder: None
) -> dict[str, Any]:
    """The README's provider names in KEEP_PROVIDERS (with Keep's `type`), on either backend."""
    auth: dict[str, Any] = {"api_key": "sk-emulator", "base_url": emulator.base_url, "api": request.param}
    if request.param == "assistants":
        auth["assistant_id"] = DEFAULT_ASSISTANT_ID
    configs = {
        "oncall_assistant": {"type": "openaiassistant", "authentication": auth},
        "deploy_api": {"type": "http", "authentication": {}},
    }
    monkeypatch.setenv("KEEP_PROVIDERS", json.dumps(configs))
    return auth


def _examples() -> list[Any]:
    paths = sorted(EXAMPLES.glob("*.y*ml")) if EXAMPLES.is_dir() else []
    return [pytest.param(p, id=p.name) for p in paths] or [
        pytest.param(None, marks=pytest.mark.skip(reason="no examples"))
    ]


@pytest.mark.parametrize("path", _examples())
def test_keep_parses_the_example(path: Path, providers: dict[str, Any]) -> None:
    workflow = parse_workflow(path.read_text(encoding="utf-8"), workflow_id=path.stem)
    steps = [*workflow.workflow_steps, *workflow.workflow_actions]
    ours = [s for s in steps if s.provider.provider_type == "openaiassistant"]
    assert ours, "the example uses the provider"


def fire(text: str, event: dict[str, Any]) -> dict[str, Any]:
    """One firing: Keep parses the workflow and runs it on ``event`` as its alert; every step and
    action must succeed. Returns Keep's steps context."""
    from keep.api.models.alert import AlertDto

    workflow = _parse(text)
    workflow.context_manager.set_event_context(AlertDto(**event))
    errors = workflow.run("exec-1")
    assert not [e for e in errors or [] if e], f"actions failed: {errors}"
    steps: dict[str, Any] = workflow.context_manager.steps_context
    return steps


def _parse(text: str) -> Any:
    """Keep's parser as its server calls it, for a tenant: current Keep writes a step's
    enrich_alert for the workflow's tenant, and a run without one (tenant None) cannot store it.
    Keep 0.2.7 always has its single tenant (test_workflow.parse_workflow)."""
    import inspect

    import yaml
    from keep.parser.parser import Parser

    parser = Parser()
    if "workflow_db_id" not in inspect.signature(parser.parse).parameters:
        return parse_workflow(text)
    parsed = parser.parse(tenant_id=CURRENT_KEEP_TENANT, parsed_workflow_yaml=yaml.safe_load(text), workflow_db_id="x")
    return parsed[0] if isinstance(parsed, list) else parsed


CURRENT_KEEP_TENANT = "keep"  # current Keep's single tenant (SINGLE_TENANT_UUID)


def tenant() -> str:
    """The tenant the workflow ran for (0.2.7: singletenant; current Keep: as parsed above)."""
    return str(_parse(TRIAGE.read_text(encoding="utf-8")).context_manager.tenant_id)


@pytest.fixture
def keep_tables() -> None:
    """Keep's tables in its SQLite database (./keep.db in the test's directory): current Keep
    creates them only through its server's migrations, and enrich_alert writes to them."""
    from keep.api.core.db import engine
    from sqlmodel import SQLModel

    SQLModel.metadata.create_all(engine)


def enrichments(fingerprint: str) -> dict[str, Any]:
    """What Keep stored on the alert (its enrichments table), as Keep merges it into the next event."""
    from keep.api.core.db import get_enrichment

    found = get_enrichment(tenant(), fingerprint)
    return dict(found.enrichments) if found is not None else {}


def _keep_drops_a_steps_lists() -> bool:
    """Keep 0.2.7's parser keeps only a step's string and mapping ``with:`` values (lists such as
    ``enrich_alert`` survive in actions only); current Keep keeps them and enriches in ``query()``."""
    from keep.parser.parser import Parser

    return not Parser.parse_provider_parameters({"enrich_alert": [{"key": "k", "value": "v"}]})


def test_triage_starts_a_thread_and_the_same_alert_firing_again_continues_it(
    providers: dict[str, Any], keep_tables: None
) -> None:
    text = TRIAGE.read_text(encoding="utf-8")
    first_event = alert(description="Disk full on db-1", fingerprint=f"fp-triage-{providers['api']}")
    first = step_result(fire(text, first_event), "triage")
    assert first["status"] == "completed"
    assert set(first["response"]) == {"severity", "summary", "owner", "next_steps"}
    if _keep_drops_a_steps_lists():
        # Keep 0.2.7: store what the step's enrich_alert names, with Keep's own DB call, as
        # current Keep's BaseProvider.query() does after the step.
        from keep.api.core.db import enrich_alert

        enrich_alert(
            tenant(),
            first_event["fingerprint"],
            {"assistant_thread_id": first["thread_id"], "ai_severity": first["response"]["severity"]},
        )
    stored = enrichments(first_event["fingerprint"])
    assert stored["assistant_thread_id"] == first["thread_id"]
    assert stored["ai_severity"] == first["response"]["severity"]

    # The same alert fires again: Keep hands the workflow the alert with its enrichments.
    again_event = {**first_event, "lastReceived": "2026-08-01T10:30:00.000Z", **stored}
    again = step_result(fire(text, again_event), "triage")
    assert again["thread_id"] == first["thread_id"], "one thread across both firings"
    prompts = [m["content"] for m in again["messages"] if m["role"] == "user"]
    assert len(prompts) == 2
    assert "fired at 2026-08-01T10:00:00.000Z" in prompts[0] and "fired at 2026-08-01T10:30:00.000Z" in prompts[1]
    assert enrichments(first_event["fingerprint"])["assistant_thread_id"] == first["thread_id"]


class _Deploys(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(RECENT_DEPLOYS).encode() if self.path == "/api/recent?service=checkout" else b"[]"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def deploy_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Deploys)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_deploy_example_answers_the_assistants_function_call_from_the_earlier_step(
    providers: dict[str, Any], deploy_api: str
) -> None:
    text = DEPLOYS.read_text(encoding="utf-8").replace(DEPLOY_API, deploy_api)
    # [[tool:recent_deploys]] makes the emulator's model call the function.
    event = alert(name="CheckoutErrors", service="checkout", description="[[tool:recent_deploys]] 5xx at 12%.")
    steps = fire(text, event)
    triage = step_result(steps, "triage")
    assert triage["status"] == "completed"
    calls = [c for c in triage["tool_calls"] if c.get("name") == "recent_deploys"]
    assert calls, triage["tool_calls"]
    assert "v2.14.0" in json.dumps(calls[0])  # the deploy list reached the assistant as the call's output
    assert isinstance(triage["response"], str)  # parse_json: false keeps prose as text
    assert triage["response"] == triage["raw_response"]
