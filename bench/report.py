"""The tables: figures of one run, with the targets met or not, as Markdown.

Targets apply to this provider's rows; the other rows are the baselines it is measured
against (their verdict column says ``baseline``). A row that could not run says why
(``n/a: ...`` or ``error: ...``) instead of disappearing. The summary at the top gathers
every target's verdict next to the seed design's figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .plan import Config, Job

LABELS = {
    "provider": "**this provider** (streaming)",
    "provider-polling": "**this provider**, server that does not stream",
    "engine": "this provider's engine alone, newest SDK",
    "seed": "seed design (poll every 1 s)",
    "sdk": "openai SDK helpers",
    "langchain": "LangChain OpenAIAssistantRunnable",
}
OK, NO = "met", "**NOT met**"


@dataclass(frozen=True)
class Verdict:
    target: str
    backend: str
    measured: str
    ok: bool


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.{digits}f}"


def _verdict(ok: bool) -> str:
    return OK if ok else NO


def _baseline(impl: str) -> str:
    return "–" if impl.startswith("provider") or impl == "engine" else "baseline"


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


def _find(jobs: list[Job], figure: str, backend: str, impl: str, t: float | None = None) -> dict[str, Any]:
    for job in jobs:
        if (
            job.figure == figure
            and job.backend == backend
            and job.impl == impl
            and (t is None or abs(job.model_time - t) < 1e-9)
        ):
            return job.result
    return {"na": "not run"}


def polling_bound(config: Config, t: float) -> float:
    """The polling-only target: create + list + the first poll, plus one poll per hinted interval."""
    return 3 + t / (config.poll_after_ms / 1000)


def machine_block(machine: dict[str, Any], config: Config) -> list[str]:
    load = f"load average at start {machine.get('load_average_at_start')}, at end {machine.get('load_average_at_end')}"
    run = f"Run: `{config.mode}` mode, {machine['date']}, {machine.get('duration_s', 0):.0f} s."
    lines = [f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['os']}; {load}. {run}", ""]
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


def requests_table(config: Config, jobs: list[Job], verdicts: list[Verdict]) -> list[str]:
    times = config.request_times
    head = (
        ["backend", "implementation"]
        + [f"{kind} T={t:g} s" for t in times for kind in ("new", "continued")]
        + ["target", ""]
    )
    rows = []
    for backend in config.backends:
        for impl in config.impls:
            cells: list[str] = []
            oks: list[bool] = []
            target, note = "–", ""
            for t in times:
                result = _find(jobs, "requests", backend, impl, t)
                problem = _problem(result)
                if problem:
                    cells += ["–", "–"]
                    note = problem
                    continue
                pair = [result[kind]["per_query"] for kind in ("new", "continued")]
                cells += [_fmt(x) for x in pair]
                if impl == "provider":
                    target = "≤ 2"
                    oks.append(max(pair) <= 2)
                elif impl == "provider-polling":
                    target = f"≤ 3 + T/{config.poll_after_ms / 1000:g} s"
                    oks.append(max(pair) <= polling_bound(config, t))
            if impl in ("provider", "provider-polling") and not note:
                seed = [_find(jobs, "requests", backend, "seed", t) for t in times]
                seed_cells = [
                    _fmt(s[k]["per_query"]) if "new" in s else "–" for s in seed for k in ("new", "continued")
                ]
                mode = "streaming" if impl == "provider" else "polling-only"
                temps = ", ".join(f"T={t:g}" for t in times)
                verdicts.append(
                    Verdict(
                        f"{mode}: requests/query {target} (new / continued, {temps})",
                        backend,
                        " / ".join(cells) + f" (seed {' / '.join(seed_cells)})",
                        all(oks),
                    )
                )
            verdict = note or (_verdict(all(oks)) if oks else _baseline(impl))
            rows.append([backend, LABELS[impl]] + cells + [target, verdict])
    return _table(head, rows)


def routes_list(config: Config, jobs: list[Job]) -> list[str]:
    """Which requests make up each count (at the shortest T): the table's numbers, explained."""
    t = min(config.request_times)
    lines = []
    for backend in config.backends:
        for impl in config.impls:
            result = _find(jobs, "requests", backend, impl, t)
            if _problem(result):
                continue
            parts = []
            for kind in ("new", "continued"):
                routes = result[kind]["routes"]
                parts.append(f"{kind}: " + ", ".join(f"{n:.3g} × `{route}`" for route, n in routes.items()))
            lines.append(f"- {backend}, {LABELS[impl]}: " + "; ".join(parts))
    return [f"Requests per query by route at T={t:g} s:", ""] + lines


