"""The Keep provider: Keep's ``BaseProvider`` around the engine.

Keep imports it as ``keep.providers.openaiassistant_provider.openaiassistant_provider`` (a thin
re-export the wheel installs into Keep's providers folder, see :mod:`.shim`). It does four
things and no more: validate the install form into engine Settings without any request, build
one engine per provider instance lazily, coerce a step's ``with:`` values, and map every engine
error to Keep's ``ProviderException`` with the engine's message (which already says what
happened, where, and what to do).

One instance serves every ``foreach`` item and may serve several workflow threads at once: the
engine is shared (one SDK client), and what belongs to one ask (the thread ``expose()``
reports) is kept per thread, never on the instance.

Works with Keep 0.2.7 (Dec 2023, the last on PyPI) up to the current 0.54: it relies only on
the constructor, ``self.logger``, ``query()`` calling ``_query(**with)``, ``ProviderConfig``,
``ProviderScope`` and the two exception classes, all unchanged across those versions.
"""

from __future__ import annotations

import importlib.metadata
import threading
import time
from typing import Any, ClassVar

from keep.contextmanager.contextmanager import ContextManager
from keep.exceptions.provider_config_exception import ProviderConfigException
from keep.exceptions.provider_exception import ProviderException
from keep.providers.base.base_provider import BaseProvider
from keep.providers.models.provider_config import ProviderConfig, ProviderScope

from .. import params
from ..auth_config import OpenaiassistantProviderAuthConfig, build_auth_config, ignored_fields, to_settings
from ..engine import Assistant
from ..errors import AssistantError, ConfigurationError
from ..settings import Settings
from .tools import KeepProviderRunner

__all__ = [
    "OpenaiassistantConfigError",
    "OpenaiassistantProvider",
    "OpenaiassistantProviderAuthConfig",
    "OpenaiassistantProviderError",
]

DISTRIBUTION = "keep-openaiassistant"


def _installed_version() -> str:
    """The installed distribution's version (Keep only ever runs an installed copy).

    Read from the package metadata rather than ``keep_openaiassistant.__version__``: the package
    root re-exports this module's class, and importing the root from here would make the two
    import each other.
    """
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


VERSION = _installed_version()


class OpenaiassistantProviderError(ProviderException):  # type: ignore[misc]  # Keep is untyped
    """A step failed. ``str()`` is the engine's message; the ids and the cause are attributes."""

    def __init__(
        self, message: str, *, thread_id: str | None = None, run_id: str | None = None, kind: str = ""
    ) -> None:
        super().__init__(message)
        self.thread_id = thread_id
        self.run_id = run_id
        self.kind = kind


class OpenaiassistantConfigError(ProviderConfigException, ProviderException):  # type: ignore[misc]
    """The install form cannot work. Both Keep exception types, so either ``except`` catches it."""

    def __init__(self, message: str, provider_id: str, *, field: str | None = None, reason: str = "") -> None:
        super().__init__(message, provider_id)
        self.field = field
        self.reason = reason or message  # what is wrong, without the provider's name


