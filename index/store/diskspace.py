"""Disk space: telling a full disk from a broken index, and sizing what a version needs."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
from pathlib import Path

#: errno values that mean "no room": the device is full, or the user's quota is.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: How libraries that do not raise OSError (FAISS's C++ writer, SQLite) word it.
_FULL_MESSAGES = ("no space left on device", "database or disk is full", "disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from) means the disk is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        code = getattr(current, "sqlite_errorcode", None)
        if isinstance(current, sqlite3.Error) and code == sqlite3.SQLITE_FULL:
            return True
        if any(m in str(current).lower() for m in _FULL_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False


def dir_size(path: Path) -> int:
    """Bytes of every file under ``path`` (0 when it is gone)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(dirpath) / name).stat().st_size
    return total


def free_bytes(path: Path) -> int:
    """Bytes free for this user on the file system holding ``path``."""
    return shutil.disk_usage(path).free


def megabytes(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"
