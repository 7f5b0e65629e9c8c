"""Answer one round of the model's function calls: concurrently, each bounded, failures as data.

One :class:`Toolbox` per ask (it counts the rounds). ``answer(calls, deadline)`` gives one
:class:`Outcome` per call, in the calls' order — the output the model receives and the record
for the step's ``tool_calls`` — or, when a call needs a person's approval that this step does not
carry, nothing is run and every call of the round comes back ``pending``.

What the model is told, as the call's output, instead of a crash: an undeclared function, arguments
that are not JSON or do not match the declared schema, a source that fails or times out, a round
with more calls than allowed, a round past the round limit. Only the loop itself is stopped by an
exception: :meth:`Toolbox.over_limit` says the model kept calling after it was told to stop.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..answer import first_violation
from ..waiting import Deadline
from .sources import ProviderRunner, ToolFailure, call_http, output_text, substitute
from .spec import ToolSet, ToolSpec, parse_tools

if TYPE_CHECKING:
    from ..question import Question

log = logging.getLogger("keep_openaiassistant")

CUT = " … [output cut at {limit} bytes of {size}]"
#: Threads of one round at most (the rest wait for a free one, within their own bound).
MAX_WORKERS = 8


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    arguments: str  # the JSON text the model sent


@dataclass(frozen=True)
class Outcome:
    call: Call
    output: str  # what the model receives ('' when pending)
    record: dict[str, Any]  # one entry of the step result's ``tool_calls``
    pending: bool = False


class Toolbox:
    """The step's tools for one ask: declarations, bounds, approvals, the provider runner."""

    def __init__(
        self,
        tools: ToolSet,
        *,
        provider_runner: ProviderRunner | None = None,
        approvals: Mapping[str, bool] | None = None,
    ) -> None:
        self.tools = tools
        self.limits = tools.limits
        self.specs = tools.by_name()
        self.runner = provider_runner
        self.approvals = dict(approvals or {})
        self.rounds = 0
        self.records: list[dict[str, Any]] = []

    def answers_all(self, names: Sequence[str]) -> bool:
        """The step can answer these calls: it declared tools (each call gets an output, an
        error at worst), or its ``tool_outputs`` name every function called."""
        return bool(names) and (self.tools.declared or all(n in self.specs for n in names))

    def over_limit(self) -> bool:
        """True when the model called again after being told the round limit was reached."""
        return self.rounds > self.limits.max_rounds

    def needs_approval(self, calls: Sequence[Call]) -> list[Call]:
        """The calls of this round waiting for a person: approval required, no decision given."""
        return [
            c
            for c in calls
            if (spec := self.specs.get(c.name)) is not None and spec.approval and c.id not in self.approvals
        ]

    def pending(self, calls: Sequence[Call]) -> list[Outcome]:
        """The round's calls, none run: the step stops for approval."""
        waiting = {c.id for c in self.needs_approval(calls)}
        outcomes = []
        for call in calls:
            status = "pending_approval" if call.id in waiting else "not_run"
            record = self._record(call, self._source(call), status, answered=False, seconds=0.0, full="")
            outcomes.append(Outcome(call, "", record, pending=True))
        return self._kept(outcomes)

    def _kept(self, outcomes: list[Outcome]) -> list[Outcome]:
        """The round's records join the step's, in the calls' order."""
        self.records.extend(o.record for o in outcomes)
        return outcomes

    def answer(self, calls: Sequence[Call], deadline: Deadline) -> list[Outcome]:
        """Outputs for every call of one round, concurrently, each within its time bound."""
        self.rounds += 1
        if self.rounds > self.limits.max_rounds:
            text = (
                f"Not run: the limit of {self.limits.max_rounds} rounds of tool calls for this step is reached. "
                "Answer now with what you have, without calling tools."
            )
            return self._kept([self._done(c, "refused", text, 0.0) for c in calls])
        outcomes: dict[str, Outcome] = {}
        jobs: list[tuple[Call, ToolSpec, dict[str, Any], float]] = []
        for i, call in enumerate(calls):
            if i >= self.limits.max_calls_per_round:
                outcomes[call.id] = self._done(
                    call,
                    "refused",
                    _error(f"not run: at most {self.limits.max_calls_per_round} calls per round; call it again later"),
                    0.0,
                )
                continue
            spec = self.specs.get(call.name)
            if spec is None:
                known = ", ".join(sorted(self.specs)) or "none"
                outcomes[call.id] = self._done(
                    call,
                    "error",
                    _error(f"no function {call.name!r} is available in this step (available: {known})"),
                    0.0,
                )
                continue
            arguments, problem = self._arguments(call, spec)
            if problem is not None:
                outcomes[call.id] = self._done(call, "error", _error(problem), 0.0)
                continue
            if spec.approval and self.approvals.get(call.id) is False:
                outcomes[call.id] = self._done(call, "denied", _error("a person denied this call; it was not run"), 0.0)
                continue
            budget = min(spec.timeout or self.limits.call_timeout, deadline.remaining())
            if budget <= 0:
                outcomes[call.id] = self._done(
                    call, "timeout", _error("not run: the step's max_wait_time is reached"), 0.0
                )
                continue
            jobs.append((call, spec, arguments, budget))
        outcomes.update(self._run(jobs))
        result = self._kept([outcomes[c.id] for c in calls])
        log.info(
            "tool calls answered",
            extra={"round": self.rounds, "calls": [(o.call.name, o.record["status"]) for o in result]},
        )
        return result

    # -- running ----------------------------------------------------------------------------

    def _run(self, jobs: list[tuple[Call, ToolSpec, dict[str, Any], float]]) -> dict[str, Outcome]:
        done: dict[str, Outcome] = {}
        threaded = [j for j in jobs if j[1].kind != "value"]
        for call, spec, arguments, _ in jobs:
            if spec.kind == "value":
                done[call.id] = self._done(call, "ok", output_text(substitute(spec.value, arguments)), 0.0)
        if not threaded:
            return done
        pool = ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(threaded)), thread_name_prefix="keep-oa-tool")
        try:
            started = time.monotonic()
            futures: list[tuple[Call, float, Future[str]]] = [
                (call, budget, pool.submit(self._source_call(spec), arguments, budget))
                for call, spec, arguments, budget in threaded
            ]
            for call, budget, future in futures:
                left = max(0.0, started + budget - time.monotonic())
                try:
                    text = future.result(timeout=left)
                except FutureTimeout:
                    done[call.id] = self._done(
                        call, "timeout", _error(f"the tool did not answer within {budget:g} s"), budget
                    )
                    continue
                except ToolFailure as exc:
                    done[call.id] = self._done(call, exc.status, _error(str(exc)), time.monotonic() - started)
                    continue
                except Exception as exc:  # noqa: BLE001 -- a failing tool is data for the model, never a crash
                    message = f"the tool failed: {type(exc).__name__}: {_clip(str(exc), 300)}"
                    done[call.id] = self._done(call, "error", _error(message), time.monotonic() - started)
                    continue
                done[call.id] = self._done(call, "ok", text, time.monotonic() - started)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # a tool past its bound is abandoned, not waited for
        return done

    def _source_call(self, spec: ToolSpec) -> Callable[[dict[str, Any], float], str]:
        limits = self.limits

        def http(arguments: dict[str, Any], budget: float) -> str:
            assert spec.http is not None
            return call_http(spec.http, arguments, timeout=budget, max_bytes=limits.max_response_bytes)

        def provider(arguments: dict[str, Any], budget: float) -> str:
            assert spec.provider is not None
            if self.runner is None:
                raise ToolFailure("Keep provider queries run only inside Keep (no Keep here)")
            with_ = substitute(dict(spec.provider.with_), arguments)
            return output_text(self.runner(spec.provider, with_, timeout=budget))

        return http if spec.kind == "http" else provider

    # -- checking ---------------------------------------------------------------------------

    def _arguments(self, call: Call, spec: ToolSpec) -> tuple[dict[str, Any], str | None]:
        text = call.arguments.strip() or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return {}, f"the arguments are not valid JSON ({exc.msg} at column {exc.colno}); send a JSON object"
        if not isinstance(value, dict):
            return {}, f"the arguments must be a JSON object, got {type(value).__name__}"
        violation = None if spec.parameters is None else first_violation(spec.parameters, value)
        if violation is not None:
            return value, f"the arguments do not match the function's parameters: {violation}"
        return value, None

    # -- records ----------------------------------------------------------------------------

    def _source(self, call: Call) -> str:
        spec = self.specs.get(call.name)
        return spec.kind if spec is not None else "undeclared"

    def _done(self, call: Call, status: str, full: str, seconds: float) -> Outcome:
        output = self._bounded(full, self.limits.max_output_bytes)
        record = self._record(call, self._source(call), status, answered=True, seconds=seconds, full=full)
        record["truncated"] = output != full
        return Outcome(call, output, record)

    def _record(
        self, call: Call, source: str, status: str, *, answered: bool, seconds: float, full: str
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": call.id,
            "name": call.name,
            "arguments": call.arguments,
            "source": source,
            "status": status,
            "answered": answered,
            "round": self.rounds,
            "seconds": round(seconds, 3),
            "output_bytes": len(full.encode("utf-8")),
            "output": self._bounded(full, self.limits.result_output_bytes) if full else None,
        }
        if status not in ("ok", "pending_approval", "not_run"):
            record["error"] = _error_text(full)
        return record

    @staticmethod
    def _bounded(text: str, limit: int) -> str:
        data = text.encode("utf-8")
        if len(data) <= limit:
            return text
        marker = CUT.format(limit=limit, size=len(data))
        head = data[: max(0, limit - len(marker.encode()))].decode("utf-8", errors="ignore")
        return head + marker


