"""A step's ``tools:``: what each function is, where its answer comes from, and the bounds.

Pure: parsing and validation only, no I/O. A declaration that cannot work is a
ConfigurationError before any request, naming the tool and the field.

    tools:
      - name: get_logs
        description: Recent error log lines of a service.
        parameters: {type: object, properties: {service: {type: string}}, required: [service]}
        provider: {type: datadog, config: dd-prod, with: {query: "service:${args.service}"}}
      - name: lookup_owner
        http: {url: "https://catalog.example/owner", query: {service: "${args.service}"}}
      - name: restart_service
        approval: required
        http: {url: "https://deploy.example/restart", method: POST}
      - name: runbook
        value: "https://wiki.example/runbooks/checkout"

or a mapping ``{functions: [...], mcp: [...], limits: {...}}``. ``${args.NAME}`` is the argument
placeholder: Keep renders ``{{ ... }}`` in every string of ``with:`` before the step sees it,
and leaves ``${...}`` alone.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from ..errors import ConfigurationError

SourceKind = Literal["value", "http", "provider"]
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
EMPTY_PARAMETERS: Mapping[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
_TOOL_KEYS = frozenset(
    {"name", "description", "parameters", "value", "http", "provider", "approval", "timeout", "type"}
)
_HTTP_KEYS = frozenset({"url", "method", "headers", "query", "body"})
_PROVIDER_KEYS = frozenset({"type", "config", "name", "with"})
_MCP_KEYS = frozenset(
    {"type", "server_label", "server_url", "allowed_tools", "headers", "require_approval", "server_description"}
)


@dataclass(frozen=True)
class Limits:
    """The bounds of one step's tool use (each configurable under ``limits:``)."""

    #: Rounds of calls answered per step; past it the model is told to answer without tools.
    max_rounds: int = 8
    #: Calls answered in one round; the rest get an error output.
    max_calls_per_round: int = 8
    #: Seconds one call may take (a tool's own ``timeout`` wins), never past max_wait_time.
    call_timeout: float = 20.0
    #: Bytes of one output the model receives (longer outputs are cut, with a marker).
    max_output_bytes: int = 16_000
    #: Bytes an HTTP endpoint may send; a longer reply is an error, not read on.
    max_response_bytes: int = 1_000_000
    #: Bytes of each output kept in the step result's ``tool_calls``.
    result_output_bytes: int = 2_000


@dataclass(frozen=True)
class HttpSource:
    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Query parameters; values may hold ``${args.NAME}``.
    query: Mapping[str, Any] = field(default_factory=dict)
    #: The JSON body: absent -> the arguments themselves (methods other than GET/DELETE).
    body: Any = None

    @property
    def host(self) -> tuple[str, str, int | None]:
        parts = urlsplit(self.url)
        return parts.scheme, (parts.hostname or "").lower(), parts.port


