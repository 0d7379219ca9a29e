"""Sentence vectors from the chunk's own encoder pass ("late chunking", Günther et al. 2024).

A chunk is encoded once; each of its sentences gets the mean of the token embeddings inside
the sentence's character span, so "It took £7.2m in three days" is read with the headline
and the sentences around it, and the build encodes every chunk once instead of every chunk
plus every sentence again on its own.

Pure functions over numpy: the model call that yields token embeddings and their character
offsets sits in ``embedding.py``; everything here is tested without a model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Norms below this are treated as zero when normalising (a span no token fell into).
MIN_NORM = 1e-12
#: Marks a late sentence vector's key, so it never collides with a plain text's hash.
LATE_KEY_PREFIX = "late-chunking/1"


@dataclass(frozen=True)
class TokenSpans:
    """One encoded text: its token embeddings and each token's character span in the text.

    Special tokens ([CLS], [SEP]) have the empty span (0, 0): they count towards the
    chunk's own vector (as the model's mean pooling counts them) but never towards a span.
    """

    embeddings: np.ndarray  # (tokens, dimension), float32
    offsets: np.ndarray  # (tokens, 2) int: [start, end) characters of each token


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    return out / np.maximum(norms, MIN_NORM)


def pool_spans(encoded: TokenSpans, spans: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """The text's vector (mean over all tokens) and one vector per character span.

    A span's vector is the mean of the tokens that lie inside it. A span no token reaches
    (cut off by the model's token limit) gets a zero vector: ``late_sentence_vectors``
    falls back to the span's other chunk or to encoding it on its own.
    """
    emb = np.asarray(encoded.embeddings, dtype=np.float32)
    starts, ends = encoded.offsets[:, 0], encoded.offsets[:, 1]
    real = ends > starts
    text_vec = normalized(emb.mean(axis=0)) if len(emb) else np.zeros(emb.shape[1], np.float32)
    out = np.zeros((len(spans), emb.shape[1]), dtype=np.float32)
    for i, (s, e) in enumerate(spans):
        inside = real & (starts >= s) & (ends <= e)
        if inside.any():
            out[i] = emb[inside].mean(axis=0)
    return text_vec, normalized(out)


def has_vector(vectors: np.ndarray) -> np.ndarray:
    """Which rows hold a vector (not the zero row of an unreached span)."""
    return np.asarray(np.linalg.norm(vectors, axis=-1) > MIN_NORM)


def late_key(sentence: str, chunk_keys: Sequence[str], offset: int) -> str:
    """The storage key of a late sentence vector.

    The vector depends on the sentence *and* the chunks it was read in, so the key hashes
    both: an unchanged article keeps its keys (and its stored vectors); an edited one gets
    new keys exactly where its chunks changed, which are re-encoded anyway.
    """
    key = "\n".join((LATE_KEY_PREFIX, *chunk_keys, str(offset), sentence))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
