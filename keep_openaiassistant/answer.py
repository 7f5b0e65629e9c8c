"""From the answer's text to the contract's ``response``: the one place that decides it.

Pure functions, no I/O (no remote ``$ref`` is ever fetched):

- :func:`normalize_format` puts a ``structured_output_format`` in Keep's shape;
- :func:`check_format` refuses, before any request, a format that cannot work;
- :func:`parse_answer` turns the answer into ``response``.

``response`` by step parameters:

======================================  ====================================================
no ``structured_output_format``, or     ``parse_json`` true: the parsed JSON object or array
``{"type": "text"}``                    when the answer *is* JSON (the rule of
                                        :mod:`.jsonextract`: the whole text, a fenced block
                                        with at most a short lead-in, ...), else the text;
                                        ``parse_json`` false: the text
``{"type": "json_object"}``             the answer must be a JSON object (the whole text or a
                                        fenced block), whatever ``parse_json`` says
``json_schema`` (any accepted shape)    the answer must be JSON and valid under the schema
                                        (JSON Schema draft 2020-12, ``format`` not asserted)
======================================  ====================================================

Failures are :class:`~.errors.ResponseFormatError` with the text attached (and ``violation``,
the first schema violation as ``"$.path: message"``), or :class:`~.errors.ConfigurationError`
for a format that is no JSON Schema. Messages quote at most 200 characters of the answer.

What counts as a JSON Schema (:func:`check_format`): a JSON object that the draft 2020-12
meta-schema accepts (``Draft202012Validator.check_schema``) **and** that uses at least one
keyword constraining the answer (:data:`SCHEMA_KEYWORDS`: ``type``, ``properties``, ``items``,
``enum``, ``const``, ``anyOf``, ``oneOf``, ``allOf``, ``$ref``, ...). The meta-schema alone
would accept ``{"foo": 1}`` (unknown keywords are ignored, so it allows any answer); such a
format is nearly always a mistake — a pasted answer example, a misspelt wrapper — and refused.
Every ``$ref`` must resolve inside the schema (``#/$defs/...``); other documents are not fetched.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import reprlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, ResponseFormatError
from .jsonextract import MAX_DEPTH, Found, extract_json, find_json, not_json_error, where

FIELD = "structured_output_format"
#: The format types of Keep's (= the Chat Completions / Assistants) ``response_format``.
FORMAT_TYPES = ("json_schema", "json_object", "text")
#: JSON Schema's types, for "did you mean" on a bare schema's ``type``.
JSON_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
#: Draft 2020-12 keywords that constrain an instance; a schema needs one of them.
SCHEMA_KEYWORDS = frozenset(
    {
        # core and applicators
        "$ref",
        "$dynamicRef",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "dependentSchemas",
        "prefixItems",
        "items",
        "contains",
        "properties",
        "patternProperties",
        "additionalProperties",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        # validation
        "type",
        "enum",
        "const",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
        "required",
        "dependentRequired",
    }
)
#: best_match looks at this many of an answer's violations, not all: an answer with 100,000
#: wrong items must not build 100,000 errors.
MAX_VIOLATIONS_CONSIDERED = 50
#: A violation's message is cut to this length (jsonschema puts the offending value in it).
VIOLATION_CHARS = 200
_EXAMPLE = '{"type": "json_schema", "json_schema": {"name": "triage", "schema": {"type": "object", ...}}}'
# Keys whose values are data, not subschemas: a "$ref" in them is no reference.
_DATA_KEYS = frozenset({"enum", "const", "default", "examples"})

if TYPE_CHECKING:
    import referencing
    from jsonschema.exceptions import SchemaError, ValidationError


# jsonschema and referencing are imported when a step first uses a schema: they add thousands
# of objects to the heap (and to every full garbage collection) of a process that never does.
@functools.cache
def _no_retrieval() -> referencing.Registry[Any]:
    """A registry that resolves references inside the schema only: nothing is ever fetched."""
    import referencing

    return referencing.Registry()


def normalize_format(fmt: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The structured output format in Keep's (= the Assistants API's) shape, or None.

    Keep's OpenAI provider takes ``{"type": "json_schema", "json_schema": {name, schema, strict}}``.
    Users also paste the inner ``{name, schema}`` object or a bare JSON schema; both are wrapped
    so that a workflow written either way works. ``{"type": "json_object"}``, ``{"type": "text"}``
    and the Responses API's flat ``{"type": "json_schema", name, schema}`` pass as they are.
    None and ``{}`` mean no format.
    """
    if fmt is None:
        return None
    if not isinstance(fmt, Mapping):
        raise _not_a_mapping(fmt)
    if not fmt:
        return None
    fmt = dict(fmt)
    if fmt.get("type") in FORMAT_TYPES:
        return fmt
    if "schema" in fmt:  # the inner json_schema object
        inner = {"name": fmt.get("name") or "answer", "schema": fmt["schema"], "strict": fmt.get("strict", True)}
        return {"type": "json_schema", "json_schema": inner}
    # A bare JSON schema.
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": fmt, "strict": True}}


