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
``openai-poll-after-ms`` header, and the body is read here, strictly: a reply that is not the
API's (HTML, not JSON, not an object, invalid UTF-8, oversized) is a MalformedResponseError
that says what came back, never a crash.

The SDK's own retries are off (``max_retries=0`` on every request): :mod:`.waiting` retries
within the deadline. Every message built here is scrubbed of the key (:mod:`.secrets`).
"""

from __future__ import annotations

import importlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import openai

from . import errors
from .secrets import Scrubber
from .settings import Settings
from .transport import bound_by_deadlines

log = logging.getLogger("keep_openaiassistant")

_RAW = {"X-Stainless-Raw-Response": "true"}
ASSISTANTS_BETA = {"OpenAI-Beta": "assistants=v2"}


def _http_module() -> Any:
    """httpx for SDK 1.x/2.x, httpx2 for 3.x: the module whose errors a broken stream raises."""
    major = int(openai.__version__.split(".")[0])
    return importlib.import_module("httpx2" if major >= 3 else "httpx")


_http = _http_module()
STREAM_BREAKS: tuple[type[BaseException], ...] = (_http.HTTPError, _http.StreamError, openai.APIConnectionError)

#: The largest reply body read as JSON. An API object is kilobytes; a page of 100 messages of a
#: long thread a few megabytes. More is not the API.
MAX_BODY_BYTES = 32 * 1024 * 1024


def make_client(settings: Settings) -> openai.OpenAI:
    """One SDK client per provider instance: thread-safe, one connection pool, reused.

    The SDK's retries are off (:mod:`.waiting` retries within the deadline) and its sockets
    obey the deadline of the ask that uses them (:mod:`.transport`).
    """
    http_client = openai.DefaultHttpxClient()
    bound_by_deadlines(http_client)
    return openai.OpenAI(
        api_key=settings.api_key,
        organization=settings.organization_id or None,
        project=settings.project_id or None,
        base_url=settings.base_url or None,
        max_retries=0,
        timeout=openai.Timeout(60.0, connect=settings.connect_timeout),
        http_client=http_client,
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
    """Internal: the stream ended before its terminal event (cut, reset, garbage, or silent too long).

    Not part of the public tree: the backends recover (poll or resume) and only raise a
    public error when recovery is impossible.
    """


class EventStream:
    """Iterate :class:`Event` objects; ``close()`` releases the connection. Use as a context manager."""

    def __init__(self, sdk_stream: Any, *, describe: Any = None) -> None:
        self._stream = sdk_stream
        self._describe = describe

    def __iter__(self) -> Iterator[Event]:
        try:
            for name, data in self._stream:
                yield Event(name, data)
        except openai.APIStatusError:
            raise
        except STREAM_BREAKS as exc:
            # SDK 3.x wraps read timeouts/resets as APITimeoutError/APIConnectionError.
            raise StreamInterrupted(f"{type(exc).__name__}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise StreamInterrupted("the stream held bytes that are not UTF-8") from exc

    def json_body(self) -> dict[str, Any] | None:
        """The reply as a JSON object when the server answered the stream request without SSE, else None.

        A server that ignores ``stream: true`` answers with the plain object (e.g. the run);
        the SSE decoder would silently yield nothing from it. Anything else that is not SSE
        (HTML, an empty body, text) is a MalformedResponseError. Call before iterating.
        """
        response = getattr(self._stream, "response", None)
        if response is None or "text/event-stream" in response.headers.get("content-type", ""):
            return None
        try:
            body = response.read()
        except STREAM_BREAKS as exc:
            raise StreamInterrupted(f"the reply broke off before its end ({type(exc).__name__})") from exc
        finally:
            self.close()
        return parse_body(body, response.headers.get("content-type", ""), describe=self._describe)

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
                except (ValueError, RecursionError):
                    data = {"value": sse.data}
                if not isinstance(data, dict):
                    data = {"value": data}
                yield (sse.event or str(data.get("type", "")), data)
        finally:
            self.response.close()


class _Describe:
    """Says what a request was, for messages: 'POST /threads/runs' on base_url."""

    def __init__(self, method: str, path: str, base_url: str) -> None:
        self.method, self.path, self.base_url = method, path, base_url

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def parse_body(body: bytes, content_type: str, *, describe: Any = None) -> dict[str, Any]:
    """A reply body as a JSON object, or MalformedResponseError saying what came back instead."""
    what = f"{describe} answered with " if describe is not None else "The server answered with "
    base_url = getattr(describe, "base_url", "")
    advice = (
        f" What to do: check that base_url ({base_url or 'default'}) points at an OpenAI-compatible API "
        "(it usually ends in /v1) and that no proxy or login page stands in between."
    )
    if len(body) > MAX_BODY_BYTES:
        raise errors.MalformedResponseError(
            f"{what}{len(body):,} bytes, more than any API object ({MAX_BODY_BYTES:,} bytes at most).{advice}"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.MalformedResponseError(f"{what}bytes that are not UTF-8 text.{advice}") from None
    if not text.strip():
        raise errors.MalformedResponseError(f"{what}an empty body.{advice}")
    lowered = text.lstrip()[:200].lower()
    if "html" in content_type or lowered.startswith(("<!doctype html", "<html")):
        raise errors.MalformedResponseError(f"{what}an HTML page, not JSON.{advice}")
    try:
        data = json.loads(text)
    except RecursionError:
        raise errors.MalformedResponseError(f"{what}JSON nested too deeply to be an API object.{advice}") from None
    except ValueError:
        raise errors.MalformedResponseError(f"{what}text that is not JSON: {_excerpt(text)!r}.{advice}") from None
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
        raise errors.MalformedResponseError(
            f"{what}JSON that is {kind.get(type(data), 'null')}, not an object as every API reply is.{advice}"
        )
    return data


def _excerpt(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Wire:
    """JSON calls and SSE streams on one SDK client; SDK errors become :mod:`errors` types.

    One attempt per call: the SDK never retries (:mod:`.waiting` does). ``secrets`` are masked
    in every message built from a server's reply.
    """

    def __init__(
        self,
        client: openai.OpenAI,
        *,
        headers: Mapping[str, str] | None = None,
        secrets: tuple[str | None, ...] = (),
        connect_timeout: float = 5.0,
    ) -> None:
        self.client = client
        # The SDK's generic get/post are typed for its own option and model types; these calls
        # pass plain dicts and cast_to=object, which every release accepts at run time.
        self._sdk: Any = client
        self._headers = dict(headers or {})
        self._scrub = Scrubber((getattr(client, "api_key", None), *secrets))
        self._connect_timeout = connect_timeout
        self.base_url = str(client.base_url)

    def _options(self, query: Mapping[str, Any] | None, timeout: float | None, raw: bool) -> dict[str, Any]:
        options: dict[str, Any] = {"headers": {**self._headers, **(_RAW if raw else {})}, "max_retries": 0}
        if query:
            options["params"] = {k: v for k, v in query.items() if v is not None}
        if timeout is not None:
            timeout = max(timeout, 0.001)
            options["timeout"] = openai.Timeout(timeout, connect=min(self._connect_timeout, timeout))
        return options

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        context: Mapping[str, str | None] | None = None,
        **_: Any,
    ) -> Reply:
        """One JSON request, one attempt. ``context`` (thread_id/run_id) goes into any error raised."""
        options = self._options(query, timeout, raw=True)
        describe = _Describe(method, path, self.base_url)
        try:
            if method == "GET":
                raw = self._sdk.get(path, cast_to=object, options=options)
            elif method == "DELETE":
                raw = self._sdk.delete(path, cast_to=object, options=options)
            else:
                raw = self._sdk.post(path, cast_to=object, body=None if body is None else dict(body), options=options)
            content = raw.content
        except openai.OpenAIError as exc:
            raise self.translate(exc, method=method, path=path, **(context or {})) from exc
        except STREAM_BREAKS as exc:  # the body broke off after the headers
            raise errors.ConnectionFailedError(
                f"{method} {path}: the reply broke off before its end ({type(exc).__name__}). What to do: check the "
                "network between Keep and the server, then retry the step.",
                thread_id=(context or {}).get("thread_id"),
                run_id=(context or {}).get("run_id"),
            ) from exc
        try:
            data = parse_body(content, raw.headers.get("content-type", ""), describe=describe)
        except errors.MalformedResponseError as exc:
            raise errors.MalformedResponseError(
                self._scrub(exc.message),
                status_code=raw.http_response.status_code,
                thread_id=(context or {}).get("thread_id"),
                run_id=(context or {}).get("run_id"),
            ) from None
        return Reply(data, raw.headers)

    def stream(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        read_timeout: float | None = None,
        context: Mapping[str, str | None] | None = None,
        **_: Any,
    ) -> EventStream:
        """Open an SSE stream, one attempt. Errors before the first byte raise like :meth:`call`."""
        options = self._options(query, read_timeout, raw=False)
        try:
            if method == "GET":
                sdk_stream = self._sdk.get(path, cast_to=object, options=options, stream=True, stream_cls=_EventSource)
            else:
                sdk_stream = self._sdk.post(
                    path,
                    cast_to=object,
                    body={**dict(body or {}), "stream": True},
                    options=options,
                    stream=True,
                    stream_cls=_EventSource,
                )
        except openai.OpenAIError as exc:
            raise self.translate(exc, method=method, path=path, **(context or {})) from exc
        return EventStream(sdk_stream, describe=_Describe(method, path, self.base_url))

    def translate(
        self,
        exc: BaseException,
        *,
        method: str = "",
        path: str = "",
        thread_id: str | None = None,
        run_id: str | None = None,
    ) -> errors.AssistantError:
        """An SDK error as the public tree's, with advice for its cause, the secrets masked."""
        error = translate(exc, method=method, path=path, base_url=self.base_url, thread_id=thread_id, run_id=run_id)
        scrubbed = self._scrub(error.message)
        if scrubbed != error.message:
            error.args = (scrubbed,)
        return error


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
    errors.RateLimitError: "wait and retry the step, or raise the key's rate limit",
    errors.InvalidRequestError: "check the step parameters named in the message",
    errors.ServerError: "the server failed; retry the step (Keep: on-failure retry)",
}

