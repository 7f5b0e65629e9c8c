"""The emulator's Assistants API v2: assistants, threads, messages, runs (polled or streamed), steps.

Speaks the wire format of OpenAI's spec (``openapi.yaml``: AssistantObject, ThreadObject,
MessageObject, RunObject, RunStepObject, the list envelopes) and its errors, including the ones
integrations trip over: a missing ``OpenAI-Beta: assistants=v2`` header (400 ``invalid_beta``),
a thread that already has an active run, messages added while a run is active, content over
256,000 characters, cancelling a finished run, unknown ids (404).

State lives in :class:`.assistants_store.AssistantsStore` (runs advance lazily by the clock);
streamed runs are described by :class:`.assistants_stream.RunStream`. Every run reply carries
``openai-poll-after-ms`` when the emulator is configured with one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

from . import assistants_params as p
from .assistants_store import FILE_SEARCH_CONTENT, AssistantRec, AssistantsStore, MessageRec, RunRec, ThreadRec
from .assistants_stream import Event, RunStream, run_snapshot
from .common import (
    RUN_ACTIVE,
    Clock,
    EmulatorConfig,
    EmulatorError,
    bad_request,
    check_metadata,
    deleted,
    invalid_type,
    invalid_value,
    missing,
    new_id,
    page,
    poll_headers,
)
from .http import JsonReply, Request, Router, SseReply

log = logging.getLogger("keep_openaiassistant")

RUN_PARAMS = (
    "model",
    "instructions",
    "additional_instructions",
    "tools",
    "metadata",
    "response_format",
    "tool_choice",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "max_prompt_tokens",
    "max_completion_tokens",
    "truncation_strategy",
)


class AssistantsApi:
    """Registers the ``/v1/assistants`` and ``/v1/threads`` routes on a :class:`Router`."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.store = AssistantsStore(config, clock)

    def register(self, router: Router) -> None:
        routes: list[tuple[str, str, Callable[[Request], JsonReply | SseReply]]] = [
            ("POST", "/v1/assistants", self.create_assistant),
            ("GET", "/v1/assistants", self.list_assistants),
            ("GET", "/v1/assistants/{assistant_id}", self.get_assistant),
            ("POST", "/v1/assistants/{assistant_id}", self.modify_assistant),
            ("DELETE", "/v1/assistants/{assistant_id}", self.delete_assistant),
            # Before /v1/threads/{thread_id}: "runs" is not a thread id.
            ("POST", "/v1/threads/runs", self.create_thread_and_run),
            ("POST", "/v1/threads", self.create_thread),
            ("GET", "/v1/threads/{thread_id}", self.get_thread),
            ("POST", "/v1/threads/{thread_id}", self.modify_thread),
            ("DELETE", "/v1/threads/{thread_id}", self.delete_thread),
            ("POST", "/v1/threads/{thread_id}/messages", self.create_message),
            ("GET", "/v1/threads/{thread_id}/messages", self.list_messages),
            ("GET", "/v1/threads/{thread_id}/messages/{message_id}", self.get_message),
            ("POST", "/v1/threads/{thread_id}/messages/{message_id}", self.modify_message),
            ("DELETE", "/v1/threads/{thread_id}/messages/{message_id}", self.delete_message),
            ("POST", "/v1/threads/{thread_id}/runs", self.create_run),
            ("GET", "/v1/threads/{thread_id}/runs", self.list_runs),
            ("GET", "/v1/threads/{thread_id}/runs/{run_id}", self.get_run),
            ("POST", "/v1/threads/{thread_id}/runs/{run_id}", self.modify_run),
            ("POST", "/v1/threads/{thread_id}/runs/{run_id}/cancel", self.cancel_run),
            ("POST", "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", self.submit_tool_outputs),
            ("GET", "/v1/threads/{thread_id}/runs/{run_id}/steps", self.list_steps),
            ("GET", "/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}", self.get_step),
        ]
        for method, template, handler in routes:
            router.add(method, template, _with_beta(handler))

    # -- lookups (lock held) ------------------------------------------------------------------
    def _assistant(self, assistant_id: str) -> AssistantRec:
        found = self.store.assistants.get(assistant_id)
        if found is None:
            raise EmulatorError(404, f"No assistant found with id '{assistant_id}'.")
        return found

    def _thread(self, thread_id: str) -> ThreadRec:
        found = self.store.threads.get(thread_id)
        if found is None:
            raise EmulatorError(404, f"No thread found with id '{thread_id}'.")
        return found

    def _run(self, request: Request) -> RunRec:
        thread = self._thread(request.params["thread_id"])
        run = self.store.runs.get(request.params["run_id"])
        if run is None or run.thread_id != thread.id:
            raise EmulatorError(404, f"No run found with id '{request.params['run_id']}'.")
        self.store.advance(run)
        return run

    def _run_reply(self, run: RunRec) -> JsonReply:
        return JsonReply(run.to_dict(), headers=poll_headers(self.config))

    # -- assistants -------------------------------------------------------------------------
    def create_assistant(self, request: Request) -> JsonReply:
        body = p.known_fields(request.json(), "assistant")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise missing("model")
        assistant = AssistantRec(
            new_id("asst"), self.store.clock.stamp(), model, p.optional_str(body, "instructions"),
            name=p.optional_str(body, "name", limit=256), description=p.optional_str(body, "description", limit=512),
            tools=p.tools(body, limit=128) or [], tool_resources=body.get("tool_resources"),
            metadata=check_metadata(body.get("metadata")), temperature=body.get("temperature", 1.0),
            top_p=body.get("top_p", 1.0), response_format=body.get("response_format") or "auto",
        )  # fmt: skip
        with self.store.lock:
            self.store.assistants[assistant.id] = assistant
        return JsonReply(assistant.to_dict())

    def list_assistants(self, request: Request) -> JsonReply:
        with self.store.lock:
            return JsonReply(p.records_page(list(self.store.assistants.values()), request))

    def get_assistant(self, request: Request) -> JsonReply:
        with self.store.lock:
            return JsonReply(self._assistant(request.params["assistant_id"]).to_dict())

    def modify_assistant(self, request: Request) -> JsonReply:
        body = p.known_fields(request.json(), "assistant")
        with self.store.lock:
            assistant = self._assistant(request.params["assistant_id"])
            for name, limit in (
                ("model", 256),
                ("name", 256),
                ("description", 512),
                ("instructions", p.MAX_CONTENT_CHARS),
            ):
                if name in body:
                    setattr(assistant, name, p.optional_str(body, name, limit=limit))
            if "tools" in body:
                assistant.tools = p.tools(body, limit=128) or []
            if "metadata" in body:
                assistant.metadata = check_metadata(body.get("metadata"))
            for name in ("tool_resources", "temperature", "top_p", "response_format"):
                if name in body:
                    setattr(assistant, name, body[name])
            return JsonReply(assistant.to_dict())

    def delete_assistant(self, request: Request) -> JsonReply:
        with self.store.lock:
            assistant = self._assistant(request.params["assistant_id"])
            if assistant.id == self.config.default_assistant_id:
                # Tests, demos and the CLI rely on it: it "always exists".
                raise bad_request(
                    f"The emulator's default assistant '{assistant.id}' cannot be deleted.", "assistant_id"
                )
            del self.store.assistants[assistant.id]
        return JsonReply(deleted(assistant.id, "assistant"))

    # -- threads ----------------------------------------------------------------------------
    def create_thread(self, request: Request) -> JsonReply:
        body = p.known_fields(request.json(), "thread")
        messages = p.new_messages(body.get("messages"), "messages")
        meta = check_metadata(body.get("metadata"))
        with self.store.lock:
            thread = self.store.new_thread(metadata=meta, tool_resources=body.get("tool_resources"))
            for message in messages:
                self.store.add_message(thread, **message)
            return JsonReply(thread.to_dict())

    def get_thread(self, request: Request) -> JsonReply:
        with self.store.lock:
            return JsonReply(self._thread(request.params["thread_id"]).to_dict())

    def modify_thread(self, request: Request) -> JsonReply:
        body = p.known_fields(request.json(), "modify_thread")
        with self.store.lock:
            thread = self._thread(request.params["thread_id"])
            if "metadata" in body:
                thread.metadata = check_metadata(body.get("metadata"))
            if "tool_resources" in body:
                thread.tool_resources = body["tool_resources"]
            return JsonReply(thread.to_dict())

    def delete_thread(self, request: Request) -> JsonReply:
        with self.store.lock:
            thread = self._thread(request.params["thread_id"])
            self.store.delete_thread(thread)
        return JsonReply(deleted(thread.id, "thread"))

    # -- messages ---------------------------------------------------------------------------
    def create_message(self, request: Request) -> JsonReply:
        message = p.new_message(request.json(), "body")
        with self.store.lock:
            thread = self._thread(request.params["thread_id"])
            self._refuse_if_busy(thread, adding_messages=True)
            return JsonReply(self.store.add_message(thread, **message).to_dict())

    def list_messages(self, request: Request) -> JsonReply:
        with self.store.lock:
            thread = self._thread(request.params["thread_id"])
            self.store.active_run(thread)  # a run that just finished has appended its answer
            messages: list[MessageRec] = thread.messages
            run_id = request.query.get("run_id")
            if run_id:
                messages = [m for m in messages if m.run_id == run_id]
            return JsonReply(p.records_page(messages, request))

    def _message(self, request: Request) -> tuple[ThreadRec, MessageRec]:
        thread = self._thread(request.params["thread_id"])
        self.store.active_run(thread)
        message = self.store.message(request.params["message_id"])
        if message is None or message.thread_id != thread.id:
            raise EmulatorError(404, f"No message found with id '{request.params['message_id']}'.")
        return thread, message

    def get_message(self, request: Request) -> JsonReply:
        with self.store.lock:
            return JsonReply(self._message(request)[1].to_dict())

    def modify_message(self, request: Request) -> JsonReply:
        body = p.known_fields(request.json(), "metadata_only")
        with self.store.lock:
            _, message = self._message(request)
            if "metadata" in body:
                message.metadata = check_metadata(body.get("metadata"))
            return JsonReply(message.to_dict())

    def delete_message(self, request: Request) -> JsonReply:
        with self.store.lock:
            thread, message = self._message(request)
            self.store.delete_message(thread, message)
        return JsonReply(deleted(message.id, "thread.message"))

    def _refuse_if_busy(self, thread: ThreadRec, *, adding_messages: bool = False) -> None:
        run = self.store.active_run(thread)
        if run is None:
            return
        if adding_messages:
            raise bad_request(f"Can't add messages to {thread.id} while a run {run.id} is active.")
        raise bad_request(f"Thread {thread.id} already has an active run {run.id}.")

    # -- runs -------------------------------------------------------------------------------
    def _run_params(self, body: dict[str, Any]) -> dict[str, Any]:
        params = {name: body[name] for name in RUN_PARAMS if body.get(name) is not None}
        p.optional_str(body, "instructions")
        p.optional_str(body, "additional_instructions")
        params["tools"] = p.tools(body, limit=20)
        params["metadata"] = check_metadata(body.get("metadata"))
        return params

    def create_run(self, request: Request) -> JsonReply | SseReply:
        body = p.known_fields(request.json(), "run")
        assistant_id = body.get("assistant_id")
        if not isinstance(assistant_id, str):
            raise missing("assistant_id")
        params = self._run_params(body)
        additional = p.new_messages(body.get("additional_messages"), "additional_messages")
        with self.store.lock:
            thread = self._thread(request.params["thread_id"])
            assistant = self._assistant(assistant_id)
            self._refuse_if_busy(thread)
            for message in additional:
                self.store.add_message(thread, **message)
            run = self.store.start_run(thread, assistant, params)
            head = self._head_events(run)
        log.debug(
            "emulator run created", extra={"run_id": run.id, "thread_id": thread.id, "stream": bool(body.get("stream"))}
        )
        return self._stream(run, head) if body.get("stream") else self._run_reply(run)

    def create_thread_and_run(self, request: Request) -> JsonReply | SseReply:
        body = p.known_fields(request.json(), "thread_and_run")
        assistant_id = body.get("assistant_id")
        if not isinstance(assistant_id, str):
            raise missing("assistant_id")
        spec = p.known_fields(body.get("thread") or {}, "thread", prefix="thread.")
        messages = p.new_messages(spec.get("messages"), "thread.messages")
        meta = check_metadata(spec.get("metadata"), "thread.metadata")
        params = self._run_params(body)
        with self.store.lock:
            assistant = self._assistant(assistant_id)
            thread = self.store.new_thread(metadata=meta, tool_resources=spec.get("tool_resources"))
            for message in messages:
                self.store.add_message(thread, **message)
            run = self.store.start_run(thread, assistant, params)
            head = [("thread.created", thread.to_dict()), *self._head_events(run)]
        log.debug(
            "emulator thread and run created",
            extra={"run_id": run.id, "thread_id": thread.id, "stream": bool(body.get("stream"))},
        )
        return self._stream(run, head) if body.get("stream") else self._run_reply(run)

    def _head_events(self, run: RunRec) -> list[Event]:
        return [("thread.run.created", run_snapshot(run, "queued")), ("thread.run.queued", run_snapshot(run, "queued"))]

    def _stream(
        self, run: RunRec, head: list[Event], *, announced: str = "queued", seen_steps: dict[str, str] | None = None
    ) -> SseReply:
        follow = RunStream(self.store, run, announced=announced, seen_steps=seen_steps)
        events: Iterator[Event] = chain(head, follow.events())
        return SseReply(events, cut_after=run.plan.stream_cut_after)

    def list_runs(self, request: Request) -> JsonReply:
        with self.store.lock:
            thread = self._thread(request.params["thread_id"])
            for run in thread.runs:
                self.store.advance(run)
            return JsonReply(p.records_page(thread.runs, request))

    def get_run(self, request: Request) -> JsonReply:
        with self.store.lock:
            return self._run_reply(self._run(request))

    def modify_run(self, request: Request) -> JsonReply:
        body = p.known_fields(request.json(), "metadata_only")
        with self.store.lock:
            run = self._run(request)
            if "metadata" in body:
                run.metadata = check_metadata(body.get("metadata"))
            return self._run_reply(run)

    def cancel_run(self, request: Request) -> JsonReply:
        with self.store.lock:
            run = self._run(request)
            if run.status not in RUN_ACTIVE or run.status == "cancelling":
                raise bad_request(f"Cannot cancel run with status '{run.status}'.")
            self.store.cancel(run)
            log.debug("emulator run cancelling", extra={"run_id": run.id, "thread_id": run.thread_id})
            return self._run_reply(run)

    def submit_tool_outputs(self, request: Request) -> JsonReply | SseReply:
        body = p.known_fields(request.json(), "tool_outputs")
        outputs = body.get("tool_outputs")
        if not isinstance(outputs, list):
            raise missing("tool_outputs") if outputs is None else invalid_type("tool_outputs", "an array", outputs)
        with self.store.lock:
            run = self._run(request)
            if run.status != "requires_action":
                raise bad_request(f'Runs in status "{run.status}" do not accept tool outputs.')
            answers = _tool_answers(outputs, run)
            seen_steps = {step.id: step.status for step in run.steps}
            self.store.submit_tool_outputs(run, answers)
            head: list[Event] = [
                (f"thread.run.step.{s.status}", s.to_dict()) for s in run.steps if seen_steps.get(s.id) != s.status
            ]
            head.append(("thread.run.in_progress", run_snapshot(run, "in_progress")))
            seen_steps = {step.id: step.status for step in run.steps}
        if body.get("stream"):
            return self._stream(run, head, announced="in_progress", seen_steps=seen_steps)
        return self._run_reply(run)

    # -- steps ------------------------------------------------------------------------------
    def list_steps(self, request: Request) -> JsonReply:
        include = _step_include(request)
        with self.store.lock:
            steps = self._run(request).steps
            rendered = page(
                steps,
                request.query,
                id_of=lambda s: s.id,
                render=lambda chosen: [s.to_dict(include=include) for s in chosen],
            )
            return JsonReply(rendered)

    def get_step(self, request: Request) -> JsonReply:
        with self.store.lock:
            run = self._run(request)
            for step in run.steps:
                if step.id == request.params["step_id"]:
                    return JsonReply(step.to_dict(include=_step_include(request)))
        raise EmulatorError(404, f"No run step found with id '{request.params['step_id']}'.")


