"""The ``watch`` updater: keeps the index up to date from feeds.

Layout: :mod:`state` (conditional-GET and backoff state), :mod:`round` (one round's work:
fetch, select, dedup, expire; ``RoundReport``), :mod:`publisher` (how a round publishes),
:mod:`watch` (``run_round`` and the loop), :mod:`cli` (``newsbot index watch``). Fetching,
feed parsing and turning feed items into articles live in :mod:`index.sources`; this
package, the top of the stack, imports it and the pipeline (never the reverse).
"""
