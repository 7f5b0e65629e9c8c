"""Where a call's answer comes from: a value, an HTTP endpoint; and the ``${args.NAME}`` placeholders.

The Keep provider-query source lives in ``keep_adapter/tools.py`` (it needs Keep); here it is only
the :class:`ProviderRunner` the adapter hands in. Every source raises :class:`ToolFailure` with a
message meant for the model; the dispatcher turns it into the call's output.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlencode, urljoin, urlsplit

from .spec import HttpSource, ProviderSource

PLACEHOLDER = re.compile(r"\$\{args(?:\.([A-Za-z0-9_-]+))?\}")
#: Same-host redirects followed before giving up.
MAX_REDIRECTS = 3
_CHUNK = 16_384


class ToolFailure(Exception):
    """A call could not be answered; ``str()`` is what the model is told. ``status`` names the kind."""

    def __init__(self, message: str, *, status: str = "error") -> None:
        super().__init__(message)
        self.status = status


class ProviderRunner(Protocol):
    """Runs a Keep provider's ``query`` with the substituted ``with:``; returns its result."""

    def __call__(self, source: ProviderSource, with_: dict[str, Any], *, timeout: float) -> Any: ...


def substitute(template: Any, arguments: Mapping[str, Any]) -> Any:
    """``${args.NAME}`` -> the argument: a whole-string placeholder keeps the argument's type,
    one inside text becomes its text (JSON for objects); ``${args}`` is all of them. Recursive
    through mappings and lists. A missing argument is None (whole) or '' (inside text)."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template.strip())
        if whole:
            return _lookup(whole.group(1), arguments)
        return PLACEHOLDER.sub(lambda m: _text(_lookup(m.group(1), arguments)), template)
    if isinstance(template, Mapping):
        return {k: substitute(v, arguments) for k, v in template.items()}
    if isinstance(template, list):
        return [substitute(v, arguments) for v in template]
    return template


def _lookup(name: str | None, arguments: Mapping[str, Any]) -> Any:
    return dict(arguments) if name is None else arguments.get(name)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def output_text(value: Any) -> str:
    """What the model receives: text as it is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def call_http(source: HttpSource, arguments: Mapping[str, Any], *, timeout: float, max_bytes: int) -> str:
    """One request to the author's endpoint; the reply's text, or ToolFailure.

    The model supplies only arguments: they fill the declared query parameters (``${args.X}``),
    and the JSON body of a POST/PUT/PATCH (the arguments themselves unless ``body`` is
    declared). Redirects are followed only to the same scheme, host and port. ``timeout`` bounds
    the whole exchange; a reply over ``max_bytes`` is refused, not read on.
    """
    started = time.monotonic()
    query = {k: v for k, v in substitute(dict(source.query), arguments).items() if v is not None}
    url = source.url
    if query:
        url += ("&" if urlsplit(url).query else "?") + urlencode({k: _text(v) for k, v in query.items()})
    body: bytes | None = None
    headers = {"Accept": "application/json, text/plain;q=0.9, */*;q=0.5", "User-Agent": "keep-openaiassistant"}
    headers.update(source.headers)
    if source.method not in ("GET", "DELETE") or source.body is not None:
        payload = dict(arguments) if source.body is None else substitute(source.body, arguments)
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers.setdefault("Content-Type", "application/json")
    origin = source.host
    method = source.method
    for _ in range(MAX_REDIRECTS + 1):
        status, location, text = _exchange(
            method, url, headers, body, started=started, timeout=timeout, max_bytes=max_bytes
        )
        if status in (301, 302, 303, 307, 308) and location:
            target = urljoin(url, location)
            parts = urlsplit(target)
            if (parts.scheme, (parts.hostname or "").lower(), parts.port) != origin:
                raise ToolFailure(
                    f"the endpoint redirected to another host ({parts.scheme}://{parts.hostname}); "
                    "redirects to other hosts are not followed",
                    status="refused",
                )
            url = target
            if status == 303:
                method, body = "GET", None
            continue
        if status >= 400:
            raise ToolFailure(f"the endpoint answered HTTP {status}: {_clip(text, 300)}")
        return text
    raise ToolFailure(f"the endpoint redirected more than {MAX_REDIRECTS} times")


def _exchange(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    started: float,
    timeout: float,
    max_bytes: int,
) -> tuple[int, str, str]:
    parts = urlsplit(url)

    def left() -> float:
        remaining = timeout - (time.monotonic() - started)
        if remaining <= 0:
            raise ToolFailure(f"the endpoint did not answer within {timeout:g} s", status="timeout")
        return remaining

    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=left(), context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=left())
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn.request(method, path, body=body, headers=dict(headers))
        if conn.sock is not None:
            conn.sock.settimeout(left())
        response = conn.getresponse()
        declared = response.getheader("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise ToolFailure(f"the endpoint's reply is {int(declared):,} bytes, over the cap of {max_bytes:,}")
        data = bytearray()
        while True:
            if conn.sock is not None:
                conn.sock.settimeout(left())
            chunk = response.read1(_CHUNK) if hasattr(response, "read1") else response.read(_CHUNK)
            if not chunk:
                break
            data += chunk
            if len(data) > max_bytes:
                raise ToolFailure(f"the endpoint's reply is over the cap of {max_bytes:,} bytes; not read on")
        return response.status, response.getheader("location") or "", data.decode("utf-8", errors="replace")
    except TimeoutError:
        raise ToolFailure(f"the endpoint did not answer within {timeout:g} s", status="timeout") from None
    except (OSError, http.client.HTTPException) as exc:
        raise ToolFailure(f"the endpoint could not be reached: {type(exc).__name__}: {_clip(str(exc), 200)}") from None
    finally:
        conn.close()


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
