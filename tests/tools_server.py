"""A tool endpoint for the tests: a real HTTP server on 127.0.0.1, scripted per path.

| path                | answer                                                            |
|---------------------|-------------------------------------------------------------------|
| ``/owner``          | ``{"service": <query service>, "team": "payments", ...}``         |
| ``/echo`` (any)     | ``{"method", "query", "body"}`` as received                       |
| ``/fail``           | 503 ``upstream down``                                             |
| ``/slow``           | never answers until the test ends (the server is closed)          |
| ``/big``            | 100,000 bytes of text                                             |
| ``/huge``           | 5 MB announced, never sent in full                                |
| ``/redirect-other`` | 302 to the same port on ``localhost`` (another host name)         |
| ``/redirect-same``  | 302 to ``/owner`` (same host)                                     |
| ``/meet``           | answers once two ``/meet`` requests are in at once (proves parallel calls) |

``received`` lists ``(method, path)`` of every request.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class ToolServer:
    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.released = threading.Event()
        self.meet = threading.Barrier(2)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                server.received.append((self.command, parts.path))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/owner":
                    owner = {"service": query.get("service"), "team": "payments", "channel": "#payments-oncall"}
                    self._reply(200, json.dumps(owner).encode(), {"Content-Type": "application/json"})
                elif parts.path == "/echo":
                    body = json.loads(raw) if raw else None
                    echoed = {"method": self.command, "query": query, "body": body}
                    self._reply(200, json.dumps(echoed).encode(), {"Content-Type": "application/json"})
                elif parts.path == "/fail":
                    self._reply(503, b"upstream down")
                elif parts.path == "/slow":
                    server.released.wait(30)
                elif parts.path == "/big":
                    self._reply(200, b"x" * 100_000)
                elif parts.path == "/huge":
                    self.send_response(200)
                    self.send_header("Content-Length", str(5_000_000))
                    self.end_headers()
                    self.wfile.write(b"y" * 1000)
                elif parts.path == "/redirect-other":
                    self._reply(302, b"", {"Location": f"http://localhost:{server.port}/owner"})
                elif parts.path == "/redirect-same":
                    self._reply(302, b"", {"Location": "/owner?" + parts.query})
                elif parts.path == "/meet":
                    try:
                        server.meet.wait(10)
                        self._reply(200, b"met")
                    except threading.BrokenBarrierError:
                        self._reply(500, b"alone")
                else:
                    self._reply(404, b"no such path")

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> ToolServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.meet.abort()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
