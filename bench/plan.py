"""What one bench run measures, and in which order, so that the figures stay honest on 2 cores.

Rows: every implementation of ``IMPLS`` on each backend, and with ``--compare-ref`` the provider
rows (``REF_IMPLS``) once more on another revision's package (``Job.ref``), so that before and
after are measured in the same run on the same machine.

Phases (every job gets a fresh emulator process with its model time T):

1. *side by side*: jobs whose figures the machine's load cannot distort much run together —
   request counts (figure 1, counted by the server), the 200-query latency of the baselines
   that poll every 1 s (figure 2: their ~700 ms is the poll interval, not CPU), and the memory
   runs (figure 4, RSS does not depend on speed), two at a time since they are CPU-bound;
2. *alone*: this provider's latency at concurrency 1 (figure 2), one job at a time, with the
   other revision's right after it and the raw streamed client's (the floor of the CPU target);
3. *nearly alone*: the other sub-second implementations' latency (polling provider, SDK
   helpers), which spend >95 % of their time asleep, together;
4. *alone*: concurrency 16/64/256 through one instance (figure 3), one job at a time;
5. *alone*: import times (figure 5).

Quick mode (:meth:`Config.quick`) instead runs ONE worker per row with every figure in it
(``group``), all side by side: the shape of every table in about a minute, figures indicative.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import imports
from .processes import ROOT, EmulatorProcess, run_worker

IMPLS = ("provider", "provider-polling", "engine", "raw", "seed", "sdk", "langchain")
# The rows that --compare-ref measures on the other revision too.
REF_IMPLS = ("provider", "provider-polling")
# Run in the provider's interpreter: the raw client's CPU is the provider's floor on the same runtime.
PROVIDER_RUNTIME = ("provider", "provider-polling", "raw")
BACKENDS = ("assistants", "responses")
FIGURES = ("requests", "latency", "concurrency", "memory", "imports")
# (implementation, backend) pairs that exist; the others are reported n/a without a process.
SUPPORTED = {(impl, backend) for impl in IMPLS for backend in BACKENDS} - {("langchain", "responses")}
# Implementations whose added time is their 1 s poll interval: CPU load cannot move it much.
SLOW_POLLERS = ("seed", "langchain")
# Latency at concurrency 1 measured alone: the provider's (both revisions) and its CPU floor.
ALONE_LATENCY = ("provider", "raw")


@dataclass(frozen=True)
class Config:
    mode: str = "full"
    backends: tuple[str, ...] = BACKENDS
    impls: tuple[str, ...] = IMPLS
    figures: tuple[str, ...] = FIGURES
    python: str = sys.executable
    keep_python: str | None = None
    langchain_python: str | None = None
    poll_after_ms: int = 100
    request_n: int = 3
    request_times: tuple[float, ...] = (0.3, 2.0)
    latency_n: int = 200
    latency_time: float = 0.3
    concurrency_levels: tuple[int, ...] = (16, 64, 256)
    concurrency_time: float = 2.0
    # This provider only, also at a model time short enough that 2 cores saturate.
    concurrency_stress_time: float | None = 0.3
    # This provider only, also with model times spread over T ± this fraction of T.
    concurrency_jitter: float | None = 0.25
    concurrency_waves: int = 2
    concurrency_min_n: int = 64
    memory_n: int = 5000
    memory_every: int = 500
    memory_time: float = 0.0
    memory_threads: int = 8
    import_repeats: int = 7
    side_by_side: int = 6
    # False: every job side by side (quick mode; its timings are indicative only).
    isolate: bool = True
    # True: all figures of one implementation in one worker and one emulator at T=latency_time
    # (the smoke test: fewest processes; memory then shares its process with the other figures).
    group: bool = False
    warmup: int = 2
    job_timeout: float = 900.0
    # --compare-ref: the other revision as given, its commit, and the directory that holds its
    # package (bench.revisions); its rows are the provider rows again, on that package.
    compare_ref: str | None = None
    compare_sha: str | None = None
    compare_root: str | None = None

    @classmethod
    def quick(cls, **overrides: Any) -> Config:
        """About a minute: every row and figure, small N, one worker per row (figures indicative only).

        Every figure of a row runs in one worker on one emulator (``group``) at T = 0.3 s, all
        rows side by side: ~20 processes instead of ~60, and no row waits for another.
        """
        small = cls(
            mode="quick",
            request_n=1,
            request_times=(0.3,),
            latency_n=10,
            concurrency_levels=(16,),
            concurrency_time=0.3,
            concurrency_stress_time=None,
            concurrency_jitter=None,
            concurrency_waves=1,
            concurrency_min_n=16,
            memory_n=64,
            memory_every=32,
            memory_time=0.3,
            import_repeats=1,
            warmup=1,
            job_timeout=150.0,
            isolate=False,
            group=True,
            side_by_side=32,
        )
        return replace(small, **overrides)

    @property
    def indicative(self) -> bool:
        """Jobs ran side by side (quick, smoke): the figures and verdicts are hints, not measurements."""
        return self.group or not self.isolate

    def variants(self) -> list[tuple[str, str | None]]:
        """The rows, as (implementation, revision): None is this tree; each other revision's after its own."""
        out: list[tuple[str, str | None]] = []
        for impl in self.impls:
            out.append((impl, None))
            if self.compare_ref and impl in REF_IMPLS:
                out.append((impl, self.compare_ref))
        return out

    def python_for(self, impl: str) -> str | None:
        if impl == "langchain":
            return self.langchain_python
        if impl in PROVIDER_RUNTIME and self.keep_python:
            return self.keep_python
        return self.python


