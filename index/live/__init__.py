"""Feeds and article URLs: fetching (with an SSRF policy), feed parsing, and the ``watch`` updater.

Layout: :mod:`fetch` (HTTP client, URL policy, encodings), :mod:`feeds` (pure feed parsing),
:mod:`sources` (``iter_url_articles`` for ``index add``), :mod:`state` (conditional-GET and
backoff state), :mod:`watch` (the round loop), :mod:`cli` (``newsbot index watch``).
"""