def latency_table(config: Config, jobs: list[Job], verdicts: list[Verdict]) -> list[str]:
    head = [
        "backend",
        "implementation",
        "n",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "client CPU ms/query",
        "target",
        "",
    ]
    rows = []
    for backend in config.backends:
        for impl in config.impls:
            result = _find(jobs, "latency", backend, impl, config.latency_time)
            problem = _problem(result)
            if problem:
                rows.append([backend, LABELS[impl]] + ["–"] * 7 + [problem])
                continue
            s = result["added_ms"]
            target, verdict = "–", _baseline(impl)
            if impl == "provider":
                ok = s["p50"] <= 10 and s["p99"] <= 50
                target, verdict = "p50 ≤ 10, p99 ≤ 50", _verdict(ok)
                seed = _find(jobs, "latency", backend, "seed", config.latency_time).get("added_ms", {})
                verdicts.append(
                    Verdict(
                        f"added time at concurrency 1, T={config.latency_time:g} s: p50 ≤ 10 ms, p99 ≤ 50 ms (n={s['n']})",
                        backend,
                        f"p50 {_fmt(s['p50'])}, p99 {_fmt(s['p99'])} ms (seed {_fmt(seed.get('p50'))}, {_fmt(seed.get('p99'))})",
                        ok,
                    )
                )
            rows.append(
                [
                    backend,
                    LABELS[impl],
                    str(s["n"]),
                    _fmt(s["p50"]),
                    _fmt(s["p95"]),
                    _fmt(s["p99"]),
                    _fmt(s["max"]),
                    _fmt(result.get("client_cpu_ms_per_query"), 2),
                    target,
                    verdict,
                ]
            )
    return _table(head, rows)


def concurrency_table(config: Config, jobs: list[Job], verdicts: list[Verdict]) -> list[str]:
    head = [
        "backend",
        "implementation",
        "T s",
        "concurrency",
        "answered",
        "queries/s",
        "p50 added ms",
        "p99 added ms",
        "connections",
        "requests/query",
        "CPU ms/query client + server",
        "target",
        "",
    ]
    top = max(config.concurrency_levels)
    rows = []
    for backend in config.backends:
        for impl in config.impls:
            for job in [j for j in jobs if j.figure == "concurrency" and j.backend == backend and j.impl == impl]:
                problem = _problem(job.result)
                if problem:
                    rows.append([backend, LABELS[impl], f"{job.model_time:g}"] + ["–"] * 9 + [problem])
                    continue
                stress = job.model_time != config.concurrency_time
                for level in job.result["levels"]:
                    s = level["added_ms"]
                    all_answered = level["answered"] == level["queries"]
                    jitter = level.get("jitter") or 0.0
                    shown_t = f"{job.model_time:g}" + (f" ± {jitter:.0%}" if jitter else "")
                    target, verdict = "–", _baseline(impl)
                    if impl == "provider" and stress:
                        target = "(stress: CPU-bound)"
                    elif impl == "provider" and jitter:
                        target, verdict = "(model times spread)", _verdict(all_answered) if not all_answered else "–"
                    elif impl == "provider" and level["concurrency"] == top:
                        ok = all_answered and s["p99"] <= 250
                        target, verdict = "all answered, p99 ≤ 250", _verdict(ok)
                        seed = next(
                            (
                                lv
                                for j in jobs
                                if j.figure == "concurrency"
                                and j.backend == backend
                                and j.impl == "seed"
                                and j.model_time == job.model_time
                                for lv in j.result.get("levels", [])
                                if lv["concurrency"] == top and not lv.get("jitter")
                            ),
                            None,
                        )
                        seed_text = (
                            f" (seed {seed['answered']}/{seed['queries']}, p99 {_fmt(seed['added_ms']['p99'])})"
                            if seed
                            else ""
                        )
                        spread = next(
                            (
                                lv
                                for j in jobs
                                if j.figure == "concurrency" and j.backend == backend and j.impl == impl
                                for lv in j.result.get("levels", [])
                                if lv["concurrency"] == top and lv.get("jitter")
                            ),
                            None,
                        )
                        if spread:
                            seed_text += (
                                f"; with model times spread T ± {spread['jitter']:.0%}: {spread['answered']}/{spread['queries']}, "
                                f"p99 {_fmt(spread['added_ms']['p99'])} ms"
                            )
                        verdicts.append(
                            Verdict(
                                f"concurrency {top} through one instance, T={job.model_time:g} s: every query answered, p99 added ≤ 250 ms",
                                backend,
                                f"{level['answered']}/{level['queries']}, p99 {_fmt(s['p99'])} ms, "
                                f"{_fmt(level['throughput_qps'])} q/s, {level['connections']} connections{seed_text}",
                                ok,
                            )
                        )
                    elif impl == "provider":
                        target, verdict = "all answered", _verdict(all_answered)
                    errors = f" ({'; '.join(level['errors'])})" if level["errors"] else ""
                    rows.append(
                        [
                            backend,
                            LABELS[impl],
                            shown_t,
                            str(level["concurrency"]),
                            f"{level['answered']}/{level['queries']}{errors}",
                            _fmt(level["throughput_qps"]),
                            _fmt(s["p50"]),
                            _fmt(s["p99"]),
                            str(level["connections"]),
                            _fmt(level["requests_per_query"]),
                            f"{_fmt(level.get('client_cpu_ms_per_query'), 2)} + {_fmt(level.get('server_cpu_ms_per_query'), 2)}",
                            target,
                            verdict,
                        ]
                    )
    return _table(head, rows)


