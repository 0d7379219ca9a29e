"""Ingest news articles and keep a versioned FAISS + SQLite index of their chunks and sentences.

This is the bottom layer: ``retrieval`` and ``bot`` import from here, never the other way round.
"""
