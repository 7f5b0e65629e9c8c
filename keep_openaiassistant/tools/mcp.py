"""Hosted MCP servers (Responses API): what the server did, what waits for a person, the answers.

The API itself is the MCP client: a request's ``{"type": "mcp", ...}`` tool makes the server list
the MCP server's tools (an ``mcp_list_tools`` item) and call them (``mcp_call`` items, with
``output`` or ``error``). A server whose ``require_approval`` is not ``never`` asks first: an
``mcp_approval_request`` item, and the response completes waiting. It is answered in a later
request by an ``mcp_approval_response`` item (``approval_request_id``, ``approve``), and the server
then makes (or skips) the call. Pure functions over a response's output items.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .dispatch import Call, Outcome, Toolbox


def record_calls(toolbox: Toolbox, output: Iterable[Any]) -> None:
    """The MCP calls the server made in one response join the step's ``tool_calls``."""
    for item in output:
        if not isinstance(item, Mapping) or item.get("type") != "mcp_call":
            continue
        error = item.get("error")
        text = str(item.get("output") if item.get("output") is not None else error or "")
        record: dict[str, Any] = {
            "id": str(item.get("id") or ""),
            "name": str(item.get("name") or ""),
            "arguments": str(item.get("arguments") or ""),
            "source": "mcp",
            "server_label": str(item.get("server_label") or ""),
            "status": "error" if error else "ok",
            "answered": True,
            "round": toolbox.rounds + 1,
            "seconds": None,
            "output_bytes": len(text.encode("utf-8")),
            "output": Toolbox._bounded(text, toolbox.limits.result_output_bytes) if text else None,
            "truncated": False,
        }
        if error:
            record["error"] = str(error)[:300]
        toolbox.records.append(record)


def open_requests(items: Iterable[Any]) -> list[Call]:
    """``mcp_approval_request`` items not yet answered by an ``mcp_approval_response``."""
    listed = [i for i in items if isinstance(i, Mapping)]
    answered = {i.get("approval_request_id") for i in listed if i.get("type") == "mcp_approval_response"}
    return [
        Call(str(i.get("id")), f"{i.get('server_label')}.{i.get('name')}", str(i.get("arguments") or ""))
        for i in listed
        if i.get("type") == "mcp_approval_request" and i.get("id") not in answered
    ]


def pending(toolbox: Toolbox, requests: list[Call]) -> list[Outcome]:
    """The open approval requests as the stopped round's pending calls."""
    outcomes = []
    for call in requests:
        record = {
            "id": call.id,
            "name": call.name,
            "arguments": call.arguments,
            "source": "mcp",
            "status": "pending_approval",
            "answered": False,
            "round": toolbox.rounds + 1,
            "seconds": 0.0,
            "output_bytes": 0,
            "output": None,
        }
        toolbox.records.append(record)
        outcomes.append(Outcome(call, "", record, pending=True))
    return outcomes


def approval_items(requests: list[Call], approvals: Mapping[str, bool]) -> list[dict[str, Any]]:
    """``mcp_approval_response`` input items for the requests a person decided on."""
    return [
        {"type": "mcp_approval_response", "approval_request_id": c.id, "approve": bool(approvals[c.id])}
        for c in requests
        if c.id in approvals
    ]
