"""Connecting to Milvus: a Milvus Lite file (one process at a time) or a server, and names.

Milvus Lite keeps its data in a directory (``<index_dir>/milvus.db`` by default) and holds an
exclusive ``flock`` on it while a process has it open: a second process (the bot while
``index add`` runs) cannot open it.  :func:`connect` says so in one line
(:class:`~index.errors.IndexLockedError`) instead of pymilvus' traceback; several processes
need a Milvus server (``NEWSBOT_MILVUS_URI=http://host:19530``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from pymilvus import MilvusClient, MilvusException

from index.errors import ConfigError, IndexLockedError, IndexNotFoundError, NewsbotError

#: The default Milvus Lite data directory inside the index directory.
LITE_FILE = "milvus.db"
#: Milvus Lite's own lock file inside its data directory.
_LITE_LOCK = "LOCK"


class _QuietIterator(logging.Filter):
    """pymilvus warns on every query iterator over Milvus Lite that it uses the client's clock;
    that is expected there and says nothing to an operator."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


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
        """The alias readers follow: the published version's manifest collection."""
        return f"{self.prefix}__current"

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
_open_lite: dict[str, int] = {}  # Lite data dirs this process has open → clients open


def _probe_lite_lock(path: Path) -> None:
    """IndexLockedError when another process holds Milvus Lite's lock on ``path``."""
    lock = path / _LITE_LOCK
    if not lock.exists():
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise IndexLockedError(
            f"{path}: another process has this Milvus Lite file open (Milvus Lite serves one process; "
            "stop it, or use a Milvus server, NEWSBOT_MILVUS_URI=http://host:19530, for a bot and an "
            "indexer at once)"
        ) from None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def connect(target: MilvusTarget, create: bool = True) -> MilvusClient:
    """A client for ``target``; IndexLockedError when a Lite file is open in another process,
    NewsbotError when the server cannot be reached.  ``create=False`` (readers): a Lite file
    that does not exist is IndexNotFoundError, not a new empty database."""
    if not target.is_lite:
        try:
            return MilvusClient(uri=target.uri, token=target.token, timeout=10)
        except MilvusException as exc:
            raise NewsbotError(f"{target.describe()}: cannot connect ({one_line(exc)})") from None
    path = Path(target.uri).absolute()
    with _lock:
        if str(path) not in _open_lite:
            if not create and not path.exists():
                raise IndexNotFoundError(f"no index at {path.parent} (no Milvus Lite file {path.name}); "
                                         "run `newsbot index build` first")
            if not path.parent.is_dir():
                raise ConfigError(f"NEWSBOT_MILVUS_URI: folder {path.parent} does not exist")
            _probe_lite_lock(path)
        try:
            client = MilvusClient(uri=str(path))
        except MilvusException as exc:
            _probe_lite_lock(path)
            raise NewsbotError(f"{path}: cannot open Milvus Lite ({one_line(exc)})") from None
        _open_lite[str(path)] = _open_lite.get(str(path), 0) + 1
    return client


def disconnect(target: MilvusTarget, client: MilvusClient) -> None:
    """Close ``client``; the last client of a Lite file in this process releases the file, so
    another process (the bot after an ``index build``) can open it."""
    with contextlib.suppress(Exception):
        client.close()
    if not target.is_lite:
        return
    path = str(Path(target.uri).absolute())
    with _lock:
        left = _open_lite.get(path, 0) - 1
        if left > 0:
            _open_lite[path] = left
            return
        _open_lite.pop(path, None)
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(path)


def one_line(exc: BaseException) -> str:
    """A pymilvus error's message without its code wrapper, on one line."""
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())[:300]
