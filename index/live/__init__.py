"""The ``watch`` updater: keeps the index up to date from feeds.

Layout: :mod:`state` (conditional-GET and backoff state), :mod:`watch` (the round loop),
:mod:`cli` (``newsbot index watch``). Fetching, feed parsing and turning feed items into
articles live in :mod:`index.sources`; :mod:`watch`, the top of the stack, imports it and
the pipeline (never the reverse).
"""