@dataclass
class Job:
    """One worker process: ``figures`` maps each figure it measures to that figure's parameters."""

    impl: str
    backend: str
    model_time: float
    figures: dict[str, dict[str, Any]]
    result: dict[str, Any] = field(default_factory=dict)
    ref: str | None = None  # another revision's package (--compare-ref); None: this tree's

    @property
    def figure(self) -> str:
        return "+".join(self.figures)

    @property
    def switches(self) -> dict[str, Any]:
        return {"refuse_stream": True} if self.impl == "provider-polling" else {}

    def key(self) -> str:
        jitter = next((p.get("jitter") for p in self.figures.values() if p.get("jitter")), None)
        impl = self.impl + (f"@{self.ref}" if self.ref else "")
        return f"{self.figure}/{self.backend}/{impl}/T={self.model_time:g}" + (f"±{jitter:.0%}" if jitter else "")

    def split(self) -> list[Job]:
        """One job per figure, each with the runtime fields and its own figure's result."""
        if len(self.figures) == 1:
            return [self]
        head = {k: v for k, v in self.result.items() if k != "figures"}
        parts = self.result.get("figures")
        return [
            Job(
                self.impl,
                self.backend,
                self.model_time,
                {name: params},
                {**head, **parts.get(name, {"error": "not measured"})} if parts is not None else head,
                self.ref,
            )
            for name, params in self.figures.items()
        ]


def _figure_params(config: Config) -> dict[str, dict[str, Any]]:
    return {
        "requests": {"n": config.request_n},
        "latency": {"n": config.latency_n},
        "concurrency": {
            "levels": list(config.concurrency_levels),
            "waves": config.concurrency_waves,
            "min_n": config.concurrency_min_n,
        },
        "memory": {"n": config.memory_n, "every": config.memory_every, "threads": config.memory_threads},
    }


def build_jobs(config: Config) -> list[list[tuple[Job, str]]]:
    """Phases of (job, pool) where pool is 'sleep' (many at once), 'cpu' (two at once) or 'alone'."""
    params = _figure_params(config)
    if config.group:
        times = {config.latency_time, config.memory_time, config.concurrency_time, *config.request_times}
        if len(times) != 1:
            raise ValueError(
                "group=True runs every figure on one emulator: give every figure the same model time, "
                f"not {sorted(times)}"
            )
        wanted = {name: p for name, p in params.items() if name in config.figures}
        grouped = [
            (Job(impl, backend, config.latency_time, wanted, ref=ref), "sleep")
            for backend in config.backends
            for impl, ref in config.variants()
        ]
        grouped.sort(key=lambda item: item[0].impl not in SLOW_POLLERS)  # the longest start first
        return [grouped]
    side: list[tuple[Job, str]] = []
    alone_latency: list[tuple[Job, str]] = []
    quiet_latency: list[tuple[Job, str]] = []
    load: list[tuple[Job, str]] = []
    for backend in config.backends:
        for impl, ref in config.variants():
            if "requests" in config.figures:
                for t in config.request_times:
                    side.append((Job(impl, backend, t, {"requests": params["requests"]}, ref=ref), "sleep"))
            if "latency" in config.figures:
                job = Job(impl, backend, config.latency_time, {"latency": params["latency"]}, ref=ref)
                if impl in SLOW_POLLERS:
                    side.append((job, "sleep"))
                elif impl in ALONE_LATENCY:
                    alone_latency.append((job, "alone"))
                else:
                    quiet_latency.append((job, "sleep"))
            if "memory" in config.figures:
                side.append((Job(impl, backend, config.memory_time, {"memory": params["memory"]}, ref=ref), "cpu"))
            if "concurrency" in config.figures:
                spec = params["concurrency"]
                load.append((Job(impl, backend, config.concurrency_time, {"concurrency": spec}, ref=ref), "alone"))
                if impl == "provider" and config.concurrency_jitter:
                    jittered = {**spec, "jitter": config.concurrency_jitter}
                    load.append(
                        (Job(impl, backend, config.concurrency_time, {"concurrency": jittered}, ref=ref), "alone")
                    )
                # The stress row measures the machine, not the provider: this tree's only.
                if impl == "provider" and ref is None and config.concurrency_stress_time is not None:
                    load.append((Job(impl, backend, config.concurrency_stress_time, {"concurrency": spec}), "alone"))
    phases = [side, alone_latency, quiet_latency, load]
    if not config.isolate:
        phases = [[(job, "sleep" if pool == "alone" else pool) for phase in phases for job, pool in phase]]
    for phase in phases:  # long jobs first, so that a phase ends when its longest job does
        phase.sort(key=lambda item: (item[1] != "sleep", item[0].figure != "latency"))
    return [phase for phase in phases if phase]


