"""Serve the emulator in a process of its own and print where it listens.

    python -m bench.emulator_process --port 0 --model-time 0.3 [--poll-after-ms 100]

prints one JSON line ``{"url": "http://127.0.0.1:PORT", "pid": ...}`` once it accepts
connections, then serves until SIGTERM/SIGINT. Why a process and not a thread: a server thread
would share the GIL with the client being measured and add its own work to the client's
latency. It does not depend on the package's CLI, so the bench runs while that is being built.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from types import FrameType

from keep_openaiassistant.emulator import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.emulator_process")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model-time", type=float, default=0.3)
    parser.add_argument("--poll-after-ms", type=int, default=100, help="the openai-poll-after-ms hint; -1 sends none")
    args = parser.parse_args(argv)

    poll_after = None if args.poll_after_ms < 0 else args.poll_after_ms
    emulator = Emulator(host=args.host, port=args.port, model_time=args.model_time, poll_after_ms=poll_after)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator.start()
    print(json.dumps({"url": emulator.url, "pid": os.getpid()}), flush=True)
    stop.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
