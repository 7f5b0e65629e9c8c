"""What the emulated model does with a request's hosted MCP servers (Responses API).

Scripted by the prompt tag ``[[mcp:TOOL]]`` (repeatable): for each server in ``tools`` of type
``mcp`` the emulator, as OpenAI's servers do, lists the server's tools over MCP
(an ``mcp_list_tools`` item), then for each tagged TOOL the server offers (and ``allowed_tools``
permits):

- ``require_approval`` ``never`` (or the tool listed under ``{"never": {"tool_names": [...]}}``):
  calls it (``tools/call`` with an instance of its ``inputSchema``): an ``mcp_call`` item with
  ``output`` or ``error``, and the answer uses the output ("Tool TOOL said: ...");
- otherwise an ``mcp_approval_request`` item and no answer: the response completes waiting. A
  later request answering it with ``mcp_approval_response`` (``approve: true``) makes the call;
  ``false`` skips it and the answer says "TOOL was not approved".

Items of the conversation since the last user message tell which requests are answered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .common import long_id
from .mcp_client import McpError, McpSession
from .model import TAG, _instance


@dataclass
class McpTurn:
    items: list[dict[str, Any]] = field(default_factory=list)  # output items, before the answer
    outputs: dict[str, str] = field(default_factory=dict)  # tool name -> what the answer quotes
    waiting: bool = False  # an approval request is open: no answer in this response


def wanted_tools(prompt: str) -> list[str]:
    return [m.group(2) for m in TAG.finditer(prompt or "") if m.group(1) == "mcp" and m.group(2)]


def mcp_turn(prompt: str, tools: Sequence[Mapping[str, Any]], since_user: Sequence[Mapping[str, Any]]) -> McpTurn:
    """The MCP part of one response (empty when no server or no ``[[mcp:...]]`` tag)."""
    turn = McpTurn()
    wanted = wanted_tools(prompt)
    servers = [t for t in tools if t.get("type") == "mcp"]
    if not wanted or not servers:
        return turn
    done = {str(i.get("name")) for i in since_user if i.get("type") == "mcp_call"}
    requests = {str(i.get("id")): i for i in since_user if i.get("type") == "mcp_approval_request"}
    decisions = {
        str(i.get("approval_request_id")): bool(i.get("approve"))
        for i in since_user
        if i.get("type") == "mcp_approval_response"
    }
    decided = {str(requests[r].get("name")): d for r, d in decisions.items() if r in requests}
    asked = {str(i.get("name")) for i in requests.values()}
    for server in servers:
        label = str(server.get("server_label"))
        try:
            with McpSession(str(server.get("server_url")), server.get("headers") or {}) as session:
                listed = session.list_tools()
                allowed = server.get("allowed_tools")
                offered = [t for t in listed if allowed is None or t.get("name") in allowed]
                if not since_user or not any(i.get("type") == "mcp_list_tools" for i in since_user):
                    turn.items.append(_list_item(label, offered))
                by_name = {str(t.get("name")): t for t in offered}
                for name in wanted:
                    if name not in by_name or name in done:
                        continue
                    if name in decided:
                        if decided[name]:
                            turn.items.append(_call(session, label, by_name[name], prompt, turn))
                        else:
                            turn.outputs[name] = f"{name} was not approved by a person"
                        continue
                    if _needs_approval(server.get("require_approval", "always"), name):
                        if name not in asked:
                            turn.items.append(_approval_request(label, by_name[name], prompt))
                        turn.waiting = True
                        continue
                    turn.items.append(_call(session, label, by_name[name], prompt, turn))
        except McpError as exc:
            turn.items.append(
                {"type": "mcp_list_tools", "id": long_id("mcpl"), "server_label": label, "tools": [], "error": str(exc)}
            )
    return turn


def _needs_approval(setting: Any, name: str) -> bool:
    if setting == "never":
        return False
    if isinstance(setting, Mapping):
        never = (setting.get("never") or {}).get("tool_names") or []
        return name not in never
    return True


def _arguments(tool: Mapping[str, Any], prompt: str) -> dict[str, Any]:
    declared = tool.get("inputSchema")
    schema: dict[str, Any] = declared if isinstance(declared, dict) else {"type": "object"}
    value = _instance(schema, TAG.sub("", prompt).strip() or "x")
    return value if isinstance(value, dict) else {}


def _list_item(label: str, tools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "type": "mcp_list_tools",
        "id": long_id("mcpl"),
        "server_label": label,
        "tools": [
            {"name": t.get("name"), "description": t.get("description"), "input_schema": t.get("inputSchema")}
            for t in tools
        ],
    }


def _approval_request(label: str, tool: Mapping[str, Any], prompt: str) -> dict[str, Any]:
    return {
        "type": "mcp_approval_request",
        "id": long_id("mcpr"),
        "server_label": label,
        "name": tool.get("name"),
        "arguments": json.dumps(_arguments(tool, prompt)),
    }


def _call(session: McpSession, label: str, tool: Mapping[str, Any], prompt: str, turn: McpTurn) -> dict[str, Any]:
    name = str(tool.get("name"))
    arguments = _arguments(tool, prompt)
    item: dict[str, Any] = {
        "type": "mcp_call",
        "id": long_id("mcp"),
        "server_label": label,
        "name": name,
        "arguments": json.dumps(arguments),
        "output": None,
        "error": None,
        "status": "completed",
    }
    try:
        item["output"] = session.call_tool(name, arguments)
        turn.outputs[name] = item["output"]
    except McpError as exc:
        item["error"], item["status"] = str(exc), "failed"
        turn.outputs[name] = f"error: {exc}"
    return item
