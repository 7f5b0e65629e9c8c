"""What the emulated APIs share: the configuration, the clock, ids, statuses, errors, request checks, list pages.

One home for each, so the Assistants and the Responses + Conversations APIs cannot drift apart:

- :class:`EmulatorConfig`, the switches every API module reads (``model_time``, ``poll_after_ms`` ...),
  and :func:`poll_headers`, the ``openai-poll-after-ms`` header it implies;
- :class:`Clock`, the emulator's one time source: monotonic seconds for the state machines, Unix
  seconds (``created_at``, ``completed_at`` ...) derived from them, and the sleep streams wait with;
- :func:`new_id` and :func:`long_id`, OpenAI-looking ids;
- the status sets (:data:`RUN_ACTIVE`, :data:`RUN_TERMINAL`, :data:`RESPONSE_TERMINAL`, :data:`WITH_OUTPUT`)
  and :data:`QUEUED_SHARE`;
- :class:`EmulatorError`, the OpenAI error body, and the helpers that phrase its 400s as OpenAI did
  (:func:`missing`, :func:`invalid_type`, :func:`invalid_value`, :func:`too_long`, ...);
- :func:`check_metadata`, OpenAI's limits on ``metadata``;
- :func:`page`, a cursor page (``order``, ``limit``, ``after``, ``before``) in the list envelope,
  :func:`list_object` and :func:`deleted`;
- :func:`text_chunks`, a text in a few stream deltas.

Nothing here imports another emulator module (the HTTP core and both APIs import this one), and
nothing here does I/O.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

DEFAULT_ASSISTANT_ID = "asst_emulator"


@dataclass
class EmulatorConfig:
    """Shared by the API modules. ``model_time``: seconds a run takes unless a prompt says ``[[delay:S]]``."""

    model_time: float = 0.3
    poll_after_ms: int | None = 100
    default_assistant_id: str = DEFAULT_ASSISTANT_ID
    default_model: str = "gpt-5.4-mini"
    # False: the Conversations API is not served, as on gateways and servers that speak only
    # Responses: its routes answer ``conversations_off_status`` (404 or 405), and a response
    # refuses ``conversation``. Threads are then chains of ``previous_response_id``.
    conversations: bool = True
    conversations_off_status: int = 404
    # The model's context window in tokens (instructions + the history read + the input).
    context_window: int = 128_000
    default_instructions: str = "You are the on-call team's triage assistant."
    # Seconds between streamed text deltas (a run's text is streamed in a few deltas).
    delta_interval: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def poll_headers(config: EmulatorConfig) -> dict[str, str]:
    """``openai-poll-after-ms`` for a reply about something still running, when the emulator gives one."""
    ms = config.poll_after_ms
    return {} if ms is None else {"openai-poll-after-ms": str(ms)}


class Clock:
    """The emulator's one source of time, shared by both APIs (injectable: ``Emulator(clock=..., sleep=...)``).

    :meth:`now` is the state machines' time, in seconds on a monotonic scale (``time.monotonic``
    unless injected). :meth:`stamp` turns such a time into the Unix seconds the API shows, from one
    epoch taken when the clock is made: every timestamp of either API comes from the same source,
    and an injected clock moves them too. :attr:`sleep` is how streams and blocking replies wait.
    """

    def __init__(self, now: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self._now = now
        self.sleep = sleep
        self._epoch = time.time() - now()

    def now(self) -> float:
        return float(self._now())

    def stamp(self, at: float | None = None) -> int:
        """Unix seconds for clock time ``at`` (default: now)."""
        return int(self._epoch + (self.now() if at is None else at))


def new_id(prefix: str, digits: int = 24) -> str:
    """An OpenAI-looking id: ``prefix``, ``_`` and ``digits`` random hex digits.

    24 for Assistants objects (``thread_…``, ``run_…``) and tool call ids (``call_…``) of both APIs.
    """
    return f"{prefix}_{secrets.token_hex((digits + 1) // 2)[:digits]}"


def long_id(prefix: str) -> str:
    """A Responses-era id (``resp_…``, ``conv_…`` and their items: ``msg_…``, ``fc_…`` ...): 48 hex digits."""
    return new_id(prefix, 48)


# -- statuses ---------------------------------------------------------------------------------

RUN_ACTIVE = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
RUN_TERMINAL = frozenset({"completed", "failed", "incomplete", "expired", "cancelled"})
RESPONSE_TERMINAL = frozenset({"completed", "failed", "incomplete", "cancelled"})  # no "expired"
WITH_OUTPUT = frozenset({"completed", "incomplete"})  # the endings that keep the model's answer
QUEUED_SHARE = 0.1  # share of the model time a run or background response spends queued (and cancelling lasts)


# -- errors -----------------------------------------------------------------------------------


class EmulatorError(Exception):
    """An OpenAI error reply: HTTP ``status`` and the body ``{"error": {message, type, param, code}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type, "param": param, "code": code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> EmulatorError:
    return EmulatorError(400, message, param=param, code=code)


def missing(param: str) -> EmulatorError:
    return bad_request(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


_JSON_TYPES = {str: "a string", int: "an integer", float: "a decimal", bool: "a boolean", list: "an array"}


def invalid_type(param: str, expected: str, value: Any) -> EmulatorError:
    """``expected`` as OpenAI words it: ``"an object"``, ``"one of a string or array of input items"`` ..."""
    got = "an object" if isinstance(value, dict) else _JSON_TYPES.get(type(value), "null")
    return bad_request(
        f"Invalid type for '{param}': expected {expected}, but got {got} instead.", param, "invalid_type"
    )


def invalid_value(param: str, value: Any, supported: Sequence[str]) -> EmulatorError:
    quoted = [f"'{s}'" for s in supported]
    listed = " and ".join(quoted) if len(quoted) <= 2 else f"{', '.join(quoted[:-1])}, and {quoted[-1]}"
    return bad_request(f"Invalid value: '{value}'. Supported values are: {listed}.", param, "invalid_value")


def not_an_integer(param: str, raw: str) -> EmulatorError:
    """A query parameter that should be an integer (``limit``, ``starting_after``)."""
    return bad_request(f"Invalid '{param}': expected an integer, but got '{raw}' instead.", param, "invalid_type")


def below_minimum(param: str, value: int, minimum: int) -> EmulatorError:
    return bad_request(
        f"Invalid '{param}': integer below minimum value. Expected a value >= {minimum}, but got {value} instead.",
        param,
        "integer_below_min_value",
    )


def above_maximum(param: str, value: int, maximum: int) -> EmulatorError:
    return bad_request(
        f"Invalid '{param}': integer above maximum value. Expected a value <= {maximum}, but got {value} instead.",
        param,
        "integer_above_max_value",
    )


def too_long(param: str, value: str, limit: int) -> EmulatorError:
    return bad_request(
        f"Invalid '{param}': string too long. Expected a string with maximum length {limit}, "
        f"but got a string with length {len(value)} instead.",
        param,
        "string_above_max_length",
    )


def array_too_long(param: str, value: Sequence[Any], limit: int) -> EmulatorError:
    return bad_request(
        f"Invalid '{param}': array too long. Expected an array with maximum length {limit}, "
        f"but got an array with length {len(value)} instead.",
        param,
        "array_above_max_length",
    )


# -- request checks ---------------------------------------------------------------------------

MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512


def check_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """``metadata`` within OpenAI's limits: at most 16 pairs, keys up to 64 and string values up to 512 chars."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    if len(value) > MAX_METADATA_PAIRS:
        raise bad_request(
            f"Invalid '{param}': too many properties. Expected an object with at most {MAX_METADATA_PAIRS} "
            f"properties, but got an object with {len(value)} properties instead.",
            param,
            "object_above_max_properties",
        )
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY:
            raise too_long(f"{param}.{key[:16]}", key, MAX_METADATA_KEY)
        if not isinstance(item, str):
            raise invalid_type(f"{param}.{key}", "a string", item)
        if len(item) > MAX_METADATA_VALUE:
            raise too_long(f"{param}.{key}", item, MAX_METADATA_VALUE)
    return dict(value)


# -- lists ------------------------------------------------------------------------------------

T = TypeVar("T")


def list_object(data: list[dict[str, Any]], *, has_more: bool = False) -> dict[str, Any]:
    """The list envelope. An empty page has ``first_id`` and ``last_id`` ``""``: the spec types them as
    strings (api.openai.com sent null), and clients page by the ids in ``data`` anyway."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else "",
        "last_id": data[-1]["id"] if data else "",
        "has_more": has_more,
    }


def page(
    items: Sequence[T],
    query: Mapping[str, str],
    *,
    id_of: Callable[[T], str],
    render: Callable[[list[T]], list[dict[str, Any]]],
    with_before: bool = True,
) -> dict[str, Any]:
    """A cursor page of ``items`` (stored oldest first) per ``order`` (default desc), ``limit``, ``after``, ``before``.

    ``with_before``: the route takes a ``before`` cursor (the Assistants lists; the Responses-era
    lists take ``after`` only). A cursor that names no item of the list is a 400.
    """
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid_value("order", order, ("asc", "desc"))
    raw_limit = query.get("limit", "20")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise not_an_integer("limit", raw_limit) from None
    if limit < 1:
        raise below_minimum("limit", limit, 1)
    if limit > 100:
        raise above_maximum("limit", limit, 100)
    ordered = list(items) if order == "asc" else list(reversed(items))
    ids = [id_of(item) for item in ordered]
    start, end = 0, len(ordered)
    after, before = query.get("after"), query.get("before") if with_before else None
    if after:
        start = _cursor_index("after", after, ids) + 1
    if before:
        end = _cursor_index("before", before, ids)
    window = ordered[start:end]
    chosen = window[-limit:] if before and not after else window[:limit]  # before alone: the page right before it
    return list_object(render(chosen), has_more=len(window) > limit)


def _cursor_index(param: str, cursor: str, ids: list[str]) -> int:
    if cursor not in ids:
        raise bad_request(f"Invalid '{param}': no item with id '{cursor}' in this list.", param, "invalid_value")
    return ids.index(cursor)


def deleted(object_id: str, kind: str) -> dict[str, Any]:
    """The reply to a DELETE: ``{"id", "object": "<kind>.deleted", "deleted": true}``."""
    return {"id": object_id, "object": f"{kind}.deleted", "deleted": True}


# -- streams ----------------------------------------------------------------------------------


def text_chunks(text: str, pieces: int = 3) -> list[str]:
    """``text`` in a few deltas, cut at spaces where possible (as a model streams tokens); none for ``""``."""
    if not text:
        return []
    size = max(1, -(-len(text) // pieces))
    chunks, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        space = text.rfind(" ", start + 1, end) if end < len(text) else -1
        end = space + 1 if space > start else end
        chunks.append(text[start:end])
        start = end
    return chunks
