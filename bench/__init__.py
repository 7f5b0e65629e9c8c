"""Benchmarks of keep-openaiassistant against the seed design, the SDK's helpers, LangChain, a
minimal raw streamed client (the floor of its CPU target), and its own earlier revisions.

Run ``python -m bench`` (about 15 minutes on 2 cores), ``python -m bench --quick`` (under 90 s,
indicative only) or ``python -m bench --compare-ref a7ae094`` (before / after in one run) from
the repository root; see docs/benchmarks.md. The emulator runs in its own process
(:mod:`bench.emulator_process`); every implementation runs in its own worker process
(:mod:`bench.worker`), so each may use its own virtualenv and openai SDK release, and memory is
measured per implementation.
"""
