"""Placeholder: replaced by the real assistants API of the emulator."""

from __future__ import annotations

from typing import Any


class AssistantsApi:
    def __init__(self, config: Any) -> None:
        self.config = config

    def register(self, router: Any) -> None:
        pass
