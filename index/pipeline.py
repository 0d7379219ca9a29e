"""Build, add to and remove from the index: ingest → split → chunk → embed → publish.

:func:`apply_changes` is the one core: ``build``, ``add``, ``remove`` and the live feeds'
``watch`` all go through it, so the rules below hold everywhere:

* an article whose normalized body is already indexed under another id is a *duplicate* and
  is not stored again;
* the same id with a different ``revision_hash`` *replaces* the stored article; the same id
  and revision is *unchanged* and keeps its rows and ids;
* text is embedded only when no vector for the exact same input text (and model) is stored,
  so re-indexing unchanged text never re-encodes it;
* nothing is published when nothing changed, and a build that found no article at all
  refuses to publish an empty index over a good one.

Embedding dominates the cost, so everything else is batched: token counting runs over the
sentences of many articles in one tokenizer call, and encoding gets large lists (the model
sorts each list by length to minimise padding).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from index.build_report import BuildReport, EchoedLines, disk_full_error
from index.embed_batch import BatchEmbedder, PreparedArticle, chunk_input, prepare_chunks
from index.embedding import Embedder
from index.errors import DiskFullError, IndexNotFoundError, IngestError, IngestNote
from index.models import Article, ModelInfo
from index.pipeline_inputs import expected_total, ingest, preflight, sources_label
from index.progress import Progress, open_progress
from index.settings import IndexSettings
from index.store import (
    IndexType,
    StagedChanges,
    check_model,
    is_disk_full,
    make_room,
    open_store_writer,
    published_version,
    resolve_index_type,
    strict_published_version,
)

#: Flush pending articles to the embedder once this many texts (sentences + chunks) wait.
#: Large lists let the model sort by length across many articles; the progress bar moves
#: once per flush.
FLUSH_TEXTS = 8192


class _Run:
    """State of one apply_changes call (keeps the core function readable)."""

    def __init__(self, staged: StagedChanges, embedder: Embedder | None, settings: IndexSettings,
                 report: BuildReport, now: datetime) -> None:
        self.staged = staged
        self.embedder = embedder
        self.settings = settings
        self.report = report
        self.now = now
        self.pending: list[PreparedArticle] = []
        self.pending_texts = 0
        self.new_vectors = 0
        self.progress: Progress | None = None
        # Vectors from earlier versions; within a run the batch embedder catches repeats.
        self.batches = None if embedder is None else BatchEmbedder(
            staged, embedder, late=settings.sentence_vectors == "late",
            may_reuse=staged.has_vectors(embedder.info.name))

    def queue(self, article: Article, hashes: tuple[str, str]) -> bool:
        """Split now (cheap) and queue for embedding; False when the body has no sentence."""
        from index.text import split_sentences

        spans = split_sentences(article.body)
        if not spans:
            return False
        self.pending.append(PreparedArticle(article, spans, hashes))
        # Roughly one chunk per ~8 sentences; exact counts come after tokenizing.
        self.pending_texts += len(spans) + len(spans) // 8 + 1
        if self.pending_texts >= FLUSH_TEXTS:
            self.flush()
        return True

    def flush(self) -> None:
        if not self.pending:
            return
        assert self.embedder is not None
        batch, self.pending, self.pending_texts = self.pending, [], 0
        prepare_chunks(batch, self.embedder, self.settings.chunk_overlap_sentences)

        assert self.batches is not None
        done = self.batches.embed(batch)
        self.report.embedded_texts += done.embedded
        self.new_vectors += done.new_vectors
        self.staged.insert_articles([p.article for p in batch], self.now, [p.hashes for p in batch])
        self.staged.insert_sentences(done.sentence_rows)
        self.staged.insert_chunks(done.chunk_rows)
        if self.progress is not None:
            self.progress.advance(len(batch), done.embedded)


def _cutoff(now: datetime, max_age: timedelta | None) -> float | None:
    return (now - max_age).timestamp() if max_age is not None else None


def apply_changes(
    upserts: Iterable[Article | IngestError],
    removals: Sequence[str],
    settings: IndexSettings,
    embedder: Embedder | None,
    *,
    replace_all: bool = False,
    max_age: timedelta | None = None,
    index_type: str | None = None,
    progress: bool = False,
    expected_total: int | None = None,
    lock_timeout: float = 3.0,
    require_articles: bool = False,
    sources_label: str = "input",
    on_failure: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> BuildReport:
    """Apply upserts and removals to the index at ``settings.index_dir`` as ONE new version.

    ``upserts`` may interleave :class:`IngestError`\\ s (inputs that failed to parse); they are
    counted and listed, never fatal.  ``replace_all`` makes the new version hold only the
    upserted articles (``build``), still reusing stored embeddings and unchanged rows.
    ``max_age`` drops stored articles dated before ``now - max_age`` and ignores older
    incoming ones.  ``embedder`` may be None only when nothing is upserted.
    ``on_failure`` sees each failure line as it happens (the CLI prints it at once, so a long
    build shows a skipped file while still running); all of them are also in the report.
    ``progress`` shows a bar (terminal) or log lines (elsewhere) out of ``expected_total``
    articles when ``upserts`` cannot be counted itself.
    ``require_articles`` (build) raises IngestError naming ``sources_label`` when no article
    was found at all, leaving the current version alone.
    """
    t0 = time.monotonic()
    now = now or datetime.now(UTC)
    report = BuildReport()
    report.failures = EchoedLines(on_failure)
    report.notes = EchoedLines(on_failure)
    index_dir = Path(settings.index_dir)
    with open_store_writer(index_dir, settings, lock_timeout) as writer:
        report.removed_for_space = make_room(writer)
        try:
            staged = writer.stage(fresh_if_broken=replace_all)
        except (OSError, DiskFullError) as exc:
            if isinstance(exc, DiskFullError) or is_disk_full(exc):
                raise disk_full_error(index_dir, published_version(index_dir, settings)) from None
            raise
        report.previous_version = staged.previous
        report.previous_articles = staged.previous_manifest.articles if staged.previous_manifest else 0
        try:
            result = _apply(staged, upserts, removals, settings, embedder, report, replace_all,
                            max_age, index_type, progress, expected_total, require_articles,
                            sources_label, now)
            if result is None:  # nothing changed: keep the current version
                staged.discard()
                report.version = staged.previous
            else:
                model, itype = result
                manifest = writer.publish(staged, model, itype, embedder.max_tokens if embedder else
                                          (staged.previous_manifest.max_chunk_tokens
                                           if staged.previous_manifest else 0))
                report.version = manifest.version
                report.published = True
                report.articles, report.chunks, report.sentences = (
                    manifest.articles, manifest.chunks, manifest.sentences)
        except BaseException as exc:
            staged.discard()
            if is_disk_full(exc):
                raise disk_full_error(index_dir, staged.previous) from None
            raise
    report.seconds = time.monotonic() - t0
    report.failures = list(report.failures)
    report.notes = list(report.notes)
    return report


def _apply(
    staged: StagedChanges,
    upserts: Iterable[Article | IngestError],
    removals: Sequence[str],
    settings: IndexSettings,
    embedder: Embedder | None,
    report: BuildReport,
    replace_all: bool,
    max_age: timedelta | None,
    index_type: str | None,
    progress: bool,
    expected_total: int | None,
    require_articles: bool,
    sources_label: str,
    now: datetime,
) -> tuple[ModelInfo, IndexType] | None:
    prev = staged.previous_manifest
    model: ModelInfo | None = embedder.info if embedder is not None else (prev.model if prev else None)
    if prev is not None and embedder is not None:
        if replace_all:
            if (prev.model.name, prev.model.dimension) != (embedder.info.name, embedder.info.dimension):
                # Another model: no stored vector is usable, so every article is new again.
                staged.drop_embeddings_of_other_models(embedder.info.name)
                staged.delete_articles(list(staged.article_states()))
        else:
            check_model(prev, embedder.info, Path(settings.index_dir))

    states = staged.article_states()
    body_owner: dict[str, str] = {} if replace_all else {s.body_hash: aid for aid, s in states.items()}
    seen: set[str] = set()
    run = _Run(staged, embedder, settings, report, now)
    total = len(upserts) if isinstance(upserts, Sequence) else expected_total
    run.progress = open_progress(progress, total)
    cutoff = _cutoff(now, max_age)
    found = 0
    try:
        for item in upserts:
            if isinstance(item, IngestNote):
                report.notes.append(item.one_line())
                continue
            if isinstance(item, IngestError):
                report.failed += 1
                report.failures.append(item.one_line())
                continue
            found += 1
            art = item
            if art.id in seen:
                report.duplicates += 1
                continue
            if cutoff is not None and art.date is not None and art.date.timestamp() < cutoff:
                report.expired += 1
                continue
            bh = art.body_hash
            owner = body_owner.get(bh)
            if owner is not None and owner != art.id:
                report.duplicates += 1
                continue
            seen.add(art.id)
            old = states.get(art.id)
            rh = art.revision_hash
            if old is not None and old.revision_hash == rh:
                report.unchanged += 1
                body_owner[bh] = art.id
                if run.progress is not None:
                    run.progress.advance(1, 0)
                continue
            if embedder is None:
                raise ValueError("apply_changes needs an embedder to add articles")
            if old is not None:
                staged.delete_articles([art.id])
                body_owner.pop(old.body_hash, None)
                states.pop(art.id)
            if not run.queue(art, (bh, rh)):
                report.failed += 1
                report.failures.append(f"{art.origin or art.id}: no sentences in the article body")
                seen.discard(art.id)
                if old is not None:  # the stored version was deleted: count it as removed
                    report.removed += 1
                continue
            if old is not None:
                report.replaced += 1
            else:
                report.added += 1
            body_owner[bh] = art.id
        run.flush()
    finally:
        if run.progress is not None:
            run.progress.close()

    if require_articles and found == 0:
        skipped = f" ({report.failed} input(s) skipped)" if report.failed else ""
        raise IngestError(sources_label, f"no articles found{skipped}; the index was not changed")

    # removals, retention, and (for build) everything not seen again
    drop: list[str] = []
    for aid in dict.fromkeys(removals):
        if aid in states and aid not in seen:
            drop.append(aid)
        elif aid not in seen:
            report.failed += 1
            report.failures.append(f"{aid}: no such article in the index")
    if replace_all:
        drop.extend(aid for aid in states if aid not in seen and aid not in drop)
    if cutoff is not None:
        drop.extend(aid for aid, s in states.items()
                    if aid not in seen and aid not in drop and s.date_ts is not None and s.date_ts < cutoff)
    report.removed += staged.delete_articles(drop)

    _, n_chunks, _ = staged.counts()
    requested = index_type or settings.index_type
    if (not replace_all and index_type is None and prev is not None and requested == "auto"
            and prev.index_type in ("hnsw", "ivf")):
        requested = prev.index_type
    itype = resolve_index_type(requested, n_chunks, settings.approximate_above)
    report.reused_embeddings = staged.distinct_inputs() - run.new_vectors
    report.articles, report.chunks, report.sentences = staged.counts()
    changed = staged.changed or (prev is not None and prev.index_type != itype)
    if not changed or model is None:
        return None
    return model, itype


# ---------------------------------------------------------------------------------------------
# entry points used by the CLI


def build_index(sources: Sequence[str | Path], settings: IndexSettings, embedder: Embedder,
                progress: bool = True, index_type: str | None = None, lock_timeout: float = 3.0,
                on_failure: Callable[[str], None] | None = None) -> BuildReport:
    """A new version holding exactly the articles of ``sources`` (unchanged text not re-encoded).

    Raises IngestError (and leaves the current version alone) when no article was found.
    """
    return apply_changes(ingest(sources, settings), (), settings, embedder, replace_all=True,
                         index_type=index_type, progress=progress,
                         expected_total=expected_total(sources, settings, progress),
                         require_articles=True, sources_label=sources_label(sources),
                         lock_timeout=lock_timeout, on_failure=on_failure)


def add_to_index(sources: Sequence[str | Path], settings: IndexSettings, embedder: Embedder,
                 progress: bool = True, lock_timeout: float = 3.0,
                 on_failure: Callable[[str], None] | None = None) -> BuildReport:
    """Add or update the articles of ``sources``; everything already indexed stays.

    With no index yet, finding no article at all is an IngestError, as for ``build``: an
    empty articles folder must not look like success and leave nothing to answer from.
    """
    first = published_version(Path(settings.index_dir), settings) is None
    return apply_changes(ingest(sources, settings), (), settings, embedder, progress=progress,
                         expected_total=expected_total(sources, settings, progress),
                         lock_timeout=lock_timeout, require_articles=first,
                         sources_label=sources_label(sources), on_failure=on_failure)


def remove_from_index(ids: Sequence[str], settings: IndexSettings, lock_timeout: float = 3.0,
                      on_failure: Callable[[str], None] | None = None) -> BuildReport:
    """Remove articles by id (unknown ids are reported as failures)."""
    if strict_published_version(Path(settings.index_dir), settings) is None:
        raise IndexNotFoundError(f"no index at {settings.index_dir}; nothing to remove")
    return apply_changes((), ids, settings, None, lock_timeout=lock_timeout, on_failure=on_failure)


__all__ = [
    "BuildReport",
    "add_to_index",
    "apply_changes",
    "build_index",
    "chunk_input",
    "preflight",
    "remove_from_index",
]
