"""The versions an index keeps: room for the next one, and going back to an older one.

A publish writes a whole new version beside the current one, so it needs about the current
version's size free. :func:`make_room` checks that before anything is written and, when the
disk is short, drops the oldest kept versions first (they are otherwise dropped only after
a publish, so old versions filling the disk would block every publish for good).
:func:`rollback` points ``CURRENT`` back at a version that is still on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from index.errors import ConfigError, DiskFullError, IndexCorruptError, IndexNotFoundError
from index.store.diskspace import dir_size, free_bytes, megabytes
from index.store.layout import (
    current_or_none,
    list_versions,
    load_manifest,
    version_seq,
    versions_dir,
    write_current,
)
from index.store.reader import IndexReader
from index.store.writer import IndexWriter

#: A new version is about the size of the current one; leave this much more for growth.
ROOM_FACTOR = 1.25
#: Never plan for less than this (a first build or a tiny index still writes files).
MIN_ROOM_BYTES = 1 << 20


class VersionInfo(BaseModel):
    """One version kept on disk, as ``index rollback`` lists it."""

    name: str
    articles: int
    created_at: datetime
    current: bool


def kept_versions(index_dir: Path) -> list[VersionInfo]:
    """The readable versions on disk, oldest first."""
    current = current_or_none(index_dir)
    kept = []
    for name in list_versions(index_dir):
        try:
            manifest = load_manifest(versions_dir(index_dir) / name)
        except IndexCorruptError:
            continue
        kept.append(VersionInfo(name=name, articles=manifest.articles, created_at=manifest.created_at,
                                current=name == current))
    return kept


def room_needed(index_dir: Path) -> int:
    """Bytes a new version will probably take: the current one's size with headroom."""
    current = current_or_none(index_dir)
    size = dir_size(versions_dir(index_dir) / current) if current else 0
    return max(MIN_ROOM_BYTES, int(size * ROOM_FACTOR))


class VersionDropper(Protocol):
    """What :func:`make_room` needs of a writer: where the index is, and dropping a version."""

    @property
    def index_dir(self) -> Path: ...

    def drop_version(self, name: str) -> None: ...


def make_room(writer: VersionDropper, free: Callable[[Path], int] = free_bytes) -> list[str]:
    """Drop the oldest non-current versions until a new version fits; the names dropped.

    Raises DiskFullError (nothing written, nothing dropped beyond old versions) when even
    then the disk is short. Run it holding the writer's lock, before staging.
    """
    index_dir = writer.index_dir
    needed = room_needed(index_dir)
    if free(index_dir) >= needed:
        return []
    current = current_or_none(index_dir)
    dropped: list[str] = []
    for name in [v for v in list_versions(index_dir) if v != current]:
        writer.drop_version(name)
        dropped.append(name)
        if free(index_dir) >= needed:
            return dropped
    raise DiskFullError(
        f"{index_dir}: a new version needs about {megabytes(needed)}, only {megabytes(free(index_dir))} "
        f"free{' after removing older versions' if dropped else ''}; nothing changed"
    )


class RollbackResult(BaseModel):
    previous: str
    current: str
    articles: int


def rollback(index_dir: Path, version: str | None = None, lock_timeout: float = 3.0) -> RollbackResult:
    """Make ``version`` (default: the newest kept one older than the current) current again.

    The version rolled back from stays on disk, so rolling forward is one more rollback.
    The target is opened in full first: a damaged version is refused, CURRENT untouched.
    """
    with IndexWriter(index_dir, lock_timeout=lock_timeout) as writer:
        current = current_or_none(index_dir)
        if current is None and not list_versions(index_dir):
            raise IndexNotFoundError(f"no index at {index_dir}; nothing to roll back")
        kept = kept_versions(index_dir)
        names = [v.name for v in kept]
        if version is None:
            older = [v for v in names if current is None or version_seq(v) < version_seq(current)]
            if not older:
                raise ConfigError(f"{index_dir}: no version older than {current} is kept; "
                                  f"kept: {', '.join(names) or 'none'}")
            target = older[-1]
        elif version not in names:
            raise ConfigError(f"{index_dir}: no version {version!r}; kept: {', '.join(names) or 'none'}")
        else:
            target = version
        with IndexReader.open(index_dir, version=target) as reader:
            articles = reader.manifest.articles
        if target != current:
            write_current(writer.index_dir, target)
        return RollbackResult(previous=current or "none", current=target, articles=articles)


__all__ = ["MIN_ROOM_BYTES", "ROOM_FACTOR", "RollbackResult", "VersionInfo", "kept_versions", "make_room",
           "rollback", "room_needed"]
