"""The implementations under test, each behind one tiny interface: ``ask(prompt, thread_id)``.

Runs inside a worker process (any virtualenv). Every implementation holds ONE SDK client (one
connection pool) for its whole life, as a Keep provider instance would; each ``ask`` returns
the thread (Assistants) or conversation (Responses) id so the next ask can continue it.

- ``provider``: this project, through Keep's provider class when Keep is importable, else the
  engine (:class:`keep_openaiassistant.Assistant`) that the provider class wraps.
- ``engine``: that engine alone, on the runtime of the baselines (the newest SDK), so that the
  provider's figures can be told apart from its runtime's (Keep pins openai 1.37.1).
- ``seed``: the original design (docs/benchmarks.md): get or create the thread, add the
  message, create the run, poll its status every 1 s, list the messages — with the SDK's typed
  beta methods. For Responses, the same design ported: get or create the conversation, create
  a background response, poll it every 1 s.
- ``sdk``: the SDK's own helpers: ``threads.create_and_run_poll`` / ``runs.create_and_poll``
  (with ``additional_messages``) then ``messages.list(run_id=...)``; for Responses a blocking
  (non-background) ``responses.create`` on the conversation.
- ``langchain``: langchain-classic's ``OpenAIAssistantRunnable`` (Assistants only).
- ``raw``: the minimal raw streamed client (:mod:`bench.raw`): one POST with ``stream: true``,
  the SSE lines, the completed message; the floor of this provider's CPU target.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import openai

API_KEY = "sk-emulator-bench"
ASSISTANT_ID = "asst_emulator"
MODEL = "gpt-5.4-mini"
SEED_POLL_INTERVAL = 1.0

warnings.filterwarnings("ignore", category=DeprecationWarning)


class NotAvailable(Exception):
    """This implementation cannot run here (missing package or SDK resource); the message says why."""


@dataclass(frozen=True)
class Answer:
    thread_id: str
    text: str


class Impl(Protocol):
    via: str

    def ask(self, prompt: str, thread_id: str | None) -> Answer: ...

    def close(self) -> None: ...


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=API_KEY, base_url=base_url)


class _OnOneClient:
    """The baselines' common part: one SDK client for the implementation's whole life."""

    via = ""

    def __init__(self, base_url: str) -> None:
        self.client = _client(base_url)

    def close(self) -> None:
        self.client.close()


class EngineProvider:
    """The engine directly: what the Keep provider class delegates every query to."""

    def __init__(self, backend: str, base_url: str, *, why: str = "Keep not importable here") -> None:
        from keep_openaiassistant import Assistant, Settings

        if backend == "assistants":
            settings = Settings(api_key=API_KEY, base_url=base_url, api=backend, assistant_id=ASSISTANT_ID)
        else:
            settings = Settings(api_key=API_KEY, base_url=base_url, api=backend, model=MODEL)
        self._assistant = Assistant(settings)
        self.via = f"engine (keep_openaiassistant.Assistant; {why})"

    def ask(self, prompt: str, thread_id: str | None) -> Answer:
        result = self._assistant.ask(prompt, thread_id=thread_id)
        return Answer(result.thread_id, result.text)

    def close(self) -> None:
        self._assistant.close()


class KeepProvider:
    """Keep's provider class as a workflow step would call it: ``provider.query(**with)``."""

    def __init__(self, backend: str, base_url: str) -> None:
        from keep.contextmanager.contextmanager import ContextManager  # type: ignore[import-untyped, import-not-found, unused-ignore]
        from keep.providers.models.provider_config import ProviderConfig  # type: ignore[import-untyped, import-not-found, unused-ignore]

        # The package's public name for the Keep class, wherever the adapter module lives (it
        # moved in the core redesign; --compare-ref runs revisions from before and after).
        from keep_openaiassistant import OpenaiassistantProvider

        auth: dict[str, Any] = {"api_key": API_KEY, "base_url": base_url, "api": backend}
        auth.update({"assistant_id": ASSISTANT_ID} if backend == "assistants" else {"model": MODEL})
        context = ContextManager(tenant_id="singletenant", workflow_id="bench")
        config = ProviderConfig(authentication=auth, name="bench")
        self._provider = OpenaiassistantProvider(context, "bench", config)
        self.via = "Keep provider class (OpenaiassistantProvider.query)"

    def ask(self, prompt: str, thread_id: str | None) -> Answer:
        params: dict[str, Any] = {"prompt": prompt}
        if thread_id:
            params["thread_id"] = thread_id
        result = self._provider.query(**params)
        return Answer(str(result["thread_id"]), str(result.get("raw_response", "")))

    def close(self) -> None:
        self._provider.dispose()


def make_provider(backend: str, base_url: str) -> Impl:
    try:
        import keep.providers.base.base_provider  # type: ignore[import-untyped, import-not-found, unused-ignore]  # noqa: F401
    except ImportError:
        return EngineProvider(backend, base_url)
    return KeepProvider(backend, base_url)


