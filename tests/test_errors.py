"""The exception tree: drawn in errors.py's docstring, every class in it, context as attributes."""

from __future__ import annotations

import inspect
import re

import pytest

from keep_openaiassistant import errors

CLASSES = {
    name: cls
    for name, cls in vars(errors).items()
    if inspect.isclass(cls) and issubclass(cls, Exception) and cls.__module__ == errors.__name__
}


def drawn_tree() -> dict[str, str | None]:
    """{class name: its parent} as the module docstring draws the tree."""
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        found = re.match(r"^(\s*(?:[│ ]   )*)([├└]── )?([A-Z]\w+)\b", line)
        if not found or found.group(3) not in CLASSES:
            continue
        depth = len(found.group(1)) // 4 - 1 + (1 if found.group(2) else 0)
        del path[depth:]
        parents[found.group(3)] = path[-1] if path else None
        path.append(found.group(3))
    return parents


def test_every_error_class_is_drawn_in_the_tree_under_its_base() -> None:
    drawn = drawn_tree()
    assert set(drawn) == set(CLASSES)
    for name, parent in drawn.items():
        expected = None if name == "AssistantError" else CLASSES[name].__bases__[0].__name__
        assert parent == expected, f"{name} is drawn under {parent}, but its base is {expected}"


def test_every_error_is_an_assistant_error() -> None:
    for cls in CLASSES.values():
        assert issubclass(cls, errors.AssistantError), cls


def test_every_class_says_when_it_is_raised() -> None:
    for name, cls in CLASSES.items():
        assert cls.__doc__ and len(cls.__doc__.strip()) > 20, name


def test_ids_and_context_are_attributes_and_where_names_them() -> None:
    error = errors.RateLimitError(
        "slow down.", status_code=429, code="rate_limit_exceeded", retry_after=8.0, thread_id="thread_1", run_id="run_1"
    )
    assert (error.status_code, error.code, error.retry_after) == (429, "rate_limit_exceeded", 8.0)
    assert error.where() == " (thread thread_1, run run_1)"
    assert str(error) == error.message == "slow down."


def test_connection_failures_tell_whether_the_server_got_the_request() -> None:
    refused = errors.ConnectionFailedError("refused.", reached_server=False)
    silent = errors.ConnectionFailedError("silent.", timed_out=True)
    assert not refused.reached_server and not refused.timed_out
    assert silent.reached_server and silent.timed_out


@pytest.mark.parametrize("kind", ["object", "url", "route"])
def test_not_found_errors_carry_their_kind(kind: str) -> None:
    error = errors.NotFoundError("gone.", status_code=404)
    assert error.kind == "object"  # the default: the API says the id does not exist
    error.kind = kind
    assert error.kind == kind


def test_an_interrupt_says_whether_the_run_was_cancelled() -> None:
    error = errors.AskInterrupted("Interrupted.", cancelled=True, thread_id="thread_1", run_id="run_1")
    assert error.cancelled and error.run_id == "run_1"


def test_a_format_error_keeps_the_answer_and_the_first_violation() -> None:
    error = errors.ResponseFormatError("no.", text='{"a": 0}', violation="a: 0 is less than 10")
    assert error.text == '{"a": 0}' and error.violation == "a: 0 is less than 10"
