"""The ``newsbot`` console command: composes the subcommands of every layer.

It lives in ``bot`` because ``bot`` is the only layer allowed to import the other two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from index.cli import index_app
from index.cli_support import report_errors
from retrieval.cli import register as register_retrieval_commands

app = typer.Typer(
    name="newsbot",
    help="Answer questions from news articles with cited sentences.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # -h as well as --help, on every subcommand (click hands it down to sub-contexts).
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(index_app, name="index", help="Build, update, inspect and verify the index.")
register_retrieval_commands(app)


def installed_version() -> str:
    """The installed package's version (what `newsbot --version` prints)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("newsbot")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"newsbot {installed_version()}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_print_version, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:
    """Answer questions from news articles with cited sentences."""


@app.command("bot")
@report_errors
def bot_command(
    index: Annotated[
        Path | None,
        typer.Option("--index", help="Index directory (default: NEWSBOT_INDEX_DIR, else ./newsbot-index)."),
    ] = None,
) -> None:
    """Run the Telegram bot: long polling, or a webhook server with TELEGRAM_MODE=webhook.

    Settings come from TELEGRAM_* variables or .env (see .env.example); TELEGRAM_BOT_TOKEN is
    required. The bot picks up index versions published by `newsbot index add` by itself.
    """
    # Settings first: a missing token must fail in a second, not after loading the model.
    from bot.settings import load_bot_settings

    settings = load_bot_settings()
    from bot.app import configure_logging, run
    from bot.startup import check_bot_api
    from index.embedding import load_embedder, threads_for
    from index.settings import load_index_settings
    from index.store import require_published
    from retrieval.answerer import Answerer
    from retrieval.service import NewsService

    configure_logging(settings)
    isettings = load_index_settings()
    index_dir = index if index is not None else Path(isettings.index_dir)
    # Likewise a missing index, an unreachable Bot API or a rejected token: one line, the
    # API's within TELEGRAM_REQUEST_TIMEOUT_SECONDS.
    require_published(index_dir)
    check_bot_api(settings)
    # Questions are short and answered in parallel threads (TELEGRAM_ANSWER_WORKERS): one
    # torch thread per encode. Two intra-op threads per question on a busy 2-core machine
    # made encoding 5-50x slower in the load bench. NEWSBOT_TORCH_THREADS > 0 overrides.
    embedder = load_embedder(isettings.model, threads_for(isettings.torch_threads, "interactive"),
                              isettings.precision, isettings.query_runtime, isettings.cache_dir)
    # Prepare the question path (the ONNX export, once per model) before anyone waits on it.
    embedder.encode(["newsbot is starting"])
    run(settings, NewsService(Answerer(index_dir, embedder=embedder)))


def main() -> None:
    """Console-script entry point."""
    app()
