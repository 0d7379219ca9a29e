"""The one error tree of newsbot.

Every failure a user can cause or meet (bad input, a broken index, a wrong model, a bad
setting, an unreachable feed) is a :class:`NewsbotError`.  The CLI and the bot turn any of
them into a single line via :meth:`NewsbotError.one_line`; anything else is a bug and is
logged with its traceback.
"""

from __future__ import annotations


class NewsbotError(Exception):
    """Base class of every error newsbot reports to a person."""

    #: Short category shown before the message, e.g. ``ingest error: …``.
    kind = "error"

    def one_line(self) -> str:
        """The message as one line, safe to print at a CLI or send to a chat."""
        text = " ".join(str(self).split())
        return f"{self.kind}: {text}" if text else self.kind


class ConfigError(NewsbotError):
    """A setting is missing or malformed (names the setting)."""

    kind = "config error"


class IngestError(NewsbotError):
    """One input could not be turned into an article: names the file, line and field."""

    kind = "ingest error"

    def __init__(self, origin: str, reason: str, line: int | None = None) -> None:
        self.origin = origin
        self.reason = reason
        self.line = line
        where = f"{origin}:{line}" if line is not None else origin
        super().__init__(f"{where}: {reason}")


class IngestNote(IngestError):
    """An input skipped on purpose (an image or a PDF in a folder of articles): one line on
    stderr like a failure, but not a failure (the exit code stays 0)."""

    kind = "note"


class FetchError(IngestError):
    """A URL (feed or article page) could not be fetched or was refused by policy."""

    kind = "fetch error"


class IndexNotFoundError(NewsbotError):
    """There is no published index at the given directory."""

    kind = "index not found"


class IndexCorruptError(NewsbotError):
    """FAISS, metadata and manifest disagree, or a file of the index is unreadable."""

    kind = "index corrupt"


class IndexLockedError(NewsbotError):
    """Another writer holds the index's lock."""

    kind = "index locked"


class ModelMismatchError(NewsbotError):
    """The index was built with a different embedding model than the one configured."""

    kind = "model mismatch"


class DiskFullError(NewsbotError):
    """The disk has no room for the new version; the current one is untouched."""

    kind = "disk full"
