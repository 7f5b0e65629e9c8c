"""The emulated Responses API (``/v1/responses``), with the Conversations API it builds on.

``POST /v1/responses`` plans the whole answer at once with the deterministic model
(:func:`.model.plan_answer`), then answers in one of three ways:

- plain: waits the model time and returns the finished Response;
- ``stream``: server-sent events in real time (:mod:`.responses_stream`), cut short when the
  prompt says ``[[stream_cut:N]]`` — the response still finishes server-side;
- ``background``: returns at once with status ``queued``; the status then follows the clock
  (:mod:`.responses_state`), ``GET /v1/responses/{id}`` polls it, ``?stream=true&starting_after=N``
  resumes its event stream and ``POST /v1/responses/{id}/cancel`` cancels it.

History comes from ``conversation`` (its items) or ``previous_response_id`` (the chain of
responses), never both. The turn the model sees is the number of user messages so far; function
call outputs after the last user message answer the model's ``[[tool:NAME]]`` calls.

The model's scenario tags (:mod:`.model`) as the Responses API shows them:

| tag                         | Response                                                          |
|-----------------------------|-------------------------------------------------------------------|
| ``[[citations]]``           | ``file_search_call`` item, then ``output_text`` whose markers are |
|                             | gone and whose ``file_citation`` annotations carry their ``index``|
| ``[[file]]``                | ``code_interpreter_call`` item, then ``container_file_citation``  |
|                             | over the sandbox link                                             |
| ``[[tool:NAME]]``           | NAME declared in ``tools``: completed, output = ``function_call`` |
|                             | items; answer with ``function_call_output``                       |
| ``[[failed:CODE]]``         | ``failed``, ``error: {code, message}``                            |
| ``[[incomplete:REASON]]``   | ``incomplete``; ``content_filter`` kept, Assistants' token        |
|                             | reasons become ``max_output_tokens``                              |
| ``[[expired]]``             | ``failed`` with code ``server_error`` (Responses has no expiry;   |
|                             | the message says it ran out of time)                              |
| ``[[cancelled]]``           | ``cancelled``, no output; a stream of it ends without a terminal  |
|                             | event                                                             |
| ``[[stream_cut:N]]``        | the first stream drops after N events; the response still         |
|                             | finishes                                                          |

Request options (:mod:`.responses_options`): ``reasoning.effort``, ``service_tier``,
``truncation``, ``context_management``, ``safety_identifier``, ``prompt_cache_key``,
``max_tool_calls`` are checked like OpenAI checks them and echoed; reasoning, the prompt cache,
the context window (``EmulatorConfig.context_window``: 400 ``context_length_exceeded``, or the
oldest items dropped with ``truncation: auto``) and compaction (a ``compaction`` output item
once the context passes ``compact_threshold``) change the answer and its ``usage``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .common import (
    RESPONSE_TERMINAL,
    Clock,
    EmulatorConfig,
    EmulatorError,
    bad_request,
    below_minimum,
    check_metadata,
    deleted,
    invalid_type,
    invalid_value,
    long_id,
    missing,
    not_an_integer,
    poll_headers,
)
from .conversations_api import ConversationsApi, items_page
from .http import JsonReply, Request, Router, SseReply
from .knowledge import Hit, Knowledge
from .mcp_model import mcp_turn
from .model import Plan, count_tokens, plan_answer
from .oncall_tools import function_parameters
from .responses_items import (
    history_chars,
    item_text,
    normalize_input,
    output_items,
    parse_include,
    query_include,
    truncate_output,
    usage,
)
from .responses_options import Fitted, RequestOptions, fit_context, parse_options
from .responses_state import Conversation, ResponseRecord, ResponsesState
from .responses_stream import stream_events

# The Assistants-era reasons the model knows, as the Responses API names them.
_INCOMPLETE_REASONS = {"content_filter": "content_filter"}
_EXPIRED_MESSAGE = "The response did not finish in the time the server allows and was stopped. Retry the request."


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_type(name, "a boolean", value)
    return value


def _query_flag(query: dict[str, str], name: str) -> bool:
    return query.get(name, "").lower() in ("true", "1")


def _tools(raw: Any) -> list[dict[str, Any]]:
    """Tools as the Response echoes them; function tools are flat (``{type, name, parameters}``)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_type("tools", "an array", raw)
    tools = []
    for i, tool in enumerate(raw):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind == "function":
            if not tool.get("name"):
                raise missing(f"tools[{i}].name")
            tools.append({"type": "function", "description": None, "parameters": None, "strict": True, **tool})
        elif kind == "file_search":
            if not isinstance(tool.get("vector_store_ids"), list):
                raise missing(f"tools[{i}].vector_store_ids")
            tools.append(dict(tool))
        elif kind == "code_interpreter":
            if "container" not in tool:
                raise missing(f"tools[{i}].container")
            tools.append(dict(tool))
        elif kind == "mcp":  # a hosted MCP server: the emulator is its client (mcp_model.py)
            for name in ("server_label", "server_url"):
                if not isinstance(tool.get(name), str) or not tool[name]:
                    raise missing(f"tools[{i}].{name}")
            tools.append({"allowed_tools": None, "headers": None, "require_approval": "always", **tool})
        else:
            raise invalid_value(f"tools[{i}].type", kind, ("function", "file_search", "code_interpreter", "mcp"))
    return tools


