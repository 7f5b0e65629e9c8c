"""The benchmark harness, run tiny against the emulator, so that it cannot rot unnoticed.

Also the emulator's ``/_emulator/*`` control endpoints the harness depends on (stats that leave
the control calls out, reset, the refuse_stream switch), the minimal raw streamed client (the
CPU target's floor), and ``--compare-ref`` (another revision's package in the same run).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from keep_openaiassistant.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import revisions  # noqa: E402
from bench.comparison import compare  # noqa: E402
from bench.control import Control  # noqa: E402
from bench.impls import make  # noqa: E402
from bench.plan import Config  # noqa: E402
from bench.stats import percentile  # noqa: E402

# The last commit before the core redesign: the package still in src/.
BASELINE = "a7ae094"


def _tiny(**overrides: Any) -> Config:
    """Every figure at T=0.05 s with N of 1-4: one worker per row, a few seconds in all."""
    values: dict[str, Any] = {
        "mode": "smoke",
        "backends": ("assistants",),
        "python": sys.executable,
        "keep_python": None,
        "request_n": 1,
        "request_times": (0.05,),
        "latency_n": 3,
        "latency_time": 0.05,
        "concurrency_levels": (4,),
        "concurrency_time": 0.05,
        "memory_time": 0.05,
        "concurrency_min_n": 4,
        "memory_n": 20,
        "memory_every": 10,
        "import_repeats": 1,
        "job_timeout": 60.0,
    }
    values.update(overrides)
    return Config.quick(**values)


def test_percentile_is_an_observed_value_by_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile([7.0], 99) == 7.0


def test_control_stats_leave_out_the_control_calls_themselves() -> None:
    with Emulator(model_time=0.0) as emu:
        control = Control(emu.url)
        control.reset()
        stats = control.stats()
        assert stats.total == 0 and stats.requests == {} and stats.connections == 0


def test_refuse_stream_switch_answers_400_to_streamed_requests_only() -> None:
    import urllib.error
    import urllib.request

    with Emulator(model_time=0.0) as emu:
        control = Control(emu.url)
        assert control.configure(refuse_stream=True)["refuse_stream"] is True
        request = urllib.request.Request(
            emu.base_url + "/responses",
            data=json.dumps({"model": "gpt-5.4-mini", "input": "hi", "stream": True}).encode(),
            headers={"Authorization": "Bearer sk-test", "Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400
        assert json.load(refused.value)["error"]["param"] == "stream"
        assert control.stats().requests == {"POST /v1/responses": 1}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """One tiny run of this provider, the raw client and the SDK helpers, shared by the tests below."""
    from bench.__main__ import run

    return run(_tiny(impls=("provider", "raw", "sdk")), tmp_path_factory.mktemp("bench"), log=lambda line: None)


def test_quick_bench_run_writes_every_figure_without_errors(smoke_run: tuple[str, Path]) -> None:
    table, path = smoke_run

    for heading in (
        "## 1. HTTP requests",
        "## 2. Time added",
        "## 3. Concurrency",
        "## 4. Memory",
        "## 5. Import time",
    ):
        assert heading in table
    assert "error" not in table and "n/a" not in table
    saved = json.loads(path.read_text())
    by_key = {job["key"]: job["result"] for job in saved["jobs"]}
    assert by_key["requests/assistants/provider/T=0.05"]["new"]["per_query"] <= 2
    assert by_key["latency/assistants/sdk/T=0.05"]["added_ms"]["n"] == 3
    assert saved["machine"]["cores"] >= 1


def test_quick_run_says_its_figures_are_indicative_and_gives_the_cpu_ratio_to_the_raw_client(
    smoke_run: tuple[str, Path],
) -> None:
    table, _ = smoke_run

    assert "**Indicative only**" in table
    verdict_cells = [line.rsplit("|", 2)[-2].strip() for line in table.splitlines() if line.startswith("| ")]
    assert not [cell for cell in verdict_cells if cell in ("met", "**NOT met**")]  # never without the word
    ratio = next(line for line in table.splitlines() if "≤ 2× the minimal raw streamed client" in line)
    assert "×" in ratio.split("|")[3] and "(indicative)" in ratio


@pytest.mark.parametrize("backend", ["assistants", "responses"])
def test_raw_client_answers_with_one_streamed_post_on_one_connection(backend: str) -> None:
    with Emulator(model_time=0.0) as emu:
        control = Control(emu.url)
        raw = make("raw", backend, emu.base_url)
        try:
            first = raw.ask("Disk full on db-1", None)
            second = raw.ask("And now?", first.thread_id)
        finally:
            raw.close()
        stats = control.stats()

    assert "turn 1 of" in first.text and "turn 2 of" in second.text  # the second continued the first
    assert stats.total == 2 and stats.connections == 1
    assert all(route.startswith("POST ") for route in stats.requests)


def test_before_after_allows_a_run_s_noise_but_not_a_request_more() -> None:
    assert compare(1.0, 2.0, "requests") == "worse"
    assert compare(21.67, 22.0, "requests") == "no worse"  # a poller's count wobbles with the timing
    assert compare(3.0, 3.2, "added ms") == "no worse"
    assert compare(3.0, 4.0, "added ms") == "worse"
    assert compare(4.0, 3.0, "cpu ms") == "better"
    assert compare(None, 3.0, "cpu ms") is None


def _baseline(tmp_path: Path) -> revisions.Revision:
    try:
        return revisions.checkout(BASELINE, into=tmp_path)
    except ValueError as exc:  # a shallow or exported copy of the repository
        pytest.skip(f"no {BASELINE} in this repository's history: {exc}")


def test_checkout_takes_only_the_package_in_either_layout(tmp_path: Path) -> None:
    before = _baseline(tmp_path)
    after = revisions.checkout("HEAD", into=tmp_path)

    assert before.import_root.name == "src" and (before.package / "engine.py").is_file()
    assert after.import_root.name.startswith("bench-ref-") and (after.package / "__init__.py").is_file()
    assert not (before.import_root.parent / "bench").exists()  # the old bench never shadows this one
    assert revisions.checkout(BASELINE, into=tmp_path) == before  # made once, then reused


def test_compare_ref_measures_the_other_revision_s_package_in_the_same_run(tmp_path: Path) -> None:
    from bench.__main__ import run

    revision = _baseline(tmp_path)
    config = _tiny(
        impls=("provider",),
        figures=("requests", "latency"),
        compare_ref=BASELINE,
        compare_sha=revision.sha,
        compare_root=str(revision.import_root),
    )
    table, path = run(config, tmp_path / "results", log=lambda line: None)

    by_key = {job["key"]: job["result"] for job in json.loads(path.read_text())["jobs"]}
    before = by_key[f"latency/assistants/provider@{BASELINE}/T=0.05"]
    after = by_key["latency/assistants/provider/T=0.05"]
    assert Path(before["package"]).is_relative_to(revision.package)
    assert Path(after["package"]).is_relative_to(ROOT / "keep_openaiassistant")
    assert f"## Before / after: this tree against `{BASELINE}`" in table
    assert "error" not in table


def test_full_run_tables_replace_only_the_marked_block_of_the_docs(tmp_path: Path) -> None:
    from bench.__main__ import BEGIN, END, update_docs

    docs = tmp_path / "docs" / "benchmarks.md"
    docs.parent.mkdir()
    docs.write_text(f"# Benchmarks\nprose\n{BEGIN}\nold table\n{END}\nafter\n")
    update_docs("# Benchmark results\n| new |", tmp_path / "bench" / "results" / "full-x.json", docs)

    text = docs.read_text()
    assert "old table" not in text and "| new |" in text
    assert text.startswith("# Benchmarks\nprose\n") and text.endswith(f"{END}\nafter\n")
    assert "Raw figures: `bench/results/full-x.json`." in text
