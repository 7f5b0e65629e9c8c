"""keep-openaiassistant: an OpenAI Assistant provider for Keep, its engine and a local emulator.

The engine (:class:`Assistant`) imports no Keep code. Everything that imports Keep is in
:mod:`keep_openaiassistant.keep_adapter` (the provider class, ``ask --via keep``, ``doctor``);
the provider classes below are imported from there only when asked for, which needs Keep.
"""

from __future__ import annotations

from typing import Any

from .engine import Assistant
from .errors import AssistantError
from .question import Question
from .results import AskResult, Citation, Message, Usage
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "AskResult",
    "Assistant",
    "AssistantError",
    "Citation",
    "Message",
    "Question",
    "Settings",
    "Usage",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # The Keep classes need Keep: import them only when asked for. OpenaiAssistantProvider is an
    # alias for Python code; Keep itself only ever sees OpenaiassistantProvider (see contract).
    if name in ("OpenaiassistantProvider", "OpenaiAssistantProvider", "OpenaiassistantProviderAuthConfig"):
        from .keep_adapter import provider as keep_provider

        return getattr(keep_provider, "OpenaiassistantProvider" if name == "OpenaiAssistantProvider" else name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
