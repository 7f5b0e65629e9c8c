"""The tables: figures of one run, with the targets met or not, as Markdown.

Targets apply to this provider's rows; the other rows are the baselines it is measured
against (their verdict column says ``baseline``), the minimal raw streamed client its CPU is
held to (``CPU floor``), and with ``--compare-ref`` the same provider rows on another revision
(``before``; :mod:`bench.comparison` puts the two side by side). A row that could not run says
why (``n/a: ...`` or ``error: ...``) instead of disappearing. The summary at the top gathers
every target's verdict next to the seed design's figure; a run whose jobs ran side by side
(quick) says that its figures and verdicts are indicative only.
"""

from __future__ import annotations

from typing import Any

from .comparison import before_after_table
from .plan import Config, Job
from .tables import Targets, find, fmt, label, problem, role, table, top_level

# The CPU target: this provider's client CPU per answer within this many times the raw client's.
CPU_FACTOR = 2.0


def polling_bound(config: Config, t: float) -> float:
    """The polling-only target: create + list + the first poll, plus one poll per hinted interval."""
    return 3 + t / (config.poll_after_ms / 1000)


def machine_block(machine: dict[str, Any], config: Config) -> list[str]:
    load = f"load average at start {machine.get('load_average_at_start')}, at end {machine.get('load_average_at_end')}"
    run = f"Run: `{config.mode}` mode, {machine['date']}, {machine.get('duration_s', 0):.0f} s."
    lines = [f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['os']}; {load}. {run}", ""]
    for name, rt in machine["runtimes"].items():
        parts = [f"Python {rt.get('python', '?')}", f"openai {rt.get('openai', '?')}"]
        parts += [f"{k} {rt[k]}" for k in ("httpx", "httpx2") if k in rt]
        if "keep" in rt:
            parts.append(f"Keep (keephq) {rt['keep']}")
        if "error" in rt:
            parts = [f"unusable: {rt['error']}"]
        lines.append(f"- {name} runtime `{rt['executable']}`: " + ", ".join(parts))
    compared = machine.get("compare")
    if compared:
        lines += [
            "",
            f"Before rows: `{compared['ref']}` = {compared['sha'][:12]} ({compared['subject']}): that revision's "
            f"package, imported from `{compared['import_root']}`, on the same interpreter and emulator as this "
            "tree's provider rows.",
        ]
    lines += ["", f"Emulator: its own process, `openai-poll-after-ms: {config.poll_after_ms}` on polled replies.", ""]
    return lines


def _variants(config: Config) -> list[tuple[str, str, str | None]]:
    return [(backend, impl, ref) for backend in config.backends for impl, ref in config.variants()]


def requests_table(config: Config, jobs: list[Job], targets: Targets) -> list[str]:
    times = config.request_times
    head = [
        "backend",
        "implementation",
        *(f"{kind} T={t:g} s" for t in times for kind in ("new", "continued")),
        "target",
        "",
    ]
    rows = []
    for backend, impl, ref in _variants(config):
        cells: list[str] = []
        oks: list[bool] = []
        target, note = "–", ""
        judged = ref is None and impl in ("provider", "provider-polling")
        for t in times:
            result = find(jobs, "requests", backend, impl, t, ref)
            trouble = problem(result)
            if trouble:
                cells += ["–", "–"]
                note = trouble
                continue
            pair = [result[kind]["per_query"] for kind in ("new", "continued")]
            cells += [fmt(x) for x in pair]
            if judged and impl == "provider":
                target = "≤ 2"
                oks.append(max(pair) <= 2)
            elif judged:
                target = f"≤ 3 + T/{config.poll_after_ms / 1000:g} s"
                oks.append(max(pair) <= polling_bound(config, t))
        verdict = note or role(impl, ref)
        if judged and not note and oks:
            seed = [find(jobs, "requests", backend, "seed", t) for t in times]
            seed_cells = [fmt(s[k]["per_query"]) if "new" in s else "–" for s in seed for k in ("new", "continued")]
            mode = "streaming" if impl == "provider" else "polling-only"
            temps = ", ".join(f"T={t:g}" for t in times)
            verdict = targets.add(
                f"{mode}: requests/query {target} (new / continued, {temps})",
                backend,
                " / ".join(cells) + f" (seed {' / '.join(seed_cells)})",
                all(oks),
            )
        rows.append([backend, label(impl, ref), *cells, target, verdict])
    return table(head, rows)


