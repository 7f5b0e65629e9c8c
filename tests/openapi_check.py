"""Check requests, JSON replies and SSE events against OpenAI's published OpenAPI spec.

The spec (``tests/spec/openapi.yaml``, vendored so a fresh clone can run the tests) is the
independent truth about wire shapes: the emulator is written from memory and the engine from the
SDK, and both can drift from what api.openai.com actually speaks. This module answers one question —
"does this concrete message fit the spec?" — as a list of :class:`Problem` s, each naming the
message, the field and what the spec expects, so a failing test tells the emulator's or engine's
owner exactly what to fix.

Loading is fast: the 3 MB YAML is parsed once (with libyaml when present), trimmed of prose, and
cached as a pickle in the temp dir (or ``$OPENAPI_CHECK_CACHE``) keyed by the file's hash; later
runs load it in ~20 ms. Every schema keeps its JSON pointer in the spec (``x-at``), which is
what a :class:`Problem` quotes as the expectation.

OpenAPI 3.1 schemas are JSON Schema 2020-12, validated with ``jsonschema`` and ``referencing``.
Lenient where OpenAPI itself is looser than JSON Schema: ``nullable: true`` (a 3.0 leftover in the
spec) admits null, ``oneOf`` is checked as ``anyOf`` (OpenAI's unions overlap; the
``discriminator`` only picks the branch), and ``format`` is not asserted. Strict where it matters:
required fields, types, enums and ``additionalProperties: false`` are checked; request bodies
are also held to the declared names (OpenAI answers any other with 400 "Unknown parameter"), and
every error reply to OpenAI's envelope ``{"error": {message, type, param, code}}``.

Some rules live in the spec's prose, not its schemas: :func:`status_invariants` (a failed run
has a ``last_error``...), :func:`undeclared_function_calls` (a model only calls declared
functions) and :func:`sequence_problems` (stream sequence numbers increase).

    spec = OpenAPISpec.default()
    problems = spec.check_response("POST", "/v1/threads/thread_1/runs", 200, body)
    assert not problems, format_problems(problems)
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import pickle
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).parent / "spec" / "openapi.yaml"
_SPEC_URI = "urn:openai-openapi"
_CACHE_VERSION = "3"  # bump when _prepare changes what is cached
_PROSE_KEYS = frozenset({"description", "example", "examples", "x-oaiMeta", "x-oaiTypeLabel", "title"})
_METHODS = ("get", "post", "put", "patch", "delete")
# Properties whose const/enum value names an object's kind: a union branch whose value differs
# is not the branch the message meant, so its errors are not worth reporting.
_DISCRIMINATORS = ("type", "event", "object", "role")


@dataclass(frozen=True)
class Problem:
    """One way a message departs from the spec."""

    where: str  # "POST /v1/threads/thread_1/runs -> 200" or "SSE thread.run.created"
    field: str  # JSON path into the message, "$" for the whole of it
    message: str  # what is wrong, in jsonschema's words
    expected: str  # the spec's expectation: the schema named and the rule it breaks

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}\n    spec expects: {self.expected}"


def format_problems(problems: Iterable[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    template: str  # the spec's path, without /v1: "/threads/{thread_id}/runs"
    spec: Mapping[str, Any]  # the operation object


# ---------------------------------------------------------------------------------------------
# Loading and caching


def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The parsed, prose-trimmed and normalised spec; cached by the file's content hash."""
    raw = path.read_bytes()
    digest = hashlib.sha256(raw + _CACHE_VERSION.encode()).hexdigest()[:20]
    cache = Path(os.environ.get("OPENAPI_CHECK_CACHE", tempfile.gettempdir())) / f"openai-openapi-{digest}.pickle"
    try:
        with cache.open("rb") as fh:
            loaded: dict[str, Any] = pickle.load(fh)
            return loaded
    except (OSError, pickle.UnpicklingError, EOFError):
        pass
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = _prepare(yaml.load(raw, Loader=loader))
    # Write-then-rename: two test runs (one per venv) may fill the cache at the same time.
    fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=cache.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(spec, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
    return spec


def _prepare(spec: dict[str, Any]) -> dict[str, Any]:
    """Keep what validation needs (paths, components) and make the schemas JSON-Schema-strict."""
    kept = {"openapi": spec["openapi"], "paths": {}, "components": {"schemas": {}, "responses": {}}}
    for template, item in spec["paths"].items():
        at = "#/paths/" + template.replace("~", "~0").replace("/", "~1")
        kept["paths"][template] = {
            method: _strip_operation(op, f"{at}/{method}") for method, op in item.items() if method in _METHODS
        }
    for name, schema in spec["components"]["schemas"].items():
        kept["components"]["schemas"][name] = _schema(schema, f"#/components/schemas/{name}")
    for name, response in spec["components"].get("responses", {}).items():
        kept["components"]["responses"][name] = _strip_operation(response, f"#/components/responses/{name}")
    return kept


def _strip_operation(node: Any, at: str) -> Any:
    """Operation / response / parameter objects: drop prose, normalise each embedded schema."""
    if isinstance(node, list):
        return [_strip_operation(n, f"{at}/{i}") for i, n in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _PROSE_KEYS or key == "x-codeSamples":
            continue
        where = f"{at}/{_escape(str(key))}"
        out[key] = _schema(value, where) if key == "schema" else _strip_operation(value, where)
    return out


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_ONE = (
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
)


def _schema(node: Any, at: str) -> Any:
    """One schema, recursively: prose dropped, ``nullable`` made explicit, ``oneOf`` -> ``anyOf``,
    and its location in the spec recorded as ``x-at`` (a JSON pointer) for the reports."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {"x-at": at}
    for key, value in node.items():
        if key in _PROSE_KEYS or key in ("discriminator", "nullable", "default", "deprecated"):
            continue
        where = f"{at}/{key}"
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: _schema(v, f"{where}/{_escape(k)}") for k, v in value.items()}
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out["anyOf" if key == "oneOf" else key] = [_schema(v, f"{where}/{i}") for i, v in enumerate(value)]
        elif key in _SUBSCHEMA_ONE:
            out[key] = _schema(value, where)
        else:
            out[key] = value
    if "oneOf" in node and "anyOf" in node:  # both present: keep both constraints
        one_of = [_schema(v, f"{at}/oneOf/{i}") for i, v in enumerate(node["oneOf"])]
        out["allOf"] = [*out.get("allOf", []), {"anyOf": one_of}]
        out["anyOf"] = [_schema(v, f"{at}/anyOf/{i}") for i, v in enumerate(node["anyOf"])]
    if node.get("nullable") is True:
        out = _admit_null(out)
    return out


def _admit_null(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema and not any(k in schema for k in _SUBSCHEMA_LISTS):
        widened = {**schema, "type": [kind, "null"]}
        if "enum" in widened and None not in widened["enum"]:
            widened["enum"] = [*widened["enum"], None]
        return widened
    return {"anyOf": [schema, {"type": "null"}]}


# ---------------------------------------------------------------------------------------------
# The checker


class OpenAPISpec:
    """Path matching and validation over one loaded spec."""

    def __init__(self, path: Path = SPEC_PATH) -> None:
        self.doc = load_spec(path)
        self._registry: Registry[Any] = Registry().with_resource(_SPEC_URI, DRAFT202012.create_resource(self.doc))
        self._routes: list[tuple[str, re.Pattern[str], int, str]] = []
        for template, item in self.doc["paths"].items():
            if "?" in template:  # "/responses?beta=true": a documentation alias, not a route
                continue
            literal = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
            pattern = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$")
            for method in item:
                self._routes.append((method.upper(), pattern, literal, template))
        # Most literal segments first: /threads/runs beats /threads/{thread_id}.
        self._routes.sort(key=lambda r: -r[2])

    @classmethod
    @functools.cache
    def default(cls) -> OpenAPISpec:
        return cls()

    # -- lookup --------------------------------------------------------------------------------

    def match(self, method: str, path: str) -> Operation | None:
        """The operation for a concrete request: ``("POST", "/v1/threads/thread_abc/runs?x=1")``."""
        bare = path.split("?", 1)[0]
        if bare.startswith("/v1/"):
            bare = bare[3:]
        method = method.upper()
        for m, pattern, _, template in self._routes:
            if m == method and pattern.match(bare):
                return Operation(method, template, self.doc["paths"][template][method.lower()])
        return None

    def schema_names(self) -> list[str]:
        return list(self.doc["components"]["schemas"])

    # -- checks --------------------------------------------------------------------------------

    def check_schema(self, name: str, instance: Any, *, where: str | None = None) -> list[Problem]:
        """``instance`` against ``#/components/schemas/<name>``."""
        if name not in self.doc["components"]["schemas"]:
            raise KeyError(f"no schema {name!r} in the spec")
        return self._check({"$ref": f"#/components/schemas/{name}"}, instance, where or name)

    def check_request(self, method: str, path: str, body: Any, query: Mapping[str, str] | None = None) -> list[Problem]:
        """A request's JSON body (and query parameters) against the operation's declarations."""
        where = f"{method.upper()} {path} request"
        op = self.match(method, path)
        if op is None:
            return [Problem(where, "$", "no such operation in the spec", "one of the spec's paths")]
        problems = self._check_query(op, query or {}, where)
        declared = op.spec.get("requestBody", {})
        content = declared.get("content", {})
        if body is None:
            if declared.get("required"):
                problems.append(Problem(where, "$", "the body is missing", "a required requestBody"))
            return problems
        # A multipart form (a file upload) is recorded as its fields' text, a file as its filename.
        media = next((m for m in ("application/json", "multipart/form-data") if m in content), None)
        if media is None:
            problems.append(
                Problem(where, "$", "a JSON body was sent", f"no JSON body (declares {sorted(content) or 'none'})")
            )
            return problems
        schema = content[media].get("schema", {})
        unknown = self._undeclared(schema, body, where, "$")
        flagged = {p.field.rsplit(".", 1)[0] for p in unknown}
        # jsonschema's "Additional properties are not allowed" says the same less precisely.
        checked = [
            p
            for p in self._check(schema, body, where)
            if not (p.message.startswith("Additional properties") and p.field in flagged)
        ]
        return problems + checked + unknown

    def check_response(self, method: str, path: str, status: int, body: Any) -> list[Problem]:
        """A JSON reply against the schema the operation declares for its status.

        Every error status is held to OpenAI's error envelope ``{"error": {message, type, param,
        code}}`` (``ErrorResponse``), whatever the operation lists.
        """
        where = f"{method.upper()} {path} -> {status}"
        op = self.match(method, path)
        if op is None:
            return [Problem(where, "$", "no such operation in the spec", "one of the spec's paths")]
        if status >= 400:
            # OpenAI's errors are always the envelope; the spec's few bare-``Error`` 404
            # declarations (DELETE /responses/{id}, POST .../cancel) disagree with its own
            # ErrorResponse and with the service, so every error is held to the envelope.
            return self._check({"$ref": "#/components/schemas/ErrorResponse"}, body, where)
        responses = op.spec.get("responses", {})
        declared = responses.get(str(status), responses.get(f"{str(status)[0]}XX"))
        if declared is not None and "$ref" in declared:
            declared = self._resolve(declared["$ref"])
        if declared is None:
            return [Problem(where, "$", f"status {status} is not declared", f"one of {sorted(responses)}")]
        schema = declared.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            # Declared without a body (DELETE /responses/{id}): clients ignore whatever comes.
            return []
        return self._check(schema, body, where)

    def check_event(self, event: str | None, data: Any) -> list[Problem]:
        """One SSE event: Assistants events (``thread.*``, ``error``, ``done``) are checked as
        ``{"event", "data"}`` against ``AssistantStreamEvent``; Responses events (``response.*``,
        whose data carries ``type``) against ``ResponseStreamEvent``, with ``event:`` == ``type``.
        """
        where = f"SSE {event}"
        if isinstance(data, dict) and "type" in data and "sequence_number" in data:
            problems = []
            if event is not None and event != data.get("type"):
                problems.append(
                    Problem(
                        where,
                        "$.type",
                        f"event name {event!r} differs from data.type {data.get('type')!r}",
                        "event: equal to data.type",
                    )
                )
            return problems + self.check_schema("ResponseStreamEvent", data, where=where)
        if event is None:
            return [
                Problem(where, "$", "an SSE frame without an event name", "every Assistants event named (event: ...)")
            ]
        if event.startswith("response."):
            return [
                Problem(
                    where,
                    "$",
                    f"Responses event data without type/sequence_number: {str(data)[:80]}",
                    "ResponseStreamEvent members carry type and sequence_number",
                )
            ]
        known = self.assistant_event_names()
        if event not in known:
            return [
                Problem(
                    where,
                    "$event",
                    f"event {event!r} is not an Assistants stream event",
                    f"#/components/schemas/AssistantStreamEvent: one of {', '.join(sorted(known))}",
                )
            ]
        return self._check(
            {"$ref": "#/components/schemas/AssistantStreamEvent"}, {"event": event, "data": data}, where, root="$event"
        )

    def assistant_event_names(self) -> set[str]:
        """Every ``event:`` name the AssistantStreamEvent union admits."""
        names: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if "$ref" in node:
                    walk(self._resolve(node["$ref"]))
                for member in node.get("anyOf", []):
                    walk(member)
                names.update(node.get("properties", {}).get("event", {}).get("enum", []))

        walk(self.doc["components"]["schemas"]["AssistantStreamEvent"])
        return names

    # -- internals -----------------------------------------------------------------------------

    def _undeclared(self, schema: Any, instance: Any, where: str, field: str) -> list[Problem]:
        """Request keys no applicable schema declares: OpenAI answers those with 400 "Unknown
        parameter", even where the spec leaves ``additionalProperties`` open (as in the allOf
        of CreateResponse), so requests are held to the declared names."""
        if not isinstance(instance, (dict, list)):
            return []
        leaves = self._leaves(schema, instance)
        if isinstance(instance, list):
            items = [leaf["items"] for leaf in leaves if isinstance(leaf.get("items"), dict)]
            if not items:
                return []
            return [
                p for i, v in enumerate(instance) for p in self._undeclared({"anyOf": items}, v, where, f"{field}[{i}]")
            ]
        declared: dict[str, list[Any]] = {}
        is_open = not leaves
        for leaf in leaves:
            if (
                leaf.get("additionalProperties") not in (None, False)
                or "patternProperties" in leaf
                or "properties" not in leaf
            ):
                is_open = True
            for key, sub in leaf.get("properties", {}).items():
                declared.setdefault(key, []).append(sub)
        problems = []
        for key, value in instance.items():
            if key in declared:
                problems += self._undeclared({"anyOf": declared[key]}, value, where, f"{field}.{key}")
            elif not is_open:
                at = ", ".join(sorted({leaf.get("x-at", "?") for leaf in leaves}))
                problems.append(
                    Problem(
                        where,
                        f"{field}.{key}",
                        f'unknown parameter {key!r} (OpenAI answers 400 "Unknown parameter")',
                        f"{at}: properties: {', '.join(sorted(declared))}",
                    )
                )
        return problems

    def _leaves(self, schema: Any, instance: Any, depth: int = 0) -> list[dict[str, Any]]:
        """The plain schemas that apply to ``instance``: refs resolved, allOf spread, and of each
        union only the branches whose type and discriminator fit the instance."""
        if not isinstance(schema, dict) or depth > 20:
            return []
        if "$ref" in schema:
            ref = str(schema["$ref"])
            return self._leaves(self._resolve(ref.split("#", 1)[1]), instance, depth + 1)
        out: list[dict[str, Any]] = []
        own = {k: v for k, v in schema.items() if k not in ("allOf", "anyOf", "oneOf")}
        composed = "allOf" in schema or "anyOf" in schema
        if not _type_fits(own, instance):
            return []
        # A bare {"type": "object"} beside a union only annotates it: not a leaf of its own.
        if any(k in own for k in ("properties", "items", "additionalProperties")) or ("type" in own and not composed):
            out.append(own)
        for member in schema.get("allOf", []):
            out += self._leaves(member, instance, depth + 1)
        union = [leaves for member in schema.get("anyOf", []) if (leaves := self._leaves(member, instance, depth + 1))]
        if union:
            fitting = [leaves for leaves in union if all(_discriminator_fits(leaf, instance) for leaf in leaves)]
            for leaves in fitting or union:
                out += leaves
        return out

    def _resolve(self, ref: str) -> Any:
        node: Any = self.doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _check_query(self, op: Operation, query: Mapping[str, str], where: str) -> list[Problem]:
        params = {p["name"]: p for p in op.spec.get("parameters", []) if p.get("in") == "query"}
        problems = []
        for name, raw in query.items():
            param = params.get(name)
            if (
                param is None
                and name.endswith("[]")
                and params.get(name[:-2], {}).get("schema", {}).get("type") == "array"
            ):
                # openai-python 2.x/3.x send arrays as include[]=a (1.x as include=a,b): both are
                # the SDK's own serialisation, which the service accepts.
                param = params[name[:-2]]
            if param is None:
                problems.append(
                    Problem(
                        where,
                        f"?{name}",
                        "undeclared query parameter",
                        f"one of {sorted(params) or 'no query parameters'}",
                    )
                )
                continue
            schema = param.get("schema", {})
            problems += self._check(schema, _coerce(raw, schema), where, root=f"?{name}")
        return problems

    def _check(self, schema: Any, instance: Any, where: str, *, root: str = "$") -> list[Problem]:
        rebased = _rebase(schema)
        wrapper = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{_SPEC_URI}/check",
            "allOf": [rebased],
        }
        validator = Draft202012Validator(wrapper, registry=self._registry)
        problems = []
        for error in validator.iter_errors(instance):
            for leaf in _explain(error):
                problems.append(self._problem(leaf, where, root))
        return _dedupe(problems)

    def _problem(self, error: ValidationError, where: str, root: str) -> Problem:
        field = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        at = error.schema.get("x-at", "(inline schema)") if isinstance(error.schema, dict) else "(inline schema)"
        if error.validator == "required":
            rule = f"required: {', '.join(error.validator_value)}"
        elif error.validator in ("anyOf", "oneOf"):
            rule = "one of: " + "; ".join(_describe(s) for s in error.validator_value)
        else:
            rule = f"{error.validator} {json.dumps(error.validator_value, default=str)}"
        return Problem(where, field, _short(error.message), f"{at}: {_short(rule)}")


# ---------------------------------------------------------------------------------------------
# What the spec says in prose, not in schemas


def status_invariants(obj: Any, where: str) -> list[Problem]:
    """What the spec's prose (not its schemas) says about a run's or a response's fields by status."""
    if not isinstance(obj, dict):
        return []
    kind, status = obj.get("object"), obj.get("status")
    rules: list[tuple[bool, str, str]] = []
    if kind == "thread.run":
        rules = [
            (
                (status == "requires_action") == (obj.get("required_action") is not None),
                "$.required_action",
                "set exactly while status is requires_action",
            ),
            (status != "failed" or obj.get("last_error") is not None, "$.last_error", "set when status is failed"),
            (
                status != "incomplete" or obj.get("incomplete_details") is not None,
                "$.incomplete_details",
                "set when status is incomplete",
            ),
            (
                status != "completed" or (obj.get("completed_at") is not None and obj.get("usage") is not None),
                "$.completed_at/usage",
                "set when status is completed",
            ),
            (status not in ("queued", "in_progress") or obj.get("usage") is None, "$.usage", "null until the run ends"),
            (
                status != "cancelled" or obj.get("cancelled_at") is not None,
                "$.cancelled_at",
                "set when status is cancelled",
            ),
            (status != "failed" or obj.get("failed_at") is not None, "$.failed_at", "set when status is failed"),
        ]
    elif kind == "response":
        rules = [
            (status != "failed" or obj.get("error") is not None, "$.error", "set when status is failed"),
            (
                status != "incomplete" or obj.get("incomplete_details") is not None,
                "$.incomplete_details",
                "set when status is incomplete",
            ),
            (status != "completed" or obj.get("usage") is not None, "$.usage", "set when status is completed"),
        ]
    problems = [
        Problem(where, field, f"status {status!r} with {field[2:]} = {obj.get(field[2:].split('/')[0])!r}", rule)
        for ok, field, rule in rules
        if not ok
    ]
    return problems + undeclared_function_calls(obj, where)


def _function_names(tools: Any) -> set[str]:
    """Function names among a run's or a response's tools (Assistants nest them under "function")."""
    names = set()
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict) and tool.get("type") == "function":
            names.add(str(tool.get("name") or (tool.get("function") or {}).get("name")))
    return names