def format_schema(fmt: Mapping[str, Any]) -> Any:
    """The JSON schema inside a normalized ``json_schema`` format (Keep's or the flat shape),
    None when there is none."""
    inner = fmt.get("json_schema")
    spec = inner if isinstance(inner, Mapping) else fmt
    return spec.get("schema")


def check_format(fmt: Any) -> None:
    """Raise ConfigurationError (``field="structured_output_format"``) unless ``fmt`` is None,
    ``{}``, a text or json_object format, or a json_schema format whose schema is a JSON Schema
    (see the module's docstring). Call it before any request."""
    normal = normalize_format(fmt)
    if normal is None or normal.get("type") in ("text", "json_object"):
        return
    if "json_schema" in normal and not isinstance(normal["json_schema"], Mapping):
        raise _config(
            "structured_output_format's json_schema must be an object with name and schema, "
            f"got {_show(normal['json_schema'])}. What to do: write it as {_EXAMPLE}."
        )
    schema = format_schema(normal)
    if schema is None:
        raise _config(
            "structured_output_format has no JSON schema. What to do: put it under json_schema.schema, "
            f"e.g. {_EXAMPLE}."
        )
    if not isinstance(schema, Mapping):
        raise _config(
            f"structured_output_format's schema must be a JSON object, got {_show(schema)}. "
            f"What to do: give a JSON Schema such as {_EXAMPLE}."
        )
    _check_type_word(schema, bare=fmt.get("type") not in FORMAT_TYPES and "schema" not in fmt)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise _config(
            "structured_output_format's schema is not a valid JSON Schema (draft 2020-12): "
            f"{_sentence(_violation(exc))} What to do: correct the schema at that place."
        ) from None
    if not SCHEMA_KEYWORDS & set(schema):
        keys = ", ".join(sorted(map(str, schema))[:8])
        what = f"its schema (keys: {_clip(keys, 120)})" if keys else "its schema is {} and"
        raise _config(
            f"structured_output_format is no JSON Schema: {what} uses none of JSON "
            "Schema's keywords (type, properties, items, enum, const, anyOf, oneOf, allOf, $ref, ...), so "
            "it would allow any answer. What to do: give a JSON Schema such as "
            f'{{"type": "object", "properties": {{...}}}}, in Keep\'s shape {_EXAMPLE}.'
        )
    _check_references(schema)


def parse_answer(
    text: str,
    *,
    parse_json: bool = True,
    structured_output_format: Mapping[str, Any] | None = None,
    thread_id: str | None = None,
    run_id: str | None = None,
) -> Any:
    """The contract's ``response`` for the answer ``text`` (see the module's docstring).

    Raises ResponseFormatError when a structured output format is not met, ConfigurationError
    when the format itself cannot work (which :func:`check_format` finds before any request).
    """
    fmt = normalize_format(structured_output_format)
    kind = fmt.get("type") if fmt else None
    if fmt is None or kind == "text":
        return extract_json(text) if parse_json else text
    check_format(fmt)
    found = find_json(text, scalars=True)
    if not isinstance(found, Found):
        raise not_json_error(text, found.reason, thread_id=thread_id, run_id=run_id)
    if kind == "json_object":
        if not isinstance(found.value, dict):
            raise not_json_error(
                text,
                f"it is a JSON {_json_type(found.value)}",
                thread_id=thread_id,
                run_id=run_id,
                wanted="a JSON object",
            )
        return found.value
    violation = first_violation(format_schema(fmt), found.value)
    if violation is not None:
        raise ResponseFormatError(
            f"The answer{where(thread_id, run_id)} does not match the schema of structured_output_format: "
            f"{_sentence(violation)} What to do: make the assistant's instructions (or the prompt) ask for "
            "exactly this schema, or relax the schema.",
            text=text,
            violation=violation,
            thread_id=thread_id,
            run_id=run_id,
        )
    return found.value


def first_violation(schema: Mapping[str, Any], value: Any) -> str | None:
    """``"$.path: message"`` for the most relevant violation (jsonschema's ``best_match``
    among the first :data:`MAX_VIOLATIONS_CONSIDERED`), None when ``value`` is valid.

    ``value`` is a parsed answer (nested at most :data:`~.jsonextract.MAX_DEPTH` levels). It is
    validated as a copy whose containers and long strings have a short ``repr``: jsonschema
    writes ``repr(instance)`` into every message, and an ``anyOf`` of 20 branches against a
    1 MB answer would otherwise print the megabyte 20 times.
    """
    import referencing.exceptions
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    validator = Draft202012Validator(schema, registry=_no_retrieval())
    try:
        errors: Iterator[ValidationError] = validator.iter_errors(_quiet(value))
        first = next(errors, None)
        if first is None:
            return None
        best = best_match(itertools.chain([first], itertools.islice(errors, MAX_VIOLATIONS_CONSIDERED - 1)))
    except referencing.exceptions.Unresolvable as exc:
        raise _config(
            f"structured_output_format's schema has a $ref that does not resolve ({_clip(str(exc), 120)}). "
            "What to do: define what it refers to under $defs in the same schema."
        ) from None
    except RecursionError:
        return f"$: nested too deep to check against the schema (more than {MAX_DEPTH} levels)"
    return _violation(best) if best is not None else None


