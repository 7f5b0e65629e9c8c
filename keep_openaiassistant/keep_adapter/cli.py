"""``ask --via keep``: one step through Keep's own provider class, as Keep's provider smoke blocks do.

A ContextManager, a ProviderConfig built from the CLI's install form, ``provider.query(**step)``.
Keep's exceptions are translated back into the engine's tree (:mod:`keep_openaiassistant.errors`),
so the command line handles one set of errors whichever path asked: a misconfigured provider is a
ConfigurationError, a failed step the engine error behind it (``AskInterrupted`` included).
Keep is imported when asking, not with this module.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from typing import Any

from ..errors import AskInterrupted, AssistantError, ConfigurationError

__all__ = ["CLI_PROVIDER_ID", "KeepNotImportable", "ask"]

CLI_PROVIDER_ID = "openaiassistant_cli"


class KeepNotImportable(Exception):
    """Keep is on disk but one of its imports fails; the message names the missing piece."""


def ask(authentication: Mapping[str, Any], step: Mapping[str, Any]) -> dict[str, Any]:
    """The step result Keep would store, or an error of the engine's tree (never Keep's)."""
    with warnings.catch_warnings():
        # Keep's config warns on import when its optional keep/.env is absent: noise here.
        warnings.filterwarnings("ignore", message=r"Config file .* not found", category=UserWarning)
        try:
            from keep.contextmanager.contextmanager import ContextManager
            from keep.providers.models.provider_config import ProviderConfig

            from .provider import OpenaiassistantConfigError, OpenaiassistantProvider, OpenaiassistantProviderError
        except ImportError as exc:
            raise KeepNotImportable(f"Keep is installed but does not import ({exc}); use --via engine.") from None

    cm_kwargs: dict[str, Any] = {"tenant_id": "singletenant", "workflow_id": "keep-openaiassistant-cli"}
    if "load_state" in inspect.signature(ContextManager).parameters:
        cm_kwargs["load_state"] = False  # Keep <= 0.2 would create a state file in the working directory
    try:
        provider = OpenaiassistantProvider(
            context_manager=ContextManager(**cm_kwargs),
            provider_id=CLI_PROVIDER_ID,
            config=ProviderConfig(authentication=dict(authentication), description="keep-openaiassistant ask"),
        )
    except OpenaiassistantConfigError as exc:
        raise ConfigurationError(exc.reason, field=exc.field) from None  # the command names no provider
    except Exception as exc:  # Keep's own machinery failed before the provider existed
        raise _keep_failed(exc) from exc
    try:
        result: dict[str, Any] = provider.query(**step)
        return result
    except OpenaiassistantProviderError as exc:
        raise _engine_error(exc) from None
    except Exception as exc:
        raise _keep_failed(exc) from exc
    finally:
        provider.dispose()


def _keep_failed(exc: Exception) -> AssistantError:
    return AssistantError(
        f"Keep raised {type(exc).__name__}: {exc}. Run with -v to see Keep's log, "
        "or ask with --via engine to leave Keep out."
    )


def _engine_error(exc: Any) -> AssistantError:
    """The engine error a step's ProviderException carries (it is raised ``from`` it)."""
    cause = exc.__cause__
    if isinstance(cause, AssistantError):
        return cause
    if exc.kind == "AskInterrupted":
        return AskInterrupted(str(exc), cancelled=False, thread_id=exc.thread_id, run_id=exc.run_id)
    return AssistantError(str(exc), thread_id=exc.thread_id, run_id=exc.run_id)
