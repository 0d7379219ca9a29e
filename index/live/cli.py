"""``newsbot index watch``: registered onto ``index_app`` by ``index.cli`` (import kept lazy so
the index CLI works without this package's dependencies being touched)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from index.cli_support import report_errors


def _configure_logging(verbose: bool) -> None:
    """One line per event on stderr: round summaries, and every failing feed or page."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    logger = logging.getLogger("newsbot.watch")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def register_watch(index_app: typer.Typer) -> None:
    """Add the ``watch`` command to the ``newsbot index`` group."""

    @index_app.command("watch")
    @report_errors
    def watch_command(
        feeds: Annotated[Path, typer.Option(
            "--feeds", help="File of feed URLs (or feed file paths), one per line; '#' comments.")],
        every: Annotated[str, typer.Option(
            "--every", help="Time between round starts: 90s, 15m, 2h.")] = "15m",
        index: Annotated[Path | None, typer.Option(
            "--index", help="Index directory (default NEWSBOT_INDEX_DIR).")] = None,
        max_age: Annotated[str | None, typer.Option(
            "--max-age", help="Remove articles older than this, e.g. 365d.")] = None,
        model: Annotated[str | None, typer.Option(
            "--model", help="Embedding model (default NEWSBOT_MODEL).")] = None,
        rounds: Annotated[int | None, typer.Option(
            "--rounds", help="Stop after this many rounds (default: run until SIGTERM).")] = None,
        verbose: Annotated[bool, typer.Option(
            "--verbose", "-v", help="Also log skipped and duplicate items.")] = False,
    ) -> None:
        """Keep the index up to date from feeds: fetch every --every, publish new versions atomically."""
        from index.embedding import load_embedder
        from index.live.watch import parse_duration, read_feeds_file, watch
        from index.settings import load_index_settings
        from index.sources.settings import load_live_settings

        settings = load_index_settings(index_dir=index, model=model)
        live = load_live_settings()
        interval = parse_duration(every, "--every")
        age = parse_duration(max_age, "--max-age") if max_age else None
        read_feeds_file(feeds)  # a missing feeds file is a setup error: report it before loading the model
        _configure_logging(verbose)
        embedder = load_embedder(settings.model, settings.torch_threads, settings.precision)
        watch(feeds, settings, embedder, interval, age, rounds, live=live)
