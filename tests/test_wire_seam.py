"""The wire's edge cases over an HTTP seam, no server: respx on the httpx-based SDK (1.x/2.x),
httpx2's MockTransport on SDK 3.x. Each case is a reply no emulator sends on purpose."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from keep_openaiassistant import errors
from keep_openaiassistant.wire import ASSISTANTS_BETA, Wire

SDK_MAJOR = int(openai.__version__.split(".")[0])
KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
BASE = "http://seam.test/v1"

# (status, headers, body) for a request's method and path.
Handler = Callable[[str, str], tuple[int, dict[str, str], bytes]]


@pytest.fixture
def seam() -> Iterator[Callable[[Handler], Wire]]:
    """``seam(handler)`` -> a Wire whose every request is answered by ``handler``."""
    routers: list[Any] = []

    def make(handler: Handler, base_url: str = BASE) -> Wire:
        if SDK_MAJOR >= 3:
            httpx2 = importlib.import_module("httpx2")

            def answer(request: Any) -> Any:
                status, headers, body = handler(request.method, request.url.path)
                return httpx2.Response(status, headers=headers, content=body)

            http_client = httpx2.Client(transport=httpx2.MockTransport(answer))
        else:
            httpx = importlib.import_module("httpx")
            respx = pytest.importorskip("respx")

            def side_effect(request: Any) -> Any:
                status, headers, body = handler(request.method, request.url.path)
                return httpx.Response(status, headers=headers, content=body)

            router = respx.mock(assert_all_called=False)
            router.start()
            routers.append(router)
            router.route().mock(side_effect=side_effect)
            http_client = httpx.Client()
        client = openai.OpenAI(api_key=KEY, base_url=base_url, http_client=http_client, max_retries=0)
        return Wire(client, headers=ASSISTANTS_BETA)

    yield make
    for router in routers:
        router.stop()


def reply(status: int, body: bytes | str, content_type: str = "application/json", **headers: str) -> Handler:
    data = body.encode() if isinstance(body, str) else body
    return lambda method, path: (status, {"content-type": content_type, **headers}, data)


def no_double_stop(message: str) -> None:
    assert ".." not in message.replace("...", ""), message


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        ("<!doctype html><html><body>Sign in</body></html>", "text/html", "an HTML page"),
        ("", "application/json", "an empty body"),
        ("Service Unavailable", "text/plain", "text that is not JSON"),
        ("[1, 2, 3]", "application/json", "JSON that is an array"),
        (b"\xff\xfe{not utf-8}", "application/json", "not UTF-8"),
    ],
    ids=["html", "empty", "text", "list", "bad-utf8"],
)
def test_a_body_that_is_not_the_apis_is_a_malformed_response_error(
    seam: Callable[[Handler], Wire], body: str | bytes, content_type: str, says: str
) -> None:
    wire = seam(reply(200, body, content_type))
    with pytest.raises(errors.MalformedResponseError) as caught:
        wire.call("GET", "/assistants/asst_1")
    assert says in caught.value.message and "base_url" in caught.value.message
    no_double_stop(caught.value.message)


def test_json_nested_too_deep_for_the_parser_is_a_malformed_response(seam: Callable[[Handler], Wire]) -> None:
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    with pytest.raises(errors.MalformedResponseError, match="nested too deeply"):
        seam(reply(200, deep)).call("GET", "/assistants/asst_1")


def test_a_key_the_server_echoes_never_reaches_the_message(seam: Callable[[Handler], Wire]) -> None:
    echoed = (
        '{"error": {"message": "Incorrect API key provided: ' + KEY + " (or " + KEY[3:30] + ')", '
        '"type": "invalid_request_error", "code": "invalid_api_key"}}'
    )
    with pytest.raises(errors.AuthenticationError) as caught:
        seam(reply(401, echoed)).call("GET", "/assistants/asst_1")
    message = caught.value.message
    assert not any(KEY[i : i + 12] in message for i in range(len(KEY) - 11)), message
    assert "api_key" in message
    no_double_stop(message)


def test_a_404_for_a_missing_object_says_check_the_id(seam: Callable[[Handler], Wire]) -> None:
    body = '{"error": {"message": "No assistant found with id \'asst_nope\'.", "type": "invalid_request_error"}}'
    with pytest.raises(errors.NotFoundError) as caught:
        seam(reply(404, body)).call("GET", "/assistants/asst_nope")
    assert caught.value.kind == "object" and "check the id" in caught.value.message
    no_double_stop(caught.value.message)


def test_a_404_invalid_url_on_a_base_url_without_v1_says_add_v1(seam: Callable[..., Wire]) -> None:
    body = '{"error": {"message": "Invalid URL (GET /assistants/asst_1)", "type": "invalid_request_error"}}'
    wire = seam(reply(404, body), base_url="http://seam.test")
    with pytest.raises(errors.NotFoundError) as caught:
        wire.call("GET", "/assistants/asst_1")
    assert caught.value.kind == "url"
    assert "/v1" in caught.value.message and "check the id" not in caught.value.message


@pytest.mark.parametrize(
    ("body", "content_type"),
    [('{"detail": "Not Found"}', "application/json"), ("404 page not found", "text/plain")],
    ids=["fastapi", "plain"],
)
def test_a_404_that_is_not_the_apis_own_is_a_route_404(
    seam: Callable[[Handler], Wire], body: str, content_type: str
) -> None:
    with pytest.raises(errors.NotFoundError) as caught:
        seam(reply(404, body, content_type)).call("GET", "/assistants/asst_1")
    assert caught.value.kind == "route" and "does not serve this endpoint" in caught.value.message


def test_retry_after_is_read_into_the_error(seam: Callable[[Handler], Wire]) -> None:
    body = '{"error": {"message": "Rate limit reached.", "type": "requests", "code": "rate_limit_exceeded"}}'
    with pytest.raises(errors.RateLimitError) as caught:
        seam(reply(429, body, **{"retry-after": "8"})).call("POST", "/threads/runs", body={})
    assert caught.value.retry_after == 8.0


def test_insufficient_quota_is_told_apart_from_a_rate_limit(seam: Callable[[Handler], Wire]) -> None:
    body = '{"error": {"message": "You exceeded your current quota.", "code": "insufficient_quota"}}'
    with pytest.raises(errors.RateLimitError) as caught:
        seam(reply(429, body)).call("POST", "/responses", body={})
    assert "retrying will not help" in caught.value.message and "billing" in caught.value.message


def test_a_stream_answered_with_html_is_a_malformed_response(seam: Callable[[Handler], Wire]) -> None:
    stream = seam(reply(200, "<html><body>proxy</body></html>", "text/html")).stream("POST", "/threads/runs", body={})
    with pytest.raises(errors.MalformedResponseError, match="HTML page"):
        stream.json_body()


def test_a_stream_answered_with_the_plain_object_is_taken_as_json(seam: Callable[[Handler], Wire]) -> None:
    stream = seam(reply(200, '{"id": "run_1", "status": "queued"}')).stream("POST", "/threads/runs", body={})
    assert stream.json_body() == {"id": "run_1", "status": "queued"}
