"""Feeds and article URLs: fetching (with an SSRF policy), feed parsing, and the ``watch`` updater.

Layout: :mod:`fetch` (HTTP client, URL policy, encodings), :mod:`feeds` (pure feed parsing),
:mod:`inputs` (``is_url`` and the bounded file reader, shared with ``index.ingest``),
:mod:`sources` (``iter_url_articles`` for ``index add``), :mod:`state` (conditional-GET and
backoff state), :mod:`watch` (the round loop), :mod:`cli` (``newsbot index watch``).

``index.ingest`` hands URLs and feed files to :mod:`sources`, which never imports
``index.ingest`` (the HTML extractor is passed in); only :mod:`watch`, the top of the stack,
imports the ingest layer and the pipeline.
"""
