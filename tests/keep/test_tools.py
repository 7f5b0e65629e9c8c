"""Tools answered by Keep providers, through Keep's own parser, renderer and provider factory.

The workflow declares the assistant's tools in the step's ``with:``. Keep renders every string
of it (``{{ alert.name }}`` becomes the alert's name) and leaves the ``${args.NAME}``
placeholders alone; the step then builds each tool's provider through Keep's
``ProvidersFactory`` from the providers Keep loaded for the workflow (KEEP_PROVIDERS here: the
parser puts them in the same ``providers_context`` as the tenant's installed providers), and
calls its ``query`` with the model's arguments in the placeholders.

``tools:`` is the mapping form ``{functions: [...]}``: keephq 0.2.7's parser drops list values
of ``with:`` (it keeps strings and mappings), current Keep keeps both.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from _keepenv import KEEP_PRESENT, SKIP_REASON

if not KEEP_PRESENT:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from test_workflow import alert, run_workflow, step_result

from keep_openaiassistant.emulator import DEFAULT_ASSISTANT_ID, Emulator
from keep_openaiassistant.emulator.oncall_tools import ONCALL_FUNCTIONS

SCHEMAS = {f["name"]: f["parameters"] for f in ONCALL_FUNCTIONS}

WORKFLOW = """
workflow:
  id: assistant-tools-test
  triggers:
    - type: alert
  steps:
    - name: investigate
      provider:
        type: openaiassistant
        config: "{{ providers.oncall_assistant }}"
        with:
          prompt: "{{ alert.name }} on checkout. {{ alert.description }}"
          tools:
            functions:
              - name: get_logs
                description: Recent error logs of a service, from the installed log provider.
                parameters: %(get_logs)s
                provider:
                  type: mock
                  config: ops_logs
                  with:
                    command_output: "{{ alert.name }}: 3 errors in ${args.service}, last ${args.since_minutes} min, \\
                      level ${args.level}"
              - name: lookup_owner
                parameters: %(lookup_owner)s
                provider:
                  type: http
                  config:
                    authentication: {}
                  with:
                    url: "http://127.0.0.1:9/owner"
                    method: GET
                    params:
                      service: "${args.service}"
              - name: recent_deploys
                parameters: %(recent_deploys)s
                provider:
                  type: mock
                  config: not_installed
            limits:
              call_timeout: 10
"""


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_a_workflows_assistant_calls_keep_providers_with_placeholders_surviving_keeps_rendering(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, light_providers_folder: None, api: str
) -> None:
    auth: dict[str, Any] = {"api_key": "sk-emulator", "base_url": emulator.base_url, "api": api}
    if api == "assistants":
        auth["assistant_id"] = DEFAULT_ASSISTANT_ID
    providers = {"oncall_assistant": {"authentication": auth}, "ops_logs": {"authentication": {}}}
    monkeypatch.setenv("KEEP_PROVIDERS", json.dumps(providers))
    text = WORKFLOW % {name: json.dumps(SCHEMAS[name]) for name in ("get_logs", "lookup_owner", "recent_deploys")}
    # The emulator's tags come in through the alert: keephq 0.2.7 turns "[" into "." in with: strings.
    event = alert(description="[[tool:get_logs]] [[tool:lookup_owner]] [[tool:recent_deploys]]")
    result = step_result(run_workflow(text, event), "investigate")
    assert result["status"] == "completed"
    logs, owner, deploys = result["tool_calls"]

    # Keep rendered {{ alert.name }}; ${args...} reached the step and took the model's arguments.
    arguments = json.loads(logs["arguments"])
    assert logs["source"] == "provider" and logs["status"] == "ok"
    assert logs["output"] == (
        f"DiskFull: 3 errors in {arguments['service']}, last {arguments['since_minutes']} min, "
        f"level {arguments['level']}"
    )
    assert "Tool get_logs said: DiskFull: 3 errors in" in result["raw_response"]

    # Keep's http provider raised (nothing listens on port 9): the model was told, the step went on.
    assert owner["source"] == "provider" and owner["status"] == "error" and "the tool failed" in owner["error"]
    # A provider Keep does not know: said so, nothing built.
    assert deploys["status"] == "error" and "no provider named 'not_installed'" in deploys["error"]
    assert json.loads(json.dumps(result)) == result


def test_the_runner_resolves_a_name_from_the_providers_keep_loaded(context_manager: Any) -> None:
    from keep_openaiassistant.keep_adapter.tools import KeepProviderRunner
    from keep_openaiassistant.tools import ProviderSource, ToolFailure

    context_manager.providers_context["ops_logs"] = {"authentication": {}}
    runner = KeepProviderRunner(context_manager, logger=__import__("logging").getLogger("test"))
    source = ProviderSource("mock", config_name="ops_logs")
    assert runner(source, {"command_output": "ok"}, timeout=5) == "ok"
    with pytest.raises(ToolFailure, match="no provider named 'missing'"):
        runner(ProviderSource("mock", config_name="missing"), {}, timeout=5)
    with pytest.raises(ToolFailure, match="could not build provider"):
        runner(ProviderSource("no_such_type", config={"authentication": {}}), {}, timeout=5)


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workflows"


def example(name: str, **replace: str) -> str:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


ENRICH = """          enrich_alert:
            - key: assistant_thread_id
              value: results.thread_id
            - key: restart_call_ids
              value: results.pending_call_ids
