"""keep-openaiassistant: an OpenAI Assistant provider for Keep, its engine and a local emulator.

The engine (:class:`Assistant`) imports no Keep code; the Keep provider lives in
:mod:`keep_openaiassistant.keep_adapter.provider` and is only imported when Keep is installed.
"""

from __future__ import annotations

from typing import Any

from .engine import Assistant, Question
from .errors import AssistantError
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
    # The Keep classes need Keep: import them only when asked for.
    if name in ("OpenaiassistantProvider", "OpenaiAssistantProvider", "OpenaiassistantProviderAuthConfig"):
        from .keep_adapter import provider as keep_provider

        return getattr(keep_provider, "OpenaiassistantProvider" if name == "OpenaiAssistantProvider" else name)
    raise AttributeError(name)
