"""The HTTP edge of `index add URL` and the live updater: URL policy (SSRF), encodings, fetcher.

Why so defensive: feed items are written by strangers. A feed that lists
``http://169.254.169.254/latest/meta-data/`` or ``file:///etc/passwd`` must not make the
indexer read cloud credentials or local files and then publish them as "articles". So every
URL that came from a feed item is checked before each request *and* each redirect hop, and
again at connect time (so a DNS answer that changes between check and connect is caught).
The feed URLs an operator names directly are trusted (they may live on an intranet).

Everything here except :class:`Fetcher` is a pure function, tested without a network.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import socket
import threading
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from email.message import Message
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpcore
import httpx
from httpcore._backends.base import NetworkStream
from httpcore._backends.sync import SyncBackend

from index.errors import FetchError
from index.sources.settings import LiveSettings

T = TypeVar("T")

#: ``(host, port) -> addresses``; injectable so the policy is testable without DNS.
Resolver = Callable[[str, int], list[str]]

ALLOW_HINT = "set NEWSBOT_ALLOW_PRIVATE_URLS=1 to allow"


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IP literals, including odd forms like ``127.1``)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))  # the system's preference order


def resolve_within(resolve: Resolver, host: str, port: int, seconds: float) -> list[str]:
    """``resolve(host, port)``, abandoned after ``seconds`` with ``TimeoutError``.

    getaddrinfo cannot be interrupted, so it runs in a daemon thread that is left to finish
    on its own: a resolver that hangs must not hold a fetch past its deadline.
    """
    outcome: list[list[str] | BaseException] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome.append(resolve(host, port))
        except BaseException as exc:  # handed to the caller below
            outcome.append(exc)
        done.set()

    threading.Thread(target=lookup, name="newsbot-dns", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError(f"DNS lookup of {host!r} took longer than {seconds:g} s")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def forbidden_address(address: str) -> str | None:
    """Why an address must not be fetched from a feed item, or None when it is public.

    ``is_global`` is false for private, loopback, link-local, reserved, unspecified and
    shared (CGNAT) ranges; multicast is refused separately. IPv4-mapped IPv6 addresses are
    judged as the IPv4 address they carry.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"unparseable address {address!r}"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return f"unspecified address {ip}"
    if ip.is_loopback:
        return f"loopback address {ip}"
    if ip.is_link_local:
        return f"link-local address {ip}"
    if ip.is_multicast:
        return f"multicast address {ip}"
    if ip.is_private:
        return f"private address {ip}"
    if not ip.is_global:
        return f"reserved address {ip}"
    return None


def check_url(url: str, *, trusted: bool, allow_private: bool, resolve: Resolver = resolve_host) -> None:
    """Raise FetchError unless ``url`` may be fetched.

    Only http and https, always (``file://`` never, even from the operator: name a path
    instead). Untrusted URLs (from feed items, or redirects they lead to) must also resolve
    only to public addresses, unless ``allow_private``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(url, f"refused: scheme {scheme or 'none'!r} is not http or https")
    host = parts.hostname
    if not host:
        raise FetchError(url, "refused: URL has no host")
    if trusted or allow_private:
        return
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise FetchError(url, "refused: bad port") from None
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(url, f"cannot resolve host {host!r}: {exc}") from None
    if not addresses:
        raise FetchError(url, f"cannot resolve host {host!r}")
    for address in addresses:
        why = forbidden_address(address)
        if why:
            raise FetchError(url, f"refused: host {host!r} is a {why} ({ALLOW_HINT})")


_TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid)$", re.IGNORECASE)


def normalize_url(url: str) -> str:
    """A URL folded for identity: lower-case scheme and host, no fragment, no default port,
    no tracking parameters (``utm_*``, ``fbclid``…). The same story linked from two feeds,
    one with campaign tags, then has one id.
    """
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    if ":" in (parts.hostname or "") and not host.startswith("["):  # IPv6 literal
        host = f"[{parts.hostname}]" + (f":{port}" if port else "")
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not _TRACKING_PARAMS.match(k)])
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, query, ""))


def same_site(a: str, b: str) -> bool:
    """Whether two URLs are on the same host, ignoring a leading ``www.``."""
    def host(u: str) -> str:
        h = (urlsplit(u).hostname or "").lower()
        return h[4:] if h.startswith("www.") else h
    return bool(host(a)) and host(a) == host(b)


# --- encodings -------------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""", re.IGNORECASE)
_BOMS: Sequence[tuple[bytes, str]] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Labels browsers read as windows-1252 (a superset that also decodes curly quotes).
_WHATWG_ALIASES = {"iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252",
                   "us-ascii": "cp1252", "ascii": "cp1252", "iso8859-1": "cp1252"}


