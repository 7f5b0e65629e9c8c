"""Hosted MCP servers on the Responses backend, end to end: a real MCP server on 127.0.0.1 (the
``mcp`` package, pydantic 2: skipped where it is not installed), the emulator as its client,
the engine reading what the server did and carrying approvals across steps."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from keep_openaiassistant import Assistant, errors
from keep_openaiassistant.emulator.mcp_client import McpError, McpSession

mcp_server = pytest.importorskip("mcp.server.mcpserver", reason="the mcp package (pydantic 2) is not installed")
uvicorn = pytest.importorskip("uvicorn")

MakeAssistant = Callable[..., Assistant]


class McpServerThread:
    """An MCP server (Streamable HTTP) with two tools; ``calls`` lists (tool, arguments)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        server = mcp_server.MCPServer("oncall-test")

        @server.tool()
        def get_incidents(service: str) -> str:
            """Open incidents of a service."""
            self.calls.append(("get_incidents", {"service": service}))
            return f"2 open incidents on {service}: INC-1 latency, INC-2 errors"

        @server.tool()
        def restart_service(service: str) -> str:
            """Restart a service."""
            self.calls.append(("restart_service", {"service": service}))
            return f"restarted {service}"

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        app = server.streamable_http_app()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="on")
        self.uvicorn = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.uvicorn.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def __enter__(self) -> McpServerThread:
        self.thread.start()
        give_up = time.monotonic() + 20
        while not self.uvicorn.started:  # the server's own readiness flag, not the clock
            assert time.monotonic() < give_up and self.thread.is_alive(), "the MCP server did not start"
            self.thread.join(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.uvicorn.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def server() -> Iterator[McpServerThread]:
    with McpServerThread() as s:
        yield s


@pytest.fixture(autouse=True)
def fresh_calls(server: McpServerThread) -> None:
    server.calls.clear()


def mcp_tool(server: McpServerThread, **more: Any) -> dict[str, Any]:
    return {"type": "mcp", "server_label": "oncall", "server_url": server.url, **more}


def test_the_emulators_mcp_client_lists_and_calls_tools(server: McpServerThread) -> None:
    with McpSession(server.url) as session:
        assert {t["name"] for t in session.list_tools()} == {"get_incidents", "restart_service"}
        assert session.call_tool("get_incidents", {"service": "checkout"}).startswith("2 open incidents on checkout")
    with pytest.raises(McpError, match="could not reach"), McpSession("http://127.0.0.1:9/mcp"):
        pass


def test_an_mcp_server_the_step_attaches_is_called_and_listed_in_the_results(
    make_assistant: MakeAssistant, server: McpServerThread
) -> None:
    tools = {"mcp": [mcp_tool(server, require_approval="never", headers={"Authorization": "Bearer t"})]}
    result = make_assistant("responses").ask("checkout slow [[mcp:get_incidents]]", tools=tools)
    assert result.status == "completed" and "Tool get_incidents said: 2 open incidents on checkout slow" in result.text
    [call] = result.tool_calls
    assert (call["source"], call["server_label"], call["name"], call["status"]) == (
        "mcp",
        "oncall",
        "get_incidents",
        "ok",
    )
    assert json.loads(call["arguments"]) == {"service": "checkout slow"}
    assert server.calls == [("get_incidents", {"service": "checkout slow"})]


def test_allowed_tools_limit_what_the_model_may_call(make_assistant: MakeAssistant, server: McpServerThread) -> None:
    tools = {"mcp": [mcp_tool(server, require_approval="never", allowed_tools=["get_incidents"])]}
    result = make_assistant("responses").ask("x [[mcp:restart_service]]", tools=tools)
    assert server.calls == [] and result.tool_calls == () and result.status == "completed"


@pytest.mark.parametrize("approve", [True, False])
def test_an_mcp_call_needing_approval_waits_for_a_later_step(
    make_assistant: MakeAssistant, server: McpServerThread, approve: bool
) -> None:
    tools = {"mcp": [mcp_tool(server)]}  # require_approval defaults to always
    first = make_assistant("responses").ask("checkout OOM [[mcp:restart_service]]", tools=tools)
    assert first.status == "requires_approval" and server.calls == []
    [pending] = first.pending_calls
    assert pending["name"] == "oncall.restart_service" and pending["id"].startswith("mcpr_")
    second = make_assistant("responses").ask(
        "", thread_id=first.thread_id, approve={pending["id"]: approve}, tools=tools
    )
    assert second.status == "completed"
    if approve:
        assert server.calls == [("restart_service", {"service": "checkout OOM"})]
        assert "Tool restart_service said: restarted checkout OOM" in second.text
    else:
        assert server.calls == [] and "restart_service was not approved by a person" in second.text


def test_the_assistants_backend_refuses_mcp_servers(make_assistant: MakeAssistant, server: McpServerThread) -> None:
    with pytest.raises(errors.ConfigurationError, match="hosted MCP servers are a Responses API tool"):
        make_assistant("assistants").ask("x", tools={"mcp": [mcp_tool(server)]})


def test_mcp_servers_of_the_profile_join_every_step(make_assistant: MakeAssistant, server: McpServerThread) -> None:
    """The install form's mcp_servers: every step may use them, with no tools: of its own."""
    profile = (mcp_tool(server, require_approval="never"),)
    result = make_assistant("responses", mcp_servers=profile).ask("checkout slow [[mcp:get_incidents]]")
    assert result.status == "completed" and server.calls == [("get_incidents", {"service": "checkout slow"})]
    assert [call["server_label"] for call in result.tool_calls] == ["oncall"]
