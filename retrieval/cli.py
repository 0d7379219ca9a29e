"""``newsbot ask | chat | eval | demo``: the answer layer's commands.

``register(app)`` adds them to the root ``newsbot`` command (``bot.cli``). Every command goes
through ``report_errors``, so a bad index, setting or file is one stderr line, exit code 2.
"""

from __future__ import annotations

import os
import sys
import textwrap
from datetime import date
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from index.cli_support import echo_json, report_errors, terminal_safe
from index.errors import ConfigError
from retrieval.eval import read_text_lines
from retrieval.models import Answer, AnswerSentence, Filters, Turn

if TYPE_CHECKING:  # the answerer (FAISS, torch) is imported when a command runs
    from retrieval.answerer import Answerer

IndexOpt = Annotated[
    Path | None,
    typer.Option("--index", help="Index directory (default: NEWSBOT_INDEX_DIR or ./newsbot-index)."),
]

#: Questions `newsbot demo` asks: answerable ones (one needs the headline, one a rising
#: figure), a follow-up, and one the sample articles cannot answer.
DEMO_QUESTIONS: list[str] = [
    "What is the latest death toll from the Marrow Valley floods?",
    "How much did Harbour Lights take in its opening weekend?",
    "Who saved the penalties in the cup final?",
    "And how many fans watched?",
    "What is the population of Mars?",
]


def _index_dir(index: Path | None) -> Path:
    if index is not None:
        return index
    from index.settings import load_index_settings

    return Path(load_index_settings().index_dir)


def _parse_date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{flag}: expected an ISO date like 2025-03-01, got {value!r}") from None


def _filters(since: str | None, until: str | None, source: list[str] | None) -> Filters | None:
    f = Filters(
        since=_parse_date(since, "--since"), until=_parse_date(until, "--until"), sources=source or []
    )
    if f.since and f.until and f.since > f.until:
        raise ConfigError("--since is after --until")
    return None if f.is_empty() else f


def _date_str(answer_date: object) -> str:
    return answer_date.strftime("%Y-%m-%d") if hasattr(answer_date, "strftime") else ""


#: ANSI bold on and off, for the answer phrase when printing to a terminal.
BOLD, PLAIN = "\033[1m", "\033[0m"


