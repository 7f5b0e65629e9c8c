"""``doctor``: does the Keep this Python imports find the provider, and if not, why.

It follows the steps Keep takes and stops at the first broken one, saying why and what fixes
it: the openai SDK, Keep importable, the provider's entry in Keep's providers folder (those
three need no Keep code: :mod:`keep_openaiassistant.discovery`), then the module Keep imports,
``ProvidersFactory`` resolving the type, and Keep's provider listing (the UI's), which import
Keep. Keep is imported inside the checks, so without Keep the report says so (exit 3).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import warnings
from pathlib import Path
from typing import Any

from ..discovery import (
    MODULE,
    NO_KEEP,
    NOT_FOUND,
    OK,
    PROVIDER_TYPE,
    SDK_BROKEN,
    Report,
    check_entry,
    check_keep_importable,
    check_package,
    check_sdk,
)

__all__ = ["doctor"]


def doctor(*, listing: bool = True) -> Report:
    """Check every step Keep takes to find the provider; the first failure says why and the fix."""
    report = Report()
    check_package(report)
    sdk_ok = check_sdk(report)
    providers_dir = check_keep_importable(report)
    if providers_dir is None:
        report.exit_code = NO_KEEP
        return report
    if not check_entry(report, providers_dir):
        report.exit_code = NOT_FOUND
        return report
    with warnings.catch_warnings():
        # Keep's config warns on import when its optional keep/.env is absent: not a finding.
        warnings.filterwarnings("ignore", message=r"Config file .* not found", category=UserWarning)
        provider_class = _check_import(report)
        if provider_class is None or not _check_factory(report, provider_class):
            report.exit_code = NOT_FOUND
            return report
        if listing and not _check_listing(report):
            report.exit_code = NOT_FOUND
    if report.exit_code == OK and not sdk_ok:
        report.exit_code = SDK_BROKEN
    return report


def _check_import(report: Report) -> Any:
    try:
        module = importlib.import_module(MODULE)
    except Exception as exc:  # noqa: BLE001 -- the report must say why, whatever it is
        report.add(
            False,
            f"import {MODULE}",
            f"{type(exc).__name__}: {exc}",
            "install what is missing into Keep's environment (pip install keep-openaiassistant pulls openai)",
        )
        return None
    from .provider import OpenaiassistantProvider

    cls = getattr(module, "OpenaiassistantProvider", None)
    if cls is not OpenaiassistantProvider:
        report.add(
            False,
            f"import {MODULE}",
            "it does not re-export keep_openaiassistant's OpenaiassistantProvider",
            "reinstall keep-openaiassistant",
        )
        return None
    report.add(True, f"import {MODULE}")
    return cls


def _check_factory(report: Report, provider_class: Any) -> bool:
    try:
        from keep.providers.providers_factory import ProvidersFactory

        resolved = ProvidersFactory.get_provider_class(PROVIDER_TYPE)
        auth = ProvidersFactory.get_provider_required_config(PROVIDER_TYPE)
    except Exception as exc:  # noqa: BLE001 -- whatever Keep raises is the finding
        report.add(
            False,
            "ProvidersFactory resolves the type",
            f"{type(exc).__name__}: {exc}",
            "check that Keep itself imports (its dependencies are installed)",
        )
        return False
    from ..auth_config import OpenaiassistantProviderAuthConfig

    if resolved is not provider_class or auth is not OpenaiassistantProviderAuthConfig:
        report.add(
            False,
            "ProvidersFactory resolves the type",
            f"got {resolved!r} / {auth!r}",
            "reinstall keep-openaiassistant",
        )
        return False
    report.add(
        True,
        "ProvidersFactory resolves the type",
        f"'{PROVIDER_TYPE}' -> {provider_class.__module__}.{provider_class.__name__}",
    )
    return True


def _check_listing(report: Report) -> bool:
    from keep.providers.providers_factory import ProvidersFactory

    from ..auth_config import FIELD_NAMES

    cache = Path(os.environ.get("PROVIDERS_CACHE_FILE", "providers_cache.json"))
    if cache.is_file():
        try:
            cached = {p.get("type") for p in json.loads(cache.read_text(encoding="utf-8"))}
        except (OSError, ValueError, AttributeError):
            cached = set()
        if PROVIDER_TYPE not in cached:
            report.add(
                None,
                "Keep's providers cache",
                f"{cache.resolve()} does not list '{PROVIDER_TYPE}' (built before the install)",
                "keep provider build_cache, or restart Keep (its Docker entrypoint rebuilds the cache)",
            )
    get_all = ProvidersFactory.get_all_providers
    kwargs = {"ignore_cache_file": True} if "ignore_cache_file" in inspect.signature(get_all).parameters else {}
    try:
        providers = get_all(**kwargs)
    except Exception as exc:  # noqa: BLE001 -- another provider's import error, reported as a warning
        report.add(
            None,
            "provider listing (UI)",
            f"Keep's listing failed on another provider: {type(exc).__name__}: {exc}",
            "install the dependencies of Keep's other providers (Keep's own image has them)",
        )
        return True
    ours = next((p for p in providers if getattr(p, "type", None) == PROVIDER_TYPE), None)
    if ours is None:
        report.add(
            False,
            "provider listing (UI)",
            f"{len(providers)} providers listed, '{PROVIDER_TYPE}' not among them",
            "run doctor again with -v to see Keep's import errors",
        )
        return False
    missing = [f for f in FIELD_NAMES if f not in (ours.config or {})]
    if missing:
        report.add(
            False, "provider listing (UI)", f"install form lacks {', '.join(missing)}", "reinstall keep-openaiassistant"
        )
        return False
    report.add(
        True,
        "provider listing (UI)",
        f"'{getattr(ours, 'display_name', PROVIDER_TYPE)}' with {len(ours.config)} form fields, "
        f"among {len(providers)} providers",
    )
    return True
