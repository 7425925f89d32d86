"""A local HTTP server that speaks Qdrant's REST API (the subset the product uses), backed by
qdrant-client's own local engine. It lets the tests drive the real server code path (qdrant-client
over HTTP) on a machine where no Qdrant server binary can be installed."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

from qdrant_client import QdrantClient
from qdrant_client.http import models as m


def _dump(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


class QdrantRestServer:
    def __init__(self) -> None:
        self.engine = QdrantClient(":memory:")
        self.requests: list[tuple[str, str]] = []
        self.fail_next: int | None = None  # answer the next request with this HTTP status
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> QdrantRestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- routing -------------------------------------------------------------------------------
    def route(self, method: str, path: str, body: dict[str, Any]) -> Any:
        e = self.engine
        routes: list[tuple[str, str, Callable[..., Any]]] = [
            ("GET", r"^/$", lambda: {"title": "qdrant - vector search engine", "version": "1.16.0"}),
            ("GET", r"^/collections$", lambda: m.CollectionsResponse(collections=e.get_collections().collections)),
            ("GET", r"^/aliases$", lambda: e.get_aliases()),
            ("POST", r"^/collections/aliases$", lambda: e.update_collection_aliases(
                change_aliases_operations=m.ChangeAliasesOperation(**body).actions)),
            ("GET", r"^/collections/([^/]+)/exists$", lambda c: m.CollectionExistence(exists=e.collection_exists(c))),
            ("GET", r"^/collections/([^/]+)$", lambda c: e.get_collection(c)),
            ("PUT", r"^/collections/([^/]+)$", lambda c: self._create(c, body)),
            ("DELETE", r"^/collections/([^/]+)$", lambda c: e.delete_collection(c)),
            ("PUT", r"^/collections/([^/]+)/index$", lambda c: self._index(c, body)),
            ("PUT", r"^/collections/([^/]+)/points$", lambda c: self._upsert(c, body)),
            ("POST", r"^/collections/([^/]+)/points/query$", lambda c: self._query(c, body)),
            ("POST", r"^/collections/([^/]+)/points/count$", lambda c: e.count(
                c, count_filter=m.CountRequest(**body).filter, exact=True)),
        ]
        for verb, pattern, handler in routes:
            match = re.match(pattern, path)
            if verb == method and match:
                return handler(*match.groups())
        raise LookupError(f"{method} {path}")

    def _create(self, name: str, body: dict[str, Any]) -> bool:
        req = m.CreateCollection(**body)
        return self.engine.create_collection(name, vectors_config=req.vectors or {},
                                             sparse_vectors_config=req.sparse_vectors)

    def _index(self, name: str, body: dict[str, Any]) -> m.UpdateResult:
        req = m.CreateFieldIndex(**body)
        self.engine.create_payload_index(name, req.field_name, req.field_schema)
        return m.UpdateResult(operation_id=0, status=m.UpdateStatus.COMPLETED)

    def _upsert(self, name: str, body: dict[str, Any]) -> m.UpdateResult:
        req = m.PointsList(**body)
        return self.engine.upsert(name, points=req.points)

    def _query(self, name: str, body: dict[str, Any]) -> m.QueryResponse:
        req = m.QueryRequest(**body)
        return self.engine.query_points(name, query=req.query, using=req.using, prefetch=req.prefetch,
                                        query_filter=req.filter, limit=req.limit or 10,
                                        with_payload=req.with_payload if req.with_payload is not None else False)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def _serve(self, method: str) -> None:
                path = urlparse(self.path).path
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                server.requests.append((method, path))
                if server.fail_next:
                    status, server.fail_next = server.fail_next, None
                    self._send(status, {"status": {"error": "injected failure"}, "time": 0})
                    return
                try:
                    with server._lock:
                        result = server.route(method, path, body)
                except LookupError:
                    self._send(404, {"status": {"error": f"Not found: {path}"}, "time": 0})
                    return
                except (ValueError, KeyError) as exc:
                    self._send(404 if "not found" in str(exc).lower() else 400,
                               {"status": {"error": str(exc)}, "time": 0})
                    return
                except Exception as exc:  # a server answers 500, it does not hang up
                    self._send(500, {"status": {"error": repr(exc)}, "time": 0})
                    return
                self._send(200, {"result": _dump(result), "status": "ok", "time": 0.0})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler
