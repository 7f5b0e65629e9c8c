"""Run endings, error classification and the shutdown advice of the Assistants engine, no sockets."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from keep_openaiassistant import errors
from keep_openaiassistant.backends.assistants_output import (
    busy_run_id,
    ended_error,
    is_openai_host,
    shutdown_error,
)
from keep_openaiassistant.backends.common import refuses_streaming


def bad_request(message: str, code: str | None = None) -> errors.InvalidRequestError:
    return errors.InvalidRequestError(message, status_code=400, code=code)


@pytest.mark.parametrize(
    "message",
    [
        "POST /threads/thread_1/runs answered HTTP 400: Thread thread_1 already has an active run run_abc123.",
        "POST /threads/thread_1/runs answered HTTP 400: "
        "Can't add messages to thread_1 while a run run_abc123 is active.",
    ],
)
def test_busy_thread_texts_name_the_other_run(message: str) -> None:
    assert busy_run_id(bad_request(message)) == "run_abc123"


def test_other_errors_are_not_a_busy_thread() -> None:
    assert busy_run_id(bad_request("Invalid 'content': string too long.")) is None
    assert busy_run_id(errors.ServerError("already has an active run run_x")) is None


def test_stream_refusal_is_recognised_by_code_or_wording() -> None:
    assert refuses_streaming(
        bad_request(
            "Streaming is not supported by this server: send the request without 'stream'.", "unsupported_parameter"
        )
    )
    assert refuses_streaming(bad_request("Unsupported parameter: 'stream'."))
    assert not refuses_streaming(bad_request("Invalid value for 'stream_options'.", "invalid_value"))
    assert not refuses_streaming(bad_request("Thread thread_1 already has an active run run_2."))


def run(status: str, **more: Any) -> dict[str, Any]:
    return {"id": "run_1", "thread_id": "thread_1", "status": status, **more}


def test_completed_run_is_no_error() -> None:
    assert ended_error(run("completed")) is None


def test_each_terminal_status_has_its_own_error_naming_the_ids() -> None:
    failed = ended_error(
        run("failed", last_error={"code": "rate_limit_exceeded", "message": "You exceeded your current quota"})
    )
    incomplete = ended_error(
        run("incomplete", incomplete_details={"reason": "max_completion_tokens"}), partial_text="half"
    )
    expired = ended_error(run("expired"))
    cancelled = ended_error(run("cancelled"))
    assert isinstance(failed, errors.RunFailedError) and failed.code == "rate_limit_exceeded" and "quota" in str(failed)
    assert (
        isinstance(incomplete, errors.RunIncompleteError)
        and incomplete.reason == "max_completion_tokens"
        and incomplete.partial_text == "half"
    )
    assert isinstance(expired, errors.RunExpiredError) and isinstance(cancelled, errors.RunCancelledError)
    for error in (failed, incomplete, expired, cancelled):
        assert error.thread_id == "thread_1" and error.run_id == "run_1"
        assert "thread_1" in str(error) and "run_1" in str(error) and "What to do" in str(error)


def test_shutdown_error_explains_the_switch_to_responses() -> None:
    cause = errors.NotFoundError(
        "GET /assistants/asst_1 answered HTTP 404", status_code=404, request_id="req_1", thread_id="thread_1"
    )
    error = shutdown_error(cause, assistant_id="asst_1")
    assert isinstance(error, errors.NotFoundError) and error.status_code == 404 and error.request_id == "req_1"
    for needle in (
        "2026-08-26",
        "asst_1",
        "thread_1",
        "api: responses",
        "`model`",
        "`instructions`",
        "`vector_store_ids`",
        "`code_interpreter`",
        "docs/migration.md",
    ):
        assert needle in str(error), needle


def test_only_openai_and_azure_openai_hosts_count_as_shut_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert is_openai_host(openai.OpenAI(api_key="sk-x"))
    assert is_openai_host(openai.OpenAI(api_key="sk-x", base_url="https://api.openai.com/v1"))
    assert not is_openai_host(openai.OpenAI(api_key="sk-x", base_url="http://127.0.0.1:8080/v1"))
    assert is_openai_host(openai.OpenAI(api_key="sk-x", base_url="https://myres.openai.azure.com/openai/v1"))
    assert not is_openai_host(openai.OpenAI(api_key="sk-x", base_url="https://myproxy.example.com/v1"))
