"""The one exception tree of keep_openaiassistant.

Every error says what happened and what to do, carries the thread and run ids where they
exist, and never holds a secret. The Keep adapter turns each into Keep's ProviderException
with the same message.

    AssistantError                    base of everything raised here
    ├── ConfigurationError            the settings cannot work (found before any request)
    ├── ApiError                      the server refused a request (after the SDK's retries)
    │   ├── AuthenticationError       401/403: the key, organization or project is wrong
    │   ├── NotFoundError             404: no such assistant, thread, conversation or run
    │   │   └── AssistantsApiShutDownError   404 from OpenAI's own Assistants endpoints
    │   ├── RateLimitError            429 that outlasted the retries, or whose retry-after the
    │   │                             deadline cannot wait for (``retry_after``); ``insufficient_quota``
    │   ├── InvalidRequestError       400/409/422: the request itself is wrong
    │   ├── ServerError               5xx that outlasted the retries
    │   └── MalformedResponseError    the reply is not the API's: HTML, not JSON, invalid UTF-8,
    │                                 truncated, oversized, nested too deep (a proxy, a wrong base_url)
    ├── ConnectionFailedError         no HTTP answer at all (connection refused, reset, DNS)
    ├── RunError                      the run (or response) ended without an answer
    │   ├── RunFailedError            status ``failed``; ``code`` and ``detail`` from last_error
    │   ├── RunIncompleteError        status ``incomplete``; ``reason`` from incomplete_details
    │   ├── RunExpiredError           status ``expired`` (the server gave up on the run)
    │   ├── RunCancelledError         status ``cancelled`` by someone else
    │   └── ActionRequiredError       the assistant called functions nobody answered; cancelled
    ├── DeadlineExceededError         ``max_wait_time`` passed (also: the server sent nothing in
    │   │                             time); the run was cancelled on the server
    │   └── ThreadBusyError           the thread stayed busy with another run until the deadline
    ├── AskInterrupted                Ctrl-C / SIGTERM during an ask; the run was cancelled
    └── ResponseFormatError           strict JSON was required and the answer is not JSON, or it
                                      violates the schema (``violation``)
"""

from __future__ import annotations

from typing import Any


class AssistantError(Exception):
    """Base class. ``str(error)`` is the full, user-facing message."""

    def __init__(self, message: str, *, thread_id: str | None = None, run_id: str | None = None) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def where(self) -> str:
        """'(thread thread_x, run run_y)' or '' — for composing messages."""
        parts = [f"thread {self.thread_id}" if self.thread_id else "", f"run {self.run_id}" if self.run_id else ""]
        parts = [p for p in parts if p]
        return f" ({', '.join(parts)})" if parts else ""


class ConfigurationError(AssistantError):
    """The settings cannot work; raised before any request. ``field`` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class ApiError(AssistantError):
    """The server answered with an HTTP error after the SDK's own retries."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        thread_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.request_id = request_id
        self.code = code
        #: The server's retry-after(-ms) hint in seconds, when it gave one.
        self.retry_after = retry_after
        super().__init__(message, thread_id=thread_id, run_id=run_id)


class AuthenticationError(ApiError):
    """401/403: the API key, organization or project is not accepted."""


class NotFoundError(ApiError):
    """404: the assistant, thread, conversation or run does not exist for this key.

    ``kind``: ``"object"`` (the API says the id does not exist), ``"url"`` (the path is not
    served, e.g. a base_url without /v1) or ``"route"`` (a 404 that is not the API's own: the
    server does not serve this endpoint).
    """

    kind: str = "object"


class AssistantsApiShutDownError(NotFoundError):
    """404 from OpenAI's Assistants endpoints: OpenAI shut that API down on 2026-08-26."""


class RateLimitError(ApiError):
    """429 that outlasted the retries: the key's rate limit or quota is exhausted.

    ``retry_after`` (seconds) is the server's hint when it gave one; when the deadline could
    not wait that long, the step gave up at once instead of sleeping past it.
    ``code == "insufficient_quota"``: the quota is used up; retrying does not help.
    """


