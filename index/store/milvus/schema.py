"""The collections of one Milvus version, their schemas and indexes, and filter expressions.

A version ``v000007-20261202T021500Z`` of prefix ``newsbot`` is five collections::

    newsbot__v000007_20261202T021500Z             the manifest (one row); publishing names this
    newsbot__v000007_20261202T021500Z__articles   article fields; bodies in parts of <= 16,000 chars
    newsbot__v000007_20261202T021500Z__sentences  text, offsets, date/source facets, dense vector,
                                                  BM25 sparse vector (Milvus' BM25 function)
    newsbot__v000007_20261202T021500Z__chunks     the same for chunks (BM25 over title + chunk)
    newsbot__v000007_20261202T021500Z__terms      document frequency of each term over sentences

The BM25 field is fed our own terms (``index.textproc``: the same tokenizer, stemmer and
stopwords as the FAISS backend and the question analysis), each written as a short hex token
(:func:`term_token`) so Milvus' standard analyzer keeps it whole.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Literal

from pymilvus import CollectionSchema, DataType, Function, FunctionType, MilvusClient
from pymilvus.milvus_client.index import IndexParams

from index.textproc import tokenize

Part = Literal["articles", "sentences", "chunks", "terms"]
PARTS: tuple[Part, ...] = ("articles", "sentences", "chunks", "terms")

#: Characters of an article body per row (x4 bytes of UTF-8 stays under VARCHAR's 65,535).
BODY_PART_CHARS = 16_000
#: Longest string kept in a VARCHAR field (characters; see BODY_PART_CHARS).
MAX_CHARS = 16_000
_VARCHAR = 65_535
_ID_CHARS = 1_024
#: Every collection needs a vector field; rows that have no vector carry this one.
DUMMY = [1.0, 0.0]
BM25_K1 = 1.5
BM25_B = 0.75

_VERSION_RE = re.compile(r"^v(\d{6,})-(\d{8}T\d{6}Z)$")


def base_name(prefix: str, version: str) -> str:
    """The manifest collection of ``version`` (what publishing names)."""
    return f"{prefix}__{version.replace('-', '_')}"


def article_key(article_id: str, part: int = 0) -> str:
    """Primary key of part ``part`` of an article's row(s)."""
    return f"{article_id}#{part:05d}"


def part_name(prefix: str, version: str, part: Part) -> str:
    return f"{base_name(prefix, version)}__{part}"


def version_of(prefix: str, collection: str) -> str | None:
    """The version whose manifest collection is ``collection`` (None for anything else)."""
    head = f"{prefix}__"
    if not collection.startswith(head) or "__" in collection[len(head):]:
        return None
    name = collection[len(head):].replace("_", "-", 1)
    return name if _VERSION_RE.match(name) else None


def version_seq(version: str) -> int:
    m = _VERSION_RE.match(version)
    return int(m.group(1)) if m else -1


def term_token(term: str) -> str:
    """A term as one alphanumeric token (Milvus' analyzer would split ``1.13bn``)."""
    return "t" + hashlib.blake2b(term.encode("utf-8"), digest_size=8).hexdigest()


def bm25_text(terms: Iterable[str]) -> str:
    return " ".join(term_token(t) for t in terms)


def query_text(query: str) -> str:
    """A question's BM25 terms, as the documents' were written."""
    return bm25_text(tokenize(query))


def clip(text: str | None, limit: int = MAX_CHARS) -> str:
    return (text or "")[:limit]