def undeclared_function_calls(obj: Any, where: str) -> list[Problem]:
    """A model can only call a function its request (or assistant) declared; the run and the
    response echo the tools in force, so a call to any other name is a fidelity bug."""
    if not isinstance(obj, dict):
        return []
    if obj.get("object") == "thread.run":
        calls = ((obj.get("required_action") or {}).get("submit_tool_outputs") or {}).get("tool_calls") or []
        called = [
            (
                f"$.required_action.submit_tool_outputs.tool_calls[{i}].function.name",
                (c.get("function") or {}).get("name"),
            )
            for i, c in enumerate(calls)
        ]
    elif obj.get("object") == "response":
        called = [
            (f"$.output[{i}].name", item.get("name"))
            for i, item in enumerate(obj.get("output") or [])
            if item.get("type") == "function_call"
        ]
    else:
        return []
    declared = _function_names(obj.get("tools"))
    return [
        Problem(
            where,
            field,
            f"the model calls {name!r}, which the tools in force do not declare",
            f"a function among $.tools ({', '.join(sorted(declared)) or 'none'})",
        )
        for field, name in called
        if name not in declared
    ]


def sequence_problems(events: Iterable[tuple[str, Any]]) -> list[Problem]:
    """Responses stream events, as ``(stream, data)``: sequence_number strictly increases
    within each stream (``stream`` names the reply the event came in)."""
    by_stream: dict[str, list[int]] = {}
    for stream, data in events:
        if isinstance(data, dict) and isinstance(data.get("sequence_number"), int):
            by_stream.setdefault(stream, []).append(data["sequence_number"])
    return [
        Problem(
            f"SSE stream of {stream.split('#')[0]}",
            "$.sequence_number",
            f"not strictly increasing: {numbers[:20]}",
            "each event's sequence_number above the previous one's",
        )
        for stream, numbers in by_stream.items()
        if any(b <= a for a, b in itertools.pairwise(numbers))
    ]