#: Text codecs that cannot replace bad bytes (``errors="replace"`` raises): never a page's.
_NO_REPLACE = frozenset({"idna", "punycode"})


def _known_codec(label: str | None) -> str | None:
    """The codec a charset label names, or None when it is unknown or no text encoding
    (``base64``, ``rot13``, ``hex``, ``zlib`` are codecs too, but of bytes, not text)."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _WHATWG_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NO_REPLACE:
        return None
    return info.name


def charset_from_content_type(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header, if it names a known codec."""
    if not content_type:
        return None
    msg = Message()
    msg["content-type"] = content_type
    return _known_codec(msg.get_param("charset"))  # type: ignore[arg-type]


def detect_encoding(content: bytes, content_type: str | None) -> str:
    """The codec to decode a body with: BOM, then the header's charset, then ``<meta charset>``
    or the XML declaration (first 4 KB), then UTF-8 (decoded with replacement characters).
    """
    for bom, name in _BOMS:
        if content.startswith(bom):
            return name
    from_header = charset_from_content_type(content_type)
    if from_header:
        return from_header
    head = content[:4096]
    for pattern in (_XML_DECL, _META_CHARSET):
        match = pattern.search(head)
        if match:
            found = _known_codec(match.group(1).decode("ascii", "replace"))
            if found:
                return found
    return "utf-8"


def decode_body(content: bytes, content_type: str | None) -> str:
    """Body bytes as text per :func:`detect_encoding`; undecodable bytes become U+FFFD."""
    try:
        return content.decode(detect_encoding(content, content_type), errors="replace")
    except (LookupError, UnicodeError):  # a codec _known_codec let through but that cannot cope
        return content.decode("utf-8", errors="replace")


# --- fetching --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    """One finished GET: the final URL after redirects, and the body (empty on 304)."""

    url: str
    status: int
    content: bytes
    content_type: str | None
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def text(self) -> str:
        return decode_body(self.content, self.content_type)


def megabytes(n: int) -> str:
    """``10 MB`` for 10 MiB: how size limits are named in reports."""
    return f"{n / (1024 * 1024):g} MB"