def routes_list(config: Config, jobs: list[Job]) -> list[str]:
    """Which requests make up each count (at the shortest T): the table's numbers, explained."""
    t = min(config.request_times)
    lines = []
    for backend, impl, ref in _variants(config):
        result = find(jobs, "requests", backend, impl, t, ref)
        if problem(result):
            continue
        parts = []
        for kind in ("new", "continued"):
            routes = result[kind]["routes"]
            parts.append(f"{kind}: " + ", ".join(f"{n:.3g} × `{route}`" for route, n in routes.items()))
        lines.append(f"- {backend}, {label(impl, ref)}: " + "; ".join(parts))
    return [f"Requests per query by route at T={t:g} s:", "", *lines]


def _cpu_ratio(result: dict[str, Any], raw: dict[str, Any]) -> float | None:
    """Client CPU per answer ÷ the raw client's, for rows on the raw client's interpreter only."""
    cpu, floor = result.get("client_cpu_ms_per_query"), raw.get("client_cpu_ms_per_query")
    if cpu is None or not floor or result.get("executable") != raw.get("executable"):
        return None
    return float(cpu) / float(floor)


def latency_table(config: Config, jobs: list[Job], targets: Targets) -> list[str]:
    t = config.latency_time
    head = [
        "backend",
        "implementation",
        "n",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "client CPU ms/query",
        f"CPU ÷ raw client's (target ≤ {CPU_FACTOR:g}×)",
        "target",
        "",
    ]
    rows = []
    for backend, impl, ref in _variants(config):
        result = find(jobs, "latency", backend, impl, t, ref)
        trouble = problem(result)
        if trouble:
            rows.append([backend, label(impl, ref), *["–"] * 8, trouble])
            continue
        s = result["added_ms"]
        raw = find(jobs, "latency", backend, "raw", t)
        ratio = _cpu_ratio(result, raw)
        target, verdict = "–", role(impl, ref)
        if impl == "provider" and ref is None:
            ok = s["p50"] <= 10 and s["p99"] <= 50
            target = "p50 ≤ 10, p99 ≤ 50" + (f"; CPU ≤ {CPU_FACTOR:g}× raw" if ratio is not None else "")
            seed = find(jobs, "latency", backend, "seed", t).get("added_ms", {})
            verdict = targets.add(
                f"added time at concurrency 1, T={t:g} s: p50 ≤ 10 ms, p99 ≤ 50 ms (n={s['n']})",
                backend,
                f"p50 {fmt(s['p50'])}, p99 {fmt(s['p99'])} ms (seed {fmt(seed.get('p50'))}, {fmt(seed.get('p99'))})",
                ok,
            )
            if ratio is not None:
                before = find(jobs, "latency", backend, impl, t, config.compare_ref) if config.compare_ref else {}
                then = _cpu_ratio(before, raw)
                cpu_word = targets.add(
                    f"client CPU per answer ≤ {CPU_FACTOR:g}× the minimal raw streamed client's "
                    f"(concurrency 1, T={t:g} s, same run and runtime)",
                    backend,
                    f"{fmt(result['client_cpu_ms_per_query'], 2)} vs {fmt(raw['client_cpu_ms_per_query'], 2)} ms: "
                    f"{ratio:.2f}×" + (f" (before `{config.compare_ref}`: {then:.2f}×)" if then is not None else ""),
                    ratio <= CPU_FACTOR,
                )
                verdict += f"; CPU {cpu_word}"
        rows.append(
            [
                backend,
                label(impl, ref),
                str(s["n"]),
                fmt(s["p50"]),
                fmt(s["p95"]),
                fmt(s["p99"]),
                fmt(s["max"]),
                fmt(result.get("client_cpu_ms_per_query"), 2),
                f"{ratio:.2f}×" if ratio is not None else "–",
                target,
                verdict,
            ]
        )
    return table(head, rows)


