"""What one build / add / remove / watch cycle did (:class:`BuildReport`), and the one line
for a write that ran out of room."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from index.errors import DiskFullError
from index.store import free_bytes, megabytes


class BuildReport(BaseModel):
    """What one build / add / remove / watch cycle did (printed as one line by the CLI)."""

    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    duplicates: int = 0
    failed: int = 0
    failures: list[str] = Field(default_factory=list)
    #: Inputs skipped on purpose (not failures), e.g. an image in a folder of articles.
    notes: list[str] = Field(default_factory=list)
    removed: int = 0
    #: Incoming articles older than the retention cutoff (``max_age``), not added.
    expired: int = 0
    articles: int = 0
    chunks: int = 0
    sentences: int = 0
    #: Texts encoded by the model in this run.
    embedded_texts: int = 0
    #: Distinct embedding inputs of the resulting version whose vectors were already stored.
    reused_embeddings: int = 0
    seconds: float = 0.0
    #: The version now current (the previous one when nothing changed).
    version: str | None = None
    published: bool = False
    #: The version that was current before this run (None on a first build).
    previous_version: str | None = None
    #: Articles the previous version held.
    previous_articles: int = 0
    #: Older versions removed before writing because the disk was short of room.
    removed_for_space: list[str] = Field(default_factory=list)

    def summary_line(self) -> str:
        return (
            f"added {self.added}, replaced {self.replaced}, unchanged {self.unchanged}, "
            f"duplicates {self.duplicates}, failed {self.failed}, removed {self.removed} "
            f"in {self.seconds:.2f} s (version {self.version or 'none'})"
        )


class EchoedLines(list[str]):
    """A list that also hands each appended line to a callback."""

    def __init__(self, callback: Callable[[str], None] | None) -> None:
        super().__init__()
        self._callback = callback

    def append(self, line: str) -> None:
        super().append(line)
        if self._callback is not None:
            self._callback(line)


def disk_full_error(index_dir: Path, previous: str | None) -> DiskFullError:
    """The one line for a write that ran out of room (the staged version is already gone)."""
    kept = f"version {previous} is still current" if previous else "nothing was published"
    return DiskFullError(
        f"{index_dir}: the disk filled up while writing the new version ({megabytes(free_bytes(index_dir))} "
        f"free); nothing changed, {kept}"
    )
