"""``LexicalIndex.idf``: what the answerer weighs question terms by (no private bm25s state)."""

from __future__ import annotations

import math
from pathlib import Path

from index.lexical import LexicalIndex, tokenize


def test_idf_is_bm25_style_and_survives_save_and_load(tmp_path: Path) -> None:
    docs = [tokenize(t) for t in ("Karabakh toll rises", "The toll rose again", "Markets fell")]
    lex = LexicalIndex.build(docs)
    lex.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    for index in (lex, loaded):
        idf = index.idf(["toll", "karabakh", "absent"])
        assert idf == {
            "toll": math.log(1.0 + (3 - 2 + 0.5) / (2 + 0.5)),
            "karabakh": math.log(1.0 + (3 - 1 + 0.5) / (1 + 0.5)),
            "absent": math.log(1.0 + (3 - 0 + 0.5) / (0 + 0.5)),
        }
        assert idf["karabakh"] > idf["toll"]


def test_an_empty_index_weighs_every_term_the_same(tmp_path: Path) -> None:
    assert LexicalIndex.build([]).idf(["toll", "toll"]) == {"toll": 1.0}
