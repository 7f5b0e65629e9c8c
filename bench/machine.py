"""What the figures were measured on: they mean little without the CPU, cores, load and SDKs."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from typing import Any


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def runtime(python: str) -> dict[str, str]:
    """Python and openai (and httpx/httpx2) versions of one interpreter, asked in a subprocess."""
    code = (
        "import json, platform, openai\n"
        "v = {'python': platform.python_version(), 'openai': openai.__version__}\n"
        "for name in ('httpx', 'httpx2'):\n"
        "    try:\n"
        "        v[name] = __import__(name).__version__\n"
        "    except ImportError:\n"
        "        pass\n"
        "try:\n"
        "    import importlib.metadata as md; v['keep'] = md.version('keephq')\n"
        "except Exception:\n"
        "    pass\n"
        "print(json.dumps(v))\n"
    )
    done = subprocess.run([python, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    import json

    result: dict[str, str] = json.loads(done.stdout)
    return result


def describe(pythons: dict[str, str]) -> dict[str, Any]:
    """``pythons``: role -> interpreter path (main, keep, langchain)."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "load_average_at_start": load_average(),
        "runtimes": {role: {"executable": path, **runtime(path)} for role, path in pythons.items()},
    }