def _concurrency_verdict(
    config: Config, jobs: list[Job], targets: Targets, job: Job, level: dict[str, Any]
) -> tuple[str, str]:
    """(target, verdict) of one level of this tree's provider; records the top level's verdict."""
    s, top = level["added_ms"], max(config.concurrency_levels)
    all_answered = level["answered"] == level["queries"]
    if job.model_time != config.concurrency_time:
        return "(stress: CPU-bound)", "–"
    if level.get("jitter"):
        return "(model times spread)", "–" if all_answered else targets.word(False)
    if level["concurrency"] != top:
        return "all answered", targets.word(all_answered)
    seed = top_level(jobs, job.backend, "seed", job.model_time, top)
    seed_text = f" (seed {seed['answered']}/{seed['queries']}, p99 {fmt(seed['added_ms']['p99'])})" if seed else ""
    spread = top_level(jobs, job.backend, job.impl, job.model_time, top, jitter=True)
    if spread:
        seed_text += (
            f"; with model times spread T ± {spread['jitter']:.0%}: "
            f"{spread['answered']}/{spread['queries']}, p99 {fmt(spread['added_ms']['p99'])} ms"
        )
    verdict = targets.add(
        f"concurrency {top} through one instance, T={job.model_time:g} s: every query answered, p99 added ≤ 250 ms",
        job.backend,
        f"{level['answered']}/{level['queries']}, p99 {fmt(s['p99'])} ms, "
        f"{fmt(level['throughput_qps'])} q/s, {level['connections']} connections{seed_text}",
        all_answered and s["p99"] <= 250,
    )
    return "all answered, p99 ≤ 250", verdict


def concurrency_table(config: Config, jobs: list[Job], targets: Targets) -> list[str]:
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
    rows = []
    for backend, impl, ref in _variants(config):
        for job in jobs:
            if job.figure != "concurrency" or (job.backend, job.impl, job.ref) != (backend, impl, ref):
                continue
            trouble = problem(job.result)
            if trouble:
                rows.append([backend, label(impl, ref), f"{job.model_time:g}", *["–"] * 9, trouble])
                continue
            for level in job.result["levels"]:
                s = level["added_ms"]
                jitter = level.get("jitter") or 0.0
                target, verdict = "–", role(impl, ref)
                if impl == "provider" and ref is None:
                    target, verdict = _concurrency_verdict(config, jobs, targets, job, level)
                errors = f" ({'; '.join(level['errors'])})" if level["errors"] else ""
                cpu = f"{fmt(level.get('client_cpu_ms_per_query'), 2)} + {fmt(level.get('server_cpu_ms_per_query'), 2)}"
                rows.append(
                    [
                        backend,
                        label(impl, ref),
                        f"{job.model_time:g}" + (f" ± {jitter:.0%}" if jitter else ""),
                        str(level["concurrency"]),
                        f"{level['answered']}/{level['queries']}{errors}",
                        fmt(level["throughput_qps"]),
                        fmt(s["p50"]),
                        fmt(s["p99"]),
                        str(level["connections"]),
                        fmt(level["requests_per_query"]),
                        cpu,
                        target,
                        verdict,
                    ]
                )
    return table(head, rows)


def memory_table(config: Config, jobs: list[Job], targets: Targets) -> list[str]:
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
    for backend, impl, ref in _variants(config):
        result = find(jobs, "memory", backend, impl, config.memory_time, ref)
        trouble = problem(result)
        if trouble:
            rows.append([backend, label(impl, ref), *["–"] * 6, trouble])
            continue
        target, verdict = "–", role(impl, ref)
        peak = max(result["peak_rss_mb"], result["rss_last_mb"])
        if impl.startswith("provider") and ref is None:
            target = "growth ≤ 20"
            mode = "streaming" if impl == "provider" else "polling-only"
            verdict = targets.add(
                f"RSS growth ≤ 20 MB from query {config.memory_every} to {result['queries']} ({mode})",
                backend,
                f"{fmt(result['growth_mb'], 2)} MB (peak {fmt(peak)} MB)",
                result["growth_mb"] <= 20,
            )
        rows.append(
            [
                backend,
                label(impl, ref),
                str(result["queries"]),
                fmt(result["rss_first_mb"]),
                fmt(result["rss_last_mb"]),
                fmt(result["growth_mb"], 2),
                fmt(peak),
                target,
                verdict,
            ]
        )
    return table(head, rows)