def _text_format(raw: Any) -> dict[str, Any]:
    fmt = (raw or {}).get("format") if isinstance(raw, dict) else None
    fmt = fmt or {"type": "text"}
    kind = fmt.get("type")
    if kind == "json_schema":
        for field in ("name", "schema"):
            if not fmt.get(field):
                raise missing(f"text.format.{field}")
    elif kind not in ("text", "json_object"):
        raise invalid_value("text.format.type", kind, ("text", "json_schema", "json_object"))
    return {"format": fmt, "verbosity": (raw or {}).get("verbosity") or "medium"}


def _echo(
    body: dict[str, Any], *, model: str, store: bool, max_tokens: int | None, options: RequestOptions
) -> dict[str, Any]:
    """The request fields a Response object repeats, with OpenAI's defaults filled in."""
    return {
        **options.echo(),
        "instructions": body.get("instructions"),
        "max_output_tokens": max_tokens,
        "max_tool_calls": body.get("max_tool_calls"),
        "metadata": check_metadata(body.get("metadata")),
        "model": model,
        "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        "previous_response_id": body.get("previous_response_id"),
        "store": store,
        "temperature": body.get("temperature", 1.0),
        "text": _text_format(body.get("text")),
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": _tools(body.get("tools")),
        "top_logprobs": 0,
        "top_p": body.get("top_p", 1.0),
    }


class ResponsesApi:
    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.state = ResponsesState(config, clock)
        self.conversations = ConversationsApi(self.state)
        self.knowledge: Knowledge | None = None  # the emulator's vector stores (the file_search tool)

    def _file_search(self, tools: list[dict[str, Any]]) -> Callable[[str], list[Hit] | None] | None:
        """The request's ``file_search`` tool over its ``vector_store_ids``, when there is one."""
        tool = next((t for t in tools if t.get("type") == "file_search"), None)
        if tool is None or self.knowledge is None:
            return None
        return self.knowledge.searcher(
            [str(v) for v in tool.get("vector_store_ids") or []],
            max_results=int(tool.get("max_num_results") or 10),
            score_threshold=float((tool.get("ranking_options") or {}).get("score_threshold") or 0.0),
        )

    def register(self, router: Router) -> None:
        router.add("POST", "/v1/responses", self.create)
        router.add("GET", "/v1/responses/{response_id}", self.retrieve)
        router.add("DELETE", "/v1/responses/{response_id}", self.delete)
        router.add("POST", "/v1/responses/{response_id}/cancel", self.cancel)
        router.add("GET", "/v1/responses/{response_id}/input_items", self.input_items)
        self.conversations.register(router)

    # -- replies ----------------------------------------------------------------------------

    def _json(self, rec: ResponseRecord, include: frozenset[str] = frozenset()) -> JsonReply:
        return JsonReply(self.state.snapshot(rec, include=include), headers=poll_headers(self.config))

    # -- POST /v1/responses --------------------------------------------------------------------

    def create(self, req: Request) -> JsonReply | SseReply:
        body = req.json()
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise missing("model")
        stream, background, store = (
            _flag(body, "stream", False),
            _flag(body, "background", False),
            _flag(body, "store", True),
        )
        if background and not store:
            raise bad_request("Background mode requires store=true.", "background", "invalid_value")
        if body.get("conversation") is not None and body.get("previous_response_id") is not None:
            raise bad_request(
                "Mutually exclusive parameters: Ensure you are only providing one of: "
                "'previous_response_id' or 'conversation'.",
                "previous_response_id",
                "mutually_exclusive_parameters",
            )
        max_tokens = body.get("max_output_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)):
            raise invalid_type("max_output_tokens", "an integer", max_tokens)
        if max_tokens is not None and max_tokens < 16:
            raise below_minimum("max_output_tokens", max_tokens, 16)
        if body.get("conversation") is not None and not self.config.conversations:
            raise bad_request("Unknown parameter: 'conversation'.", "conversation", "unknown_parameter")
        options = parse_options(body)
        echo = _echo(body, model=model, store=store, max_tokens=max_tokens, options=options)
        input_items = normalize_input(body.get("input"))
        include = parse_include(body.get("include"))
        with self.state.lock:
            conv, history = self._history(body)
            fitted = fit_context(
                history, input_items, echo["instructions"] or "", options, window=self.config.context_window
            )
            rec = self._plan(echo, input_items, fitted.history, conv, background=background, store=store)
            self._apply_options(rec, fitted, options)
            rec.history = history  # the chain's input items list all of it
            rec.include = include
            self.state.responses[rec.id] = rec
            if conv is not None:
                conv.active_response = rec.id
        if stream:
            return SseReply(
                stream_events(self.state, rec), cut_after=rec.stream_cut_after, headers=poll_headers(self.config)
            )
        if not background:
            self.state.wait_until_done(rec)
        return self._json(rec)

    def _history(self, body: dict[str, Any]) -> tuple[Conversation | None, list[dict[str, Any]]]:
        """The items the model reads before this input: the conversation's, or the response chain's."""
        ref = body.get("conversation")
        if ref is not None:
            conv_id = ref.get("id") if isinstance(ref, dict) else ref
            if not isinstance(conv_id, str):
                raise invalid_type("conversation", "a string or an object with 'id'", ref)
            conv = self.state.conversation(conv_id, param="conversation")
            self.state.ensure_unlocked(conv)
            return conv, list(conv.items)
        previous = body.get("previous_response_id")
        if previous is None:
            return None, []
        try:
            prev = self.state.response(previous)
        except EmulatorError:
            raise EmulatorError(
                404, f"Previous response with id '{previous}' not found.", param="previous_response_id"
            ) from None
        if prev.status not in RESPONSE_TERMINAL:
            raise bad_request(
                f"Previous response with id '{previous}' is still in progress. Wait for it to finish, then retry.",
                "previous_response_id",
            )
        return None, prev.history + prev.input_items + prev.output

    def _apply_options(self, rec: ResponseRecord, fitted: Fitted, options: RequestOptions) -> None:
        """What the options do to a planned response: compaction, reasoning and cache tokens."""
        if fitted.compaction is not None:
            rec.final_output = [fitted.compaction, *rec.final_output]
        if rec.usage is None:
            return
        reasoning = options.reasoning_tokens() if rec.final_status in ("completed", "incomplete") else 0
        details = rec.usage["input_tokens_details"]
        if options.prompt_cache_key is not None:
            details["cache_write_tokens"] = rec.usage["input_tokens"] - details["cached_tokens"]
        if not reasoning:
            return
        limit = rec.echo["max_output_tokens"]
        visible = rec.usage["output_tokens"]
        if limit is not None and reasoning + visible > limit:
            # max_output_tokens bounds reasoning and answer together: the answer gets what is left
            visible = max(0, limit - reasoning)
            reasoning = min(reasoning, limit)
            if rec.final_status == "completed":
                rec.final_status, rec.incomplete_details = "incomplete", {"reason": "max_output_tokens"}
            rec.final_output = truncate_output(rec.final_output, visible * 4)
        rec.usage["output_tokens_details"]["reasoning_tokens"] = reasoning
        rec.usage["output_tokens"] = visible + reasoning
        rec.usage["total_tokens"] = rec.usage["input_tokens"] + visible + reasoning

    def _plan(
        self,
        echo: dict[str, Any],
        input_items: list[dict[str, Any]],
        history: list[dict[str, Any]],
        conv: Conversation | None,
        *,
        background: bool,
        store: bool,
    ) -> ResponseRecord:
        items = history + input_items
        calls = {i["call_id"]: i["name"] for i in items if i.get("type") == "function_call"}
        answered = {i["call_id"] for i in items if i.get("type") == "function_call_output"}
        for item in input_items:
            if item["type"] == "function_call_output" and item["call_id"] not in calls:
                raise bad_request(
                    f"No tool call found for function call output with call_id {item['call_id']}.", "input"
                )
        for call_id in calls:
            if call_id not in answered:
                raise bad_request(f"No tool output found for function call {call_id}.", "input")
        users = [n for n, i in enumerate(items) if i.get("type") == "message" and i.get("role") == "user"]
        last_user = users[-1] if users else -1
        prompt = item_text(items[last_user]) if users else ""
        outputs = {
            calls[i["call_id"]]: str(i["output"])
            for i in items[last_user + 1 :]
            if i.get("type") == "function_call_output"
        }
        fmt = echo["text"]["format"]
        if fmt["type"] == "json_object":
            if "json" not in " ".join(item_text(i) for i in items).lower() + (echo["instructions"] or "").lower():
                raise bad_request(
                    "Response input messages must contain the word 'json' in some form to use 'text.format' "
                    "of type 'json_object'.",
                    "input",
                )
            prompt += " [[json]]"
        mcp = mcp_turn(prompt, echo["tools"], items[last_user + 1 :])
        outputs.update(mcp.outputs)
        plan = plan_answer(
            prompt,
            turn=max(1, len(users)),
            history_chars=history_chars(history),
            instructions=echo["instructions"] or "",
            json_schema=fmt.get("schema") if fmt["type"] == "json_schema" else None,
            functions=function_parameters(echo["tools"]),
            tool_outputs=outputs or None,
            model_time=float(self.config.model_time),
            search=self._file_search(echo["tools"]),
        )
        started = self.state.clock.now()
        rec = ResponseRecord(
            id=long_id("resp"),
            created_at=self.state.clock.stamp(started),
            started=started,
            finish_at=started + plan.model_time,
            echo=echo,
            input_items=input_items,
            history=history,
            background=background,
            store=store,
            conversation_id=conv.id if conv else None,
            final_status="completed",
            final_output=[],
            stream_cut_after=plan.stream_cut_after,
            status="queued" if background else "in_progress",
        )
        self._outcome(rec, plan, prompt, history_chars(history) // 4)
        if mcp.items or mcp.waiting:  # MCP items come first; an open approval request ends the response
            rec.final_output = mcp.items if mcp.waiting else mcp.items + rec.final_output
        return rec

    def _outcome(self, rec: ResponseRecord, plan: Plan, prompt: str, cached: int) -> None:
        """Map the plan's outcome onto Responses statuses, error codes and incomplete reasons."""
        container = next(
            (
                t["container"]
                for t in rec.echo["tools"]
                if t["type"] == "code_interpreter" and isinstance(t.get("container"), str)
            ),
            None,
        )
        output = output_items(
            plan,
            prompt=prompt,
            container_id=container or long_id("cntr"),
            message_status="incomplete" if plan.outcome == "incomplete" else "completed",
        )
        out_tokens = plan.completion_tokens or sum(count_tokens(i.get("arguments", "")) for i in output)
        rec.final_output = output
        rec.usage = usage(plan.prompt_tokens, out_tokens, min(cached, plan.prompt_tokens))
        limit = rec.echo["max_output_tokens"]
        if plan.outcome == "completed" and limit is not None and out_tokens > limit:
            rec.final_status, rec.incomplete_details = "incomplete", {"reason": "max_output_tokens"}
            rec.final_output = truncate_output(output, limit * 4)
            rec.usage = usage(plan.prompt_tokens, limit, min(cached, plan.prompt_tokens))
        elif plan.outcome == "incomplete":
            rec.final_status = "incomplete"
            rec.incomplete_details = {"reason": _INCOMPLETE_REASONS.get(plan.incomplete_reason, "max_output_tokens")}
        elif plan.outcome in ("failed", "expired"):
            # The Responses API has no "expired": a response that runs out of time fails.
            rec.final_status = "failed"
            rec.error = (
                {"code": plan.error_code, "message": plan.error_message}
                if plan.outcome == "failed"
                else {"code": "server_error", "message": _EXPIRED_MESSAGE}
            )
            rec.usage = usage(plan.prompt_tokens, 0, min(cached, plan.prompt_tokens))
        elif plan.outcome == "cancelled":
            rec.final_status = "cancelled"

    # -- /v1/responses/{id} ------------------------------------------------------------------

    def retrieve(self, req: Request) -> JsonReply | SseReply:
        rec = self.state.response(req.params["response_id"])
        include = query_include(req.query)
        if not _query_flag(req.query, "stream"):
            return self._json(rec, include)
        if not rec.background:
            raise bad_request(
                "Streaming a stored response is only supported for responses created with background=true.", "stream"
            )
        raw = req.query.get("starting_after", "-1")
        try:
            after = int(raw)
        except ValueError:
            raise not_an_integer("starting_after", raw) from None
        return SseReply(
            stream_events(self.state, rec, starting_after=after, include=include), headers=poll_headers(self.config)
        )

    def cancel(self, req: Request) -> JsonReply:
        rec = self.state.response(req.params["response_id"])
        if not rec.background:
            raise bad_request("Only responses created with background=true can be cancelled.", "response_id")
        self.state.cancel(rec)  # a response already finished is returned as it is
        return self._json(rec)

    def delete(self, req: Request) -> JsonReply:
        with self.state.lock:
            rec = self.state.response(req.params["response_id"])
            del self.state.responses[rec.id]
        return JsonReply(deleted(rec.id, "response"))

    def input_items(self, req: Request) -> JsonReply:
        """A chained response's input items are the whole chain's, then its own input (as OpenAI's are)."""
        rec = self.state.response(req.params["response_id"])
        chained = rec.conversation_id is None and rec.echo.get("previous_response_id") is not None
        return JsonReply(items_page(rec.history + rec.input_items if chained else rec.input_items, req))
