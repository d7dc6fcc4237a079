"""A small conditions-database service: serves the objects of a folder over HTTP.

``GET /<path>/<timestamp>[?run=N]`` answers the JSON object of ``path`` valid at
``timestamp`` (ms since the epoch; and for ``run``), with its validity in the headers
``Valid-From`` / ``Valid-Until`` (and ``Run-First`` / ``Run-Last`` for a run-range object);
404 with a sentence when none is valid; 400 for a malformed request. ``GET /`` lists the
paths. Objects are read from the folder on each request, so objects added while it runs
are served. The folder layout is that of ``hyperloop.analysis.ccdb``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from hyperloop.analysis.ccdb import ConditionsError, FolderSource, check_path

log = logging.getLogger("hyperloop.conditions")


def _handler(source: FolderSource) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "hyperloop-conditions"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("%s " + format, self.address_string(), *args)

        def _send(self, code: int, body: object, headers: dict[str, str] | None = None) -> None:
            data = (json.dumps(body) + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urllib.parse.urlsplit(self.path)
            parts = urllib.parse.unquote(url.path).strip("/").split("/")
            if parts == [""]:
                paths = sorted(
                    os.path.relpath(d, source.folder)
                    for d, _dirs, files in os.walk(source.folder)
                    if any(f.endswith(".json") for f in files)
                )
                return self._send(200, {"paths": paths})
            query = urllib.parse.parse_qs(url.query)
            try:
                if len(parts) < 2:
                    raise ValueError("expected /<path>/<timestamp>")
                path = check_path("/".join(parts[:-1]))
                timestamp = int(parts[-1])
                run = int(query["run"][0]) if "run" in query else None
            except (ValueError, ConditionsError) as exc:
                return self._send(400, {"detail": f"bad conditions request {url.path}: {exc}"})
            try:
                obj = source.fetch(path, timestamp, run)
            except ConditionsError as exc:
                return self._send(404, {"detail": str(exc)})
            headers = {"Valid-From": str(obj.valid_from), "Valid-Until": str(obj.valid_until)}
            if obj.first_run is not None:
                headers["Run-First"] = str(obj.first_run)
                headers["Run-Last"] = str(obj.last_run)
            return self._send(200, obj.payload, headers)

    return Handler


def make_server(folder: str | os.PathLike, host: str = "127.0.0.1", port: int = 0):
    """An HTTP server of ``folder`` (not started; ``port`` 0: any free port)."""
    if not Path(folder).is_dir():
        raise ConditionsError(f"conditions folder not found: {folder}")
    return ThreadingHTTPServer((host, port), _handler(FolderSource(folder)))


def serve_in_thread(folder: str | os.PathLike, host: str = "127.0.0.1", port: int = 0):
    """Start a server in a daemon thread; returns (server, its URL). ``server.shutdown()``
    stops it."""
    server = make_server(folder, host, port)
    threading.Thread(target=server.serve_forever, name="conditions", daemon=True).start()
    h, p = server.server_address[:2]
    return server, f"http://{h}:{p}"
