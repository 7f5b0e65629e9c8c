"""The minimal raw streamed client: the floor that this provider's CPU per answer is held to.

What the least code that gets an answer does, and nothing more: one ``POST`` with
``stream: true`` per answer, the SSE lines read to the end of the body (so the connection goes
back to the pool), the completed message's text taken from its one event. No SDK, no retries,
no validation, no history read back. It is written on the HTTP library that the runtime's
openai SDK is built on (httpx2 for openai 3.x, httpx before), so that the two differ by what
sits above the transport, not by the transport; one ``Client`` for the implementation's whole
life (one kept-alive connection when asked one question at a time), with the SDK's pool limits.

- Assistants: ``POST /threads/runs`` (new thread) or ``POST /threads/{id}/runs`` with
  ``additional_messages`` (continued); the text of the ``thread.message.completed`` event.
- Responses: ``POST /responses`` (new) or with ``previous_response_id`` (continued); the
  output text of the ``response.completed`` event. (This provider keeps a conversation instead,
  so that Keep can continue it by id and the step result lists its messages: one request more
  for a new question, and one for the items on a continued one.)
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import openai

from .impls import API_KEY, ASSISTANT_ID, MODEL, Answer


def http_library() -> ModuleType:
    """httpx2 under openai 3.x, httpx under 1.x and 2.x: the transport the SDK itself uses."""
    if int(openai.__version__.split(".")[0]) >= 3:
        import httpx2

        return httpx2
    import httpx

    return httpx


class _RawStream:
    """One client; ``_post`` streams one request and returns the data of the ``wanted`` event."""

    wanted = ""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        http = http_library()
        self._client = http.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {API_KEY}", **headers},
            # The SDK's own defaults (openai._constants), so that pools of the same size compare.
            timeout=http.Timeout(600.0, connect=5.0),
            limits=http.Limits(max_connections=1000, max_keepalive_connections=100),
        )
        self.via = f"{http.__name__} {http.__version__}: one POST stream=true per answer, SSE lines, no SDK"

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] | None = None
        event = ""
        with self._client.stream("POST", path, json={**body, "stream": True}) as reply:
            if reply.status_code != 200:
                reply.read()
                raise RuntimeError(f"HTTP {reply.status_code} from POST {path}: {reply.text[:200]}")
            for line in reply.iter_lines():  # to the end of the body: the connection is reused
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif event == self.wanted and found is None and line.startswith("data:"):
                    found = json.loads(line[5:])
        if found is None:
            raise RuntimeError(f"the stream of POST {path} ended without {self.wanted}")
        return found

    def close(self) -> None:
        self._client.close()


class RawAssistants(_RawStream):
    wanted = "thread.message.completed"

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, {"OpenAI-Beta": "assistants=v2"})

    def ask(self, prompt: str, thread_id: str | None) -> Answer:
        message = {"role": "user", "content": prompt}
        if thread_id:
            body = {"assistant_id": ASSISTANT_ID, "additional_messages": [message]}
            completed = self._post(f"/threads/{thread_id}/runs", body)
        else:
            completed = self._post("/threads/runs", {"assistant_id": ASSISTANT_ID, "thread": {"messages": [message]}})
        text = "".join(part["text"]["value"] for part in completed["content"] if part.get("type") == "text")
        return Answer(completed["thread_id"], text)


class RawResponses(_RawStream):
    wanted = "response.completed"

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, {})

    def ask(self, prompt: str, thread_id: str | None) -> Answer:
        body: dict[str, Any] = {"model": MODEL, "input": prompt}
        if thread_id:
            body["previous_response_id"] = thread_id
        response = self._post("/responses", body)["response"]
        text = "".join(
            part["text"]
            for item in response["output"]
            if item.get("type") == "message"
            for part in item["content"]
            if part.get("type") == "output_text"
        )
        return Answer(response["id"], text)
