"""Step parameters (``with:`` of a workflow step): their single description and their coercion.

Keep renders every templated ``with:`` value to a string, drops floats and None, and passes
literal YAML mappings through as dicts. So ``max_wait_time: "{{ vars.wait }}"`` arrives as
``"30"`` and ``parse_json: "{{ alert.raw }}"`` as ``"false"``. :func:`coerce_step` turns what
arrived into the engine's types, or raises ConfigurationError naming the parameter and saying
what it accepts. Values are echoed in messages only when short scalars (a prompt may hold
incident data; it is never echoed).

:data:`PARAMETERS` is the one description of the parameters: the Keep adapter's ``_query``
signature, the YAML schema and the docs are tested against it.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from . import options
from .errors import ConfigurationError
from .question import DEFAULT_MAX_WAIT_TIME, HISTORY_CHOICES, History
from .tools.spec import parse_tools

# Keep's workflows time out after 120 minutes: no step can usefully wait longer.
MAX_WAIT_TIME_LIMIT = 7200.0
# The keys of a step's ``with:`` that are Keep's own, not the provider's: Keep's step runner
# passes the whole rendered ``with:`` to ``provider.query(**with)`` (keep/step/step.py,
# Step._run_single, in 0.2.7 and current Keep), and ``BaseProvider.query`` forwards what it
# does not pop to ``_query`` (keep/providers/base/base_provider.py):
# - keephq 0.2.7: ``query()`` pops nothing; ``enrich_alert`` is Keep's (read by ``notify()``).
# - current Keep (0.54): ``query()`` pops ``enrich_alert`` and ``audit_enabled``;
#   ``enrich_incident`` is popped by ``notify()`` only, so a step's reaches ``_query``.
# Nothing else is added by Keep: the parser (keep/parser/parser.py, parse_provider_parameters)
# only renames Python keywords (``from`` -> ``from_``), none of which is a parameter here.
KEEP_INTERNAL_KEYS = frozenset({"enrich_alert", "enrich_incident", "audit_enabled"})
_ABSENT = frozenset({"", "none", "null"})
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


@dataclass(frozen=True)
class Parameter:
    """One step parameter. ``type`` uses JSON-schema names (string, number, boolean, object)."""

    name: str
    type: str
    description: str
    required: bool = False
    default: Any = None
    sensitive: bool = False


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("prompt", "string", "The user message: the alert, the question.", required=True),
    Parameter(
        "thread_id",
        "string",
        "Continue this thread (thread_...) or conversation (conv_...); absent or empty: start a new one.",
    ),
    Parameter(
        "max_wait_time",
        "number",
        "Seconds to wait for the answer; on expiry the run is cancelled on the server.",
        default=int(DEFAULT_MAX_WAIT_TIME),
    ),
    Parameter("additional_instructions", "string", "Extra instructions for this run only."),
    Parameter(
        "parse_json",
        "boolean",
        "Return parsed JSON in `response` when the answer holds JSON, else the text.",
        default=True,
    ),
    Parameter(
        "structured_output_format",
        "object",
        'A JSON schema format like Keep\'s OpenAI provider takes ({"type": "json_schema", '
        '"json_schema": {"name", "schema", "strict"}}); the answer must match it. A mapping or a JSON string.',
    ),
    Parameter(
        "tool_outputs",
        "object",
        "Answers for the assistant's function calls, by function name (string or JSON value). "
        "A mapping or a JSON string.",
    ),
    Parameter(
        "history",
        "string",
        "full: `messages` holds the thread's messages (bounded in count and bytes; one more request on a "
        "continued thread); none: only this turn, no extra request.",
        default="full",
    ),
    Parameter(
        "tools",
        "array",
        "Functions the assistant may call in this step, each answered by a Keep provider query, an HTTP endpoint or "
        "a value (see docs/tools.md); arguments go in as ${args.NAME}. A list, a mapping {functions, mcp, limits} or "
        "a JSON string.",
    ),
    Parameter(
        "approve",
        "object",
        "Decisions on calls a previous step left pending (status requires_approval), by call id: true runs the call, "
        "false denies it; with thread_id and the same tools, the run goes on where it stopped (no prompt needed).",
    ),
    Parameter(
        "reasoning_effort",
        "string",
        "Responses API: how hard a reasoning model thinks for this step (none, minimal, low, medium, high, xhigh, "
        "max); absent: the profile's.",
    ),
    Parameter(
        "max_output_tokens",
        "number",
        "Responses API: at most this many output tokens (reasoning included, at least 16) for each response of this "
        "step; absent: the profile's.",
    ),
)
BY_NAME: dict[str, Parameter] = {p.name: p for p in PARAMETERS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def coerce_step(**values: Any) -> dict[str, Any]:
    """Raw ``with:`` values -> keyword arguments of ``Assistant.ask``.

    Keep's own keys (:data:`KEEP_INTERNAL_KEYS`) are left out; any other key that is not a
    parameter raises ConfigurationError with a suggestion (:func:`check_keys`).
    """
    check_keys(values)
    get = values.get
    return {
        "prompt": "" if _approval_only(values) else coerce_prompt(get("prompt")),
        "thread_id": coerce_thread_id(get("thread_id")),
        "max_wait_time": coerce_max_wait_time(get("max_wait_time", BY_NAME["max_wait_time"].default)),
        "additional_instructions": coerce_text("additional_instructions", get("additional_instructions")),
        "parse_json": coerce_bool("parse_json", get("parse_json", True), default=True),
        "structured_output_format": coerce_structured_output_format(get("structured_output_format")),
        "tool_outputs": coerce_tool_outputs(get("tool_outputs")),
        "history": coerce_history(get("history")),
        "tools": coerce_tools(get("tools")),
        "approve": coerce_approve(get("approve")),
        "reasoning_effort": options.parse_choice(
            "reasoning_effort", get("reasoning_effort"), options.REASONING_EFFORTS
        ),
        "max_output_tokens": options.parse_int(
            "max_output_tokens", get("max_output_tokens"), minimum=options.MIN_OUTPUT_TOKENS
        ),
    }


def check_keys(keys: Iterable[str]) -> None:
    """Refuse every key that is neither a step parameter nor Keep's own, before any request.

    A misspelt parameter would otherwise be dropped silently (``thred_id``: a new thread on
    every run; ``max_wait_tme``: the default wait), so each unknown key fails the step, with the
    closest parameter name when there is one.
    """
    unknown = sorted(k for k in keys if k not in BY_NAME and k not in KEEP_INTERNAL_KEYS)
    if not unknown:
        return
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, NAMES, n=1)
        parts.append(f"{_show_key(key)} (did you mean {close[0]!r}?)" if close else _show_key(key))
    noun, it = ("parameter", "it") if len(unknown) == 1 else ("parameters", "them")
    raise ConfigurationError(
        f"unknown step {noun} {', '.join(parts)}: correct or remove {it} in the step's `with:`. "
        f"The parameters are {', '.join(NAMES)}.",
        field=unknown[0],
    )


def _show_key(key: str) -> str:
    return repr(key) if len(key) <= 40 else repr(key[:37] + "...")


def _show(value: Any) -> str:
    """A short value for an error message; long or structured values are described, not echoed."""
    if isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) <= 40):
        return repr(value)
    return f"a {type(value).__name__}"


def _is_absent(value: Any) -> bool:
    """Keep renders a missing template value as '' (or 'None'): treat those as not given."""
    return value is None or (isinstance(value, str) and value.strip().lower() in _ABSENT)


def coerce_prompt(value: Any) -> str:
    if isinstance(value, (dict, list)):
        # A literal mapping in ``with:`` (e.g. the alert's fields): send it as JSON, keys in order.
        value = json.dumps(value, ensure_ascii=False, default=str)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            "prompt is missing or empty: give the step a `prompt:` with the message for the assistant.",
            field="prompt",
        )
    return value


def coerce_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be text, got {_show(value)}.", field=name)
    text: str = value
    return text if text.strip() else None


def coerce_thread_id(value: Any) -> str | None:
    if _is_absent(value):
        return None
    if not isinstance(value, str):
        raise ConfigurationError(
            f"thread_id must be a thread (thread_...) or conversation (conv_...) id, got {_show(value)}.",
            field="thread_id",
        )
    thread_id: str = value.strip()
    # The id goes into a URL path: anything with a separator or space is a template gone wrong.
    if any(c.isspace() or c in "/?#" for c in thread_id):
        raise ConfigurationError(
            f"thread_id {_show(thread_id)} is not an id: expected thread_... or conv_..., "
            "e.g. {{ steps.<first step>.results.thread_id }}.",
            field="thread_id",
        )
    return thread_id


def coerce_max_wait_time(value: Any) -> float:
    if _is_absent(value):
        return DEFAULT_MAX_WAIT_TIME
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or number <= 0:
        raise ConfigurationError(
            f"max_wait_time must be a positive number of seconds (e.g. 120), got {_show(value)}.",
            field="max_wait_time",
        )
    if number > MAX_WAIT_TIME_LIMIT:
        raise ConfigurationError(
            f"max_wait_time {number:g} is longer than a Keep workflow may run ({MAX_WAIT_TIME_LIMIT:g} s): "
            "give at most 7200.",
            field="max_wait_time",
        )
    return number


def coerce_bool(name: str, value: Any, *, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ConfigurationError(f"{name} must be true or false, got {_show(value)}.", field=name)


def _mapping(name: str, value: Any, example: str) -> dict[str, Any] | None:
    """A mapping given as YAML or as a JSON object string; absent -> None."""
    if _is_absent(value):
        return None
    if isinstance(value, str):
        value = options.loads_json(name, value, wanted=f"a YAML mapping or a JSON object such as {example}")
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name} must be a mapping such as {example}, got {_show(value)}.", field=name)
    return dict(value)


def coerce_structured_output_format(value: Any) -> dict[str, Any] | None:
    """A mapping (YAML) or a JSON object string; absent -> None.

    Only the container is checked here: the backends own the format's shape (they accept
    Keep's OpenAI-provider shape, the inner ``{name, schema}`` object and a bare JSON schema,
    see :func:`keep_openaiassistant.backends.common.normalize_format`).
    """
    return _mapping(
        "structured_output_format",
        value,
        '{"type": "json_schema", "json_schema": {"name": "triage", "schema": {...}}}',
    )


def coerce_tool_outputs(value: Any) -> dict[str, Any] | None:
    name = "tool_outputs"
    fmt = _mapping(name, value, '{"recent_deploys": "{{ steps.deploys.results }}"}')
    if fmt is None:
        return None
    for key in fmt:
        if not isinstance(key, str) or not key.strip():
            raise ConfigurationError(f"{name} keys must be function names, got {_show(key)}.", field=name)
    return fmt


def coerce_history(value: Any) -> History:
    """``full`` (default) or ``none``, in any case; absent or empty: ``full``."""
    if value is None:
        return "full"
    word = value.strip().lower() if isinstance(value, str) else None
    if word == "":
        return "full"
    if word not in HISTORY_CHOICES:
        raise ConfigurationError(
            f"history must be one of {', '.join(HISTORY_CHOICES)}, got {_show(value)}: full returns the "
            "thread's messages, none only this turn.",
            field="history",
        )
    return cast(History, word)


def coerce_tools(value: Any) -> Any:
    """The step's ``tools``, validated now (a declaration that cannot work fails before any request);
    returned as given, for the engine (which joins ``tool_outputs`` to it)."""
    if _is_absent(value):
        return None
    if isinstance(value, str):
        value = options.loads_json("tools", value, wanted="a YAML list of functions (docs/tools.md)")
    parse_tools(value)
    return value


def _approval_only(values: Mapping[str, Any]) -> bool:
    """An approval step may leave out the prompt: the run goes on where it stopped."""
    return _is_absent(values.get("prompt")) and not _is_absent(values.get("approve"))


def _decision(part: str) -> tuple[str, Any]:
    call_id, _, decision = part.strip().partition("=")
    return call_id.strip(), decision.strip() or True


def coerce_approve(value: Any) -> dict[str, bool] | None:
    """``{call_id: true|false}`` (YAML or JSON; Keep renders booleans to strings), or the text a
    stopped step's ``pending_call_ids`` gives: ``"call_a,call_b"`` approves both (``call_b=false``
    denies one)."""
    if isinstance(value, str) and value.strip() and not value.strip().startswith("{"):
        value = dict(_decision(part) for part in value.split(",") if part.strip())
    fmt = _mapping("approve", value, '{"call_abc123": true}')
    if not fmt:
        return None
    decisions: dict[str, bool] = {}
    for key, decision in fmt.items():
        if not isinstance(key, str) or not key.strip() or any(c.isspace() or c in "/?#" for c in key.strip()):
            raise ConfigurationError(f"approve keys must be call ids, got {_show(key)}.", field="approve")
        decisions[key.strip()] = coerce_bool(f"approve.{key.strip()}", decision, default=False)
    return decisions
