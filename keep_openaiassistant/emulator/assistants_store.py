"""State of the emulated Assistants API v2: assistants, threads, messages, runs and run steps.

No background threads: a run's state is a pure function of the clock, advanced lazily whenever
anyone looks at it (:meth:`AssistantsStore.advance`). A poller, a streaming handler and a
cancelling client therefore all see the same run. Timeline of a run (``T`` = its model time,
from the prompt's ``[[delay:S]]`` or the emulator's ``model_time``)::

    queued --(T/10)--> in_progress --(rest of T)--> outcome of the model's plan
        outcome: completed | incomplete | failed | expired | cancelled | requires_action
    requires_action --submit_tool_outputs--> in_progress --(T)--> outcome of a new plan
    any active status --cancel--> cancelling --(T/10)--> cancelled
    any active status --(600 s after creation)--> expired

Every object is kept as a small record and rendered in the exact wire shape of OpenAI's spec
(``RunObject``, ``MessageObject``, ``RunStepObject`` ...) by its ``to_dict``. All access goes
through ``store.lock`` (an RLock held briefly; never while sleeping).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .common import QUEUED_SHARE, RUN_ACTIVE, RUN_TERMINAL, WITH_OUTPUT, Clock, EmulatorConfig, new_id
from .knowledge import Hit, Knowledge
from .model import Part, Plan, count_tokens, plan_answer, tags
from .oncall_tools import assistant_tool_resources, assistant_tools, function_parameters

EXPIRY_SECONDS = 600
JSON_TAGS = frozenset({"json", "fenced_json", "prose_json"})

# A run's incomplete reason -> the reason its partial message carries (MessageObject's enum).
_MESSAGE_INCOMPLETE_REASON = {"max_completion_tokens": "max_tokens", "max_prompt_tokens": "max_tokens"}
# A run's ending -> how the steps still in progress end, and the timestamp that records it.
_STEP_ENDINGS = {"cancelled": "cancelled_at", "expired": "expired_at", "failed": "failed_at"}


def token_usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """A run's or a step's ``usage``."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def content_from_parts(parts: list[Part]) -> list[dict[str, Any]]:
    """The model's parts as MessageObject content (text with annotations, image_file)."""
    content: list[dict[str, Any]] = []
    for part in parts:
        if part.kind == "image_file":
            content.append({"type": "image_file", "image_file": {"file_id": part.file_id, "detail": "auto"}})
            continue
        annotations = []
        for a in part.annotations:
            key = "file_citation" if a.type == "file_citation" else "file_path"
            annotations.append(
                {
                    "type": a.type,
                    "text": a.text,
                    "start_index": a.start_index,
                    "end_index": a.end_index,
                    key: {"file_id": a.file_id},
                }
            )
        content.append({"type": "text", "text": {"value": part.text, "annotations": annotations}})
    return content


#: The run-step ``include[]`` value that shows what file search read from each file.
FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def without_search_content(details: dict[str, Any]) -> dict[str, Any]:
    """Step details with file search results' ``content`` left out (shown only when included)."""
    calls = []
    for call in details.get("tool_calls", []):
        if call.get("type") != "file_search":
            calls.append(call)
            continue
        search = call["file_search"]
        results = [{k: v for k, v in r.items() if k != "content"} for r in search.get("results", [])]
        calls.append({**call, "file_search": {**search, "results": results}})
    return {**details, "tool_calls": calls}


def text_of(content: list[dict[str, Any]]) -> str:
    return "\n".join(c["text"]["value"] for c in content if c.get("type") == "text")


@dataclass
class AssistantRec:
    id: str
    created_at: int
    model: str
    instructions: str | None
    name: str | None = None
    description: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_resources: dict[str, Any] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    temperature: float | None = 1.0
    top_p: float | None = 1.0
    response_format: Any = "auto"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "assistant", "created_at": self.created_at, "name": self.name,
            "description": self.description, "model": self.model, "instructions": self.instructions,
            "tools": self.tools, "tool_resources": self.tool_resources or {}, "metadata": self.metadata,
            "temperature": self.temperature, "top_p": self.top_p, "response_format": self.response_format,
        }  # fmt: skip