def memory_table(config: Config, jobs: list[Job], verdicts: list[Verdict]) -> list[str]:
    head = [
        "backend",
        "implementation",
        "queries",
        f"RSS after {config.memory_every} MB",
        "RSS after all MB",
        "growth MB",
        "peak RSS MB",
        "target",
        "",
    ]
    rows = []
    for backend in config.backends:
        for impl in config.impls:
            result = _find(jobs, "memory", backend, impl, config.memory_time)
            problem = _problem(result)
            if problem:
                rows.append([backend, LABELS[impl]] + ["–"] * 6 + [problem])
                continue
            target, verdict = "–", _baseline(impl)
            peak = max(result["peak_rss_mb"], result["rss_last_mb"])
            if impl.startswith("provider"):
                ok = result["growth_mb"] <= 20
                target, verdict = "growth ≤ 20", _verdict(ok)
                mode = "streaming" if impl == "provider" else "polling-only"
                verdicts.append(
                    Verdict(
                        f"RSS growth ≤ 20 MB from query {config.memory_every} to {result['queries']} ({mode})",
                        backend,
                        f"{_fmt(result['growth_mb'], 2)} MB (peak {_fmt(peak)} MB)",
                        ok,
                    )
                )
            rows.append(
                [
                    backend,
                    LABELS[impl],
                    str(result["queries"]),
                    _fmt(result["rss_first_mb"]),
                    _fmt(result["rss_last_mb"]),
                    _fmt(result["growth_mb"], 2),
                    _fmt(peak),
                    target,
                    verdict,
                ]
            )
    return _table(head, rows)


def imports_table(result: dict[str, Any]) -> list[str]:
    head = ["runtime", "what is imported", "median ms", "openai alone ms", "ratio"]
    rows = []
    for role, label, key in (
        ("keep", "Keep provider module (Keep's base modules already loaded)", "provider"),
        ("main", "engine + both backends (no Keep)", "engine"),
    ):
        if role not in result:
            continue
        part, base = result[role][key], result[role]["openai"]
        if "error" in part or "error" in base:
            rows.append([role, label, "–", "–", f"error: {part.get('error') or base.get('error')}"])
            continue
        rows.append(
            [
                role,
                label,
                _fmt(part["median_ms"]),
                _fmt(base["median_ms"]),
                f"{part['median_ms'] / base['median_ms']:.2f}×",
            ]
        )
    return _table(head, rows)


def summary_table(verdicts: list[Verdict]) -> list[str]:
    return _table(
        ["target (this provider)", "backend", "measured (seed design in brackets)", ""],
        [[v.target, v.backend, v.measured, _verdict(v.ok)] for v in verdicts],
    )


def render(config: Config, machine: dict[str, Any], jobs: list[Job], imports: dict[str, Any] | None) -> str:
    verdicts: list[Verdict] = []
    body: list[str] = []
    if any(j.figure == "requests" for j in jobs):
        body += [
            f"## 1. HTTP requests per query (counted by the emulator; mean of {config.request_n} queries each)",
            "",
        ]
        body += requests_table(config, jobs, verdicts) + [""] + routes_list(config, jobs) + [""]
    if any(j.figure == "latency" for j in jobs):
        body += [
            f"## 2. Time added on top of the model time T={config.latency_time:g} s, concurrency 1 (wall − T, new thread each)",
            "",
        ]
        body += latency_table(config, jobs, verdicts) + [""]
    if any(j.figure == "concurrency" for j in jobs):
        body += [
            f"## 3. Concurrency through ONE instance (threads; {config.concurrency_waves} waves of each level, new thread each)",
            "",
        ]
        body += concurrency_table(config, jobs, verdicts) + [""]
    if any(j.figure == "memory" for j in jobs):
        body += [
            (
                f"## 4. Memory over {config.memory_n} queries, {config.memory_threads} at a time, T={config.memory_time:g} s "
                "(RSS after gc.collect(), one process per implementation)"
            ),
            "",
        ]
        body += memory_table(config, jobs, verdicts) + [""]
    if imports:
        body += [f"## 5. Import time (fresh interpreter each, median of {config.import_repeats})", ""]
        body += imports_table(imports) + [""]

    via = sorted(
        {
            f"{j.impl}: {j.result['via']}"
            for j in jobs
            if "via" in j.result and (j.impl.startswith("provider") or j.impl == "engine")
        }
    )
    out = ["# Benchmark results", ""] + machine_block(machine, config)
    if via:
        out += ["This provider was measured through: " + "; ".join(via) + ".", ""]
    if verdicts:
        out += ["## Targets", ""] + summary_table(verdicts) + [""]
    return "\n".join(out + body)
