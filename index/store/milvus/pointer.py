"""Which version is published: the counterpart of the FAISS backend's ``CURRENT`` file.

On a Milvus server (or cluster) it is the alias ``<prefix>__current``, pointing at the version's
manifest collection; ``alter_alias`` switches it atomically.

Milvus Lite 2.5 has no aliases (its alias calls answer UNIMPLEMENTED).  There the published
version is the newest row of the collection ``<prefix>__published`` (sequence number, version
name): publishing inserts one row, which Milvus Lite writes in one SQLite transaction, so a
writer killed at any moment leaves either the old row newest or the new one, never a half.
Rows are only ever added, except that rows older than the newest few are deleted afterwards.
"""

from __future__ import annotations

from pymilvus import DataType, MilvusClient

from index.store.milvus.connection import MilvusTarget
from index.store.milvus.schema import DUMMY, base_name, int_list, version_of

#: Pointer rows kept after a publish (older ones are deleted; only the newest counts).
_KEEP_ROWS = 16
_NAME_CHARS = 256


def _aliases(client: MilvusClient) -> list[str]:
    found = client.list_aliases()
    names = found.get("aliases", []) if isinstance(found, dict) else []
    return [str(n) for n in names]


def _pointer_rows(client: MilvusClient, target: MilvusTarget) -> list[tuple[int, str]]:
    """(sequence, version) of every pointer row, newest first ([] before the first publish)."""
    name = target.pointer
    if not client.has_collection(name):
        return []
    client.load_collection(name)
    rows = client.query(name, filter="seq >= 0", output_fields=["seq", "version"])
    return sorted(((int(str(r["seq"])), str(r["version"])) for r in rows), reverse=True)


def _create_pointer(client: MilvusClient, name: str) -> None:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("seq", DataType.INT64, is_primary=True)
    schema.add_field("version", DataType.VARCHAR, max_length=_NAME_CHARS)
    schema.add_field("dummy", DataType.FLOAT_VECTOR, dim=len(DUMMY))
    params = MilvusClient.prepare_index_params()
    params.add_index("dummy", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=params)


def current_version(client: MilvusClient, target: MilvusTarget) -> str | None:
    """The published version (None when nothing is published)."""
    if target.is_lite:
        rows = _pointer_rows(client, target)
        return rows[0][1] if rows else None
    if target.alias not in _aliases(client):
        return None
    desc = client.describe_alias(target.alias)
    return version_of(target.prefix, str(desc.get("collection_name", "")))


def publish_version(client: MilvusClient, target: MilvusTarget, version: str) -> None:
    """Make ``version`` (whose manifest collection exists) the published one, atomically."""
    if not target.is_lite:
        base = base_name(target.prefix, version)
        if target.alias in _aliases(client):
            client.alter_alias(base, target.alias)
        else:
            client.create_alias(base, target.alias)
        return
    name = target.pointer
    if not client.has_collection(name):
        _create_pointer(client, name)
    rows = _pointer_rows(client, target)
    seq = rows[0][0] + 1 if rows else 1
    client.insert(name, [{"seq": seq, "version": version, "dummy": DUMMY}])
    stale = [s for s, _ in rows[_KEEP_ROWS - 1:]]
    if stale:
        client.delete(name, filter=f"seq in {int_list(stale)}")
