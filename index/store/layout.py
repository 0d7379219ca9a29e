"""Where a version lives on disk and how it is switched: paths, ``CURRENT``, version names,
the writer's lock, fsync and atomic writes, and the manifest file.

Layout (see ARCHITECTURE.md)::

    INDEX_DIR/CURRENT              name of the published version (os.replace'd)
    INDEX_DIR/.lock                fcntl lock held by the one writer
    INDEX_DIR/versions/<version>/  manifest.json, meta.sqlite, chunks.faiss, sentences.faiss,
                                   bm25_chunks/, bm25_sentences/
    INDEX_DIR/versions/.tmp-*      a version being written (ignored by readers)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from index.errors import (
    ConfigError,
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    ModelMismatchError,
)
from index.models import Manifest, ModelInfo

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
VERSIONS_DIR = "versions"
TMP_PREFIX = ".tmp-"
MANIFEST_FILE = "manifest.json"
META_FILE = "meta.sqlite"
CHUNKS_FAISS = "chunks.faiss"
SENTENCES_FAISS = "sentences.faiss"
BM25_CHUNKS = "bm25_chunks"
BM25_SENTENCES = "bm25_sentences"

_VERSION_RE = re.compile(r"^v(\d{6,})-\d{8}T\d{6}Z$")


def utc_now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------
# paths and CURRENT


def versions_dir(index_dir: Path) -> Path:
    return index_dir / VERSIONS_DIR


def version_path(index_dir: Path, version: str) -> Path:
    """The directory of one version."""
    return versions_dir(index_dir) / version


def require_index_folder(index_dir: Path) -> None:
    """ConfigError when ``index_dir`` exists but is not a folder (``--index`` given a file)."""
    if index_dir.exists() and not index_dir.is_dir():
        raise ConfigError(f"--index / NEWSBOT_INDEX_DIR: {index_dir} is a file, not an index folder")


def require_published(index_dir: Path) -> str:
    """The current version's name; IndexNotFoundError (one line) when nothing is published.

    Cheap: callers run it before loading a model, so a wrong ``--index`` fails at once.
    """
    name = read_current(index_dir)
    if name is None:
        raise IndexNotFoundError(
            f"no index at {index_dir} (no {CURRENT_FILE}); build one with `newsbot index build SOURCE...`"
        )
    return name


def read_current(index_dir: Path) -> str | None:
    """The published version name, or None when nothing was ever published."""
    require_index_folder(index_dir)
    try:
        name = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexCorruptError(f"{index_dir / CURRENT_FILE}: unreadable ({exc})") from None
    if not name or "/" in name or name.startswith("."):
        raise IndexCorruptError(f"{index_dir / CURRENT_FILE}: does not name a version ({name!r})")
    return name


def current_or_none(index_dir: Path) -> str | None:
    """Like :func:`read_current`, but a garbage ``CURRENT`` counts as nothing published
    (what a full build, which rewrites ``CURRENT``, needs to repair it)."""
    try:
        return read_current(index_dir)
    except IndexCorruptError:
        return None


def current_key(index_dir: Path) -> tuple[int, int, int] | None:
    """(inode, mtime, size) of ``CURRENT``: changes whenever it is replaced; None when absent."""
    try:
        st = (index_dir / CURRENT_FILE).stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


# ---------------------------------------------------------------------------------------------
# durability


def fsync_path(path: Path) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root`` (files first, then their directories)."""
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            fsync_path(Path(dirpath) / name)
        fsync_path(Path(dirpath))


def write_atomic(path: Path, data: str) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new content, never half."""
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def write_current(index_dir: Path, version: str) -> None:
    """Point ``CURRENT`` at ``version`` atomically (the one switch every publish makes)."""
    write_atomic(index_dir / CURRENT_FILE, version + "\n")


# ---------------------------------------------------------------------------------------------
# version names


def version_seq(name: str) -> int:
    m = _VERSION_RE.match(name)
    return int(m.group(1)) if m else -1


def list_versions(index_dir: Path) -> list[str]:
    """Published version directories, oldest first."""
    vdir = versions_dir(index_dir)
    if not vdir.is_dir():
        return []
    names = [p.name for p in vdir.iterdir() if p.is_dir() and _VERSION_RE.match(p.name)]
    return sorted(names, key=lambda n: (version_seq(n), n))


def new_version_name(index_dir: Path, now: datetime | None = None) -> str:
    """Next sortable name: ``v<seq>-<UTC timestamp>``; seq is one past any existing version."""
    existing = [version_seq(n) for n in list_versions(index_dir)]
    current = current_or_none(index_dir)
    if current:
        existing.append(version_seq(current))
    seq = max(existing, default=0) + 1
    stamp = (now or utc_now()).strftime("%Y%m%dT%H%M%SZ")
    return f"v{seq:06d}-{stamp}"


def new_tmp_path(index_dir: Path) -> Path:
    """A fresh ``versions/.tmp-*`` path for a version being written (not created)."""
    return versions_dir(index_dir) / f"{TMP_PREFIX}{secrets.token_hex(6)}"


def stale_tmp_paths(index_dir: Path) -> list[Path]:
    """Temp versions and temp ``CURRENT`` files a killed writer may have left behind."""
    return [*versions_dir(index_dir).glob(f"{TMP_PREFIX}*"), *index_dir.glob(f".{CURRENT_FILE}.tmp-*")]


# ---------------------------------------------------------------------------------------------
# the writer's lock


class IndexLock:
    """Exclusive fcntl lock on ``INDEX_DIR/.lock``; waits up to ``timeout`` seconds."""

    def __init__(self, index_dir: Path, timeout: float = 3.0) -> None:
        self.path = index_dir / LOCK_FILE
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise IndexLockedError(
                        f"{self.path.parent} is being updated by another process "
                        f"(lock {self.path}); try again when it finishes"
                    ) from None
                time.sleep(0.05)
        self._fd = fd
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> IndexLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# ---------------------------------------------------------------------------------------------
# the manifest


def load_manifest(version_path: Path) -> Manifest:
    path = version_path / MANIFEST_FILE
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{path}: missing") from None
    except (OSError, ValidationError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise IndexCorruptError(f"{path}: unreadable manifest ({reason})") from None


def write_manifest(version_path: Path, manifest: Manifest) -> None:
    (version_path / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")


def check_model(manifest: Manifest, expected: ModelInfo | None, index_dir: Path) -> None:
    """ModelMismatchError when the index's vectors come from another model than ``expected``."""
    if expected is None:
        return
    have = manifest.model
    if have.name != expected.name or have.dimension != expected.dimension:
        raise ModelMismatchError(
            f"the index at {index_dir} was built with model {have.name!r} (dimension {have.dimension}) "
            f"but the configured model is {expected.name!r} (dimension {expected.dimension}); "
            f"rebuild it with `newsbot index build` or set NEWSBOT_MODEL={have.name}"
        )
