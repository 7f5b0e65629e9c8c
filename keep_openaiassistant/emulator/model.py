"""The emulator's deterministic "model" and its scenario tags.

The same prompt (and thread history length) always gives the same answer. Tags in the prompt
script what the run does; several may be combined, e.g. ``"Disk full [[json]] [[delay:2]]"``.

| tag                     | effect                                                               |
|-------------------------|----------------------------------------------------------------------|
| (none)                  | a plain-text triage answer that names the prompt and the turn        |
| ``[[json]]``            | the answer is a JSON object                                          |
| ``[[fenced_json]]``     | JSON inside a ```json fence with prose around it                     |
| ``[[prose_json]]``      | JSON inside a sentence                                               |
| ``[[multipart]]``       | two assistant messages, the first with two text parts                |
| ``[[citations]]``       | file search in force with indexed files: the grounded answer below;  |
|                         | else scripted: two markers citing files that do not exist            |
| ``[[file]]``            | code interpreter output: an image file part and a file_path link     |
| ``[[failed]]`` / ``[[failed:CODE]]`` | the run fails (default code server_error)               |
| ``[[incomplete]]`` / ``[[incomplete:REASON]]`` | ends incomplete (default max_completion_tokens) |
| ``[[expired]]``         | the run expires                                                      |
| ``[[cancelled]]``       | the server cancels the run                                           |
| ``[[tool:NAME]]``       | if a function tool NAME is in force (below): the model calls NAME    |
|                         | (repeatable) and answers once its outputs are in                     |
| ``[[tool:OTHER]]``      | a name no function tool in force declares: ignored; a plain-text     |
|                         | answer ends with "No function OTHER was available."                  |
| ``[[then]]``            | separates rounds: the tool tags after it are called once every call  |
|                         | before it has its output (``[[tool:a]] [[tool:b]] [[then]] [[tool:c]]``: |
|                         | a and b in parallel, then c, then the answer)                        |
| ``[[tool_loop:NAME]]``  | calls NAME in every round, whatever its outputs (a loop to bound)    |
| ``[[tool_badjson:NAME]]`` | calls NAME with arguments that are not JSON                        |
| ``[[tool_badargs:NAME]]`` | calls NAME with a JSON object that misses every required argument  |
|                         | (``{"unexpected": true}``)                                           |
| ``[[tool_any:NAME]]``   | calls NAME even if no function tool declares it (a model going astray) |
| ``[[delay:SECONDS]]``   | model time of this run (default: the emulator's ``model_time``)      |
| ``[[stream_cut]]`` / ``[[stream_cut:N]]`` | the SSE connection drops after N events (default 4); the run goes on |
| ``[[empty]]``           | completes with an empty answer                                       |

A JSON schema (structured output) makes the answer an instance of that schema.

File search (``plan_answer(search=...)``): when file search is in force over vector stores that
hold indexed files, the model searches with the prompt (tags stripped) before answering, and a
plain-text answer is grounded in what it found: it quotes the best passage of the best file (and
of a second file scoring within 80% of it) with a marker ``【4:n†filename】`` and a
``file_citation`` annotation naming the real file id, filename and quote. ``Plan.searches`` keeps
each query and its ranked hits (the run step's or the ``file_search_call`` item's results).

A call's arguments are an instance of the function's declared JSON schema (``functions`` as a
mapping of name to parameters; a bare collection of names gives ``{}``).

Function tools in force (``plan_answer(functions=...)``): a model only calls functions that are
declared. On the Assistants API that is the run's ``tools`` when the run overrides them, else its
assistant's ``tools`` (``{"type": "function", "function": {"name": ...}}``); on the Responses API
the request's ``tools`` (flat: ``{"type": "function", "name": ...}``). Apart from its closing
sentence, the answer to a prompt with an undeclared tag is the answer without the tag. A tag
whose function already has an output (a follow-up after tool outputs) is answered, declared or not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .knowledge import Hit, best_sentence

TAG = re.compile(r"\[\[([a-z_]+)(?::([^\]]*))?\]\]")


@dataclass
class Annotation:
    type: str  # file_citation | file_path
    text: str  # the marker as it appears in the text
    start_index: int
    end_index: int
    file_id: str
    quote: str = ""
    filename: str = ""


@dataclass
class Part:
    kind: str  # text | image_file
    text: str = ""
    annotations: list[Annotation] = field(default_factory=list)
    file_id: str = ""


@dataclass
class Plan:
    outcome: str = "completed"  # completed | failed | incomplete | expired | cancelled
    messages: list[list[Part]] = field(default_factory=list)
    tool_calls: list[tuple[str, Any]] = field(default_factory=list)  # (name, arguments: object or raw text)
    model_time: float = 0.0
    error_code: str = "server_error"
    error_message: str = "The server had an error while processing your request. Sorry about that!"
    incomplete_reason: str = "max_completion_tokens"
    stream_cut_after: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    searches: list[tuple[str, list[Hit]]] = field(default_factory=list)  # file search: (query, ranked hits)

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for m in self.messages for p in m if p.kind == "text")


def tags(prompt: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, arg in TAG.findall(prompt or ""):
        found.setdefault(name, []).append(arg)
    return found


def strip_tags(prompt: str) -> str:
    return TAG.sub("", prompt or "").strip()


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: about 4 characters a token."""
    return max(1, (len(text) + 3) // 4) if text else 0


def _triage(subject: str) -> dict[str, Any]:
    return {
        "summary": f"Triage of: {subject}",
        "severity": "high" if re.search(r"down|full|fail|error|critical", subject, re.I) else "medium",
        "next_steps": ["Check the runbook for this service", "Page the owning team if it persists"],
    }


def _instance(schema: dict[str, Any], subject: str) -> Any:
    """A small deterministic instance of a JSON schema (objects, arrays, enums, scalars)."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        return {k: _instance(v, subject) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_instance(schema.get("items", {"type": "string"}), subject)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return f"{subject}"[:80] or "text"


def _round_of_calls(
    prompt: str, functions: Collection[str], outputs: Mapping[str, str], subject: str
) -> list[tuple[str, Any]]:
    """The calls of the next round: the first group of tool tags (split by ``[[then]]``) with a
    declared function still lacking its output, plus every ``tool_loop`` function. Arguments
    are schema instances (``tool_badjson``/``tool_badargs``: deliberately wrong)."""
    schemas: Mapping[str, Any] = functions if isinstance(functions, Mapping) else {}
    groups: list[list[tuple[str, str]]] = [[]]
    loops: list[str] = []
    for match in TAG.finditer(prompt or ""):
        kind, name = match.group(1), match.group(2) or ""
        if kind == "then":
            groups.append([])
        elif kind == "tool_loop" and name in functions:
            loops.append(name)
        elif (kind in ("tool", "tool_badjson", "tool_badargs") and name in functions) or (kind == "tool_any" and name):
            groups[-1].append((kind, name))
    chosen: list[tuple[str, str]] = []
    for group in groups:
        chosen = [(kind, name) for kind, name in group if name not in outputs]
        if chosen:
            break
    calls: list[tuple[str, Any]] = []
    for kind, name in chosen:
        if kind == "tool_badjson":
            calls.append((name, '{"service": "checkout-api",'))
        elif kind == "tool_badargs":
            calls.append((name, {"unexpected": True}))
        else:
            calls.append((name, _instance(dict(schemas.get(name) or {"type": "object"}), subject)))
    calls += [(name, _instance(dict(schemas.get(name) or {"type": "object"}), subject)) for name in loops]
    return calls


def _citation_part() -> Part:
    first, second = "【4:0†runbook-disk.md】", "【4:1†oncall-policy.md】"
    text = f"Free space on the volume first{first}, then page the storage team{second}."
    a = text.index(first)
    b = text.index(second)
    return Part(
        "text",
        text,
        [
            Annotation(
                "file_citation",
                first,
                a,
                a + len(first),
                "file-runbookdisk",
                "Run `df -h` and clear /var/log",
                "runbook-disk.md",
            ),
            Annotation(
                "file_citation",
                second,
                b,
                b + len(second),
                "file-oncallpolicy",
                "Storage pages go to #storage-oncall",
                "oncall-policy.md",
            ),
        ],
    )


def _grounded_part(subject: str, hits: Sequence[Hit], tail: str = "") -> Part:
    """An answer quoting the best file (and a second one close to it), each cited by a marker."""
    cited = [hits[0]]
    second = next((h for h in hits[1:] if h.file_id != hits[0].file_id), None)
    if second is not None and second.score >= 0.8 * hits[0].score:
        cited.append(second)
    text, annotations = f'For "{subject}", ', []
    for n, hit in enumerate(cited):
        quote = best_sentence(hit.text, subject)
        text += f"the runbook {hit.filename} says: {quote}" if n == 0 else f" See also {hit.filename}: {quote}"
        marker = f"【4:{n}†{hit.filename}】"
        annotations.append(
            Annotation("file_citation", marker, len(text), len(text) + len(marker), hit.file_id, quote, hit.filename)
        )
        text += marker
    return Part("text", text + tail, annotations)


def _file_parts() -> list[Part]:
    link = "sandbox:/mnt/data/disk_usage.png"
    text = f"I plotted disk usage over the last day: [chart]({link})."
    a = text.index(link)
    return [
        Part("image_file", file_id="file-chartdiskusage"),
        Part("text", text, [Annotation("file_path", link, a, a + len(link), "file-chartdiskusage")]),
    ]


def plan_answer(
    prompt: str,
    *,
    turn: int = 1,
    history_chars: int = 0,
    instructions: str = "",
    json_schema: dict[str, Any] | None = None,
    functions: Collection[str] = (),
    tool_outputs: dict[str, str] | None = None,
    model_time: float = 0.0,
    search: Callable[[str], Sequence[Hit] | None] | None = None,
) -> Plan:
    """What the model does for ``prompt``, the ``turn``-th user message of its thread.

    ``functions`` names the function tools in force (the only ones the model may call);
    ``tool_outputs`` maps function name to the output submitted for it (after requires_action).
    ``search(query)``: file search over the stores in force (None when they hold no indexed file).
    """
    t = tags(prompt)
    subject = strip_tags(prompt) or "(empty prompt)"
    plan = Plan(model_time=float(t["delay"][-1]) if t.get("delay") else model_time)
    plan.prompt_tokens = count_tokens(instructions) + count_tokens(prompt) + history_chars // 4

    if "stream_cut" in t:
        arg = t["stream_cut"][-1]
        plan.stream_cut_after = int(arg) if arg else 4
    for status in ("failed", "incomplete", "expired", "cancelled"):
        if status in t:
            plan.outcome = status
            arg = t[status][-1]
            if status == "failed" and arg:
                plan.error_code = arg
                if arg == "rate_limit_exceeded":
                    plan.error_message = "You exceeded your current quota, please check your plan and billing details."
            if status == "incomplete" and arg:
                plan.incomplete_reason = arg

    calls = _round_of_calls(prompt, functions, tool_outputs or {}, subject)
    if calls:
        plan.tool_calls = calls
        return plan
    wanted = [name for name in t.get("tool", []) if name and name not in (tool_outputs or {})]
    unavailable = "".join(f" No function {n} was available." for n in dict.fromkeys(wanted) if n not in functions)
    found = search(subject) if search is not None and "empty" not in t else None
    hits = list(found or [])
    if found is not None:
        plan.searches = [(subject, hits)]

    if "empty" in t:
        plan.messages = [[Part("text", "")]]
    elif json_schema is not None:
        plan.messages = [[Part("text", json.dumps(_instance(json_schema, subject)))]]
    elif "json" in t:
        plan.messages = [[Part("text", json.dumps(_triage(subject)))]]
    elif "fenced_json" in t:
        plan.messages = [
            [
                Part(
                    "text",
                    f"Here is the triage:\n```json\n{json.dumps(_triage(subject), indent=2)}\n```\nAsk me for details.",
                )
            ]
        ]
    elif "prose_json" in t:
        plan.messages = [[Part("text", f"The triage result is {json.dumps(_triage(subject))} as requested.")]]
    elif "multipart" in t:
        plan.messages = [
            [
                Part("text", f"Part one: {subject} looks like a capacity problem."),
                Part("text", "Part two: the trend started an hour ago."),
            ],
            [Part("text", "Second message: recommended action is to expand the volume.")],
        ]
    elif hits:
        outputs = "".join(f" Tool {k} said: {v}." for k, v in sorted((tool_outputs or {}).items()))
        plan.messages = [[_grounded_part(subject, hits, f"{outputs}{unavailable}")]]
    elif "citations" in t:
        plan.messages = [[_citation_part()]]
    elif "file" in t:
        plan.messages = [_file_parts()]
    else:
        outputs = "".join(f" Tool {k} said: {v}." for k, v in sorted((tool_outputs or {}).items()))
        plan.messages = [
            [
                Part(
                    "text",
                    f'Triage of "{subject}" (turn {turn} of this thread): '
                    f"check recent changes and the service's runbook.{outputs}{unavailable}",
                )
            ]
        ]

    plan.completion_tokens = count_tokens(plan.text) if plan.outcome in ("completed", "incomplete") else 0
    if plan.outcome in ("failed", "expired", "cancelled"):
        plan.messages = []
    return plan