"""


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_the_approval_examples_propose_a_restart_and_a_second_workflow_approves_it(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, light_providers_folder: None, api: str
) -> None:
    from tools_server import ToolServer

    auth: dict[str, Any] = {"api_key": "sk-emulator", "base_url": emulator.base_url, "api": api}
    if api == "assistants":
        auth["assistant_id"] = DEFAULT_ASSISTANT_ID
    monkeypatch.setenv("KEEP_PROVIDERS", json.dumps({"oncall_assistant": {"authentication": auth}}))
    with ToolServer() as server:
        swap = {
            "https://deploy.internal.example/api/restart": server.url("/echo"),
            "Bearer {{ secrets.deploy_token }}": "Bearer test-token",
        }
        event = alert(service="checkout", description="OOMKilled 14 times [[tool:restart_service]]")
        # enrich_alert needs Keep's database (current Keep creates it only by migrations): the test
        # hands the second workflow what it would store, from the first step's results.
        text = example("ai_restart_approval_request.yaml", **swap, **{ENRICH: ""})
        request = step_result(run_workflow(text, event), "investigate")
        assert request["status"] == "requires_approval" and server.received == []
        assert request["pending_call_ids"] == request["pending_calls"][0]["id"]

        # What enrich_alert stored on the alert, as the person's workflow sees it.
        approved = alert(
            service="checkout",
            assistant_thread_id=request["thread_id"],
            restart_call_ids=request["pending_call_ids"],
        )
        grant = step_result(run_workflow(example("ai_restart_approval_grant.yaml", **swap), approved), "approve")
        assert grant["status"] == "completed" and server.received == [("POST", "/echo")]
        assert 'Tool restart_service said: {"method": "POST"' in grant["raw_response"]
        assert grant["thread_id"] == request["thread_id"]


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_the_tools_example_triages_with_a_keep_provider_and_an_http_endpoint(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, light_providers_folder: None, api: str
) -> None:
    from tools_server import ToolServer

    auth: dict[str, Any] = {"api_key": "sk-emulator", "base_url": emulator.base_url, "api": api}
    if api == "assistants":
        auth["assistant_id"] = DEFAULT_ASSISTANT_ID
    providers = {"oncall_assistant": {"authentication": auth}, "datadog-prod": {"authentication": {}}}
    monkeypatch.setenv("KEEP_PROVIDERS", json.dumps(providers))
    with ToolServer() as server:
        # Datadog is swapped for Keep's mock provider (its query returns command_output).
        text = example(
            "ai_triage_with_tools.yaml",
            **{
                "type: datadog": "type: mock",
                "query_type: logs": 'command_output: "OOMKilled x14 in ${args.service}"',
                "https://catalog.internal.example/api/owners": server.url("/owner"),
                "Bearer {{ secrets.catalog_token }}": "Bearer test-token",
            },
        )
        event = alert(
            severity="critical", service="checkout", description="[[tool:get_logs]] [[then]] [[tool:lookup_owner]]"
        )
        result = step_result(run_workflow(text, event), "triage")
    assert result["status"] == "completed"
    assert [(c["name"], c["source"], c["status"], c["round"]) for c in result["tool_calls"]] == [
        ("get_logs", "provider", "ok", 1),
        ("lookup_owner", "http", "ok", 2),
    ]
    assert (
        "Tool get_logs said: OOMKilled x14 in" in result["raw_response"]
        and '"team": "payments"' in result["raw_response"]
    )


INSTALLED = """
workflow:
  id: assistant-installed-provider-test
  triggers:
    - type: alert
  steps:
    - name: investigate
      provider:
        type: openaiassistant
        config: "{{ providers.oncall_assistant }}"
        with:
          prompt: "{{ alert.name }} on checkout. {{ alert.description }}"
          tools:
            functions:
              - name: lookup_owner
                parameters: %(lookup_owner)s
                provider:
                  type: http
                  config: catalog
                  with:
                    url: "%(url)s"
                    method: GET
                    params:
                      service: "${args.service}"
