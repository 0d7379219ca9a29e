"""``index verify``, ``index rollback`` and the kept versions, for a Milvus index.

Verify reads the published version in full: the manifest, every collection's row count
against it, ids (every sentence and chunk belongs to an article; a chunk's sentences exist),
offsets (every sentence and chunk lies inside its article's body, and its text field is that
slice), the vectors' dimension, and the term statistics.
"""

from __future__ import annotations

from pathlib import Path

from pymilvus import MilvusClient

from index.errors import ConfigError, IndexCorruptError, IndexNotFoundError
from index.store.milvus.catalog import list_versions
from index.store.milvus.connection import MilvusTarget, connect, disconnect
from index.store.milvus.pointer import current_version
from index.store.milvus.publish import read_manifest
from index.store.milvus.reader import MilvusReader
from index.store.milvus.rows import as_int, as_str, count, milvus_errors, scan
from index.store.milvus.schema import MAX_CHARS, PARTS, Part, part_name, version_seq
from index.store.milvus.staging import ARTICLE_FIELDS, assemble_articles
from index.store.milvus.writer import MilvusWriter
from index.store.verify import VerifyResult
from index.store.versions import RollbackResult, VersionInfo


def _check(client: MilvusClient, target: MilvusTarget, version: str, checked: list[str]) -> None:
    prefix = target.prefix
    manifest, (next_sid, next_cid) = read_manifest(client, prefix, version)
    checked.append("manifest")
    names: dict[Part, str] = {p: part_name(prefix, version, p) for p in PARTS}
    for name in names.values():
        if not client.has_collection(name):
            raise IndexCorruptError(f"{name}: missing")
        client.load_collection(name)
    n_articles = count(client, names["articles"], "part == 0")
    n_sentences, n_chunks = count(client, names["sentences"]), count(client, names["chunks"])
    if (n_articles, n_chunks, n_sentences) != (manifest.articles, manifest.chunks, manifest.sentences):
        raise IndexCorruptError(
            f"counts disagree (manifest {manifest.articles} articles, {manifest.chunks} chunks, "
            f"{manifest.sentences} sentences; Milvus {n_articles}, {n_chunks}, {n_sentences})")
    checked.append("counts")

    bodies = {aid: body for aid, (_, body) in assemble_articles(scan(client, names["articles"],
                                                                         ARTICLE_FIELDS)).items()}
    positions: dict[tuple[str, int], int] = {}
    bad = 0
    tables: tuple[tuple[Part, int], ...] = (("sentences", next_sid), ("chunks", next_cid))
    for table, next_id in tables:
        fields = ["id", "article_id", "position", "start", "end", "text"]
        if table == "chunks":
            fields += ["first_sentence", "last_sentence"]
        for row in scan(client, names[table], fields):
            rid, aid = as_int(row["id"]), as_str(row["article_id"])
            body = bodies.get(aid)
            if body is None:
                raise IndexCorruptError(f"{names[table]}: row {rid} belongs to no article ({aid})")
            if rid >= next_id:
                raise IndexCorruptError(f"{names[table]}: id {rid} is past the manifest's next id {next_id}")
            start, end = as_int(row["start"]), as_int(row["end"])
            if not (0 <= start < end <= len(body)) or as_str(row["text"]) != body[start:end][:MAX_CHARS]:
                bad += 1
            if table == "sentences":
                positions[(aid, as_int(row["position"]))] = rid
            elif any((aid, p) not in positions
                     for p in range(as_int(row["first_sentence"]), as_int(row["last_sentence"]) + 1)):
                raise IndexCorruptError(f"{names[table]}: chunk {rid} names sentences its article lacks")
    if bad:
        raise IndexCorruptError(f"{bad} chunks/sentences have offsets or text outside their article body")
    checked.append("ids")
    checked.append("offsets")

    searchable: tuple[Part, ...] = ("sentences", "chunks")
    for table in searchable:
        desc = client.describe_collection(names[table])
        dims = [f.get("params", {}).get("dim") for f in desc.get("fields", []) if f.get("name") == "vector"]
        if not dims or int(dims[0]) != manifest.model.dimension:
            raise IndexCorruptError(f"{names[table]}: vectors are not {manifest.model.dimension}-dimensional")
    if manifest.sentences and not count(client, names["terms"]):
        raise IndexCorruptError(f"{names['terms']}: no term statistics")
    checked.append("vectors")
    checked.append("bm25")


def verify_milvus(target: MilvusTarget) -> VerifyResult:
    """Verify the published version (IndexNotFoundError when nothing is published)."""
    checked: list[str] = []
    client = connect(target, create=False)
    try:
        name = current_version(client, target)
        if name is None:
            raise IndexNotFoundError(f"no index in {target.describe()} (no {target.published_by})")
        try:
            with milvus_errors(target.describe()):
                _check(client, target, name, checked)
        except (IndexCorruptError, KeyError, ValueError, TypeError) as exc:
            return VerifyResult(ok=False, version=name, reason=" ".join(str(exc).split()), checked=checked)
        return VerifyResult(ok=True, version=name, checked=checked)
    finally:
        disconnect(target, client)


def kept_milvus_versions(client: MilvusClient, target: MilvusTarget) -> list[VersionInfo]:
    current = current_version(client, target)
    kept = []
    for name in list_versions(client, target.prefix):
        try:
            manifest, _ = read_manifest(client, target.prefix, name)
        except Exception:  # an unreadable version is not offered
            continue
        kept.append(VersionInfo(name=name, articles=manifest.articles, created_at=manifest.created_at,
                                current=name == current))
    return kept


def rollback_milvus(index_dir: Path, target: MilvusTarget, version: str | None = None,
                    lock_timeout: float = 3.0) -> RollbackResult:
    """Publish a kept version again (default: the newest one older than the current).
    The target is opened in full first: a damaged version is refused, the published one untouched."""
    with MilvusWriter(index_dir, target, lock_timeout=lock_timeout) as writer:
        client = writer.client
        current = current_version(client, target)
        kept = kept_milvus_versions(client, target)
        names = [v.name for v in kept]
        if current is None and not names:
            raise IndexNotFoundError(f"no index in {target.describe()}; nothing to roll back")
        if version is None:
            older = [v for v in names if current is None or version_seq(v) < version_seq(current)]
            if not older:
                raise ConfigError(f"{target.describe()}: no version older than {current} is kept; "
                                  f"kept: {', '.join(names) or 'none'}")
            chosen = older[-1]
        elif version not in names:
            raise ConfigError(f"{target.describe()}: no version {version!r}; "
                              f"kept: {', '.join(names) or 'none'}")
        else:
            chosen = version
        with MilvusReader.open(str(index_dir), target, version=chosen) as reader:
            articles = reader.manifest.articles
        if chosen != current:
            writer.rollback_to(chosen)
        return RollbackResult(previous=current or "none", current=chosen, articles=articles)