#: OpenAI's answer to a path it does not serve, e.g. a base_url without /v1.
_INVALID_URL = re.compile(r"^Invalid URL\b", re.IGNORECASE)
#: OpenAI's answers for an object that does not exist: "No assistant found with id 'asst_x'.",
#: "Response with id 'resp_x' not found.", "Conversation with id 'conv_x' not found.".
_NO_OBJECT = re.compile(r"\bNo \w+ found\b|\bnot found\b|\bdoes not exist\b", re.IGNORECASE)
#: ...which name the object: an id (``resp_...``) or a quoted name (the model `gpt-x`).
_OBJECT_ID = re.compile(r"\b[a-z]+_[A-Za-z0-9_-]{4,}|[`'\"][^`'\"\s]{2,}[`'\"]")


def not_found_kind(exc: openai.APIStatusError) -> str:
    """Which 404 this is: ``"url"`` (the path is not served: often base_url without /v1),
    ``"object"`` (the API says the id does not exist) or ``"route"`` (a 404 that is not the
    API's own: a proxy or a server that does not serve this endpoint at all)."""
    message = _api_message(exc)
    if message is None:
        return "route"
    if _INVALID_URL.search(message):
        return "url"
    return "object" if _NO_OBJECT.search(message) and _OBJECT_ID.search(message) else "route"


