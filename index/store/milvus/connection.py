"""Connecting to Milvus: a Milvus Lite file (one process at a time) or a server, and names.

Milvus Lite 2.5 keeps its data in one SQLite file (``<index_dir>/milvus.db`` by default) and
holds an exclusive POSIX lock on ``.milvus.db.lock`` beside it while a process has it open: a
second process (the bot while ``index add`` runs) cannot open it.  :func:`connect` says so in
one line (:class:`~index.errors.IndexLockedError`) instead of pymilvus' traceback; several
processes need a Milvus server (``NEWSBOT_MILVUS_URI=http://host:19530``).

Why Lite 2.5 and not 3.x: Lite 3 answered a question 3x slower than FAISS here (its engine
walks rows one by one; docs/scale.md), Lite 2.5 within 1.4x.  Lite 2.5 has no aliases; the
published version is kept by :mod:`index.store.milvus.pointer` instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from pymilvus import MilvusClient, MilvusException

from index.errors import ConfigError, IndexCorruptError, IndexLockedError, IndexNotFoundError, NewsbotError

#: The default Milvus Lite data file inside the index directory.
LITE_FILE = "milvus.db"
#: How long a busy Lite lock is retried before it is reported: the Lite server of a process
#: that was just killed (a crashed build restarted at once) can hold it for a moment longer.
LITE_LOCK_GRACE_S = 2.0
_LITE_LOCK_POLL_S = 0.1
#: gRPC options for the Unix socket to Milvus Lite's server: no keepalive pings while idle.
#: pymilvus pings every 10 s; after a few idle minutes Lite's server answers GOAWAY
#: "too_many_pings", which gRPC logs as an error line on stderr (measured: a client idle for
#: 4 minutes got it; with these options it did not). The server is a local child process.
_LITE_GRPC_OPTIONS = {"grpc.keepalive_time_ms": 600_000, "grpc.keepalive_permit_without_calls": False}


class _QuietIterator(logging.Filter):
    """pymilvus warns on every query iterator over Milvus Lite that it uses the client's clock;
    that is expected there and says nothing to an operator."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


# Milvus Lite 2.5 imports pkg_resources (hence setuptools<81 in pyproject.toml), which warns on
# every command; the warning is about Milvus Lite's packaging, not something a user can act on.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

for _name in ("pymilvus", "pymilvus.milvus_client"):
    for _handler in logging.getLogger(_name).handlers:
        _handler.addFilter(_QuietIterator())


@dataclass(frozen=True)
class MilvusTarget:
    """Which Milvus, and the names of one index in it."""

    uri: str
    token: str
    prefix: str

    @property
    def is_lite(self) -> bool:
        return not self.uri.startswith(("http://", "https://", "tcp://", "unix:"))

    @property
    def alias(self) -> str:
        """The alias readers follow on a server: the published version's manifest collection."""
        return f"{self.prefix}__current"

    @property
    def pointer(self) -> str:
        """The collection naming the published version on Milvus Lite (it has no aliases)."""
        return f"{self.prefix}__published"

    @property
    def published_by(self) -> str:
        """What names the published version, for messages."""
        return f"pointer collection {self.pointer}" if self.is_lite else f"alias {self.alias}"

    def describe(self) -> str:
        return self.uri if self.is_lite else f"Milvus at {self.uri}"


def target_for(index_dir: Path, uri: str, token: str, prefix: str) -> MilvusTarget:
    """The target of ``NEWSBOT_MILVUS_URI`` (empty: ``<index_dir>/milvus.db``)."""
    if not uri:
        uri = str(Path(index_dir).absolute() / LITE_FILE)
    elif not uri.startswith(("http://", "https://", "tcp://", "unix:")) and not uri.endswith(".db"):
        raise ConfigError(f"NEWSBOT_MILVUS_URI: {uri!r} is neither http(s)://host:port nor a *.db path")
    return MilvusTarget(uri=uri, token=token, prefix=prefix)


_lock = threading.Lock()
#: One client per Milvus (and token) per process, shared by its readers and writers with a
#: count of users: a bot that reopens the index on every publish reuses one connection.
_clients: dict[tuple[str, str], tuple[MilvusClient, int]] = {}


