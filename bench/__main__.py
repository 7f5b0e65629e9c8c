"""``python -m bench [--quick] [--compare-ref REF]``: run the benchmarks, print the tables, write bench/results/.

Every implementation runs in a worker process of the interpreter given for it: the Keep
provider (and the minimal raw streamed client, its CPU floor) in a virtualenv with Keep
(``--keep-python``, or this one when it can import Keep), LangChain in one with
langchain-classic (``--langchain-python``), the rest in this one. ``--compare-ref a7ae094``
also runs the provider rows on that revision's package, in the same run (before / after).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import machine, revisions
from .plan import BACKENDS, FIGURES, IMPLS, Config, build_jobs, run_imports, run_phases
from .report import render

RESULTS = Path(__file__).resolve().parent / "results"
VENVS = Path(__file__).resolve().parent.parent / ".venvs"
# Where bench/setup.sh leaves its venvs (LangChain; Keep 0.2.7 with this package).
DEFAULT_LANGCHAIN_PYTHON = VENVS / "bench-langchain" / "bin" / "python"
DEFAULT_KEEP_PYTHON = VENVS / "bench-keep" / "bin" / "python"


def can_import_keep(python: str) -> bool:
    """Keep and this package's Keep adapter both import in ``python``."""
    code = "import keep.providers.base.base_provider; from keep_openaiassistant import OpenaiassistantProvider"
    done = subprocess.run([python, "-W", "ignore", "-c", code], capture_output=True, timeout=120, check=False)
    return done.returncode == 0


def _keep_python() -> str | None:
    """This interpreter when it imports Keep and the adapter, else .venvs/bench-keep when it does."""
    for candidate in (sys.executable, str(DEFAULT_KEEP_PYTHON)):
        if Path(candidate).exists() and can_import_keep(candidate):
            return candidate
    return None


def run(config: Config, out_dir: Path = RESULTS, log: Callable[[str], None] | None = None) -> tuple[str, Path]:
    """Run everything ``config`` asks for; return the Markdown tables and the JSON file written."""
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    started = time.perf_counter()
    pythons = {"main": config.python}
    if config.keep_python:
        pythons["keep"] = config.keep_python
    if config.langchain_python and "langchain" in config.impls:
        pythons["langchain"] = config.langchain_python
    info = machine.describe(pythons)
    if config.compare_ref and config.compare_sha and config.compare_root:
        info["compare"] = {
            "ref": config.compare_ref,
            "sha": config.compare_sha,
            "subject": revisions.subject(config.compare_sha),
            "import_root": config.compare_root,
        }
    phases = build_jobs(config)
    say(f"{sum(len(p) for p in phases)} jobs in {len(phases)} phases")
    run_phases(config, phases, say)
    jobs = [part for phase in phases for job, _ in phase for part in job.split()]
    imports = run_imports(config) if "imports" in config.figures else None
    info["load_average_at_end"] = machine.load_average()
    info["duration_s"] = time.perf_counter() - started
    table = render(config, info, jobs, imports)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{config.mode}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload: dict[str, Any] = {
        "config": dataclasses.asdict(config),
        "machine": info,
        "jobs": [
            {
                "key": j.key(),
                "impl": j.impl,
                "backend": j.backend,
                "figure": j.figure,
                "model_time": j.model_time,
                "params": j.figures[j.figure],
                "result": j.result,
            }
            for j in jobs
        ],
        "imports": imports,
        "table_markdown": table,
    }
    path.write_text(json.dumps(payload, indent=1))
    path.with_suffix(".md").write_text(table + "\n")
    return table, path


def parse(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="about a minute (under 90 s on 2 cores): every row and figure with small N, one worker per row, "
        "all side by side; its figures and verdicts are indicative only",
    )
    parser.add_argument(
        "--compare-ref",
        metavar="REF",
        help="also run the provider rows on the package of git revision REF (e.g. a7ae094, the last commit "
        "before the core redesign), in the same run, and print before / after side by side",
    )
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--figures", default=",".join(FIGURES))
    parser.add_argument(
        "--keep-python",
        default=os.environ.get("BENCH_KEEP_PYTHON"),
        help="interpreter of a virtualenv with Keep and this package (env BENCH_KEEP_PYTHON; "
        "default: this one if it imports Keep, else .venvs/bench-keep, made by bench/setup.sh --with-keep)",
    )
    parser.add_argument(
        "--langchain-python",
        default=os.environ.get("BENCH_LANGCHAIN_PYTHON"),
        help="interpreter of a virtualenv with langchain-classic, openai 2.x and this package "
        "(env BENCH_LANGCHAIN_PYTHON; default: .venvs/bench-langchain, made by bench/setup.sh)",
    )
    parser.add_argument("--poll-after-ms", type=int, default=100, help="the emulator's openai-poll-after-ms hint")
    parser.add_argument("--latency-n", type=int)
    parser.add_argument("--memory-n", type=int)
    parser.add_argument(
        "--no-docs", action="store_true", help="full mode: do not write the tables into docs/benchmarks.md"
    )
    args = parser.parse_args(argv)

    def split(value: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        chosen = tuple(v.strip() for v in value.split(",") if v.strip())
        unknown = [v for v in chosen if v not in allowed]
        if unknown:
            parser.error(f"unknown {unknown}; choose from {', '.join(allowed)}")
        return chosen

    overrides: dict[str, Any] = {
        "backends": split(args.backends, BACKENDS),
        "impls": split(args.impls, IMPLS),
        "figures": split(args.figures, FIGURES),
        "keep_python": args.keep_python or _keep_python(),
        "langchain_python": args.langchain_python
        or (str(DEFAULT_LANGCHAIN_PYTHON) if DEFAULT_LANGCHAIN_PYTHON.exists() else None),
        "poll_after_ms": args.poll_after_ms,
    }
    if args.compare_ref:
        try:
            revision = revisions.checkout(args.compare_ref)
        except ValueError as exc:
            parser.error(f"--compare-ref: {exc}")
        overrides.update(compare_ref=args.compare_ref, compare_sha=revision.sha, compare_root=str(revision.import_root))
    if args.latency_n:
        overrides["latency_n"] = args.latency_n
    if args.memory_n:
        overrides["memory_n"] = args.memory_n
    if args.quick:
        return Config.quick(**overrides)
    config = dataclasses.replace(Config(), **overrides)
    narrowed = (config.backends, config.impls, config.figures) != (BACKENDS, IMPLS, FIGURES)
    if narrowed or args.latency_n or args.memory_n:  # not the documented run: never written into the docs
        config = dataclasses.replace(config, mode="custom")
    return config


DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def update_docs(table: str, path: Path, docs: Path = DOCS) -> None:
    """Put this run's tables between the markers of docs/benchmarks.md, naming the JSON they came from."""
    text = docs.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    relative = path.relative_to(docs.parent.parent) if path.is_relative_to(docs.parent.parent) else path
    body = table.replace("# Benchmark results\n", f"Raw figures: `{relative}`.\n", 1)
    docs.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    config = parse(argv)
    table, path = run(config)
    print(table)
    print(f"\nJSON: {path}", file=sys.stderr)
    if config.mode == "full" and "--no-docs" not in (argv if argv is not None else sys.argv[1:]):
        update_docs(table, path)
        print(f"tables written into {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
