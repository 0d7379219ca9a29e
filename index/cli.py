"""``newsbot index build|add|remove|stats|verify`` (and ``watch``, registered by ``index.live``).

Exit codes: 0 when everything worked, 1 (EXIT_PARTIAL) when some inputs were skipped but the
rest was indexed, 2 on a reported error (bad setting, broken index, wrong model, lock busy).
Each skipped input is one line on stderr; the summary of a run is one line on stdout.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from index.cli_support import EXIT_ERROR, EXIT_PARTIAL, echo_json, report_errors, terminal_safe
from index.pipeline import BuildReport

index_app = typer.Typer(
    name="index",
    help="Build, update, inspect and verify the index.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class IndexTypeChoice(StrEnum):
    auto = "auto"
    flat = "flat"
    hnsw = "hnsw"
    ivf = "ivf"


IndexOption = Annotated[
    Path | None,
    typer.Option("--index", help="Index directory (default: NEWSBOT_INDEX_DIR, else ./newsbot-index)."),
]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", help="Embedding model (default: NEWSBOT_MODEL, else all-MiniLM-L6-v2)."),
]
SourcesArgument = Annotated[
    list[str], typer.Argument(help="Files, directories or globs of articles (.txt, .html, .json, .jsonl).")
]


def _print_failure(line: str) -> None:
    """Each skipped input: one stderr line, printed as soon as it is skipped."""
    typer.echo(line, err=True)


def _finish(report: BuildReport, replacing: bool = False) -> None:
    """The summary on stdout; exit 1 if any input was skipped (already printed on stderr).

    ``replacing`` (build): say which version the new one replaced and how to get it back.
    """
    for name in report.removed_for_space:
        typer.echo(f"note: removed old version {name} to make room on the disk", err=True)
    typer.echo(report.summary_line())
    if replacing and report.published and report.previous_version:
        typer.echo(
            f"replaced version {report.previous_version} ({report.previous_articles:,} articles); "
            f"`newsbot index rollback {report.previous_version}` brings it back"
        )
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL)


@index_app.command("build")
@report_errors
def build_command(
    sources: SourcesArgument,
    index: IndexOption = None,
    model: ModelOption = None,
    index_type: Annotated[
        IndexTypeChoice | None,
        typer.Option("--index-type", help="FAISS index: auto (exact when small, HNSW when large), "
                                          "flat, hnsw or ivf (default: NEWSBOT_INDEX_TYPE, else auto)."),
    ] = None,
) -> None:
    """Publish a new index version holding exactly these sources (unchanged text is not re-encoded)."""
    from index.embedding import load_embedder
    from index.pipeline import build_index, preflight
    from index.settings import load_index_settings

    settings = load_index_settings(index_dir=index, model=model,
                                   index_type=index_type.value if index_type else None)
    preflight(sources, settings)
    embedder = load_embedder(settings.model, settings.torch_threads, settings.precision)
    _finish(build_index(sources, settings, embedder, progress=True,
                        index_type=index_type.value if index_type else None,
                        on_failure=_print_failure), replacing=True)


@index_app.command("add")
@report_errors
def add_command(sources: SourcesArgument, index: IndexOption = None, model: ModelOption = None) -> None:
    """Add new articles and update changed ones; everything already indexed stays."""
    from index.embedding import load_embedder
    from index.pipeline import add_to_index, preflight
    from index.settings import load_index_settings

    settings = load_index_settings(index_dir=index, model=model)
    preflight(sources, settings)
    embedder = load_embedder(settings.model, settings.torch_threads, settings.precision)
    _finish(add_to_index(sources, settings, embedder, progress=True, on_failure=_print_failure))


@index_app.command("remove")
@report_errors
def remove_command(
    ids: Annotated[
        list[str], typer.Argument(help="Article ids to remove (`newsbot index list` shows them).")
    ],
    index: IndexOption = None,
) -> None:
    """Remove articles by id (unknown ids are reported and make the exit status 1)."""
    from index.pipeline import remove_from_index
    from index.settings import load_index_settings

    settings = load_index_settings(index_dir=index)
    _finish(remove_from_index(ids, settings, on_failure=_print_failure))


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


@index_app.command("stats")
@report_errors
def stats_command(
    index: IndexOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Articles, chunks, sentences, sources, date range, model and size of the current version."""
    from index.settings import load_index_settings
    from index.store import index_summary_json, open_store_reader

    settings = load_index_settings(index_dir=index)
    reader = open_store_reader(settings.index_dir, settings)
    try:
        about = reader.about()
    finally:
        reader.close()
    if as_json:
        echo_json(index_summary_json(about))
        return
    lines = [
        f"index      {about.index_dir} (version {about.version})",
        f"articles   {about.articles:,}",
        f"chunks     {about.chunks:,}",
        f"sentences  {about.sentences:,}",
        f"model      {about.model.name} (dimension {about.dimension})",
        f"{'milvus' if settings.backend == 'milvus' else 'faiss':<11}{about.index_type}",
        f"size       {_human_size(about.size_bytes)}",
        f"updated    {about.last_update.isoformat(timespec='seconds')}",
    ]
    if about.earliest or about.latest:
        lo = about.earliest.date().isoformat() if about.earliest else "?"
        hi = about.latest.date().isoformat() if about.latest else "?"
        lines.append(f"dates      {lo} .. {hi}")
    if about.sources:
        shown = ", ".join(f"{s.name} ({s.articles:,})" for s in about.sources[:10])
        more = f", +{len(about.sources) - 10} more" if len(about.sources) > 10 else ""
        lines.append(f"sources    {shown}{more}")
    typer.echo("\n".join(lines))


