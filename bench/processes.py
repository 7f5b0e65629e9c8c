"""Starting the emulator and the workers as child processes, and reading their JSON.

Every child runs with the repository root on ``PYTHONPATH`` (so ``bench`` is importable from
any virtualenv that has the package installed) and is killed by its own pid if it overruns. A
worker of another revision (``--compare-ref``) gets that revision's package directory before it,
and as its working directory: ``python -m`` puts the working directory first on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Self

from .control import Control

ROOT = Path(__file__).resolve().parent.parent


def child_env(first: Path | None = None) -> dict[str, str]:
    """This environment with ROOT (and ``first`` before it) at the head of ``PYTHONPATH``."""
    env = dict(os.environ)
    head = [str(first)] if first else []
    env["PYTHONPATH"] = os.pathsep.join(p for p in (*head, str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return env


class EmulatorProcess:
    """``with EmulatorProcess(model_time=0.3) as emu: emu.url, emu.control.stats()``."""

    def __init__(self, *, model_time: float, poll_after_ms: int = 100, python: str = sys.executable) -> None:
        self.model_time = model_time
        self.poll_after_ms = poll_after_ms
        self.python = python
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: Any = None
        self.url = ""

    def __enter__(self) -> Self:
        cmd = [
            self.python,
            "-m",
            "bench.emulator_process",
            "--port",
            "0",
            "--model-time",
            str(self.model_time),
            "--poll-after-ms",
            str(self.poll_after_ms),
        ]
        # The server's stderr goes to a file: under load the clients' pools close idle
        # connections and socketserver prints every reset; only a failed start is worth showing.
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=child_env(), cwd=ROOT
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=10)
            self._stderr.seek(0)
            tail = " | ".join(self._stderr.read().strip().splitlines()[-3:])
            raise RuntimeError(f"the emulator process exited with {self._proc.returncode} before listening: {tail}")
        self.url = json.loads(line)["url"]
        return self

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def control(self) -> Control:
        return Control(self.url)

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._stderr is not None:
            self._stderr.close()


def run_worker(python: str, job: dict[str, Any], *, timeout: float, import_root: Path | None = None) -> dict[str, Any]:
    """Run one job in ``python -m bench.worker``; its last stdout line is the JSON result.

    ``import_root``: the directory whose ``keep_openaiassistant`` the worker imports (another
    revision's); by default the one of this tree.
    """
    try:
        done = subprocess.run(
            [python, "-m", "bench.worker", json.dumps(job)],
            capture_output=True,
            text=True,
            env=child_env(import_root),
            cwd=import_root or ROOT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"worker timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": f"worker exit {done.returncode}: " + " | ".join(tail)}
    result: dict[str, Any] = json.loads(lines[-1])
    return result
