"""How Keep finds the provider, and the tools to make and check that: link, unlink, doctor.

Keep has no plugin hook. Its factory imports ``keep.providers.<type>_provider.<type>_provider``
and its provider listing (the UI) does ``os.listdir`` on the physical ``keep/providers/`` folder.
So the provider must be a folder *inside* the providers folder of the Keep that runs:

(A) the wheel installs ``keep/providers/openaiassistant_provider/`` into site-packages, which is
    Keep's own folder when Keep is a regular install there (the official image) — nothing to do;
(B) for a Keep source checkout or editable install, ``link`` puts a symlink to this package's
    shim folder into that checkout's providers folder; ``unlink`` removes only that link. The shim
    folder is ``keep_adapter/shim/`` in a source tree or editable install; a regular wheel install
    has no ``keep_adapter/shim/`` (hatchling moves force-included files), so there the link points at the
    wheel's own ``site-packages/keep/providers/openaiassistant_provider/``.

``doctor`` (:mod:`keep_openaiassistant.keep_adapter.doctor`) walks the chain Keep walks and
says, for the first broken link, why and what fixes it; the steps that need no Keep code (the
SDK, where Keep is, what is at the provider's entry) and the report are here. Nothing here
imports Keep: ``find_spec("keep.providers")`` only locates Keep's folder (it runs
``keep/providers/__init__.py``, never a provider or the factory).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("keep_openaiassistant.discovery")

PROVIDER_TYPE = "openaiassistant"
ENTRY = f"{PROVIDER_TYPE}_provider"
MODULE = f"keep.providers.{ENTRY}.{ENTRY}"
DISTRIBUTION = "keep-openaiassistant"
# The shim folder in a source tree / editable install (a wheel install moves it to keep/providers/).
SHIM_DIR = Path(__file__).resolve().parent / "keep_adapter" / "shim"

# doctor's exit codes
OK, NOT_FOUND, NO_KEEP, SDK_BROKEN = 0, 1, 3, 4


class DiscoveryError(Exception):
    """link/unlink cannot do what was asked; the message says why and what to do."""


def keep_providers_dir() -> Path | None:
    """The ``keep/providers`` folder of the Keep this Python imports, or None without Keep."""
    try:
        spec = importlib.util.find_spec("keep.providers")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    # Without Keep, keep/providers/ may still exist holding only this wheel's files: a namespace
    # package (no __init__.py), which is not Keep.
    for location in spec.submodule_search_locations:
        if (Path(location) / "__init__.py").is_file():
            return Path(location)
    return None


def keep_version() -> str | None:
    """Keep's distribution version: ``keep`` for source/Docker installs, ``keephq`` from PyPI."""
    for name in ("keep", "keephq"):
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        # PyPI's `keep` is an unrelated project: only count a distribution that ships keep/providers.
        files = dist.files or []
        if any(str(f).startswith("keep/providers/") for f in files) or dist.read_text("direct_url.json"):
            return f"{name} {dist.version}"
    return None


