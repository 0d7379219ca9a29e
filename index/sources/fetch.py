"""The HTTP client of `index add URL` and the live updater: :class:`Fetcher` (one deadline per
request, a size cap, checked redirects, conditional GET, per-host politeness).

Every URL that came from a feed item goes through the URL policy (:mod:`index.sources.urlpolicy`)
before each request and each redirect hop, and the connection itself only reaches public
addresses (:mod:`index.sources.deadline`); bodies are decoded by :mod:`index.sources.encodings`.
"""

from __future__ import annotations

import time
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from index.errors import FetchError
from index.sources.deadline import DeadlineBackend, GuardedBackend, fetch_deadline, make_transport
from index.sources.encodings import decode_body
from index.sources.settings import LiveSettings
from index.sources.urlpolicy import (
    Resolver,
    check_url,
    normalize_url,
    resolve_host,
    resolve_within,
    same_site,
)

T = TypeVar("T")

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
        # Both clients connect through a DeadlineBackend: NEWSBOT_FETCH_TIMEOUT is one deadline.
        self._trusted = httpx.Client(transport=make_transport(DeadlineBackend()), **common)
        self._untrusted = (self._trusted if allow_private
                           else httpx.Client(transport=make_transport(GuardedBackend(resolve)), **common))

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
