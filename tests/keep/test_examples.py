"""The workflow examples in examples/workflows/, parsed and (where self-contained) run by Keep.

Parsing builds every step's provider from its config the way Keep does, so a wrong provider
type, a config reference or a `with:` shape Keep cannot take fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _keepenv import KEEP_PRESENT, SKIP_REASON

if not KEEP_PRESENT:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from test_workflow import alert, parse_workflow, run_workflow, step_result

from keep_openaiassistant import Assistant, Settings
from keep_openaiassistant.emulator import DEFAULT_ASSISTANT_ID, Emulator

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workflows"
CONTINUE = EXAMPLES / "continue_thread_on_alert_update.yaml"


@pytest.fixture
def providers(emulator: Emulator, monkeypatch: pytest.MonkeyPatch, light_providers_folder: None) -> dict[str, Any]:
    auth = {"api_key": "sk-emulator", "base_url": emulator.base_url, "assistant_id": DEFAULT_ASSISTANT_ID}
    configs = {"oncall_assistant": {"authentication": auth}, "deploy_api": {"authentication": {}}}
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


@pytest.mark.skipif(not CONTINUE.is_file(), reason="example not present")
def test_the_continue_thread_example_starts_a_thread_without_one_and_continues_with_one(
    providers: dict[str, Any],
) -> None:
    text = CONTINUE.read_text(encoding="utf-8")
    # No stored thread: the key/default form renders thread_id empty, so a new thread starts.
    first = step_result(run_workflow(text, alert()), "refire")
    assert first["thread_id"].startswith("thread_")
    assert len(first["messages"]) == 2
    thread_id = Assistant(Settings(**providers)).ask("Disk full on db-1").thread_id
    steps = run_workflow(text, alert(assistant_thread_id=thread_id))
    refire = step_result(steps, "refire")
    assert refire["thread_id"] == thread_id
    assert len(refire["messages"]) == 4