class OpenaiassistantProvider(BaseProvider):  # type: ignore[misc]
    """Ask your on-call team's own OpenAI assistant — with your runbooks as its knowledge base,
    a thread that remembers the incident, code interpreter and your functions — from a workflow
    step. Uses the Assistants API (an existing asst_... assistant) or the Responses API (a model
    and instructions); point the base URL at `keep-openaiassistant emulator` to try it offline.
    """

    PROVIDER_DISPLAY_NAME = "OpenAI Assistant"
    PROVIDER_CATEGORY: ClassVar[list[str]] = ["AI"]
    PROVIDER_TAGS: ClassVar[list[str]] = ["data"]
    PROVIDER_DOCS_SLUG = "openaiassistant"
    PROVIDER_SCOPES: ClassVar[list[Any]] = [
        ProviderScope(
            name="authenticated",
            description="The API key (with its organization and project) is accepted by the server.",
            mandatory=True,
            alias="Authenticated",
        ),
        ProviderScope(
            name="assistant",
            description="The assistant answers: the assistant ID exists (Assistants API) or the "
            "model profile is usable (Responses API).",
            mandatory=True,
            alias="Assistant reachable",
        ),
    ]

    def __init__(self, context_manager: ContextManager, provider_id: str, config: ProviderConfig) -> None:
        # Set before super().__init__, which calls validate_config().
        self._engine: Assistant | None = None
        self._engine_lock = threading.Lock()
        # Per ask, so per thread: Keep calls query() then expose() in the thread that runs the
        # step, and one instance may run in several threads at once.
        self._ask_state = threading.local()
        super().__init__(context_manager, provider_id, config)

    # -- configuration --------------------------------------------------------------------

    def validate_config(self) -> None:
        """Form -> Settings, checked with no request. Never mutates ``config.authentication``."""
        try:
            self.authentication_config = build_auth_config(self.config.authentication)
            settings = to_settings(self.authentication_config)
            settings.check()
        except ConfigurationError as exc:
            raise OpenaiassistantConfigError(
                f"Provider {self._name()} is misconfigured: {exc}", self.provider_id, field=exc.field, reason=str(exc)
            ) from None
        self.settings: Settings = settings
        ignored = ignored_fields(self.config.authentication)
        if ignored:
            self.logger.warning(
                "Ignoring authentication keys that are not fields of this provider",
                extra={"provider_id": self.provider_id, "ignored": ignored},
            )

    def _name(self) -> str:
        """The provider's name as the operator typed it, where Keep passes it.

        Keep's install form (UI, ``POST /providers/install``) builds the provider with the type as
        ``provider_id`` and the name typed in the form as ``config.name``; a workflow's
        ``providers.NAME`` arrives as ``provider_id``. So: the config's name when there is one.
        """
        name = getattr(self.config, "name", None)
        if isinstance(name, str) and name.strip() and name.strip() != self.provider_id:
            return f"{name.strip()!r}"
        return str(self.provider_id)

    def _get_engine(self) -> Assistant:
        """One engine (one SDK client, one connection pool) per provider instance, built once.

        Keep builds the provider once per step and reuses it across ``foreach`` items, possibly
        from several threads: the lock keeps it to one client.
        """
        engine = self._engine
        if engine is None:
            with self._engine_lock:
                if self._engine is None:
                    self._engine = Assistant(self.settings)
                engine = self._engine
        return engine

    def validate_scopes(self) -> dict[str, bool | str]:
        """One cheap read (no thread, no run) answers both scopes; never raises, has no side effects."""
        try:
            checks = dict(self._get_engine().check_access())
        except Exception as exc:  # noqa: BLE001 -- never raise at install: report the reason on every scope
            reason = str(exc) if isinstance(exc, AssistantError) else f"could not check: {type(exc).__name__}: {exc}"
            return {scope.name: reason for scope in self.PROVIDER_SCOPES}
        result: dict[str, bool | str] = {}
        for scope in self.PROVIDER_SCOPES:
            result[scope.name] = checks.pop(scope.name, f"not checked by the {self.settings.backend} backend")
        result.update(checks)
        self.logger.info(
            "Validated scopes",
            extra={
                "provider_id": self.provider_id,
                "backend": self.settings.backend,
                "scopes": {k: v is True for k, v in result.items()},
            },
        )
        return result

    def get_provider_metadata(self) -> dict[str, Any]:
        return {"package": "keep-openaiassistant", "version": VERSION, "backend": self.settings.backend}

    def dispose(self) -> None:
        with self._engine_lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()

    # -- the step ---------------------------------------------------------------------------

    def _query(
        self,
        *,
        prompt: str | None = None,
        thread_id: str | None = None,
        max_wait_time: float = 120,
        additional_instructions: str | None = None,
        parse_json: bool = True,
        structured_output_format: dict[str, Any] | str | None = None,
        tool_outputs: dict[str, Any] | str | None = None,
        history: str = "full",
        tools: list[Any] | dict[str, Any] | str | None = None,
        approve: dict[str, Any] | str | None = None,
        reasoning_effort: str | None = None,
        max_output_tokens: int | str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Ask the assistant; returns the contract's step result (plain JSON types).

        Every parameter is explicit (keyword-only: Keep passes ``with:`` as keywords) because
        Keep's workflow editor only offers those. ``prompt``
        is required, but has a default so that a step without one fails with a message naming
        it rather than a ``TypeError``. The trailing ``**kwargs`` takes the keys Keep itself
        leaves in ``with:`` (:data:`params.KEEP_INTERNAL_KEYS`); any other key fails the step
        with a suggestion, before any request.
        """
        self._ask_state.thread_id = None
        keep_keys = sorted(k for k in kwargs if k in params.KEEP_INTERNAL_KEYS)
        if keep_keys:
            self.logger.debug("Leaving Keep's own step keys to Keep", extra={"keys": keep_keys})
        started = time.monotonic()
        try:
            step = params.coerce_step(
                prompt=prompt,
                thread_id=thread_id,
                max_wait_time=max_wait_time,
                additional_instructions=additional_instructions,
                parse_json=parse_json,
                structured_output_format=structured_output_format,
                tool_outputs=tool_outputs,
                history=history,
                tools=tools,
                approve=approve,
                reasoning_effort=reasoning_effort,
                max_output_tokens=max_output_tokens,
                **kwargs,
            )
            self.logger.info(
                "Asking the assistant",
                extra={
                    "provider_id": self.provider_id,
                    "backend": self.settings.backend,
                    "thread_id": step["thread_id"],
                    "max_wait_time": step["max_wait_time"],
                },
            )
            runner = KeepProviderRunner(self.context_manager, logger=self.logger) if step["tools"] else None
            result = self._get_engine().ask(**step, provider_runner=runner)
        except AssistantError as exc:
            self._ask_state.thread_id = exc.thread_id
            self.logger.warning(
                "The assistant step failed",
                extra={
                    "provider_id": self.provider_id,
                    "error": type(exc).__name__,
                    "thread_id": exc.thread_id,
                    "run_id": exc.run_id,
                },
            )
            raise OpenaiassistantProviderError(
                str(exc), thread_id=exc.thread_id, run_id=exc.run_id, kind=type(exc).__name__
            ) from exc
        except Exception as exc:
            self.logger.exception("Unexpected error in the assistant step", extra={"provider_id": self.provider_id})
            raise OpenaiassistantProviderError(
                f"Unexpected {type(exc).__name__} in keep-openaiassistant {VERSION}: {exc}. "
                "This is a bug: please report it with the workflow's log.",
                kind=type(exc).__name__,
            ) from exc
        self._ask_state.thread_id = result.thread_id
        self.logger.info(
            "The assistant answered",
            extra={
                "provider_id": self.provider_id,
                "backend": result.backend,
                "thread_id": result.thread_id,
                "run_id": result.run_id,
                "status": result.status,
                "total_tokens": result.usage.total_tokens,
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return result.to_dict()

    def expose(self) -> dict[str, Any]:
        """``steps.<name>.provider_parameters.thread_id``: the thread of this thread's last ask.

        Per thread: with several asks at once on one instance, each step sees its own thread.
        """
        return {"thread_id": getattr(self._ask_state, "thread_id", None)}
