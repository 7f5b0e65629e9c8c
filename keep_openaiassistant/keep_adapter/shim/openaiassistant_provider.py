"""The module Keep imports for provider type ``openaiassistant``: a re-export, nothing else.

Keep's factory imports ``keep.providers.openaiassistant_provider.openaiassistant_provider`` and
looks up ``OpenaiassistantProvider`` and ``OpenaiassistantProviderAuthConfig`` in it. The
implementation is :mod:`keep_openaiassistant.keep_adapter.provider`, so upgrading the package upgrades
the provider. Run this module for a smoke test, like Keep's own providers:

    python -m keep.providers.openaiassistant_provider.openaiassistant_provider "Disk full" --emulator
"""

from keep_openaiassistant.keep_adapter.provider import OpenaiassistantProvider, OpenaiassistantProviderAuthConfig

__all__ = ["OpenaiassistantProvider", "OpenaiassistantProviderAuthConfig"]

if __name__ == "__main__":
    import sys

    from keep_openaiassistant.cli import main

    raise SystemExit(main(["ask", *sys.argv[1:]]))
