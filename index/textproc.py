"""What a word and a term are: the one tokenizer, stemmer and stopword lists.

Used by BM25 (``index.lexical``: documents at build time, queries at search time) and by
question analysis (``retrieval.query``), so a question's terms, the idf looked up for them and
the documents they should match are always cut the same way.

* :func:`tokenize` gives *index terms*: lowercase Unicode word characters; numbers kept whole
  with their decimal part and unit suffix (``$1.13bn`` → ``1.13bn``, ``1,000`` → ``1000``);
  ``BM25_STOPWORDS`` dropped; other words stemmed (PyStemmer's English Snowball stemmer).
  The stored BM25 indexes were built with exactly this function: changing what it returns for
  any text makes every existing index disagree with its queries (``tests/test_textproc.py``
  pins its output).
* :func:`words` gives *surface words* (lowercase, internal hyphens, apostrophes and decimal
  points kept): what question analysis counts and compares names with.
* ``FUNCTION_WORDS`` are the words that carry no topic in a question ("what", "did", "tell",
  "said"): question analysis drops them on top of ``BM25_STOPWORDS`` (``FUNCTION_STEMS``
  are their stems, comparable with index terms). BM25 keeps them: an index is not rebuilt
  when this list changes.
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

#: The one stemmer (English Snowball).
_STEMMER = Stemmer.Stemmer("english")

#: Dropped from every BM25 document and query: bm25s's English list as the indexes were
#: built with it (a copy, so a bm25s upgrade cannot change the terms of stored indexes), plus
#: the leftovers of a possessive 's and of n't.
BM25_STOPWORDS: frozenset[str] = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
        "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they",
        "this", "to", "was", "will", "with", "s", "t",
    }
)

#: Words that carry no topic in a question: they must not drive term overlap, be taken for
#: names, or be borrowed by a follow-up. ("will" is not one: "Will Smith".)
FUNCTION_WORDS: frozenset[str] = frozenset(
    {
        "a", "about", "above", "according", "after", "again", "against", "all", "already", "also", "am",
        "an", "and", "any", "are", "aren't", "as", "at", "be", "because", "been", "before", "being",
        "below", "between", "both", "but", "by", "called", "can", "could", "did", "didn't", "do", "does",
        "doesn't", "doing", "don't", "down", "during", "each", "ever", "few", "for", "from", "further",
        "get", "got", "had", "has", "have", "having", "he", "he'd", "he'll", "he's", "her", "here",
        "here's", "hers", "herself", "him", "himself", "his", "how", "how's", "i", "i'd", "i'll", "i'm",
        "i've", "if", "in", "into", "is", "isn't", "it", "it's", "its", "itself", "just", "kind", "let's",
        "many", "me", "more", "most", "much", "my", "myself", "name", "named", "no", "nor", "not", "of",
        "off", "often", "on", "once", "one", "ones", "only", "or", "other", "ought", "our", "ours",
        "ourselves", "out", "over", "own", "s", "said", "same", "say", "says", "she", "she'd", "she'll",
        "she's", "should", "so", "some", "still", "such", "t", "tell", "than", "that", "that's", "the",
        "their", "theirs", "them", "themselves", "then", "there", "there's", "these", "they", "they'd",
        "they'll", "they're", "they've", "this", "those", "through", "to", "too", "type", "under",
        "until", "up", "very", "was", "wasn't", "we", "we'd", "we'll", "we're", "we've", "were",
        "weren't", "what", "what's", "when", "when's", "where", "where's", "which", "while", "who",
        "who's", "whom", "whose", "why", "why's", "with", "won't", "would", "yet", "you", "you'd",
        "you'll", "you're", "you've", "your", "yours", "yourself", "yourselves",
    }
)

#: A number (with thousands separators, a decimal part and a unit suffix like ``bn``/``m``/``%``
#: glued on) or a run of word characters.
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*[^\W\d_]*|[^\W_]+", re.UNICODE)
_THOUSANDS_RE = re.compile(r"\d{1,3}(?:,\d{3})+\w*")
_WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-\.]*[A-Za-z0-9]|[A-Za-z0-9]")


def stem(word: str) -> str:
    """The Snowball stem of one lowercase word."""
    return str(_STEMMER.stemWord(word))


#: Stems of ``FUNCTION_WORDS``, comparable with index terms.
FUNCTION_STEMS: frozenset[str] = frozenset(stem(w) for w in FUNCTION_WORDS)


@lru_cache(maxsize=200_000)
def _normalize_term(raw: str) -> str:
    """One raw lowercase match → its index term ('' for a stopword). Cached: news reuses words."""
    if raw[0].isdigit():
        # "1,000" and "1000" are the same figure; "1.13" keeps its decimal point.
        return raw.replace(",", "") if _THOUSANDS_RE.fullmatch(raw) else raw
    if raw in BM25_STOPWORDS:
        return ""
    return stem(raw)


def tokenize(text: str) -> list[str]:
    """The index terms of one text, in order (used for documents and queries alike)."""
    out: list[str] = []
    for raw in _TOKEN_RE.findall(text.lower()):
        term = _normalize_term(raw)
        if term:
            out.append(term)
    return out


def words(text: str) -> list[str]:
    """Lower-case word tokens (keeps internal hyphens/apostrophes/decimal points; ’ → ')."""
    return [t.lower().replace("’", "'") for t in _WORD_RE.findall(text)]