def _rebase(schema: Any) -> Any:
    """Point the document-local refs of an operation's inline schema at the spec resource."""
    if isinstance(schema, dict):
        return {
            k: (f"{_SPEC_URI}{v}" if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebase(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema


def _explain(error: ValidationError) -> Iterator[ValidationError]:
    """The errors worth reporting under ``error``: inside a union, those of the branch the
    message meant (picked by its discriminator), else of the closest branch."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        yield error
        return
    depth = len(error.absolute_path)
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    plausible = {key: errs for key, errs in branches.items() if not any(_rules_out(e, depth) for e in errs)}
    if not plausible:
        yield error  # no branch fits the message's kind at all: report the union itself
        return
    best = min(plausible.values(), key=lambda errs: (len(errs), -max(len(e.absolute_path) for e in errs)))
    for sub in best:
        yield from _explain(sub)


def _rules_out(error: ValidationError, depth: int) -> bool:
    """Does this branch error say the branch is for another kind of object?"""
    path = list(error.absolute_path)
    if len(path) == depth and error.validator == "type":
        return True  # wrong JSON type for this branch altogether (object vs string, ...)
    if len(path) == depth + 1 and path[-1] in _DISCRIMINATORS and error.validator in ("const", "enum"):
        return True
    if len(path) == depth and error.validator in ("anyOf", "oneOf") and error.context:
        # A nested union (AssistantStreamEvent -> RunStreamEvent -> ...): ruled out when every
        # one of its own branches is.
        nested: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            nested.setdefault(sub.relative_schema_path[0], []).append(sub)
        return all(any(_rules_out(e, depth) for e in errs) for errs in nested.values())
    return False


def _type_fits(schema: Mapping[str, Any], instance: Any) -> bool:
    kind = schema.get("type")
    if kind is None:
        return True
    kinds = kind if isinstance(kind, list) else [kind]
    if isinstance(instance, dict):
        return "object" in kinds
    if isinstance(instance, list):
        return "array" in kinds
    return True


def _discriminator_fits(schema: Mapping[str, Any], instance: Any) -> bool:
    if not isinstance(instance, dict):
        return True
    for key in _DISCRIMINATORS:
        allowed = _enum_of(schema.get("properties", {}).get(key))
        if allowed is not None and key in instance and instance[key] not in allowed:
            return False
    return True


def _enum_of(schema: Any) -> list[Any] | None:
    """The values a property admits when it is an enum (or a union of enums / null), else None."""
    if not isinstance(schema, dict):
        return None
    if "enum" in schema:
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    if "anyOf" in schema:
        values: list[Any] = []
        for member in schema["anyOf"]:
            if isinstance(member, dict) and member.get("type") == "null":
                values.append(None)
                continue
            found = _enum_of(member)
            if found is None:
                return None
            values += found
        return values
    return None


def _coerce(raw: str, schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    if kind == "array":
        return raw.split(",")
    return raw


def _describe(schema: Any) -> str:
    """A union member in a few words: its $ref name, its discriminating const, or its type."""
    if not isinstance(schema, dict):
        return str(schema)
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for key in _DISCRIMINATORS:
        enum = schema.get("properties", {}).get(key, {}).get("enum")
        if enum:
            return f"{key}={'|'.join(map(str, enum))}"
    if "enum" in schema:
        return "|".join(map(str, schema["enum"]))
    return str(schema.get("type", "schema"))


def _short(message: str) -> str:
    return message if len(message) <= 300 else message[:297] + "..."


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for p in problems:
        key = (p.where, p.field, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
