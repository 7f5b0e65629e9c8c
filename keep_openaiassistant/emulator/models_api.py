"""The emulated Models API (``GET /v1/models``, ``GET /v1/models/{model}``).

The cheapest harmless read there is: the Responses backend's access check retrieves the
profile's model, which proves the key, the server and the model in one request.
"""

from __future__ import annotations

from typing import Any

from .common import EmulatorConfig, EmulatorError
from .http import JsonReply, Request, Router

KNOWN_MODELS = (
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-5.4",
    "gpt-5.4-mini",
    "gpt-5.4-nano",
)
_CREATED = 1_744_316_542


class ModelsApi:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config

    def _ids(self) -> list[str]:
        return sorted({*KNOWN_MODELS, self.config.default_model})

    def register(self, router: Router) -> None:
        router.add("GET", "/v1/models", self.list)
        router.add("GET", "/v1/models/{model}", self.retrieve)

    def _model(self, model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": "system"}

    def list(self, req: Request) -> JsonReply:
        return JsonReply({"object": "list", "data": [self._model(m) for m in self._ids()]})

    def retrieve(self, req: Request) -> JsonReply:
        model_id = req.params["model"]
        if model_id not in self._ids():
            raise EmulatorError(
                404,
                f"The model '{model_id}' does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        return JsonReply(self._model(model_id))
