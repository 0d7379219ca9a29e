"""Writing a staged version as new collections (the writer publishes it afterwards).

Order: the four data collections, each flushed; then the manifest collection, flushed.  A
version without its manifest collection is unfinished (a killed build) and is dropped by the
next writer; only a version whose manifest exists is ever published (:mod:`index.store.milvus.pointer`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import numpy as np
from pymilvus import MilvusClient

from index.errors import IndexCorruptError
from index.models import Manifest
from index.store.milvus.rows import Row, as_str, by_keys
from index.store.milvus.schema import (
    BODY_PART_CHARS,
    DUMMY,
    MAX_CHARS,
    PARTS,
    Part,
    article_key,
    base_name,
    bm25_text,
    clip,
    index_params,
    manifest_schema,
    part_name,
    part_schema,
)
from index.store.milvus.staging import MilvusStaged, StagedArticle
from index.textproc import tokenize

_INSERT_ROWS = 500
#: Rows per insert call by collection: fewer, larger calls (an article row holds up to 64 KB).
_BATCH: dict[Part, int] = {"articles": 100, "sentences": 2_000, "chunks": 2_000, "terms": 5_000}
#: Terms per BM25 document (a 17-character token each; VARCHAR holds 65,535 bytes).
_MAX_TERMS = 3_600


def _batches(rows: Iterator[Row], size: int = _INSERT_ROWS) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _facets(a: StagedArticle) -> Row:
    art = a.article
    return {"article_id": art.id, "has_date": art.date is not None,
            "date_ts": art.date.timestamp() if art.date else 0.0, "source_lc": clip(art.source).lower()}


def _sentence_ids(staged: MilvusStaged, a: StagedArticle) -> str:
    ids = sorted(a.sentence_ids, key=lambda sid: staged.sentences[sid][2])
    text = ",".join(str(i) for i in ids)
    return text if len(text) <= MAX_CHARS else ""


def _article_rows(staged: MilvusStaged) -> Iterator[Row]:
    for a in staged.articles.values():
        art = a.article
        body = art.body
        pieces = [body[i : i + BODY_PART_CHARS] for i in range(0, len(body), BODY_PART_CHARS)] or [""]
        for part, piece in enumerate(pieces):
            yield {"key": article_key(art.id, part), **_facets(a), "title": clip(art.title), "body": piece,
                   "n_parts": len(pieces), "sentence_ids": _sentence_ids(staged, a) if part == 0 else "",
                   "date": art.date.isoformat() if art.date else "", "url": clip(art.url),
                   "source": clip(art.source), "byline": clip(art.byline), "origin": clip(art.origin),
                   "part": part, "body_hash": a.body_hash, "revision_hash": a.revision_hash,
                   "indexed_ts": a.indexed_ts, "dummy": DUMMY}


class _Vectors:
    """Vectors by row: encoded in this run, else the previous version's row of the same id
    (unchanged rows keep their ids), else the previous version's row of the same text."""

    def __init__(self, staged: MilvusStaged, table: Part) -> None:
        self.staged = staged
        self.table = table

    def fill(self, ids: list[int], hashes: list[str], model: str) -> list[list[float]]:
        got: dict[int, np.ndarray] = {}
        need = [(i, h) for i, h in zip(ids, hashes, strict=True) if h not in self.staged.new_vectors]
        prev = self.staged.previous_version
        if need and prev is not None and self.staged.reuse_previous:
            rows = by_keys(prev.client, prev.collection(self.table), "id", [i for i, _ in need],
                           ["id", "text_hash", "vector"])
            want = dict(need)
            for row in rows:
                rid = int(str(row["id"]))
                if want.get(rid) == as_str(row["text_hash"]):
                    got[rid] = np.asarray(row["vector"], dtype=np.float32)
        still = [h for i, h in need if i not in got]
        by_hash = {h: np.frombuffer(b, dtype=np.float32)
                   for h, b in self.staged.stored_vectors(still, model).items()} if still else {}
        out: list[list[float]] = []
        for i, h in zip(ids, hashes, strict=True):
            vec = self.staged.new_vectors.get(h)
            if vec is None:
                vec = got.get(i)
            if vec is None:
                vec = by_hash.get(h)
            if vec is None:
                raise IndexCorruptError(f"{self.table} {i}: no stored embedding for its text")
            out.append(vec.tolist())
        return out