# -- helpers --------------------------------------------------------------------------------------


class _ShortRepr(reprlib.Repr):
    """reprlib for the answer's values: a few items per level, dicts in their own order."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxlist = self.maxdict = 5
        self.maxstring = self.maxother = 60
        self.fillvalue = "…"

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:  # reprlib's sorts every key first
        if not x:
            return "{}"
        if level <= 0:
            return "{" + self.fillvalue + "}"
        pieces = [
            f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
            for k, v in itertools.islice(x.items(), self.maxdict)
        ]
        return "{" + ", ".join(pieces + ([self.fillvalue] if len(x) > self.maxdict else [])) + "}"

    # reprlib dispatches on the type's name: the quiet types print like the plain ones.
    def repr__QuietList(self, x: list[Any], level: int) -> str:
        return self.repr_list(x, level)

    def repr__QuietDict(self, x: dict[Any, Any], level: int) -> str:
        return self.repr_dict(x, level)

    def repr__QuietStr(self, x: str, level: int) -> str:
        return self.repr_str(x, level)


_SHORT = _ShortRepr()


class _QuietList(list[Any]):
    def __repr__(self) -> str:
        return _SHORT.repr(self)


class _QuietDict(dict[str, Any]):
    def __repr__(self) -> str:
        return _SHORT.repr(self)


class _QuietStr(str):
    __slots__ = ()

    def __repr__(self) -> str:
        return _SHORT.repr(self)


def _quiet(value: Any) -> Any:
    """A copy of ``value`` with short-repr containers and long strings (recursive: the answer
    is at most MAX_DEPTH deep)."""
    if isinstance(value, dict):
        return _QuietDict((k, _quiet(v) if isinstance(v, (dict, list, str)) else v) for k, v in value.items())
    if isinstance(value, list):
        return _QuietList([_quiet(v) if isinstance(v, (dict, list, str)) else v for v in value])
    if isinstance(value, str) and len(value) > VIOLATION_CHARS:
        return _QuietStr(value)
    return value


def _violation(error: ValidationError | SchemaError) -> str:
    return f"{error.json_path}: {_clip(error.message, VIOLATION_CHARS)}"


def _check_type_word(schema: Mapping[str, Any], *, bare: bool) -> None:
    """A schema whose ``type`` is no JSON type (nor, for a bare schema, a format type): say so,
    with "did you mean"."""
    word = schema.get("type")
    if not isinstance(word, str) or word in JSON_TYPES:
        return
    words = (FORMAT_TYPES + JSON_TYPES) if bare else JSON_TYPES
    close = difflib.get_close_matches(word, words, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? If not, " if close else ""
    if bare:
        raise _config(
            f"structured_output_format has type {_show(word)}, which is neither a format type "
            f"({', '.join(FORMAT_TYPES)}) nor a JSON Schema type ({', '.join(JSON_TYPES)}). "
            f"What to do: {hint}write the format as {_EXAMPLE}."
        )
    raise _config(
        f"structured_output_format's schema has type {_show(word)}, which is not a JSON Schema type "
        f"({', '.join(JSON_TYPES)}). What to do: {hint}use one of those."
    )


def _check_references(schema: Mapping[str, Any]) -> None:
    """Every ``$ref`` of the root resource resolves inside the schema (nothing is fetched)."""
    refs = list(_references(schema))
    if not refs:
        return
    import referencing.exceptions
    from referencing.jsonschema import DRAFT202012

    resource = DRAFT202012.create_resource(dict(schema))
    base = resource.id() or ""
    resolver = _no_retrieval().with_resource(base, resource).crawl().resolver(base_uri=base)
    for ref in refs:
        try:
            resolver.lookup(ref)
        except referencing.exceptions.Unresolvable:
            raise _config(
                f"structured_output_format's schema refers to {_show(ref)}, which it does not define "
                "(references to other documents are not fetched). What to do: define it under $defs "
                'and refer to it as "#/$defs/NAME".'
            ) from None


def _references(schema: Mapping[str, Any]) -> Iterator[str]:
    """The ``$ref`` strings of ``schema``, without recursion; subschemas with their own ``$id``
    (a resource of their own, resolved against another base) are skipped."""
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            if node is not schema and "$id" in node:
                continue
            ref = node.get("$ref")
            if isinstance(ref, str):
                yield ref
            stack.extend(v for k, v in node.items() if k not in _DATA_KEYS and isinstance(v, (Mapping, list)))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (Mapping, list)))


def _config(message: str) -> ConfigurationError:
    return ConfigurationError(message, field=FIELD)


def _not_a_mapping(fmt: Any) -> ConfigurationError:
    return _config(
        f"structured_output_format must be a mapping (a JSON schema format), got {type(fmt).__name__}. "
        f"What to do: write it as {_EXAMPLE}."
    )


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value: Any) -> str:
    return _clip(repr(value), 80)


def _sentence(text: str) -> str:
    """``text`` ending in exactly one full stop (or the '…' of a cut) and a space."""
    text = text.rstrip().rstrip(".")
    return text + ("" if text.endswith("…") else ".")