def quote(value: str) -> str:
    """A Milvus string literal."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def int_list(ids: Sequence[int]) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


def str_list(values: Sequence[str]) -> str:
    return "[" + ",".join(quote(v) for v in values) + "]"


# ---------------------------------------------------------------------------------------------
# schemas


def _dummy(schema: CollectionSchema) -> None:
    schema.add_field("dummy", DataType.FLOAT_VECTOR, dim=len(DUMMY))


def _facets(schema: CollectionSchema) -> None:
    schema.add_field("article_id", DataType.VARCHAR, max_length=_ID_CHARS)
    schema.add_field("has_date", DataType.BOOL)
    schema.add_field("date_ts", DataType.DOUBLE)
    schema.add_field("source_lc", DataType.VARCHAR, max_length=_VARCHAR)


def _searchable(schema: CollectionSchema, dim: int) -> None:
    schema.add_field("text", DataType.VARCHAR, max_length=_VARCHAR)
    schema.add_field("text_hash", DataType.VARCHAR, max_length=64)
    schema.add_field("terms", DataType.VARCHAR, max_length=_VARCHAR, enable_analyzer=True,
                     analyzer_params={"tokenizer": "standard"})
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=["terms"], output_field_names=["sparse"]))


def manifest_schema() -> CollectionSchema:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("manifest", DataType.VARCHAR, max_length=_VARCHAR)
    schema.add_field("next_sentence_id", DataType.INT64)
    schema.add_field("next_chunk_id", DataType.INT64)
    _dummy(schema)
    return schema


def part_schema(part: Part, dim: int) -> CollectionSchema:
    schema = MilvusClient.create_schema(auto_id=False)
    if part == "articles":
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=_ID_CHARS + 8)
        _facets(schema)
        for name in ("title", "body", "date", "url", "source", "byline", "origin"):
            schema.add_field(name, DataType.VARCHAR, max_length=_VARCHAR)
        schema.add_field("part", DataType.INT64)
        schema.add_field("n_parts", DataType.INT64)
        # The article's sentence ids in position order (part 0 only; "" if too many), so
        # "the sentences of article X" is a primary-key lookup, not a scan.
        schema.add_field("sentence_ids", DataType.VARCHAR, max_length=_VARCHAR)
        schema.add_field("body_hash", DataType.VARCHAR, max_length=64)
        schema.add_field("revision_hash", DataType.VARCHAR, max_length=64)
        schema.add_field("indexed_ts", DataType.DOUBLE)
        _dummy(schema)
    elif part == "terms":
        schema.add_field("term", DataType.VARCHAR, is_primary=True, max_length=_ID_CHARS)
        schema.add_field("df", DataType.INT64)
        _dummy(schema)
    else:
        schema.add_field("id", DataType.INT64, is_primary=True)
        _facets(schema)
        schema.add_field("position", DataType.INT64)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        if part == "chunks":
            schema.add_field("first_sentence", DataType.INT64)
            schema.add_field("last_sentence", DataType.INT64)
            schema.add_field("n_tokens", DataType.INT64)
        _searchable(schema, dim)
    return schema


#: The manifest's index type → Milvus' dense index and its build parameters.  Exact search
#: ("flat") is Milvus' FLAT.  (Not IVF_FLAT with one list, which Lite 3.x needed for speed:
#: on Milvus Lite 2.5.1 IVF_FLAT and AUTOINDEX lose hits past ~65,000 rows, recall@30 0.12 at
#: 200,000 random vectors whatever nlist/nprobe, while FLAT stays exact; measured, and tested
#: in tests/test_milvus_backend.py.)
_DENSE: dict[str, tuple[str, dict[str, int]]] = {
    "flat": ("FLAT", {}),
    "hnsw": ("HNSW", {"M": 32, "efConstruction": 200}),
    "ivf": ("IVF_FLAT", {"nlist": 1024}),
}


def dense_index(index_type: str, rows: int) -> tuple[str, dict[str, int]]:
    """Milvus' dense index type and build parameters for the manifest's ``index_type``."""
    kind, build = _DENSE.get(index_type, _DENSE["flat"])
    if kind == "IVF_FLAT":
        build = {"nlist": max(1, min(build["nlist"], rows // 39 or 1))}
    return kind, build


def add_dense_index(params: IndexParams, index_type: str, rows: int) -> str:
    """Add the ``vector`` field's index for ``index_type`` to ``params``; Milvus' index name."""
    kind, build = dense_index(index_type, rows)
    # Build parameters go in the nested "params" key: Milvus Lite 3.x read only that one
    # (it silently drops the flattened form pymilvus sends), and a server accepts it too.
    params.add_index("vector", index_type=kind, metric_type="IP", params={"params": build} if build else {})
    return kind


def dense_search_params(index_type: str, k: int) -> dict[str, object]:
    if index_type == "hnsw":
        return {"metric_type": "IP", "params": {"ef": max(128, k)}}
    if index_type == "ivf":
        return {"metric_type": "IP", "params": {"nprobe": 32}}
    return {"metric_type": "IP", "params": {}}  # FLAT: every vector


def index_params(part: Part | None, index_type: str, rows: int) -> IndexParams:
    params = MilvusClient.prepare_index_params()
    if part in ("sentences", "chunks"):
        add_dense_index(params, index_type, rows)
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                         params={"bm25_k1": BM25_K1, "bm25_b": BM25_B})
    else:
        params.add_index("dummy", index_type="FLAT", metric_type="L2")
    if part in ("articles", "sentences", "chunks"):
        # "the sentences of article X" is asked for every candidate: no full scan for it.
        params.add_index("article_id", index_type="INVERTED")
    return params
