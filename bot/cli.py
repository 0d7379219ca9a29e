"""The ``newsbot`` console command: composes the subcommands of every layer.

It lives in ``bot`` because ``bot`` is the only layer allowed to import the other two.
"""

from __future__ import annotations

import typer

from index.cli import index_app
from retrieval.cli import register as register_retrieval_commands

app = typer.Typer(
    name="newsbot",
    help="Answer questions from news articles with cited sentences.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(index_app, name="index", help="Build, update, inspect and verify the index.")
register_retrieval_commands(app)


def main() -> None:
    """Console-script entry point."""
    app()
