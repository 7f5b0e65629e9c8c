"""The wire: JSON requests and SSE streams through the openai SDK, the same on SDK 1.37 to 3.x.

Why the SDK's generic ``get``/``post`` and not its typed resources: the typed Assistants
methods are deprecated (they warn on every call in 2.x/3.x), ``responses`` only exists from
1.66 and ``conversations`` from 1.101, and their models change between releases. Keep pins
openai 1.37.1. Going through ``client.get/post`` keeps everything the SDK is good for — auth
headers, base URL, retries with ``retry-after``, typed HTTP errors, SSE decoding — while one
code path serves every release. Reply bodies are plain dicts; the backends read them with the
OpenAPI spec's field names.

``X-Stainless-Raw-Response`` is the SDK's own switch behind ``with_raw_response`` (present
from 1.0 to 3.x): it makes the SDK return the HTTP response, so the backends can read the
``openai-poll-after-ms`` header.
"""

from __future__ import annotations

import importlib
import json
import logging
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import openai

from . import errors
from .settings import Settings

log = logging.getLogger("keep_openaiassistant")

_RAW = {"X-Stainless-Raw-Response": "true"}
ASSISTANTS_BETA = {"OpenAI-Beta": "assistants=v2"}


def _http_module() -> Any:
    """httpx for SDK 1.x/2.x, httpx2 for 3.x: the module whose errors a broken stream raises."""
    major = int(openai.__version__.split(".")[0])
    return importlib.import_module("httpx2" if major >= 3 else "httpx")


_http = _http_module()
STREAM_BREAKS: tuple[type[BaseException], ...] = (_http.HTTPError, _http.StreamError, openai.APIConnectionError)


def make_client(settings: Settings) -> openai.OpenAI:
    """One SDK client per provider instance: thread-safe, one connection pool, reused."""
    return openai.OpenAI(
        api_key=settings.api_key,
        organization=settings.organization_id or None,
        project=settings.project_id or None,
        base_url=settings.base_url or None,
        max_retries=settings.max_retries,
        timeout=openai.Timeout(60.0, connect=settings.connect_timeout),
    )


@dataclass(frozen=True)
class Reply:
    data: dict[str, Any]
    headers: Mapping[str, str]

    @property
    def poll_after_ms(self) -> str | None:
        return self.headers.get("openai-poll-after-ms")


@dataclass(frozen=True)
class Event:
    """One server-sent event: ``name`` is the SSE event (Assistants) or the data's ``type`` (Responses)."""

    name: str
    data: dict[str, Any]


class StreamInterrupted(Exception):
    """Internal: the stream ended before its terminal event (cut, reset, or silent too long).

    Not part of the public tree: the backends recover (poll or resume) and only raise a
    public error when recovery is impossible.
    """


class EventStream:
    """Iterate :class:`Event` objects; ``close()`` releases the connection. Use as a context manager."""

    def __init__(self, sdk_stream: Any) -> None:
        self._stream = sdk_stream

    def __iter__(self) -> Iterator[Event]:
        try:
            for name, data in self._stream:
                yield Event(name, data)
        except openai.APIStatusError:
            raise
        except STREAM_BREAKS as exc:
            # SDK 3.x wraps read timeouts/resets as APITimeoutError/APIConnectionError.
            raise StreamInterrupted(f"{type(exc).__name__}: {exc}") from exc

    def json_body(self) -> dict[str, Any] | None:
        """The reply as JSON when the server answered the stream request without SSE, else None.

        A server that ignores ``stream: true`` answers with the plain object (e.g. the run);
        the SSE decoder would silently yield nothing from it. Call before iterating.
        """
        response = getattr(self._stream, "response", None)
        if response is None or "text/event-stream" in response.headers.get("content-type", ""):
            return None
        try:
            data = json.loads(response.read())
        except ValueError:
            return None
        finally:
            self.close()
        return data if isinstance(data, dict) else None

    def abort(self) -> None:
        """Shut the connection down now, from any thread: a read blocked in ``__iter__`` wakes
        and raises StreamInterrupted. A deadline watchdog's tool: a read timeout restarts
        with every event, so it cannot end a stream at a fixed time.

        Uses the transport's ``network_stream`` extension (httpcore and httpcore2); with a
        transport that has none (e.g. a mock) it only closes the stream.
        """
        response = getattr(self._stream, "response", None)
        network = (getattr(response, "extensions", None) or {}).get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
                return
        except OSError:  # already closed
            return
        self.close()

    def close(self) -> None:
        try:
            self._stream.close()
        except Exception:
            log.debug("closing a broken stream failed", exc_info=True)

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _EventSource(openai.Stream[object]):
    """The SDK's SSE decoding, without its per-release event shaping, read to the end.

    Yields ``(event name, data dict)`` for every frame. Two reasons not to take the SDK's own
    iteration: its shape of an event differs between releases (``thread.*`` events wrapped as
    ``{"event", "data"}``, ``response.*`` events bare from ~1.66, wrapped before), and from 3.x
    its sync stream closes the response as soon as it sees ``[DONE]``, before the chunked body's
    last bytes — which throws the connection away instead of returning it to the pool (on
    OpenAI a TLS handshake per question). Reading on to the end of the body keeps it.
    ``_iter_events`` (SSE frames from the response bytes) is the same in SDK 1.x to 3.x.
    """

    def __stream__(self) -> Iterator[Any]:
        try:
            for sse in self._iter_events():
                if sse.data.startswith("[DONE]"):
                    continue  # the body ends right after it: read on, so the connection is reused
                try:
                    data = json.loads(sse.data) if sse.data else {}
                except ValueError:
                    data = {"value": sse.data}
                if not isinstance(data, dict):
                    data = {"value": data}
                yield (sse.event or str(data.get("type", "")), data)
        finally:
            self.response.close()


