"""A step's tools: functions the assistant may call, answered by a value, an HTTP endpoint or a
Keep provider's query (see docs/tools.md).

Engine-side and pure of Keep: :mod:`.spec` parses and validates the declarations, :mod:`.sources`
holds the value/HTTP sources and the ``${args.NAME}`` placeholders, :mod:`.dispatch` answers a
round of calls, concurrently, each bounded, failures as data. The Keep provider-query source is
``keep_adapter/tools.py``, handed in as a :class:`ProviderRunner`.
"""

from .dispatch import Call, Outcome, Toolbox
from .sources import PLACEHOLDER, ProviderRunner, ToolFailure, substitute
from .spec import HttpSource, Limits, McpServer, ProviderSource, ToolSet, ToolSpec, parse_tools

__all__ = [
    "PLACEHOLDER",
    "Call",
    "HttpSource",
    "Limits",
    "McpServer",
    "Outcome",
    "ProviderRunner",
    "ProviderSource",
    "ToolFailure",
    "ToolSet",
    "ToolSpec",
    "Toolbox",
    "parse_tools",
    "substitute",
]
