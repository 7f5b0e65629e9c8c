"""The emulated Conversations API: ``/v1/conversations`` and its items.

A conversation is the Responses-era thread: an ordered list of items (messages, function calls
and their outputs, tool-call items). Responses created with ``conversation`` read its items as
history and append their own when they end (see :mod:`.responses_state`). Items cannot be added
while a response is operating on the conversation (400 ``conversation_locked``).
"""

from __future__ import annotations

import time
from typing import Any

from .http import EmulatorError, JsonReply, Request, Router
from .responses_items import new_id, normalize_input, query_include, render
from .responses_state import Conversation, ResponsesState

MAX_NEW_ITEMS = 20


def json_object(req: Request) -> dict[str, Any]:
    """The request's JSON body, which must be an object."""
    body = req.json()
    if not isinstance(body, dict):
        raise EmulatorError(400, "The body of your request must be a JSON object.")
    return body


def check_metadata(metadata: Any, param: str = "metadata") -> dict[str, str]:
    """OpenAI's metadata limits: at most 16 pairs, keys up to 64 and string values up to 512 chars."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise EmulatorError(
            400,
            f"Invalid type for '{param}': expected an object, but got {type(metadata).__name__} instead.",
            param=param,
            code="invalid_type",
        )
    if len(metadata) > 16:
        raise EmulatorError(
            400,
            f"Invalid '{param}': too many properties. Expected an object with at most 16 properties, but got an object with {len(metadata)} properties instead.",
            param=param,
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if len(key) > 64:
            raise EmulatorError(
                400,
                f"Invalid '{param}': key '{key[:64]}...' is too long; keys can be at most 64 characters.",
                param=param,
                code="invalid_value",
            )
        if not isinstance(value, str) or len(value) > 512:
            raise EmulatorError(
                400,
                f"Invalid '{param}.{key}': values must be strings of at most 512 characters.",
                param=f"{param}.{key}",
                code="invalid_value",
            )
    return dict(metadata)


def list_page(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    """A cursor page of ``items`` (stored oldest first): ``order`` (default desc), ``limit``, ``after``."""
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise EmulatorError(
            400,
            f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
            param="order",
            code="invalid_value",
        )
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        raise EmulatorError(400, "Invalid 'limit': expected an integer.", param="limit", code="invalid_type") from None
    if not 1 <= limit <= 100:
        bound = (
            "above maximum value. Expected a value <= 100"
            if limit > 100
            else "below minimum value. Expected a value >= 1"
        )
        raise EmulatorError(
            400,
            f"Invalid 'limit': integer {bound}, but got {limit} instead.",
            param="limit",
            code="integer_above_max_value" if limit > 100 else "integer_below_min_value",
        )
    ordered = list(items) if order == "asc" else list(reversed(items))
    after = query.get("after")
    if after:
        ids = [i["id"] for i in ordered]
        if after not in ids:
            raise EmulatorError(
                400, f"Invalid 'after': no item with id '{after}' in this list.", param="after", code="invalid_value"
            )
        ordered = ordered[ids.index(after) + 1 :]
    page = render(ordered[:limit], query_include(query))
    return {
        "object": "list",
        "data": page,
        "has_more": len(ordered) > limit,
        # The spec types these as strings; an empty page has no ids to give.
        "first_id": page[0]["id"] if page else "",
        "last_id": page[-1]["id"] if page else "",
    }


def _new_items(body: dict[str, Any], required: bool) -> list[dict[str, Any]]:
    raw = body.get("items")
    if raw is None and required:
        raise EmulatorError(
            400, "Missing required parameter: 'items'.", param="items", code="missing_required_parameter"
        )
    if raw is not None and not isinstance(raw, list):
        raise EmulatorError(
            400,
            f"Invalid type for 'items': expected an array, but got {type(raw).__name__} instead.",
            param="items",
            code="invalid_type",
        )
    if raw is not None and len(raw) > MAX_NEW_ITEMS:
        raise EmulatorError(
            400,
            f"Invalid 'items': array too long. Expected an array with maximum length {MAX_NEW_ITEMS}, but got an array with length {len(raw)} instead.",
            param="items",
            code="array_above_max_length",
        )
    return normalize_input(raw or [], "items")


class ConversationsApi:
    def __init__(self, state: ResponsesState) -> None:
        self.state = state

    def register(self, router: Router) -> None:
        router.add("POST", "/v1/conversations", self.create)
        router.add("GET", "/v1/conversations/{conversation_id}", self.retrieve)
        router.add("POST", "/v1/conversations/{conversation_id}", self.update)
        router.add("DELETE", "/v1/conversations/{conversation_id}", self.delete)
        router.add("GET", "/v1/conversations/{conversation_id}/items", self.list_items)
        router.add("POST", "/v1/conversations/{conversation_id}/items", self.add_items)
        router.add("GET", "/v1/conversations/{conversation_id}/items/{item_id}", self.retrieve_item)
        router.add("DELETE", "/v1/conversations/{conversation_id}/items/{item_id}", self.delete_item)

    def create(self, req: Request) -> JsonReply:
        body = json_object(req)
        metadata = check_metadata(body.get("metadata"))
        items = _new_items(body, required=False)
        conv = Conversation(new_id("conv"), int(time.time()), metadata, items)
        with self.state.lock:
            self.state.conversations[conv.id] = conv
        return JsonReply(conv.to_json())

    def retrieve(self, req: Request) -> JsonReply:
        return JsonReply(self.state.conversation(req.params["conversation_id"]).to_json())

    def update(self, req: Request) -> JsonReply:
        body = json_object(req)
        if "metadata" not in body:
            raise EmulatorError(
                400, "Missing required parameter: 'metadata'.", param="metadata", code="missing_required_parameter"
            )
        metadata = check_metadata(body["metadata"])
        with self.state.lock:
            conv = self.state.conversation(req.params["conversation_id"])
            conv.metadata = metadata
            return JsonReply(conv.to_json())

    def delete(self, req: Request) -> JsonReply:
        with self.state.lock:
            conv = self.state.conversation(req.params["conversation_id"])
            del self.state.conversations[conv.id]
        return JsonReply({"id": conv.id, "object": "conversation.deleted", "deleted": True})

    def list_items(self, req: Request) -> JsonReply:
        with self.state.lock:
            conv = self.state.conversation(req.params["conversation_id"])
            return JsonReply(list_page(conv.items, req.query))

    def add_items(self, req: Request) -> JsonReply:
        items = _new_items(json_object(req), required=True)
        with self.state.lock:
            conv = self.state.conversation(req.params["conversation_id"])
            self.state.ensure_unlocked(conv)
            conv.items.extend(items)
        shown = render(items, query_include(req.query))
        return JsonReply(
            {
                "object": "list",
                "data": shown,
                "has_more": False,
                "first_id": items[0]["id"] if items else "",
                "last_id": items[-1]["id"] if items else "",
            }
        )

    def _item(self, conv: Conversation, item_id: str) -> dict[str, Any]:
        for item in conv.items:
            if item["id"] == item_id:
                return item
        raise EmulatorError(404, f"Item with id '{item_id}' not found.", param="item_id")

    def retrieve_item(self, req: Request) -> JsonReply:
        with self.state.lock:
            conv = self.state.conversation(req.params["conversation_id"])
            return JsonReply(render([self._item(conv, req.params["item_id"])], query_include(req.query))[0])

    def delete_item(self, req: Request) -> JsonReply:
        with self.state.lock:
            conv = self.state.conversation(req.params["conversation_id"])
            conv.items.remove(self._item(conv, req.params["item_id"]))
            return JsonReply(conv.to_json())
