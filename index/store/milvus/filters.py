"""Date and source filters as Milvus filter expressions over the facet fields every sentence,
chunk and article row carries (``has_date``, ``date_ts``, ``source_lc``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from index.store.milvus.schema import str_list

#: Matches no row: what a source pattern naming no known source selects.
NO_SOURCE = "(no such source)"


def filter_expr(since: datetime | None, until: datetime | None, sources: Sequence[str] | None,
                known_sources: Sequence[str]) -> str:
    """The rows of articles dated in [since, until] (undated ones never match a date bound)
    whose source contains any of ``sources`` (case-insensitive), as the FAISS backend's facets
    select them; ``known_sources`` are the version's sources (the manifest's), so a source
    pattern becomes an exact ``in [...]`` list.  "" when nothing is filtered."""
    parts: list[str] = []
    if since is not None or until is not None:
        parts.append("has_date == true")
    if since is not None:
        parts.append(f"date_ts >= {since.timestamp()!r}")
    if until is not None:
        parts.append(f"date_ts <= {until.timestamp()!r}")
    if sources:
        names = sorted({s.lower() for s in known_sources if any(p.lower() in s.lower() for p in sources)})
        parts.append(f"source_lc in {str_list(names or [NO_SOURCE])}")
    return " and ".join(parts)