def _sentence_rows(staged: MilvusStaged, model: str, doc_terms: dict[tuple[str, int], list[str]],
                   df: Counter[str]) -> Iterator[Row]:
    vectors = _Vectors(staged, "sentences")
    ids = sorted(staged.sentences)
    for i in range(0, len(ids), _BATCH["sentences"]):
        rows = [staged.sentences[sid] for sid in ids[i : i + _BATCH["sentences"]]]
        vecs = vectors.fill([r[0] for r in rows], [r[5] for r in rows], model)
        for (sid, aid, pos, start, end, h), vec in zip(rows, vecs, strict=True):
            a = staged.articles[aid]
            text = a.article.body[start:end]
            terms = tokenize(text)
            doc_terms[(aid, pos)] = terms
            df.update(set(terms))
            yield {"id": sid, **_facets(a), "position": pos, "start": start, "end": end,
                   "text": clip(text), "text_hash": h, "terms": bm25_text(terms[:_MAX_TERMS]),
                   "vector": vec}


def _chunk_rows(staged: MilvusStaged, model: str,
                doc_terms: dict[tuple[str, int], list[str]]) -> Iterator[Row]:
    vectors = _Vectors(staged, "chunks")
    ids = sorted(staged.chunks)
    titles: dict[str, list[str]] = {}
    for i in range(0, len(ids), _BATCH["chunks"]):
        rows = [staged.chunks[cid] for cid in ids[i : i + _BATCH["chunks"]]]
        vecs = vectors.fill([r[0] for r in rows], [r[8] for r in rows], model)
        for (cid, aid, pos, first, last, start, end, n_tok, h), vec in zip(rows, vecs, strict=True):
            a = staged.articles[aid]
            terms = titles.get(aid)
            if terms is None:
                terms = titles[aid] = tokenize(a.article.title)
            doc = list(terms)
            for p in range(first, last + 1):
                doc.extend(doc_terms.get((aid, p), []))
            yield {"id": cid, **_facets(a), "position": pos, "first_sentence": first,
                   "last_sentence": last, "start": start, "end": end, "n_tokens": n_tok,
                   "text": clip(a.article.body[start:end]), "text_hash": h,
                   "terms": bm25_text(doc[:_MAX_TERMS]), "vector": vec}


def _create(client: MilvusClient, name: str, part: Part | None, dim: int, index_type: str, rows: int) -> None:
    schema = manifest_schema() if part is None else part_schema(part, dim)
    client.create_collection(name, schema=schema)
    # sync=False: pymilvus would otherwise poll every 0.5 s per index; loading waits for it.
    client.create_index(name, index_params(part, index_type, rows), sync=False)


def write_version(client: MilvusClient, prefix: str, staged: MilvusStaged, manifest: Manifest) -> None:
    """Write ``staged`` as version ``manifest.version``: data collections, then the manifest."""
    version, model, itype = manifest.version, manifest.model, manifest.index_type
    dim = model.dimension
    sizes = {"articles": len(staged.articles), "sentences": len(staged.sentences),
             "chunks": len(staged.chunks), "terms": 0}
    for part in PARTS:
        _create(client, part_name(prefix, version, part), part, dim, itype, sizes[part])

    def insert(part: Part, rows: Iterator[Row]) -> None:
        name = part_name(prefix, version, part)
        for batch in _batches(rows, _BATCH[part]):
            client.insert(name, batch)
        client.flush(name)
        client.load_collection(name)

    insert("articles", _article_rows(staged))
    doc_terms: dict[tuple[str, int], list[str]] = {}
    df: Counter[str] = Counter()
    insert("sentences", _sentence_rows(staged, model.name, doc_terms, df))
    insert("chunks", _chunk_rows(staged, model.name, doc_terms))
    del doc_terms
    insert("terms", ({"term": clip(t, 1_000), "df": n, "dummy": DUMMY} for t, n in df.items()))

    base = base_name(prefix, version)
    _create(client, base, None, dim, itype, 1)
    client.insert(base, [{"id": 0, "manifest": manifest.model_dump_json(),
                          "next_sentence_id": staged.next_ids["sentences"],
                          "next_chunk_id": staged.next_ids["chunks"], "dummy": DUMMY}])
    client.flush(base)
    client.load_collection(base)


def read_manifest(client: MilvusClient, prefix: str, version: str) -> tuple[Manifest, tuple[int, int]]:
    """The manifest of ``version`` and its (next sentence id, next chunk id)."""
    base = base_name(prefix, version)
    client.load_collection(base)
    rows = client.query(base, filter="id == 0",
                        output_fields=["manifest", "next_sentence_id", "next_chunk_id"])
    if not rows:
        raise IndexCorruptError(f"{base}: the manifest row is missing")
    row = rows[0]
    data = json.loads(as_str(row["manifest"]))
    return Manifest.model_validate(data), (int(str(row["next_sentence_id"])), int(str(row["next_chunk_id"])))
