"""The ``newsbot ask / eval / demo / chat`` command line: the JSON contract scripts rely on,
readable output with numbered citations, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from index.embedding import HashingEmbedder
from index.pipeline import build_index
from index.settings import IndexSettings
from retrieval.cli import DEMO_QUESTIONS, demo_article_files
from retrieval.settings import DEFAULT_READER_CANDIDATES

runner = CliRunner()


@pytest.fixture
def demo_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEWSBOT_MODEL", "hashing-test")
    idx = tmp_path / "idx"
    build_index(
        demo_article_files(),
        IndexSettings(index_dir=idx, model="hashing-test"),
        HashingEmbedder(),
        progress=False,
    )
    return idx


def _json_lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_ask_json_is_one_object_with_contract_fields(demo_index: Path) -> None:
    result = runner.invoke(
        app,
        [
            "ask",
            "How much did Harbour Lights take in its first weekend?",
            "--index",
            str(demo_index),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    objs = _json_lines(result.stdout)
    assert len(objs) == 1
    obj = objs[0]
    assert {"question", "answered", "confidence", "sentences", "suggestions"} <= set(obj)
    assert obj["answered"] is True
    assert isinstance(obj["confidence"], float)
    sentences = obj["sentences"]
    assert isinstance(sentences, list) and sentences
    first = sentences[0]
    assert {"text", "article_id", "title", "source", "date", "url", "score"} <= set(first)
    assert "£7.2m" in first["text"]
    assert first["url"].startswith("https://screenweekly.example/")


def test_ask_readable_has_numbered_citations(demo_index: Path) -> None:
    result = runner.invoke(app, ["ask", "How many fans watched the cup final?", "--index", str(demo_index)])
    assert result.exit_code == 0, result.output
    assert "[1]" in result.stdout
    assert "Sports Desk" in result.stdout
    assert "https://sportsdesk.example/" in result.stdout


def test_ask_k_limits_sentences(demo_index: Path) -> None:
    result = runner.invoke(
        app, ["ask", "How many people died in the floods?", "--index", str(demo_index), "--json", "--k", "1"]
    )
    obj = _json_lines(result.stdout)[0]
    assert isinstance(obj["sentences"], list) and len(obj["sentences"]) <= 1


def test_questions_file_prints_one_json_per_line_in_order(demo_index: Path, tmp_path: Path) -> None:
    qfile = tmp_path / "q.txt"
    questions = [
        "How many jobs will Lumen Systems cut?",
        "",
        "What is the population of Mars?",
        "Who won the Eastmoor by-election?",
    ]
    qfile.write_text("\n".join(questions) + "\n")
    result = runner.invoke(app, ["ask", "--questions", str(qfile), "--json", "--index", str(demo_index)])
    assert result.exit_code == 0, result.output
    objs = _json_lines(result.stdout)
    assert [o["question"] for o in objs] == [q for q in questions if q]
    assert objs[1]["answered"] is False and objs[1]["sentences"] == []
    assert objs[1]["suggestions"]


def test_source_and_date_filters_on_cli(demo_index: Path) -> None:
    result = runner.invoke(
        app,
        [
            "ask",
            "How many people died?",
            "--index",
            str(demo_index),
            "--json",
            "--source",
            "Northern Ledger",
            "--since",
            "2025-03-05",
        ],
    )
    obj = _json_lines(result.stdout)[0]
    for s in obj["sentences"]:  # type: ignore[attr-defined]
        assert s["source"] == "Northern Ledger" and s["date"] >= "2025-03-05"


def test_bad_date_is_one_line_error(demo_index: Path) -> None:
    result = runner.invoke(app, ["ask", "x?", "--index", str(demo_index), "--since", "last tuesday"])
    assert result.exit_code == 2
    assert "--since" in result.output
    assert "Traceback" not in result.output


def test_missing_index_is_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_MODEL", "hashing-test")
    result = runner.invoke(app, ["ask", "anything?", "--index", str(tmp_path / "none"), "--json"])
    assert result.exit_code == 2
    assert "index not found" in result.output
    assert "Traceback" not in result.output


def test_eval_prints_metrics(demo_index: Path, tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    rows = [
        {
            "question": "How many jobs will Lumen Systems cut?",
            "answers": ["1,200"],
            "article_id": "demo-tech-2025-02-27",
            "answerable": True,
        },
        {"question": "What is the population of Mars?", "answers": [], "answerable": False},
    ]
    qa.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = runner.invoke(app, ["eval", "--qa", str(qa), "--index", str(demo_index)])
    assert result.exit_code == 0, result.output
    for word in ("hit@1", "hit@3", "cite@1", "abstention", "false abstention", "p50"):
        assert word in result.stdout
    result = runner.invoke(app, ["eval", "--qa", str(qa), "--index", str(demo_index), "--json"])
    report = _json_lines(result.stdout)[0]
    assert report["hit_at_1"] == 1.0 and report["abstention"] == 1.0


def test_chat_follow_up(demo_index: Path) -> None:
    session = "Who saved two penalties in the cup final?\nAnd how many fans watched?\nmore\nquit\n"
    result = runner.invoke(app, ["chat", "--index", str(demo_index)], input=session)
    assert result.exit_code == 0, result.output
    assert "Mbeki" in result.stdout
    assert "82,000" in result.stdout


def test_demo_questions_cover_unanswerable() -> None:
    assert any("Mars" in q for q in DEMO_QUESTIONS)


@pytest.mark.slow
def test_demo_with_real_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the demo as a user runs it: with the shipped reader
    monkeypatch.setenv("NEWSBOT_READER_CANDIDATES", str(DEFAULT_READER_CANDIDATES))
    result = runner.invoke(app, ["demo", "--index", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "I don't know" in result.stdout
    assert "£7.2m" in result.stdout
    assert "[1]" in result.stdout


def test_readable_answers_never_pass_terminal_escapes_through(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_MODEL", "hashing-test")
    src = tmp_path / "evil.jsonl"
    record = {
        "id": "evil-1", "title": "Harbour \x1b]0;pwned\x07Lights record", "source": "Screen\x9b31m Weekly",
        "body": "Harbour Lights took \x1b[2J£7.2m in its first weekend. The film opened in 410 cinemas.",
    }
    src.write_text(json.dumps(record) + "\n")
    idx = tmp_path / "idx"
    build_index([src], IndexSettings(index_dir=idx, model="hashing-test"), HashingEmbedder(), progress=False)
    result = runner.invoke(app, ["ask", "How much did Harbour Lights take in its first weekend?",
                                 "--index", str(idx)])
    assert result.exit_code == 0, result.output
    assert "7.2m" in result.stdout and "Lights record" in result.stdout
    assert not any(ch in result.stdout for ch in "\x1b\x07\x9b")