@dataclass
class MessageRec:
    id: str
    thread_id: str
    role: str
    content: list[dict[str, Any]]
    created_at: int
    status: str = "completed"
    assistant_id: str | None = None
    run_id: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    incomplete_details: dict[str, str] | None = None
    completed_at: int | None = None
    incomplete_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "thread.message", "created_at": self.created_at, "thread_id": self.thread_id,
            "status": self.status, "incomplete_details": self.incomplete_details, "completed_at": self.completed_at,
            "incomplete_at": self.incomplete_at, "role": self.role, "content": self.content,
            "assistant_id": self.assistant_id, "run_id": self.run_id, "attachments": self.attachments,
            "metadata": self.metadata,
        }  # fmt: skip


@dataclass
class StepRec:
    id: str
    run_id: str
    thread_id: str
    assistant_id: str
    type: str  # message_creation | tool_calls
    step_details: dict[str, Any]
    created_at: int
    status: str = "in_progress"
    completed_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    usage: dict[str, int] | None = None

    def to_dict(self, *, include: frozenset[str] = frozenset()) -> dict[str, Any]:
        details = self.step_details
        if self.type == "tool_calls" and FILE_SEARCH_CONTENT not in include:
            details = without_search_content(details)
        return {
            "id": self.id, "object": "thread.run.step", "created_at": self.created_at,
            "assistant_id": self.assistant_id, "thread_id": self.thread_id, "run_id": self.run_id,
            "type": self.type, "status": self.status, "step_details": details, "last_error": None,
            "expired_at": self.expired_at, "cancelled_at": self.cancelled_at, "failed_at": self.failed_at,
            "completed_at": self.completed_at,
            "metadata": {}, "usage": self.usage,
        }  # fmt: skip


@dataclass
class RunRec:
    id: str
    thread_id: str
    assistant_id: str
    model: str
    instructions: str
    tools: list[dict[str, Any]]
    metadata: dict[str, str]
    response_format: Any
    tool_choice: Any
    parallel_tool_calls: bool
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: dict[str, Any]
    created: float  # clock time
    created_at: int
    expires: float  # clock time
    expires_at: int
    # What the model sees (fixed at creation) and what it does (re-planned after tool outputs).
    prompt: str
    turn: int
    history_chars: int
    json_schema: dict[str, Any] | None
    plan: Plan
    queued_until: float
    due: float
    status: str = "queued"
    cancel_due: float | None = None
    tool_outputs: dict[str, str] = field(default_factory=dict)
    pending_calls: dict[str, str] = field(default_factory=dict)  # tool_call_id -> function name
    started_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    cancelled_at: int | None = None
    last_error: dict[str, str] | None = None
    incomplete_details: dict[str, str] | None = None
    required_action: dict[str, Any] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    steps: list[StepRec] = field(default_factory=list)

    @property
    def usage(self) -> dict[str, int] | None:
        if self.status not in RUN_TERMINAL:
            return None
        return token_usage(self.prompt_tokens, self.completion_tokens)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "thread.run", "created_at": self.created_at, "thread_id": self.thread_id,
            "assistant_id": self.assistant_id, "status": self.status, "required_action": self.required_action,
            "last_error": self.last_error, "expires_at": self.expires_at if self.status in RUN_ACTIVE else None,
            "started_at": self.started_at, "cancelled_at": self.cancelled_at, "failed_at": self.failed_at,
            "completed_at": self.completed_at, "incomplete_details": self.incomplete_details, "model": self.model,
            "instructions": self.instructions, "tools": self.tools, "metadata": self.metadata, "usage": self.usage,
            "temperature": self.temperature, "top_p": self.top_p, "max_prompt_tokens": self.max_prompt_tokens,
            "max_completion_tokens": self.max_completion_tokens, "truncation_strategy": self.truncation_strategy,
            "tool_choice": self.tool_choice, "parallel_tool_calls": self.parallel_tool_calls,
            "response_format": self.response_format,
        }  # fmt: skip


@dataclass
class ThreadRec:
    id: str
    created_at: int
    metadata: dict[str, str] = field(default_factory=dict)
    tool_resources: dict[str, Any] | None = None
    messages: list[MessageRec] = field(default_factory=list)  # oldest first
    runs: list[RunRec] = field(default_factory=list)  # oldest first
    active_run: RunRec | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "thread",
            "created_at": self.created_at,
            "tool_resources": self.tool_resources or {},
            "metadata": self.metadata,
        }


