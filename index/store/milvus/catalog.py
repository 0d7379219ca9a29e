"""The versions in Milvus: which exist, new names, dropping (which one is published:
:mod:`index.store.milvus.pointer`)."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime

from pymilvus import MilvusClient, MilvusException

from index.store.milvus.schema import PARTS, base_name, part_name, version_of, version_seq


def list_versions(client: MilvusClient, prefix: str) -> list[str]:
    """Versions with a manifest collection, oldest first."""
    found = [v for v in (version_of(prefix, c) for c in client.list_collections()) if v]
    return sorted(found, key=version_seq)


def unfinished_collections(client: MilvusClient, prefix: str) -> list[str]:
    """Data collections of versions that never got their manifest (a killed writer's)."""
    names = set(client.list_collections())
    pattern = re.compile(rf"^{re.escape(prefix)}__(v\d{{6,}}_\d{{8}}T\d{{6}}Z)__[a-z]+$")
    out = []
    for name in names:
        m = pattern.match(name)
        if m and f"{prefix}__{m.group(1)}" not in names:
            out.append(name)
    return sorted(out)


def new_version_name(client: MilvusClient, prefix: str) -> str:
    seqs = [version_seq(v) for v in list_versions(client, prefix)]
    pattern = re.compile(rf"^{re.escape(prefix)}__v(\d{{6,}})_")
    seqs += [int(m.group(1)) for m in (pattern.match(c) for c in client.list_collections()) if m]
    seq = max(seqs, default=0) + 1
    return f"v{seq:06d}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def drop_version(client: MilvusClient, prefix: str, version: str) -> None:
    """Drop a version's collections, manifest first (so it is never listed half-dropped)."""
    for name in (base_name(prefix, version), *(part_name(prefix, version, p) for p in PARTS)):
        drop_collection(client, name)


def drop_collection(client: MilvusClient, name: str) -> None:
    with contextlib.suppress(MilvusException):
        if client.has_collection(name):
            client.drop_collection(name)
