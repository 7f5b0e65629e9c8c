"""The emulator as an MCP client: what OpenAI's servers do with a request's hosted ``mcp`` tool.

A minimal client of MCP's Streamable HTTP transport, on the standard library (the emulator is
installed into Keep's environment, where the ``mcp`` package — pydantic 2 — cannot go): each
operation opens a session (``initialize``, then ``notifications/initialized``), sends one JSON-RPC
request and reads its reply, whether the server answers with JSON or with an SSE stream. The
session id (``Mcp-Session-Id``) and the author's ``headers`` go with every request.

Bounded: every request has :data:`TIMEOUT` seconds; an error is :class:`McpError` with the
server's message, which the emulated model reports in the ``mcp_call`` item's ``error``.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

PROTOCOL_VERSION = "2025-06-18"
TIMEOUT = 10.0
_ids = itertools.count(1)


class McpError(Exception):
    """The server refused, failed or could not be reached."""


class McpSession:
    def __init__(self, url: str, headers: Mapping[str, str] | None = None, *, timeout: float = TIMEOUT) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise McpError(f"not an http(s) MCP server URL: {url!r}")
        self.url = url
        self.parts = parts
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.session_id: str | None = None

    def __enter__(self) -> McpSession:
        self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "keep-openaiassistant-emulator", "version": "1"},
            },
        )
        self.notify("notifications/initialized")
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def list_tools(self) -> list[dict[str, Any]]:
        result = self.request("tools/list", {})
        tools = result.get("tools") if isinstance(result, dict) else None
        return [t for t in tools or [] if isinstance(t, dict)]

    def call_tool(self, name: str, arguments: Mapping[str, Any]) -> str:
        """The tool's text content; McpError when the tool reports an error."""
        result = self.request("tools/call", {"name": name, "arguments": dict(arguments)})
        if not isinstance(result, dict):
            raise McpError("tools/call answered without a result")
        text = "\n".join(
            str(c.get("text", ""))
            for c in result.get("content") or []
            if isinstance(c, dict) and c.get("type") == "text"
        )
        if result.get("isError"):
            raise McpError(text or "the tool reported an error")
        if not text and result.get("structuredContent") is not None:
            text = json.dumps(result["structuredContent"])
        return text

    # -- JSON-RPC over Streamable HTTP ------------------------------------------------------

    def notify(self, method: str) -> None:
        self._post({"jsonrpc": "2.0", "method": method})

    def request(self, method: str, params: Mapping[str, Any]) -> Any:
        request_id = next(_ids)
        replies = self._post({"jsonrpc": "2.0", "id": request_id, "method": method, "params": dict(params)})
        for reply in replies:
            if reply.get("id") != request_id:
                continue
            if "error" in reply:
                error = reply["error"] if isinstance(reply["error"], dict) else {}
                raise McpError(f"{method}: {error.get('message') or 'error'}")
            return reply.get("result")
        raise McpError(f"{method}: the server sent no reply")

    def _post(self, message: Mapping[str, Any]) -> list[dict[str, Any]]:
        parts = self.parts
        conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_class(parts.hostname or "", parts.port, timeout=self.timeout)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": PROTOCOL_VERSION,
            **self.headers,
        }
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        try:
            conn.request("POST", parts.path or "/", body=json.dumps(message).encode(), headers=headers)
            response = conn.getresponse()
            body = response.read(4_000_000).decode("utf-8", errors="replace")
            self.session_id = response.getheader("mcp-session-id") or self.session_id
            kind = response.getheader("content-type") or ""
        except (OSError, http.client.HTTPException) as exc:
            raise McpError(f"could not reach the MCP server: {type(exc).__name__}: {exc}") from None
        finally:
            conn.close()
        if response.status >= 400:
            raise McpError(f"the MCP server answered HTTP {response.status}: {' '.join(body.split())[:200]}")
        if not body.strip():
            return []
        if "text/event-stream" in kind:
            return [m for m in _sse_messages(body) if isinstance(m, dict)]
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            raise McpError("the MCP server's reply is not JSON") from None
        return [m for m in (data if isinstance(data, list) else [data]) if isinstance(m, dict)]


def _sse_messages(body: str) -> list[Any]:
    messages, data = [], []
    for line in [*body.splitlines(), ""]:
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line.strip() and data:
            with contextlib.suppress(json.JSONDecodeError):
                messages.append(json.loads("\n".join(data)))
            data = []
    return messages