def translate(
    exc: BaseException,
    *,
    method: str = "",
    path: str = "",
    base_url: str = "",
    thread_id: str | None = None,
    run_id: str | None = None,
) -> errors.AssistantError:
    """Map an SDK error to the public tree. The message never contains request headers."""
    ids = {"thread_id": thread_id, "run_id": run_id}
    request = f"{method} {path}".strip() or "The request"
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        cls = _STATUS_ERRORS.get(status, errors.ServerError if status >= 500 else errors.ApiError)
        code = getattr(exc, "code", None)
        detail = _sentence_body(_server_message(exc))
        request_id = getattr(exc, "request_id", None)
        advice = _ADVICE.get(cls, "see the server's message")
        if cls is errors.NotFoundError:
            kind = not_found_kind(exc)
            if kind == "url":
                advice = _url_advice(base_url)
            elif kind == "route":
                advice = (
                    f"the server at {base_url or 'base_url'} does not serve this endpoint: check base_url, "
                    "and that the server speaks this API"
                )
        elif cls is errors.RateLimitError and code == "insufficient_quota":
            advice = "the key's quota is used up, and retrying will not help: check the plan and billing of the key"
        message = (
            f"{request} answered HTTP {status}{f' {code}' if code else ''}: {detail}"
            f"{_where(ids)}. What to do: {advice}."
            f"{f' (request id {request_id})' if request_id else ''}"
        )
        error = cls(message, status_code=status, request_id=request_id, code=code, retry_after=_retry_after(exc), **ids)
        if isinstance(error, errors.NotFoundError):
            error.kind = not_found_kind(exc)
        return error
    if isinstance(exc, openai.APITimeoutError):
        return errors.ConnectionFailedError(
            f"{request} got no answer in time: the server accepted the connection but sent no (complete) reply"
            f"{_where(ids)}. What to do: check that base_url ({base_url or 'default'}) is the API and is not "
            "overloaded, then retry the step.",
            timed_out=True,
            reached_server=True,
            thread_id=thread_id,
            run_id=run_id,
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        never = _never_connected(exc)
        return errors.ConnectionFailedError(
            f"{request} could not {'reach' if never else 'complete with'} the server at {base_url or 'base_url'} "
            f"({_sentence_body(str(cause)) or type(cause).__name__}){_where(ids)}. What to do: check base_url and "
            "the network between Keep and the server, then retry.",
            reached_server=not never,
            thread_id=thread_id,
            run_id=run_id,
        )
    return errors.AssistantError(f"{request} failed: {exc}{_where(ids)}", thread_id=thread_id, run_id=run_id)


def _url_advice(base_url: str) -> str:
    if base_url and not re.search(r"/v\d+/?$", base_url):
        return (
            f"base_url {base_url} lacks the API version path: OpenAI-compatible APIs live under /v1, "
            f"so set base_url to {base_url.rstrip('/')}/v1"
        )
    return f"the server at {base_url or 'base_url'} does not serve this path: check base_url"


def _api_message(exc: openai.APIStatusError) -> str | None:
    """The API's own error message (``{"error": {"message": ...}}``), or None for any other body."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str) and inner.get("message"):
            return str(inner["message"])
    return None


def _server_message(exc: openai.APIStatusError) -> str:
    message = _api_message(exc)
    if message is not None:
        return message
    body = exc.body
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("message") or body.get("error")
        if detail:
            return _excerpt(str(detail), 200)
    response = getattr(exc, "response", None)
    content_type = str(getattr(response, "headers", {}).get("content-type", "")) if response is not None else ""
    if "html" in content_type:
        return "an HTML page instead of the API's error object"
    text = str(body) if isinstance(body, str) and body else ""
    return _excerpt(text, 200) if text else "no detail"


def _sentence_body(text: str) -> str:
    """A server's text as the middle of our sentence: trimmed, without its final full stop."""
    return " ".join(str(text).split()).rstrip(".").rstrip()


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """The server's retry-after(-ms) hint, in seconds."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def _never_connected(exc: BaseException) -> bool:
    """True when the request surely never reached the server (connection refused, DNS)."""
    seen: BaseException | None = exc
    while seen is not None:
        if any(cls.__name__ == "ConnectError" for cls in type(seen).__mro__):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _where(ids: Mapping[str, str | None]) -> str:
    parts = [f"{k.replace('_id', '')} {v}" for k, v in ids.items() if v]
    return f" [{', '.join(parts)}]" if parts else ""
