"""One measurement of one implementation, in a process of its own.

    python -m bench.worker '{"impl": "provider", "backend": "assistants", "url": "http://127.0.0.1:PORT",
                             "model_time": 0.3, "figures": {"latency": {"n": 200}}}'

prints one JSON line: the runtime, ``via`` (what was measured), and each figure's result.
Figures: ``requests`` (HTTP requests per query, new and continued thread, counted by the
emulator), ``latency`` (time added on top of the model time, concurrency 1), ``concurrency``
(throughput, p99 and connections at several concurrency levels through ONE instance),
``memory`` (RSS over many queries). A process per measurement: RSS belongs to one
implementation only, and each may run in its own virtualenv.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .control import Control
from .impls import Impl, NotAvailable, make
from .stats import summary

PROMPT = "Disk full on db-1: what should on-call check first?"
Figure = Callable[[Impl, Control, dict[str, Any]], dict[str, Any]]


def _timed_ask(impl: Impl, thread_id: str | None, model_time: float, prompt: str = PROMPT) -> tuple[str, float]:
    """Ask once; return the thread and the milliseconds added on top of the model time."""
    start = time.perf_counter()
    answer = impl.ask(prompt, thread_id)
    wall = time.perf_counter() - start
    if not answer.text:
        raise RuntimeError("empty answer")
    return answer.thread_id, (wall - model_time) * 1000


def requests_per_query(impl: Impl, control: Control, job: dict[str, Any]) -> dict[str, Any]:
    n, t = int(job["n"]), float(job["model_time"])
    out: dict[str, Any] = {}
    control.reset()
    added = [_timed_ask(impl, None, t)[1] for _ in range(n)]
    out["new"] = _per_query(control, n, added)
    thread_id, _ = _timed_ask(impl, None, t)
    control.reset()
    added = []
    for _ in range(n):
        thread_id, ms = _timed_ask(impl, thread_id, t)
        added.append(ms)
    out["continued"] = _per_query(control, n, added)
    return out


def _per_query(control: Control, n: int, added: list[float]) -> dict[str, Any]:
    stats = control.stats()
    return {
        "per_query": stats.total / n,
        "routes": {route: count / n for route, count in sorted(stats.requests.items())},
        "added_ms": summary(added),
    }


def _cpu_s() -> float:
    """CPU seconds (user + system) of this worker process: the client's cost, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def latency(impl: Impl, control: Control, job: dict[str, Any]) -> dict[str, Any]:
    n, t = int(job["n"]), float(job["model_time"])
    cpu, server = _cpu_s(), control.stats().cpu_s
    added = [_timed_ask(impl, None, t)[1] for _ in range(n)]
    return {
        "added_ms": summary(added),
        "client_cpu_ms_per_query": (_cpu_s() - cpu) * 1000 / n,
        "server_cpu_ms_per_query": (control.stats().cpu_s - server) * 1000 / n,
        "samples_ms": [round(x, 3) for x in added],
    }


def _jittered(t: float, jitter: float, i: int) -> tuple[str, float]:
    """Query i's prompt and model time: T itself, or T ± jitter·T (the emulator's ``[[delay:S]]``).

    Seeded by i, so every implementation gets the same model times in the same order.
    """
    if not jitter:
        return PROMPT, t
    delay = t * (1 + jitter * (2 * random.Random(i).random() - 1))
    return f"{PROMPT} [[delay:{delay:.3f}]]", round(delay, 3)


