"""The Milvus backend: the same StoreReader/StoreWriter protocols over Milvus collections.

``connection`` (Milvus Lite file or server, the one-process rule of Lite), ``schema``
(collection names, fields, indexes, expressions), ``catalog`` (versions), ``pointer`` (the published one),
``staging`` (a version being written), ``publish`` (writing its collections), ``writer``
(MilvusWriter), ``reader`` (MilvusReader), ``facts`` (stats and listings), ``filters``
(date/source expressions), ``rows`` (reading rows), ``checks`` (verify, rollback, kept
versions).  Picked by :mod:`index.store.backend` when ``NEWSBOT_BACKEND=milvus``.
"""
