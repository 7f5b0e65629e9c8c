"""A local emulator of OpenAI's Assistants API v2 and Responses + Conversations APIs.

Real HTTP and SSE on 127.0.0.1, real state, a deterministic model scripted by prompt tags
(see :mod:`.model`) and injectable HTTP faults. Used by the tests, the benchmarks and the
offline smoke test; users point a provider's ``base_url`` at it to try workflows for free.

    with Emulator(model_time=0.3) as emu:
        client = openai.OpenAI(api_key="sk-emulator", base_url=emu.base_url)
        emu.faults.add(r"POST /v1/threads/runs$", 429, count=2)
        emu.stats.snapshot()  # requests by route

The default assistant ``asst_emulator`` (:data:`DEFAULT_ASSISTANT_ID`, ``default_assistant_id``)
always exists. Like a real on-call assistant it has ``code_interpreter``, ``file_search`` and six
functions with JSON-schema parameters (:mod:`.oncall_tools`): ``get_logs``, ``get_metrics``,
``get_disk_usage``, ``lookup_owner``, ``page_oncall`` and ``recent_deploys``. A prompt's
``[[tool:NAME]]`` makes the model call NAME only when NAME is a function in force (the run's
``tools``, else its assistant's; a Response's request ``tools``), as a real model would.

The knowledge base (:mod:`.knowledge`): the Files and Vector stores APIs, and file search in runs
and responses that ranks the uploaded chunks and cites them. ``Emulator(knowledge="examples/runbooks")``
loads a folder into the default assistant's vector store (``vs_emulator_runbooks``) at start,
indexed; ``index_time`` is how long indexing an attached file takes on the clock (default 0.1 s).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from .common import DEFAULT_ASSISTANT_ID, Clock, EmulatorConfig
from .http import EmulatorHTTPServer, Faults, Router, Stats
from .oncall_tools import RUNBOOKS_VECTOR_STORE


class Emulator:
    """The server and both APIs, on one :class:`~.common.Clock` and one :class:`~.common.EmulatorConfig`.

    ``clock`` (seconds, monotonic) and ``sleep`` drive every run and response: inject them to move
    time in a test (``Emulator(clock=lambda: now[0])``). ``**config``: fields of ``EmulatorConfig``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: set[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        knowledge: str | os.PathLike[str] | None = None,
        index_time: float = 0.1,
        **config: Any,
    ) -> None:
        from .assistants_api import AssistantsApi
        from .control import ControlApi
        from .files_api import FilesApi
        from .knowledge import Knowledge, load_folder
        from .models_api import ModelsApi
        from .responses_api import ResponsesApi
        from .vector_stores_api import VectorStoresApi

        self.config = EmulatorConfig(**config)
        self.clock = Clock(clock, sleep)
        self.router = Router()
        self.assistants = AssistantsApi(self.config, self.clock)
        self.assistants.register(self.router)
        self.responses = ResponsesApi(self.config, self.clock)
        self.responses.register(self.router)
        self.knowledge = Knowledge(self.clock, index_time=index_time)
        FilesApi(self.knowledge).register(self.router)
        VectorStoresApi(self.knowledge).register(self.router)
        self.assistants.store.knowledge = self.knowledge  # file search in runs and responses
        self.responses.knowledge = self.knowledge
        if knowledge is not None:
            load_folder(self.knowledge, knowledge, RUNBOOKS_VECTOR_STORE)
        ModelsApi(self.config).register(self.router)  # GET /v1/models/{model}: the Responses access check
        self._server = EmulatorHTTPServer((host, port), self.router, api_keys=api_keys)
        ControlApi(self).install()  # /_emulator/* routes for tools in other processes
        self._thread: threading.Thread | None = None

    @property
    def faults(self) -> Faults:
        return self._server.faults

    @property
    def stats(self) -> Stats:
        return self._server.stats

    @property
    def server(self) -> EmulatorHTTPServer:
        return self._server

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> Emulator:
        # A short poll interval: stop() (shutdown) waits for it, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="openai-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["DEFAULT_ASSISTANT_ID", "RUNBOOKS_VECTOR_STORE", "Clock", "Emulator", "EmulatorConfig"]
