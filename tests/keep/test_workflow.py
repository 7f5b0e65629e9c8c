"""A workflow YAML run by Keep's own parser and workflow runner, against the emulator.

This is the whole path a user's workflow takes: providers from KEEP_PROVIDERS, ``config:
"{{ providers.NAME }}"``, ``with:`` values rendered by Keep (numbers and booleans as strings),
results in ``steps.<name>.results``, and a follow-up step continuing the thread by template.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
import yaml
from _keepenv import KEEP_PRESENT, SKIP_REASON

if not KEEP_PRESENT:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from keep_openaiassistant.emulator import DEFAULT_ASSISTANT_ID, Emulator

WORKFLOW = """
workflow:
  id: assistant-triage-test
  description: triage, then a follow-up in the same thread
  triggers:
    - type: manual
  steps:
    - name: triage
      provider:
        type: openaiassistant
        config: "{{ providers.oncall_assistant }}"
        with:
          prompt: "Disk full on db-1. Answer as JSON."
          max_wait_time: "45"
          structured_output_format:
            type: json_schema
            json_schema:
              name: triage
              strict: true
              schema:
                type: object
                properties:
                  severity: {type: string}
                required: [severity]
                additionalProperties: false
    - name: followup
      provider:
        type: openaiassistant
        config: "{{ providers.oncall_assistant }}"
        with:
          prompt: "Who owns db-1?"
          thread_id: "{{ steps.triage.results.thread_id }}"
          parse_json: "false"
"""


def parse_workflow(text: str, workflow_id: str = "assistant-triage-test") -> Any:
    """Keep's parser, with whatever API this Keep version has.

    Current Keep parses and runs a workflow without a database when given ``tenant_id=None``
    and a ``workflow_db_id`` (as its CLI does). Keep 0.2.7 always looks the workflow up in its
    database: there, create Keep's tables in sqlite ./keep.db (the test's temporary directory).
    """
    from keep.parser.parser import Parser

    parser = Parser()
    kwargs: dict[str, Any] = {"parsed_workflow_yaml": yaml.safe_load(text)}
    if "workflow_db_id" in inspect.signature(parser.parse).parameters:
        kwargs.update(tenant_id=None, workflow_db_id=workflow_id)
    else:
        from keep.api.core.db import create_db_and_tables

        create_db_and_tables()
        kwargs.update(tenant_id="singletenant")
    parsed = parser.parse(**kwargs)
    return parsed[0] if isinstance(parsed, list) else parsed


def run_workflow(text: str, alert: dict[str, Any] | None = None) -> dict[str, Any]:
    """Parse and run (with ``alert`` as the triggering event); return Keep's steps context."""
    workflow = parse_workflow(text)
    if alert is not None:
        from keep.api.models.alert import AlertDto

        workflow.context_manager.set_event_context(AlertDto(**alert))
    workflow.run("exec-1")
    steps: dict[str, Any] = workflow.context_manager.steps_context
    return steps


@pytest.mark.parametrize("api", ["assistants", "responses"])
def test_a_workflow_triages_and_follows_up_in_the_same_thread(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, light_providers_folder: None, api: str
) -> None:
    auth: dict[str, Any] = {"api_key": "sk-emulator", "base_url": emulator.base_url, "api": api}
    if api == "assistants":
        auth["assistant_id"] = DEFAULT_ASSISTANT_ID
    monkeypatch.setenv("KEEP_PROVIDERS", json.dumps({"oncall_assistant": {"authentication": auth}}))
    steps = run_workflow(WORKFLOW)
    triage, followup = steps["triage"]["results"], steps["followup"]["results"]
    if isinstance(triage, list):  # some Keep versions keep a list per step
        triage, followup = triage[-1], followup[-1]
    assert isinstance(triage["response"], dict) and "severity" in triage["response"]
    assert followup["thread_id"] == triage["thread_id"]
    assert isinstance(followup["response"], str)
    assert [m["content"] for m in followup["messages"] if m["role"] == "user"] == [
        "Disk full on db-1. Answer as JSON.",
        "Who owns db-1?",
    ]


