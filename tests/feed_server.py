"""A local HTTP server for feed tests and the feeds benchmark (127.0.0.1, random port).

Routes are set per path at any time; the server counts requests and 304s per path, honours
``If-None-Match`` / ``If-Modified-Since`` for routes with validators, and can misbehave on
purpose: hang, redirect, send huge bodies, send wrong encodings, trickle the headers.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape


class _QuietServer(ThreadingHTTPServer):
    """Clients that give up (timeouts, size limits) reset connections: not worth a traceback."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    #: Send ETag / Last-Modified and answer 304 to matching conditional requests.
    validators: bool = True
    #: Block until the server is released (or stopped), simulating a hung server.
    hang: bool = False
    #: Location header for 3xx statuses.
    location: str | None = None
    #: Stream this many bytes (of ``body`` repeated) instead of ``body``; no Content-Length.
    stream_bytes: int = 0
    #: Send the status line and headers one byte every this many seconds (a server that keeps
    #: every single read fast but never finishes), then ``body``.
    trickle: float = 0.0
    last_modified: str = field(default_factory=lambda: format_datetime(datetime(2024, 1, 1, tzinfo=UTC),
                                                                        usegmt=True))

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


class FeedServer:
    """``with FeedServer() as srv: srv.route("/feed.xml", Route(...)); srv.url("/feed.xml")``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.user_agents: list[str] = []
        self.release = threading.Event()
        #: Set when a hanging route is entered (lets a test act "mid-request").
        self.hanging = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            #: Buffer headers and body into one send: two small writes meet Nagle's algorithm and
            #: delayed ACKs and cost 40 ms per response, which is the test server's cost, not ours.
            wbufsize = 1 << 16

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path
                with server._lock:
                    server.hits[path] += 1
                    server.user_agents.append(self.headers.get("User-Agent", ""))
                route = server.lookup(path)
                if route is None:
                    self._send(404, b"not found", "text/plain", {})
                    return
                if route.hang:
                    server.hanging.set()
                    server.release.wait(60)
                    return
                if route.location is not None:
                    self._send(route.status, b"", "text/plain", {"Location": route.location})
                    return
                if route.trickle:
                    self._trickle(route)
                    return
                headers = dict(route.headers)
                if route.validators and route.status == 200:
                    headers["ETag"] = route.etag
                    headers["Last-Modified"] = route.last_modified
                    inm = self.headers.get("If-None-Match")
                    ims = self.headers.get("If-Modified-Since")
                    fresh = inm == route.etag if inm is not None else ims == route.last_modified
                    if fresh:
                        with server._lock:
                            server.not_modified[path] += 1
                        self._send(304, b"", None, headers)
                        return
                if route.stream_bytes:
                    self.send_response(route.status)
                    if route.content_type:
                        self.send_header("Content-Type", route.content_type)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    chunk = (route.body or b"x") * max(1, 65536 // max(1, len(route.body or b"x")))
                    sent = 0
                    try:
                        while sent < route.stream_bytes:
                            self.wfile.write(chunk)
                            sent += len(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    self.close_connection = True
                    return
                self._send(route.status, route.body, route.content_type, headers)

            def _trickle(self, route: Route) -> None:
                head = (f"HTTP/1.1 {route.status} OK\r\nContent-Type: {route.content_type}\r\n"
                        f"Content-Length: {len(route.body)}\r\nConnection: close\r\n"
                        + "".join(f"{k}: {v}\r\n" for k, v in route.headers.items()) + "\r\n").encode()
                self.close_connection = True
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    for i in range(len(head)):
                        if server.release.wait(route.trickle):
                            return  # the server is stopping
                        self.wfile.write(head[i:i + 1])
                        self.wfile.flush()
                    self.wfile.write(route.body)

            def _send(self, status: int, body: bytes, ctype: str | None, headers: dict[str, str]) -> None:
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(body)

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def lookup(self, path: str) -> Route | None:
        """The route for a request path: exact, then without ``utm_*`` parameters, then without
        any query (feeds add campaign tags to links; real sites ignore them)."""
        if path in self.routes:
            return self.routes[path]
        base, _, query = path.partition("?")
        kept = "&".join(p for p in query.split("&") if p and not p.startswith("utm_"))
        return self.routes.get(f"{base}?{kept}" if kept else base) or self.routes.get(base)

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url(path)

    def page(self, path: str, title: str, paragraphs: list[str], *, date: str | None = None,
             canonical: str | None = None, charset: str = "utf-8", header_charset: bool = True,
             meta_charset: bool = True) -> str:
        """Serve an article page; returns its URL."""
        body = article_html(title, paragraphs, date=date, canonical=canonical,
                            charset=charset if meta_charset else None).encode(charset)
        ctype = f"text/html; charset={charset}" if header_charset else "text/html"
        return self.route(path, Route(body=body, content_type=ctype))

    def feed(self, path: str, title: str, items: list[dict[str, str]], **kw: object) -> str:
        """Serve an RSS 2.0 feed; returns its URL."""
        return self.route(path, Route(body=rss(title, items).encode("utf-8"),
                                      content_type="application/rss+xml; charset=utf-8", **kw))  # type: ignore[arg-type]

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def article_html(title: str, paragraphs: list[str], *, date: str | None = None,
                 canonical: str | None = None, charset: str | None = "utf-8",
                 site: str = "Local Gazette") -> str:
    """A news page shaped like real ones: navigation, the article, a footer."""
    meta = f'<meta charset="{charset}">' if charset else ""
    extra = f'<link rel="canonical" href="{escape(canonical)}">' if canonical else ""
    if date:
        extra += f'<meta property="article:published_time" content="{date}">'
    paras = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (f"<!DOCTYPE html><html><head>{meta}<title>{escape(title)}</title>{extra}"
            f'<meta property="og:site_name" content="{site}"></head><body>'
            f'<nav><a href="/">Home</a> <a href="/world">World</a></nav>'
            f"<article><h1>{escape(title)}</h1>{paras}</article>"
            f"<footer>Copyright Local Gazette</footer></body></html>")


def rss(title: str, items: list[dict[str, str]]) -> str:
    """An RSS 2.0 document; item keys: title, link, guid, description, pubDate."""
    parts = []
    for it in items:
        fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in it.items())
        parts.append(f"<item>{fields}</item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>http://example.invalid/</link>"
            f"<description>test feed</description>{''.join(parts)}</channel></rss>")


@dataclass
class Clock:
    """Seconds since creation, for the benchmark's printouts."""

    start: float = field(default_factory=time.monotonic)

    def __call__(self) -> float:
        return time.monotonic() - self.start


def running() -> Iterator[FeedServer]:
    """A started server for a pytest fixture: ``yield from running()``."""
    with FeedServer() as srv:
        yield srv
