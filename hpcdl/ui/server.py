"""The HTTP server: a read-only JSON API, the static page, and downloads, on a daemon thread.

Routes (GET and HEAD only)::

    /                         the page (static/index.html); /static/<file> its script and style
    /api/info                 live or directory mode, where the page starts
    /api/jobs                 jobs (running and finished) with progress
    /api/jobs/<key>           one job: progress, frames, checkpoints
    /api/models               models
    /api/models/<key>         one model: parameters, layers, metrics, history, importances, downloads
    /api/frames               frames; /api/frames/<key>: the frame's summary
    /download/<key>           a model file, checkpoint or export listed by the scan

Keys are catalog keys (relative paths found by scanning); anything else is 404,
and a path with '.'/'..' segments, backslashes or NUL is 400 before any lookup.
"""

from __future__ import annotations

import atexit
import json
import mimetypes
import os
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from .site import Site

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
EXIT_WAIT_SECONDS = 10.0  # at exit, how long requests in flight may take to finish
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}


class BadPath(ValueError):
    pass


def split_path(raw: str) -> list[str]:
    """URL path -> decoded segments; BadPath for traversal attempts (., .., backslash, NUL, empty segments)."""
    path = urlsplit(raw).path
    try:
        decoded = unquote(path, errors="strict") if "%" in path else path
    except UnicodeDecodeError as exc:  # overlong UTF-8 ('%c0%ae' = '.') and other invalid bytes
        raise BadPath("not UTF-8") from exc
    if "\x00" in decoded or "\\" in decoded:
        raise BadPath("bad characters in path")
    segments = decoded.split("/")[1:]
    if segments and segments[-1] == "":
        segments = segments[:-1]
    for s in segments:
        if s in ("", ".", "..") or s.startswith("."):
            raise BadPath("path segments may not be empty or start with '.'")
    return segments


class Handler(BaseHTTPRequestHandler):
    server_version = "hpcdl-ui"
    sys_version = ""
    # HTTP/1.0: one request per connection, so no handler thread idles on a kept-alive socket
    # and the server can finish its requests quickly when the process exits.
    protocol_version = "HTTP/1.0"
    timeout = 30  # seconds a client may take to send its request

    # set on the server object
    @property
    def site(self) -> Site:
        return self.server.site  # type: ignore[attr-defined]

    def log_message(self, format, *args) -> None:
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    # -- responses -------------------------------------------------------------
    def _headers(self, status: int, ctype: str, length: int, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        for k, v in SECURITY_HEADERS.items():
            self.send_header(k, v)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def _send(self, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
        self._headers(status, ctype, len(body), extra)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status: int = 200) -> None:
        body = json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
        self._send(status, body, "application/json", {"Cache-Control": "no-store"})

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message, "status": status}, status)

    # -- methods ----------------------------------------------------------------
    def do_GET(self) -> None:
        try:
            self._route()
        except BadPath as exc:
            self._error(400, f"bad path: {exc}")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - one bad file must not take the server down
            try:
                self._error(500, f"{type(exc).__name__}: {exc}")
            except OSError:
                pass

    do_HEAD = do_GET

    def _read_only(self) -> None:
        self.close_connection = True  # a request body, if any, is never read
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _read_only

    def _host_allowed(self) -> bool:
        """Bound to loopback: only loopback Host names (a DNS-rebinding page cannot read the API)."""
        if not getattr(self.server, "loopback_only", False):
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("["):
            name = host[: host.find("]") + 1]
        else:
            name = host.rsplit(":", 1)[0] if ":" in host else host
        return name in LOOPBACK

    def _route(self) -> None:
        if not self._host_allowed():
            self._error(403, "unexpected Host header (the UI answers to localhost / 127.0.0.1 only)")
            return
        seg = split_path(self.path)
        site = self.site
        if not seg:
            return self._static("index.html")
        head, rest = seg[0], "/".join(seg[1:])
        if head == "static" and len(seg) == 2:
            return self._static(seg[1])
        if head == "favicon.ico" and len(seg) == 1:
            return self._static("favicon.svg")
        if head == "download" and rest:
            return self._download(rest)
        if head == "api" and len(seg) >= 2:
            what, key = seg[1], "/".join(seg[2:])
            if what == "info" and not key:
                return self._json(site.info())
            lists = {"jobs": site.jobs, "models": site.models, "frames": site.frames}
            items = {"jobs": site.job, "models": site.model, "frames": site.frame}
            if what in lists:
                if not key:
                    return self._json({what: lists[what]()})
                found = items[what](key)
                if found is None:
                    return self._error(404, f"no {what[:-1]} {key!r}")
                return self._json(found)
        self._error(404, "not found")

    def _static(self, name: str) -> None:
        ctype = STATIC_FILES.get(name)
        if ctype is None:
            return self._error(404, "not found")
        with open(os.path.join(STATIC_DIR, name), "rb") as fh:
            body = fh.read()
        self._send(200, body, ctype, {"Cache-Control": "no-cache"})

    def _download(self, key: str) -> None:
        path = self.site.download(key)
        if path is None:
            return self._error(404, f"no download {key!r}")
        size = os.path.getsize(path)
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        name = os.path.basename(path).replace('"', "")
        self._headers(
            200, ctype, size, {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
        )
        if self.command == "HEAD":
            return
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(1 << 20)
                if not chunk:
                    break
                self.wfile.write(chunk)


class UIServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, site: Site, host: str, port: int, verbose: bool = False) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), Handler)
        self.site = site
        self.verbose = verbose
        self.loopback_only = host in LOOPBACK or host.startswith("127.")
        self._thread = None
        self._handlers: list[threading.Thread] = []

    def process_request(self, request, client_address) -> None:
        """One daemon thread per request, remembered so that :meth:`stop` can wait for it."""
        t = threading.Thread(target=self.process_request_thread, args=(request, client_address), daemon=True)
        self._handlers = [h for h in self._handlers if h.is_alive()] + [t]
        t.start()

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the host's full name (slow or hanging without a resolver).
        import socketserver

        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def start(self) -> UIServer:
        """Serve on a daemon thread; training never waits for it.

        At interpreter exit the server stops and lets requests in flight finish first: a
        request thread frozen by the interpreter's shutdown while inside h5py would keep
        h5py's global lock, and the exit (which closes h5py objects) would wait for it forever.
        """
        self._thread = threading.Thread(
            target=self.serve_forever, name="hpcdl-ui", daemon=True, kwargs={"poll_interval": 0.2}
        )
        self._thread.start()
        atexit.register(self.stop, EXIT_WAIT_SECONDS)
        return self

    def stop(self, wait: float | None = None) -> None:
        """Stop accepting, close the socket, and wait (at most ``wait`` seconds) for requests in flight."""
        if self._thread is not None and self._thread.is_alive():
            self.shutdown()
        self.socket.close()
        deadline = None if wait is None else time.monotonic() + wait
        for t in list(self._handlers):
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        atexit.unregister(self.stop)


def bind(site: Site, host: str = "127.0.0.1", port: int = 54321, tries: int = 1, verbose: bool = False) -> UIServer:
    """A server on ``host:port`` (port 0: any free port); with tries > 1 the next ports are tried too."""
    last = None
    for p in range(port, port + max(1, tries)) if port else [0]:
        try:
            return UIServer(site, host, p, verbose=verbose)
        except OSError as exc:
            last = exc
    span = f"ports {port}-{port + tries - 1}" if tries > 1 else f"port {port}"
    raise OSError(f"web UI: cannot listen on {host} {span} ({last}); choose another with --port") from last