def _lite_lock_file(path: Path) -> Path:
    """Milvus Lite 2.5's lock file for the data file ``path`` (its server.py names it so)."""
    return path.parent / f".{path.name}.lock"


def lite_files(path: Path) -> list[Path]:
    """The files Milvus Lite keeps for the data file ``path`` (to remove an unused one)."""
    return [path, _lite_lock_file(path)]


def _probe_lite_lock(path: Path) -> None:
    """IndexLockedError when another process holds Milvus Lite's lock on ``path``.

    Only called before this process opens ``path`` (no client of ours holds it): closing a
    file drops every POSIX lock the process has on it, which would stop our own Lite server."""
    if path.is_dir():
        raise IndexCorruptError(
            f"{path}: a Milvus Lite 3 data folder; this newsbot uses Milvus Lite 2.5 (one file): "
            "move it away and run `newsbot index build` again"
        )
    lock = _lite_lock_file(path)
    if not lock.exists():
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        deadline = time.monotonic() + LITE_LOCK_GRACE_S
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise IndexLockedError(
                    f"{path}: another process has this Milvus Lite file open (Milvus Lite serves one "
                    "process; stop it, or use a Milvus server, NEWSBOT_MILVUS_URI=http://host:19530, "
                    "for a bot and an indexer at once)"
                )
            time.sleep(_LITE_LOCK_POLL_S)
        fcntl.lockf(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    """Whether the lock was free (and is now ours). lockf, not flock: Milvus Lite takes a POSIX
    record lock, which flock does not see."""
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _key(target: MilvusTarget) -> tuple[str, str]:
    return (str(Path(target.uri).absolute()) if target.is_lite else target.uri, target.token)


def _open(target: MilvusTarget, create: bool) -> MilvusClient:
    if not target.is_lite:
        try:
            return MilvusClient(uri=target.uri, token=target.token, timeout=10)
        except MilvusException as exc:
            raise NewsbotError(f"{target.describe()}: cannot connect ({one_line(exc)})") from None
    path = Path(target.uri).absolute()
    if not create and not path.exists():
        raise IndexNotFoundError(f"no index at {path.parent} (no Milvus Lite file {path.name}); "
                                 "run `newsbot index build` first")
    if not path.parent.is_dir():
        raise ConfigError(f"NEWSBOT_MILVUS_URI: folder {path.parent} does not exist")
    _probe_lite_lock(path)
    try:
        return MilvusClient(uri=str(path), grpc_options=_LITE_GRPC_OPTIONS)
    except MilvusException as exc:
        _probe_lite_lock(path)
        raise NewsbotError(f"{path}: cannot open Milvus Lite ({one_line(exc)})") from None


def connect(target: MilvusTarget, create: bool = True) -> MilvusClient:
    """This process's client for ``target`` (pair every call with :func:`disconnect`).

    IndexLockedError when a Lite file is open in another process, NewsbotError when a server
    cannot be reached.  ``create=False`` (readers): a Lite file that does not exist is
    IndexNotFoundError, not a new empty database."""
    key = _key(target)
    with _lock:
        entry = _clients.get(key)
        if entry is None:
            entry = (_open(target, create), 0)
        _clients[key] = (entry[0], entry[1] + 1)
        return entry[0]


def disconnect(target: MilvusTarget, client: MilvusClient) -> None:
    """One user fewer of ``client``; the last one closes it, and for a Lite file releases the
    file, so another process (the bot after an ``index build``) can open it."""
    key = _key(target)
    with _lock:
        entry = _clients.get(key)
        ours = entry is not None and entry[0] is client
        if entry is not None and ours and entry[1] > 1:
            _clients[key] = (client, entry[1] - 1)
            return
        if ours:
            del _clients[key]
    with contextlib.suppress(Exception):
        client.close()
    if target.is_lite and ours:
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(key[0])


def one_line(exc: BaseException) -> str:
    """A pymilvus error's message without its code wrapper, on one line."""
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())[:300]
