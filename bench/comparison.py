"""The before/after table (``--compare-ref``): this tree's provider rows against another revision's.

Both were measured in the same run, on the same machine, interpreter and emulator, so the
difference is the package's code. A figure is **worse** only beyond the noise a run shows on
2 cores: a time or CPU figure above ``before × (1 + rel) + abs`` of its :data:`TOLERANCES`,
or half a request per answer more (streamed counts are whole numbers; a poller's wobble by a
fraction of a poll with the timing); ``better`` below ``before × (1 − rel) − abs``; else
``no worse``. The target (the core redesign's "no worse than
before") takes the requests, the added time p50/p99 and the CPU per answer at concurrency 1;
the concurrency rows are shown beside them, not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .plan import REF_IMPLS, Config, Job
from .tables import Targets, find, fmt, label, table, top_level

# kind -> (relative, absolute) noise allowance
TOLERANCES = {
    "requests": (0.0, 0.5),
    "added ms": (0.10, 0.5),
    "cpu ms": (0.10, 0.1),
    "tail ms": (0.15, 5.0),
}


@dataclass(frozen=True)
class Figure:
    name: str
    kind: str
    before: float | None
    after: float | None
    counted: bool  # part of the "no worse than before" target


def compare(before: float | None, after: float | None, kind: str) -> str | None:
    """'worse', 'better' or 'no worse'; None when either side was not measured."""
    if before is None or after is None:
        return None
    rel, slack = TOLERANCES[kind]
    if after > before * (1 + rel) + slack:
        return "worse"
    if after < before * (1 - rel) - slack:
        return "better"
    return "no worse"


def _get(result: dict[str, Any], *path: str) -> float | None:
    value: Any = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def figures(config: Config, jobs: list[Job], backend: str, impl: str) -> list[Figure]:
    ref = config.compare_ref
    out: list[Figure] = []
    for t in config.request_times if "requests" in config.figures else ():
        now, then = find(jobs, "requests", backend, impl, t), find(jobs, "requests", backend, impl, t, ref)
        for kind in ("new", "continued"):
            out.append(
                Figure(
                    f"requests per answer, {kind} thread, T={t:g} s",
                    "requests",
                    _get(then, kind, "per_query"),
                    _get(now, kind, "per_query"),
                    True,
                )
            )
    cpu = "client_cpu_ms_per_query"
    if "latency" in config.figures:
        t = config.latency_time
        now, then = find(jobs, "latency", backend, impl, t), find(jobs, "latency", backend, impl, t, ref)
        for q in ("p50", "p99"):
            name = f"added time {q} ms, concurrency 1, T={t:g} s"
            out.append(Figure(name, "added ms", _get(then, "added_ms", q), _get(now, "added_ms", q), True))
        out.append(Figure("client CPU ms per answer, concurrency 1", "cpu ms", _get(then, cpu), _get(now, cpu), True))
    if "concurrency" in config.figures and config.concurrency_levels:
        top, t = max(config.concurrency_levels), config.concurrency_time
        now_lv = top_level(jobs, backend, impl, t, top) or {}
        then_lv = top_level(jobs, backend, impl, t, top, ref=ref) or {}
        out.append(
            Figure(
                f"p99 added ms at concurrency {top}, T={t:g} s",
                "tail ms",
                _get(then_lv, "added_ms", "p99"),
                _get(now_lv, "added_ms", "p99"),
                False,
            )
        )
        out.append(
            Figure(
                f"client CPU ms per answer at concurrency {top}", "cpu ms", _get(then_lv, cpu), _get(now_lv, cpu), False
            )
        )
    return out


def before_after_table(config: Config, jobs: list[Job], targets: Targets) -> list[str]:
    """The rows of both revisions side by side; one verdict per backend and provider row."""
    ref = config.compare_ref
    if not ref:
        return []
    head = ["backend", "implementation", "figure", f"before `{ref}`", "after (this tree)", "after ÷ before", ""]
    rows = []
    for backend in config.backends:
        for impl in (i for i in REF_IMPLS if i in config.impls):
            measured = [(f, compare(f.before, f.after, f.kind)) for f in figures(config, jobs, backend, impl)]
            for f, outcome in measured:
                digits = 2 if f.kind in ("requests", "cpu ms") else 1
                ratio = f"{f.after / f.before:.2f}×" if f.before and f.after is not None else "–"
                if outcome is None:
                    word = "not measured"
                else:
                    word = targets.word(outcome != "worse", yes=outcome, no="**worse**")
                name = f.name if f.counted else f"{f.name} (shown, not in the target)"
                rows.append([backend, label(impl), name, fmt(f.before, digits), fmt(f.after, digits), ratio, word])
            counted = [(f, o) for f, o in measured if f.counted]
            worse = [f.name for f, o in counted if o == "worse"]
            missing = [f.name for f, o in counted if o is None]
            text = f"{sum(o is not None and o != 'worse' for _, o in counted)}/{len(counted)} figures no worse"
            text += "".join(
                f"; {what}: " + ", ".join(names)
                for what, names in (("worse", worse), ("not measured", missing))
                if names
            )
            mode = "streaming" if impl == "provider" else "polling-only"
            targets.add(
                f"no worse than before (`{ref}`), {mode}: requests, added p50/p99, CPU per answer",
                backend,
                text,
                not worse and not missing,
            )
    return table(head, rows)
