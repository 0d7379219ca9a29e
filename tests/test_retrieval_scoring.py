"""Sentence scoring as pure functions over candidates and vectors (no index, no model)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from index.embedding import HashingEmbedder
from retrieval import scoring
from retrieval.features import FEATURES, Candidate, feature_matrix
from retrieval.query import analyse
from retrieval.scoring import WEIGHTS

EMB = HashingEmbedder()


def run(question: str, cands: list[Candidate], context: str = "") -> scoring.Scored:
    q = analyse(question, context)
    qvec = EMB.encode([question])[0]
    vecs = EMB.encode([c.text for c in cands])
    prev = EMB.encode([c.prev_text for c in cands])
    prev[[not c.prev_text for c in cands]] = 0.0
    return scoring.score(q, qvec, cands, vecs, prev, idf={})


def cand(i: int, text: str, **kw: object) -> Candidate:
    kw.setdefault("passage_rank", 0)
    return Candidate(
        sentence_id=i, article_id=str(kw.pop("article_id", f"a{i}")), position=0, text=text, **kw
    )  # type: ignore[arg-type]


def feat(s: scoring.Scored, i: int, name: str) -> float:
    return float(s.features[i, FEATURES.index(name)])


def test_weights_match_features() -> None:
    assert len(WEIGHTS) == len(FEATURES) + 1


def test_number_question_prefers_sentence_with_a_number() -> None:
    cands = [
        cand(0, "The fighting in the region continued, officials said of the dead."),
        cand(1, "Officials said 286 people have died in the fighting."),
    ]
    s = run("How many people died in the fighting?", cands)
    assert feat(s, 1, "type_ok") == 1.0 and feat(s, 0, "type_missing") == 1.0
    assert s.order[0] == 1


def test_when_question_wants_a_date() -> None:
    cands = [cand(0, "The bridge was built by the council."), cand(1, "The bridge was built in 1887.")]
    s = run("When was the bridge built?", cands)
    assert feat(s, 1, "type_ok") == 1.0 and feat(s, 0, "type_ok") == 0.0


def test_who_question_wants_a_new_name() -> None:
    cands = [cand(0, "The mayor of Ashbury spoke."), cand(1, "The mayor of Ashbury, Helena Strand, spoke.")]
    s = run("Who is the mayor of Ashbury?", cands)
    assert feat(s, 1, "type_ok") == 1.0 and feat(s, 0, "type_ok") == 0.0


def test_title_and_previous_sentence_give_context() -> None:
    pronoun = cand(
        0,
        "It took £7.2m in its first weekend.",
        title="Harbour Lights breaks record",
        prev_text="The Harbour Lights drama opened on Friday.",
    )
    bare = cand(1, "It took £7.2m in its first weekend.")
    s = run("How much did Harbour Lights take?", [pronoun, bare])
    assert feat(s, 0, "lex_ctx") > feat(s, 1, "lex_ctx")
    assert feat(s, 0, "names") > feat(s, 1, "names")
    assert s.order[0] == 0


def test_restating_the_question_is_penalised() -> None:
    restate = cand(0, "People died in the Karabakh fighting.")
    info = cand(1, "In the Karabakh fighting 286 people died, including 31 civilians.")
    s = run("How many people died in the Karabakh fighting?", [restate, info])
    assert feat(s, 0, "restate") == 1.0 and feat(s, 1, "restate") == 0.0
    assert s.order[0] == 1


def test_missing_rare_term_lowers_confidence() -> None:
    covered = run(
        "How many fans watched the cup final?", [cand(0, "Around 82,000 fans watched the cup final.")]
    )
    uncovered = run(
        "How many fans watched the Wimbledon tennis final?",
        [cand(0, "Around 82,000 fans watched the cup final.")],
    )
    assert feat(uncovered, 0, "missing_rare") > 0.0
    assert scoring.confidence(covered) > scoring.confidence(uncovered)


def test_confidence_is_a_probability_and_grows_with_the_score() -> None:
    good = run(
        "How many fans watched the cup final?",
        [cand(0, "Around 82,000 fans watched the cup final."), cand(1, "Shares rose 6%.")],
    )
    bad = run("How many fans watched the cup final?", [cand(0, "Shares rose 6% in early trading.")])
    cg, cb = scoring.confidence(good), scoring.confidence(bad)
    assert 0.0 <= cb < cg <= 1.0


def test_select_skips_duplicates_and_weak_extras() -> None:
    text = "Around 82,000 fans watched the cup final at the National Stadium."
    cands = [
        cand(0, text),
        cand(1, text, article_id="dup"),
        cand(2, "Fans watched the final, around 82,000 of them."),
        cand(3, "The weather was mild."),
    ]
    s = run("How many fans watched the cup final?", cands)
    chosen = scoring.select(s, 3, max_gap=3.0)
    texts = [cands[i].text for i in chosen]
    assert texts.count(text) == 1
    assert "The weather was mild." not in texts


def test_newer_article_wins_a_near_tie() -> None:
    old = cand(
        0,
        "At least 12 people have died in the floods.",
        article_id="old",
        date=datetime(2025, 3, 3, tzinfo=UTC),
    )
    new = cand(
        1,
        "At least 19 people have died in the floods.",
        article_id="new",
        date=datetime(2025, 3, 6, tzinfo=UTC),
        passage_rank=3,
    )
    s = run("How many people have died in the floods?", [old, new])
    assert s.candidates[s.order[0]].article_id == "new"


def test_recency_bonus_is_small_and_ordered() -> None:
    cands = [
        cand(0, "x", date=datetime(2025, 1, 1, tzinfo=UTC)),
        cand(1, "y", date=datetime(2025, 2, 1, tzinfo=UTC)),
        cand(2, "z"),
    ]
    bonus = scoring.recency_bonus(cands, 0.05)
    assert bonus[1] == np.float32(0.05) and bonus[0] == 0.0 and bonus[2] == 0.0


def test_empty_candidates() -> None:
    s = run("anything?", [])
    assert s.order == [] and scoring.confidence(s) == 0.0
    assert scoring.select(s, 3, 3.0) == []


def test_vague_quantity_is_half_an_answer_to_how_many() -> None:
    cands = [
        cand(0, "Hundreds or even thousands of fighters joined the Karabakh war, he said."),
        cand(1, "The two sides have reported 286 deaths since the fighting began."),
    ]
    s = run("How many people died in the Karabakh fighting?", cands)
    assert feat(s, 0, "type_ok") == 0.5 and feat(s, 0, "type_missing") == 0.5
    assert feat(s, 1, "type_ok") == 1.0 and feat(s, 1, "type_missing") == 0.0


def test_died_matches_deaths_and_killed() -> None:
    cands = [
        cand(0, "The two sides have reported 286 deaths so far."),
        cand(1, "Officials say 12 soldiers were killed on Monday."),
        cand(2, "The two sides have reported 286 arrests so far."),
    ]
    s = run("How many people died?", cands)
    assert feat(s, 0, "lex") > 0.0 and feat(s, 1, "lex") > 0.0
    assert feat(s, 2, "lex") == 0.0


def test_article_lead_gives_context() -> None:
    lead = "Fighting over the Karabakh region went into its second week."
    with_lead = cand(0, "The two sides have reported 286 deaths.", lead_text=lead)
    without = cand(1, "The two sides have reported 286 deaths.")
    s = run("How many people died in the Karabakh fighting?", [with_lead, without])
    assert feat(s, 0, "lex_ctx") > feat(s, 1, "lex_ctx")
    assert feat(s, 0, "names") == 1.0 and feat(s, 1, "names") == 0.0
    assert feat(s, 0, "lex") == feat(s, 1, "lex")


def test_who_question_ignores_the_questions_own_names_and_sentence_start_capitals() -> None:
    cands = [
        cand(0, "Fifteen-year-old Donald Young went out in round one of the San Jose Open."),
        cand(1, "Young was beaten by fellow American Robby Ginepri in straight sets."),
        cand(2, "Jack Law, chief executive of the charity, said the remark was ill-advised."),
        cand(3, "Police said the teenager was impressive."),
    ]
    s = run("Who knocked Donald Young out of the San Jose Open?", cands)
    assert feat(s, 0, "type_ok") == 0.0  # only the question's own names
    assert feat(s, 1, "type_ok") == 1.0
    assert feat(s, 2, "type_ok") == 1.0  # a two-word name may open the sentence
    assert feat(s, 3, "type_ok") == 0.0  # a capital that only starts the sentence


def test_term_found_nowhere_in_the_article_is_missing_from_the_article() -> None:
    same = dict(article_id="flood", title="Floods in Riverton")
    cands = [
        cand(0, "At least 42 people were killed in the floods.", **same),
        cand(1, "The dam upstream burst on Monday night.", **same),
        cand(2, "The volcano erupted near the bay.", article_id="volcano", title="Kestrel Bay"),
    ]
    s = run("How many people died when the dam burst in Riverton?", cands)
    # "dam" and "burst" are in another sentence of the same article: not missing from it
    assert feat(s, 0, "missing_article") == 0.0
    assert feat(s, 2, "missing_article") > 0.8


def test_names_anywhere_in_the_article_give_context_but_a_followups_new_name_does_not() -> None:
    lead = "Fighting broke out in Nagorno-Karabakh on 27 September."
    same = dict(article_id="k", title="Turkey backs Azerbaijan")
    cands = [
        cand(0, lead, **same),
        cand(1, "The toll includes 46 civilians.", lead_text=lead, **same),
        cand(2, "Shelling hit the city of Ganja overnight.", **same),
        cand(3, "Four people were injured.", lead_text=lead, **same),
    ]
    s = run("How many civilians have been killed in Nagorno-Karabakh?", cands)
    assert feat(s, 1, "names") == 1.0  # the story's subject is named in the lead, not beside the toll
    # "What about Ganja?" after a question on the fighting: Ganja is what is newly asked, so it
    # must be in the sentence that answers, not somewhere else in the article
    s = run("What about Ganja?", cands, context="How many people died in the Karabakh fighting?")
    assert feat(s, 3, "names") == 0.0 and feat(s, 2, "names") == 1.0


def test_lower_case_question_names_are_recognised_from_the_articles() -> None:
    lead = "Fighting broke out in Nagorno-Karabakh on 27 September."
    cands = [
        cand(0, lead, article_id="k"),
        cand(1, "The toll includes 46 civilians.", article_id="k", lead_text=lead),
    ]
    typed = run("how many civilians killed in nagorno karabakh", cands)
    proper = run("How many civilians were killed in Nagorno-Karabakh?", cands)
    assert feat(typed, 1, "lex_ctx") == feat(proper, 1, "lex_ctx")
    assert feat(typed, 1, "names") == feat(proper, 1, "names") == 1.0


@pytest.mark.parametrize(
    ("sentence", "mismatched", "matching", "feature"),
    [
        # the question negates, the sentence does not
        (
            "Upper bounds are usually stated using big O notation.",
            "What is not usually stated using big O notation?",
            "What is usually stated using big O notation?",
            "negation",
        ),
        # the question's year is nowhere in the article
        (
            "In 2009 the project was awarded a $100,000 prize for the discovery.",
            "What prize was the project awarded in 2008?",
            "What prize was the project awarded in 2009?",
            "missing_number",
        ),
    ],
)
def test_a_mismatch_with_the_question_lowers_confidence(
    sentence: str, mismatched: str, matching: str, feature: str
) -> None:
    cands = [cand(0, sentence)]
    bad, good = run(mismatched, cands), run(matching, cands)
    assert feat(bad, 0, feature) == 1.0 and feat(good, 0, feature) == 0.0
    assert scoring.confidence(bad) < scoring.confidence(good)


def test_calibration_inputs_line_up_with_their_weights() -> None:
    s = run("How many people died?", [cand(0, "Officials said 286 people died.")])
    assert len(scoring.confidence_inputs(s)) == len(scoring.CONFIDENCE_INPUTS) == len(scoring.CALIBRATION) - 1


def test_features_are_filled_by_name() -> None:
    cols = {name: np.full(2, i, dtype=np.float32) for i, name in enumerate(scoring.FEATURES)}
    m = feature_matrix(cols, 2)
    assert m.shape == (2, len(FEATURES)) and m.dtype == np.float32
    assert [int(v) for v in m[0]] == list(range(len(FEATURES)))
    with pytest.raises(ValueError, match="missing \\['bm25'\\]"):
        feature_matrix({k: v for k, v in cols.items() if k != "bm25"}, 2)
    with pytest.raises(ValueError, match="unknown \\['extra'\\]"):
        feature_matrix({**cols, "extra": np.zeros(2)}, 2)


def test_weights_are_named_and_kept_in_feature_order() -> None:
    assert list(scoring.FEATURE_WEIGHTS) == [*FEATURES, "intercept"]
    assert tuple(scoring.FEATURE_WEIGHTS[f] for f in (*FEATURES, "intercept")) == WEIGHTS
    assert list(scoring.CONFIDENCE_WEIGHTS) == [*scoring.CONFIDENCE_INPUTS, "intercept"]
    assert tuple(scoring.CONFIDENCE_WEIGHTS.values()) == scoring.CALIBRATION
    # bench/fit_weights.py writes them back by name; the ranking needs no intercept
    assert WEIGHTS[-1] == 0.0
    with pytest.raises(ValueError, match="missing \\['b'\\]"):
        scoring.in_order({"a": 1.0}, ("a", "b"))


def test_reader_weights_are_named_too() -> None:
    from retrieval import rerank

    assert tuple(rerank.COMBINATION_WEIGHTS[k] for k in rerank.COMBINATION_INPUTS) == rerank.COMBINATION
    assert list(rerank.READER_CONFIDENCE_WEIGHTS) == [*rerank.READER_CONFIDENCE_INPUTS, "intercept"]
    assert tuple(rerank.READER_CONFIDENCE_WEIGHTS.values()) == rerank.READER_CALIBRATION
