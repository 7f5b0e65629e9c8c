"""The Keep provider-query source of the step's tools: a Keep provider's ``query``, built as a step builds it.

How a workflow step gets its provider (keep/parser/parser.py, the same in keephq 0.2.7 and current
Keep): the parser loads every provider config it knows into ``context_manager.providers_context``,
by name — providers.yaml (``KEEP_PROVIDERS_FILE``), the workflow's ``providers:``, env
``KEEP_PROVIDERS`` / ``KEEP_PROVIDER_<NAME>``, then the tenant's installed providers from the DB
(by id and by name). A step's ``config: "{{ providers.NAME }}"`` is looked up there (an unknown
name: an empty config) and ``ProvidersFactory.get_provider(context_manager, NAME, TYPE, config)``
builds it; the step then calls ``provider.query(**with)``.

This does exactly that with the step's own context manager (the provider's ``self.context_manager``,
filled by the parser for this workflow run), so a tool uses Keep's credentials, rendered by Keep,
and nothing is copied or stored here. Only ``query`` is ever called, never ``notify``. A name
Keep does not know is the model's error (no empty config is tried: that would be a confusing
failure of the provider itself).

The call runs in one of the dispatcher's threads, bounded there: a provider's ``query`` cannot be
interrupted, so one that overruns its bound is abandoned (its output is dropped) and finishes on
its own.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from keep.contextmanager.contextmanager import ContextManager
from keep.providers.providers_factory import ProvidersFactory

from ..tools import ProviderSource, ToolFailure


class KeepProviderRunner:
    """The :class:`~keep_openaiassistant.tools.ProviderRunner` of one step: its context manager."""

    def __init__(self, context_manager: ContextManager, *, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        self.context_manager = context_manager
        self.logger = logger

    def __call__(self, source: ProviderSource, with_: dict[str, Any], *, timeout: float) -> Any:
        provider_id, config = self._config(source)
        try:
            provider = ProvidersFactory.get_provider(self.context_manager, provider_id, source.type, config)
        except Exception as exc:  # noqa: BLE001 -- the model is told; the step goes on
            raise ToolFailure(
                f"Keep could not build provider {provider_id} of type {source.type}: {type(exc).__name__}: "
                f"{_clip(str(exc))}"
            ) from None
        self.logger.info(
            "Tool call: Keep provider query",
            extra={"tool_provider_id": provider_id, "tool_provider_type": source.type, "keys": sorted(with_)},
        )
        try:
            return provider.query(**with_)
        finally:
            try:
                provider.dispose()
            except Exception:  # noqa: BLE001 -- disposing is best effort, the answer is in hand
                self.logger.debug("disposing a tool's provider failed", extra={"tool_provider_id": provider_id})

    def _config(self, source: ProviderSource) -> tuple[str, dict[str, Any]]:
        if source.config is not None:
            return source.type, copy.deepcopy(dict(source.config))
        if source.config_name is None:
            return source.type, {"authentication": {}}
        known = getattr(self.context_manager, "providers_context", None) or {}
        config = known.get(source.config_name)
        if not config:
            raise ToolFailure(
                f"no provider named {source.config_name!r} is known to Keep for this workflow (installed for the "
                "tenant, in providers.yaml or KEEP_PROVIDERS)"
            )
        # Keep's factory may write a changed config back to its secret manager: hand it a copy.
        return source.config_name, copy.deepcopy(dict(config))


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