def run_job(config: Config, job: Job) -> dict[str, Any]:
    if (job.impl, job.backend) not in SUPPORTED:
        return {"na": f"{job.impl} has no {job.backend} implementation (LangChain wraps the Assistants API only)"}
    python = config.python_for(job.impl)
    if python is None:
        return {
            "na": "no LangChain virtualenv: run bash bench/setup.sh or pass --langchain-python (docs/benchmarks.md)"
        }
    import_root = None
    if job.ref:
        if not config.compare_root:
            return {"error": f"no checkout of {job.ref}: pass --compare-ref"}
        import_root = Path(config.compare_root)
    with EmulatorProcess(model_time=job.model_time, poll_after_ms=config.poll_after_ms, python=config.python) as emu:
        spec = {
            "impl": job.impl,
            "backend": job.backend,
            "figures": job.figures,
            "url": emu.url,
            "model_time": job.model_time,
            "switches": job.switches,
            "warmup": config.warmup,
        }
        result = run_worker(python, spec, timeout=config.job_timeout, import_root=import_root)
    wrong = _wrong_package(result, import_root)
    if wrong:
        return {"error": wrong}
    if len(job.figures) == 1 and "figures" in result:  # flatten: the one figure's result beside the runtime
        result = {**{k: v for k, v in result.items() if k != "figures"}, **result["figures"][job.figure]}
    return result


def _wrong_package(result: dict[str, Any], import_root: Path | None) -> str | None:
    """Why a worker's figures are not the ones asked for: it imported the other tree's package."""
    package = result.get("package")
    if package is None or "error" in result or "na" in result:
        return None
    expected = (import_root or ROOT).resolve()
    if Path(package).resolve().is_relative_to(expected):
        return None
    return f"the worker imported keep_openaiassistant from {package}, not from {expected}"


def run_phases(config: Config, phases: list[list[tuple[Job, str]]], log: Callable[[str], None]) -> None:
    for phase in phases:
        started = time.perf_counter()
        with (
            ThreadPoolExecutor(max_workers=max(1, config.side_by_side)) as sleepy,
            ThreadPoolExecutor(max_workers=2) as cpu,
        ):
            futures: list[tuple[Job, Future[dict[str, Any]]]] = []
            for job, pool in phase:
                if pool == "alone":
                    job.result = _timed(config, job, log)
                else:
                    executor = sleepy if pool == "sleep" else cpu
                    futures.append((job, executor.submit(_timed, config, job, log)))
            for job, future in futures:
                job.result = future.result()
        log(f"phase of {len(phase)} jobs done in {time.perf_counter() - started:.0f} s")


def _timed(config: Config, job: Job, log: Callable[[str], None]) -> dict[str, Any]:
    started = time.perf_counter()
    result = run_job(config, job)
    errors = [r["error"] for r in result.get("figures", {}).values() if "error" in r]
    if "error" in result:
        errors.append(result["error"])
    status = "n/a" if "na" in result else ("ERROR " + "; ".join(errors) if errors else "ok")
    log(f"{job.key():55s} {time.perf_counter() - started:6.1f} s  {status}")
    return result


def run_imports(config: Config) -> dict[str, Any]:
    return imports.measure(config.python, config.keep_python, repeats=config.import_repeats)
