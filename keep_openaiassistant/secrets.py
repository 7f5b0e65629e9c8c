"""Keep secrets out of every message: whatever a server echoes, the key never reaches an error.

A proxy or a compatible server may quote the Authorization header back in its 401 message,
whole or in part. :class:`Scrubber` masks, in any text:

- the configured secrets themselves;
- any run of 12 or more characters it shares with one of them (a truncated echo);
- anything shaped like an OpenAI key (``sk-...``), whoever's it is.

Masks keep a short, harmless hint (``sk-…6789``) so a user can still tell which key it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: A shared run this long is treated as part of the secret.
_OVERLAP = 12
_TOKEN = re.compile(rf"[A-Za-z0-9_\-]{{{_OVERLAP},}}")
_KEY_SHAPED = re.compile(r"\b(?:sk|rk|pk|sess)-[A-Za-z0-9_\-*]{8,}")


def mask(secret: str) -> str:
    """``sk-proj-abc...6789`` -> ``sk-…6789``: enough to recognise a key, too little to use it."""
    prefix = "sk-" if secret.startswith("sk-") else ""
    return f"{prefix}…{secret[-4:]}" if len(secret) >= 12 else "…"


class Scrubber:
    """Masks the given secrets (and key-shaped strings) in text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self._grams = {s[i : i + _OVERLAP]: s for s in self._secrets for i in range(len(s) - _OVERLAP + 1)}

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for secret in self._secrets:
            text = text.replace(secret, mask(secret))
        if self._grams:
            text = _TOKEN.sub(self._mask_overlap, text)
        return _KEY_SHAPED.sub(lambda m: mask(m.group(0)), text)

    def _mask_overlap(self, match: re.Match[str]) -> str:
        token = match.group(0)
        for i in range(len(token) - _OVERLAP + 1):
            secret = self._grams.get(token[i : i + _OVERLAP])
            if secret is not None:
                return mask(secret)
        return token
