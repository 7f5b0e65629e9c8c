"""What every table of the report shares: row labels, the verdict words, finding a job's result.

A run's verdicts are gathered in one :class:`Targets`, which also words them: a run whose jobs
ran side by side (quick mode, the smoke test) says ``(indicative)`` after every verdict, so that
its ``met`` / ``**NOT met**`` is never read as a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .plan import Job

LABELS = {
    "provider": "**this provider** (streaming)",
    "provider-polling": "**this provider**, server that does not stream",
    "engine": "this provider's engine alone, newest SDK",
    "raw": "minimal raw streamed client (one POST, SSE lines, no SDK)",
    "seed": "seed design (poll every 1 s)",
    "sdk": "openai SDK helpers",
    "langchain": "LangChain OpenAIAssistantRunnable",
}
OK, NO = "met", "**NOT met**"
INDICATIVE = " (indicative)"


def label(impl: str, ref: str | None = None) -> str:
    """The row's name; another revision's rows say which, e.g. ``... — before: a7ae094``."""
    return LABELS[impl] + (f" — before: `{ref}`" if ref else "")


def role(impl: str, ref: str | None = None) -> str:
    """The verdict cell of a row without a target: what the row is there for."""
    if ref:
        return "before"
    if impl == "raw":
        return "CPU floor"
    return "–" if impl.startswith("provider") or impl == "engine" else "baseline"


@dataclass(frozen=True)
class Verdict:
    target: str
    backend: str
    measured: str
    ok: bool


@dataclass
class Targets:
    """The run's verdicts, in the order the tables found them, and the words for them."""

    indicative: bool = False
    verdicts: list[Verdict] = field(default_factory=list)

    def word(self, ok: bool, yes: str = OK, no: str = NO) -> str:
        return (yes if ok else no) + (INDICATIVE if self.indicative else "")

    def add(self, target: str, backend: str, measured: str, ok: bool) -> str:
        """Record one verdict; return its word for the row's own verdict cell."""
        self.verdicts.append(Verdict(target, backend, measured, ok))
        return self.word(ok)


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.{digits}f}"


def problem(result: dict[str, Any]) -> str | None:
    if "na" in result:
        return f"n/a: {result['na']}"
    if "error" in result:
        return f"error: {result['error']}"
    return None


def table(head: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "/").replace("\n", " ") for cell in row) + " |" for row in rows]
    return lines


def find(
    jobs: list[Job], figure: str, backend: str, impl: str, t: float | None = None, ref: str | None = None
) -> dict[str, Any]:
    """The result of that row's job (this tree's unless ``ref``); ``{"na": "not run"}`` if none."""
    for job in jobs:
        if (
            job.figure == figure
            and job.backend == backend
            and job.impl == impl
            and job.ref == ref
            and (t is None or abs(job.model_time - t) < 1e-9)
        ):
            return job.result
    return {"na": "not run"}


def top_level(
    jobs: list[Job], backend: str, impl: str, t: float, level: int, *, ref: str | None = None, jitter: bool = False
) -> dict[str, Any] | None:
    """One concurrency level of that row at model time ``t`` (with or without spread model times)."""
    for job in jobs:
        if job.figure == "concurrency" and (job.backend, job.impl, job.ref) == (backend, impl, ref):
            if abs(job.model_time - t) > 1e-9:
                continue
            for lv in job.result.get("levels", []):
                if lv["concurrency"] == level and bool(lv.get("jitter")) == jitter:
                    found: dict[str, Any] = lv
                    return found
    return None