class SeedAssistants(_OnOneClient):
    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.via = f"openai {openai.__version__} typed beta methods, status poll every {SEED_POLL_INTERVAL:g} s"

    def ask(self, prompt: str, thread_id: str | None) -> Answer:
        threads = self.client.beta.threads
        thread = threads.retrieve(thread_id) if thread_id else threads.create()
        threads.messages.create(thread.id, role="user", content=prompt)
        run = threads.runs.create(thread.id, assistant_id=ASSISTANT_ID)
        while True:
            run = threads.runs.retrieve(run.id, thread_id=thread.id)
            if run.status == "completed":
                break
            if run.status in ("failed", "cancelled", "expired", "incomplete", "requires_action"):
                raise RuntimeError(f"run ended {run.status}")
            time.sleep(SEED_POLL_INTERVAL)
        # The seed iterated the whole (auto-paginated) list; it then took [-1] of the assistant
        # messages, which in the default newest-first order is the OLDEST answer. We keep its
        # requests and take the newest, so that the answer is right.
        answers = [m for m in threads.messages.list(thread_id=thread.id) if m.role == "assistant"]
        return Answer(thread.id, _text(answers[0].content))


class SeedResponses(_OnOneClient):
    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        _require(self.client, "responses", "conversations")
        self.via = (
            f"openai {openai.__version__}: conversation get/create, background response, "
            f"poll every {SEED_POLL_INTERVAL:g} s"
        )

    def ask(self, prompt: str, thread_id: str | None) -> Answer:
        c = self.client
        conversation = c.conversations.retrieve(thread_id) if thread_id else c.conversations.create()
        response = c.responses.create(model=MODEL, input=prompt, conversation=conversation.id, background=True)
        while True:  # the seed's loop: read the status first, sleep only while it is not final
            response = c.responses.retrieve(response.id)
            if response.status not in ("queued", "in_progress"):
                break
            time.sleep(SEED_POLL_INTERVAL)
        if response.status != "completed":
            raise RuntimeError(f"response ended {response.status}")
        return Answer(conversation.id, response.output_text)


class SdkAssistants(_OnOneClient):
    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.via = f"openai {openai.__version__} create_and_run_poll / runs.create_and_poll + messages.list(run_id)"

    def ask(self, prompt: str, thread_id: str | None) -> Answer:
        threads = self.client.beta.threads
        message: Any = {"role": "user", "content": prompt}  # the SDK's TypedDicts differ between releases
        if thread_id:
            run = threads.runs.create_and_poll(
                thread_id=thread_id, assistant_id=ASSISTANT_ID, additional_messages=[message]
            )
        else:
            run = threads.create_and_run_poll(assistant_id=ASSISTANT_ID, thread={"messages": [message]})
        if run.status != "completed":
            raise RuntimeError(f"run ended {run.status}")
        page = threads.messages.list(thread_id=run.thread_id, run_id=run.id)
        return Answer(run.thread_id, _text(page.data[0].content))


class SdkResponses(_OnOneClient):
    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        _require(self.client, "responses", "conversations")
        self.via = f"openai {openai.__version__} responses.create (blocking) on a conversation"

    def ask(self, prompt: str, thread_id: str | None) -> Answer:
        conversation = thread_id or self.client.conversations.create().id
        response = self.client.responses.create(model=MODEL, input=prompt, conversation=conversation)
        if response.status != "completed":
            raise RuntimeError(f"response ended {response.status}")
        return Answer(conversation, response.output_text)


class LangChainAssistants:
    def __init__(self, base_url: str) -> None:
        try:
            from langchain_classic import __version__ as lc_version  # type: ignore[import-not-found, unused-ignore]
            from langchain_classic.agents import openai_assistant  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise NotAvailable(f"langchain-classic is not installed in this virtualenv ({exc})") from exc
        self._runnable = openai_assistant.OpenAIAssistantRunnable(assistant_id=ASSISTANT_ID, client=_client(base_url))
        self.via = f"langchain-classic {lc_version} OpenAIAssistantRunnable.invoke, openai {openai.__version__}"

    def ask(self, prompt: str, thread_id: str | None) -> Answer:
        payload: dict[str, Any] = {"content": prompt}
        if thread_id:
            payload["thread_id"] = thread_id
        messages = self._runnable.invoke(payload)
        return Answer(messages[-1].thread_id, _text(messages[-1].content))

    def close(self) -> None:
        self._runnable.client.close()


def _text(content: Any) -> str:
    return "".join(part.text.value for part in content if getattr(part, "type", "") == "text")


def _require(client: openai.OpenAI, *resources: str) -> None:
    missing = [r for r in resources if not hasattr(client, r)]
    if missing:
        raise NotAvailable(
            f"openai {openai.__version__} has no client.{'/'.join(missing)} (Responses: 1.66+, Conversations: 1.101+)"
        )


def make(name: str, backend: str, base_url: str) -> Impl:
    """Build implementation ``name`` for ``backend``; NotAvailable says why it cannot run here."""
    if name in ("provider", "provider-polling"):
        return make_provider(backend, base_url)
    if name == "engine":
        return EngineProvider(backend, base_url, why="the engine alone, on this runtime's SDK")
    if name == "raw":
        from .raw import RawAssistants, RawResponses

        return RawAssistants(base_url) if backend == "assistants" else RawResponses(base_url)
    table: dict[tuple[str, str], Any] = {
        ("seed", "assistants"): SeedAssistants,
        ("seed", "responses"): SeedResponses,
        ("sdk", "assistants"): SdkAssistants,
        ("sdk", "responses"): SdkResponses,
        ("langchain", "assistants"): LangChainAssistants,
    }
    factory = table.get((name, backend))
    if factory is None:
        raise NotAvailable(f"{name} has no {backend} implementation")
    impl: Impl = factory(base_url)
    return impl
