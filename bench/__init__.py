"""Benchmarks of keep-openaiassistant against the seed design, the SDK's helpers and LangChain.

Run ``python -m bench`` (about 15 minutes on 2 cores) or ``python -m bench --quick`` (about a
minute) from the repository root; see docs/benchmarks.md. The emulator runs in its own process
(:mod:`bench.emulator_process`); every implementation runs in its own worker process
(:mod:`bench.worker`), so each may use its own virtualenv and openai SDK release, and memory is
measured per implementation.
"""
