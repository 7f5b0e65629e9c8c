"""Placeholder: replaced by the real responses API of the emulator."""

from __future__ import annotations

from typing import Any


class ResponsesApi:
    def __init__(self, config: Any) -> None:
        self.config = config

    def register(self, router: Any) -> None:
        pass