def bold_wanted() -> bool:
    """Bold only on a terminal, and not when the user set NO_COLOR (no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _sentence_text(s: AnswerSentence, bold: bool) -> str:
    """The sentence as printed: control characters removed, its answer phrase in bold."""
    before, phrase, after = s.shown_parts()
    if not (bold and phrase):
        return terminal_safe(before + phrase + after)
    return terminal_safe(before) + BOLD + terminal_safe(phrase) + PLAIN + terminal_safe(after)


def format_answer(answer: Answer, width: int = 100, bold: bool = False) -> str:
    """A readable answer: numbered sentences, then the numbered citations.

    ``bold``: the answer phrase the reader marked is set in ANSI bold (for a terminal)."""
    lines: list[str] = []
    if answer.resolved_question and answer.resolved_question != answer.question:
        lines.append(f"(understood as: {answer.resolved_question})")
    for note in answer.notes:
        lines.append(f"(note: {note})")
    if not answer.answered:
        lines.append(f"I don't know (confidence {answer.confidence:.2f}).")
        if answer.suggestions:
            lines.append("Closest articles:")
            for sug in answer.suggestions:
                meta = ", ".join(x for x in (sug.source or "", _date_str(sug.date)) if x)
                lines.append(
                    f"  - {sug.title}" + (f" ({meta})" if meta else "") + (f" {sug.url}" if sug.url else "")
                )
        return terminal_safe("\n".join(lines))
    head = terminal_safe("\n".join(lines))
    lines = [head] if head else []
    numbering: dict[str, int] = {}
    for s in answer.sentences:
        numbering.setdefault(s.article_id, len(numbering) + 1)
    for s in answer.sentences:
        text = _sentence_text(s, bold)
        body = textwrap.fill(text, width=width, subsequent_indent="    ")
        lines.append(f"{body} [{numbering[s.article_id]}]")
    lines.append("")
    by_id = {s.article_id: s for s in answer.sentences}
    for aid, n in numbering.items():
        s = by_id[aid]
        meta = ", ".join(x for x in (s.source or "", _date_str(s.date)) if x)
        cite = f"[{n}] {s.title or aid}" + (f" — {meta}" if meta else "")
        if s.url:
            cite += f" — {s.url}"
        lines.append(terminal_safe(cite))
    lines.append(f"(confidence {answer.confidence:.2f})")
    return "\n".join(lines)


def _answerer(index: Path | None, max_sentences: int | None = None) -> Answerer:
    from retrieval.answerer import Answerer
    from retrieval.settings import load_retrieval_settings

    settings = load_retrieval_settings(max_sentences=max_sentences)
    return Answerer(_index_dir(index), settings=settings)


def register(app: typer.Typer) -> None:
    """Add ``ask``, ``chat``, ``eval`` and ``demo`` to the root command."""

    @app.command("ask")
    @report_errors
    def ask_cmd(
        question: Annotated[
            str | None, typer.Argument(help="The question (or use --questions FILE).")
        ] = None,
        index: IndexOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per question.")] = False,
        k: Annotated[
            int | None, typer.Option("--k", min=1, max=10, help="Sentences in an answer (default 3).")
        ] = None,
        questions: Annotated[
            Path | None, typer.Option("--questions", help="A file with one question per line.")
        ] = None,
        since: Annotated[
            str | None, typer.Option("--since", help="Only articles dated on/after (YYYY-MM-DD).")
        ] = None,
        until: Annotated[
            str | None, typer.Option("--until", help="Only articles dated on/before (YYYY-MM-DD).")
        ] = None,
        source: Annotated[
            list[str] | None, typer.Option("--source", help="Only this source (repeatable; substring match).")
        ] = None,
    ) -> None:
        """Answer a question with cited sentences from the index (or say "I don't know")."""
        if (question is None) == (questions is None):
            raise ConfigError("give either a QUESTION or --questions FILE")
        filters = _filters(since, until, source)
        if questions is not None:
            lines = [ln.strip() for ln in read_text_lines(questions, "--questions") if ln.strip()]
            if not lines:
                raise ConfigError(f"--questions: {questions} holds no questions")
        elif not (question or "").strip():
            raise ConfigError('the question is empty: newsbot ask "Who won the election?"')
        else:
            lines = [question or ""]
        answerer = _answerer(index, k)
        for n, q in enumerate(lines):
            answer = answerer.ask(q, filters=filters)
            if as_json:
                echo_json(answer.model_dump(mode="json"))
            else:
                if len(lines) > 1:
                    typer.echo(("\n" if n else "") + f"Q: {q}")
                typer.echo(format_answer(answer, bold=bold_wanted()))

    @app.command("chat")
    @report_errors
    def chat_cmd(
        index: IndexOpt = None,
        since: Annotated[str | None, typer.Option("--since")] = None,
        until: Annotated[str | None, typer.Option("--until")] = None,
        source: Annotated[list[str] | None, typer.Option("--source")] = None,
    ) -> None:
        """A terminal conversation: ask, then follow up ("and how many were civilians?").

        Type "more" for the next best sentences, "new" to forget the conversation, "quit" to leave.
        """
        answerer = _answerer(index)
        filters = _filters(since, until, source)
        history: list[Turn] = []
        last: Answer | None = None
        typer.echo('Ask about the news. "more" = more sentences, "new" = new topic, "quit" = leave.')
        while True:
            try:
                line = input("you> ").strip()
            except EOFError:
                typer.echo("")
                break
            if not line:
                continue
            low = line.lower()
            if low in ("quit", "exit", "bye", ":q"):
                break
            if low in ("new", "reset", "new topic"):
                history, last = [], None
                typer.echo("bot> (new conversation)")
                continue
            if low in ("more", "more?", "tell me more") and last is not None:
                extra = last.alternatives[:3]
                if not extra:
                    typer.echo("bot> That's all I have on it.")
                for s in extra:
                    typer.echo(f"bot> {s.text} — {s.title} ({s.source or s.article_id})")
                continue
            last = answerer.ask(line, history=history, filters=filters)
            typer.echo("bot> " + format_answer(last, bold=bold_wanted()).replace("\n", "\n     "))
            history = [*history, Turn.from_answer(last)][-5:]

    @app.command("eval")
    @report_errors
    def eval_cmd(
        qa: Annotated[
            Path, typer.Option("--qa", help="JSONL questions with gold answers (SQuAD or news format).")
        ],
        index: IndexOpt = None,
        limit: Annotated[
            int | None, typer.Option("--limit", min=1, help="Only the first N questions.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    ) -> None:
        """hit@1, hit@3, cite@1, abstention, false abstention and latency on a QA file."""
        from retrieval.eval import evaluate, load_qa

        items = load_qa(qa)[:limit] if limit else load_qa(qa)
        answerer = _answerer(index)
        report = evaluate(answerer.ask, items, progress=lambda i: typer.echo(f"  {i}/{len(items)}", err=True))
        if as_json:
            echo_json(report.model_dump(mode="json"))
        else:
            for line in report.lines():
                typer.echo(line)

    @app.command("demo")
    @report_errors
    def demo_cmd(
        index: Annotated[Path, typer.Option("--index", help="Where to build the demo index.")] = Path(
            "newsbot-demo-index"
        ),
        model: Annotated[
            str | None, typer.Option("--model", help="Embedding model (default: the packaged MiniLM).")
        ] = None,
    ) -> None:
        """Build an index from the sample articles shipped with newsbot and ask it a few questions."""
        from index.embedding import configure_torch_threads, load_embedder, threads_for
        from index.pipeline import build_index
        from index.settings import load_index_settings
        from retrieval.answerer import Answerer

        isettings = load_index_settings(index_dir=index, model=model)
        files = demo_article_files()
        typer.echo(f"Indexing {len(files)} sample files into {index} ...", err=True)
        embedder = load_embedder(isettings.model, isettings.torch_threads, isettings.precision)
        report = build_index(files, isettings, embedder, progress=False)
        typer.echo(report.summary_line(), err=True)
        # Built with every core; the questions that follow are interactive.
        configure_torch_threads(threads_for(isettings.torch_threads, "interactive"))
        answerer = Answerer(index, embedder=embedder)
        history: list[Turn] = []
        for q in DEMO_QUESTIONS:
            answer = answerer.ask(q, history=history)
            typer.echo(f"\nQ: {q}")
            typer.echo(format_answer(answer, bold=bold_wanted()))
            history = [*history, Turn.from_answer(answer)][-3:]
        typer.echo(f'\nTry your own: newsbot ask "..." --index {index}   or   newsbot chat --index {index}')


def demo_article_files() -> list[Path]:
    """The sample article files shipped in ``retrieval/demo_articles`` (not its README)."""
    root = resources.files("retrieval") / "demo_articles"
    out = [
        Path(str(p))
        for p in root.iterdir()
        if p.name.endswith((".jsonl", ".json", ".txt", ".html")) and p.is_file()
    ]
    if not out:
        raise ConfigError("the sample articles are missing from this installation (retrieval/demo_articles)")
    return sorted(out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the `newsbot` command")
