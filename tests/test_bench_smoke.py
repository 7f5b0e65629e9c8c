"""The benchmark harness, run tiny against the emulator, so that it cannot rot unnoticed.

Also the emulator's ``/_emulator/*`` control endpoints the harness depends on (stats that leave
the control calls out, reset, the refuse_stream switch).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from keep_openaiassistant.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.control import Control
from bench.plan import Config
from bench.stats import percentile


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
            data=json.dumps({"model": "gpt-4.1-mini", "input": "hi", "stream": True}).encode(),
            headers={"Authorization": "Bearer sk-test", "Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400
        assert json.load(refused.value)["error"]["param"] == "stream"
        assert control.stats().requests == {"POST /v1/responses": 1}


def test_quick_bench_run_writes_every_figure_without_errors(tmp_path: Path) -> None:
    from bench.__main__ import run

    config = Config.quick(
        mode="smoke",
        impls=("provider", "sdk"),
        backends=("assistants",),
        python=sys.executable,
        keep_python=None,
        request_n=1,
        request_times=(0.05,),
        latency_n=3,
        latency_time=0.05,
        concurrency_levels=(4,),
        concurrency_time=0.05,
        memory_time=0.05,
        concurrency_min_n=4,
        memory_n=20,
        memory_every=10,
        import_repeats=1,
        job_timeout=60.0,
        group=True,
    )
    table, path = run(config, tmp_path, log=lambda line: None)

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
