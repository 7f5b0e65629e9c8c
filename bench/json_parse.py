"""How long deciding "is this answer JSON?" takes on 1 MB answers, friendly and hostile.

    python bench/json_parse.py            # this checkout's keep_openaiassistant.jsonextract
    python bench/json_parse.py OLD.py     # another version of the module (e.g. from git show)

Prints the best of three runs of ``extract_json(text)`` per input, in milliseconds.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Callable
from typing import Any

MB = 1_000_000
INPUTS: dict[str, Callable[[], str]] = {
    "json, 25k objects": lambda: json.dumps([{"i": i, "host": f"db-{i}", "note": "disk full"} for i in range(25_000)]),
    "prose": lambda: ("The disk on db-1 is full; see the runbook. " * 25_000)[:MB],
    "prose with [1] and {x}": lambda: ("Disk full [1]. Check {the} runbook [2] and {x: 1}. " * 20_000)[:MB],
    "'{' * 500000": lambda: "{" * 500_000,
    "'[1,' * 300000": lambda: "[1," * 300_000,
    "'[' * 500000": lambda: "[" * 500_000,
    "nested 5000 deep": lambda: "[" * 5_000 + "]" * 5_000,
    "prose + nested 5000": lambda: "See " + "[" * 5_000 + "]" * 5_000 + " for details.",
}


def load(path: str | None) -> Callable[[str], Any]:
    if path is None:
        from keep_openaiassistant.jsonextract import extract_json

        return extract_json
    spec = importlib.util.spec_from_file_location("keep_openaiassistant._bench_jsonextract", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "keep_openaiassistant"  # its relative import of .errors
    spec.loader.exec_module(module)
    return module.extract_json  # type: ignore[no-any-return]


def main() -> None:
    extract = load(sys.argv[1] if len(sys.argv) > 1 else None)
    for name, make in INPUTS.items():
        text = make()
        best, outcome = float("inf"), ""
        for _ in range(3):
            started = time.perf_counter()
            try:
                outcome = type(extract(text)).__name__
            except RecursionError:
                outcome = "RecursionError"
            best = min(best, time.perf_counter() - started)
        print(f"{name:24} {len(text):>9,} chars {best * 1000:9.1f} ms  -> {outcome}", flush=True)


if __name__ == "__main__":
    main()