class Wire:
    """JSON calls and SSE streams on one SDK client; SDK errors become :mod:`errors` types."""

    def __init__(self, client: openai.OpenAI, *, headers: Mapping[str, str] | None = None) -> None:
        self.client = client
        self._headers = dict(headers or {})

    def _options(self, query: Mapping[str, Any] | None, timeout: float | None, raw: bool) -> dict[str, Any]:
        options: dict[str, Any] = {"headers": {**self._headers, **(_RAW if raw else {})}}
        if query:
            options["params"] = {k: v for k, v in query.items() if v is not None}
        if timeout is not None:
            options["timeout"] = openai.Timeout(max(timeout, 0.001), connect=min(5.0, max(timeout, 0.001)))
        return options

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        context: Mapping[str, str | None] | None = None,
    ) -> Reply:
        """One JSON request. ``context`` (thread_id/run_id) goes into any error raised."""
        options = self._options(query, timeout, raw=True)
        if max_retries is not None:
            options["max_retries"] = max_retries
        try:
            if method == "GET":
                raw = self.client.get(path, cast_to=object, options=options)
            elif method == "DELETE":
                raw = self.client.delete(path, cast_to=object, options=options)
            else:
                raw = self.client.post(path, cast_to=object, body=None if body is None else dict(body), options=options)
        except openai.OpenAIError as exc:
            raise translate(exc, method=method, path=path, **(context or {})) from exc
        data = raw.parse()
        return Reply(data if isinstance(data, dict) else {"value": data}, raw.headers)

    def stream(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        read_timeout: float | None = None,
        max_retries: int | None = None,
        context: Mapping[str, str | None] | None = None,
    ) -> EventStream:
        """Open an SSE stream. Errors before the first byte raise like :meth:`call`.

        ``max_retries=0`` for requests that must never be sent twice (a POST that may already
        have started a run when its reply timed out); the caller retries what is safe.
        """
        options = self._options(query, read_timeout, raw=False)
        if max_retries is not None:
            options["max_retries"] = max_retries
        try:
            if method == "GET":
                sdk_stream = self.client.get(
                    path, cast_to=object, options=options, stream=True, stream_cls=_EventSource
                )
            else:
                sdk_stream = self.client.post(
                    path,
                    cast_to=object,
                    body={**dict(body or {}), "stream": True},
                    options=options,
                    stream=True,
                    stream_cls=_EventSource,
                )
        except openai.OpenAIError as exc:
            raise translate(exc, method=method, path=path, **(context or {})) from exc
        return EventStream(sdk_stream)


_STATUS_ERRORS: dict[int, type[errors.ApiError]] = {
    400: errors.InvalidRequestError,
    401: errors.AuthenticationError,
    403: errors.AuthenticationError,
    404: errors.NotFoundError,
    409: errors.InvalidRequestError,
    422: errors.InvalidRequestError,
    429: errors.RateLimitError,
}

_ADVICE: dict[type[errors.ApiError], str] = {
    errors.AuthenticationError: "check api_key, organization_id and project_id in the provider config",
    errors.NotFoundError: "check the id in the provider config or step, and that it belongs to this key's project",
    errors.RateLimitError: "wait and retry the step, or raise the key's rate limit or quota",
    errors.InvalidRequestError: "check the step parameters named in the message",
    errors.ServerError: "the server failed; retry the step (Keep: on-failure retry)",
}


def translate(
    exc: BaseException,
    *,
    method: str = "",
    path: str = "",
    thread_id: str | None = None,
    run_id: str | None = None,
) -> errors.AssistantError:
    """Map an SDK error to the public tree. The message never contains request headers or keys."""
    ids = {"thread_id": thread_id, "run_id": run_id}
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        cls = _STATUS_ERRORS.get(status, errors.ServerError if status >= 500 else errors.ApiError)
        code = getattr(exc, "code", None)
        detail = _server_message(exc)
        request_id = getattr(exc, "request_id", None)
        advice = _ADVICE.get(cls, "see the server's message")
        message = (
            f"{method} {path} answered HTTP {status}{f' {code}' if code else ''}: {detail}"
            f"{_where(ids)}. What to do: {advice}."
            f"{f' (request id {request_id})' if request_id else ''}"
        )
        return cls(message, status_code=status, request_id=request_id, code=code, **ids)
    if isinstance(exc, openai.APITimeoutError):
        return errors.ConnectionFailedError(
            f"{method} {path} got no answer before the request timeout{_where(ids)}. "
            "What to do: check that base_url is reachable from Keep and retry the step.",
            **ids,
        )
    if isinstance(exc, openai.APIConnectionError):
        return errors.ConnectionFailedError(
            f"{method} {path} could not reach the server ({exc.__cause__ or exc}){_where(ids)}. "
            "What to do: check base_url and the network between Keep and the server, then retry.",
            **ids,
        )
    return errors.AssistantError(f"{method} {path} failed: {exc}{_where(ids)}", **ids)


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(exc, "message", "") or exc)


def _where(ids: Mapping[str, str | None]) -> str:
    parts = [f"{k.replace('_id', '')} {v}" for k, v in ids.items() if v]
    return f" [{', '.join(parts)}]" if parts else ""
