"""The tables: figures of one run, with the targets met or not, as Markdown.

Targets apply to this provider's rows; the other rows are the baselines it is measured
against. A row that could not run says why (``n/a: ...``) instead of disappearing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .plan import Config, Job

LABELS = {
    "provider": "**this provider** (streaming)",
    "provider-polling": "**this provider**, server that does not stream",
    "seed": "seed design (poll every 1 s)",
    "sdk": "openai SDK helpers",
    "langchain": "LangChain OpenAIAssistantRunnable",
}
OK, NO = "met", "**NOT met**"


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    return f"{value:.{digits}f}"


def _verdict(ok: bool) -> str:
    return OK if ok else NO


def _baseline(impl: str) -> str:
    return "–" if impl.startswith("provider") else "baseline"


def _problem(result: dict[str, Any]) -> str | None:
    if "na" in result:
        return f"n/a: {result['na']}"
    if "error" in result:
        return f"error: {result['error']}"
    return None


def _table(head: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "/").replace("\n", " ") for cell in row) + " |" for row in rows]
    return lines


def _polling_bound(config: Config, t: float) -> float:
    return 3 + t / (config.poll_after_ms / 1000)


def machine_block(machine: dict[str, Any], config: Config) -> list[str]:
    lines = [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['os']}; "
        f"load average at start {machine.get('load_average_at_start')}, at end {machine.get('load_average_at_end')}. "
        f"Run: `{config.mode}` mode, {machine['date']}, {machine.get('duration_s', 0):.0f} s.",
        "",
    ]
    for role, rt in machine["runtimes"].items():
        parts = [f"Python {rt.get('python', '?')}", f"openai {rt.get('openai', '?')}"]
        parts += [f"{k} {rt[k]}" for k in ("httpx", "httpx2") if k in rt]
        if "keep" in rt:
            parts.append(f"Keep (keephq) {rt['keep']}")
        if "error" in rt:
            parts = [f"unusable: {rt['error']}"]
        lines.append(f"- {role} runtime `{rt['executable']}`: " + ", ".join(parts))
    lines += ["", f"Emulator: its own process, `openai-poll-after-ms: {config.poll_after_ms}` on polled replies.", ""]
    return lines


def requests_table(config: Config, jobs: list[Job]) -> list[str]:
    times = config.request_times
    head = ["backend", "implementation"] + [f"{kind} T={t:g} s" for t in times for kind in ("new", "continued")] + ["target", ""]
    rows = []
    for backend in config.backends:
        for impl in config.impls:
            cells, verdicts, note = [], [], ""
            target = ""
            for t in times:
                job = _find(jobs, "requests", backend, impl, t)
                result = job.result if job else {"na": "not run"}
                problem = _problem(result)
                if problem:
                    cells += ["–", "–"]
                    note = problem
                    continue
                for kind in ("new", "continued"):
                    per = result[kind]["per_query"]
                    cells.append(_fmt(per, 1))
                    if impl == "provider":
                        target, ok = "≤ 2", per <= 2
                        verdicts.append(ok)
                    elif impl == "provider-polling":
                        bound = _polling_bound(config, t)
                        target = f"≤ 3 + T/{config.poll_after_ms / 1000:g} s"
                        verdicts.append(per <= bound)
            verdict = (_verdict(all(verdicts)) if verdicts else "baseline") if not note else note
            rows.append([backend, LABELS[impl]] + cells + [target or "–", verdict])
    return _table(head, rows)


def latency_table(config: Config, jobs: list[Job]) -> list[str]:
    head = ["backend", "implementation", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "target", ""]
    rows = []
    for backend in config.backends:
        for impl in config.impls:
            job = _find(jobs, "latency", backend, impl, config.latency_time)
            result = job.result if job else {"na": "not run"}
            problem = _problem(result)
            if problem:
                rows.append([backend, LABELS[impl], "–", "–", "–", "–", "–", "–", problem])
                continue
            s = result["added_ms"]
            target, verdict = "–", _baseline(impl)
            if impl == "provider":
                target, verdict = "p50 ≤ 10, p99 ≤ 50", _verdict(s["p50"] <= 10 and s["p99"] <= 50)
            rows.append([backend, LABELS[impl], str(s["n"]), _fmt(s["p50"]), _fmt(s["p95"]), _fmt(s["p99"]), _fmt(s["max"]), target, verdict])
    return _table(head, rows)


def concurrency_table(config: Config, jobs: list[Job]) -> list[str]:
    head = ["backend", "implementation", "T s", "concurrency", "answered", "queries/s", "p50 added ms", "p99 added ms",
            "connections", "requests/query", "target", ""]
    rows = []
    for backend in config.backends:
        for impl in config.impls:
            for job in [j for j in jobs if j.figure == "concurrency" and j.backend == backend and j.impl == impl]:
                problem = _problem(job.result)
                if problem:
                    rows.append([backend, LABELS[impl], f"{job.model_time:g}"] + ["–"] * 7 + ["–", problem])
                    continue
                for level in job.result["levels"]:
                    s = level["added_ms"]
                    target, verdict = "–", _baseline(impl)
                    if impl == "provider" and level["concurrency"] == max(config.concurrency_levels):
                        target = "all answered, p99 ≤ 250"
                        verdict = _verdict(level["answered"] == level["queries"] and s["p99"] <= 250)
                        if job.model_time != config.concurrency_time:
                            target, verdict = "(stress: CPU-bound)", "–"
                    elif impl == "provider":
                        target, verdict = "all answered", _verdict(level["answered"] == level["queries"])
                    errors = f" ({'; '.join(level['errors'])})" if level["errors"] else ""
                    rows.append([
                        backend, LABELS[impl], f"{job.model_time:g}", str(level["concurrency"]),
                        f"{level['answered']}/{level['queries']}{errors}", _fmt(level["throughput_qps"]),
                        _fmt(s["p50"]), _fmt(s["p99"]), str(level["connections"]), _fmt(level["requests_per_query"]),
                        target, verdict,
                    ])
    return _table(head, rows)


def memory_table(config: Config, jobs: list[Job]) -> list[str]:
    head = ["backend", "implementation", "queries", f"RSS after {config.memory_every} MB", "RSS after all MB", "growth MB",
            "peak RSS MB", "target", ""]
    rows = []
    for backend in config.backends:
        for impl in config.impls:
            job = _find(jobs, "memory", backend, impl, config.memory_time)
            result = job.result if job else {"na": "not run"}
            problem = _problem(result)
            if problem:
                rows.append([backend, LABELS[impl]] + ["–"] * 6 + [problem])
                continue
            target, verdict = "–", "baseline"
            if impl.startswith("provider"):
                target, verdict = "growth ≤ 20", _verdict(result["growth_mb"] <= 20)
            rows.append([backend, LABELS[impl], str(result["queries"]), _fmt(result["rss_first_mb"]), _fmt(result["rss_last_mb"]),
                         _fmt(result["growth_mb"], 2), _fmt(result["peak_rss_mb"]), target, verdict])
    return _table(head, rows)


def imports_table(result: dict[str, Any]) -> list[str]:
    head = ["runtime", "what is imported", "median ms", "openai alone ms", "ratio"]
    rows = []
    for role, label, key in (("keep", "Keep provider module (Keep's base modules already loaded)", "provider"),
                             ("main", "engine + both backends (no Keep)", "engine")):
        if role not in result:
            continue
        part, base = result[role][key], result[role]["openai"]
        if "error" in part or "error" in base:
            rows.append([role, label, "–", "–", f"error: {part.get('error') or base.get('error')}"])
            continue
        rows.append([role, label, _fmt(part["median_ms"]), _fmt(base["median_ms"]), f"{part['median_ms'] / base['median_ms']:.2f}×"])
    return _table(head, rows)


def render(config: Config, machine: dict[str, Any], jobs: list[Job], imports: dict[str, Any] | None) -> str:
    via = sorted({f"{j.impl}: {j.result['via']}" for j in jobs if "via" in j.result and j.impl.startswith("provider")})
    out = ["# Benchmark results", ""] + machine_block(machine, config)
    if via:
        out += ["This provider was measured through: " + "; ".join(via) + ".", ""]
    if any(j.figure == "requests" for j in jobs):
        out += [f"## 1. HTTP requests per query (counted by the emulator; mean of {config.request_n} queries)", ""]
        out += requests_table(config, jobs) + [""]
    if any(j.figure == "latency" for j in jobs):
        out += [f"## 2. Time added on top of the model time T={config.latency_time:g} s, concurrency 1 (wall − T, new thread each)", ""]
        out += latency_table(config, jobs) + [""]
    if any(j.figure == "concurrency" for j in jobs):
        out += [f"## 3. Concurrency through ONE instance (threads; {config.concurrency_waves} waves of each level, new thread each)", ""]
        out += concurrency_table(config, jobs) + [""]
    if any(j.figure == "memory" for j in jobs):
        out += [f"## 4. Memory over {config.memory_n} sequential queries at T={config.memory_time:g} s (RSS after gc.collect(), one process per implementation)", ""]
        out += memory_table(config, jobs) + [""]
    if imports:
        out += ["## 5. Import time (fresh interpreter each, median of " f"{config.import_repeats})", ""]
        out += imports_table(imports) + [""]
    return "\n".join(out)


def _find(jobs: list[Job], figure: str, backend: str, impl: str, t: float) -> Job | None:
    for job in jobs:
        if job.figure == figure and job.backend == backend and job.impl == impl and abs(job.model_time - t) < 1e-9:
            return job
    return None