@index_app.command("list")
@report_errors
def list_command(
    index: IndexOption = None,
    source: Annotated[str | None, typer.Option("--source", help="Only articles of this source.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=0, help="At most this many.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per article per line.")] = False,
) -> None:
    """The indexed articles, newest first: id, date, source and title (ids are what `remove` takes)."""
    from index.settings import load_index_settings
    from index.store import open_store_reader

    settings = load_index_settings(index_dir=index)
    reader = open_store_reader(settings.index_dir, settings)
    try:
        listing = reader.list_articles(limit, source)
    finally:
        reader.close()
    for item in listing:
        if as_json:
            echo_json(item.model_dump(mode="json"))
        else:
            date = item.date.date().isoformat() if item.date else "undated"
            fields = (item.id, date, item.source or "-", item.title)
            typer.echo(terminal_safe("\t".join(" ".join(f.split()) for f in fields)))


@index_app.command("rollback")
@report_errors
def rollback_command(
    version: Annotated[
        str | None, typer.Argument(help="A kept version (default: the one before the current).")
    ] = None,
    index: IndexOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Make a kept older version current again (NEWSBOT_KEEP_VERSIONS); another rollback undoes it."""
    from index.settings import load_index_settings
    from index.store import rollback_store

    settings = load_index_settings(index_dir=index)
    result = rollback_store(settings.index_dir, version, settings)
    if as_json:
        echo_json(result.model_dump())
        return
    typer.echo(f"version {result.current} ({result.articles:,} articles) is current; was {result.previous}")


@index_app.command("verify")
@report_errors
def verify_command(index: IndexOption = None) -> None:
    """Check that manifest, metadata, FAISS and BM25 agree (exit 0), else print why (exit 2)."""
    from index.settings import load_index_settings
    from index.store import verify_store

    settings = load_index_settings(index_dir=index)
    result = verify_store(settings.index_dir, settings)
    if not result.ok:
        typer.echo(result.one_line(), err=True)
        raise typer.Exit(EXIT_ERROR)
    typer.echo(result.one_line())


try:  # the live-feeds package adds `newsbot index watch`
    from index.live.cli import register_watch
except ImportError:  # pragma: no cover - live package absent
    pass
else:
    register_watch(index_app)