REFIRE = """
workflow:
  id: assistant-refire-test
  triggers:
    - type: alert
  steps:
    - name: refire
      provider:
        type: openaiassistant
        config: "{{ providers.oncall_assistant }}"
        with:
          prompt: "{{ alert.name }} fired again"
          thread_id:
            key: "{{ alert.assistant_thread_id }}"
            default: ""
"""


def alert(**extra: Any) -> dict[str, Any]:
    return {
        "id": "a1",
        "name": "DiskFull",
        "status": "firing",
        "severity": "critical",
        "lastReceived": "2026-08-01T10:00:00.000Z",
        "source": ["prometheus"],
        "fingerprint": "fp-1",
        **extra,
    }


def step_result(steps: dict[str, Any], name: str) -> dict[str, Any]:
    results = steps[name]["results"]
    return results[-1] if isinstance(results, list) else results  # type: ignore[no-any-return]


def test_a_thread_id_from_the_alert_continues_it_and_its_absence_starts_one(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, light_providers_folder: None
) -> None:
    # The pattern docs/keep.md recommends for "continue the conversation in a later workflow":
    # `thread_id: {key: "{{ alert.assistant_thread_id }}", default: ""}` renders a missing field
    # as empty, which starts a new thread (a plain "{{ alert.x }}" string fails the step in
    # current Keep when the field is missing; without `default` Keep 0.2.7 fails on None).
    auth = {"api_key": "sk-emulator", "base_url": emulator.base_url, "assistant_id": DEFAULT_ASSISTANT_ID}
    monkeypatch.setenv("KEEP_PROVIDERS", json.dumps({"oncall_assistant": {"authentication": auth}}))
    first = step_result(run_workflow(REFIRE, alert()), "refire")
    assert first["thread_id"].startswith("thread_") and len(first["messages"]) == 2
    again = step_result(run_workflow(REFIRE, alert(assistant_thread_id=first["thread_id"])), "refire")
    assert again["thread_id"] == first["thread_id"]
    assert [m["content"] for m in again["messages"] if m["role"] == "user"] == ["DiskFull fired again"] * 2


FOREACH = """
workflow:
  id: assistant-foreach-test
  triggers:
    - type: alert
  steps:
    - name: each
      foreach: "{{ alert.services }}"
      provider:
        type: openaiassistant
        config: "{{ providers.oncall_assistant }}"
        with:
          prompt: "Check {{ foreach.value }}"
"""


def test_foreach_reuses_one_engine_for_every_item(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, light_providers_folder: None
) -> None:
    # Keep builds the provider once per step and calls it for each item: one engine, one
    # connection pool, one result per item.
    from keep.parser.parser import Parser

    if "workflow_db_id" not in inspect.signature(Parser().parse).parameters:
        pytest.skip("Keep 0.2.7's foreach cannot iterate over a field of an AlertDto event")
    from keep_openaiassistant.keep_adapter import provider as keep_provider

    built: list[Any] = []

    class CountingAssistant(keep_provider.Assistant):  # type: ignore[misc,name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(keep_provider, "Assistant", CountingAssistant)
    auth = {"api_key": "sk-emulator", "base_url": emulator.base_url, "assistant_id": DEFAULT_ASSISTANT_ID}
    monkeypatch.setenv("KEEP_PROVIDERS", json.dumps({"oncall_assistant": {"authentication": auth}}))
    results = run_workflow(FOREACH, alert(services=["db", "api", "web"]))["each"]["results"]
    assert [r["messages"][0]["content"] for r in results] == ["Check db", "Check api", "Check web"]
    assert len({r["thread_id"] for r in results}) == 3, "each item starts its own thread"
    assert len(built) == 1