def imports_table(result: dict[str, Any]) -> list[str]:
    head = ["runtime", "what is imported", "median ms", "openai alone ms", "ratio"]
    rows = []
    for name, what, key in (
        ("keep", "Keep provider module (Keep's base modules already loaded)", "provider"),
        ("main", "engine + both backends (no Keep)", "engine"),
    ):
        if name not in result:
            continue
        part, base = result[name][key], result[name]["openai"]
        if "error" in part or "error" in base:
            rows.append([name, what, "–", "–", f"error: {part.get('error') or base.get('error')}"])
            continue
        rows.append(
            [
                name,
                what,
                fmt(part["median_ms"]),
                fmt(base["median_ms"]),
                f"{part['median_ms'] / base['median_ms']:.2f}×",
            ]
        )
    return table(head, rows)


def summary_table(targets: Targets) -> list[str]:
    return table(
        ["target (this provider)", "backend", "measured (seed design in brackets)", ""],
        [[v.target, v.backend, v.measured, targets.word(v.ok)] for v in targets.verdicts],
    )


def indicative_note(config: Config) -> list[str]:
    return [
        f"> **Indicative only** (`{config.mode}` run): small N, and every row's figures measured in one "
        "worker with all the rows running side by side, on a machine that may be busy. A verdict here "
        "says *(indicative)*: it is a hint, not a measurement of the target. `python -m bench` (about "
        "15 minutes, jobs that CPU load can distort run alone) measures them.",
        "",
    ]


def render(config: Config, machine: dict[str, Any], jobs: list[Job], imports: dict[str, Any] | None) -> str:
    targets = Targets(indicative=config.indicative)
    body: list[str] = []
    if any(j.figure == "requests" for j in jobs):
        body += [
            f"## 1. HTTP requests per query (counted by the emulator; mean of {config.request_n} queries each)",
            "",
            *requests_table(config, jobs, targets),
            "",
            *routes_list(config, jobs),
            "",
        ]
    if any(j.figure == "latency" for j in jobs):
        body += [
            f"## 2. Time added on top of the model time T={config.latency_time:g} s, concurrency 1 "
            "(wall − T, new thread each)",
            "",
            *latency_table(config, jobs, targets),
            "",
        ]
    if any(j.figure == "concurrency" for j in jobs):
        body += [
            f"## 3. Concurrency through ONE instance (threads; {config.concurrency_waves} waves of each level, "
            "new thread each)",
            "",
            *concurrency_table(config, jobs, targets),
            "",
        ]
    if any(j.figure == "memory" for j in jobs):
        body += [
            f"## 4. Memory over {config.memory_n} queries, {config.memory_threads} at a time, "
            f"T={config.memory_time:g} s (RSS after gc.collect(), one process per implementation)",
            "",
            *memory_table(config, jobs, targets),
            "",
        ]
    if imports:
        body += [
            f"## 5. Import time (fresh interpreter each, median of {config.import_repeats})",
            "",
            *imports_table(imports),
            "",
        ]
    compared = before_after_table(config, jobs, targets)
    if compared:
        body = [
            f"## Before / after: this tree against `{config.compare_ref}` (same run, interpreter and emulator)",
            "",
            *compared,
            "",
            *body,
        ]

    via = sorted(
        {
            f"{j.impl}{'@' + j.ref if j.ref else ''}: {j.result['via']}"
            for j in jobs
            if "via" in j.result and (j.impl.startswith("provider") or j.impl in ("engine", "raw"))
        }
    )
    out = ["# Benchmark results", ""]
    if config.indicative:
        out += indicative_note(config)
    out += machine_block(machine, config)
    if via:
        out += ["This provider was measured through: " + "; ".join(via) + ".", ""]
    if targets.verdicts:
        out += ["## Targets" + (" (indicative)" if config.indicative else ""), "", *summary_table(targets), ""]
    return "\n".join(out + body)