@dataclass(frozen=True)
class ProviderSource:
    """A Keep provider's ``query``: ``type`` and either an installed provider's name or a config."""

    type: str
    config_name: str | None = None
    config: Mapping[str, Any] | None = None
    with_: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    #: The arguments' JSON schema; None: not declared (no arguments sent, none checked).
    parameters: Mapping[str, Any] | None
    kind: SourceKind
    value: Any = None
    http: HttpSource | None = None
    provider: ProviderSource | None = None
    #: True: the call is not run; the step stops with ``status: requires_approval``.
    approval: bool = False
    timeout: float | None = None

    def function_tool(self) -> dict[str, Any]:
        """The Responses API's flat function tool for this spec."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters if self.parameters is not None else EMPTY_PARAMETERS),
        }


@dataclass(frozen=True)
class McpServer:
    """A hosted MCP server (Responses only): the tool as the API takes it."""

    label: str
    tool: Mapping[str, Any]

    @property
    def needs_approval(self) -> bool:
        return bool(self.tool.get("require_approval", "always") != "never")


@dataclass(frozen=True)
class ToolSet:
    functions: tuple[ToolSpec, ...] = ()
    mcp: tuple[McpServer, ...] = ()
    limits: Limits = field(default_factory=Limits)
    #: True when the step declared ``tools:`` (not only ``tool_outputs``).
    declared: bool = False

    def by_name(self) -> dict[str, ToolSpec]:
        return {t.name: t for t in self.functions}


def _error(message: str) -> ConfigurationError:
    return ConfigurationError(message, field="tools")


def parse_tools(value: Any, *, tool_outputs: Mapping[str, Any] | None = None) -> ToolSet | None:
    """``tools`` (list, mapping or JSON string) plus ``tool_outputs`` -> a ToolSet; None if neither."""
    if isinstance(value, str):
        if not value.strip() or value.strip().lower() in ("none", "null"):
            value = None
        else:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise _error(f"tools is not valid JSON ({exc.msg}): give a YAML list of functions.") from None
    if value is None and not tool_outputs:
        return None
    functions_raw: Sequence[Any] = ()
    mcp_raw: list[Any] = []
    limits = Limits()
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"functions", "mcp", "limits"})
        if unknown:
            raise _error(f"tools has unknown keys {unknown}: use functions, mcp and limits.")
        functions_raw = _list(value.get("functions"), "tools.functions")
        mcp_raw = list(_list(value.get("mcp"), "tools.mcp"))
        limits = parse_limits(value.get("limits"))
    elif value is not None:
        functions_raw = _list(value, "tools")
    specs: list[ToolSpec] = []
    for i, raw in enumerate(functions_raw):
        if isinstance(raw, Mapping) and raw.get("type") == "mcp":
            mcp_raw.append(raw)
            continue
        specs.append(parse_function(raw, where=f"tools[{i}]", limits=limits))
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _error(f"tools declares {', '.join(dupes)} more than once: give each function one source.")
    for name, output in (tool_outputs or {}).items():
        if name not in names:
            specs.append(
                ToolSpec(
                    str(name),
                    f"Returns '{name}' as the Keep workflow provides it.",
                    None,
                    "value",
                    value=output,
                )
            )
    servers = tuple(parse_mcp(raw, where=f"tools.mcp[{i}]") for i, raw in enumerate(mcp_raw))
    return ToolSet(tuple(specs), servers, limits, declared=value is not None)


def _list(value: Any, where: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _error(f"{where} must be a list of tools, got a {type(value).__name__}.")
    return value


def parse_limits(value: Any) -> Limits:
    if value is None:
        return Limits()
    if not isinstance(value, Mapping):
        raise _error("tools.limits must be a mapping such as {max_rounds: 4, call_timeout: 10}.")
    defaults = Limits()
    out: dict[str, Any] = {}
    for key, raw in value.items():
        if not hasattr(defaults, key):
            raise _error(f"tools.limits.{key} is not a limit: use {', '.join(defaults.__dataclass_fields__)}.")
        kind = type(getattr(defaults, key))
        number = _number(raw, f"tools.limits.{key}")
        if kind is int:
            if number != int(number):
                raise _error(f"tools.limits.{key} must be a whole number, got {raw!r}.")
            out[key] = int(number)
        else:
            out[key] = number
    return Limits(**out)


def _number(raw: Any, where: str) -> float:
    try:
        number = float(raw.strip()) if isinstance(raw, str) else float(raw)
    except (TypeError, ValueError):
        raise _error(f"{where} must be a positive number, got {raw!r}.") from None
    if isinstance(raw, bool) or not math.isfinite(number) or number <= 0:
        raise _error(f"{where} must be a positive number, got {raw!r}.")
    return number


def parse_function(raw: Any, *, where: str, limits: Limits) -> ToolSpec:
    if not isinstance(raw, Mapping):
        raise _error(f"{where} must be a mapping with name, description, parameters and one source.")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise _error(f"{where}.name must be 1-64 letters, digits, _ or -, got {name!r}.")
    where = f"tool {name!r}"
    unknown = sorted(set(raw) - _TOOL_KEYS)
    if unknown:
        raise _error(f"{where} has unknown keys {unknown}: use {', '.join(sorted(_TOOL_KEYS - {'type'}))}.")
    if raw.get("type") not in (None, "function"):
        raise _error(f"{where}.type must be function (or mcp for an MCP server), got {raw.get('type')!r}.")
    sources = [k for k in ("value", "http", "provider") if k in raw]
    if len(sources) != 1:
        raise _error(
            f"{where} needs exactly one source of its answer (value, http or provider), got {sources or 'none'}."
        )
    description = raw.get("description") or f"The {name} tool."
    if not isinstance(description, str):
        raise _error(f"{where}.description must be text.")
    parameters = raw.get("parameters")
    if isinstance(parameters, str):
        try:
            parameters = json.loads(parameters)
        except json.JSONDecodeError:
            raise _error(f"{where}.parameters is not valid JSON: give a JSON schema of the arguments.") from None
    if parameters is not None:
        if not isinstance(parameters, Mapping) or parameters.get("type", "object") != "object":
            raise _error(f"{where}.parameters must be a JSON schema of type object.")
        check_schema(parameters, where=f"{where}.parameters")
    approval = _approval(raw.get("approval"), where)
    timeout = None if raw.get("timeout") is None else _number(raw["timeout"], f"{where}.timeout")
    kind: SourceKind = "value" if sources[0] == "value" else "http" if sources[0] == "http" else "provider"
    schema = None if parameters is None else dict(parameters)
    spec = ToolSpec(name, description, schema, kind, approval=approval, timeout=timeout)
    if kind == "value":
        return _replace(spec, value=raw["value"])
    if kind == "http":
        return _replace(spec, http=parse_http(raw["http"], where=f"{where}.http"))
    return _replace(spec, provider=parse_provider(raw["provider"], where=f"{where}.provider"))


def _replace(spec: ToolSpec, **changes: Any) -> ToolSpec:
    import dataclasses

    return dataclasses.replace(spec, **changes)


def _approval(value: Any, where: str) -> bool:
    if value in (None, False, "never", "false", "no", ""):
        return False
    if value in (True, "required", "always", "true", "yes"):
        return True
    raise _error(f"{where}.approval must be required or never, got {value!r}.")


def check_schema(schema: Mapping[str, Any], *, where: str) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(dict(schema))
    except SchemaError as exc:
        raise _error(f"{where} is not a valid JSON schema: {exc.message[:200]}.") from None


def parse_http(raw: Any, *, where: str) -> HttpSource:
    if isinstance(raw, str):
        raw = {"url": raw}
    if not isinstance(raw, Mapping):
        raise _error(f"{where} must be a mapping with url (and method, headers, query, body).")
    unknown = sorted(set(raw) - _HTTP_KEYS)
    if unknown:
        raise _error(f"{where} has unknown keys {unknown}: use {', '.join(sorted(_HTTP_KEYS))}.")
    url = raw.get("url")
    if not isinstance(url, str) or "${" in url:
        raise _error(f"{where}.url must be a fixed URL (the model never chooses it): put arguments in query or body.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _error(f"{where}.url must be an http(s) URL with a host, got {url[:80]!r}.")
    method = str(raw.get("method") or "GET").upper()
    if method not in HTTP_METHODS:
        raise _error(f"{where}.method must be one of {', '.join(HTTP_METHODS)}, got {method!r}.")
    headers = raw.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
        raise _error(f"{where}.headers must map header names to text (e.g. from {{{{ secrets.NAME }}}}).")
    query = raw.get("query") or {}
    if not isinstance(query, Mapping):
        raise _error(f"{where}.query must map query parameter names to values or ${{args.NAME}}.")
    return HttpSource(url, method, {str(k): v for k, v in headers.items()}, dict(query), raw.get("body"))


def parse_provider(raw: Any, *, where: str) -> ProviderSource:
    if not isinstance(raw, Mapping):
        raise _error(f"{where} must be a mapping: {{type: TYPE, config: NAME, with: {{...}}}}.")
    unknown = sorted(set(raw) - _PROVIDER_KEYS)
    if unknown:
        raise _error(f"{where} has unknown keys {unknown}: use type, config and with.")
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind.strip():
        raise _error(f"{where}.type is required: the provider's type, as in a workflow step (e.g. datadog).")
    if kind.strip() == "openaiassistant":
        raise _error(f"{where}.type may not be openaiassistant: an assistant does not call itself.")
    config = raw.get("config", raw.get("name"))
    name: str | None = None
    mapping: Mapping[str, Any] | None = None
    if isinstance(config, str):
        name = _config_name(config)
        if not name:
            raise _error(
                f"{where}.config {config!r} names no provider: give the installed provider's name, e.g. dd-prod "
                "(Keep renders {{ providers.X }} away before the step sees it, so write the bare name)."
            )
    elif isinstance(config, Mapping):
        mapping = dict(config)
    elif config is not None:
        raise _error(f"{where}.config must be an installed provider's name or a config mapping.")
    with_ = raw.get("with") or {}
    if not isinstance(with_, Mapping):
        raise _error(f"{where}.with must be a mapping: the provider query's parameters.")
    return ProviderSource(kind.strip(), name, mapping, dict(with_))


def _config_name(config: str) -> str:
    """'dd-prod', 'providers.dd-prod' -> 'dd-prod' (a rendered-away template leaves '')."""
    text = config.strip()
    if text.startswith("providers."):
        text = text[len("providers.") :]
    return text if text and "{" not in text and " " not in text else ""


def parse_mcp(raw: Any, *, where: str) -> McpServer:
    if not isinstance(raw, Mapping):
        raise _error(f"{where} must be a mapping: {{type: mcp, server_label, server_url, ...}}.")
    unknown = sorted(set(raw) - _MCP_KEYS)
    if unknown:
        raise _error(f"{where} has unknown keys {unknown}: use {', '.join(sorted(_MCP_KEYS))}.")
    label = raw.get("server_label")
    url = raw.get("server_url")
    if not isinstance(label, str) or not NAME.match(label):
        raise _error(f"{where}.server_label must be 1-64 letters, digits, _ or -, got {label!r}.")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise _error(f"{where}.server_url must be the MCP server's http(s) URL.")
    tool: dict[str, Any] = {"type": "mcp", "server_label": label, "server_url": url}
    allowed = raw.get("allowed_tools")
    if allowed is not None:
        if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
            raise _error(f"{where}.allowed_tools must be a list of tool names.")
        tool["allowed_tools"] = list(allowed)
    headers = raw.get("headers")
    if headers is not None:
        if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
            raise _error(f"{where}.headers must map header names to text.")
        tool["headers"] = dict(headers)
    approval = raw.get("require_approval", "always")
    if approval not in ("always", "never") and not isinstance(approval, Mapping):
        raise _error(f"{where}.require_approval must be always, never or the API's mapping form.")
    tool["require_approval"] = approval
    if raw.get("server_description"):
        tool["server_description"] = str(raw["server_description"])
    return McpServer(label, tool)
