"""openaiassistant_provider.yaml, the code and the workflow examples say the same thing.

The Keep adapter imports Keep, so its ``_query`` signature and class attributes are read with
``ast`` here (tests/keep/ checks the imported class in a Keep environment).
"""

from __future__ import annotations

import ast
import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import keep_openaiassistant
from keep_openaiassistant import params
from keep_openaiassistant.auth_config import OpenaiassistantProviderAuthConfig, form_fields
from keep_openaiassistant.results import AskResult

PACKAGE = Path(keep_openaiassistant.__file__).parent
ROOT = PACKAGE.parent
SCHEMA = yaml.safe_load((PACKAGE / "openaiassistant_provider.yaml").read_text(encoding="utf-8"))
ADAPTER = ast.parse((PACKAGE / "keep_adapter" / "provider.py").read_text(encoding="utf-8"))
PROVIDER_TYPE = "openaiassistant"


def adapter_class() -> ast.ClassDef:
    return next(n for n in ADAPTER.body if isinstance(n, ast.ClassDef) and n.name == "OpenaiassistantProvider")


def class_attribute(name: str) -> Any:
    for node in adapter_class().body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return node.value
    raise AssertionError(f"OpenaiassistantProvider.{name} not found")


def datatype(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = args[0] if args else annotation
    return {str: "string", bool: "boolean"}[base]


def test_names_keep_looks_up() -> None:
    assert SCHEMA["type"] == PROVIDER_TYPE
    assert SCHEMA["module"] == f"keep.providers.{PROVIDER_TYPE}_provider.{PROVIDER_TYPE}_provider"
    # Keep's factory: type.title().replace("_", "") + "Provider" / "ProviderAuthConfig".
    assert SCHEMA["provider_class"] == PROVIDER_TYPE.title() + "Provider"
    assert SCHEMA["auth_config_class"] == PROVIDER_TYPE.title() + "ProviderAuthConfig"
    assert OpenaiassistantProviderAuthConfig.__name__ == SCHEMA["auth_config_class"]
    assert adapter_class().name == SCHEMA["provider_class"]


def test_display_name_and_category_match_the_adapter() -> None:
    assert ast.literal_eval(class_attribute("PROVIDER_DISPLAY_NAME")) == SCHEMA["display_name"] == "OpenAI Assistant"
    assert ast.literal_eval(class_attribute("PROVIDER_CATEGORY")) == SCHEMA["category"] == ["AI"]


def test_scopes_match_the_adapter() -> None:
    scopes = {}
    for call in class_attribute("PROVIDER_SCOPES").elts:
        kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        scopes[kw["name"]] = {"mandatory": kw["mandatory"], "description": kw["description"]}
    assert scopes == SCHEMA["scopes"]


def test_authentication_is_the_install_form() -> None:
    hints = typing.get_type_hints(OpenaiassistantProviderAuthConfig)
    expected = {}
    for name, meta in form_fields().items():
        expected[name] = {"datatype": datatype(hints[name]), **meta}
    assert SCHEMA["authentication"] == expected
    assert list(SCHEMA["authentication"]) == [f.name for f in dataclasses.fields(OpenaiassistantProviderAuthConfig)]


def test_parameters_are_params_py() -> None:
    expected = {}
    for p in params.PARAMETERS:
        entry: dict[str, Any] = {"type": p.type, "required": p.required, "sensitive": p.sensitive}
        if p.default is not None:
            entry["default"] = p.default
        entry["description"] = p.description
        expected[p.name] = entry
    assert SCHEMA["parameters"] == expected
    assert list(SCHEMA["parameters"]) == list(params.NAMES)


def test_query_signature_is_params_py() -> None:
    query = next(n for n in adapter_class().body if isinstance(n, ast.FunctionDef) and n.name == "_query")
    args = query.args
    assert [a.arg for a in args.args] == ["self"] and args.vararg is None
    names = [a.arg for a in args.kwonlyargs]
    assert tuple(names) == params.NAMES, "every parameter explicit (Keep passes keywords), in the contract's order"
    assert args.kwarg is not None, "a trailing **kwargs takes the keys Keep itself leaves in with:"
    assert None not in args.kw_defaults
    defaults = {a.arg: ast.literal_eval(d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d}
    # Even the required prompt has a default (None): a step without one must reach _query and
    # fail there with a message naming it, not as a TypeError from the call.
    assert tuple(defaults) == params.NAMES
    for p in params.PARAMETERS:
        assert defaults[p.name] == p.default, p.name


def test_docs_list_every_step_parameter() -> None:
    text = (ROOT / "docs" / "keep.md").read_text(encoding="utf-8")
    sentence = re.search(r"^Step parameters \(`with:`\): (.*?)\n\n", text, flags=re.M | re.S)
    assert sentence, "docs/keep.md lists the step parameters in one paragraph"
    listed = dict.fromkeys(n for n in re.findall(r"`([a-z_]+)`", sentence.group(1)) if n in params.NAMES)
    assert list(listed) == list(params.NAMES), "every parameter, in the contract's order"


def test_the_history_parameter_is_described_everywhere() -> None:
    assert SCHEMA["parameters"]["history"]["default"] == params.BY_NAME["history"].default == "full"


def test_results_are_the_step_result_keys() -> None:
    result = AskResult(
        text="t", response="t", thread_id="thread_1", run_id="run_1", status="completed", backend="assistants"
    )
    assert list(SCHEMA["results"]) == list(result.to_dict())


def test_result_has_the_contract_keys() -> None:
    for key in ("response", "raw_response", "thread_id", "run_id", "status", "messages", "usage", "citations", "files"):
        assert key in SCHEMA["results"]


# -- workflow examples and docs snippets --------------------------------------------------------


def _workflow_documents() -> Iterator[tuple[str, Any]]:
    for path in sorted((ROOT / "examples" / "workflows").glob("*.y*ml")):
        yield str(path.relative_to(ROOT)), yaml.safe_load(path.read_text(encoding="utf-8"))
    for path in sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md"]):
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        for i, block in enumerate(re.findall(r"```ya?ml\n(.*?)```", text, flags=re.S)):
            if PROVIDER_TYPE not in block:
                continue
            yield f"{path.relative_to(ROOT)} (yaml block {i + 1})", yaml.safe_load(block)


def _our_steps(node: Any) -> Iterator[dict[str, Any]]:
    """Every step or action, anywhere in a document, whose provider type is ours."""
    if isinstance(node, dict):
        provider = node.get("provider")
        if isinstance(provider, dict) and provider.get("type") == PROVIDER_TYPE:
            yield provider
        for value in node.values():
            yield from _our_steps(value)
    elif isinstance(node, list):
        for item in node:
            yield from _our_steps(item)


def _cases() -> list[Any]:
    return [pytest.param(doc, id=where) for where, doc in _workflow_documents()]


@pytest.mark.parametrize(
    "document", _cases() or [pytest.param(None, marks=pytest.mark.skip(reason="no examples or docs snippets yet"))]
)
def test_every_with_key_is_a_known_parameter(document: Any) -> None:
    allowed = set(params.NAMES) | params.KEEP_INTERNAL_KEYS
    for provider in _our_steps(document):
        with_ = provider.get("with") or {}
        unknown = sorted(set(with_) - allowed)
        assert not unknown, f"unknown `with:` keys {unknown}; the parameters are {params.NAMES}"
        # An approval step goes on where the run stopped: it needs no prompt.
        assert "prompt" in with_ or "approve" in with_, "prompt is required"


def test_the_walker_finds_steps_in_a_snippet() -> None:
    snippet = yaml.safe_load(
        "steps:\n  - name: a\n    provider:\n      type: openaiassistant\n"
        "      with:\n        prompt: hi\n        modle: x\n"
    )
    found = list(_our_steps(snippet))
    assert found and set(found[0]["with"]) == {"prompt", "modle"}
