"""The tools of the emulator's default assistant: an on-call triage kit.

A model only calls functions its request declares (see :mod:`.model`), so the default assistant
(``asst_emulator``) declares a small, realistic set that prompts can call with ``[[tool:NAME]]``:

| function          | parameters (all required, strict)                                  |
|-------------------|--------------------------------------------------------------------|
| ``get_logs``      | ``service``, ``since_minutes`` (integer), ``level`` (error/warning/info) |
| ``get_metrics``   | ``host``, ``metric`` (cpu/memory/disk_io/latency_p99), ``window_minutes`` |
| ``get_disk_usage``| ``host``, ``mount``                                                |
| ``lookup_owner``  | ``service``                                                        |
| ``page_oncall``   | ``team``, ``summary``, ``urgency`` (high/low)                      |
| ``recent_deploys``| ``service``, ``hours`` (integer)                                   |
| ``restart_service``| ``service``, ``reason`` — an action: workflows mark it as needing approval |

alongside ``code_interpreter`` and ``file_search`` (over the vector store
:data:`RUNBOOKS_VECTOR_STORE`). :func:`assistant_tools` gives them in the Assistants API's shape
(``AssistantToolsFunction``: ``{"type": "function", "function": {...}}``), :func:`response_tools`
the functions in the Responses API's flat shape (``{"type": "function", "name": ...}``).
"""

from __future__ import annotations

import copy
from typing import Any

RUNBOOKS_VECTOR_STORE = "vs_emulator_runbooks"


def _function(name: str, description: str, **properties: dict[str, Any]) -> dict[str, Any]:
    """A strict FunctionObject: every property required, no others allowed."""
    parameters = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return {"name": name, "description": description, "parameters": parameters, "strict": True}


_TEXT = {"type": "string"}

ONCALL_FUNCTIONS: tuple[dict[str, Any], ...] = (
    _function(
        "get_logs",
        "Recent log lines of a service, newest first.",
        service={**_TEXT, "description": "Service name, e.g. checkout-api."},
        since_minutes={"type": "integer", "description": "How far back to read."},
        level={"type": "string", "enum": ["error", "warning", "info"], "description": "Lowest level to include."},
    ),
    _function(
        "get_metrics",
        "A metric of a host over a recent window: min, max, mean and the latest value.",
        host={**_TEXT, "description": "Host name, e.g. db-1."},
        metric={"type": "string", "enum": ["cpu", "memory", "disk_io", "latency_p99"]},
        window_minutes={"type": "integer", "description": "Length of the window."},
    ),
    _function(
        "get_disk_usage",
        "Used and free space of a mount on a host.",
        host={**_TEXT, "description": "Host name, e.g. db-1."},
        mount={**_TEXT, "description": "Mount point, e.g. /var."},
    ),
    _function(
        "lookup_owner",
        "The team that owns a service, with its on-call channel.",
        service={**_TEXT, "description": "Service name, e.g. checkout-api."},
    ),
    _function(
        "page_oncall",
        "Page the on-call engineer of a team.",
        team={**_TEXT, "description": "Team name, as lookup_owner gives it."},
        summary={**_TEXT, "description": "One line saying what is wrong."},
        urgency={"type": "string", "enum": ["high", "low"]},
    ),
    _function(
        "recent_deploys",
        "Deploys of a service in the last hours, newest first.",
        service={**_TEXT, "description": "Service name, e.g. checkout-api."},
        hours={"type": "integer", "description": "How far back to look."},
    ),
    _function(
        "restart_service",
        "Restart a service's pods (an action: Keep workflows usually require a person's approval).",
        service={**_TEXT, "description": "Service name, e.g. checkout-api."},
        reason={**_TEXT, "description": "Why, in one line."},
    ),
)

FUNCTION_NAMES: tuple[str, ...] = tuple(f["name"] for f in ONCALL_FUNCTIONS)


def assistant_tools() -> list[dict[str, Any]]:
    """The default assistant's ``tools``: code interpreter, file search and the on-call functions."""
    file_search = {
        "type": "file_search",
        "file_search": {"ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0}},
    }
    functions = [{"type": "function", "function": copy.deepcopy(f)} for f in ONCALL_FUNCTIONS]
    return [{"type": "code_interpreter"}, file_search, *functions]


def assistant_tool_resources() -> dict[str, Any]:
    """The default assistant's ``tool_resources``: the runbooks its file search reads."""
    return {"file_search": {"vector_store_ids": [RUNBOOKS_VECTOR_STORE]}}


def response_tools(*names: str) -> list[dict[str, Any]]:
    """The on-call functions named (default: all) as Responses API function tools."""
    chosen = [f for f in ONCALL_FUNCTIONS if not names or f["name"] in names]
    unknown = set(names) - {f["name"] for f in chosen}
    if unknown:
        raise ValueError(f"not an on-call function: {sorted(unknown)}; choose from {list(FUNCTION_NAMES)}")
    return [{"type": "function", **copy.deepcopy(f)} for f in chosen]


def function_names(tools: list[dict[str, Any]] | None) -> frozenset[str]:
    """Names of the function tools among ``tools``, in either API's shape."""
    names = set()
    for tool in tools or []:
        if isinstance(tool, dict) and tool.get("type") == "function":
            name = (tool.get("function") or {}).get("name") if "function" in tool else tool.get("name")
            if isinstance(name, str):
                names.add(name)
    return frozenset(names)


def function_parameters(tools: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Function name -> its parameters' JSON schema, for the function tools among ``tools`` (either
    API's shape): the emulated model calls each with an instance of its schema."""
    found: dict[str, dict[str, Any]] = {}
    for tool in tools or []:
        if isinstance(tool, dict) and tool.get("type") == "function":
            inner = tool.get("function")
            spec: dict[str, Any] = inner if isinstance(inner, dict) else tool
            name = spec.get("name")
            if isinstance(name, str):
                parameters = spec.get("parameters")
                found[name] = parameters if isinstance(parameters, dict) else {"type": "object"}
    return found