def concurrency(impl: Impl, control: Control, job: dict[str, Any]) -> dict[str, Any]:
    """Each level through ONE fresh instance: its connections are the ones it opened itself.

    With ``jitter`` (a fraction), each query's model time is drawn in T ± jitter·T: real answers
    do not all take the same time, so they do not all finish in the same millisecond.
    """
    t = float(job["model_time"])
    jitter = float(job.get("jitter", 0.0))
    impl.close()
    levels = []
    for level in job["levels"]:
        n = max(int(job.get("waves", 2)) * level, int(job.get("min_n", 64)))
        instance = make(job["impl"], job["backend"], job["url"] + "/v1")
        control.reset()
        _timed_ask(instance, None, t)  # warm-up: imports done, first connection open, server's streaming learnt
        before = control.stats()
        cpu = _cpu_s()
        errors: list[str] = []

        def one(i: int, instance: Impl = instance, errors: list[str] = errors) -> float | None:
            prompt, model_time = _jittered(t, jitter, i)
            try:
                return _timed_ask(instance, None, model_time, prompt)[1]
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                return None

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=level) as pool:
            results = list(pool.map(one, range(n)))
        wall = time.perf_counter() - start
        cpu = _cpu_s() - cpu
        after = control.stats()
        instance.close()
        answered = [r for r in results if r is not None]
        levels.append(
            {
                "concurrency": level,
                "jitter": jitter,
                "queries": n,
                "answered": len(answered),
                "errors": sorted(set(errors))[:3],
                "wall_s": wall,
                "throughput_qps": len(answered) / wall,
                "added_ms": summary(answered),
                "connections": after.connections,
                "requests_per_query": (after.total - before.total) / n,
                "client_cpu_ms_per_query": cpu * 1000 / n,
                "server_cpu_ms_per_query": (after.cpu_s - before.cpu_s) * 1000 / n,
            }
        )
    return {"levels": levels}


def _rss_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def memory(impl: Impl, control: Control, job: dict[str, Any]) -> dict[str, Any]:
    """RSS after every ``every`` queries (``threads`` at a time), read after a gc.collect().

    Collected first so that growth means memory kept (a leak), not garbage not yet collected.
    Several at a time because a polling client waits at least one poll interval per query even
    at T=0: 5,000 one by one would take a quarter of an hour.
    """
    n, every, t = int(job["n"]), int(job.get("every", 500)), float(job["model_time"])
    threads = int(job.get("threads", 8))
    curve: list[tuple[int, float]] = []
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for done in range(every, n + 1, every):
            list(pool.map(lambda _: _timed_ask(impl, None, t), range(every)))
            gc.collect()
            curve.append((done, _rss_kb("VmRSS") / 1024))
    wall = time.perf_counter() - start
    first = curve[0][1] if curve else 0.0
    last = curve[-1][1] if curve else 0.0
    return {
        "queries": curve[-1][0] if curve else 0,
        "threads": threads,
        "rss_mb_curve": curve,
        "rss_first_mb": first,
        "rss_last_mb": last,
        "growth_mb": last - first,
        "peak_rss_mb": _rss_kb("VmHWM") / 1024,
        "wall_s": wall,
    }


FIGURES: dict[str, Figure] = {
    "requests": requests_per_query,
    "latency": latency,
    "concurrency": concurrency,
    "memory": memory,
}


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``job["figures"]`` ({figure: params}) in order, each with a fresh instance after a warm-up."""
    import openai

    head: dict[str, Any] = {
        "impl": job["impl"],
        "backend": job["backend"],
        "python": platform.python_version(),
        "executable": sys.executable,
        "openai": openai.__version__,
    }
    control = Control(job["url"])
    if job.get("switches"):
        control.configure(**job["switches"])
    results: dict[str, Any] = {}
    for figure, params in job["figures"].items():
        spec = {**job, **params}
        try:
            impl = make(job["impl"], job["backend"], job["url"] + "/v1")
        except NotAvailable as exc:
            return {**head, "na": str(exc)}
        head["via"] = impl.via
        package = sys.modules.get("keep_openaiassistant")
        if package is not None and package.__file__:  # which tree's package ran (--compare-ref checks it)
            head["package"] = os.path.dirname(package.__file__)
        try:
            # concurrency warms up each of its own instances
            for _ in range(0 if figure == "concurrency" else int(job.get("warmup", 2))):
                _timed_ask(impl, None, float(job["model_time"]))
            results[figure] = FIGURES[figure](impl, control, spec)
        except Exception as exc:
            results[figure] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        finally:
            impl.close()  # idempotent: a figure may have closed it already
    return {**head, "figures": results}


def main() -> int:
    job = json.loads(sys.argv[1])
    print(json.dumps(run(job)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