def wheel_entry_dirs() -> list[Path]:
    """Where this distribution's wheel put ``keep/providers/openaiassistant_provider`` (if it did)."""
    try:
        files = importlib.metadata.files(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    dirs = {
        Path(str(f.locate())).parent for f in files if str(f).replace("\\", "/").startswith(f"keep/providers/{ENTRY}/")
    }
    return sorted(dirs)


def shim_source() -> Path | None:
    """The folder to link into Keep: keep_adapter/shim/ when present, else the wheel's installed copy."""
    if (SHIM_DIR / f"{ENTRY}.py").is_file():
        return SHIM_DIR
    for folder in wheel_entry_dirs():
        if (folder / f"{ENTRY}.py").is_file():
            return folder.resolve()
    return None


# What our re-export module imports from: this release's path, and the one releases before the
# keep_adapter subpackage used (an old wheel's copy or an editable install's snapshot is still ours).
SHIM_IMPORTS = ("keep_openaiassistant.keep_adapter.provider", "keep_openaiassistant.keep_provider")


def _is_our_shim(folder: Path) -> bool:
    """A folder holding our re-export module (this copy or another copy of this package)."""
    module = folder / f"{ENTRY}.py"
    try:
        text = module.read_text(encoding="utf-8")
    except OSError:
        return False
    return any(f"from {path} import" in text for path in SHIM_IMPORTS)


@dataclass(frozen=True)
class Entry:
    """What is at ``<providers>/openaiassistant_provider``."""

    path: Path
    kind: str  # "missing" | "link" | "stale-link" | "foreign-link" | "wheel" | "foreign"
    target: Path | None = None

    @property
    def present(self) -> bool:
        return self.kind in ("link", "wheel", "foreign-link")


def inspect_entry(providers_dir: Path) -> Entry:
    path = providers_dir / ENTRY
    if path.is_symlink():
        target = Path(os.readlink(path))
        target = target if target.is_absolute() else (path.parent / target)
        if not path.exists():
            return Entry(path, "stale-link", target)
        if path.resolve() == shim_source():
            return Entry(path, "link", target)
        return Entry(path, "foreign-link" if _is_our_shim(path) else "foreign", target)
    if path.is_dir():
        return Entry(path, "wheel" if _is_our_shim(path) else "foreign")
    if path.exists():
        return Entry(path, "foreign")
    return Entry(path, "missing")


def _require_providers_dir(providers_dir: Path | None) -> Path:
    folder = providers_dir or keep_providers_dir()
    if folder is None:
        raise DiscoveryError(
            f"Keep is not importable from this Python ({sys.executable}): run the command with the Python "
            "that runs Keep, or give --providers-dir <keep checkout>/keep/providers."
        )
    if not (folder / "__init__.py").is_file():
        raise DiscoveryError(f"{folder} is not Keep's providers folder (no __init__.py there).")
    return folder


def link(providers_dir: Path | None = None) -> str:
    """Symlink the shim folder into Keep's providers folder. Idempotent; never replaces a foreign entry."""
    folder = _require_providers_dir(providers_dir)
    entry = inspect_entry(folder)
    if entry.kind == "link":
        return f"Already linked: {entry.path} -> {entry.target}"
    if entry.kind == "wheel":
        return f"Nothing to do: {entry.path} was installed by the keep-openaiassistant wheel and Keep finds it."
    if entry.kind in ("stale-link", "foreign-link"):
        raise DiscoveryError(
            f"{entry.path} is a link to {entry.target}, another copy of keep-openaiassistant"
            f"{' that no longer exists' if entry.kind == 'stale-link' else ''}: run unlink, then link."
        )
    if entry.kind == "foreign":
        raise DiscoveryError(f"{entry.path} exists and is not keep-openaiassistant's: not touching it.")
    source = shim_source()
    if source is None:
        raise DiscoveryError(
            f"this copy of {DISTRIBUTION} has neither keep_adapter/shim/ nor the wheel's keep/providers/{ENTRY}/: "
            f"reinstall it (pip install --force-reinstall {DISTRIBUTION})."
        )
    try:
        entry.path.symlink_to(source, target_is_directory=True)
    except OSError as exc:
        raise DiscoveryError(f"cannot create {entry.path}: {exc.strerror}. Run as the owner of {folder}.") from None
    log.info("linked", extra={"link": str(entry.path), "target": str(source)})
    return f"Linked {entry.path} -> {source}. Restart Keep (and rebuild its providers cache) to see it in the UI."


def unlink(providers_dir: Path | None = None) -> str:
    """Remove our symlink (this copy's or a stale/other copy's); never a folder the wheel installed."""
    folder = _require_providers_dir(providers_dir)
    entry = inspect_entry(folder)
    if entry.kind == "missing":
        return f"Nothing to unlink: {entry.path} does not exist."
    if entry.kind == "wheel":
        raise DiscoveryError(
            f"{entry.path} was installed by the wheel, not linked: `pip uninstall {DISTRIBUTION}` removes it."
        )
    if entry.kind == "foreign":
        raise DiscoveryError(f"{entry.path} is not keep-openaiassistant's link: not touching it.")
    try:
        entry.path.unlink()
    except OSError as exc:
        raise DiscoveryError(f"cannot remove {entry.path}: {exc.strerror}. Run as the owner of {folder}.") from None
    log.info("unlinked", extra={"link": str(entry.path)})
    return f"Removed {entry.path} (was -> {entry.target})."


# -- doctor ------------------------------------------------------------------------------------


@dataclass
class Check:
    ok: bool | None  # None: a warning that does not stop Keep from finding the provider
    title: str
    detail: str = ""
    fix: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    exit_code: int = OK

    def add(self, ok: bool | None, title: str, detail: str = "", fix: str = "") -> Check:
        check = Check(ok, title, detail, fix)
        self.checks.append(check)
        return check

    def render(self) -> str:
        marks = {True: "ok  ", False: "FAIL", None: "warn"}
        lines = []
        for c in self.checks:
            lines.append(f"{marks[c.ok]}  {c.title}" + (f": {c.detail}" if c.detail else ""))
            if c.fix:
                lines.append(f"      fix: {c.fix}")
        verdict = {
            OK: f"Keep finds provider type '{PROVIDER_TYPE}'.",
            NOT_FOUND: f"Keep does not find provider type '{PROVIDER_TYPE}': see FAIL above.",
            NO_KEEP: "Keep is not importable here: nothing else to check.",
            SDK_BROKEN: f"Keep finds provider type '{PROVIDER_TYPE}', but the openai SDK cannot work: see FAIL above.",
        }[self.exit_code]
        return "\n".join([*lines, verdict])

    def as_dict(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "checks": [c.__dict__ for c in self.checks]}


def where_keep_lives(providers_dir: Path) -> str:
    paths = {Path(p).resolve() for p in sys.path if p and "site-packages" in p}
    inside = any(providers_dir.resolve().is_relative_to(p) for p in paths)
    return "a regular install in site-packages" if inside else "a source checkout or editable install"


def check_package(report: Report) -> None:
    """This package: its version, where it is imported from, and by which Python."""
    from . import __version__

    report.add(True, "keep-openaiassistant", f"{__version__} at {Path(__file__).parent} (Python {sys.executable})")


def check_keep_importable(report: Report) -> Path | None:
    """Keep's providers folder, or None (and a FAIL with the fix) when this Python has no Keep."""
    providers_dir = keep_providers_dir()
    if providers_dir is None:
        report.add(
            False,
            "Keep importable",
            f"no module keep.providers for {sys.executable}",
            "run doctor with the Python that runs Keep (in Docker: docker exec <keep-backend> python -m "
            "keep_openaiassistant doctor) and install keep-openaiassistant into that environment.",
        )
        return None
    report.add(
        True,
        "Keep importable",
        f"{keep_version() or 'version unknown'}; providers folder {providers_dir} ({where_keep_lives(providers_dir)})",
    )
    return providers_dir


def check_sdk(report: Report) -> bool:
    """Build (not use) an SDK client: openai < 1.55 on httpx >= 0.28 fails right here."""
    import openai

    versions = f"openai {openai.__version__}"
    try:
        import httpx

        versions += f" on httpx {httpx.__version__}"
    except ImportError:  # openai 3.x runs on httpx2
        pass
    try:
        openai.OpenAI(api_key="doctor", base_url="http://127.0.0.1:9/v1").close()
    except Exception as exc:  # noqa: BLE001 -- whatever the SDK raises is the finding
        report.add(
            False,
            "openai SDK",
            f"{versions} cannot build a client: {type(exc).__name__}: {exc}",
            "pip install 'httpx<0.28' (openai releases before 1.55 do not work with httpx 0.28+)",
        )
        return False
    report.add(True, "openai SDK", versions)
    return True


def check_entry(report: Report, providers_dir: Path) -> bool:
    entry = inspect_entry(providers_dir)
    if entry.kind == "wheel":
        stale = [f.name for f in SHIM_DIR.glob("*.py") if _read(f) != _read(entry.path / f.name)]
        if stale:
            report.add(
                None,
                "provider folder",
                f"{entry.path} (installed by the wheel) differs from this package's "
                f"keep_adapter/shim in {', '.join(sorted(stale))}: an older install or an editable install's snapshot",
                f"pip install --force-reinstall {DISTRIBUTION} (editable: pip install -e . again)",
            )
        else:
            report.add(True, "provider folder", f"{entry.path} (installed by the wheel)")
        return True
    if entry.kind == "link":
        report.add(True, "provider folder", f"{entry.path} -> {entry.target} (link)")
        return True
    if entry.kind == "foreign-link":
        report.add(
            None,
            "provider folder",
            f"{entry.path} links to another copy of this package ({entry.target}), not this one ({shim_source()})",
            "python -m keep_openaiassistant unlink && python -m keep_openaiassistant link",
        )
        return True
    if entry.kind == "stale-link":
        report.add(
            False,
            "provider folder",
            f"{entry.path} links to {entry.target}, which no longer exists",
            "python -m keep_openaiassistant unlink && python -m keep_openaiassistant link",
        )
        return False
    if entry.kind == "foreign":
        report.add(
            False,
            "provider folder",
            f"{entry.path} exists but is not keep-openaiassistant's",
            "move it away, then reinstall keep-openaiassistant or run link",
        )
        return False
    elsewhere = [d for d in wheel_entry_dirs() if d.resolve() != entry.path.resolve()]
    if elsewhere:
        detail = (
            f"{entry.path} is missing; the wheel put its files at {elsewhere[0]}, but the Keep this Python "
            f"imports is {where_keep_lives(providers_dir)} at {providers_dir.parent.parent}"
        )
    else:
        detail = f"{entry.path} is missing"
    report.add(
        False,
        "provider folder",
        detail,
        "python -m keep_openaiassistant link (or pip install keep-openaiassistant into Keep's own environment)",
    )
    return False


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None