class HostThrottle:
    """Keeps at least ``delay`` seconds between two requests to one host (politeness).

    Clock and sleep are injectable so the rule is tested without waiting.
    """

    def __init__(self, delay: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.delay = delay
        self._clock = clock
        self._sleep = sleep
        self._last: dict[str, float] = {}

    def wait(self, url: str) -> None:
        """Sleep until ``url``'s host may be asked again, then note the request."""
        host = (urlsplit(url).hostname or "").lower()
        if self.delay > 0 and host in self._last:
            remaining = self._last[host] + self.delay - self._clock()
            if remaining > 0:
                self._sleep(remaining)
        self._last[host] = self._clock()


#: When the request being made on this thread must be finished (``time.monotonic()``), or None.
_deadline: ContextVar[float | None] = ContextVar("newsbot_fetch_deadline", default=None)


@contextmanager
def fetch_deadline(seconds: float) -> Iterator[None]:
    """Every socket operation inside this block shares one deadline ``seconds`` from now.

    httpx's timeouts bound each connect, read and write separately, so a server that sends
    one byte a second (status line, headers or body) is never cut off by them. The deadline
    is enforced by :class:`_DeadlineStream`, which gives each operation only what is left.
    """
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _remaining(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` shrunk to what is left of the current deadline; ``expired`` once it passed."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the fetch deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the fetch deadline."""

    def __init__(self, inner: NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: typing.Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     _remaining(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


def _resolve_by_deadline(resolve: Resolver, host: str, port: int) -> list[str]:
    """The host's addresses, looked up within what is left of the fetch deadline."""
    left = _remaining(None, httpcore.ConnectTimeout)
    try:
        addresses = resolve(host, port) if left is None else resolve_within(resolve, host, port, left)
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(str(exc)) from None
    except (OSError, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from None
    if not addresses:
        raise httpcore.ConnectError(f"cannot resolve {host!r}")
    return addresses


class _DeadlineBackend(SyncBackend):
    """Connects within the fetch deadline (the DNS lookup included) and hands out
    :class:`_DeadlineStream`\\ s."""

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> NetworkStream:
        addresses = _resolve_by_deadline(resolve_host, host, port)
        return self._connect_first(addresses, port, timeout, local_address, socket_options)

    def _connect_first(self, addresses: Sequence[str], port: int, timeout: float | None,
                       local_address: str | None,
                       socket_options: typing.Iterable[typing.Any] | None) -> NetworkStream:
        """A stream to the first address that answers (e.g. IPv6 first on a host without
        IPv6 routing), within the deadline."""
        last: Exception | None = None
        for address in addresses:
            try:
                stream = super().connect_tcp(address, port, _remaining(timeout, httpcore.ConnectTimeout),
                                             local_address, socket_options)
                return _DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


class _GuardedBackend(_DeadlineBackend):
    """Connects only to public addresses: closes the gap between the URL check and the
    connect (DNS rebinding), since the address used is the one checked here."""

    def __init__(self, resolve: Resolver) -> None:
        self._resolve = resolve

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> typing.Any:
        addresses = _resolve_by_deadline(self._resolve, host, port)
        for address in addresses:
            why = forbidden_address(address)
            if why:
                raise httpcore.ConnectError(f"refused: host {host!r} is a {why} ({ALLOW_HINT})")
        return self._connect_first(addresses, port, timeout, local_address, socket_options)


def _transport(backend: _DeadlineBackend) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport()
    transport._pool = httpcore.ConnectionPool(  # the public API has no network_backend knob
        ssl_context=httpx.create_ssl_context(), max_connections=100, max_keepalive_connections=20,
        keepalive_expiry=5.0, network_backend=backend,
    )
    return transport


class Fetcher:
    """GETs with a timeout, a size cap, checked redirects, conditional headers and politeness.

    ``trusted=True`` is for URLs the operator typed; feed-item URLs use ``trusted=False`` and
    go through the URL policy on every hop (unless ``allow_private``). Every failure is a
    :class:`FetchError` naming the URL, never an httpx exception.
    """

    def __init__(self, live: LiveSettings, *, allow_private: bool = False,
                 resolve: Resolver = resolve_host, throttle: HostThrottle | None = None) -> None:
        self.live = live
        self.allow_private = allow_private
        self._resolve = resolve
        self.throttle = throttle or HostThrottle(live.politeness_delay)
        t = live.fetch_timeout
        common: dict[str, typing.Any] = {
            "timeout": httpx.Timeout(t, connect=t, read=t, write=t, pool=t),
            "follow_redirects": False,
            "headers": {"User-Agent": live.user_agent},
            "trust_env": False,  # a proxy would resolve hosts itself and void the address check
        }
        # Both clients connect through a _DeadlineBackend: NEWSBOT_FETCH_TIMEOUT is one deadline.
        self._trusted = httpx.Client(transport=_transport(_DeadlineBackend()), **common)
        self._untrusted = (self._trusted if allow_private
                           else httpx.Client(transport=_transport(_GuardedBackend(resolve)), **common))

    def _bounded_resolve(self, host: str, port: int) -> list[str]:
        """The URL policy's lookup, cut off at NEWSBOT_FETCH_TIMEOUT like the fetch itself."""
        return resolve_within(self._resolve, host, port, self.live.fetch_timeout)

    def close(self) -> None:
        self._trusted.close()
        if self._untrusted is not self._trusted:
            self._untrusted.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, *, trusted: bool, etag: str | None = None,
            last_modified: str | None = None, accept: str = "*/*") -> FetchResult:
        """Fetch ``url``; a 304 (when ``etag``/``last_modified`` are given) has an empty body."""
        start_url = url
        seen: set[str] = set()
        headers = {"Accept": accept}
        # Validators saved by an older version may hold bytes no request header can carry.
        etag, last_modified = header_safe(etag), header_safe(last_modified)
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        hop_trusted = trusted
        for _hop in range(self.live.max_redirects + 1):
            check_url(url, trusted=hop_trusted, allow_private=self.allow_private,
                      resolve=self._bounded_resolve)
            seen.add(normalize_url(url))
            self.throttle.wait(url)
            result, location = self._get_once(url, start_url, headers, trusted=hop_trusted)
            if result is not None:
                return result
            assert location is not None
            next_url = urljoin(url, location)
            if normalize_url(next_url) in seen:
                raise FetchError(start_url, f"redirect loop at {next_url}")
            # A redirect to another host is no longer "what the operator typed".
            if not same_site(next_url, url):
                hop_trusted = False
            url = next_url
        raise FetchError(start_url, f"too many redirects (more than {self.live.max_redirects})")

    def _get_once(self, url: str, start_url: str, headers: dict[str, str],
                  *, trusted: bool) -> tuple[FetchResult | None, str | None]:
        client = self._trusted if trusted else self._untrusted
        limit = self.live.max_page_bytes
        where = start_url if url == start_url else f"{start_url} (via {url})"
        try:
            # One deadline from connect to the last body byte (see fetch_deadline).
            with fetch_deadline(self.live.fetch_timeout), \
                    client.stream("GET", url, headers=headers) as response:
                if response.is_redirect and "location" in response.headers:
                    return None, response.headers["location"]
                if 300 <= response.status_code < 400 and response.status_code != 304:
                    raise FetchError(where, f"HTTP {response.status_code} without a usable Location")
                if response.status_code == 304:
                    return self._result(url, response, b""), None
                if response.status_code >= 400 or response.status_code < 200:
                    raise FetchError(where, f"HTTP {response.status_code} {response.reason_phrase}".strip())
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise FetchError(where, f"page larger than {megabytes(limit)}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > limit:
                        raise FetchError(where, f"page larger than {megabytes(limit)}")
                return self._result(url, response, bytes(body)), None
        except httpx.TimeoutException:
            raise FetchError(where, f"timed out after {self.live.fetch_timeout:g} s") from None
        except httpx.ConnectError as exc:
            raise FetchError(where, f"cannot connect: {exc}") from None
        except httpx.HTTPError as exc:
            raise FetchError(where, f"{type(exc).__name__}: {exc}") from None

    @staticmethod
    def _result(url: str, response: httpx.Response, body: bytes) -> FetchResult:
        return FetchResult(
            url=url, status=response.status_code, content=body,
            content_type=response.headers.get("content-type"),
            etag=header_safe(response.headers.get("etag")),
            last_modified=header_safe(response.headers.get("last-modified")),
        )


def header_safe(value: str | None) -> str | None:
    """``value`` if it can be sent back in a request header (printable ASCII), else None.

    A server may send ``ETag: W/"été"`` in Latin-1; echoing it in ``If-None-Match`` cannot be
    encoded, so such a validator is dropped and the next fetch is simply unconditional.
    """
    if value is None or not value.strip():
        return None
    return value if all(" " <= ch <= "~" for ch in value) else None


def interleave_by_host(tasks: Iterable[T], url_of: Callable[[T], str | None]) -> list[T]:
    """Order tasks round-robin across the hosts of their URLs, so the politeness delay of one
    host is spent fetching from the others instead of sleeping."""
    queues: dict[str, list[T]] = {}
    for task in tasks:
        queues.setdefault((urlsplit(url_of(task) or "").hostname or "").lower(), []).append(task)
    out: list[T] = []
    lists = list(queues.values())
    for i in range(max((len(q) for q in lists), default=0)):
        out.extend(q[i] for q in lists if i < len(q))
    return out
