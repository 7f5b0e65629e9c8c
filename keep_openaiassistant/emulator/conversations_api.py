"""The emulated Conversations API: ``/v1/conversations`` and its items.

A conversation is the Responses-era thread: an ordered list of items (messages, function calls
and their outputs, tool-call items). Responses created with ``conversation`` read its items as
history and append their own when they end (see :mod:`.responses_state`). Items cannot be added
while a response is operating on the conversation (400 ``conversation_locked``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .common import (
    EmulatorError,
    array_too_long,
    check_metadata,
    deleted,
    invalid_type,
    list_object,
    long_id,
    missing,
    page,
)
from .http import JsonReply, Request, Router
from .responses_items import normalize_input, query_include, render
from .responses_state import Conversation, ResponsesState

MAX_NEW_ITEMS = 20


def items_page(items: list[dict[str, Any]], req: Request) -> dict[str, Any]:
    """A cursor page of stored items (a conversation's, a response's input), rendered per the query's ``include``."""
    include = query_include(req.query)
    return page(
        items,
        req.query,
        id_of=lambda item: str(item["id"]),
        render=lambda chosen: render(chosen, include),
        with_before=False,
    )


def _new_items(body: dict[str, Any], required: bool) -> list[dict[str, Any]]:
    raw = body.get("items")
    if raw is None and required:
        raise missing("items")
    if raw is not None and not isinstance(raw, list):
        raise invalid_type("items", "an array", raw)
    if raw is not None and len(raw) > MAX_NEW_ITEMS:
        raise array_too_long("items", raw, MAX_NEW_ITEMS)
    return normalize_input(raw or [], "items")


class ConversationsApi:
    def __init__(self, state: ResponsesState) -> None:
        self.state = state
        self.clock = state.clock

    def register(self, router: Router) -> None:
        for method, path, handler in (
            ("POST", "/v1/conversations", self.create),
            ("GET", "/v1/conversations/{conversation_id}", self.retrieve),
            ("POST", "/v1/conversations/{conversation_id}", self.update),
            ("DELETE", "/v1/conversations/{conversation_id}", self.delete),
            ("GET", "/v1/conversations/{conversation_id}/items", self.list_items),
            ("POST", "/v1/conversations/{conversation_id}/items", self.add_items),
            ("GET", "/v1/conversations/{conversation_id}/items/{item_id}", self.retrieve_item),
            ("DELETE", "/v1/conversations/{conversation_id}/items/{item_id}", self.delete_item),
        ):
            router.add(method, path, self._served(method, handler))

    def _served(self, method: str, handler: Callable[[Request], JsonReply]) -> Callable[[Request], JsonReply]:
        """``handler``, or, with the Conversations API switched off (``EmulatorConfig.conversations``),
        the answer of a server that does not have it: a route 404 or a 405."""

        def serve(req: Request) -> JsonReply:
            config = self.state.config
            if not config.conversations:
                if config.conversations_off_status == 405:
                    raise EmulatorError(405, f"Method Not Allowed ({method} {req.path})", code="method_not_allowed")
                raise EmulatorError(404, f"Invalid URL ({method} {req.path})", code="unknown_url")
            return handler(req)

        return serve

    def create(self, req: Request) -> JsonReply:
        body = req.json()
        metadata = check_metadata(body.get("metadata"))
        items = _new_items(body, required=False)
        conv = Conversation(long_id("conv"), self.clock.stamp(), metadata, items)
        with self.state.lock:
            self.state.conversations[conv.id] = conv
        return JsonReply(conv.to_json())

    def retrieve(self, req: Request) -> JsonReply:
        return JsonReply(self.state.conversation(req.params["conversation_id"]).to_json())

    def update(self, req: Request) -> JsonReply:
        body = req.json()
        if "metadata" not in body:
            raise missing("metadata")
        metadata = check_metadata(body["metadata"])
        with self.state.lock:
            conv = self.state.conversation(req.params["conversation_id"])
            conv.metadata = metadata
            return JsonReply(conv.to_json())

    def delete(self, req: Request) -> JsonReply:
        with self.state.lock:
            conv = self.state.conversation(req.params["conversation_id"])
            del self.state.conversations[conv.id]
        return JsonReply(deleted(conv.id, "conversation"))

    def list_items(self, req: Request) -> JsonReply:
        with self.state.lock:
            conv = self.state.conversation(req.params["conversation_id"])
            return JsonReply(items_page(conv.items, req))

    def add_items(self, req: Request) -> JsonReply:
        items = _new_items(req.json(), required=True)
        with self.state.lock:
            conv = self.state.conversation(req.params["conversation_id"])
            self.state.ensure_unlocked(conv)
            conv.items.extend(items)
        return JsonReply(list_object(render(items, query_include(req.query))))

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
