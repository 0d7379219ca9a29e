"""One deadline per request, connect to last body byte: httpx's timeouts bound each connect,
read and write separately (a server sending a byte a second is never cut off by them), so
the connections used by :class:`index.sources.fetch.Fetcher` come from a network backend
whose every lookup, connect, read, write and TLS handshake gets only what is left of
:func:`fetch_deadline`. :class:`GuardedBackend` also connects only to public addresses (the
address connected to is the one checked: no DNS rebinding gap).
"""

from __future__ import annotations

import time
import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import httpcore
import httpx
from httpcore._backends.base import NetworkStream
from httpcore._backends.sync import SyncBackend

from index.sources import urlpolicy
from index.sources.urlpolicy import ALLOW_HINT, Resolver, forbidden_address, resolve_within

#: When the request being made on this thread must be finished (``time.monotonic()``), or None.
_deadline: ContextVar[float | None] = ContextVar("newsbot_fetch_deadline", default=None)


@contextmanager
def fetch_deadline(seconds: float) -> Iterator[None]:
    """Every socket operation inside this block shares one deadline ``seconds`` from now.

    httpx's timeouts bound each connect, read and write separately, so a server that sends
    one byte a second (status line, headers or body) is never cut off by them. The deadline
    is enforced by :class:`DeadlineStream`, which gives each operation only what is left.
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


class DeadlineStream(NetworkStream):
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
        return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
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


class DeadlineBackend(SyncBackend):
    """Connects within the fetch deadline (the DNS lookup included) and hands out
    :class:`DeadlineStream`\\ s."""

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> NetworkStream:
        addresses = _resolve_by_deadline(urlpolicy.resolve_host, host, port)  # looked up now: patchable
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
                return DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


class GuardedBackend(DeadlineBackend):
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


def make_transport(backend: DeadlineBackend) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport()
    transport._pool = httpcore.ConnectionPool(  # the public API has no network_backend knob
        ssl_context=httpx.create_ssl_context(), max_connections=100, max_keepalive_connections=20,
        keepalive_expiry=5.0, network_backend=backend,
    )
    return transport
