"""The emulated Files API (``/v1/files``): multipart upload, list, retrieve, content, delete.

Files live in the emulator's :class:`~.knowledge.Knowledge`; a vector store indexes them
(:mod:`.vector_stores_api`). Shapes: ``OpenAIFile``, ``ListFilesResponse``, ``DeleteFileResponse``.
"""

from __future__ import annotations

from .common import EmulatorError, bad_request, deleted, invalid_value, missing, page
from .http import JsonReply, Request, Router
from .knowledge import MAX_FILE_BYTES, FileRec, Knowledge

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")


class FilesApi:
    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge

    def register(self, router: Router) -> None:
        router.add("POST", "/v1/files", self.upload)
        router.add("GET", "/v1/files", self.list_files)
        router.add("GET", "/v1/files/{file_id}", self.retrieve)
        router.add("DELETE", "/v1/files/{file_id}", self.delete)
        router.add("GET", "/v1/files/{file_id}/content", self.content)

    def _file(self, file_id: str) -> FileRec:
        found = self.knowledge.files.get(file_id)
        if found is None:
            raise EmulatorError(404, f"No such File object: {file_id}", param="id")
        return found

    def upload(self, req: Request) -> JsonReply:
        if req.form is None:
            raise bad_request(
                "Invalid request: the body must be multipart/form-data with 'file' and 'purpose'.", "file"
            )
        if "file" not in req.form or not req.form["file"][0]:
            raise missing("file")
        if "purpose" not in req.form:
            raise missing("purpose")
        filename, content = req.form["file"]
        purpose = req.form["purpose"][1].decode("utf-8", "replace")
        if purpose not in PURPOSES:
            raise invalid_value("purpose", purpose, PURPOSES)
        if len(content) > MAX_FILE_BYTES:
            raise bad_request(f"File is too large: {len(content)} bytes; the limit is {MAX_FILE_BYTES} bytes.", "file")
        with self.knowledge.lock:
            rec = self.knowledge.add_file(filename or "upload", content, purpose)
            return JsonReply(rec.to_dict())

    def list_files(self, req: Request) -> JsonReply:
        with self.knowledge.lock:
            files = [f for f in self.knowledge.files.values() if f.purpose == req.query.get("purpose", f.purpose)]
            query = dict(req.query)
            raw = query.get("limit", "10000")  # this list's limit goes to 10,000; pages here hold 100 at most
            query["limit"] = str(min(int(raw), 100)) if raw.isdigit() and int(raw) > 0 else raw
            return JsonReply(
                page(files, query, id_of=lambda f: f.id, render=lambda chosen: [f.to_dict() for f in chosen])
            )

    def retrieve(self, req: Request) -> JsonReply:
        with self.knowledge.lock:
            return JsonReply(self._file(req.params["file_id"]).to_dict())

    def delete(self, req: Request) -> JsonReply:
        with self.knowledge.lock:
            rec = self._file(req.params["file_id"])
            self.knowledge.delete_file(rec.id)
        return JsonReply(deleted(rec.id, "file") | {"object": "file"})

    def content(self, req: Request) -> JsonReply:
        with self.knowledge.lock:
            rec = self._file(req.params["file_id"])
        raise bad_request(f"Not allowed to download files of purpose: {rec.purpose}", "file_id")
