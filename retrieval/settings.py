"""Settings of the answer layer (``NEWSBOT_*`` environment variables or ``.env``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.settings import load_settings

#: How many candidates the reader reads by default. bench/fit_reader.py's depth table gives
#: the same hit@1 at 4 as at 8 (80.1% both on SQuAD calibration articles, 80.2% at 16) and the
#: reader's time grows with the count (bench/reader_bench.py: ~99 ms at 8 on one thread here).
DEFAULT_READER_CANDIDATES = 4


#: ``NEWSBOT_READER_RUNTIME``: ``torch`` (bf16 where the CPU has it), ``onnx`` (fused float32
#: through ONNX Runtime, ``reader_onnx.py``), ``onnx-int8-blockwise`` (that fused copy with
#: blockwise int8 weights), ``onnx-int8`` (the dynamic int8 copy); ``auto``
#: takes ``reader.AUTO_READER_RUNTIME``, falling back to torch when ONNX Runtime is missing or
#: its copy does not reproduce the reader.
ReaderRuntime = Literal["auto", "torch", "onnx", "onnx-int8-blockwise", "onnx-int8"]


class RetrievalSettings(BaseSettings):
    """How many candidates we look at and when we say "I don't know"."""

    model_config = SettingsConfigDict(env_prefix="NEWSBOT_", env_file=".env", extra="ignore")

    #: Below this calibrated confidence the answer is "I don't know". With the reader,
    #: bench/fit_reader.py suggests 0.25 on SQuAD's calibration articles (never trained on):
    #: 6.9% false abstention and 24.9% abstention on v2.0's unanswerable questions, 96.6% on
    #: questions whose article is left out of the index (what an uncovered question is).
    #: Without the reader (NEWSBOT_READER_CANDIDATES=0) the linear calibration's 0.37 fits.
    confidence_threshold: float = 0.25
    #: Passages (chunks) kept after fusing dense and BM25 chunk search.
    top_k_passages: int = 8
    #: Candidates pulled from each of the four searches before fusion.
    search_k: int = 30
    #: Sentences returned in an answer.
    max_sentences: int = 3
    #: Further sentences kept as ``alternatives`` (the bot's "More").
    max_alternatives: int = 5
    #: Articles listed as suggestions when not answering.
    max_suggestions: int = 3
    #: Extra sentences (besides the first) must score within this many logits of the first
    #: one to be shown: a much weaker second sentence is noise, not an answer.
    max_gap: float = 3.0
    #: Candidates (best first by the linear scorer) the reader reads with the question; 0 turns
    #: the reader off (linear scoring and its own calibration only).
    reader_candidates: int = Field(default=DEFAULT_READER_CANDIDATES, ge=0, le=64)
    #: What runs the reader (``ReaderRuntime``).
    reader_runtime: ReaderRuntime = "auto"
    #: The reader marks the answer phrase inside a returned sentence (bold in the terminal and
    #: Telegram, ``answer_span`` in ``--json``) when its span head scores the phrase at least
    #: this many logits above "no phrase here".
    phrase_min_margin: float = 0.0
    #: Map "today", "this week", "latest"… in a question to a date filter.
    time_words: bool = True


def load_retrieval_settings(**overrides: object) -> RetrievalSettings:
    """Settings from env/.env with explicit overrides; a bad value is one ConfigError line."""
    return load_settings(RetrievalSettings, **overrides)
