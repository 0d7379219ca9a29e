"""Reading rows out of Milvus: whole collections (an iterator), rows by key (batched), counts,
and errors as one-line :class:`~index.errors.IndexCorruptError` s."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import cast

import numpy as np
from pymilvus import MilvusClient, MilvusException

from index.errors import IndexCorruptError
from index.store.milvus.connection import one_line
from index.store.milvus.schema import int_list, str_list

#: A row as pymilvus returns it (field name → value).
Row = dict[str, object]

_BATCH = 1_000
_PAGE = 2_000


@contextlib.contextmanager
def milvus_errors(what: str) -> Iterator[None]:
    """A Milvus error inside becomes IndexCorruptError '<what>: unreadable (...)'."""
    try:
        yield
    except MilvusException as exc:
        raise IndexCorruptError(f"{what}: unreadable ({one_line(exc)})") from None


def scan(client: MilvusClient, collection: str, fields: Sequence[str], filter: str = "") -> Iterator[Row]:
    """Every row of ``collection`` (matching ``filter``), in pages."""
    it = client.query_iterator(collection, batch_size=_PAGE, filter=filter, output_fields=list(fields))
    try:
        while True:
            page = it.next()
            if not page:
                return
            for row in page:
                yield cast(Row, row)
    finally:
        it.close()


#: The most rows one Milvus query returns (a server's query result window: limit + offset).
QUERY_WINDOW = 16_384


def ids_where(client: MilvusClient, collection: str, filter: str) -> np.ndarray:
    """The int64 ``id`` of every row matching ``filter``, sorted: one query when they fit in one
    result window, else a paged scan. (On Milvus Lite each page of an iterator costs a pass
    over every row, so 38,500 sentences in pages of 2,000 cost 20 passes instead of one.)"""
    rows = client.query(collection, filter=filter, output_fields=["id"], limit=QUERY_WINDOW)
    if len(rows) >= QUERY_WINDOW:
        rows = list(scan(client, collection, ["id"], filter))
    return np.sort(np.fromiter((as_int(cast(Row, r)["id"]) for r in rows), dtype=np.int64, count=len(rows)))


def by_keys(client: MilvusClient, collection: str, key: str, values: Sequence[int] | Sequence[str],
            fields: Sequence[str], extra: str = "") -> list[Row]:
    """Rows whose ``key`` field is one of ``values`` (any order), in batches."""
    out: list[Row] = []
    unique = list(dict.fromkeys(values))
    for i in range(0, len(unique), _BATCH):
        batch = unique[i : i + _BATCH]
        listed = str_list([str(v) for v in batch]) if isinstance(batch[0], str) else int_list(
            [as_int(v) for v in batch])
        expr = f"{key} in {listed}" + (f" and ({extra})" if extra else "")
        out.extend(cast(Row, r) for r in client.query(collection, filter=expr, output_fields=list(fields)))
    return out


def count(client: MilvusClient, collection: str, filter: str = "") -> int:
    rows = client.query(collection, filter=filter, output_fields=["count(*)"])
    return as_int(cast(Row, rows[0])["count(*)"]) if rows else 0



def as_int(value: object) -> int:
    if isinstance(value, bool | int | float | str):
        return int(value)
    if isinstance(value, np.integer | np.floating):
        return int(value)
    raise TypeError(f"not a number: {value!r}")


def as_float(value: object) -> float:
    if isinstance(value, bool | int | float | str):
        return float(value)
    if isinstance(value, np.integer | np.floating):
        return float(value)
    raise TypeError(f"not a number: {value!r}")


def as_str(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def as_vector(value: object) -> list[float]:
    if isinstance(value, list | tuple):
        return [float(v) for v in value]
    raise TypeError("not a vector")