"""


def test_a_tool_uses_a_provider_installed_for_the_tenant(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, light_providers_folder: None, tmp_path: Path
) -> None:
    # Installed the way Keep's install endpoint leaves a provider: a row in Keep's database for the
    # tenant and its config in Keep's secret manager. Keep's parser loads it into the workflow's
    # providers (by id and by name), and the tool names it.
    from keep.parser.parser import Parser

    if "workflow_db_id" in inspect.signature(Parser().parse).parameters:
        pytest.skip("current Keep parses a workflow here without its database (tenant_id=None)")
    import datetime

    from keep.api.core.db import create_db_and_tables, engine
    from keep.api.models.db.provider import Provider
    from keep.contextmanager.contextmanager import ContextManager
    from keep.secretmanager.secretmanagerfactory import SecretManagerFactory
    from sqlmodel import Session
    from tools_server import ToolServer

    monkeypatch.setenv("SECRET_MANAGER_TYPE", "FILE")
    monkeypatch.setenv("SECRET_MANAGER_DIRECTORY", str(tmp_path))
    tenant = "singletenant"
    auth: dict[str, Any] = {
        "api_key": "sk-emulator",
        "base_url": emulator.base_url,
        "assistant_id": DEFAULT_ASSISTANT_ID,
    }
    monkeypatch.setenv("KEEP_PROVIDERS", json.dumps({"oncall_assistant": {"authentication": auth}}))
    create_db_and_tables()
    with Session(engine) as session:
        session.add(
            Provider(
                id="prov-catalog",
                tenant_id=tenant,
                name="catalog",
                type="http",
                installed_by="test",
                installation_time=datetime.datetime.now(),
                configuration_key=f"{tenant}_http_prov-catalog",
                validatedScopes={},
            )
        )
        session.commit()
    secrets = SecretManagerFactory.get_secret_manager(ContextManager(tenant_id=tenant))
    secrets.write_secret(secret_name=f"{tenant}_http_prov-catalog", secret_value=json.dumps({"authentication": {}}))
    with ToolServer() as server:
        text = INSTALLED % {"lookup_owner": json.dumps(SCHEMAS["lookup_owner"]), "url": server.url("/echo")}
        result = step_result(run_workflow(text, alert(description="[[tool:lookup_owner]]")), "investigate")
        assert server.received == [("GET", "/echo")]
    [owner] = result["tool_calls"]
    assert owner["source"] == "provider" and owner["status"] == "ok", owner.get("error")
    assert json.loads(owner["arguments"])["service"] in owner["output"]
