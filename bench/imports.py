"""Figure 5: import time of this provider's module against importing the openai SDK alone.

Each figure is the median of several fresh interpreters, timing only the import statement
(not the interpreter's start). In a Keep process, Keep's own base modules are loaded long
before any provider; they are imported first and not counted, so the Keep row is what the
provider adds to a running Keep.
"""

from __future__ import annotations

import statistics
import subprocess
from typing import Any

from .processes import ROOT, child_env

KEEP_BASE = [
    "keep.providers.base.base_provider",
    "keep.contextmanager.contextmanager",
    "keep.providers.models.provider_config",
]
ENGINE = ["keep_openaiassistant", "keep_openaiassistant.backends.assistants", "keep_openaiassistant.backends.responses"]
# The Keep class by its public name (``module:attribute``): the package imports its Keep adapter
# lazily, wherever that module lives.
KEEP_PROVIDER = ["keep_openaiassistant:OpenaiassistantProvider"]

_SNIPPET = (
    "import importlib, sys, time, warnings\n"
    "warnings.simplefilter('ignore')\n"
    "pre, mods = sys.argv[1].split(',') if sys.argv[1] else [], sys.argv[2].split(',')\n"
    "for m in pre: importlib.import_module(m)\n"
    "t = time.perf_counter()\n"
    "for m in mods:\n"
    "    name, _, attr = m.partition(':')\n"
    "    module = importlib.import_module(name)\n"
    "    if attr: getattr(module, attr)\n"
    "print((time.perf_counter() - t) * 1000)\n"
)


def time_import(python: str, modules: list[str], *, pre: list[str] | None = None, repeats: int = 7) -> dict[str, Any]:
    samples = []
    for _ in range(repeats):
        done = subprocess.run(
            [python, "-c", _SNIPPET, ",".join(pre or []), ",".join(modules)],
            capture_output=True,
            text=True,
            env=child_env(),
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
        samples.append(float(done.stdout.strip().splitlines()[-1]))
    return {"median_ms": statistics.median(samples), "samples_ms": samples, "modules": modules, "pre": pre or []}


def measure(python: str, keep_python: str | None, *, repeats: int) -> dict[str, Any]:
    """openai alone and the engine in ``python``; openai alone and the Keep provider in ``keep_python``."""
    out: dict[str, Any] = {
        "main": {
            "python": python,
            "openai": time_import(python, ["openai"], repeats=repeats),
            "engine": time_import(python, ENGINE, repeats=repeats),
        }
    }
    if keep_python:
        out["keep"] = {
            "python": keep_python,
            "openai": time_import(keep_python, ["openai"], pre=KEEP_BASE, repeats=repeats),
            "provider": time_import(keep_python, KEEP_PROVIDER, pre=KEEP_BASE, repeats=repeats),
        }
    return out