class AssistantsStore:
    """All state, a lock, and the clock-driven run state machine (``clock``: the emulator's one clock)."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.assistants: dict[str, AssistantRec] = {}
        self.threads: dict[str, ThreadRec] = {}
        self.runs: dict[str, RunRec] = {}
        self._messages: dict[str, MessageRec] = {}
        self.knowledge: Knowledge | None = None  # the emulator's files and vector stores (file search)
        default = AssistantRec(
            config.default_assistant_id, clock.stamp(), config.default_model, config.default_instructions,
            name="On-call triage assistant", tools=assistant_tools(), tool_resources=assistant_tool_resources(),
        )  # fmt: skip
        self.assistants[default.id] = default

    # -- threads and messages -----------------------------------------------------------------
    def new_thread(self, *, metadata: dict[str, str], tool_resources: dict[str, Any] | None) -> ThreadRec:
        thread = ThreadRec(new_id("thread"), self.clock.stamp(), metadata, tool_resources)
        self.threads[thread.id] = thread
        return thread

    def add_message(
        self,
        thread: ThreadRec,
        *,
        role: str,
        content: list[dict[str, Any]],
        attachments: list[dict[str, Any]] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> MessageRec:
        at = self.clock.stamp()
        message = MessageRec(
            new_id("msg"),
            thread.id,
            role,
            content,
            at,
            attachments=attachments or [],
            metadata=metadata or {},
            completed_at=at,
        )
        thread.messages.append(message)
        self._messages[message.id] = message
        return message

    def active_run(self, thread: ThreadRec) -> RunRec | None:
        """The thread's run that is still queued/in progress/waiting/cancelling, advanced to now."""
        run = thread.active_run
        if run is not None:
            self.advance(run)
        return thread.active_run

    # -- runs -------------------------------------------------------------------------------
    def start_run(self, thread: ThreadRec, assistant: AssistantRec, params: dict[str, Any]) -> RunRec:
        """Create a queued run; the model sees the thread's latest user message (its prompt)."""
        users = [m for m in thread.messages if m.role == "user"]
        latest = users[-1] if users else None
        prior = thread.messages[: thread.messages.index(latest)] if latest else thread.messages
        prompt = text_of(latest.content) if latest else ""
        history_chars = sum(len(text_of(m.content)) for m in prior)
        response_format = params.get("response_format") or assistant.response_format or "auto"
        json_schema = None
        if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
            json_schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
        elif (
            isinstance(response_format, dict)
            and response_format.get("type") == "json_object"
            and not JSON_TAGS & set(tags(prompt))
        ):
            prompt += " [[json]]"  # JSON mode: the emulated model answers its JSON triage object
        instructions = params.get("instructions")
        if instructions is None:
            instructions = assistant.instructions or ""
        if params.get("additional_instructions"):
            instructions = f"{instructions}\n\n{params['additional_instructions']}".strip()
        now = self.clock.now()
        created_at = self.clock.stamp(now)
        # The run's tools override the assistant's.
        tools = params["tools"] if params.get("tools") is not None else assistant.tools
        plan = plan_answer(
            prompt,
            turn=len(users),
            history_chars=history_chars,
            instructions=instructions,
            json_schema=json_schema,
            functions=function_parameters(tools),
            model_time=self.config.model_time,
            search=self.file_search(tools, thread, assistant),
        )
        truncation = params.get("truncation_strategy") or {"type": "auto", "last_messages": None}
        run = RunRec(
            id=new_id("run"), thread_id=thread.id, assistant_id=assistant.id,
            model=params.get("model") or assistant.model, instructions=instructions, tools=tools,
            metadata=params.get("metadata") or {}, response_format=response_format,
            tool_choice=params.get("tool_choice") or "auto",
            parallel_tool_calls=params.get("parallel_tool_calls", True),
            temperature=params.get("temperature", assistant.temperature), top_p=params.get("top_p", assistant.top_p),
            max_prompt_tokens=params.get("max_prompt_tokens"),
            max_completion_tokens=params.get("max_completion_tokens"),
            truncation_strategy=truncation, created=now, created_at=created_at,
            expires=now + EXPIRY_SECONDS, expires_at=created_at + EXPIRY_SECONDS,
            prompt=prompt, turn=len(users), history_chars=history_chars, json_schema=json_schema, plan=plan,
            queued_until=now + plan.model_time * QUEUED_SHARE, due=now + plan.model_time,
        )  # fmt: skip
        thread.runs.append(run)
        thread.active_run = run
        self.runs[run.id] = run
        return run

    def file_search(
        self, tools: list[dict[str, Any]], thread: ThreadRec | None, assistant: AssistantRec | None
    ) -> Callable[[str], list[Hit] | None] | None:
        """The run's file search: over the thread's and the assistant's vector stores, when in force."""
        tool = next((t for t in tools if isinstance(t, dict) and t.get("type") == "file_search"), None)
        if tool is None or self.knowledge is None:
            return None
        ids = [
            vs
            for owner in (thread, assistant)
            if owner is not None
            for vs in ((owner.tool_resources or {}).get("file_search") or {}).get("vector_store_ids") or []
        ]
        options = tool.get("file_search") or {}
        return self.knowledge.searcher(
            ids,
            max_results=int(options.get("max_num_results") or 20),
            score_threshold=float((options.get("ranking_options") or {}).get("score_threshold") or 0.0),
        )

    def submit_tool_outputs(self, run: RunRec, outputs: dict[str, str]) -> None:
        """Answer the pending calls (by call id): the run works again for the model time."""
        now = self.clock.now()
        for call_id, output in outputs.items():
            self._record_output(run, call_id, output)
        run.required_action = None
        run.status = "in_progress"
        run.plan = plan_answer(
            run.prompt,
            turn=run.turn,
            history_chars=run.history_chars,
            instructions=run.instructions,
            json_schema=run.json_schema,
            functions=function_parameters(run.tools),
            tool_outputs=dict(run.tool_outputs),
            model_time=self.config.model_time,
            search=self.file_search(run.tools, self.threads.get(run.thread_id), self.assistants.get(run.assistant_id)),
        )
        run.due = now + run.plan.model_time
        for step in run.steps:
            if step.type == "tool_calls" and step.status == "in_progress":
                step.status, step.completed_at = "completed", self.clock.stamp(now)

    def _record_output(self, run: RunRec, call_id: str, output: str) -> None:
        """The output goes to the model (by function name) and into the tool_calls step."""
        name = run.pending_calls.pop(call_id)
        run.tool_outputs[name] = output
        for step in run.steps:
            for call in step.step_details.get("tool_calls", []):
                if call["id"] == call_id:
                    call["function"]["output"] = output

    def cancel(self, run: RunRec) -> None:
        now = self.clock.now()
        run.status = "cancelling"
        run.required_action = None
        run.cancel_due = now + self.config.model_time * QUEUED_SHARE

    def next_event_at(self, run: RunRec) -> float | None:
        """Clock time of the run's next state change (None when it waits or has ended)."""
        found = self._next(run)
        return found[0] if found else None

    def advance(self, run: RunRec, now: float | None = None) -> None:
        """Apply every state change due by ``now``, each at its own time (so timestamps are exact)."""
        now = self.clock.now() if now is None else now
        while run.status in RUN_ACTIVE:
            found = self._next(run)
            if found is None or found[0] > now:
                return
            at, change = found
            if change == "start":
                run.status, run.started_at = "in_progress", self.clock.stamp(at)
            elif change == "finish":
                self._finish(run, at)
            elif change == "cancelled":
                self._end(run, "cancelled", at)
            else:
                self._end(run, "expired", at)

    def _next(self, run: RunRec) -> tuple[float, str] | None:
        if run.status not in RUN_ACTIVE:
            return None
        expiry = (run.expires, "expire")
        if run.status == "queued":
            return min((run.queued_until, "start"), expiry)
        if run.status == "in_progress":
            return min((run.due, "finish"), expiry)
        if run.status == "cancelling" and run.cancel_due is not None:
            return min((run.cancel_due, "cancelled"), expiry)
        return expiry  # requires_action: waits for tool outputs until it expires

    def _finish(self, run: RunRec, at: float) -> None:
        plan = run.plan
        run.prompt_tokens += plan.prompt_tokens
        run.completion_tokens += plan.completion_tokens
        if plan.tool_calls:
            calls: list[dict[str, Any]] = []
            step_calls: list[dict[str, Any]] = []  # the step's copy also carries the output, once submitted
            for name, arguments in plan.tool_calls:
                call_id = new_id("call")
                run.pending_calls[call_id] = name
                text = arguments if isinstance(arguments, str) else json.dumps(arguments)  # raw text: a faulty model
                function = {"name": name, "arguments": text}
                calls.append({"id": call_id, "type": "function", "function": function})
                step_calls.append({"id": call_id, "type": "function", "function": {**function, "output": None}})
            details = {"type": "tool_calls", "tool_calls": step_calls}
            stamp = self.clock.stamp(at)
            run.steps.append(
                StepRec(new_id("step"), run.id, run.thread_id, run.assistant_id, "tool_calls", details, stamp)
            )
            run.status = "requires_action"
            run.required_action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}
            return
        if plan.searches and plan.outcome in WITH_OUTPUT:
            run.steps.append(self._file_search_step(run, plan, at))
        if plan.outcome in WITH_OUTPUT:
            thread = self.threads.get(run.thread_id)
            for i, parts in enumerate(plan.messages):
                # The prompt is read once: its tokens count on the first output step only.
                self._append_output(run, thread, parts, at, prompt_tokens=plan.prompt_tokens if i == 0 else 0)
            if plan.outcome == "incomplete":
                run.incomplete_details = {"reason": plan.incomplete_reason}
            self._end(run, plan.outcome, at)
            return
        if plan.outcome == "failed":
            run.last_error = {"code": plan.error_code, "message": plan.error_message}
        self._end(run, plan.outcome, at)

    def _file_search_step(self, run: RunRec, plan: Plan, at: float) -> StepRec:
        """The completed tool_calls step of the model's file search (results' content: see include)."""
        calls = [
            {
                "id": new_id("call"),
                "type": "file_search",
                "file_search": {
                    "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
                    "results": [
                        {
                            "file_id": h.file_id,
                            "file_name": h.filename,
                            "score": h.score,
                            "content": [{"type": "text", "text": h.text}],
                        }
                        for h in hits
                    ],
                },
            }
            for _, hits in plan.searches
        ]
        stamp = self.clock.stamp(at)
        details = {"type": "tool_calls", "tool_calls": calls}
        step = StepRec(
            new_id("step"),
            run.id,
            run.thread_id,
            run.assistant_id,
            "tool_calls",
            details,
            stamp,
            status="completed",
            completed_at=stamp,
        )
        step.usage = token_usage(0, 0)
        return step

    def _append_output(
        self, run: RunRec, thread: ThreadRec | None, parts: list[Part], at: float, *, prompt_tokens: int
    ) -> None:
        """One answer message, appended to the thread, and the message_creation step naming it."""
        stamp = self.clock.stamp(at)
        message = MessageRec(
            new_id("msg"),
            run.thread_id,
            "assistant",
            content_from_parts(parts),
            stamp,
            assistant_id=run.assistant_id,
            run_id=run.id,
            completed_at=stamp,
        )
        if run.plan.outcome == "incomplete":
            reason = _MESSAGE_INCOMPLETE_REASON.get(run.plan.incomplete_reason, "max_tokens")
            message.status, message.completed_at, message.incomplete_at = "incomplete", None, stamp
            message.incomplete_details = {"reason": reason}
        if thread is not None:
            thread.messages.append(message)
            self._messages[message.id] = message
        details = {"type": "message_creation", "message_creation": {"message_id": message.id}}
        step = StepRec(
            new_id("step"),
            run.id,
            run.thread_id,
            run.assistant_id,
            "message_creation",
            details,
            stamp,
            status="completed",
            completed_at=stamp,
        )
        step.usage = token_usage(prompt_tokens, count_tokens(text_of(message.content)))
        run.steps.append(step)

    def _end(self, run: RunRec, status: str, at: float) -> None:
        stamp = self.clock.stamp(at)
        run.status = status
        run.required_action = None
        if status == "completed":
            run.completed_at = stamp
        elif status == "failed":
            run.failed_at = stamp
        elif status == "cancelled":
            run.cancelled_at = stamp
        for step in run.steps:
            if step.status == "in_progress":
                step.status = status if status in _STEP_ENDINGS else "completed"
                setattr(step, _STEP_ENDINGS.get(step.status, "completed_at"), stamp)
        thread = self.threads.get(run.thread_id)
        if thread is not None and thread.active_run is run:
            thread.active_run = None

    def message(self, message_id: str) -> MessageRec | None:
        return self._messages.get(message_id)

    def delete_message(self, thread: ThreadRec, message: MessageRec) -> None:
        thread.messages.remove(message)
        del self._messages[message.id]

    def delete_thread(self, thread: ThreadRec) -> None:
        del self.threads[thread.id]
        for message in thread.messages:
            self._messages.pop(message.id, None)
        for run in thread.runs:
            self.runs.pop(run.id, None)