def _error(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)


def _error_text(output: str) -> str:
    try:
        value = json.loads(output)
    except json.JSONDecodeError:
        return output[:300]
    return str(value.get("error")) if isinstance(value, dict) and "error" in value else output[:300]


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def toolbox_for(question: Question) -> Toolbox | None:
    """The ask's toolbox: the step's ``tools`` (``tool_outputs`` joined as values), or None."""
    tools = question.tools or parse_tools(None, tool_outputs=question.tool_outputs)
    if tools is None:
        return None
    return Toolbox(tools, provider_runner=question.provider_runner, approvals=question.approve)


def calls_listed(calls: Sequence[Call]) -> str:
    """'restart(service=...) [call_1]; ...' for messages: names, arguments, ids."""
    return "; ".join(f"{c.name}({_clip(c.arguments, 120)}) [{c.id}]" for c in calls)


def pending_call(outcome: Outcome) -> dict[str, Any]:
    """One entry of the result's ``pending_calls``: what a person approves, by its id."""
    return {
        "id": outcome.call.id,
        "name": outcome.call.name,
        "arguments": outcome.call.arguments,
        "needs_approval": outcome.record["status"] == "pending_approval",
    }


def awaiting_text(outcomes: Sequence[Outcome]) -> str:
    """The step's ``response`` while calls wait for a person: what, and how to go on."""
    waiting = [o.call for o in outcomes if o.record["status"] == "pending_approval"]
    ids = ", ".join(f"{c.id}: true" for c in waiting)
    return (
        f"The assistant asks to run {calls_listed(waiting)}, which needs a person's approval. To go on, run a step "
        f"on this thread with approve: {{{ids}}} (or false to deny)."
    )