def _step_include(request: Request) -> frozenset[str]:
    """``include[]`` of a steps request: only the file search results' content is known."""
    values = [request.query[k] for k in ("include[]", "include") if k in request.query]
    for value in values:
        if value != FILE_SEARCH_CONTENT:
            raise invalid_value("include[]", value, (FILE_SEARCH_CONTENT,))
    return frozenset(values)


def _tool_answers(outputs: list[Any], run: RunRec) -> dict[str, str]:
    """``tool_outputs`` checked against the run's pending calls: every call answered, once, as text."""
    answers: dict[str, str] = {}
    for i, item in enumerate(outputs):
        if not isinstance(item, dict) or not isinstance(item.get("tool_call_id"), str):
            raise missing(f"tool_outputs[{i}].tool_call_id")
        call_id, output = item["tool_call_id"], item.get("output", "")
        if not isinstance(output, str):
            raise invalid_type(f"tool_outputs[{i}].output", "a string", output)
        if call_id not in run.pending_calls:
            raise bad_request(
                f"Invalid tool_call_id: {call_id}. No tool call with this ID is awaiting an output.",
                f"tool_outputs[{i}].tool_call_id",
                "invalid_value",
            )
        answers[call_id] = output
    expected = sorted(run.pending_calls)
    if sorted(answers) != expected:
        raise bad_request(f"Expected tool outputs for call_ids {expected}, got {sorted(answers)}", "tool_outputs")
    return answers


def _with_beta(handler: Callable[[Request], JsonReply | SseReply]) -> Callable[[Request], JsonReply | SseReply]:
    def checked(request: Request) -> JsonReply | SseReply:
        p.require_beta(request)
        return handler(request)

    checked.__name__ = getattr(handler, "__name__", "handler")
    return checked
