"""Shared pieces of the ``newsbot`` command line: one-line errors and JSON output.

Every subcommand (in ``index.cli``, ``retrieval.cli``, ``bot.cli``) goes through
:func:`report_errors` so a :class:`~index.errors.NewsbotError` prints as one line on stderr
with exit code 2, never as a traceback.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer

from index.errors import NewsbotError

P = ParamSpec("P")
R = TypeVar("R")

#: Exit code for a reported error (bad input, bad setting, broken index).
EXIT_ERROR = 2
#: Exit code when the command ran but some inputs failed (e.g. files skipped while indexing).
EXIT_PARTIAL = 1


def report_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn NewsbotError into one stderr line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except NewsbotError as exc:
            typer.echo(exc.one_line(), err=True)
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def echo_json(obj: Any) -> None:
    """One JSON object on one line of stdout (the contract scripts rely on)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


#: C0 controls but tab and newline, DEL, and C1 controls: an article could otherwise set the
#: terminal's title, move the cursor or hide text (``\x1b]0;...\x07``).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` without the control characters a terminal would act on."""
    return _CONTROL.sub("", text)