class InvalidRequestError(ApiError):
    """400/409/422: the server rejected the request as malformed or conflicting."""


class ServerError(ApiError):
    """5xx that outlasted the retries."""


class MalformedResponseError(ApiError):
    """The server answered, but not as the API does: an HTML page, a body that is not JSON or
    not an object, invalid UTF-8, a truncated or oversized body, JSON nested too deep. Usually a
    proxy, a login page or a ``base_url`` that points at something else."""


class ConnectionFailedError(AssistantError):
    """No HTTP answer at all: refused, reset, DNS failure or a request timeout.

    ``reached_server`` is False when the request surely never reached the server (connection
    refused, DNS): then even a request that starts a run may be re-sent. ``timed_out``: the
    server accepted the request and sent no (complete) answer in time.
    """

    def __init__(
        self,
        message: str,
        *,
        reached_server: bool = True,
        timed_out: bool = False,
        thread_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self.reached_server = reached_server
        self.timed_out = timed_out
        super().__init__(message, thread_id=thread_id, run_id=run_id)


class RunError(AssistantError):
    """The run (Assistants) or response (Responses) ended without an answer."""

    def __init__(self, message: str, *, status: str, thread_id: str | None = None, run_id: str | None = None) -> None:
        self.status = status
        super().__init__(message, thread_id=thread_id, run_id=run_id)


class RunFailedError(RunError):
    """Status ``failed``. ``code``/``detail`` come from the server's last_error (or error)."""

    def __init__(self, message: str, *, code: str | None, detail: str | None, **ids: Any) -> None:
        self.code = code
        self.detail = detail
        super().__init__(message, status="failed", **ids)


class RunIncompleteError(RunError):
    """Status ``incomplete``; ``reason`` from incomplete_details; ``partial_text`` if any."""

    def __init__(self, message: str, *, reason: str | None, partial_text: str = "", **ids: Any) -> None:
        self.reason = reason
        self.partial_text = partial_text
        super().__init__(message, status="incomplete", **ids)


class RunExpiredError(RunError):
    """Status ``expired``: the server gave up on the run (Assistants runs expire after 10 min)."""

    def __init__(self, message: str, **ids: Any) -> None:
        super().__init__(message, status="expired", **ids)


class RunCancelledError(RunError):
    """Status ``cancelled``, and not by this client's deadline."""

    def __init__(self, message: str, **ids: Any) -> None:
        super().__init__(message, status="cancelled", **ids)


class ActionRequiredError(RunError):
    """The assistant called functions and no answer was supplied; the run was cancelled.

    ``tool_calls`` lists ``{"id", "name", "arguments"}`` for each pending call.
    """

    def __init__(self, message: str, *, tool_calls: list[dict[str, Any]], **ids: Any) -> None:
        self.tool_calls = tool_calls
        super().__init__(message, status="requires_action", **ids)


class DeadlineExceededError(AssistantError):
    """``max_wait_time`` passed. ``cancelled`` tells whether the server confirmed the cancel."""

    def __init__(self, message: str, *, waited: float, cancelled: bool, **ids: Any) -> None:
        self.waited = waited
        self.cancelled = cancelled
        super().__init__(message, **ids)


class ThreadBusyError(DeadlineExceededError):
    """The thread (conversation) stayed busy with another run until the deadline."""


class AskInterrupted(AssistantError):
    """The ask was interrupted (Ctrl-C, SIGTERM). ``cancelled`` tells whether the run (or
    response) it had started was cancelled on the server; no run started: False."""

    def __init__(self, message: str, *, cancelled: bool, **ids: Any) -> None:
        self.cancelled = cancelled
        super().__init__(message, **ids)


class ResponseFormatError(AssistantError):
    """Strict JSON was required (structured output) and the answer is not valid JSON, or it
    violates the schema.

    ``text`` holds the answer as received; ``violation`` the first schema violation, if any.
    """

    def __init__(self, message: str, *, text: str, violation: str | None = None, **ids: Any) -> None:
        self.text = text
        self.violation = violation
        super().__init__(message, **ids)
