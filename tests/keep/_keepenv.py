"""Is Keep importable here? Shared by the test modules of tests/keep (imported before Keep)."""

from __future__ import annotations

import importlib.util


def _keep_present() -> bool:
    # find_spec on Keep's base provider, not on `keep`: without Keep, site-packages may still hold
    # keep/providers/openaiassistant_provider/ from this package's own wheel.
    try:
        return importlib.util.find_spec("keep.providers.base.base_provider") is not None
    except (ImportError, ValueError):
        return False


KEEP_PRESENT = _keep_present()
SKIP_REASON = (
    "Keep is not importable in this environment: run .ci/keep-integration.sh (keephq 0.2.7) "
    "or see docs/keep.md for a current Keep checkout"
)
