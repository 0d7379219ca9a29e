"""The URL policy (SSRF): which addresses a feed item's URL may reach, host lookups with a
deadline, and URL normalisation (tracking parameters dropped) and same-site checks.

Why so defensive: feed items are written by strangers. A feed that lists
``http://169.254.169.254/latest/meta-data/`` or ``file:///etc/passwd`` must not make the
indexer read cloud credentials or local files and then publish them as "articles". So every
URL that came from a feed item is checked before each request *and* each redirect hop
(:class:`index.sources.fetch.Fetcher`), and again at connect time
(:mod:`index.sources.deadline`), so a DNS answer that changes between check and connect is
caught. The feed URLs an operator names directly are trusted (they may live on an intranet).
Pure functions, tested without a network (the resolver is injectable).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from index.errors import FetchError

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
